// Package cmdline is hermes-gateway's command line: its flags, and what
// its manual page says about running it. A package of its own (not
// cmd/gateway) so that `hermes man` writes hermes-gateway(1) from the same
// flag set the daemon parses, without linking the daemon into the CLI.
package cmdline

import (
	"flag"
	"fmt"

	"github.com/hermes-gateway/hermes/pkg/config"
)

// Args are the parsed flags.
type Args struct {
	Config      string
	Control     string
	Version     bool
	CheckConfig bool
}

// Description is the daemon's one-line summary and its longer text.
const (
	Title       = "the Hermes gateway daemon: your agent on Telegram, run by systemd"
	Description = `hermes-gateway connects an AI agent to Telegram. It is meant to run as the
socket-activated systemd user service hermes-gateway.service, which
hermes install-unit writes, and is managed with hermes gateway start, stop,
restart, status and logs (see hermes(1)). Under systemd it adopts the
control socket (and the webhook socket) by name, sends READY=1 once the
config, the store and the sockets are up, and drains before it exits.
Run by hand, it listens on the control socket itself and refuses to touch
one another process listens on.`
)

// FlagSet defines the flags into a.
func FlagSet(a *Args) *flag.FlagSet {
	fs := flag.NewFlagSet("hermes-gateway", flag.ContinueOnError)
	fs.StringVar(&a.Config, "config", config.DefaultPath(), "config `file` (default $XDG_CONFIG_HOME/hermes/config.toml; missing: the embedded defaults serve)")
	fs.StringVar(&a.Control, "control", "", "control socket `path` when not socket-activated (default: gateway.control_socket, else $XDG_RUNTIME_DIR/hermes/gateway.sock)")
	fs.BoolVar(&a.Version, "version", false, "print the version and exit")
	fs.BoolVar(&a.CheckConfig, "check-config", false, "validate the config and exit (0 valid, 78 invalid)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hermes-gateway [flags]\n\nThe Hermes gateway daemon. Install and manage it with `hermes install-unit` and `hermes gateway ...`; see hermes-gateway(1).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}
