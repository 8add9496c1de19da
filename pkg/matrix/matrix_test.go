//go:build matrix

package matrix

// These tests run the adapter against a real homeserver (Dendrite, built
// once per machine by internal/dendrite) with a test Sink that stands in
// for the gateway's store.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/internal/dendrite"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// sink records what the adapter delivered, as the store would: a batch
// and its cursor together, or nothing. It survives a "restart" (a new
// adapter given the same sink is a new process on the same store).
type sink struct {
	mu       sync.Mutex
	cursor   string
	stored   []platform.Inbound
	attempts []platform.Batch // every Deliver call, failed or not
	fail     int              // how many Deliver calls to fail from now
	changed  chan struct{}    // closed and replaced on every Deliver
}

func newSink() *sink { return &sink{changed: make(chan struct{})} }

func (s *sink) Deliver(ctx context.Context, b platform.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, b)
	close(s.changed)
	s.changed = make(chan struct{})
	if s.fail > 0 {
		s.fail--
		return errors.New("disk full (test)")
	}
	s.stored = append(s.stored, b.Messages...)
	s.cursor = b.Cursor
	return nil
}

func (s *sink) Cursor(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor, nil
}

func (s *sink) failNext(n int) {
	s.mu.Lock()
	s.fail = n
	s.mu.Unlock()
}

// wait returns once cond holds over the sink's state, checked after every
// Deliver; it fails the test after timeout.
func (s *sink) wait(t *testing.T, timeout time.Duration, what string, cond func(*sink) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		ok, ch := cond(s), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("timed out after %s waiting for %s; stored %d messages: %+v", timeout, what, len(s.stored), texts(s.stored))
		}
	}
}

// waitText waits for a stored message with text and returns it.
func (s *sink) waitText(t *testing.T, text string) platform.Inbound {
	t.Helper()
	var m platform.Inbound
	s.wait(t, 30*time.Second, fmt.Sprintf("message %q", text), func(s *sink) bool {
		for _, x := range s.stored {
			if x.Text == text {
				m = x
				return true
			}
		}
		return false
	})
	return m
}

func (s *sink) count(text string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.stored {
		if x.Text == text {
			n++
		}
	}
	return n
}

func texts(ms []platform.Inbound) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Kind)+":"+m.Text)
	}
	return out
}

// world is a homeserver with a bot account and a person, alice.
type world struct {
	hs    *dendrite.Server
	bot   dendrite.User
	alice *mautrix.Client
}

func newWorld(t *testing.T) *world {
	if testing.Short() {
		t.Skip("needs a Dendrite homeserver (built once, then cached); skipped with -short")
	}
	hs := dendrite.Start(t)
	w := &world{hs: hs, bot: hs.Register("hermes")}
	w.alice = w.client(t, hs.Register("alice"))
	return w
}

func (w *world) client(t *testing.T, u dendrite.User) *mautrix.Client {
	c, err := mautrix.NewClient(w.hs.URL, id.UserID(u.ID), u.Token)
	require.NoError(t, err)
	return c
}

