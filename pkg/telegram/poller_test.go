package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

func quickPoller(c *Client, opts PollerOptions) *Poller {
	if opts.PollTimeout == 0 {
		opts.PollTimeout = time.Second
	}
	if opts.BackoffMin == 0 {
		opts.BackoffMin, opts.BackoffMax = time.Millisecond, 2*time.Millisecond
	}
	return NewPoller(c, opts)
}

func TestPollerConfirmsOnlyAfterSinkSuccess(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	// Pending before the gateway starts: offset 0 must deliver them all.
	ids := []int{
		srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "one"}),
		srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "two"}),
		srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "three"}),
	}

	var confirmedAtRetry atomic.Int64
	sink := newRecordingSink()
	sink.fail = func(n int, d delivery) error {
		switch n {
		case 2:
			return errors.New("disk full")
		case 3:
			confirmedAtRetry.Store(int64(srv.ConfirmedOffset()))
		}
		return nil
	}
	states := newStateLog()
	p := quickPoller(c, PollerOptions{OnState: states.on})
	startPoller(t, p, 0, sink.sink)

	require.NoError(t, srv.WaitForConfirmed(ctx, ids[2]))
	// The failed update came again, and the rest of its batch waited.
	require.Equal(t, []int{ids[0], ids[1], ids[1], ids[2]}, sink.ids()[:4])
	// When it came again, Telegram had confirmed the first update only:
	// a getUpdates happened in between, with an offset before ids[1].
	require.Equal(t, int64(ids[1]), confirmedAtRetry.Load())
	require.GreaterOrEqual(t, p.Offset(), int64(ids[2]+1))

	errState := states.waitFor(t, StateError)
	require.Contains(t, errState.Detail, "disk full")
	require.Contains(t, errState.Detail, strconv.Itoa(ids[1]))
	require.Equal(t, "two", sink.get(1).update.Message.Text)
}

func TestPollerSinkFailureBacksOff(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	id := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "hello"})
	clk := newFakeClock()
	states := newStateLog()
	sink := newRecordingSink()
	sink.fail = func(n int, _ delivery) error {
		if n <= 3 {
			return errors.New("disk full")
		}
		return nil
	}
	p := quickPoller(c, PollerOptions{Clock: clk, OnState: states.on, BackoffMin: time.Second, BackoffMax: 8 * time.Second})
	startPoller(t, p, 0, sink.sink)

	var waits []time.Duration
	for range 3 {
		d := clk.nextSleep(t)
		waits = append(waits, d)
		require.Less(t, srv.ConfirmedOffset(), id+1, "not confirmed while the sink fails")
		clk.Advance(d)
	}
	require.NoError(t, srv.WaitForConfirmed(ctx, id))
	require.Equal(t, []int{id, id, id, id}, sink.ids())
	require.Less(t, waits[0], waits[1])
	require.Less(t, waits[1], waits[2])
	states.waitFor(t, StateConnected)
	var names []string
	for _, st := range states.all() {
		names = append(names, st.Name)
	}
	require.Equal(t, []string{StateConnecting, StateError, StateConnected}, names, "the failure is reported once")
}

func TestPollerNewPollerResumesFromStoredOffset(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	first := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "stored"})
	second := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "lost in the crash"})

	// The first gateway stores the first update, then dies while storing
	// the second.
	ctx1, crash := context.WithCancel(ctx)
	sink1 := newRecordingSink()
	sink1.fail = func(_ int, d delivery) error {
		if d.update.UpdateID == second {
			crash()
			return errors.New("killed")
		}
		return nil
	}
	p1 := quickPoller(c, PollerOptions{})
	require.NoError(t, p1.Run(ctx1, 0, sink1.sink))
	stored := p1.Offset()
	require.Equal(t, int64(first+1), stored)
	// Nothing was confirmed to Telegram yet: Run never polled again.
	require.Less(t, srv.ConfirmedOffset(), first+1)

	// The next gateway starts from the stored offset: the second update is
	// delivered again, the first is not.
	ctx2, done := context.WithCancel(ctx)
	sink2 := newRecordingSink()
	sink2.fail = func(int, delivery) error { done(); return nil }
	p2 := quickPoller(c, PollerOptions{})
	require.NoError(t, p2.Run(ctx2, stored, sink2.sink))
	require.Equal(t, []int{second}, sink2.ids())
	require.Equal(t, "lost in the crash", sink2.get(0).update.Message.Text)
	require.Equal(t, int64(second+1), p2.Offset())
	require.GreaterOrEqual(t, srv.ConfirmedOffset(), first+1)
}

func TestPollerHonoursRetryAfter(t *testing.T) {
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	srv.TooManyRequests("getUpdates", 1, 7)
	clk := newFakeClock()
	states := newStateLog()
	p := quickPoller(c, PollerOptions{Clock: clk, OnState: states.on})
	sink := newRecordingSink()
	startPoller(t, p, 0, sink.sink)

	// Exactly retry_after, no jitter, no backoff.
	require.Equal(t, 7*time.Second, clk.nextSleep(t))
	require.Equal(t, 1, srv.Calls("getUpdates"))
	st := p.State()
	require.Equal(t, StateError, st.Name)
	require.Contains(t, st.Detail, "429 Too Many Requests: retry after 7")

	clk.Advance(7 * time.Second)
	states.waitFor(t, StateConnected)
	id := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "after the flood"})
	require.Equal(t, id, sink.next(t).update.UpdateID)
}

func TestPollerServerErrorsBackOff(t *testing.T) {
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	srv.ServerErrors("getUpdates", 1, 502)
	srv.AddFault(fakebot.Fault{Kind: fakebot.FaultServerError, Method: "getUpdates", Status: 502, HTML: true})
	clk := newFakeClock()
	p := quickPoller(c, PollerOptions{Clock: clk, BackoffMin: time.Second, BackoffMax: 10 * time.Second})
	sink := newRecordingSink()
	startPoller(t, p, 0, sink.sink)

	d := clk.nextSleep(t)
	require.InDelta(t, float64(time.Second), float64(d), 0.2*float64(time.Second))
	require.Equal(t, StateError, p.State().Name)
	require.Contains(t, p.State().Detail, "502 Bad Gateway")
	clk.Advance(d)
	d = clk.nextSleep(t) // the nginx HTML page: doubled backoff
	require.InDelta(t, float64(2*time.Second), float64(d), 0.4*float64(time.Second))
	require.Contains(t, p.State().Detail, "502 Bad Gateway")
	clk.Advance(d)

	id := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "hi"})
	require.Equal(t, id, sink.next(t).update.UpdateID)
}

func TestPollerConflictIsReportedNotSpun(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	require.NoError(t, c.SetWebhook(ctx, "http://127.0.0.1:9/hook", "s3cret", nil))

	clk := newFakeClock()
	states := newStateLog()
	var logs logBuffer
	p := quickPoller(c, PollerOptions{Clock: clk, OnState: states.on, Log: logs.logger()})
	sink := newRecordingSink()
	startPoller(t, p, 0, sink.sink)

	for i := 1; ; i++ {
		d := clk.nextSleep(t)
		require.Equal(t, 30*time.Second, d, "the default conflict retry, no backoff")
		// One getUpdates per retry interval: the poller waits between them.
		require.Equal(t, i, srv.Calls("getUpdates"))
		require.Equal(t, State{Name: StateConflict, Detail: ConflictDetail, Since: p.State().Since}, p.State())
		if i == 3 {
			break
		}
		clk.Advance(d)
	}
	require.Equal(t, 1, states.count(StateConflict), "reported once per change")
	require.Equal(t, 1, strings.Count(logs.String(), "level=WARN msg=\"telegram: conflict\""), "logged once: %s", logs.String())
	require.Contains(t, logs.String(), "hermes setup telegram --mode poll")

	// The other side goes away: polling resumes.
	require.NoError(t, c.DeleteWebhook(ctx))
	clk.Advance(30 * time.Second)
	states.waitFor(t, StateConnected)
	id := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "back"})
	require.Equal(t, id, sink.next(t).update.UpdateID)
}

func TestPollerConflictWithSecondPoller(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{PollTimeUnit: time.Second})
	c := newTestClient(t, srv, ClientOptions{})
	clk := newFakeClock()
	states := newStateLog()
	p := NewPoller(c, PollerOptions{Clock: clk, OnState: states.on, ConflictRetry: 5 * time.Second})
	startPoller(t, p, 0, newRecordingSink().sink)
	states.waitFor(t, StateConnected)
	require.NoError(t, srv.WaitForLongPoll(ctx))

	// Another instance polls with the same token: Telegram ends our long
	// poll with 409.
	other := newTestClient(t, srv, ClientOptions{})
	require.NoError(t, other.Call(ctx, "getUpdates", url.Values{"timeout": {"0"}}, nil))
	st := states.waitFor(t, StateConflict)
	require.Equal(t, ConflictDetail, st.Detail)
	require.Equal(t, 5*time.Second, clk.nextSleep(t))
}

func TestPollerUnauthorizedStops(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{PollTimeUnit: time.Second})
	c := newTestClient(t, srv, ClientOptions{})
	states := newStateLog()
	p := quickPoller(c, PollerOptions{PollTimeout: 50 * time.Second, OnState: states.on})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, 0, newRecordingSink().sink) }()
	require.NoError(t, srv.WaitForLongPoll(ctx))

	srv.RevokeToken("987654321:AAnotherTokenFromBotFather-0123456789")
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatal("Run did not return after the token was revoked")
	}
	require.True(t, IsUnauthorized(err), "%v", err)
	require.NotContains(t, err.Error(), fakebot.DefaultToken)
	require.Equal(t, State{Name: StateUnauthorized, Detail: UnauthorizedDetail, Since: p.State().Since}, p.State())
	require.Equal(t, 1, states.count(StateUnauthorized))
}

