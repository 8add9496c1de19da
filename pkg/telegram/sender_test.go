package telegram

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// sendResult is the outcome of a Send run in the background.
type sendResult struct {
	ids []int
	err error
}

func sendAsync(ctx context.Context, s *Sender, chatID int64, text string) <-chan sendResult {
	ch := make(chan sendResult, 1)
	go func() {
		ids, err := s.Send(ctx, chatID, text, 0)
		ch <- sendResult{ids, err}
	}()
	return ch
}

// An agent answers in Markdown; the person sees it formatted, by entities
// computed from a parse: no parse_mode, so no stray character can make
// Telegram refuse the message.
func TestSendFormatsMarkdownAsEntities(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{PerChatInterval: time.Millisecond})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "hello"}) // message 1

	ids, err := s.Send(ctx, 42, "**Done**: see [the log](https://example.org/log) and run `make test` <b>_", 1)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	sent := srv.Sent(42)
	require.Len(t, sent, 1)
	require.Equal(t, "Done: see the log and run make test <b>_", sent[0].Text)
	require.Empty(t, sent[0].ParseMode)
	require.Equal(t, []fakebot.MessageEntity{
		{Type: "bold", Offset: 0, Length: 4},
		{Type: "text_link", Offset: 10, Length: 7, URL: "https://example.org/log"},
		{Type: "code", Offset: 26, Length: 9},
	}, sent[0].Entities)
	require.Equal(t, 1, sent[0].ReplyToMessageID)
	require.Equal(t, ids[0], sent[0].MessageID)

	// A reply to a message that is gone is still delivered.
	_, err = s.Send(ctx, 42, "late answer", 999)
	require.NoError(t, err)
}

// Where Telegram still refuses the formatting, the answer goes once as
// plain text: better unformatted than lost.
func TestSendFallsBackToPlainTextWhenTheEntitiesAreRefused(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{PerChatInterval: time.Millisecond})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "hello"})
	srv.AddFault(fakebot.Fault{Kind: fakebot.FaultBadRequest, Method: "sendMessage", Description: "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0"})

	_, err := s.Send(ctx, 42, "**bold** answer", 0)
	require.NoError(t, err)
	sent := srv.Sent(42)
	require.Len(t, sent, 1, "sent once, unformatted")
	require.Equal(t, "bold answer", sent[0].Text)
	require.Empty(t, sent[0].Entities)

	// Any other 400 is not papered over.
	srv.AddFault(fakebot.Fault{Kind: fakebot.FaultBadRequest, Method: "sendMessage", Description: "Bad Request: chat not found"})
	_, err = s.Send(ctx, 42, "**bold** answer", 0)
	require.ErrorContains(t, err, "chat not found")
	require.Len(t, srv.Sent(42), 1)
}

func TestSendSplitsLongText(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{PerChatInterval: time.Millisecond})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "tell me everything"})

	para := strings.TrimSpace(strings.Repeat("All work and no play makes Jack a dull boy. ", 50)) // 2199 chars
	text := para + "\n\n" + para + "\n\n" + para
	ids, err := s.Send(ctx, 42, text, 1)
	require.NoError(t, err)
	require.Len(t, ids, 3, "cut at the paragraph breaks")
	sent := srv.Sent(42)
	require.Len(t, sent, 3)
	for i, m := range sent {
		require.Equal(t, para, m.Text)
		require.Equal(t, ids[i], m.MessageID)
	}
	require.Equal(t, 1, sent[0].ReplyToMessageID, "only the first part is a reply")
	require.Zero(t, sent[1].ReplyToMessageID)

	_, err = s.Send(ctx, 42, " \n\t ", 0)
	require.ErrorContains(t, err, "chat 42")
	require.ErrorContains(t, err, "empty")
}

func TestSendPacesEachChatIndependently(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	clk := newFakeClock()
	s := NewSender(c, SenderOptions{Clock: clk}) // 1 message/s per chat
	const chatA, chatB = 42, 43
	srv.AddChat(fakebot.Chat{ID: chatA})
	srv.AddChat(fakebot.Chat{ID: chatB})

	_, err := s.Send(ctx, chatA, "a1", 0)
	require.NoError(t, err)
	// A's second message must wait a second...
	a2 := sendAsync(ctx, s, chatA, "a2")
	require.Equal(t, time.Second, clk.nextSleep(t))
	// ...which does not hold up B: its Send completes while a2 still waits,
	// without sleeping at all.
	_, err = s.Send(ctx, chatB, "b1", 0)
	require.NoError(t, err)
	require.Len(t, srv.Sent(chatA), 1)
	require.Equal(t, "b1", srv.Sent(chatB)[0].Text)
	require.Empty(t, clk.slept, "B never waited")

	clk.Advance(time.Second)
	r := <-a2
	require.NoError(t, r.err)
	require.Equal(t, []string{"a1", "a2"}, texts(srv.Sent(chatA)))
}