// adapter starts an adapter on sink; it stops (and Run must have
// returned nil) when the returned stop is called or the test ends.
func (w *world) adapter(t *testing.T, s platform.Sink, access platform.Access) (*Adapter, func()) {
	a, err := New(Options{
		Homeserver: w.hs.URL, UserID: platform.UserID(w.bot.ID), Token: w.bot.Token,
		Access:      func() platform.Access { return access },
		SyncTimeout: 5 * time.Second,
		BackoffMin:  100 * time.Millisecond, BackoffMax: time.Second,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, s) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(time.Minute):
				t.Error("Run did not return within a minute of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

func (w *world) allowAlice() platform.Access {
	return platform.Access{Users: []platform.UserID{platform.UserID(w.alice.UserID)}}
}

// dm has alice open a direct chat with the bot and waits until the bot
// has joined it.
func (w *world) dm(t *testing.T) id.RoomID {
	t.Helper()
	resp, err := w.alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{id.UserID(w.bot.ID)},
	})
	require.NoError(t, err)
	w.waitMembership(t, w.alice, resp.RoomID, "join")
	return resp.RoomID
}

// waitMembership polls the room's state as c sees it until the bot's
// membership is want (the homeserver has no push for this but /sync).
func (w *world) waitMembership(t *testing.T, c *mautrix.Client, room id.RoomID, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var m struct {
			Membership string `json:"membership"`
		}
		err := c.StateEvent(context.Background(), room, event.StateMember, w.bot.ID, &m)
		if err == nil && m.Membership == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bot's membership in %s did not become %q within 30s (now %q, %v)", room, want, m.Membership, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *world) say(t *testing.T, c *mautrix.Client, room id.RoomID, text string) id.EventID {
	t.Helper()
	resp, err := c.SendText(context.Background(), room, text)
	require.NoError(t, err)
	return resp.EventID
}

// botEvents returns the bot's message events in room, oldest first, as
// the person sees them once everything sent so far has reached the
// homeserver's sync API (which follows its room server a moment behind):
// a marker event is sent after them, and /messages read until it shows.
func (w *world) botEvents(t *testing.T, c *mautrix.Client, room id.RoomID) []*event.Event {
	t.Helper()
	marker, err := c.SendMessageEvent(context.Background(), room, event.NewEventType("org.hermes.test.marker"), map[string]any{})
	require.NoError(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 1000)
		require.NoError(t, err)
		if slices.ContainsFunc(resp.Chunk, func(ev *event.Event) bool { return ev.ID == marker.EventID }) {
			var out []*event.Event
			for _, ev := range resp.Chunk {
				if ev.Sender == id.UserID(w.bot.ID) && ev.Type == event.EventMessage {
					out = append(out, ev)
				}
			}
			slices.Reverse(out)
			return out
		}
		if time.Now().After(deadline) {
			t.Fatal("the marker event did not show in /messages within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// event reads one event as alice, once the sync API has it.
func (w *world) event(t *testing.T, room id.RoomID, evID id.EventID) *event.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ev, err := w.alice.GetEvent(context.Background(), room, evID)
		if err == nil {
			return ev
		}
		if !errors.Is(err, mautrix.MNotFound) || time.Now().After(deadline) {
			t.Fatalf("reading %s: %v", evID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contentOf(t *testing.T, ev *event.Event) map[string]any {
	var m map[string]any
	require.NoError(t, json.Unmarshal(ev.Content.VeryRaw, &m))
	return m
}

func TestHappyPath(t *testing.T) {
	w := newWorld(t)
	s := newSink()
	a, _ := w.adapter(t, s, w.allowAlice())
	room := w.dm(t)

	evID := w.say(t, w.alice, room, "hello **bot**")
	m := s.waitText(t, "hello **bot**")
	require.Equal(t, platform.Inbound{
		Platform: "matrix", ID: platform.MessageID(evID), Chat: platform.ChatID(room),
		User: platform.UserID(w.alice.UserID), UserName: w.alice.UserID.String(),
		Direct: true, Kind: platform.KindText, Text: "hello **bot**", Time: m.Time,
	}, m)
	require.WithinDuration(t, time.Now(), m.Time, time.Minute)
	require.Equal(t, platform.StateConnected, a.Status().State)
	require.Equal(t, w.bot.ID, a.Status().Account)

	sent, err := a.Send(context.Background(), platform.Outbound{Chat: m.Chat, ReplyTo: m.ID, Key: "answer", Text: "Hi **alice**, see `x`:\n\n- one\n- two"})
	require.NoError(t, err)
	require.Len(t, sent.IDs, 1)

	ev := w.event(t, room, id.EventID(sent.IDs[0]))
	require.Equal(t, id.UserID(w.bot.ID), ev.Sender)
	c := contentOf(t, ev)
	require.Equal(t, "m.text", c["msgtype"])
	require.Equal(t, "Hi **alice**, see `x`:\n\n- one\n- two", c["body"])
	require.Equal(t, "org.matrix.custom.html", c["format"])
	require.Equal(t, "<p>Hi <strong>alice</strong>, see <code>x</code>:</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>", c["formatted_body"])

	// Commands, and a message in a room with more than two members.
	w.say(t, w.alice, room, "!restart now")
	cmd := s.waitText(t, "!restart now")
	require.Equal(t, "restart", cmd.Command)
	require.Equal(t, "now", cmd.Args)
}

func TestInvites(t *testing.T) {
	w := newWorld(t)
	bob := w.client(t, w.hs.Register("bob"))
	s := newSink()
	w.adapter(t, s, w.allowAlice())

	// A stranger's group room is declined; their direct chat is joined
	// (the core answers them there with a pairing code).
	resp, err := bob.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{
		Preset: "private_chat", Invite: []id.UserID{id.UserID(w.bot.ID)},
	})
	require.NoError(t, err)
	w.waitMembership(t, bob, resp.RoomID, "leave")
	resp, err = bob.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{id.UserID(w.bot.ID)},
	})
	require.NoError(t, err)
	w.waitMembership(t, bob, resp.RoomID, "join")
	w.say(t, bob, resp.RoomID, "let me in")
	require.True(t, s.waitText(t, "let me in").Direct)

	// An allowed user's group room is joined; a stranger talking there is
	// delivered like anyone (the core decides what to do with them), and
	// the room is not direct.
	group, err := w.alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{
		Preset: "private_chat", Invite: []id.UserID{id.UserID(w.bot.ID), bob.UserID},
	})
	require.NoError(t, err)
	w.waitMembership(t, w.alice, group.RoomID, "join")
	_, err = bob.JoinRoomByID(context.Background(), group.RoomID)
	require.NoError(t, err)
	w.say(t, bob, group.RoomID, "hi from a stranger")
	m := s.waitText(t, "hi from a stranger")
	require.Equal(t, platform.UserID(bob.UserID), m.User)
	require.False(t, m.Direct, "three members: not a direct chat")
	require.Equal(t, platform.KindText, m.Kind)

	// A room with a past: what was said before the bot joined is not for
	// it, what is said after is.
	old, err := w.alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "private_chat"})
	require.NoError(t, err)
	for i := range 5 {
		w.say(t, w.alice, old.RoomID, fmt.Sprintf("said before the bot came %d", i))
	}
	_, err = w.alice.InviteUser(context.Background(), old.RoomID, &mautrix.ReqInviteUser{UserID: id.UserID(w.bot.ID)})
	require.NoError(t, err)
	w.waitMembership(t, w.alice, old.RoomID, "join")
	w.say(t, w.alice, old.RoomID, "said after the bot came")
	s.waitText(t, "said after the bot came")
	for _, m := range s.stored {
		require.NotContains(t, m.Text, "said before the bot came")
	}
}

