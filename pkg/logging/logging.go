// Package logging builds the gateway's slog logger.
package logging

import (
	"io"
	"log/slog"

	"github.com/coreos/go-systemd/v22/journal"
)

// New returns a text logger on w. Under systemd (stderr is the journal
// stream) the timestamp is left out: journald stamps every line itself.
func New(w io.Writer) *slog.Logger {
	underJournal, _ := journal.StderrIsJournalStream()
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if underJournal {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
