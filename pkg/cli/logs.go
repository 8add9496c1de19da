package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/spf13/cobra"
)

func newLogsCmd() *cobra.Command {
	var q journal.Query
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show the gateway's journal (journalctl --user-unit=hermes-gateway.service)",
		Long: `Shows the gateway's journal lines, and systemd's own lines about the unit
(marked "systemd:"): a start that failed before the gateway ran, such as
226/NAMESPACE, has only those. --invocation previous shows the run before
the current one: the first thing to look at after a bad restart.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q.Unit = svc()
			switch q.Invocation {
			case "", "current", "previous", "all":
			default:
				if len(q.Invocation) != 32 {
					return usageError{fmt.Errorf("--invocation takes current, previous, all or a 32-hex-digit invocation id, not %q", q.Invocation)}
				}
			}
			if q.Invocation == "all" {
				q.Invocation = ""
			}
			if q.Lines < 0 {
				return usageError{errors.New("-n must be 0 (all) or more")}
			}
			out := cmd.OutOrStdout()
			print := func(e journal.Entry) error {
				if asJSON {
					return writeJSONLine(out, e)
				}
				fmt.Fprintf(out, "%s [%d] %s\n", e.Time.Local().Format(time.DateTime+".000"), e.PID, logLine(e))
				return nil
			}
			if q.Follow {
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
				defer stop()
				return journal.Follow(ctx, q, print)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			entries, err := journal.Read(ctx, q)
			if err != nil {
				if errors.Is(err, journal.ErrNoInvocation) {
					return fmt.Errorf("%w: the journal has no %s run of %s yet (journald may have rotated it away)", err, q.Invocation, svc())
				}
				return err
			}
			for _, e := range entries {
				if err := print(e); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&q.Follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().IntVarP(&q.Lines, "lines", "n", 50, "the last N lines (0: all)")
	cmd.Flags().StringVar(&q.Since, "since", "", "lines since this time (journalctl syntax: -1h, today, 2026-01-02 15:04)")
	cmd.Flags().StringVar(&q.Invocation, "invocation", "all", "current, previous, all, or an invocation id")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")
	return cmd
}

func writeJSONLine(w io.Writer, e journal.Entry) error {
	return writeJSONCompact(w, map[string]any{
		"time": e.Time, "pid": e.PID, "priority": e.Priority, "invocation_id": e.InvocationID, "message": e.Message, "systemd": e.FromSystemd(), "fields": e.Fields,
	})
}