func TestRestartResumesFromCursor(t *testing.T) {
	w := newWorld(t)
	s := newSink()
	_, stop := w.adapter(t, s, w.allowAlice())
	room := w.dm(t)
	w.say(t, w.alice, room, "before the restart")
	s.waitText(t, "before the restart")
	stop()

	// Said while no adapter runs.
	w.say(t, w.alice, room, "while down 1")
	w.say(t, w.alice, room, "while down 2")

	w.adapter(t, s, w.allowAlice())
	s.waitText(t, "while down 1")
	s.waitText(t, "while down 2")
	w.say(t, w.alice, room, "after the restart")
	s.waitText(t, "after the restart")
	require.Equal(t, 1, s.count("before the restart"), "a confirmed message was delivered again: %v", texts(s.stored))
	require.Equal(t, 1, s.count("while down 1"))

	// A first start (no cursor) answers nothing said before it.
	fresh := newSink()
	w.adapter(t, fresh, w.allowAlice())
	fresh.wait(t, 30*time.Second, "the first cursor", func(s *sink) bool { return s.cursor != "" })
	w.say(t, w.alice, room, "to the fresh adapter")
	fresh.waitText(t, "to the fresh adapter")
	require.Equal(t, []string{"text:to the fresh adapter"}, texts(fresh.stored))
}

func TestRestartAfterLongGap(t *testing.T) {
	w := newWorld(t)
	s := newSink()
	_, stop := w.adapter(t, s, w.allowAlice())
	room := w.dm(t)
	w.say(t, w.alice, room, "first")
	s.waitText(t, "first")
	stop()

	// More than one /sync timeline holds: the adapter fills the gap from
	// /messages instead of skipping it.
	const n = timelineLimit + 30
	for i := range n {
		w.say(t, w.alice, room, fmt.Sprintf("gap %d", i))
	}
	w.adapter(t, s, w.allowAlice())
	s.waitText(t, fmt.Sprintf("gap %d", n-1))
	var got []string
	for _, m := range s.stored {
		got = append(got, m.Text)
	}
	want := []string{"first"}
	for i := range n {
		want = append(want, fmt.Sprintf("gap %d", i))
	}
	require.Equal(t, want, got)
}

