package telegram

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

type finishResult struct {
	ids []int
	err error
}

func finishAsync(ctx context.Context, st *Stream, text string) <-chan finishResult {
	ch := make(chan finishResult, 1)
	go func() {
		ids, err := st.Finish(ctx, text)
		ch <- finishResult{ids, err}
	}()
	return ch
}

// An answer streamed into a chat: the first words at once, then one
// message grown by edits, at most one a second, updates in between merged,
// never an edit that changes nothing, and a last edit with the whole
// answer formatted.
func TestStreamGrowsOneMessage(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	clk := newFakeClock()
	s := NewSender(c, SenderOptions{Clock: clk})                         // 1 message or edit a second per chat
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "question"}) // message 1

	st := s.Stream(ctx, 42, StreamOptions{ReplyTo: 1})
	st.Update("The")
	sent, err := srv.WaitForMessages(ctx, 42, 1)
	require.NoError(t, err, "the first words are shown without waiting")
	require.Equal(t, "The", sent[0].Text)
	require.Equal(t, 1, sent[0].ReplyToMessageID)

	st.Update("The **answer")
	require.Equal(t, time.Second, clk.nextSleep(t), "the next edit waits out the chat's second")
	st.Update("The **answer** is")
	st.Update("The **answer** is 42")
	clk.Advance(time.Second)
	require.NoError(t, srv.WaitForCalls(ctx, "editMessageText", 1))
	require.Equal(t, time.Second, clk.nextSleep(t))
	clk.Advance(time.Second)
	require.NoError(t, srv.WaitForCalls(ctx, "editMessageText", 2))

	done := finishAsync(ctx, st, "The **answer** is 42.")
	require.Equal(t, time.Second, clk.nextSleep(t))
	clk.Advance(time.Second)
	res := <-done
	require.NoError(t, res.err)

	sent = srv.Sent(42)
	require.Len(t, sent, 1, "one message, grown")
	require.Equal(t, []int{sent[0].MessageID}, res.ids)
	require.Equal(t, "The answer is 42.", sent[0].Text)
	require.Equal(t, []fakebot.MessageEntity{{Type: "bold", Offset: 4, Length: 6}}, sent[0].Entities)
	require.Equal(t, []string{"The", "The **answer", "The answer is 42"}, sent[0].Edits,
		"the updates in between were merged into one edit")
	sends, edits := st.Counts()
	require.Equal(t, 1, sends)
	require.Equal(t, 3, edits)
	require.Zero(t, srv.Stats().Errors, "no edit Telegram refused (such as an unchanged one)")
}

// The same text as shown is never sent again as an edit: Telegram would
// answer 400 "message is not modified".
func TestStreamNeverEditsWithUnchangedText(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{PerChatInterval: time.Millisecond})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "q"})

	st := s.Stream(ctx, 42, StreamOptions{})
	st.Update("Same words ")
	_, err := srv.WaitForMessages(ctx, 42, 1)
	require.NoError(t, err)
	st.Update("Same words")  // renders the same: trailing space
	st.Update("Same words ") // the same again
	_, err = st.Finish(ctx, "Same words")
	require.NoError(t, err)
	require.Zero(t, srv.Calls("editMessageText"))
	require.Zero(t, srv.Stats().Errors)
}

// Past 4096 characters the answer goes on in a new message; the first is
// completed, not left cut.
func TestStreamContinuesInANewMessagePastTheLimit(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{PerChatInterval: time.Millisecond})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "q"})

	para := strings.Repeat("word ", 600) // 3000 characters
	var begun [][]int
	st := s.Stream(ctx, 42, StreamOptions{Begun: func(ids []int) error { begun = append(begun, ids); return nil }})
	st.Update(para)
	_, err := srv.WaitForMessages(ctx, 42, 1)
	require.NoError(t, err)
	whole := para + "\n\n" + para + "\n\nThe end."
	ids, err := st.Finish(ctx, whole)
	require.NoError(t, err)
	sent := srv.Sent(42)
	require.Len(t, sent, 2)
	require.Equal(t, []int{sent[0].MessageID, sent[1].MessageID}, ids)
	require.Equal(t, strings.TrimSpace(para), sent[0].Text)
	require.True(t, strings.HasSuffix(sent[1].Text, "The end."))
	require.Equal(t, [][]int{{ids[0]}, ids}, begun, "each new message is reported before the stream goes on")
}

