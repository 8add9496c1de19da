package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	srv := heldFake(t)
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
	p := heldPoller(c, PollerOptions{Clock: clk, OnState: states.on, BackoffMin: time.Second, BackoffMax: 8 * time.Second})
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
	srv := heldFake(t)
	c := newTestClient(t, srv, ClientOptions{})
	srv.TooManyRequests("getUpdates", 1, 7)
	clk := newFakeClock()
	states := newStateLog()
	p := heldPoller(c, PollerOptions{Clock: clk, OnState: states.on})
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
	srv := heldFake(t)
	c := newTestClient(t, srv, ClientOptions{})
	srv.ServerErrors("getUpdates", 1, 502)
	srv.AddFault(fakebot.Fault{Kind: fakebot.FaultServerError, Method: "getUpdates", Status: 502, HTML: true})
	clk := newFakeClock()
	p := heldPoller(c, PollerOptions{Clock: clk, BackoffMin: time.Second, BackoffMax: 10 * time.Second})
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

// heldFake is the Bot API fake for tests on the manual clock: its long
// polls last their real timeout. The manual clock stands still while a poll
// is held, so a poll that the fake ended early would look like a server that
// does not hold long polls, and the poller would wait (on the manual clock)
// before the next one. Pair it with heldPoller's 50 s poll timeout.
func heldFake(t *testing.T) *fakebot.Server {
	return newFake(t, fakebot.Options{PollTimeUnit: time.Second})
}

func heldPoller(c *Client, opts PollerOptions) *Poller {
	opts.PollTimeout = MaxPollTimeout
	return quickPoller(c, opts)
}

func TestPollerConflictBacksOffAndResets(t *testing.T) {
	ctx := testContext(t)
	srv := heldFake(t)
	c := newTestClient(t, srv, ClientOptions{})
	require.NoError(t, c.SetWebhook(ctx, "http://127.0.0.1:9/hook", "s3cret", nil))

	clk := newFakeClock()
	states := newStateLog()
	var logs logBuffer
	p := heldPoller(c, PollerOptions{Clock: clk, OnState: states.on, Log: logs.logger()})
	sink := newRecordingSink()
	startPoller(t, p, 0, sink.sink)

	// Every 409 in a row doubles the wait, from a second up to 30 s: a
	// short conflict costs seconds, a lasting one a getUpdates every 30 s.
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i, w := range want {
		d := clk.nextSleep(t)
		require.Equal(t, w*time.Second, d, "wait after 409 number %d", i+1)
		// One getUpdates per wait: the poller never spins on a 409.
		require.Equal(t, i+1, srv.Calls("getUpdates"))
		require.Equal(t, State{Name: StateConflict, Detail: ConflictDetail(), Since: p.State().Since}, p.State(),
			"the status says why, and what to do, for as long as it lasts")
		if i < len(want)-1 {
			clk.Advance(d)
		}
	}
	require.Equal(t, 1, states.count(StateConflict), "reported once per change")
	require.Equal(t, 1, strings.Count(logs.String(), "level=WARN msg=\"telegram: conflict\""), "logged once: %s", logs.String())
	require.Contains(t, logs.String(), "hermes setup telegram --mode poll")

	// The other side goes away: the next retry succeeds and says so at once
	// (a poll that is not held), then long-polls again, and that long
	// poll completes (with an update).
	require.NoError(t, c.DeleteWebhook(ctx))
	clk.Advance(30 * time.Second)
	states.waitFor(t, StateConnected)
	require.NoError(t, srv.WaitForLongPoll(ctx))
	first := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "in between"})
	require.Equal(t, first, sink.next(t).update.UpdateID)
	require.NoError(t, srv.WaitForLongPoll(ctx))

	// A new conflict starts again from a second: the completed poll reset
	// the backoff.
	require.NoError(t, c.SetWebhook(ctx, "http://127.0.0.1:9/hook", "s3cret", nil))
	require.Equal(t, time.Second, clk.nextSleep(t))
	require.Equal(t, StateConflict, p.State().Name)
	require.NoError(t, c.DeleteWebhook(ctx))
	clk.Advance(time.Second)
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
	p := NewPoller(c, PollerOptions{Clock: clk, OnState: states.on})
	sink := newRecordingSink()
	startPoller(t, p, 0, sink.sink)
	states.waitFor(t, StateConnected)
	require.NoError(t, srv.WaitForLongPoll(ctx))

	// Another instance polls with the same token: Telegram ends our long
	// poll with 409.
	other := newTestClient(t, srv, ClientOptions{})
	require.NoError(t, other.Call(ctx, "getUpdates", url.Values{"timeout": {"0"}}, nil))
	st := states.waitFor(t, StateConflict)
	require.Equal(t, ConflictDetail(), st.Detail)
	require.Equal(t, DefaultConflictRetryMin, clk.nextSleep(t), "retried within a second")

	// Our retry is not held and succeeds (the other's poll was not held
	// either), and we long-poll again...
	clk.Advance(DefaultConflictRetryMin)
	states.waitFor(t, StateConnected)
	require.NoError(t, srv.WaitForLongPoll(ctx))
	// ...until the other instance, still there, polls again: the backoff
	// goes on from where it was, or two instances would kick each other
	// every second for as long as both run.
	require.NoError(t, other.Call(ctx, "getUpdates", url.Values{"timeout": {"0"}}, nil))
	states.waitFor(t, StateConflict)
	require.Equal(t, 2*DefaultConflictRetryMin, clk.nextSleep(t))
	clk.Advance(2 * DefaultConflictRetryMin)
	states.waitFor(t, StateConnected)
	require.NoError(t, srv.WaitForLongPoll(ctx))

	// The other instance is gone for a while: our long poll completes
	// (here with a message), which resets the backoff.
	id := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "hello"})
	require.Equal(t, id, sink.next(t).update.UpdateID)
	require.NoError(t, srv.WaitForLongPoll(ctx))
	require.NoError(t, other.Call(ctx, "getUpdates", url.Values{"timeout": {"0"}}, nil))
	states.waitFor(t, StateConflict)
	require.Equal(t, DefaultConflictRetryMin, clk.nextSleep(t))
}

