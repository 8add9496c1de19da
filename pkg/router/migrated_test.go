package router

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/store"
	"github.com/stretchr/testify/require"
)

// A store written by the release whose ids were numbers (pkg/store's
// testdata/v2, described there) keeps working: its pending messages are
// answered in their chats, quoting their message; its approved stranger is
// still a user; its restart notice still says where to say ✓ Back.
func TestAStoreWithNumericIdsKeepsWorking(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{store.FileName, "sent.log"} {
		b, err := os.ReadFile(filepath.Join("..", "store", "testdata", "v2", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o600))
	}
	st, err := store.Open(filepath.Join(dir, store.FileName))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	g := newRig(t, st)
	g.auth.Update(telegramAccess([]string{"111"}, nil, nil))

	role, err := g.auth.Role(msg("333", "333", "hi"))
	require.NoError(t, err)
	require.Equal(t, RoleUser, role, "approved by the earlier release")
	approved, err := g.auth.Approved()
	require.NoError(t, err)
	require.Len(t, approved, 1)
	require.Equal(t, platform.ChatID("333"), approved[0].Chat(), "told in their private chat, whose id on Telegram is theirs")

	n, err := g.r.TakeRestartNotice("telegram")
	require.NoError(t, err)
	require.Equal(t, platform.Outbound{Chat: "-100123", Key: keyBack, Quote: "55", Text: "✓ Back"}, n.Back("✓ Back"))

	resumed, err := g.r.Resume()
	require.NoError(t, err)
	require.Equal(t, 2, resumed)
	g.finished(t, 2)
	require.Equal(t, []string{"reply: pending one"}, g.p.messages("111"))
	require.Empty(t, g.p.messages("-100123"), "a group not listed: finished without an answer")
	g.p.mu.Lock()
	require.Equal(t, platform.Outbound{Chat: "111", ReplyTo: "60", Key: keyAnswer, Quote: "7", Text: "reply: pending one"}, g.p.outs[0])
	g.p.mu.Unlock()
	conv, err := g.r.o.History.Load("telegram", "111")
	require.NoError(t, err)
	require.Len(t, conv.Messages, 4, "the conversation the earlier release kept, and the new turn")
}

// Clients of the earlier release send Telegram's ids as JSON numbers; the
// router's records read both.
func TestRecordsReadNumericAndStringIds(t *testing.T) {
	var m Message
	require.NoError(t, json.Unmarshal([]byte(`{"platform":"telegram","id":9,"chat_id":-100123,"user_id":42,"message_id":7}`), &m))
	require.Equal(t, Message{Platform: "telegram", ID: "9", ChatID: "-100123", UserID: "42", MessageID: "7"}, m)
	var ap Approval
	require.NoError(t, json.Unmarshal([]byte(`{"platform":"matrix","user_id":"@zoe:example.org","chat_id":"!dm:example.org"}`), &ap))
	require.Equal(t, platform.ChatID("!dm:example.org"), ap.Chat())
}
