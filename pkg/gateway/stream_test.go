package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/agent/openaifake"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

const streamChat = 42

// streamSetup is a gateway talking to a Bot API fake, with an openai agent
// (the OpenAI fake) that streams.
type streamSetup struct {
	dir    string
	bot    *fakebot.Server
	ai     *openaifake.Server
	config string
}

func newStreamSetup(t *testing.T) *streamSetup {
	t.Helper()
	s := &streamSetup{dir: t.TempDir(), bot: fakebot.NewServer(t, fakebot.Options{PollTimeUnit: 20 * time.Millisecond}), ai: openaifake.New(t)}
	token := filepath.Join(s.dir, "telegram.token")
	require.NoError(t, os.WriteFile(token, []byte(s.bot.Token()), 0o600))
	s.config = fmt.Sprintf(`[gateway]
state_dir = %q
drain_timeout = "1s"

[telegram]
enabled = true
token_file = %q
api_url = %q
poll_timeout = "1s"
admins = [%d]

[agent]
backend = "openai"

[agent.openai]
base_url = %q
model = "m"
`, filepath.Join(s.dir, "state"), token, s.bot.URL(), streamChat, s.ai.URL())
	return s
}

func (s *streamSetup) start(t *testing.T) *lifecycle {
	l := start(t, s.dir, s.config)
	l.waitReady(t)
	return l
}

func (s *streamSetup) stop(t *testing.T, l *lifecycle) {
	l.sigs <- syscall.SIGTERM
	require.Equal(t, ExitStopped, l.exit(t))
}

// waitText waits until the bot's message number i in the chat shows a text
// for which ok holds.
func (s *streamSetup) waitText(t *testing.T, i int, ok func(string) bool) fakebot.SentMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := s.bot.WaitForMessage(ctx, streamChat, i, func(m fakebot.SentMessage) bool { return ok(m.Text) })
	require.NoError(t, err, "message %d never matched; the chat has %+v", i, s.bot.Sent(streamChat))
	return m
}

// answers are the bot's messages in the chat but for the drain's notice.
func (s *streamSetup) answers() []fakebot.SentMessage {
	var out []fakebot.SentMessage
	for _, m := range s.bot.Sent(streamChat) {
		if !strings.HasPrefix(m.Text, "⏳") {
			out = append(out, m)
		}
	}
	return out
}

// holdAt makes the agent's streams stop before chunk n until the returned
// release is called (a stream whose client went away ends there).
func holdAt(ai *openaifake.Server, n int) (release func()) {
	ch := make(chan struct{})
	ai.SetChunkGate(func(_ openaifake.ChatRequest, i int) {
		if i == n {
			<-ch
		}
	})
	done := false
	return func() {
		if !done {
			done = true
			close(ch)
		}
	}
}

const streamAnswer = "The **answer** is being written word by word, and it ends here."

// A person sees the answer appear while the agent still writes it, in one
// message that grows, and then the whole answer, formatted.
func TestAStreamedAnswerGrowsInOneMessage(t *testing.T) {
	s := newStreamSetup(t)
	s.ai.SetReply(func(openaifake.ChatRequest) string { return streamAnswer })
	release := holdAt(s.ai, 3)
	defer release()
	l := s.start(t)
	defer s.stop(t, l)

	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "question"})
	first := s.waitText(t, 0, func(text string) bool { return text != "" })
	require.True(t, strings.HasPrefix("The answer is", first.Text), "the first words are visible while the agent is held: %q", first.Text)
	release()
	final := s.waitText(t, 0, func(text string) bool { return strings.HasSuffix(text, "ends here.") })
	require.Equal(t, "The answer is being written word by word, and it ends here.", final.Text)
	require.Contains(t, final.Entities, fakebot.MessageEntity{Type: "bold", Offset: 4, Length: 6})
	require.NotEmpty(t, final.Edits, "it grew by edits")
	require.Len(t, s.bot.Sent(streamChat), 1, "one message")
	require.Zero(t, s.bot.Stats().Errors, "no request Telegram would refuse")
	require.True(t, s.ai.Requests()[0].Body.Stream)
}

// A restart while an answer is being streamed: the next process finishes
// that answer in the message already begun, never a second copy.
func TestARestartDuringAStreamFinishesTheMessageBegun(t *testing.T) {
	s := newStreamSetup(t)
	s.ai.SetReply(func(openaifake.ChatRequest) string { return streamAnswer })
	release := holdAt(s.ai, 3)
	l := s.start(t)

	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "question"})
	begun := s.waitText(t, 0, func(text string) bool { return text != "" })
	s.stop(t, l) // the drain gives up on the held turn after drain_timeout
	release()

	s.ai.SetChunkGate(nil)
	l = s.start(t)
	defer s.stop(t, l)
	final := s.waitText(t, 0, func(text string) bool { return strings.HasSuffix(text, "ends here.") })
	require.Equal(t, begun.MessageID, final.MessageID)
	require.Len(t, s.answers(), 1, "the answer once, in the message begun: %+v", s.bot.Sent(streamChat))
	require.Len(t, s.ai.Requests(), 2, "the second process asked the agent again")
}

// /stop ends the answer being written: what was shown stays, marked as
// stopped, and the bot says so.
func TestStopEndsTheRunningAnswer(t *testing.T) {
	s := newStreamSetup(t)
	s.ai.SetReply(func(openaifake.ChatRequest) string { return streamAnswer })
	release := holdAt(s.ai, 3)
	defer release()
	l := s.start(t)
	defer s.stop(t, l)

	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "question"})
	s.waitText(t, 0, func(text string) bool { return text != "" })
	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "/stop"})
	said := s.waitText(t, 1, func(string) bool { return true })
	require.Equal(t, "⏹ Stopped: the agent's answer was cut short.", said.Text)
	stopped := s.bot.Sent(streamChat)[0]
	require.True(t, strings.HasSuffix(stopped.Text, "⏹ Stopped."), "the part shown stays, marked: %q", stopped.Text)
	require.NotContains(t, stopped.Text, "ends here.")

	// Nothing running: the bot says so.
	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "/stop"})
	said = s.waitText(t, 2, func(string) bool { return true })
	require.Equal(t, "Nothing to stop: no answer is being written.", said.Text)
}

// /stop is answered at once, not after the messages that wait behind the
// turn it stops: they run after it.
func TestStopIsAnsweredAheadOfTheChatsWaitingMessages(t *testing.T) {
	s := newStreamSetup(t)
	s.ai.SetReply(func(r openaifake.ChatRequest) string { return streamAnswer })
	release := holdAt(s.ai, 3)
	defer release()
	l := s.start(t)
	defer s.stop(t, l)

	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "question"})
	s.waitText(t, 0, func(text string) bool { return text != "" })
	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "waiting behind it"})
	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "/stop"})
	said := s.waitText(t, 1, func(string) bool { return true })
	require.Equal(t, "⏹ Stopped: the agent's answer was cut short.", said.Text)
	release()
	// The waiting message is answered after it, in full.
	s.waitText(t, 2, func(text string) bool { return strings.HasSuffix(text, "ends here.") })
}
