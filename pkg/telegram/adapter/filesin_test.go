package adapter

import (
	"context"
	"os"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// Of a photo's sizes the inbox records the largest within the limit (the
// smallest when none is, so the person hears it is too big); a caption
// is the text; what the gateway does not handle is named.
func TestInboundFiles(t *testing.T) {
	sizes := []tgbotapi.PhotoSize{
		{FileID: "small", Width: 90, Height: 60, FileSize: 1 << 10},
		{FileID: "medium", Width: 800, Height: 533, FileSize: 100 << 10},
		{FileID: "large", Width: 1280, Height: 853, FileSize: 2 << 20},
	}
	unknown := []tgbotapi.PhotoSize{{FileID: "s", Width: 90, Height: 60}, {FileID: "l", Width: 1280, Height: 853}}
	for _, c := range []struct {
		name     string
		m        tgbotapi.Message
		maxPhoto int64
		files    []platform.InboundFile
		kind     platform.Kind
		note     string
	}{
		{"a photo within the limit", tgbotapi.Message{Photo: sizes, Caption: "what is it"}, 10 << 20,
			[]platform.InboundFile{{ID: "large", Kind: "photo", Size: 2 << 20, Mime: "image/jpeg", Name: "photo.jpg"}}, platform.KindText, ""},
		{"the largest size under the limit", tgbotapi.Message{Photo: sizes, Caption: "what is it"}, 1 << 20,
			[]platform.InboundFile{{ID: "medium", Kind: "photo", Size: 100 << 10, Mime: "image/jpeg", Name: "photo.jpg"}}, platform.KindText, ""},
		{"no size under the limit", tgbotapi.Message{Photo: sizes, Caption: "what is it"}, 100,
			[]platform.InboundFile{{ID: "small", Kind: "photo", Size: 1 << 10, Mime: "image/jpeg", Name: "photo.jpg"}}, platform.KindText, ""},
		{"sizes not announced", tgbotapi.Message{Photo: unknown}, 100,
			[]platform.InboundFile{{ID: "l", Kind: "photo", Mime: "image/jpeg", Name: "photo.jpg"}}, platform.KindText, ""},
		{"a document", tgbotapi.Message{Document: &tgbotapi.Document{FileID: "d", FileName: "a.pdf", MimeType: "application/pdf", FileSize: 300}, Caption: "what is it"}, 10 << 20,
			[]platform.InboundFile{{ID: "d", Kind: "document", Size: 300, Mime: "application/pdf", Name: "a.pdf"}}, platform.KindText, ""},
		{"a voice note", tgbotapi.Message{Voice: &tgbotapi.Voice{FileID: "v", MimeType: "audio/ogg", FileSize: 40}}, 10 << 20,
			[]platform.InboundFile{{ID: "v", Kind: "voice", Size: 40, Mime: "audio/ogg", Name: "voice.oga"}}, platform.KindText, ""},
		{"an audio file", tgbotapi.Message{Audio: &tgbotapi.Audio{FileID: "a", FileName: "song.mp3", MimeType: "audio/mpeg", FileSize: 50}}, 10 << 20,
			[]platform.InboundFile{{ID: "a", Kind: "audio", Size: 50, Mime: "audio/mpeg", Name: "song.mp3"}}, platform.KindText, ""},
		{"a sticker", tgbotapi.Message{Sticker: &tgbotapi.Sticker{FileID: "s"}}, 10 << 20, nil, platform.KindUnsupported, "a sticker"},
		{"a location", tgbotapi.Message{Location: &tgbotapi.Location{Latitude: 1}}, 10 << 20, nil, platform.KindUnsupported, "a location"},
		{"a poll", tgbotapi.Message{Poll: &tgbotapi.Poll{ID: "p"}}, 10 << 20, nil, platform.KindUnsupported, "a poll"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m
			m.MessageID, m.Date = 3, 1700000000
			m.Chat = &tgbotapi.Chat{ID: 42, Type: "private"}
			m.From = &tgbotapi.User{ID: 42, UserName: "alice"}
			got := InboundWithin(tgbotapi.Update{UpdateID: 7, Message: &m}, nil, c.maxPhoto)
			require.Equal(t, c.files, got.Files)
			require.Equal(t, c.kind, got.Kind)
			require.Equal(t, c.note, got.Note)
			require.Equal(t, m.Caption, got.Text, "the caption is the text")
			require.Empty(t, got.Command)
		})
	}
}

// FetchFile fetches what a person sent into dir; a file above the limit,
// announced or as getFile or the download finds it, is ErrFileTooBig and
// leaves nothing; an unknown file id is another error.
func TestFetchFile(t *testing.T) {
	bot := fakebot.NewServer(t, fakebot.Options{})
	a, _ := newAdapter(t, bot, bot.Token())
	ctx := context.Background()
	bot.InjectMessage(fakebot.UserMessage{UserID: 42, Document: &fakebot.Upload{Name: "a.txt", Data: []byte("hello")}})
	bot.InjectMessage(fakebot.UserMessage{UserID: 42, Document: &fakebot.Upload{Name: "big.iso", Data: []byte("x"), Size: 30 << 20}})
	var ups []tgbotapi.Update
	require.NoError(t, a.o.Client.Call(ctx, "getUpdates", nil, &ups))
	require.Len(t, ups, 2)
	small, big := InboundWithin(ups[0], nil, DefaultMaxPhotoBytes).Files[0], InboundWithin(ups[1], nil, DefaultMaxPhotoBytes).Files[0]

	dir := t.TempDir()
	p, err := a.FetchFile(ctx, small, dir, 1<<20)
	require.NoError(t, err)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "hello", string(b))
	require.NoError(t, os.Remove(p))

	_, err = a.FetchFile(ctx, big, dir, 50<<20)
	require.ErrorIs(t, err, platform.ErrFileTooBig, "announced above Telegram's 20 MB")
	big.Size = 0 // not announced: getFile refuses it
	_, err = a.FetchFile(ctx, big, dir, 50<<20)
	require.ErrorIs(t, err, platform.ErrFileTooBig, "getFile's file is too big")
	small.Size = 0
	_, err = a.FetchFile(ctx, small, dir, 3)
	require.ErrorIs(t, err, platform.ErrFileTooBig, "more received than the limit")
	_, err = a.FetchFile(ctx, platform.InboundFile{ID: "nope", Kind: "document"}, dir, 1<<20)
	require.Error(t, err)
	require.NotErrorIs(t, err, platform.ErrFileTooBig)
	require.ErrorContains(t, err, "invalid file_id")
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left, "nothing left behind")
	require.EqualValues(t, 20<<20, a.MaxFetchBytes())
}
