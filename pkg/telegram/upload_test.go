package telegram

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// A file the agent answers with reaches the chat as a document or a
// picture, with its name, content and caption.
func TestSendFile(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	s := NewSender(c, SenderOptions{PerChatInterval: time.Millisecond})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "make me a report"}) // message 1
	dir := t.TempDir()
	report := filepath.Join(dir, "report.csv")
	require.NoError(t, os.WriteFile(report, []byte("a,b\n1,2\n"), 0o600))
	chart := filepath.Join(dir, "chart.png")
	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1000)
	require.NoError(t, os.WriteFile(chart, png, 0o600))

	id, err := s.SendFile(ctx, 42, UploadDocument, report, "Your report", 1)
	require.NoError(t, err)
	_, err = s.SendFile(ctx, 42, UploadPhoto, chart, "", 0)
	require.NoError(t, err)
	sent := srv.Sent(42)
	require.Len(t, sent, 2)
	require.Equal(t, id, sent[0].MessageID)
	require.Equal(t, &fakebot.SentFile{Kind: "document", Name: "report.csv", Data: []byte("a,b\n1,2\n")}, sent[0].File)
	require.Equal(t, "Your report", sent[0].Caption)
	require.Equal(t, 1, sent[0].ReplyToMessageID)
	require.Equal(t, "photo", sent[1].File.Kind)
	require.Equal(t, png, sent[1].File.Data)

	// Flood control is waited out, as for text.
	srv.TooManyRequests("sendDocument", 1, 1)
	_, err = s.SendFile(ctx, 42, UploadDocument, report, "", 0)
	require.NoError(t, err)
	require.Len(t, srv.Sent(42), 3)

	_, err = s.SendFile(ctx, 42, UploadDocument, filepath.Join(dir, "missing"), "", 0)
	require.ErrorContains(t, err, "no such file")
}
