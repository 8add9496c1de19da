package agent

import (
	"context"
	"fmt"
)

// Echo is the echo backend, the embedded default: it answers without any
// account or network, deterministically.
//
// Without history it answers "echo: <text>". With history it answers
// "echo #N: <text>", N being the number of this turn within the history it
// was given (user messages in History, plus one), so that tests can see the
// history survive a restart. Since the caller trims the history, N stops
// growing at agent.history_turns + 1.
type Echo struct{}

// Name returns "echo".
func (Echo) Name() string { return "echo" }

// Reply echoes t.Text. It fails only when ctx has already ended.
func (Echo) Reply(ctx context.Context, t Turn) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", ctxError("echo", err)
	}
	t.Text = withNotes(t.Text, t.Files, false)
	n := 0
	for _, m := range t.History {
		if m.Role == RoleUser {
			n++
		}
	}
	if n == 0 {
		return "echo: " + t.Text, nil
	}
	return fmt.Sprintf("echo #%d: %s", n+1, t.Text), nil
}
