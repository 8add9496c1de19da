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

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// filesSetup is a gateway talking to a Bot API fake, with an exec agent
// answering in JSON with a text, a document and a photo.
func filesSetup(t *testing.T) (dir, config string, bot *fakebot.Server) {
	t.Helper()
	dir = t.TempDir()
	bot = fakebot.NewServer(t, fakebot.Options{PollTimeUnit: 20 * time.Millisecond})
	token := filepath.Join(dir, "telegram.token")
	require.NoError(t, os.WriteFile(token, []byte(bot.Token()), 0o600))
	out := filepath.Join(dir, "out")
	require.NoError(t, os.MkdirAll(out, 0o700))
	agentScript := filepath.Join(dir, "agent.sh")
	require.NoError(t, os.WriteFile(agentScript, []byte(fmt.Sprintf(`#!/bin/sh
printf 'a,b\n1,2\n' > %[1]s/report.csv
printf 'PNG-ish' > %[1]s/chart.png
printf '{"text":"**Done**: the report and the chart.","files":[{"path":"%[1]s/report.csv","caption":"report"},{"path":"%[1]s/chart.png","kind":"photo"}]}'
`, out)), 0o700))
	config = fmt.Sprintf(`[gateway]
state_dir = %q
drain_timeout = "1s"

[telegram]
enabled = true
token_file = %q
api_url = %q
poll_timeout = "1s"
admins = [%d]

[agent]
backend = "exec"

[agent.exec]
command = ["/bin/sh", %q]
output = "json"
`, filepath.Join(dir, "state"), token, bot.URL(), streamChat, agentScript)
	return dir, config, bot
}

func waitSent(t *testing.T, bot *fakebot.Server, n int) []fakebot.SentMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sent, err := bot.WaitForMessages(ctx, streamChat, n)
	require.NoError(t, err, "the chat has %+v", bot.Sent(streamChat))
	return sent
}

// An exec agent answering with files: the person gets the text, then the
// document and the picture, each with its content.
func TestAnAnswerWithFilesReachesTheChat(t *testing.T) {
	dir, config, bot := filesSetup(t)
	l := start(t, dir, config)
	l.waitReady(t)
	defer func() { l.sigs <- syscall.SIGTERM; require.Equal(t, ExitStopped, l.exit(t)) }()

	bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "report please"})
	sent := waitSent(t, bot, 3)
	require.Equal(t, "Done: the report and the chart.", sent[0].Text)
	require.Equal(t, &fakebot.SentFile{Kind: "document", Name: "report.csv", Data: []byte("a,b\n1,2\n")}, sent[1].File)
	require.Equal(t, "report", sent[1].Caption)
	require.Equal(t, "photo", sent[2].File.Kind)
	require.Equal(t, []byte("PNG-ish"), sent[2].File.Data)
}

// A restart in the middle of an answer with files: the next process sends
// what was left, never the text or a file a second time.
func TestARestartDuringAnAnswerWithFilesSendsOnlyTheRest(t *testing.T) {
	dir, config, bot := filesSetup(t)
	bot.ServerErrors("sendPhoto", 1000, 502) // the picture cannot go before the restart
	l := start(t, dir, config)
	l.waitReady(t)
	bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "report please"})
	waitSent(t, bot, 2) // the text and the document
	l.sigs <- syscall.SIGTERM
	require.Equal(t, ExitStopped, l.exit(t))
	require.Len(t, bot.Sent(streamChat), 2)

	bot.ClearFaults()
	l = start(t, dir, config)
	l.waitReady(t)
	defer func() { l.sigs <- syscall.SIGTERM; require.Equal(t, ExitStopped, l.exit(t)) }()
	sent := waitSent(t, bot, 3)
	var texts, docs, photos int
	for _, m := range bot.Sent(streamChat) {
		switch {
		case m.File == nil && strings.HasPrefix(m.Text, "Done"):
			texts++
		case m.File != nil && m.File.Kind == "document":
			docs++
		case m.File != nil && m.File.Kind == "photo":
			photos++
		default:
			t.Errorf("unexpected message %+v", m)
		}
	}
	require.Equal(t, [3]int{1, 1, 1}, [3]int{texts, docs, photos}, "each part once: %+v", sent)
}
