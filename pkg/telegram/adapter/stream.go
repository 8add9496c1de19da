package adapter

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/telegram"
)

var _ platform.Streamer = (*Adapter)(nil)

// StartStream implements platform.Streamer: the answer grows in one
// Telegram message by edits (telegram.Stream).
func (a *Adapter) StartStream(ctx context.Context, s platform.StreamStart) (platform.Stream, error) {
	chat, err := ChatNumber(s.Chat)
	if err != nil {
		return nil, err
	}
	opts := telegram.StreamOptions{}
	if s.ReplyTo != "" {
		if opts.ReplyTo, err = strconv.Atoi(s.ReplyTo); err != nil {
			return nil, fmt.Errorf("telegram: message id %q is not a number", s.ReplyTo)
		}
	}
	for _, id := range s.Resume {
		n, err := strconv.Atoi(id)
		if err != nil {
			return nil, fmt.Errorf("telegram: message id %q is not a number", id)
		}
		opts.Resume = append(opts.Resume, n)
	}
	if s.Begun != nil {
		opts.Begun = func(ids []int) error { return s.Begun(itoas(ids)) }
	}
	return stream{a.sender.Stream(ctx, chat, opts)}, nil
}

type stream struct{ *telegram.Stream }

func (s stream) Finish(ctx context.Context, text string) (platform.Sent, error) {
	ids, err := s.Stream.Finish(ctx, text)
	return platform.Sent{IDs: itoas(ids)}, err
}

func itoas(ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.Itoa(id)
	}
	return out
}
