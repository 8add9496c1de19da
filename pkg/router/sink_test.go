package router

import (
	"context"
	"testing"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/stretchr/testify/require"
)

// What an adapter says a message is decides what the router does: a skip
// is stored and never answered, an unsupported or encrypted one gets its
// one short answer, never the agent.
func TestFromInbound(t *testing.T) {
	base := platform.Inbound{Platform: "matrix", ID: "$e", Chat: "!r", User: "@u", Text: "/new now", Command: "new", Args: "now", Quote: "q"}
	for _, c := range []struct {
		kind   platform.Kind
		direct bool
		want   Message
	}{
		{platform.KindText, true, Message{Platform: "matrix", ID: "$e", ChatID: "!r", ChatType: "private", UserID: "@u", MessageID: "q", Text: "/new now", Command: "new", Args: "now", Parsed: true}},
		{platform.KindText, false, Message{Platform: "matrix", ID: "$e", ChatID: "!r", ChatType: "group", UserID: "@u", MessageID: "q", Text: "/new now", Command: "new", Args: "now", Parsed: true}},
		{platform.KindSkip, true, Message{Platform: "matrix", ID: "$e", ChatID: "!r", ChatType: "private", UserID: "@u", MessageID: "q", Text: "/new now", Command: "new", Args: "now", Parsed: true, Skip: "nothing to answer"}},
		{platform.KindUnsupported, true, Message{Platform: "matrix", ID: "$e", ChatID: "!r", ChatType: "private", UserID: "@u", MessageID: "q", Parsed: true, Unsupported: "not text"}},
		{platform.KindEncrypted, false, Message{Platform: "matrix", ID: "$e", ChatID: "!r", ChatType: "group", UserID: "@u", MessageID: "q", Parsed: true, Encrypted: true}},
	} {
		in := base
		in.Kind, in.Direct = c.kind, c.direct
		require.Equal(t, c.want, FromInbound(in), "%s direct=%v", c.kind, c.direct)
	}
	// Files are recorded with the message, so that a turn resumed after a
	// restart can fetch them; what is not handled is named for its answer.
	photo := platform.InboundFile{ID: "AgAC1", Kind: platform.FilePhoto, Size: 1234, Mime: "image/jpeg", Name: "photo.jpg"}
	in := platform.Inbound{Platform: "telegram", ID: "7", Chat: "42", User: "42", Direct: true, Kind: platform.KindText, Text: "what is this?", Files: []platform.InboundFile{photo}}
	m := FromInbound(in)
	require.Equal(t, []platform.InboundFile{photo}, m.Files)
	require.Equal(t, "what is this?", m.Text)
	in = platform.Inbound{Platform: "telegram", ID: "8", Chat: "42", User: "42", Direct: true, Kind: platform.KindUnsupported, Note: "a sticker"}
	require.Equal(t, "a sticker", FromInbound(in).Unsupported)
}

// An encrypted room is told once that the bot cannot read it, however
// many messages it sends.
func TestAnEncryptedRoomIsToldOnce(t *testing.T) {
	g := newRig(t, nil)
	s := g.r.Sink("telegram")
	for _, id := range []platform.MessageID{"e1", "e2"} {
		require.NoError(t, s.Deliver(context.Background(), platform.Batch{Messages: []platform.Inbound{
			{Platform: "telegram", ID: id, Chat: user, User: user, Direct: true, Kind: platform.KindEncrypted}}, Cursor: string(id)}))
	}
	g.finished(t, 2)
	sent := g.p.messages(user)
	require.Len(t, sent, 1)
	require.Contains(t, sent[0], "end-to-end encrypted")
	c, err := s.Cursor(context.Background())
	require.NoError(t, err)
	require.Equal(t, "e2", c, "the cursor stored with the batch")
	require.Empty(t, g.a.texts())
}
