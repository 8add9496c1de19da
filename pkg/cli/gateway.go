package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/doctor"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/spf13/cobra"
)

// svc is the service of the instance this command acts on (--instance).
func svc() string { return instance.CurrentOrDefault().Service() }

// gw is the service's name as messages show it: hermes-gateway for the
// default instance (as before instances), hermes-gateway@NAME otherwise.
func gw() string { return strings.TrimSuffix(svc(), ".service") }

// hermesCmd is how to run a hermes command for this instance in a hint:
// "hermes install-unit", "hermes --instance team install-unit".
func hermesCmd(sub string) string { return "hermes " + instance.CurrentOrDefault().Flag() + sub }

func newGatewayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Start, stop, restart and inspect the gateway through systemd",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var timeout time.Duration
	cmd.PersistentFlags().DurationVar(&timeout, "timeout", 90*time.Second, "give up waiting for systemd after this long (the job keeps running in systemd)")
	cmd.AddCommand(
		jobCmd("start", "Start the gateway and wait until it is ready", &timeout, startGateway),
		jobCmd("stop", "Stop the gateway after it drains (the socket keeps listening)", &timeout, stopGateway),
		jobCmd("restart", "Restart the gateway and wait until the new process is ready", &timeout, restartGateway),
		newStatusCmd(),
		newLogsCmd(),
	)
	return cmd
}

type jobFunc func(ctx context.Context, m *systemd.Manager, out io.Writer) error

func jobCmd(use, short string, timeout *time.Duration, run jobFunc) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := connect(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), *timeout)
			defer cancel()
			return run(ctx, m, cmd.OutOrStdout())
		},
	}
}

// unstick clears a start-limit failure before a start the user asked for:
// they have seen the failure and want to try again.
func unstick(ctx context.Context, m *systemd.Manager, st systemd.UnitState, out io.Writer) error {
	if !systemd.StartLimitHit(st) && st.ActiveState != "failed" {
		return nil
	}
	if systemd.StartLimitHit(st) {
		fmt.Fprintf(out, "! %s hit its start limit (it kept failing); resetting it to try again\n", svc())
	}
	if err := m.ResetFailed(ctx, svc()); err != nil {
		return err
	}
	// The socket fails with the service when the limit is hit.
	if sock, err := m.Unit(ctx, instance.CurrentOrDefault().Socket()); err == nil && sock.ActiveState == "failed" {
		if err := m.ResetFailed(ctx, instance.CurrentOrDefault().Socket()); err != nil {
			return err
		}
		if _, err := m.Start(ctx, instance.CurrentOrDefault().Socket()); err != nil {
			return err
		}
	}
	return nil
}

// watch prints the unit's progress (draining…, starting…) while a job runs.
func watch(ctx context.Context, m *systemd.Manager, out io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		last := ""
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			st, err := m.Unit(ctx, svc())
			if err != nil {
				continue
			}
			var now string
			switch st.ActiveState {
			case "deactivating":
				now = "  draining…"
			case "activating":
				now = "  starting…"
				if st.SubState == "auto-restart" {
					now = "  waiting to restart…"
				}
			}
			if now != "" && now != last {
				fmt.Fprintln(out, now)
				last = now
			}
		}
	}()
	return func() { cancel(); <-done }
}

func restartGateway(ctx context.Context, m *systemd.Manager, out io.Writer) error {
	before, err := m.Unit(ctx, svc())
	if err != nil {
		return err
	}
	if before.LoadState == "not-found" {
		return notInstalled()
	}
	if err := unstick(ctx, m, before, out); err != nil {
		return err
	}
	what := "starting it"
	if before.ActiveState == "active" {
		what = fmt.Sprintf("pid %d", before.MainPID)
		if st, err := gatewayStatus(ctx); err == nil {
			what += fmt.Sprintf(", draining %d in-flight %s", st.InFlight, plural(st.InFlight, "turn", "turns"))
		}
	}
	fmt.Fprintf(out, "Restarting %s (%s)…\n", svc(), what)
	after, v, took, err := upJob(ctx, m, "restart", m.Restart, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "✓ Restarted %s (pid %d → %d, %s) in %d ms\n", gw(), before.MainPID, after.MainPID, v, ms(took))
	return nil
}

// upJob runs a start or restart job while showing progress, and returns
// the unit afterwards with the version the gateway reports, or the failure
// report (the job's result, the exit, the new invocation's journal lines).
func upJob(ctx context.Context, m *systemd.Manager, op string, job func(context.Context, string) (systemd.JobResult, error), out io.Writer) (systemd.UnitState, string, time.Duration, error) {
	start := time.Now()
	stopWatch := watch(ctx, m, out)
	_, jobErr := job(ctx, svc())
	stopWatch()
	took := time.Since(start)
	after, err := m.Unit(context.WithoutCancel(ctx), svc())
	if err != nil {
		return after, "", took, err
	}
	if jobErr != nil || after.ActiveState != "active" {
		return after, "", took, failure(ctx, op, jobErr, after, out)
	}
	v := "version unknown"
	if st, err := gatewayStatus(ctx); err == nil {
		v = st.Version
	}
	return after, v, took, nil
}