func TestSendGlobalLimit(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	clk := newFakeClock()
	s := NewSender(c, SenderOptions{Clock: clk, GlobalPerSecond: 2})
	for id := int64(1); id <= 3; id++ {
		srv.AddChat(fakebot.Chat{ID: id})
	}
	// A burst of GlobalPerSecond goes at once, then one per 1/GlobalPerSecond.
	for id := int64(1); id <= 2; id++ {
		_, err := s.Send(ctx, id, "burst", 0)
		require.NoError(t, err)
	}
	third := sendAsync(ctx, s, 3, "third")
	require.Equal(t, 500*time.Millisecond, clk.nextSleep(t))
	require.Empty(t, srv.Sent(3))
	clk.Advance(500 * time.Millisecond)
	require.NoError(t, (<-third).err)
	require.Len(t, srv.Sent(3), 1)
}

func TestSendWaitsRetryAfter(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	clk := newFakeClock()
	s := NewSender(c, SenderOptions{Clock: clk})
	srv.AddChat(fakebot.Chat{ID: 42})
	srv.TooManyRequests("sendMessage", 1, 3)

	res := sendAsync(ctx, s, 42, "flooded")
	require.Equal(t, 3*time.Second, clk.nextSleep(t), "exactly retry_after")
	require.Empty(t, srv.Sent(42))
	clk.Advance(3 * time.Second)
	r := <-res
	require.NoError(t, r.err)
	require.Len(t, r.ids, 1)
	require.Equal(t, 2, srv.Calls("sendMessage"))
}

func TestSendRetriesServerAndNetworkErrors(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{PerChatInterval: time.Millisecond, BackoffMin: time.Millisecond, BackoffMax: time.Millisecond})
	srv.AddChat(fakebot.Chat{ID: 42})
	srv.ServerErrors("sendMessage", 1, 500)
	srv.AddFault(fakebot.Fault{Kind: fakebot.FaultServerError, Method: "sendMessage", Status: 502, HTML: true})
	srv.DropConnections("sendMessage", 1)

	ids, err := s.Send(ctx, 42, "persistent", 0)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	require.Equal(t, 4, srv.Calls("sendMessage"))
	require.Equal(t, []string{"persistent"}, texts(srv.Sent(42)))
}

func TestSendGivesUpAfterMaxRetries(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{PerChatInterval: time.Millisecond, BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, MaxRetries: 2})
	srv.AddChat(fakebot.Chat{ID: 42})
	srv.ServerErrors("sendMessage", 10, 500)

	ids, err := s.Send(ctx, 42, "doomed", 0)
	require.Empty(t, ids)
	require.ErrorContains(t, err, "chat 42")
	require.ErrorContains(t, err, "500 Internal Server Error")
	requireRedacted(t, err, srv.Token())
	require.Equal(t, 3, srv.Calls("sendMessage"))
}

func TestSendDoesNotRetryBadRequest(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{})

	_, err := s.Send(ctx, 777, "hello?", 0)
	require.EqualError(t, err, "telegram: cannot deliver message to chat 777: sendMessage: 400 Bad Request: chat not found")
	require.Equal(t, 400, apiCode(err))
	requireRedacted(t, err, srv.Token())
	require.Equal(t, 1, srv.Calls("sendMessage"))
}

func TestSendReportsPartialDelivery(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	clk := newFakeClock()
	s := NewSender(c, SenderOptions{Clock: clk, MaxRetries: -1})
	srv.AddChat(fakebot.Chat{ID: 42})

	text := strings.Repeat("x", MaxMessageLength) + "\n\n" + "tail"
	res := make(chan sendResult, 1)
	go func() {
		ids, err := s.Send(ctx, 42, text, 0)
		res <- sendResult{ids, err}
	}()
	require.Equal(t, time.Second, clk.nextSleep(t)) // pacing before part 2
	srv.ServerErrors("sendMessage", 1, 500)
	clk.Advance(time.Second)
	r := <-res
	require.Len(t, r.ids, 1)
	require.ErrorContains(t, r.err, "chat 42 (part 2 of 2)")
}

func TestSendHonoursContext(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	clk := newFakeClock()
	s := NewSender(c, SenderOptions{Clock: clk})
	srv.AddChat(fakebot.Chat{ID: 42})
	_, err := s.Send(ctx, 42, "first", 0)
	require.NoError(t, err)

	sctx, cancel := context.WithCancel(ctx)
	res := sendAsync(sctx, s, 42, "second")
	clk.nextSleep(t)
	cancel()
	r := <-res
	require.ErrorIs(t, r.err, context.Canceled)
	require.ErrorContains(t, r.err, "chat 42")
	require.Len(t, srv.Sent(42), 1)
}

func TestTyping(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{})
	srv.AddChat(fakebot.Chat{ID: 42})
	require.NoError(t, s.Typing(ctx, 42))
	acts := srv.Actions(42)
	require.Len(t, acts, 1)
	require.Equal(t, "typing", acts[0].Action)

	err := s.Typing(ctx, 777)
	require.ErrorContains(t, err, "chat 777")
	requireRedacted(t, err, srv.Token())
}

func texts(msgs []fakebot.SentMessage) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Text)
	}
	return out
}
