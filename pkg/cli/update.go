package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/install"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/pkg/update"
	"github.com/spf13/cobra"
)

type updateOptions struct {
	from     string
	check    bool
	force    bool
	rollback bool
	wait     bool
	fromUnit bool
	timeout  time.Duration
}

func newUpdateCmd() *cobra.Command {
	var o updateOptions
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Update the gateway: a new version running and confirmed within seconds, or the old one back",
		Long: `Builds (or takes from --from DIR) the new version, checks it runs and accepts
the config, switches ~/.local/lib/hermes/current to it, restarts the gateway
through systemd and confirms through its status that the new version runs.
If the new version does not come up, current is switched back, the old
version restarted and confirmed, and the new version's journal lines shown.

The default source is the git checkout hermes was installed from
(scripts/install.sh): fetch, fast-forward only, build with the Go toolchain.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			cfgPath, _ := cmd.Flags().GetString("config")
			return runUpdate(ctx, o, cfgPath, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "take prebuilt hermes and hermes-gateway from this directory")
	f.BoolVar(&o.check, "check", false, "only say whether an update is available and what it contains")
	f.BoolVar(&o.force, "force", false, "restart into the new build even when the version is unchanged")
	f.BoolVar(&o.rollback, "rollback", false, "go back to the version before the current one")
	f.BoolVar(&o.wait, "wait", false, "wait for another running update instead of refusing")
	f.BoolVar(&o.fromUnit, "from-unit", false, "run as hermes-update.service: report to the chat that asked, if any")
	f.DurationVar(&o.timeout, "timeout", 20*time.Minute, "give up after this long")
	f.MarkHidden("from-unit")
	return cmd
}

// reporter prints progress, and mirrors it to the chat that asked for the
// update (/update) through the control API of the instance it asked.
type reporter struct {
	out  io.Writer
	req  *control.UpdateRequest
	from instance.Name // the instance whose chat asked
}

func (r *reporter) say(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Fprintln(r.out, line)
	if r.req == nil {
		return
	}
	// Lines sent while the gateway restarts wait in its socket for the
	// next process; the timeout only guards against a gateway that is gone.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := control.NewClient(r.from.ControlSocket()).Do(ctx, http.MethodPost, "/v1/announce",
		control.AnnounceRequest{Platform: r.req.Platform, ChatID: r.req.ChatID, Text: line}, nil, http.StatusOK)
	if err != nil {
		fmt.Fprintf(r.out, "  (could not tell the chat: %v)\n", err)
	}
}

// takeUpdateRequest finds the request /update left in the runtime
// directory of the instance whose chat asked (the only place its sandbox
// lets it write), and takes it.
func takeUpdateRequest() (*control.UpdateRequest, instance.Name) {
	for _, n := range instance.List(install.DefaultUnitDir()) {
		var req *control.UpdateRequest
		withInstance(n, func() {
			p := control.UpdateRequestPath()
			b, err := os.ReadFile(p)
			if err != nil {
				return
			}
			os.Remove(p)
			var r control.UpdateRequest
			if json.Unmarshal(b, &r) == nil && r.ChatID != "" {
				req = &r
			}
		})
		if req != nil {
			return req, n
		}
	}
	return nil, ""
}

func runUpdate(ctx context.Context, o updateOptions, cfgPath string, out io.Writer) error {
	r := &reporter{out: out}
	if o.fromUnit {
		r.req, r.from = takeUpdateRequest()
	}
	layout := update.DefaultLayout()
	cur, err := layout.Current()
	if err != nil {
		return err
	}
	if cfgPath == "" {
		cfgPath = config.DefaultPath()
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("the current config is not valid, so no new version could be checked against it: %w", err)
	}

	lock, err := layout.Lock(ctx, o.wait)
	if err != nil {
		var le *update.LockedError
		if errors.As(err, &le) {
			r.say("✗ %v; wait for it, or rerun with --wait", err)
			return silentError{err}
		}
		return err
	}
	defer lock.Release()

	if o.rollback {
		prev, err := layout.Previous()
		if err != nil {
			return err
		}
		return switchAndRestart(ctx, r, layout, cur, prev, "rollback")
	}

	var src update.Source
	if o.from != "" {
		src = update.DirSource(o.from)
	} else {
		info, err := update.ReadSource(layout)
		if err != nil {
			return fmt.Errorf("%w; or update from prebuilt binaries with --from DIR", err)
		}
		src = info.Source()
	}
	r.say("→ checking %s for an update to %s", src.Describe(), cur)
	avail, err := src.Check(ctx, cur)
	if err != nil {
		r.say("✗ %v", err)
		return silentError{err}
	}
	if o.check {
		if !avail.Update {
			fmt.Fprintf(out, "✓ up to date: %s\n", cur)
			return nil
		}
		fmt.Fprintf(out, "update available: %s → %s\n", avail.From, nonEmpty(avail.To, "a new build"))
		for _, c := range avail.Changes {
			fmt.Fprintf(out, "  %s\n", c)
		}
		return nil
	}
	if !avail.Update && !o.force {
		r.say("✓ hermes-gateway %s is up to date; nothing restarted", cur)
		return nil
	}
	for _, c := range avail.Changes {
		fmt.Fprintf(out, "  %s\n", c)
	}
	r.say("→ staging the new version")
	next, err := layout.Stage(ctx, src, cfgPath, func(line string) { fmt.Fprintf(out, "  %s\n", line) })
	if err != nil {
		r.say("✗ the new version was not staged, the running gateway is untouched: %v", err)
		return silentError{err}
	}
	if next == cur && !o.force {
		r.say("✓ hermes-gateway %s is up to date; nothing restarted", cur)
		return nil
	}
	if err := checkOtherConfigs(ctx, layout, next, cfgPath, out); err != nil {
		r.say("✗ nothing switched, every gateway is untouched: %v", err)
		return silentError{err}
	}
	if err := switchAndRestart(ctx, r, layout, cur, next, "update"); err != nil {
		return err
	}
	if removed, err := layout.Prune(cfg.Gateway.KeepVersions); err == nil && len(removed) > 0 {
		fmt.Fprintf(out, "  removed old versions: %s\n", strings.Join(removed, ", "))
	}
	return nil
}

// switchAndRestart points current at next, refreshes the units, restarts
// every running instance (and the one this command is for, as before there
// were instances) one after the other, and confirms that each runs next. If
// any does not come up, it goes back to cur and restarts every instance it
// had restarted, and the one that failed: all of them or none run next.
func switchAndRestart(ctx context.Context, r *reporter, layout update.Layout, cur, next, what string) error {
	m, err := connect(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	targets, err := restartTargets(ctx, m)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		return notInstalled()
	}
	r.say("→ switching current: %s → %s", cur, next)
	if _, err := layout.Switch(next); err != nil {
		return err
	}
	refreshUnits(ctx, r, layout, targets)
	var done []restartTarget
	var runErr error
	var failed restartTarget
	for _, t := range targets {
		r.say("→ restarting %s (pid %d)", t.unit(), t.pid)
		start := time.Now()
		var newState systemd.UnitState
		withInstance(t.name, func() { newState, runErr = restartAndConfirm(ctx, m, next) })
		if runErr != nil {
			failed = t
			// The new version did not come up: show why, then go back.
			r.say("✗ %s did not come up in %s: %v", next, t.unit(), runErr)
			withInstance(t.name, func() {
				for _, line := range invocationLines(ctx, newState.InvocationID) {
					fmt.Fprintf(r.out, "    %s\n", line)
				}
			})
			break
		}
		r.say("✓ Restarted %s (%s → %s) in %d ms", t.unit(), cur, next, ms(time.Since(start)))
		done = append(done, t)
	}
	if runErr == nil {
		return nil
	}

	back := append(done, failed)
	r.say("→ rolling back to %s (%s)", cur, joinUnits(back))
	if _, err := layout.Switch(cur); err != nil {
		return fmt.Errorf("roll back: %w; point %s at %s by hand", err, layout.CurrentLink(), cur)
	}
	refreshUnits(ctx, r, layout, targets)
	var backErr error
	for _, t := range back {
		var err error
		withInstance(t.name, func() { _, err = restartAndConfirm(ctx, m, cur) })
		if err != nil {
			r.say("✗ the old version %s did not come back in %s either: %v; see `%sgateway logs` and `%sdoctor`", cur, t.unit(), err, "hermes "+t.name.Flag(), "hermes "+t.name.Flag())
			backErr = errors.Join(backErr, err)
			continue
		}
		r.say("↩ %s runs %s again", t.unit(), cur)
	}
	if backErr != nil {
		return silentError{backErr}
	}
	r.say("↩ Rolled back: %s %s is running again; the %s to %s failed in %s (%v)", joinUnits(back), cur, what, next, failed.unit(), runErr)
	return silentError{fmt.Errorf("%s to %s failed", what, next)}
}

// checkOtherConfigs has the staged version check the config of every
// other instance (Stage checked the one at cfgPath): one version serves
// them all, so one config it refuses stops the update before anything
// switches.
func checkOtherConfigs(ctx context.Context, layout update.Layout, next, cfgPath string, out io.Writer) error {
	for _, n := range instance.List(install.DefaultUnitDir()) {
		p := n.ConfigPath()
		if p == cfgPath {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue // no file: the embedded defaults serve, and Stage checked those
		}
		fmt.Fprintf(out, "  checking %s (instance %s) with the new hermes-gateway\n", p, n)
		if err := layout.CheckConfig(ctx, next, p); err != nil {
			return err
		}
	}
	return nil
}

// restartTarget is one instance an update restarts.
type restartTarget struct {
	name instance.Name
	pid  uint32
}

// unit is how messages name the instance: hermes-gateway, hermes-gateway@team.
func (t restartTarget) unit() string { return strings.TrimSuffix(t.name.Service(), ".service") }

func joinUnits(ts []restartTarget) string {
	var names []string
	for _, t := range ts {
		names = append(names, t.unit())
	}
	return strings.Join(names, ", ")
}

// restartTargets are the instances an update restarts: every one whose
// service runs (one installed version serves them all), and the one this
// command is for (default or --instance) if it is installed, running or not,
// which is what `hermes update` did before there were instances.
func restartTargets(ctx context.Context, m *systemd.Manager) ([]restartTarget, error) {
	self := instance.CurrentOrDefault()
	var ts []restartTarget
	for _, n := range instance.List(install.DefaultUnitDir()) {
		st, err := m.Unit(ctx, n.Service())
		if err != nil {
			return nil, err
		}
		running := st.ActiveState == "active" || st.ActiveState == "reloading" || st.ActiveState == "activating"
		if running || (n == self && st.LoadState != "not-found") {
			ts = append(ts, restartTarget{name: n, pid: st.MainPID})
		}
	}
	return ts, nil
}

// restartAndConfirm restarts the service (one job, waited on) and confirms
// through /v1/status that version runs.
func restartAndConfirm(ctx context.Context, m *systemd.Manager, version string) (systemd.UnitState, error) {
	st, err := m.Unit(ctx, svc())
	if err == nil && (systemd.StartLimitHit(st) || st.ActiveState == "failed") {
		_ = m.ResetFailed(ctx, svc())
	}
	jctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	_, jobErr := m.Restart(jctx, svc())
	cancel()
	after, err := m.Unit(context.WithoutCancel(ctx), svc())
	if err != nil {
		return after, err
	}
	if jobErr != nil || after.ActiveState != "active" {
		how := after.ExitDescription()
		if jobErr == nil {
			jobErr = fmt.Errorf("the service is %s", after.ActiveState)
		}
		if how != "" {
			return after, fmt.Errorf("%v (main process %s)", jobErr, how)
		}
		return after, jobErr
	}
	gs, err := gatewayStatus(ctx)
	if err != nil {
		return after, fmt.Errorf("started, but its status did not answer: %w", err)
	}
	if gs.Version != version {
		return after, fmt.Errorf("started, but it reports version %s, not %s", gs.Version, version)
	}
	return after, nil
}

// refreshUnits runs the current version's install-unit for each instance,
// which rewrites the unit files only if that version's embedded units
// differ (the templates once, for the first named instance).
func refreshUnits(ctx context.Context, r *reporter, layout update.Layout, targets []restartTarget) {
	hermesBin := filepath.Join(layout.CurrentLink(), "hermes")
	for _, t := range targets {
		cmd := exec.CommandContext(ctx, hermesBin, "install-unit", "--gateway", layout.GatewayPath(), "--no-start")
		cmd.Env = append(os.Environ(), instance.Env+"="+string(t.name))
		outb, err := cmd.CombinedOutput()
		out := string(outb)
		switch {
		case err != nil:
			fmt.Fprintf(r.out, "  ! units of %s not refreshed: %v\n%s", t.unit(), err, out)
		case strings.Contains(out, "daemon-reload"):
			r.say("→ unit files of %s refreshed from the new version (daemon-reload)", t.unit())
		}
	}
}

func invocationLines(ctx context.Context, inv string) []string {
	if inv == "" {
		inv = "current"
	}
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	entries, err := journal.Read(jctx, journal.Query{Unit: svc(), Invocation: inv, Lines: 15})
	if err != nil {
		return nil
	}
	lines := make([]string, 0, len(entries))
	for _, e := range entries {
		lines = append(lines, e.Time.Format("15:04:05.000")+" "+e.Message)
	}
	return lines
}

func nonEmpty(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
