package adapter

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/telegram"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/stretchr/testify/require"
)

// memSink stores in memory, as the gateway's store would.
type memSink struct {
	mu      sync.Mutex
	cursor  string
	stored  []platform.Inbound
	changed chan struct{}
}

func (s *memSink) Deliver(_ context.Context, b platform.Batch) error {
	s.mu.Lock()
	s.stored = append(s.stored, b.Messages...)
	s.cursor = b.Cursor
	s.mu.Unlock()
	s.changed <- struct{}{}
	return nil
}

func (s *memSink) Cursor(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor, nil
}

func newAdapter(t *testing.T, bot *fakebot.Server, token string) (*Adapter, chan platform.Status) {
	client, err := telegram.NewClient(token, bot.URL(), telegram.ClientOptions{})
	require.NoError(t, err)
	states := make(chan platform.Status, 100)
	return New(Options{Client: client, PollTimeout: time.Second, OnStatus: func(s platform.Status) { states <- s }}), states
}

// Run hands each getUpdates batch to the sink with the offset that
// confirms it, resumes from the sink's cursor, and when it stops confirms
// to Telegram what was stored, so the next process is not handed it again.
func TestRunStoresThenConfirms(t *testing.T) {
	bot := fakebot.NewServer(t, fakebot.Options{PollTimeUnit: 20 * time.Millisecond})
	a, states := newAdapter(t, bot, bot.Token())
	sink := &memSink{changed: make(chan struct{}, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, sink) }()
	for s := range states {
		if s.State == platform.StateConnected {
			require.Equal(t, "@"+bot.Bot().Username, a.Status().Account)
			break
		}
	}
	id := bot.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "/help"})
	<-sink.changed
	sink.mu.Lock()
	require.Equal(t, platform.MessageID(strconv.Itoa(id)), sink.stored[0].ID)
	require.Equal(t, "help", sink.stored[0].Command)
	require.Equal(t, strconv.Itoa(id+1), sink.cursor, "the offset that confirms it, stored with it")
	sink.mu.Unlock()

	cancel()
	require.NoError(t, <-done)
	require.Equal(t, id+1, bot.ConfirmedOffset(), "confirmed before Run returned")
	require.Equal(t, platform.StateStopped, a.Status().State)
}

// A rejected token is a configuration error: Run ends with ErrConfig (the
// gateway exits 78) and the status says what to run.
func TestARejectedTokenEndsRun(t *testing.T) {
	bot := fakebot.NewServer(t, fakebot.Options{})
	a, _ := newAdapter(t, bot, "123456:wrong-token-wrong-token-wrong-token")
	err := a.Run(context.Background(), &memSink{changed: make(chan struct{}, 1)})
	require.True(t, errors.Is(err, platform.ErrConfig), "%v", err)
	require.ErrorContains(t, err, "hermes setup telegram")
	require.Equal(t, platform.State(telegram.StateUnauthorized), a.Status().State)
	require.Equal(t, "run `hermes setup telegram`", a.Status().Fix)
}
