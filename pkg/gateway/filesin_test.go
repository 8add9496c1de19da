package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/agent"
	"github.com/hermes-gateway/hermes/pkg/agent/openaifake"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// A photo as Telegram sends it: its sizes, smallest first.
var (
	thumb = fakebot.Upload{Data: []byte("\xff\xd8small"), Width: 90, Height: 60}
	large = fakebot.Upload{Data: []byte("\xff\xd8the large picture"), Width: 1280, Height: 853}
)

// waitAnswer waits for the bot's first message in the chat to read want
// (a streamed answer grows to it).
func (s *streamSetup) waitAnswer(t *testing.T, want string) {
	t.Helper()
	s.waitText(t, 0, func(text string) bool { return text == want })
}

// A photo with a caption reaches a vision agent as the caption and the
// largest size of the picture, as an image content part.
func TestAPhotoReachesAVisionAgentAsAnImage(t *testing.T) {
	s := newStreamSetup(t)
	s.config += "vision = true\n"
	s.ai.SetReply(func(r openaifake.ChatRequest) string { return "A cat on a sofa." })
	l := s.start(t)
	defer s.stop(t, l)

	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "what is this?", Photo: []fakebot.Upload{thumb, large}})
	s.waitAnswer(t, "A cat on a sofa.")
	req := s.ai.Requests()[0].Body
	require.Equal(t, "what is this?", req.LastUser(), "the caption is the text")
	images := req.LastUserImages()
	require.Len(t, images, 1)
	require.True(t, strings.HasPrefix(images[0], "data:image/jpeg;base64,"), images[0])
	require.Equal(t, large.Data, openaifake.Image(images[0]), "the largest size")
}

// Without vision, the agent is told in words that a photo came, and
// still answers the caption.
func TestAPhotoReachesATextAgentAsANote(t *testing.T) {
	s := newStreamSetup(t)
	s.ai.SetReply(func(r openaifake.ChatRequest) string { return "I cannot see pictures." })
	l := s.start(t)
	defer s.stop(t, l)

	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "what is this?", Photo: []fakebot.Upload{thumb, large}})
	s.waitAnswer(t, "I cannot see pictures.")
	req := s.ai.Requests()[0].Body
	require.Empty(t, req.LastUserImages())
	require.Equal(t, fmt.Sprintf("what is this?\n[The person sent a photo (photo.jpg, image/jpeg, %d bytes), which you cannot see or hear]", len(large.Data)), req.LastUser())
}

// A file above what a bot may fetch gets an answer saying so, and the
// agent is not asked.
func TestTooBigAFileIsAnsweredClearly(t *testing.T) {
	s := newStreamSetup(t)
	l := s.start(t)
	defer s.stop(t, l)

	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Document: &fakebot.Upload{Name: "film.mkv", MIME: "video/x-matroska", Data: []byte("x"), Size: 25 << 20}})
	s.waitAnswer(t, "📎 The file you sent is 25.0 MB; I can take files up to 20.0 MB. Send a smaller one.")
	require.Empty(t, s.ai.Requests())
	require.Zero(t, s.bot.Stats().Calls["getFile"], "not even asked for")
}

// A sticker gets one short answer; the agent is not asked.
func TestAStickerGetsOneShortAnswer(t *testing.T) {
	s := newStreamSetup(t)
	l := s.start(t)
	defer s.stop(t, l)

	_, err := s.bot.InjectUpdate(json.RawMessage(fmt.Sprintf(`{"message":{"message_id":5,"date":1,"chat":{"id":%[1]d,"type":"private"},"from":{"id":%[1]d,"is_bot":false,"first_name":"Ada"},
		"sticker":{"file_id":"CAAC1","file_unique_id":"AgAD1","type":"regular","width":512,"height":512,"is_animated":false,"is_video":false}}}`, streamChat)))
	require.NoError(t, err)
	s.waitAnswer(t, "🤷 I cannot handle a sticker; send me text, a photo, a document, a voice note or an audio file.")
	require.Empty(t, s.ai.Requests())
	require.Len(t, s.bot.Sent(streamChat), 1)
}

