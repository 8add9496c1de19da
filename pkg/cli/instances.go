package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/install"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/pkg/telegram"
	"github.com/spf13/cobra"
)

// InstanceView is one line of `hermes instances`.
type InstanceView struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	Active  string `json:"active"`
	Sub     string `json:"sub"`
	MainPID uint32 `json:"main_pid,omitempty"`
	// Version is what a running gateway reports (asked only when its
	// service is active: a request to a stopped one's socket would start it).
	Version string `json:"version,omitempty"`
	Socket  string `json:"socket_enabled"`
	Config  string `json:"config"`
	// ConfigFound is false when the embedded defaults serve.
	ConfigFound bool   `json:"config_found"`
	State       string `json:"state_dir"`
	Control     string `json:"control_socket"`
}

func newInstancesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "instances",
		Short: "List every gateway instance on this machine with its state",
		Long: `Lists the default instance and every named one (a config in
$XDG_CONFIG_HOME/hermes/NAME/ or an enabled hermes-gateway@NAME.socket), with
its service's state, main pid, and its config, state and socket paths.
Act on one with ` + "`hermes --instance NAME …`" + ` (or $HERMES_INSTANCE); create
one with ` + "`hermes --instance NAME setup telegram`" + ` and ` + "`hermes --instance NAME install-unit`" + `.
` + instance.Rules + `.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
			defer cancel()
			m, err := connect(ctx)
			if err != nil {
				return err
			}
			defer m.Close()
			views, err := listInstances(ctx, m)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), views)
			}
			printInstances(cmd.OutOrStdout(), views)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func listInstances(ctx context.Context, m *systemd.Manager) ([]InstanceView, error) {
	var views []InstanceView
	for _, n := range instance.List(install.DefaultUnitDir()) {
		v := InstanceView{Name: n.String(), Service: n.Service(), Config: n.ConfigPath(), Control: n.ControlSocket()}
		st, err := m.Unit(ctx, n.Service())
		if err != nil {
			return nil, err
		}
		v.Active, v.Sub, v.MainPID = st.ActiveState, st.SubState, st.MainPID
		if st.LoadState == "not-found" {
			v.Active, v.Sub = "not installed", ""
		}
		if st.ActiveState == "active" {
			sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			if gs, err := control.NewClient(n.ControlSocket()).Status(sctx); err == nil {
				v.Version = gs.Version
			}
			cancel()
		}
		if k, err := m.Unit(ctx, n.Socket()); err == nil {
			v.Socket = k.UnitFileState
		}
		_, v.ConfigFound = statOK(v.Config)
		withInstance(n, func() {
			if cfg, err := config.Load(""); err == nil {
				v.State = cfg.StateDir()
			} else {
				v.State = n.StateDir()
			}
		})
		views = append(views, v)
	}
	return views, nil
}

func statOK(path string) (os.FileInfo, bool) {
	fi, err := os.Stat(path)
	return fi, err == nil
}

func printInstances(w io.Writer, views []InstanceView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tSERVICE\tSTATE\tPID\tVERSION\tSOCKET\tCONFIG")
	for _, v := range views {
		state := v.Active
		if v.Sub != "" {
			state += " (" + v.Sub + ")"
		}
		pid := "-"
		if v.MainPID != 0 {
			pid = fmt.Sprint(v.MainPID)
		}
		cfg := v.Config
		if !v.ConfigFound {
			cfg += " (none: defaults)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Service, state, pid, orDash(v.Version), orDash(v.Socket), cfg)
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// withInstance runs f with $HERMES_INSTANCE naming n (every path and unit
// name follows it), and puts the variable back afterwards.
func withInstance(n instance.Name, f func()) {
	was, had := os.LookupEnv(instance.Env)
	defer func() {
		if had {
			os.Setenv(instance.Env, was)
		} else {
			os.Unsetenv(instance.Env)
		}
	}()
	if n.IsDefault() {
		os.Unsetenv(instance.Env)
	} else {
		os.Setenv(instance.Env, string(n))
	}
	f()
}

// instanceChosen reports whether the command was pointed at one instance
// (--instance or $HERMES_INSTANCE), as opposed to "all of them" for the
// commands that can act on all (doctor).
func instanceChosen(cmd *cobra.Command) bool {
	if f := cmd.Flags().Lookup("instance"); f != nil && f.Changed {
		return true
	}
	_, ok := os.LookupEnv(instance.Env)
	return ok && os.Getenv(instance.Env) != ""
}

// tokenOwner is the other instance whose config uses the same Telegram bot
// as token (the bot id before the colon names the bot; a token revoked and
// issued again keeps it). Telegram gives getUpdates to one poller per bot,
// so two gateways on one bot would take turns failing with 409.
func tokenOwner(token string) (instance.Name, bool) {
	self := instance.CurrentOrDefault()
	bot := botID(token)
	for _, n := range instance.List(install.DefaultUnitDir()) {
		if n == self {
			continue
		}
		var other string
		withInstance(n, func() {
			cfg, err := config.Load("")
			if err != nil || cfg.Source == "" || cfg.Telegram.TokenFile == "" {
				return
			}
			other, _ = telegram.ReadTokenFile(cfg.ResolvePath(cfg.Telegram.TokenFile))
		})
		if other != "" && botID(other) == bot {
			return n, true
		}
	}
	return "", false
}

func botID(token string) string {
	id, _, _ := strings.Cut(strings.TrimSpace(token), ":")
	return id
}

// forInstance points the `hermes …` commands a hint names at this command's
// instance: the doctor's and status's fixes are written for one gateway.
func forInstance(hint string) string {
	n := instance.CurrentOrDefault()
	if n.IsDefault() {
		return hint
	}
	var b strings.Builder
	for {
		i := strings.Index(hint, "`hermes ")
		if i < 0 {
			b.WriteString(hint)
			return b.String()
		}
		b.WriteString(hint[:i+len("`hermes ")])
		hint = hint[i+len("`hermes "):]
		if !strings.HasPrefix(hint, "--instance ") {
			b.WriteString(n.Flag())
		}
	}
}
