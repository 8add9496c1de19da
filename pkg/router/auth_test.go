package router

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/store"
	"github.com/stretchr/testify/require"
)

func TestRole(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	a := NewAuth(st, telegramAccess([]string{admin}, []string{user}, nil))
	const approved, unreadable = "400", "500"
	require.NoError(t, st.Put(collApproved, approvalKey("telegram", approved), Approval{Platform: "telegram", UserID: approved}))
	// A record that cannot be decoded stands for any store read that fails.
	require.NoError(t, st.Put(collApproved, approvalKey("telegram", unreadable), "not an approval"))

	for _, tc := range []struct {
		name    string
		m       Message
		want    string
		wantErr bool
	}{
		{"the local owner", Message{Platform: "local", UserID: "1"}, RoleAdmin, false},
		{"an admin in the config", msg(admin, admin, "x"), RoleAdmin, false},
		{"a user in the config", msg(user, user, "x"), RoleUser, false},
		{"an approved stranger", msg(approved, approved, "x"), RoleUser, false},
		{"a stranger", msg(stranger, stranger, "x"), RoleNone, false},
		{"a Telegram admin's id on another platform", Message{Platform: "other", ID: "1", ChatID: admin, ChatType: "private", UserID: admin}, RoleNone, false},
		{"an approval that cannot be read", msg(unreadable, unreadable, "x"), RoleNone, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			role, err := a.Role(tc.m)
			if tc.wantErr {
				require.Error(t, err)
				require.Contains(t, err.Error(), "approved")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, role)
		})
	}
}

// An approved user whose approval cannot be read for a moment is neither
// sent a pairing code nor dropped: the message waits and is answered once
// the store reads again.
func TestAnUnreadableApprovalDoesNotMakeAStranger(t *testing.T) {
	g := newRig(t, nil)
	logged := make(chan string, 100)
	g.r.log = slog.New(chanHandler(logged))
	const friend = "600"
	key := approvalKey("telegram", friend)
	require.NoError(t, g.st.Put(collApproved, key, "not an approval"))

	require.NoError(t, g.r.Receive(msg(friend, friend, "still me"), ""))
	for seen := false; !seen; {
		select {
		case m := <-logged:
			seen = strings.Contains(m, "could not read who may talk")
		case <-time.After(10 * time.Second):
			t.Fatalf("the unreadable approval was not reported; sent to them: %q", g.p.messages(friend))
		}
	}
	require.Empty(t, g.p.messages(friend), "nothing is sent while it is unknown who they are")
	// The store reads again: the router's next try answers them.
	require.NoError(t, g.st.Put(collApproved, key, Approval{Platform: "telegram", UserID: friend}))
	g.finished(t, 1)

	for _, s := range g.p.messages(friend) {
		require.False(t, strings.Contains(s, "pairing code"), "an approved user was sent a pairing code: %q", s)
	}
	require.Equal(t, []string{"reply: still me"}, g.p.messages(friend))
	require.Equal(t, []string{"still me"}, g.a.texts())
	pending, err := g.auth.Pending()
	require.NoError(t, err)
	require.Empty(t, pending, "no pairing request was made for them")
}

// chanHandler sends every log message to ch.
type chanHandler chan string

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h <- r.Message:
	default:
	}
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }
