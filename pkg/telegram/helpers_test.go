package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// testTimeout bounds every wait: a guard against hangs, not a timing
// assertion.
const testTimeout = 10 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newFake(t *testing.T, opts fakebot.Options) *fakebot.Server {
	t.Helper()
	if opts.PollTimeUnit == 0 {
		// A long poll with timeout=1 lasts 20ms instead of a second.
		opts.PollTimeUnit = 20 * time.Millisecond
	}
	return fakebot.NewServer(t, opts)
}

func newTestClient(t *testing.T, srv *fakebot.Server, opts ClientOptions) *Client {
	t.Helper()
	c, err := NewClient(srv.Token(), srv.URL(), opts)
	require.NoError(t, err)
	return c
}

// fakeClock is a manual Clock: Now stands still until Advance, and every
// Sleep with d > 0 is announced on slept and blocks until Advance passes
// its deadline (or its context ends). Tests thereby see each wait the code
// decides on, and its exact length, without sleeping.
type fakeClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers []*sleeper
	slept    chan time.Duration
}

type sleeper struct {
	until time.Time
	wake  chan struct{}
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), slept: make(chan time.Duration, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	c.mu.Lock()
	s := &sleeper{until: c.now.Add(d), wake: make(chan struct{})}
	c.sleepers = append(c.sleepers, s)
	c.mu.Unlock()
	c.slept <- d
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Advance moves time forward and wakes the sleepers whose time has come.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.sleepers[:0]
	for _, s := range c.sleepers {
		if s.until.After(c.now) {
			kept = append(kept, s)
		} else {
			close(s.wake)
		}
	}
	c.sleepers = kept
}

// nextSleep waits for the next Sleep call and returns its duration.
func (c *fakeClock) nextSleep(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.slept:
		return d
	case <-time.After(testTimeout):
		t.Fatal("no Sleep call")
		return 0
	}
}

// stateLog records the states a Poller reports.
type stateLog struct {
	mu   sync.Mutex
	list []State
	ch   chan State
}

func newStateLog() *stateLog { return &stateLog{ch: make(chan State, 1000)} }

func (l *stateLog) on(s State) {
	l.mu.Lock()
	l.list = append(l.list, s)
	l.mu.Unlock()
	l.ch <- s
}

func (l *stateLog) all() []State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]State(nil), l.list...)
}

func (l *stateLog) count(name string) int {
	n := 0
	for _, s := range l.all() {
		if s.Name == name {
			n++
		}
	}
	return n
}

// waitFor returns the next reported state named name.
func (l *stateLog) waitFor(t *testing.T, name string) State {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		select {
		case s := <-l.ch:
			if s.Name == name {
				return s
			}
		case <-timeout:
			t.Fatalf("state %q never reported; got %+v", name, l.all())
		}
	}
}

// delivery is one Sink call.
type delivery struct {
	update tgbotapi.Update
	raw    json.RawMessage
}

// recordingSink records every call; fail, if set, decides the answer.
type recordingSink struct {
	mu   sync.Mutex
	got  []delivery
	ch   chan delivery
	fail func(n int, d delivery) error // n counts calls from 1
}

func newRecordingSink() *recordingSink { return &recordingSink{ch: make(chan delivery, 1000)} }

func (s *recordingSink) sink(_ context.Context, u tgbotapi.Update, raw json.RawMessage) error {
	d := delivery{update: u, raw: append(json.RawMessage(nil), raw...)}
	s.mu.Lock()
	s.got = append(s.got, d)
	n := len(s.got)
	fail := s.fail
	s.mu.Unlock()
	s.ch <- d
	if fail != nil {
		return fail(n, d)
	}
	return nil
}

func (s *recordingSink) ids() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, d := range s.got {
		out = append(out, d.update.UpdateID)
	}
	return out
}

func (s *recordingSink) get(i int) delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[i]
}

// next waits for the next Sink call.
func (s *recordingSink) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-s.ch:
		return d
	case <-time.After(testTimeout):
		t.Fatal("no update reached the sink")
		return delivery{}
	}
}

// startPoller runs p in the background; the returned function cancels it
// and returns Run's result. Cleanup cancels it too.
func startPoller(t *testing.T, p *Poller, start int64, sink Sink) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, start, sink) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(testTimeout):
				t.Error("Poller.Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// logBuffer collects log output (Info and above) for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