// After a restart the next process finishes the answer in the message the
// previous one had begun: never a second copy. A begun message the person
// deleted is replaced by a new one.
func TestStreamResumesTheMessagesBegun(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{PerChatInterval: time.Millisecond})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "q"})
	first, err := s.Send(ctx, 42, "The answer, begun by the previous pro", 1) // what the killed process left
	require.NoError(t, err)

	st := s.Stream(ctx, 42, StreamOptions{ReplyTo: 1, Resume: first})
	st.Update("The answer, begun again")
	require.NoError(t, srv.WaitForCalls(ctx, "editMessageText", 1))
	ids, err := st.Finish(ctx, "The answer, begun again and finished.")
	require.NoError(t, err)
	require.Equal(t, first, ids)
	sent := srv.Sent(42)
	require.Len(t, sent, 1, "no second copy")
	require.Equal(t, "The answer, begun again and finished.", sent[0].Text)

	// Deleted meanwhile: the answer goes in a new message.
	require.NoError(t, c.deleteMessage(ctx, 42, first[0]))
	st = s.Stream(ctx, 42, StreamOptions{Resume: first})
	ids, err = st.Finish(ctx, "Answer again.")
	require.NoError(t, err)
	require.NotEqual(t, first, ids)
	require.Equal(t, "Answer again.", srv.Sent(42)[1].Text)
}

// Flood control on an edit: the intermediate edit is not retried (newer
// text follows), the wait Telegram asks for is honoured, and the final
// edit is retried until it lands.
func TestStreamHonoursFloodControl(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	clk := newFakeClock()
	s := NewSender(c, SenderOptions{Clock: clk})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "q"})

	st := s.Stream(ctx, 42, StreamOptions{})
	st.Update("one")
	_, err := srv.WaitForMessages(ctx, 42, 1)
	require.NoError(t, err)
	srv.AddFault(fakebot.Fault{Kind: fakebot.FaultTooManyRequests, Method: "editMessageText", Count: 2, RetryAfter: 5})
	st.Update("one two")
	require.Equal(t, time.Second, clk.nextSleep(t))
	clk.Advance(time.Second) // the edit: 429, retry after 5

	done := finishAsync(ctx, st, "one two three")
	require.Equal(t, 5*time.Second, clk.nextSleep(t), "the next edit waits what Telegram asked")
	clk.Advance(5 * time.Second) // the final edit: 429 again, retried
	require.Equal(t, 5*time.Second, clk.nextSleep(t))
	clk.Advance(5 * time.Second)
	res := <-done
	require.NoError(t, res.err)
	sent := srv.Sent(42)
	require.Len(t, sent, 1)
	require.Equal(t, "one two three", sent[0].Text)
}

// Formatting Telegram refuses on an edit is shown as plain text.
func TestStreamFallsBackToPlainTextOnAnEdit(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{PerChatInterval: time.Millisecond})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "q"})
	st := s.Stream(ctx, 42, StreamOptions{})
	st.Update("plain start")
	_, err := srv.WaitForMessages(ctx, 42, 1)
	require.NoError(t, err)
	srv.AddFault(fakebot.Fault{Kind: fakebot.FaultBadRequest, Method: "editMessageText", Description: "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0"})
	_, err = st.Finish(ctx, "plain start, **bold** end")
	require.NoError(t, err)
	sent := srv.Sent(42)
	require.Equal(t, "plain start, bold end", sent[0].Text)
	require.Empty(t, sent[0].Entities)
}