func TestFailedDeliverIsRetried(t *testing.T) {
	w := newWorld(t)
	s := newSink()
	w.adapter(t, s, w.allowAlice())
	room := w.dm(t)
	w.say(t, w.alice, room, "warm up")
	s.waitText(t, "warm up")
	s.mu.Lock()
	before, tries := s.cursor, len(s.attempts)
	s.mu.Unlock()

	s.failNext(3)
	w.say(t, w.alice, room, "stored on the fourth try")
	s.waitText(t, "stored on the fourth try")

	s.mu.Lock()
	defer s.mu.Unlock()
	require.Equal(t, 1, countText(s.stored, "stored on the fourth try"))
	var tried []platform.Batch
	for _, b := range s.attempts[tries:] {
		if slices.ContainsFunc(b.Messages, func(m platform.Inbound) bool { return m.Text == "stored on the fourth try" }) {
			tried = append(tried, b)
		}
	}
	require.Len(t, tried, 4, "three failed Delivers and the one that stored")
	for _, b := range tried[1:] {
		require.Equal(t, tried[0].Cursor, b.Cursor, "the same batch is retried")
	}
	require.NotEqual(t, before, s.cursor)
	require.Equal(t, tried[3].Cursor, s.cursor)
}

func countText(ms []platform.Inbound, text string) int {
	n := 0
	for _, m := range ms {
		if m.Text == text {
			n++
		}
	}
	return n
}

func TestRepeatedSendMakesNoSecondEvent(t *testing.T) {
	w := newWorld(t)
	s := newSink()
	a, stop := w.adapter(t, s, w.allowAlice())
	room := w.dm(t)
	evID := w.say(t, w.alice, room, "question")
	s.waitText(t, "question")

	out := platform.Outbound{Chat: platform.ChatID(room), ReplyTo: platform.MessageID(evID), Key: "answer", Text: "the answer"}
	first, err := a.Send(context.Background(), out)
	require.NoError(t, err)
	stop()

	// The process died after sending, before recording it; the next one
	// sends the same answer again.
	b, _ := w.adapter(t, s, w.allowAlice())
	second, err := b.Send(context.Background(), out)
	require.NoError(t, err)
	require.Equal(t, first.IDs, second.IDs)
	require.Len(t, w.botEvents(t, w.alice, room), 1)

	// Another key for the same message is another event.
	out.Key = "notice"
	third, err := b.Send(context.Background(), out)
	require.NoError(t, err)
	require.NotEqual(t, first.IDs, third.IDs)
	require.Len(t, w.botEvents(t, w.alice, room), 2)
}

// A process killed while its send was in flight can leave an event the
// homeserver made without recording its transaction id (Dendrite records
// it once the request completes), so the next process's send with the same
// id would make a second event. The retried turn's answer finds the first
// one in the room and is not sent again; a first attempt is sent as is.
func TestARetriedAnswerFindsTheEventACutSendLeft(t *testing.T) {
	w := newWorld(t)
	s := newSink()
	_, stop := w.adapter(t, s, w.allowAlice())
	room := w.dm(t)
	evID := w.say(t, w.alice, room, "question")
	s.waitText(t, "question")
	stop()

	out := platform.Outbound{Chat: platform.ChatID(room), ReplyTo: platform.MessageID(evID), Key: "answer", Text: "the answer"}
	// What the cut send left: the answer's content, under a transaction
	// id the homeserver has no record of for this send.
	c := textContent(out.Text)
	c.Txn = txnID(out, 0)
	left, err := w.client(t, w.bot).SendMessageEvent(context.Background(), room, event.EventMessage, c,
		mautrix.ReqSendEvent{TransactionID: "cut-" + c.Txn})
	require.NoError(t, err)

	b, _ := w.adapter(t, s, w.allowAlice())
	out.Retried = true
	sent, err := b.Send(context.Background(), out)
	require.NoError(t, err)
	require.Equal(t, []string{left.EventID.String()}, sent.IDs)
	require.Len(t, w.botEvents(t, w.alice, room), 1, "the answer once")

	// The same answer to a message nobody tried before is sent.
	evID2 := w.say(t, w.alice, room, "another")
	s.waitText(t, "another")
	out2 := platform.Outbound{Chat: platform.ChatID(room), ReplyTo: platform.MessageID(evID2), Key: "answer", Text: "the answer"}
	_, err = b.Send(context.Background(), out2)
	require.NoError(t, err)
	require.Len(t, w.botEvents(t, w.alice, room), 2)
}

