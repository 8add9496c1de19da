package telegram

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// A photo a person sent is fetched into the state directory, the largest
// size under the limit; what is too big is refused and leaves nothing.
func TestDownloadWhatAPersonSent(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	small, large := bytes.Repeat([]byte("s"), 100), bytes.Repeat([]byte("L"), 5000)
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "look at this", Photo: []fakebot.Upload{
		{Data: small, Width: 90, Height: 90}, {Data: large, Width: 1280, Height: 1280}}})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Document: &fakebot.Upload{Name: "big.iso", Data: []byte("x"), Size: 30 << 20}})
	var ups []tgbotapi.Update
	require.NoError(t, c.Call(ctx, "getUpdates", nil, &ups))
	require.Len(t, ups, 2)
	photo := ups[0].Message.Photo
	require.Len(t, photo, 2)
	require.Equal(t, "look at this", ups[0].Message.Caption, "the text of a photo is its caption")

	dir := t.TempDir()
	f, err := c.GetFile(ctx, photo[1].FileID)
	require.NoError(t, err)
	require.EqualValues(t, len(large), f.Size)
	p, err := c.Download(ctx, f, dir, 10_000)
	require.NoError(t, err)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, large, got)
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// Over the gateway's own limit: refused, nothing left.
	_, err = c.Download(ctx, f, dir, 1000)
	require.True(t, errors.Is(err, ErrTooBig), "%v", err)
	f.Size = 0 // a size not announced: the limit holds while reading
	_, err = c.Download(ctx, f, dir, 1000)
	require.True(t, errors.Is(err, ErrTooBig), "%v", err)
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	require.Equal(t, []string{p}, left)

	// Over Telegram's 20 MB: getFile refuses, as Telegram does.
	_, err = c.GetFile(ctx, ups[1].Message.Document.FileID)
	require.ErrorContains(t, err, "400 Bad Request: file is too big")
	_, err = c.GetFile(ctx, "no-such-file")
	require.ErrorContains(t, err, "400 Bad Request: invalid file_id")
	require.NotContains(t, err.Error(), srv.Token())
}