func startGateway(ctx context.Context, m *systemd.Manager, out io.Writer) error {
	before, err := m.Unit(ctx, svc())
	if err != nil {
		return err
	}
	if before.LoadState == "not-found" {
		return notInstalled()
	}
	if before.ActiveState == "active" {
		fmt.Fprintf(out, "✓ %s is already running (pid %d)\n", gw(), before.MainPID)
		return nil
	}
	if err := unstick(ctx, m, before, out); err != nil {
		return err
	}
	after, v, took, err := upJob(ctx, m, "start", m.Start, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "✓ Started %s (pid %d, %s) in %d ms\n", gw(), after.MainPID, v, ms(took))
	return nil
}

func stopGateway(ctx context.Context, m *systemd.Manager, out io.Writer) error {
	before, err := m.Unit(ctx, svc())
	if err != nil {
		return err
	}
	if before.LoadState == "not-found" {
		return notInstalled()
	}
	if before.ActiveState != "active" && before.ActiveState != "activating" && before.ActiveState != "reloading" {
		fmt.Fprintf(out, "✓ %s is not running (%s)\n", gw(), before.ActiveState)
		return nil
	}
	inFlight := 0
	if st, err := gatewayStatus(ctx); err == nil {
		inFlight = st.InFlight
	}
	fmt.Fprintf(out, "Stopping %s (pid %d, draining %d in-flight %s)…\n", svc(), before.MainPID, inFlight, plural(inFlight, "turn", "turns"))
	start := time.Now()
	stopWatch := watch(ctx, m, out)
	_, jobErr := m.Stop(ctx, svc())
	stopWatch()
	took := time.Since(start)
	after, err := m.Unit(context.WithoutCancel(ctx), svc())
	if err != nil {
		return err
	}
	if jobErr != nil {
		return failure(ctx, "stop", jobErr, after, out)
	}
	how := after.ExitDescription()
	if how == "" {
		how = "stopped"
	}
	fmt.Fprintf(out, "✓ Stopped %s (pid %d, %s after draining) in %d ms\n", gw(), before.MainPID, how, ms(took))
	fmt.Fprintf(out, "  The socket still listens: the next request starts it again. To keep it down: systemctl --user stop %s\n", instance.CurrentOrDefault().Socket())
	return nil
}

// failure reports a job that did not end well: the job's result, how the
// new invocation ended, and its journal lines.
func failure(ctx context.Context, op string, jobErr error, st systemd.UnitState, out io.Writer) error {
	fmt.Fprintf(out, "✗ %s of %s failed", op, gw())
	if jobErr != nil {
		fmt.Fprintf(out, ": %v", jobErr)
	}
	fmt.Fprintln(out)
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	inv := st.InvocationID
	if inv == "" {
		inv = "current"
	}
	writeFailure(out, st, journal.ReadRun(jctx, journal.Query{Unit: svc(), Invocation: inv, Lines: 20}))
	return silentError{errors.New(op + " failed")}
}

// writeFailure says how the unit ended up after a failed job: its state,
// the exit status by name with what it means and what to do, and the run's
// journal lines, systemd's own marked (a run that never reached the gateway
// has only those).
func writeFailure(out io.Writer, st systemd.UnitState, entries []journal.Entry) {
	state := st.ActiveState + "/" + st.SubState
	if st.Result != "" && st.Result != "success" {
		state += ", result " + st.Result
	}
	fmt.Fprintf(out, "  %s is now %s\n", svc(), state)
	if x := doctor.StateExit(st); x != nil {
		es := x.Explain()
		fmt.Fprintf(out, "  The main process %s: %s\n", x, es.Cause)
		if es.Fix != "" {
			fmt.Fprintf(out, "  Fix: %s\n", es.Fix)
		}
	}
	if len(entries) > 0 {
		fmt.Fprintln(out, "  Its journal:")
		for _, e := range entries {
			fmt.Fprintf(out, "    %s %s\n", e.Time.Format("15:04:05.000"), logLine(e))
		}
	}
	fmt.Fprintf(out, "  More: %s; %s\n", hermesCmd("gateway logs --invocation current"), hermesCmd("doctor"))
}

// logLine is an entry's message, marked when systemd wrote it.
func logLine(e journal.Entry) string {
	if e.FromSystemd() {
		return "systemd: " + e.Message
	}
	return e.Message
}

func notInstalled() error {
	return fmt.Errorf("%s is not installed in the user manager; run `%s` first", svc(), hermesCmd("install-unit"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05") + " (" + humanDuration(time.Since(t)) + " ago)"
}

// humanDuration is a duration in the largest units that matter: "850ms",
// "42s", "3m12s", "5h3m", "2d4h".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return strings.TrimSuffix(d.Round(time.Second).String(), "0s")
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	default:
		days := int(d / (24 * time.Hour))
		return fmt.Sprintf("%dd%dh", days, int((d-time.Duration(days)*24*time.Hour)/time.Hour))
	}
}