func TestLongAnswerIsSplit(t *testing.T) {
	w := newWorld(t)
	a, _ := w.adapter(t, newSink(), w.allowAlice())
	room := w.dm(t)
	evID := w.say(t, w.alice, room, "tell me everything")

	var paras []string
	for i := range 400 {
		paras = append(paras, fmt.Sprintf("Paragraph %d: **bold** & <angle> \"quotes\" %s", i, strings.Repeat("é lorem ipsum ", 30)))
	}
	text := strings.Join(paras, "\n\n")
	require.Greater(t, len(text), 3*MaxEventBytes)
	out := platform.Outbound{Chat: platform.ChatID(room), ReplyTo: platform.MessageID(evID), Key: "answer", Text: text}
	sent, err := a.Send(context.Background(), out)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(sent.IDs), 4)

	evs := w.botEvents(t, w.alice, room)
	require.Len(t, evs, len(sent.IDs))
	var bodies []string
	for i, ev := range evs {
		require.Equal(t, id.EventID(sent.IDs[i]), ev.ID)
		// As the homeserver counts: JSON without Go's escaping of <, >, &.
		raw, err := json.Marshal(ev)
		require.NoError(t, err)
		var generic map[string]any
		require.NoError(t, json.Unmarshal(raw, &generic))
		var whole bytes.Buffer
		enc := json.NewEncoder(&whole)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(generic))
		require.Less(t, whole.Len(), MaxEventBytes, "event %d", i)
		if i < len(evs)-1 {
			require.Greater(t, whole.Len(), MaxEventBytes*3/4, "event %d: parts are filled", i)
		}
		c := contentOf(t, ev)
		body := c["body"].(string)
		require.False(t, strings.HasPrefix(body, "\n") || strings.HasSuffix(body, "\n"), "parts end at paragraph boundaries")
		require.Contains(t, c["formatted_body"], "<strong>bold</strong> &amp; &lt;angle&gt;")
		bodies = append(bodies, body)
	}
	require.Equal(t, text, strings.Join(bodies, "\n\n"))

	again, err := a.Send(context.Background(), out)
	require.NoError(t, err)
	require.Equal(t, sent.IDs, again.IDs)
	require.Len(t, w.botEvents(t, w.alice, room), len(sent.IDs))
}

func TestHomeserverDownAndBack(t *testing.T) {
	w := newWorld(t)
	s := newSink()
	a, _ := w.adapter(t, s, w.allowAlice())
	room := w.dm(t)
	w.say(t, w.alice, room, "before the outage")
	s.waitText(t, "before the outage")
	require.Equal(t, platform.StateConnected, a.Status().State)

	w.hs.Stop()
	waitState(t, a, platform.StateConnecting)
	require.Contains(t, a.Status().Detail, "cannot reach the homeserver")
	time.Sleep(10 * time.Second) // the outage itself
	w.hs.Restart()

	w.say(t, w.alice, room, "after the outage")
	s.waitText(t, "after the outage")
	waitState(t, a, platform.StateConnected)
	require.Equal(t, 1, s.count("before the outage"))
	require.Equal(t, 1, s.count("after the outage"))
}

