package fakebot

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTooManyRequestsFault(t *testing.T) {
	s := newTestServer(t, Options{})
	s.InjectMessage(UserMessage{UserID: 42, Text: "hi"})
	s.TooManyRequests("sendmessage", 2, 7)

	for range 2 {
		r := call(t, s, "sendMessage", vals("chat_id", "42", "text", "x"))
		require.Equal(t, 429, r.Status)
		require.Equal(t, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`, r.Body)
	}
	// Other methods are not affected, and the third send goes through.
	call(t, s, "getMe", nil).result(t, new(User))
	call(t, s, "sendMessage", vals("chat_id", "42", "text", "x")).result(t, new(Message))
	require.Len(t, s.Sent(42), 1, "a 429'd message is not delivered")
	st := s.Stats()
	require.Equal(t, 2, st.Faults)
	require.Equal(t, 3, st.Calls["sendMessage"], "faulted calls are counted")
}

func TestServerErrorFaults(t *testing.T) {
	tests := []struct {
		name   string
		fault  Fault
		status int
		body   string
	}{
		{"500 default", Fault{Kind: FaultServerError}, 500,
			`{"ok":false,"error_code":500,"description":"Internal Server Error"}`},
		{"502", Fault{Kind: FaultServerError, Status: 502}, 502,
			`{"ok":false,"error_code":502,"description":"Bad Gateway"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, Options{})
			s.AddFault(tc.fault)
			r := call(t, s, "getMe", nil)
			require.Equal(t, tc.status, r.Status)
			require.Equal(t, tc.body, r.Body)
			call(t, s, "getMe", nil).result(t, new(User))
		})
	}
	t.Run("nginx html", func(t *testing.T) {
		s := newTestServer(t, Options{})
		s.AddFault(Fault{Kind: FaultServerError, Status: 502, HTML: true})
		r := call(t, s, "getMe", nil)
		require.Equal(t, 502, r.Status)
		require.Contains(t, r.Body, "<title>502 Bad Gateway</title>")
	})
}

func TestDroppedConnectionGivesClientError(t *testing.T) {
	s := newTestServer(t, Options{})
	s.DropConnections("getMe", 1)
	_, err := rawCall(context.Background(), s, s.Token(), "getMe", nil)
	require.Error(t, err, "the connection is closed without an answer")
	call(t, s, "getMe", nil).result(t, new(User))
}