func TestPollerAnswersSecondsAfterAFiveSecondConflict(t *testing.T) {
	ctx := testContext(t)
	clk := newFakeClock()
	// The fake's conflict ends on the poller's own manual clock.
	srv := newFake(t, fakebot.Options{PollTimeUnit: time.Second, Now: clk.Now})
	c := newTestClient(t, srv, ClientOptions{})
	states := newStateLog()
	sink := newRecordingSink()
	p := heldPoller(c, PollerOptions{Clock: clk, OnState: states.on})
	startPoller(t, p, 0, sink.sink)
	states.waitFor(t, StateConnected)
	require.NoError(t, srv.WaitForLongPoll(ctx))

	end := srv.ConflictFor(5 * time.Second)
	id := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "sent during the conflict"})
	for _, w := range []time.Duration{1, 2, 4} {
		d := clk.nextSleep(t)
		require.Equal(t, w*time.Second, d)
		clk.Advance(d)
	}
	require.Equal(t, id, sink.next(t).update.UpdateID)
	require.Equal(t, 2*time.Second, clk.Now().Sub(end), "answered 2 s after the conflict ended (the field's fixed retry: 25 s)")
}

func TestConflictBackoff(t *testing.T) {
	b := conflictBackoff{min: time.Second, max: 30 * time.Second}
	var got []time.Duration
	for n := 1; n <= 8; n++ {
		got = append(got, b.delay(n)/time.Second)
	}
	require.Equal(t, []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}, got)
}

// scriptedAPI is a Bot API server whose getUpdates calls the test answers
// one by one, after moving the manual clock as far as it wants the call to
// have taken: the poller's decisions after each kind of answer, exactly.
type scriptedAPI struct {
	calls chan *scriptedCall
	url   string
}

type scriptedCall struct {
	timeout string // the long-poll timeout asked for, in seconds
	answer  chan string
}

