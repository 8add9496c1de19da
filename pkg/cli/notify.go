package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/doctor"
	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/pkg/telegram"
	"github.com/spf13/cobra"
)

func newNotifyFailureCmd() *cobra.Command {
	var unit string
	cmd := &cobra.Command{
		Use:   "notify-failure",
		Short: "Tell the admin chats that the gateway failed (run by hermes-gateway-failed.service)",
		Long: `Sends the Telegram admins a short message: the unit, how it failed, the last
journal lines of the failed run, and the command to see more. It talks to the
Bot API directly, because a dead gateway cannot report its own death.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 90*time.Second)
			defer cancel()
			if unit == "" {
				unit = svc()
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return fmt.Errorf("config: %w; no alert sent", err)
			}
			if !cfg.Telegram.Enabled || len(cfg.Telegram.Admins) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no Telegram admins configured: no alert sent")
				return nil
			}
			// systemd 252 triggers OnFailure= for every failure, also when it
			// restarts the unit right away. Alert only when it has given up
			// (failed: the start limit, exit 78): a crash it recovered from
			// is in the journal and in `hermes doctor`.
			if restarting, why := systemdStillRestarts(ctx, unit); restarting {
				fmt.Fprintln(cmd.OutOrStdout(), why+"; no alert")
				return nil
			} else if why != "" {
				fmt.Fprintln(cmd.OutOrStdout(), why)
			}
			text := failureText(ctx, unit)
			token, err := telegram.ReadTokenFile(cfg.ResolvePath(cfg.Telegram.TokenFile))
			if err != nil {
				return err
			}
			c, err := telegram.NewClient(token, cfg.Telegram.APIURL, telegram.ClientOptions{})
			if err != nil {
				return err
			}
			s := telegram.NewSender(c, telegram.SenderOptions{})
			var errs []error
			for _, admin := range cfg.Telegram.Admins {
				if _, err := s.Send(ctx, admin, text, 0); err != nil {
					errs = append(errs, err)
				}
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "alert sent to %d admin(s)\n", len(cfg.Telegram.Admins))
			return nil
		},
	}
	cmd.Flags().StringVar(&unit, "unit", "", "the unit that failed (default: the instance's hermes-gateway service)")
	return cmd
}

// systemdStillRestarts reports whether systemd is bringing unit back: it is
// not failed, or it has a job (a process killed while a restart job stops
// it leaves the unit failed until the job starts it again: 13 s once, on a
// loaded machine). It looks for three seconds of "failed, no job" before
// saying no. Reaching the user manager can take long on a starved machine
// (a guest under emulation missed the 2 s connect deadline and alerted
// for a loop systemd was still restarting): it keeps trying for 30 s, and
// only then alerts, saying it could not check.
func systemdStillRestarts(ctx context.Context, unit string) (bool, string) {
	deadline := time.Now().Add(30 * time.Second)
	failedSamples := 0
	var lastErr error
	var seen systemd.UnitState
	for time.Now().Before(deadline) && failedSamples < 15 {
		m, err := connect(ctx)
		if err != nil {
			lastErr = err
			time.Sleep(time.Second) // the bus gives no signal for "reachable now"
			continue
		}
		for failedSamples < 15 {
			st, err := m.Unit(ctx, unit)
			if err != nil {
				lastErr = err
				break
			}
			if st.ActiveState != "failed" || st.JobID != 0 {
				m.Close()
				return true, fmt.Sprintf("%s is %s (%s), job %d: systemd is restarting it", unit, st.ActiveState, st.SubState, st.JobID)
			}
			seen = st
			failedSamples++
			time.Sleep(200 * time.Millisecond) // polling systemd's state: it sends no signal we could wait on here
		}
		m.Close()
	}
	if failedSamples >= 15 {
		// Said in the journal, so a wrong alert can be traced to what
		// systemd showed.
		return false, fmt.Sprintf("%s stayed failed with no job for 3 s (%s, result %s, main process %s, %d automatic restarts): alerting",
			unit, seen.SubState, seen.Result, seen.ExitDescription(), seen.NRestarts)
	}
	return false, fmt.Sprintf("could not check whether systemd is restarting %s (%v); alerting", unit, lastErr)
}

func failureText(ctx context.Context, unit string) string {
	var f *doctor.Facts
	if m, err := connect(ctx); err == nil {
		if unit == svc() {
			if facts, err := doctor.ReadFacts(ctx, m); err == nil {
				f = &facts
			}
		} else if st, err := m.Unit(ctx, unit); err == nil {
			f = &doctor.Facts{Service: st, Now: time.Now(), History: doctor.History{Unknown: "not the gateway's unit"}}
		}
		m.Close()
	}
	jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return alertText(unit, f, journal.ReadRun(jctx, journal.Query{Unit: unit, Invocation: "current", Lines: 8}))
}

// alertText is the alert: how the unit failed, by exit status and name,
// with what it means and what to do, whether it was a crash loop (planned
// restarts never count), and the run's last journal lines. f is nil when
// the user manager could not be asked.
func alertText(unit string, f *doctor.Facts, lines []journal.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "🚨 %s failed", unit)
	if f != nil {
		checks := doctor.ServiceChecks(*f)
		fix := ""
		for _, c := range checks {
			switch {
			case c.Name == "service" && c.Status == doctor.Failure:
				fmt.Fprintf(&b, ": %s", strings.TrimPrefix(c.Detail, "failed: "))
				fix = c.Fix
			case c.Name == "crash loop" && c.Status == doctor.Failure:
				fmt.Fprintf(&b, "\nCrash loop: %s", c.Detail)
			}
		}
		if fix != "" {
			fmt.Fprintf(&b, "\nFix: %s", fix)
		}
	}
	if len(lines) > 0 {
		b.WriteString("\n\nLast lines:")
		for _, e := range lines {
			fmt.Fprintf(&b, "\n%s %s", e.Time.Format("15:04:05"), logLine(e))
		}
	}
	fmt.Fprintf(&b, "\n\nMore: %s; %s; restart with %s", hermesCmd("gateway logs --invocation current"), hermesCmd("doctor"), hermesCmd("gateway start"))
	return b.String()
}