func TestSlowResponse(t *testing.T) {
	s := newTestServer(t, Options{})
	// A client that gives up before the delay sees a timeout...
	s.SlowResponses("getMe", 1, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := rawCall(ctx, s, s.Token(), "getMe", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// ...and a patient one gets the normal answer after the delay.
	s.SlowResponses("getMe", 1, time.Millisecond)
	call(t, s, "getMe", nil).result(t, new(User))
	require.Equal(t, 2, s.Stats().Faults)
}

func TestRevokedToken(t *testing.T) {
	s := newTestServer(t, Options{PollTimeUnit: testTimeout})
	old := s.Token()
	ctx := testContext(t)
	poll := asyncCall(ctx, s, "getUpdates", vals("timeout", "50"))
	require.NoError(t, s.WaitForLongPoll(ctx))

	s.RevokeToken("999:new")
	(<-poll).requireError(t, 401, "Unauthorized")
	r, err := rawCall(ctx, s, old, "getMe", nil)
	require.NoError(t, err)
	r.requireError(t, 401, "Unauthorized")
	r, err = rawCall(ctx, s, "999:new", "getMe", nil)
	require.NoError(t, err)
	r.result(t, new(User))
}

func TestFaultsApplyInOrderAndClear(t *testing.T) {
	s := newTestServer(t, Options{})
	s.ServerErrors("", 1, 500)
	s.TooManyRequests("", 1, 2)
	require.Equal(t, 500, call(t, s, "getMe", nil).Status)
	require.Equal(t, 429, call(t, s, "getWebhookInfo", nil).Status)
	require.Equal(t, 200, call(t, s, "getMe", nil).Status)

	s.ServerErrors("", 5, 502)
	s.ClearFaults()
	require.Equal(t, 200, call(t, s, "getMe", nil).Status)
}

func TestFloodControl(t *testing.T) {
	clock := &manualClock{now: time.Unix(1_700_000_000, 0)}
	s := newTestServer(t, Options{Now: clock.Now, FloodControl: &FloodControl{
		PerChat: Bucket{Burst: 2, Every: time.Second},
		Global:  Bucket{Burst: 30, Every: time.Second / 30},
	}})
	s.InjectMessage(UserMessage{UserID: 1, Text: "hi"})
	s.InjectMessage(UserMessage{UserID: 2, Text: "hi"})

	send := func(chat string) reply { return call(t, s, "sendMessage", vals("chat_id", chat, "text", "x")) }
	require.Equal(t, 200, send("1").Status)
	require.Equal(t, 200, send("1").Status)
	send("1").requireErrorRetry(t, 1)
	require.Equal(t, 200, send("2").Status, "limits are per chat")

	// The fake's clock is advanced by hand: no sleeping.
	clock.Advance(time.Second)
	require.Equal(t, 200, send("1").Status)
	send("1").requireErrorRetry(t, 1)
	require.Len(t, s.Sent(1), 3)
	require.Equal(t, 2, s.Stats().FloodRejections)

	s.SetFloodControl(nil)
	require.Equal(t, 200, send("1").Status)
}

func (r reply) requireErrorRetry(t *testing.T, retryAfter int) {
	t.Helper()
	ok, _, code, desc, ra := r.envelope(t)
	require.False(t, ok)
	require.Equal(t, 429, code)
	require.Equal(t, retryAfter, ra)
	require.Equal(t, "Too Many Requests: retry after "+strconv.Itoa(retryAfter), desc)
}

// manualClock is a clock tests advance by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestConflictForATime(t *testing.T) {
	clock := &manualClock{now: time.Unix(1_700_000_000, 0)}
	s := newTestServer(t, Options{Now: clock.Now, PollTimeUnit: testTimeout})
	ctx := testContext(t)
	poll := asyncCall(ctx, s, "getUpdates", vals("timeout", "50"))
	require.NoError(t, s.WaitForLongPoll(ctx))

	end := s.ConflictFor(5 * time.Second)
	require.Equal(t, clock.Now().Add(5*time.Second), end)
	// The waiting long poll is ended, as by another instance's getUpdates,
	// and so is every getUpdates until the end, whatever its timeout.
	(<-poll).requireError(t, 409, DescPollConflict)
	call(t, s, "getUpdates", vals("timeout", "0")).requireError(t, 409, DescPollConflict)
	clock.Advance(4 * time.Second)
	call(t, s, "getUpdates", vals("timeout", "30")).requireError(t, 409, DescPollConflict)
	call(t, s, "getMe", nil).result(t, new(User)) // other methods are not affected

	clock.Advance(time.Second)
	id := s.InjectMessage(UserMessage{UserID: 42, Text: "after"})
	require.Equal(t, []int{id}, updateIDs(getUpdates(t, s, vals("timeout", "30"))))
}

func TestNoLongPollsForATime(t *testing.T) {
	clock := &manualClock{now: time.Unix(1_700_000_000, 0)}
	s := newTestServer(t, Options{Now: clock.Now, PollTimeUnit: testTimeout})
	ctx := testContext(t)
	s.NoLongPollsFor(2 * time.Second)

	// A 50 s long poll is answered at once, empty, exactly like Telegram
	// answers timeout=0 with nothing pending.
	r := call(t, s, "getUpdates", vals("timeout", "50"))
	require.Equal(t, 200, r.Status)
	require.Equal(t, `{"ok":true,"result":[]}`, r.Body)
	require.False(t, s.Stats().LongPollActive)
	// Pending updates are answered (and confirmed) as usual.
	id := s.InjectMessage(UserMessage{UserID: 42, Text: "hi"})
	require.Equal(t, []int{id}, updateIDs(getUpdates(t, s, vals("timeout", "50"))))
	require.Empty(t, getUpdates(t, s, vals("timeout", "50", "offset", strconv.Itoa(id+1))))

	// Over: long polls are held again.
	clock.Advance(2 * time.Second)
	poll := asyncCall(ctx, s, "getUpdates", vals("timeout", "50"))
	require.NoError(t, s.WaitForLongPoll(ctx))
	next := s.InjectMessage(UserMessage{UserID: 42, Text: "held"})
	var ups []testUpdate
	(<-poll).result(t, &ups)
	require.Equal(t, []int{next}, updateIDs(ups))
}

func TestCountedFaultsWaitForATimedOne(t *testing.T) {
	clock := &manualClock{now: time.Unix(1_700_000_000, 0)}
	s := newTestServer(t, Options{Now: clock.Now})
	s.AddFault(Fault{Kind: FaultServerError, Method: "getMe", Duration: time.Second})
	s.ServerErrors("getMe", 1, 502)
	for range 3 {
		require.Equal(t, 500, call(t, s, "getMe", nil).Status, "the timed fault lasts, whatever the count")
	}
	clock.Advance(time.Second)
	require.Equal(t, 502, call(t, s, "getMe", nil).Status, "then the next one in order")
	require.Equal(t, 200, call(t, s, "getMe", nil).Status)
}