func newScriptedAPI(t *testing.T) *scriptedAPI {
	a := &scriptedAPI{calls: make(chan *scriptedCall, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/getUpdates") || r.ParseForm() != nil {
			http.Error(w, `{"ok":false,"error_code":404,"description":"Not Found"}`, http.StatusNotFound)
			return
		}
		c := &scriptedCall{timeout: r.Form.Get("timeout"), answer: make(chan string, 1)}
		a.calls <- c
		select {
		case body := <-c.answer:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// next waits for the poller's next getUpdates.
func (a *scriptedAPI) next(t *testing.T) *scriptedCall {
	t.Helper()
	select {
	case c := <-a.calls:
		return c
	case <-time.After(testTimeout):
		t.Fatal("no getUpdates")
		return nil
	}
}

const (
	emptyResult = `{"ok":true,"result":[]}`
	oneUpdate   = `{"ok":true,"result":[{"update_id":%d,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"text":"hi"}}]}`
)

func TestPollerWaitsOnlyAfterAnEmptyPollThatWasNotHeld(t *testing.T) {
	const timeout = 30 * time.Second
	tests := []struct {
		name string
		took time.Duration // how long the server held the poll
		body string
		wait time.Duration // before the next getUpdates; 0: none
	}{
		{"empty at once: a server that does not hold long polls", 0, emptyResult, DefaultMinPollInterval},
		{"empty after a short hold: the rest of the interval", 300 * time.Millisecond, emptyResult, DefaultMinPollInterval - 300*time.Millisecond},
		{"empty after the whole long poll: normal, not slowed", timeout, emptyResult, 0},
		{"empty after exactly the interval", DefaultMinPollInterval, emptyResult, 0},
		{"updates at once: fetch the next at once", 0, oneUpdate, 0},
		{"updates after a hold", 5 * time.Second, oneUpdate, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newScriptedAPI(t)
			c, err := NewClient(fakebot.DefaultToken, api.url, ClientOptions{})
			require.NoError(t, err)
			clk := newFakeClock()
			states := newStateLog()
			sink := newRecordingSink()
			p := NewPoller(c, PollerOptions{Clock: clk, OnState: states.on, PollTimeout: timeout})
			startPoller(t, p, 0, sink.sink)

			// The first poll asks not to be held (nothing has succeeded
			// yet); its empty answer is followed at once.
			first := api.next(t)
			require.Equal(t, "0", first.timeout)
			first.answer <- emptyResult
			states.waitFor(t, StateConnected)

			// The long poll this test is about.
			call := api.next(t)
			require.Equal(t, "30", call.timeout)
			require.Empty(t, clk.slept, "no wait after the first, unheld poll")
			clk.Advance(tc.took)
			body := tc.body
			if strings.Contains(body, "%d") {
				body = fmt.Sprintf(body, 100)
			}
			call.answer <- body

			if tc.wait > 0 {
				require.Equal(t, tc.wait, clk.nextSleep(t))
				require.Empty(t, api.calls, "no poll while it waits")
				clk.Advance(tc.wait)
			}
			next := api.next(t)
			require.Equal(t, "30", next.timeout, "still long-polling")
			// The poller is sequential: had it slept before this call, the
			// sleep would have been announced before the call was made.
			require.Empty(t, clk.slept, "no other wait")
			require.Equal(t, StateConnected, p.State().Name)
		})
	}
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
	require.Equal(t, State{Name: StateUnauthorized, Detail: UnauthorizedDetail(), Since: p.State().Since}, p.State())
	require.Equal(t, 1, states.count(StateUnauthorized))
}

func TestPollerSurvivesOutage(t *testing.T) {
	opts := fakebot.Options{PollTimeUnit: time.Second} // see heldFake
	srv := fakebot.New(opts)
	base, err := srv.Start()
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(base, "http://")
	c, err := NewClient(srv.Token(), base, ClientOptions{})
	require.NoError(t, err)

	clk := newFakeClock()
	states := newStateLog()
	p := heldPoller(c, PollerOptions{Clock: clk, OnState: states.on, BackoffMin: time.Second, BackoffMax: 4 * time.Second})
	sink := newRecordingSink()
	startPoller(t, p, 0, sink.sink)
	states.waitFor(t, StateConnected)
	require.NoError(t, srv.WaitForLongPoll(testContext(t)))

	// Telegram becomes unreachable: the poller retries, with backoff, and
	// says it is trying to connect.
	srv.Close()
	d := clk.nextSleep(t)
	if p.State().Name == StateConnected {
		// The closing fake answered the held poll, empty, at once (on
		// the manual clock): the poller waits before it finds it gone.
		require.Equal(t, DefaultMinPollInterval, d)
		clk.Advance(d)
		d = clk.nextSleep(t)
	}
	st := states.waitFor(t, StateConnecting)
	require.NotEmpty(t, st.Detail)
	require.NotContains(t, st.Detail, srv.Token())
	var waits []time.Duration
	for i := range 3 {
		if i > 0 {
			d = clk.nextSleep(t)
		}
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
	// Reported once the batch is stored (after the sink returned).
	states.waitFor(t, StateConnected)
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

// RunBatch hands a getUpdates batch over at once, with the offset that
// confirms it, and confirms nothing of a batch the sink did not store.
func TestPollerRunBatchConfirmsAWholeBatchOnlyAfterItIsStored(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	ids := []int{
		srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "one"}),
		srv.InjectMessage(fakebot.UserMessage{UserID: 43, Text: "two"}),
		srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "three"}),
	}
	type call struct {
		ids       []int64
		next      int64
		confirmed int
	}
	calls := make(chan call, 10)
	var n atomic.Int32
	sink := func(_ context.Context, us []Update, next int64) error {
		cl := call{next: next, confirmed: srv.ConfirmedOffset()}
		for _, u := range us {
			cl.ids = append(cl.ids, u.ID)
		}
		calls <- cl
		if n.Add(1) == 1 {
			return errors.New("disk full")
		}
		return nil
	}
	p := quickPoller(c, PollerOptions{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.RunBatch(runCtx, 0, sink) }()
	defer func() { cancel(); <-done }()

	require.NoError(t, srv.WaitForConfirmed(ctx, ids[2]))
	want := []int64{int64(ids[0]), int64(ids[1]), int64(ids[2])}
	first, second := <-calls, <-calls
	require.Equal(t, want, first.ids, "one call for the batch")
	require.Equal(t, want, second.ids, "the failed batch came again, whole")
	require.EqualValues(t, ids[2]+1, second.next)
	require.Less(t, second.confirmed, ids[0]+1, "nothing of the failed batch was confirmed")
	require.EqualValues(t, ids[2]+1, p.Offset())
}
