package adapter

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/telegram"
)

var _ platform.FileSender = (*Adapter)(nil)

// SendFile implements platform.FileSender: sendDocument or sendPhoto.
func (a *Adapter) SendFile(ctx context.Context, f platform.OutboundFile) (platform.Sent, error) {
	chat, err := ChatNumber(f.Chat)
	if err != nil {
		return platform.Sent{}, fmt.Errorf("%w: %w", err, platform.ErrUndeliverable)
	}
	kind := telegram.UploadDocument
	if f.Kind == telegram.UploadPhoto {
		kind = telegram.UploadPhoto
	}
	quote, _ := strconv.Atoi(f.Quote)
	id, err := a.sender.SendFile(ctx, chat, kind, f.Path, f.Caption, quote)
	if err != nil {
		return platform.Sent{}, err
	}
	return platform.Sent{IDs: []string{strconv.Itoa(id)}}, nil
}

var _ platform.FileFetcher = (*Adapter)(nil)

// DefaultMaxPhotoBytes is the photo size limit when Options leaves it 0:
// Telegram's own limit on a photo (10 MB).
const DefaultMaxPhotoBytes = 10 << 20

// FetchFile implements platform.FileFetcher: getFile, then the download,
// within limit and the Bot API's 20 MB.
func (a *Adapter) FetchFile(ctx context.Context, f platform.InboundFile, dir string, limit int64) (string, error) {
	limit = min(limit, telegram.MaxDownloadBytes)
	if f.Size > limit {
		return "", fmt.Errorf("telegram: %s of %d bytes, the limit is %d: %w", f.Kind, f.Size, limit, platform.ErrFileTooBig)
	}
	tf, err := a.o.Client.GetFile(ctx, f.ID)
	if err != nil {
		if telegram.IsFileTooBig(err) {
			return "", fmt.Errorf("telegram: getFile: %w: %w", err, platform.ErrFileTooBig)
		}
		return "", fmt.Errorf("telegram: getFile: %w", err)
	}
	path, err := a.o.Client.Download(ctx, tf, dir, limit)
	if errors.Is(err, telegram.ErrTooBig) {
		return "", fmt.Errorf("%w: %w", err, platform.ErrFileTooBig)
	}
	return path, err
}

// MaxFetchBytes is the Bot API's limit on a file a bot may fetch.
func (a *Adapter) MaxFetchBytes() int64 { return telegram.MaxDownloadBytes }

// files are the files msg carries, as the inbox records them: of a photo's
// sizes, the largest within maxPhoto (the smallest when none is, so that
// the person is told it is too big), sizes Telegram leaves unknown
// counting as within. unsupported names what the gateway does not
// handle (a sticker, a location, a poll…), "" when nothing.
func files(msg *tgbotapi.Message, maxPhoto int64) (fs []platform.InboundFile, unsupported string) {
	if len(msg.Photo) > 0 {
		best := -1
		for i, p := range msg.Photo {
			if int64(p.FileSize) <= maxPhoto && (best < 0 || area(p) >= area(msg.Photo[best])) {
				best = i
			}
		}
		if best < 0 {
			for i, p := range msg.Photo {
				if best < 0 || p.FileSize < msg.Photo[best].FileSize {
					best = i
				}
			}
		}
		p := msg.Photo[best]
		fs = append(fs, platform.InboundFile{ID: p.FileID, Kind: platform.FilePhoto, Size: int64(p.FileSize), Mime: "image/jpeg", Name: "photo.jpg"})
	}
	if d := msg.Document; d != nil {
		fs = append(fs, platform.InboundFile{ID: d.FileID, Kind: platform.FileDocument, Size: int64(d.FileSize), Mime: d.MimeType, Name: d.FileName})
	}
	if v := msg.Voice; v != nil {
		fs = append(fs, platform.InboundFile{ID: v.FileID, Kind: platform.FileVoice, Size: int64(v.FileSize), Mime: v.MimeType, Name: "voice.oga"})
	}
	if v := msg.Audio; v != nil {
		fs = append(fs, platform.InboundFile{ID: v.FileID, Kind: platform.FileAudio, Size: int64(v.FileSize), Mime: v.MimeType, Name: v.FileName})
	}
	if len(fs) > 0 {
		return fs, ""
	}
	switch {
	case msg.Sticker != nil:
		return nil, "a sticker"
	case msg.Location != nil || msg.Venue != nil:
		return nil, "a location"
	case msg.Poll != nil:
		return nil, "a poll"
	case msg.Video != nil || msg.VideoNote != nil || msg.Animation != nil:
		return nil, "a video"
	case msg.Contact != nil:
		return nil, "a contact"
	case msg.Dice != nil:
		return nil, "a dice"
	}
	return nil, ""
}

func area(p tgbotapi.PhotoSize) int { return p.Width * p.Height }
