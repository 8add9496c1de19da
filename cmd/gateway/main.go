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
	"github.com/hermes-gateway/hermes/pkg/gateway/cmdline"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/hermes-gateway/hermes/pkg/sdnotify"
	"github.com/hermes-gateway/hermes/pkg/version"
)

func main() {
	// $HERMES_INSTANCE (set by the template units) decides the default
	// config, state and socket paths below; a name systemd accepted but
	// hermes does not must not fall back to the default instance's store.
	if _, err := instance.Current(); err != nil {
		fmt.Fprintln(os.Stderr, "hermes-gateway:", err)
		os.Exit(gateway.ExitConfig)
	}
	var a cmdline.Args
	fs := cmdline.FlagSet(&a)
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
	case a.Version:
		fmt.Println("hermes-gateway", version.Get())
		return
	case a.CheckConfig:
		if _, err := config.Load(a.Config); err != nil {
			fmt.Fprintln(os.Stderr, "hermes-gateway: config:", err)
			os.Exit(gateway.ExitConfig)
		}
		fmt.Println("config ok:", a.Config)
		return
	}
	os.Exit(gateway.Run(context.Background(), gateway.Options{
		ConfigPath:  a.Config,
		ControlPath: a.Control,
		Log:         journal.NewLogger(os.Stderr, slog.LevelInfo),
		Notify:      sdnotify.New(),
	}))
}