// A photo message still pending when the gateway restarts is answered by
// the next process, which fetches the photo again; what the previous run
// left in the files directory is swept at start.
func TestARestartWithAPhotoPendingStillAnswersIt(t *testing.T) {
	s := newStreamSetup(t)
	s.config += "vision = true\n"
	s.ai.SetReply(func(r openaifake.ChatRequest) string { return "A cat." })
	s.ai.Fail(openaifake.Fault{Delay: time.Hour}) // the first process never gets its answer
	l := s.start(t)

	s.bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "and this?", Photo: []fakebot.Upload{thumb, large}})
	select {
	case <-s.ai.Arrived():
	case <-time.After(30 * time.Second):
		t.Fatal("the agent was never asked")
	}
	// While the turn runs, the photo is in the state directory, private.
	filesDir := filepath.Join(s.dir, "state", "files")
	var fetched []string
	require.NoError(t, filepath.Walk(filesDir, func(path string, info os.FileInfo, err error) error {
		require.NoError(t, err)
		if info.IsDir() {
			require.Equal(t, os.FileMode(0o700), info.Mode().Perm(), path)
		} else {
			require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), path)
			fetched = append(fetched, path)
		}
		return nil
	}))
	require.Len(t, fetched, 1)
	require.True(t, strings.HasPrefix(fetched[0], filepath.Join(filesDir, "telegram")+"/"), fetched[0])
	s.stop(t, l) // the drain gives up on the held turn after drain_timeout

	// What a killed process would have left behind.
	stale := filepath.Join(filesDir, "telegram", "999", "telegram-1")
	require.NoError(t, os.MkdirAll(filepath.Dir(stale), 0o700))
	require.NoError(t, os.WriteFile(stale, []byte("old"), 0o600))

	l = s.start(t)
	defer s.stop(t, l)
	s.waitAnswer(t, "A cat.")
	reqs := s.ai.Requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "and this?", reqs[1].Body.LastUser())
	require.Len(t, reqs[1].Body.LastUserImages(), 1)
	require.Equal(t, large.Data, openaifake.Image(reqs[1].Body.LastUserImages()[0]))
	_, err := os.Stat(stale)
	require.ErrorIs(t, err, os.ErrNotExist, "swept at start")
}

// A document reaches an exec agent with agent.exec.input = "json" in the
// envelope on stdin, as a file it can read; the file is gone once the turn
// has ended.
func TestADocumentReachesAnExecAgentInTheEnvelope(t *testing.T) {
	dir, config, bot := filesSetup(t)
	script := filepath.Join(dir, "reader.sh")
	require.NoError(t, os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
cat > %[1]s/envelope.json
path=$(sed -n 's/.*"path":"\([^"]*\)".*/\1/p' %[1]s/envelope.json)
cp "$path" %[1]s/copy
echo "read $(wc -c < "$path") bytes"
`, dir)), 0o700))
	config = strings.Replace(config, `output = "json"`, `input = "json"`, 1)
	config = strings.Replace(config, `"/bin/sh", "`+filepath.Join(dir, "agent.sh")+`"`, `"/bin/sh", "`+script+`"`, 1)
	l := start(t, dir, config)
	l.waitReady(t)
	defer func() { l.sigs <- syscall.SIGTERM; require.Equal(t, ExitStopped, l.exit(t)) }()

	data := []byte("name,count\nada,3\n")
	bot.InjectMessage(fakebot.UserMessage{UserID: streamChat, Text: "sum this", Document: &fakebot.Upload{Name: "counts.csv", MIME: "text/csv", Data: data}})
	sent := waitSent(t, bot, 1)
	require.Equal(t, fmt.Sprintf("read %d bytes", len(data)), sent[0].Text)

	raw, err := os.ReadFile(filepath.Join(dir, "envelope.json"))
	require.NoError(t, err)
	var env agent.Envelope
	require.NoError(t, json.Unmarshal(raw, &env), "%s", raw)
	require.Equal(t, "sum this", env.Text)
	require.Equal(t, "telegram", env.Platform)
	require.Equal(t, fmt.Sprint(streamChat), env.ChatID)
	require.Len(t, env.Files, 1)
	f := env.Files[0]
	require.Equal(t, agent.InFile{Path: f.Path, Kind: "document", Mime: "text/csv", Name: "counts.csv", Size: int64(len(data))}, f)
	require.True(t, strings.HasPrefix(f.Path, filepath.Join(dir, "state", "files", "telegram")+"/"), f.Path)
	copied, err := os.ReadFile(filepath.Join(dir, "copy"))
	require.NoError(t, err)
	require.Equal(t, data, copied)

	// The answer is streamed: its first line may show before the turn has
	// ended, so wait for the end, which removes the file.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Dir(f.Path)); os.IsNotExist(err) {
			break
		}
		require.True(t, time.Now().Before(deadline), "%s is still there after the turn", f.Path)
		time.Sleep(10 * time.Millisecond)
	}
}
