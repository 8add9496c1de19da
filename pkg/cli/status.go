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
	// Restarts is systemd's NRestarts: every automatic restart, the
	// planned ones (exit 75) too, so it says nothing about crashes.
	Restarts uint32 `json:"automatic_restarts"`
	// UnplannedExits and PlannedExits count the runs that ended in the
	// last doctor.CrashWindow, from the journal: crashes and kills, and
	// restarts and stops that were asked for.
	UnplannedExits int    `json:"unplanned_exits"`
	PlannedExits   int    `json:"planned_exits"`
	Sandbox        string `json:"sandbox,omitempty"`
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
	f, err := doctor.ReadFacts(ctx, m)
	if err != nil {
		return nil, err
	}
	r := &StatusReport{Service: view(f.Service), Socket: view(f.Socket), Problems: []Problem{}}
	since := f.Now.Add(-doctor.CrashWindow)
	r.Service.UnplannedExits, r.Service.PlannedExits = f.History.Unplanned(since), f.History.Planned(since)
	if x := f.History.Last(); x != nil {
		r.Service.LastExit = x.String()
		if x.Reason != "" {
			r.Service.LastExit += " (" + x.Reason + ")"
		}
	}
	r.Service.Sandbox = install.InstalledParams(install.DefaultUnitDir()).Sandbox
	if f.Service.LoadState == "not-found" {
		r.Problems = append(r.Problems, Problem{"failure", "the units are not installed", "run `" + hermesCmd("install-unit") + "`"})
		return r, nil
	}
	// Only an active service is asked: a request to the socket of a stopped
	// one would start it, and status must change nothing.
	var gwErr error
	if f.Service.ActiveState == "active" || f.Service.ActiveState == "reloading" {
		r.Gateway, gwErr = gatewayStatus(ctx)
	}
	cfg, cfgErr := loadConfig(cmd)
	if cfgErr == nil {
		if files, err := installedFiles(cfg); err == nil {
			r.Units = files
		}
	}
	r.Problems = statusProblems(f, doctor.ReadLinger(ctx), r.Units, cfgErr, gwErr)
	for i := range r.Problems {
		r.Problems[i].Fix = forInstance(r.Problems[i].Fix)
	}
	return r, nil
}

// statusProblems is what status warns about: the service verdicts doctor
// makes (crash loops are unplanned exits only), lingering, the unit files
// and the config. A pure function of its inputs, for the tests.
func statusProblems(f doctor.Facts, l doctor.Linger, files []install.File, cfgErr, gwErr error) []Problem {
	ps := []Problem{}
	add := func(sev, what, fix string) { ps = append(ps, Problem{sev, what, fix}) }
	if gwErr != nil {
		add("warning", "the gateway runs but its control API did not answer: "+gwErr.Error(), "see `"+hermesCmd("gateway logs")+"`")
	}
	for _, c := range doctor.ServiceChecks(f) {
		if c.Status == doctor.Warning || c.Status == doctor.Failure {
			add(c.Status, c.Name+": "+c.Detail, c.Fix)
		}
	}
	if l.State != doctor.LingerOn {
		add("warning", l.Sentence(), l.Fix())
	}
	for _, f := range files {
		switch f.State {
		case install.Outdated, install.Missing:
			add("warning", fmt.Sprintf("unit %s is %s against this version of hermes", f.Name, f.State), "run `"+hermesCmd("install-unit")+"`")
		case install.Modified:
			add("warning", fmt.Sprintf("unit %s was changed by hand", f.Name), "see the diff with `"+hermesCmd("install-unit --dry-run")+"`; `--force` replaces it")
		}
	}
	if cfgErr != nil {
		add("failure", "config: "+cfgErr.Error(), "fix the file; `hermes-gateway --check-config` checks it")
	}
	return ps
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
	fmt.Fprintf(w, "  exits in the last %d minutes: %d unplanned, %d planned (restarts and stops asked for)", int(doctor.CrashWindow.Minutes()), s.UnplannedExits, s.PlannedExits)
	if s.LastExit != "" {
		fmt.Fprintf(w, "; last exit: %s", s.LastExit)
	}
	fmt.Fprintln(w)
	if s.Sandbox != "" {
		fmt.Fprintf(w, "  sandbox: %s\n", s.Sandbox)
	}
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
	} else {
		switch {
		case s.Sub == "auto-restart":
			fmt.Fprintln(w, "gateway: between two processes: systemd starts the next one in a moment")
		case s.Active == "activating":
			fmt.Fprintln(w, "gateway: starting")
		case s.Active == "deactivating":
			fmt.Fprintln(w, "gateway: stopping (draining)")
		case s.Active != "active":
			fmt.Fprintln(w, "gateway: not running (status does not start it; the next request to the socket will)")
		}
	}
	k := r.Socket
	fmt.Fprintf(w, "%s: %s (%s), %s\n", k.Name, k.Active, k.Sub, k.Enabled)
	if len(r.Problems) == 0 {
		fmt.Fprintln(w, "✓ no problems")
		return
	}
	lastFix := ""
	for _, p := range r.Problems {
		mark := "!"
		if p.Severity == "failure" {
			mark = "✗"
		}
		fmt.Fprintf(w, "%s %s\n    fix: %s\n", mark, p.What, sameFix(p.Fix, &lastFix))
	}
}

// sameFix shortens a fix that repeats the one just printed (a failed
// service and its last exit share theirs).
func sameFix(fix string, last *string) string {
	if fix == *last && len(fix) > 40 {
		return "the same as above"
	}
	*last = fix
	return fix
}