func waitState(t *testing.T, a *Adapter, want platform.State) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for a.Status().State != want {
		if time.Now().After(deadline) {
			t.Fatalf("status stayed %+v, want %s", a.Status(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTyping(t *testing.T) {
	w := newWorld(t)
	s := newSink()
	a, _ := w.adapter(t, s, w.allowAlice())
	room := w.dm(t)
	evID := w.say(t, w.alice, room, "think hard")
	s.waitText(t, "think hard")

	typing := w.watchTyping(t, room)
	require.NoError(t, a.Typing(context.Background(), platform.ChatID(room)))
	typing.waitFor(t, true)
	_, err := a.Send(context.Background(), platform.Outbound{Chat: platform.ChatID(room), ReplyTo: platform.MessageID(evID), Key: "answer", Text: "done"})
	require.NoError(t, err)
	typing.waitFor(t, false)
}

// typingWatch follows alice's view of whether the bot is typing, through
// her own /sync.
type typingWatch struct {
	ch chan bool
}

func (w *world) watchTyping(t *testing.T, room id.RoomID) *typingWatch {
	tw := &typingWatch{ch: make(chan bool, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	first, err := w.alice.SyncRequest(ctx, 0, "", "", false, "")
	require.NoError(t, err)
	go func() {
		defer close(done)
		since := first.NextBatch
		for ctx.Err() == nil {
			resp, err := w.alice.SyncRequest(ctx, 5000, since, "", false, "")
			if err != nil {
				continue
			}
			since = resp.NextBatch
			if jr := resp.Rooms.Join[room]; jr != nil {
				for _, ev := range jr.Ephemeral.Events {
					if ev.Type == event.EphemeralEventTyping {
						var c struct {
							UserIDs []string `json:"user_ids"`
						}
						json.Unmarshal(ev.Content.VeryRaw, &c)
						tw.ch <- slices.Contains(c.UserIDs, w.bot.ID)
					}
				}
			}
		}
	}()
	return tw
}

func (tw *typingWatch) waitFor(t *testing.T, want bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case got := <-tw.ch:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("alice never saw the bot's typing become %v", want)
		}
	}
}

func TestEncryptedRoom(t *testing.T) {
	w := newWorld(t)
	s := newSink()
	a, _ := w.adapter(t, s, w.allowAlice())
	resp, err := w.alice.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{id.UserID(w.bot.ID)},
		InitialState: []*event.Event{{
			Type: event.StateEncryption, StateKey: new(string),
			Content: event.Content{Raw: map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}},
		}},
	})
	require.NoError(t, err)
	room := resp.RoomID
	w.waitMembership(t, w.alice, room, "join")

	// What an encrypting client sends; the homeserver cannot read it either.
	enc, err := w.alice.SendMessageEvent(context.Background(), room, event.EventEncrypted, map[string]any{
		"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg",
		"device_id": "ALICEDEVICE", "sender_key": "WhnhsFV7jmpNSoNDxxPqjwTnBLZY+VdGsvkY4tb8tCw", "session_id": "X3lUlvLELLYxeTx4yOVu6UDpasGEVO0Jbu+QFnm0cKQ",
	})
	require.NoError(t, err)
	s.wait(t, 30*time.Second, "the encrypted message", func(s *sink) bool {
		return slices.ContainsFunc(s.stored, func(m platform.Inbound) bool { return m.ID == platform.MessageID(enc.EventID) })
	})
	s.mu.Lock()
	m := s.stored[len(s.stored)-1]
	s.mu.Unlock()
	require.Equal(t, platform.KindEncrypted, m.Kind)
	require.True(t, m.Direct)

	// The one answer it gets: a plain notice, no formatted body.
	sent, err := a.Send(context.Background(), platform.Outbound{Chat: m.Chat, ReplyTo: m.ID, Key: "encrypted", Text: "I cannot read **encrypted** rooms."})
	require.NoError(t, err)
	ev := w.event(t, room, id.EventID(sent.IDs[0]))
	require.Equal(t, map[string]any{"msgtype": "m.notice", "body": "I cannot read **encrypted** rooms."}, contentOf(t, ev))

	// Nothing else goes into that room in plaintext.
	_, err = a.Send(context.Background(), platform.Outbound{Chat: m.Chat, Key: "back", Text: "✓ Back"})
	require.ErrorIs(t, err, platform.ErrUndeliverable)
	plain := w.say(t, w.alice, room, "a plaintext message in an encrypted room")
	s.waitText(t, "a plaintext message in an encrypted room")
	_, err = a.Send(context.Background(), platform.Outbound{Chat: m.Chat, ReplyTo: platform.MessageID(plain), Key: "answer", Text: "secret answer"})
	require.ErrorIs(t, err, platform.ErrUndeliverable)
	require.Len(t, w.botEvents(t, w.alice, room), 1)
}

func TestRejectedToken(t *testing.T) {
	w := newWorld(t)
	a, err := New(Options{Homeserver: w.hs.URL, UserID: platform.UserID(w.bot.ID), Token: "not-a-valid-token"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = a.Run(ctx, newSink())
	require.ErrorIs(t, err, platform.ErrConfig)
	require.NotContains(t, err.Error(), "not-a-valid-token")
	require.Equal(t, platform.StateError, a.Status().State)

	// A token of another account than matrix.user_id.
	a, err = New(Options{Homeserver: w.hs.URL, UserID: "@someone:localhost", Token: w.bot.Token})
	require.NoError(t, err)
	err = a.Run(ctx, newSink())
	require.ErrorIs(t, err, platform.ErrConfig)
	require.Contains(t, err.Error(), "belongs to "+w.bot.ID)
}

// TestRoundTrip measures what a person waits on Matrix: from sending a
// message to seeing the answer in their own /sync, with the adapter
// answering as soon as the sink has the message (no agent, no store).
// HERMES_MATRIX_ROUNDTRIP=200 runs it with 200 messages.
func TestRoundTrip(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HERMES_MATRIX_ROUNDTRIP"))
	if n <= 0 {
		t.Skip("set HERMES_MATRIX_ROUNDTRIP=N to measure N round trips")
	}
	w := newWorld(t)
	s := &answeringSink{sink: newSink(), got: make(chan platform.Inbound, n), deliveredAt: map[string]time.Time{}}
	a, _ := w.adapter(t, s, w.allowAlice())
	room := w.dm(t)
	// Answers as the core would, until the test ends; a failed send is
	// reported by the wait for its answer.
	answering, stopAnswering := context.WithCancel(context.Background())
	defer stopAnswering()
	go func() {
		for {
			select {
			case m := <-s.got:
				if _, err := a.Send(answering, platform.Outbound{Chat: m.Chat, ReplyTo: m.ID, Key: "answer", Text: "pong " + strings.TrimPrefix(m.Text, "ping ")}); err != nil {
					t.Logf("send %q: %v", m.Text, err)
				}
			case <-answering.Done():
				return
			}
		}
	}()

	// Alice's client: a long-polling /sync that reports the bot's answers.
	answers := make(chan string, n)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	first, err := w.alice.SyncRequest(ctx, 0, "", "", false, "")
	require.NoError(t, err)
	go func() {
		defer close(done)
		since := first.NextBatch
		for ctx.Err() == nil {
			resp, err := w.alice.SyncRequest(ctx, 30000, since, "", false, "")
			if err != nil {
				continue
			}
			since = resp.NextBatch
			if jr := resp.Rooms.Join[room]; jr != nil {
				for _, ev := range jr.Timeline.Events {
					if ev.Sender == id.UserID(w.bot.ID) && ev.Type == event.EventMessage {
						answers <- rawString(ev, "body")
					}
				}
			}
		}
	}()

	var rtts, inbound []time.Duration
	for i := range n {
		start := time.Now()
		w.say(t, w.alice, room, fmt.Sprintf("ping %d", i))
		want := fmt.Sprintf("pong %d", i)
		for got := ""; got != want; {
			select {
			case got = <-answers:
			case <-time.After(30 * time.Second):
				t.Fatalf("no %q within 30s", want)
			}
		}
		rtts = append(rtts, time.Since(start))
		s.mu.Lock()
		inbound = append(inbound, s.deliveredAt[fmt.Sprintf("ping %d", i)].Sub(start))
		s.mu.Unlock()
	}
	s.mu.Lock()
	for i := range n {
		if c := countText(s.stored, fmt.Sprintf("ping %d", i)); c != 1 {
			var where []string
			for bi, b := range s.attempts {
				for _, m := range b.Messages {
					if m.Text == fmt.Sprintf("ping %d", i) {
						where = append(where, fmt.Sprintf("batch %d (cursor %s, %d messages)", bi, b.Cursor, len(b.Messages)))
					}
				}
			}
			t.Errorf("ping %d stored %d times: %v", i, c, where)
		}
	}
	s.mu.Unlock()
	pct := func(d []time.Duration, p float64) time.Duration {
		slices.Sort(d)
		return d[min(len(d)-1, int(p*float64(len(d))))].Round(time.Millisecond)
	}
	t.Logf("matrix round trip over %d messages (Dendrite %s on loopback): p50 %s, p90 %s, p99 %s, max %s; of which message to Deliver: p50 %s, p99 %s",
		n, dendrite.Version, pct(rtts, 0.50), pct(rtts, 0.90), pct(rtts, 0.99), pct(rtts, 1), pct(inbound, 0.50), pct(inbound, 0.99))
}

// answeringSink stores like sink and hands each text message on to be
// answered.
type answeringSink struct {
	*sink
	got         chan platform.Inbound
	deliveredAt map[string]time.Time // by text
}

func (s *answeringSink) Deliver(ctx context.Context, b platform.Batch) error {
	if err := s.sink.Deliver(ctx, b); err != nil {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	for _, m := range b.Messages {
		s.deliveredAt[m.Text] = now
	}
	s.mu.Unlock()
	for _, m := range b.Messages {
		if m.Kind == platform.KindText {
			select {
			case s.got <- m:
			default: // the test is over, or sent more than it waits for
			}
		}
	}
	return nil
}

// TestSendRepeatedAfterSIGKILL kills a real process in the middle of
// sending a long answer and sends it again from a new one, as a restarted
// gateway would: the room ends up with each part exactly once, the part
// whose request the kill cut off included (Dendrite does not recognise
// that one's transaction id; the new process finds it in its /sync).
func TestSendRepeatedAfterSIGKILL(t *testing.T) {
	w := newWorld(t)
	s := newSink()
	_, stop := w.adapter(t, s, w.allowAlice())
	room := w.dm(t)
	q := w.say(t, w.alice, room, "a question with a long answer")
	s.waitText(t, "a question with a long answer")
	stop()
	out := longAnswer(platform.ChatID(room), platform.MessageID(q))

	child := exec.Command(os.Args[0], "-test.run=^TestSendChild$", "-test.count=1")
	child.Env = append(os.Environ(), "HERMES_MATRIX_SEND_CHILD="+strings.Join([]string{w.hs.URL, w.bot.ID, w.bot.Token, string(out.Chat), string(out.ReplyTo), s.cursor}, " "))
	require.NoError(t, child.Start())
	// Kill it (by its pid) as soon as the first part shows in the room.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := w.alice.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 50)
		require.NoError(t, err)
		if slices.ContainsFunc(resp.Chunk, func(ev *event.Event) bool {
			return ev.Sender == id.UserID(w.bot.ID) && ev.Type == event.EventMessage
		}) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the child sent nothing within 60s")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, child.Process.Kill())
	child.Wait()
	before := len(w.botEvents(t, w.alice, room))
	require.NotZero(t, before)
	t.Logf("the child was killed after %d part(s) reached the room", before)

	b, _ := w.adapter(t, s, w.allowAlice())
	sent, err := b.Send(context.Background(), out)
	require.NoError(t, err)
	evs := w.botEvents(t, w.alice, room)
	require.Len(t, evs, len(sent.IDs), "each part once")
	for i, ev := range evs {
		require.Equal(t, id.EventID(sent.IDs[i]), ev.ID)
	}
}

func longAnswer(chat platform.ChatID, replyTo platform.MessageID) platform.Outbound {
	var paras []string
	for i := range 300 {
		paras = append(paras, fmt.Sprintf("Part of the answer, paragraph %d. %s", i, strings.Repeat("lorem ipsum ", 60)))
	}
	return platform.Outbound{Chat: chat, ReplyTo: replyTo, Key: "answer", Text: strings.Join(paras, "\n\n")}
}

// TestSendChild is the gateway process TestSendRepeatedAfterSIGKILL kills:
// it resumes from the cursor it is given and sends the answer.
func TestSendChild(t *testing.T) {
	args := strings.Fields(os.Getenv("HERMES_MATRIX_SEND_CHILD"))
	if len(args) != 6 {
		t.Skip("run by TestSendRepeatedAfterSIGKILL")
	}
	a, err := New(Options{Homeserver: args[0], UserID: platform.UserID(args[1]), Token: args[2]})
	require.NoError(t, err)
	s := newSink()
	s.cursor = args[5]
	go a.Run(context.Background(), s)
	a.Send(context.Background(), longAnswer(platform.ChatID(args[3]), platform.MessageID(args[4])))
	select {} // until killed
}
