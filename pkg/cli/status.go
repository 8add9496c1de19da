package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/doctor"
	"github.com/hermes-gateway/hermes/pkg/install"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/units"
	"github.com/spf13/cobra"
)

// StatusReport is `hermes gateway status --json`.
type StatusReport struct {
	Service  UnitView        `json:"service"`
	Socket   UnitView        `json:"socket"`
	Gateway  *control.Status `json:"gateway,omitempty"`
	Units    []install.File  `json:"units"`
	Problems []Problem       `json:"problems"`
}

// UnitView is the part of systemd's view that status shows.
type UnitView struct {
	Name         string    `json:"name"`
	Load         string    `json:"load"`
	Active       string    `json:"active"`
	Sub          string    `json:"sub"`
	Result       string    `json:"result"`
	Enabled      string    `json:"enabled"`
	MainPID      uint32    `json:"main_pid,omitempty"`
	InvocationID string    `json:"invocation_id,omitempty"`
	Since        time.Time `json:"since"`
	LastExit     string    `json:"last_exit,omitempty"`
	ExitStatus   int32     `json:"exit_status"`
	Restarts     uint32    `json:"automatic_restarts"`
}

// Problem is something a person running the gateway needs to know.
type Problem struct {
	Severity string `json:"severity"` // warning | failure
	What     string `json:"what"`
	Fix      string `json:"fix"`
}

func view(s systemd.UnitState) UnitView {
	return UnitView{Name: s.Name, Load: s.LoadState, Active: s.ActiveState, Sub: s.SubState, Result: s.Result,
		Enabled: s.UnitFileState, MainPID: s.MainPID, InvocationID: s.InvocationID, Since: s.StateChangeTimestamp,
		LastExit: s.ExitDescription(), ExitStatus: s.ExecMainStatus, Restarts: s.NRestarts}
}

func newStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the gateway as systemd and the gateway itself see it (never starts it)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
			m, err := connect(ctx)
			if err != nil {
				return err
			}
			defer m.Close()
			r, err := collectStatus(ctx, m, cmd)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			printStatus(cmd.OutOrStdout(), r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func collectStatus(ctx context.Context, m *systemd.Manager, cmd *cobra.Command) (*StatusReport, error) {
	s, err := m.Unit(ctx, svc)
	if err != nil {
		return nil, err
	}
	k, err := m.Unit(ctx, units.Socket)
	if err != nil {
		return nil, err
	}
	r := &StatusReport{Service: view(s), Socket: view(k), Problems: []Problem{}}
	add := func(sev, what, fix string) { r.Problems = append(r.Problems, Problem{sev, what, fix}) }

	if s.LoadState == "not-found" {
		add("failure", "the units are not installed", "run `hermes install-unit`")
		return r, nil
	}
	// Only an active service is asked: a request to the socket of a stopped
	// one would start it, and status must change nothing.
	if s.ActiveState == "active" || s.ActiveState == "reloading" {
		if st, err := gatewayStatus(ctx); err == nil {
			r.Gateway = st
		} else {
			add("warning", "the gateway runs but its control API did not answer: "+err.Error(), "see `hermes gateway logs`")
		}
	}
	switch {
	case systemd.StartLimitHit(s):
		add("failure", "the service hit its start limit (it failed too often in a short time) and systemd stopped trying",
			"read `hermes gateway logs --invocation previous`, fix the cause, then `hermes gateway start` (it resets the limit)")
	case s.ActiveState == "failed":
		add("failure", fmt.Sprintf("the service failed (%s, main process %s)", s.Result, s.ExitDescription()),
			"read `hermes gateway logs --invocation current`; exit 78 means the config: `hermes-gateway --check-config`; then `hermes gateway start`")
	case s.SubState == "auto-restart" || s.NRestarts >= 3:
		add("warning", fmt.Sprintf("the service is crash-looping (%d automatic restarts)", s.NRestarts),
			"read `hermes gateway logs --invocation previous`")
	}
	if k.ActiveState != "active" {
		add("failure", "the control socket is not listening ("+k.ActiveState+")", "run `systemctl --user start hermes-gateway.socket` or `hermes install-unit`")
	}
	if k.UnitFileState != "enabled" {
		add("warning", "the socket is not enabled, so the gateway will not come back after a reboot", "run `hermes install-unit`")
	}
	if on, why := doctor.Linger(ctx); !on {
		add("warning", "lingering is "+why+": the gateway stops when you log out and does not start at boot",
			"run `"+doctor.LingerFix()+"`")
	}
	if cfg, err := loadConfig(cmd); err == nil {
		if files, err := installedFiles(cfg); err == nil {
			r.Units = files
			for _, f := range files {
				switch f.State {
				case install.Outdated, install.Missing:
					add("warning", fmt.Sprintf("unit %s is %s against this version of hermes", f.Name, f.State), "run `hermes install-unit`")
				case install.Modified:
					add("warning", fmt.Sprintf("unit %s was changed by hand", f.Name), "see the diff with `hermes install-unit --dry-run`; `--force` replaces it")
				}
			}
		}
	} else {
		add("failure", "config: "+err.Error(), "fix the file; `hermes-gateway --check-config` checks it")
	}
	return r, nil
}

// installedFiles compares the installed units with this version's, using
// the binary path the installed service runs, so only real changes show.
func installedFiles(cfg *config.Config) ([]install.File, error) {
	dir := install.DefaultUnitDir()
	p := install.InstalledParams(dir)
	if p.Gateway == "" {
		p.Gateway = "/usr/bin/hermes-gateway"
	}
	return install.Check(p, dir, cfg)
}

func printStatus(w io.Writer, r *StatusReport) {
	s := r.Service
	fmt.Fprintf(w, "%s: %s (%s) since %s\n", s.Name, s.Active, s.Sub, ago(s.Since))
	if s.MainPID != 0 {
		fmt.Fprintf(w, "  pid %d, invocation %s\n", s.MainPID, s.InvocationID)
	}
	fmt.Fprintf(w, "  automatic restarts: %d", s.Restarts)
	if s.LastExit != "" {
		fmt.Fprintf(w, "; last exit: %s", s.LastExit)
	}
	fmt.Fprintln(w)
	if g := r.Gateway; g != nil {
		fmt.Fprintf(w, "gateway: %s (rev %.12s), %s, up since %s\n", g.Version, g.Revision, g.State, ago(g.StartedAt))
		ps := make([]string, 0, len(g.Platforms))
		for _, p := range g.Platforms {
			ps = append(ps, p.Name+" "+p.State)
		}
		if len(ps) == 0 {
			ps = append(ps, "none enabled")
		}
		fmt.Fprintf(w, "  platforms: %s; in flight: %d\n", strings.Join(ps, ", "), g.InFlight)
		if lr := g.LastRestart; lr != nil {
			fmt.Fprintf(w, "  last restart: %s, by %s, %s\n", lr.Reason, lr.RequestedBy, ago(lr.At))
		}
	} else if s.Active != "active" {
		fmt.Fprintln(w, "gateway: not running (status does not start it; the next request to the socket will)")
	}
	k := r.Socket
	fmt.Fprintf(w, "%s: %s (%s), %s\n", k.Name, k.Active, k.Sub, k.Enabled)
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "✓ no problems")
		return
	}
	for _, p := range r.Problems {
		mark := "!"
		if p.Severity == "failure" {
			mark = "✗"
		}
		fmt.Fprintf(w, "%s %s\n    fix: %s\n", mark, p.What, p.Fix)
	}
}