func TestPollerSurvivesOutage(t *testing.T) {
	opts := fakebot.Options{PollTimeUnit: 20 * time.Millisecond}
	srv := fakebot.New(opts)
	base, err := srv.Start()
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(base, "http://")
	c, err := NewClient(srv.Token(), base, ClientOptions{})
	require.NoError(t, err)

	clk := newFakeClock()
	states := newStateLog()
	p := quickPoller(c, PollerOptions{Clock: clk, OnState: states.on, BackoffMin: time.Second, BackoffMax: 4 * time.Second})
	sink := newRecordingSink()
	startPoller(t, p, 0, sink.sink)
	states.waitFor(t, StateConnected)

	// Telegram becomes unreachable: the poller retries, with backoff, and
	// says it is trying to connect.
	srv.Close()
	st := states.waitFor(t, StateConnecting)
	require.NotEmpty(t, st.Detail)
	require.NotContains(t, st.Detail, srv.Token())
	var waits []time.Duration
	for range 3 {
		d := clk.nextSleep(t)
		waits = append(waits, d)
		require.Equal(t, StateConnecting, p.State().Name)
		clk.Advance(d)
	}
	require.Less(t, waits[0], waits[2], "backoff grows: %v", waits)

	// Back on the same address: it recovers and delivers.
	srv2 := fakebot.New(opts)
	_, err = srv2.Listen(addr)
	require.NoError(t, err)
	t.Cleanup(srv2.Close)
	id := srv2.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "we are back"})
	for {
		select {
		case d := <-clk.slept:
			clk.Advance(d)
			continue
		case got := <-sink.ch:
			require.Equal(t, id, got.update.UpdateID)
		case <-time.After(testTimeout):
			t.Fatal("no delivery after the server came back")
		}
		break
	}
	require.Equal(t, StateConnected, p.State().Name)
}

func TestPollerRunReturnsPromptlyOnCancel(t *testing.T) {
	ctx := testContext(t)
	// Real poll time: the long poll would last 50 seconds.
	srv := newFake(t, fakebot.Options{PollTimeUnit: time.Second})
	c := newTestClient(t, srv, ClientOptions{})
	p := NewPoller(c, PollerOptions{PollTimeout: 50 * time.Second})
	stop := startPoller(t, p, 0, newRecordingSink().sink)
	require.NoError(t, srv.WaitForLongPoll(ctx))
	require.NoError(t, stop()) // fails the test if Run does not return within testTimeout
}

func TestPollerHandsUndecodableUpdateToSink(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	bad, err := srv.InjectUpdate(json.RawMessage(`{"message":{"message_id":"seven","date":1,"chat":{"id":42,"type":"private"},"text":"odd"}}`))
	require.NoError(t, err)
	good := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "fine"})

	sink := newRecordingSink()
	p := quickPoller(c, PollerOptions{})
	startPoller(t, p, 0, sink.sink)

	first := sink.next(t)
	require.Zero(t, first.update.UpdateID)
	require.Nil(t, first.update.Message)
	require.Contains(t, string(first.raw), `"update_id":`+strconv.Itoa(bad))
	require.Contains(t, string(first.raw), `"seven"`)
	second := sink.next(t)
	require.Equal(t, good, second.update.UpdateID)
	require.NoError(t, srv.WaitForConfirmed(ctx, good))
}

func TestPollerConfirm(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	restart := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "/restart"})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "later"})

	p := NewPoller(c, PollerOptions{})
	require.NoError(t, p.Confirm(ctx, int64(restart)))
	require.Equal(t, restart+1, srv.ConfirmedOffset())
	require.Equal(t, 1, srv.PendingUpdates(), "only the /restart update is confirmed")
	require.Equal(t, int64(restart+1), p.Offset())
	require.Error(t, p.Confirm(ctx, 0))
}

func TestPollerSendsAllowedUpdates(t *testing.T) {
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	states := newStateLog()
	p := quickPoller(c, PollerOptions{AllowedUpdates: []string{"callback_query"}, OnState: states.on})
	startPoller(t, p, 0, newRecordingSink().sink)
	states.waitFor(t, StateConnected)
	require.Zero(t, srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "filtered"}))
}

func TestPollerRejectsConcurrentRun(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{PollTimeUnit: time.Second})
	c := newTestClient(t, srv, ClientOptions{})
	p := NewPoller(c, PollerOptions{})
	startPoller(t, p, 0, newRecordingSink().sink)
	require.NoError(t, srv.WaitForLongPoll(ctx))
	require.Error(t, p.Run(ctx, 0, newRecordingSink().sink))
}
