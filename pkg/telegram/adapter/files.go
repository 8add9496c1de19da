package adapter

import (
	"context"
	"fmt"
	"strconv"

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
