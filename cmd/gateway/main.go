// Command hermes-gateway is the Hermes gateway daemon. It is meant to run
// under systemd (hermes-gateway.service, started by hermes-gateway.socket)
// and also works by hand in a terminal.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/gateway"
	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/hermes-gateway/hermes/pkg/sdnotify"
	"github.com/hermes-gateway/hermes/pkg/version"
)

func main() {
	fs := flag.NewFlagSet("hermes-gateway", flag.ContinueOnError)
	cfgPath := fs.String("config", config.DefaultPath(), "config file (missing: embedded defaults)")
	control := fs.String("control", "", "control socket path when not socket-activated (default: gateway.control_socket, else $XDG_RUNTIME_DIR/hermes/gateway.sock)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	checkConfig := fs.Bool("check-config", false, "validate the config and exit (0 valid, 78 invalid)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hermes-gateway [flags]\n\nThe Hermes gateway daemon. Install and manage it with `hermes install-unit` and `hermes gateway ...`.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "hermes-gateway: unexpected argument %q; see hermes-gateway --help\n", fs.Arg(0))
		os.Exit(2)
	}
	switch {
	case *showVersion:
		fmt.Println("hermes-gateway", version.Get())
		return
	case *checkConfig:
		if _, err := config.Load(*cfgPath); err != nil {
			fmt.Fprintln(os.Stderr, "hermes-gateway: config:", err)
			os.Exit(gateway.ExitConfig)
		}
		fmt.Println("config ok:", *cfgPath)
		return
	}
	os.Exit(gateway.Run(context.Background(), gateway.Options{
		ConfigPath:  *cfgPath,
		ControlPath: *control,
		Log:         journal.NewLogger(os.Stderr, slog.LevelInfo),
		Notify:      sdnotify.New(),
	}))
}
