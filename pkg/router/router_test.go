package router

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/agent"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/store"
	"github.com/stretchr/testify/require"
)

// fakePlatform records what the router sends and signals each send.
type fakePlatform struct {
	mu        sync.Mutex
	sent      map[platform.ChatID][]string
	confirmed []platform.MessageID
	// outs records every send as the adapter got it.
	outs    []platform.Outbound
	changed chan struct{}
	// sendGate, when set, holds every answer ("reply: …") until closed,
	// after telling sending.
	sendGate chan struct{}
	sending  chan struct{}
}

func newFakePlatform() *fakePlatform {
	return &fakePlatform{sent: map[platform.ChatID][]string{}, changed: make(chan struct{}, 1000)}
}

func (f *fakePlatform) Name() string { return "telegram" }
func (f *fakePlatform) Send(ctx context.Context, m platform.Outbound) (platform.Sent, error) {
	if f.sendGate != nil && strings.HasPrefix(m.Text, "reply: ") {
		f.sending <- struct{}{}
		select {
		case <-f.sendGate:
		case <-ctx.Done():
			return platform.Sent{}, ctx.Err()
		}
	}
	f.mu.Lock()
	f.sent[m.Chat] = append(f.sent[m.Chat], m.Text)
	f.outs = append(f.outs, m)
	f.mu.Unlock()
	f.changed <- struct{}{}
	return platform.Sent{}, nil
}
func (f *fakePlatform) Typing(context.Context, platform.ChatID) error { return nil }
func (f *fakePlatform) Confirm(_ context.Context, id platform.MessageID) error {
	f.mu.Lock()
	f.confirmed = append(f.confirmed, id)
	f.mu.Unlock()
	return nil
}

func (f *fakePlatform) messages(chat platform.ChatID) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent[chat]...)
}

// wait blocks until chat has n messages.
func (f *fakePlatform) wait(t *testing.T, chat platform.ChatID, n int) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := f.messages(chat); len(got) >= n {
			return got
		}
		select {
		case <-f.changed:
		case <-deadline:
			t.Fatalf("chat %s: want %d messages, have %q", chat, n, f.messages(chat))
		}
	}
}

// fakeAgent answers "reply: TEXT" and records every turn; gate, when set,
// holds each turn until released.
type fakeAgent struct {
	mu      sync.Mutex
	turns   []agent.Turn
	gate    chan struct{}
	started chan string
}

func (a *fakeAgent) Name() string { return "fake" }
func (a *fakeAgent) Reply(ctx context.Context, t agent.Turn) (string, error) {
	a.mu.Lock()
	a.turns = append(a.turns, t)
	a.mu.Unlock()
	if a.started != nil {
		a.started <- t.Text
	}
	if a.gate != nil {
		select {
		case <-a.gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return "reply: " + t.Text, nil
}

func (a *fakeAgent) texts() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, t := range a.turns {
		out = append(out, t.Text)
	}
	return out
}

type fakeHost struct {
	mu       sync.Mutex
	restarts []string
}

func (h *fakeHost) StatusText() string { return "status: fine" }
func (h *fakeHost) StartUpdate(m Message, by string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.restarts = append(h.restarts, "update | "+by)
	return nil
}
func (h *fakeHost) RequestRestart(reason, by string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.restarts = append(h.restarts, reason+" | "+by)
	return nil
}

const (
	admin    = "100"
	user     = "200"
	stranger = "300"
	group    = "-1001"
)

type rig struct {
	r     *Router
	st    *store.Store
	p     *fakePlatform
	a     *fakeAgent
	h     *fakeHost
	auth  *Auth
	path  string
	doneC chan Message
}

func newRig(t *testing.T, st *store.Store) *rig {
	t.Helper()
	if st == nil {
		var err error
		st, err = store.Open(filepath.Join(t.TempDir(), store.FileName))
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
	}
	g := &rig{st: st, p: newFakePlatform(), a: &fakeAgent{}, h: &fakeHost{}, doneC: make(chan Message, 100)}
	g.auth = NewAuth(st, telegramAccess([]string{admin}, []string{user}, []string{group}))
	g.r = New(Options{Store: st, Agent: g.a, Auth: g.auth, History: NewHistory(st, 20, 10000), Host: g.h,
		MaxConcurrent: 4, NoticeAfter: time.Millisecond, Finished: func(m Message, _, _ string) { g.doneC <- m }})
	g.r.AddPlatform(g.p)
	t.Cleanup(g.r.Abandon)
	return g
}

var nextID = 1000

func msg(from, chat string, text string) Message {
	nextID++
	typ := "private"
	if strings.HasPrefix(chat, "-") {
		typ = "supergroup"
	}
	id := platform.MessageID(fmt.Sprint(nextID))
	m := Message{Platform: "telegram", ID: id, ChatID: platform.ChatID(chat), ChatType: typ, UserID: platform.UserID(from), UserName: "u" + from, MessageID: "m" + id, Text: text, Parsed: true}
	// As an adapter would.
	m.Command, m.Args = legacyCommand(text)
	return m
}

// telegramAccess is the config's Telegram lists as the router gets them.
func telegramAccess(admins, users, groups []string) map[string]platform.Access {
	var acc platform.Access
	for _, id := range admins {
		acc.Admins = append(acc.Admins, platform.UserID(id))
	}
	for _, id := range users {
		acc.Users = append(acc.Users, platform.UserID(id))
	}
	for _, id := range groups {
		acc.Groups = append(acc.Groups, platform.ChatID(id))
	}
	return map[string]platform.Access{"telegram": acc}
}

func (g *rig) finished(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-g.doneC:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d messages finished", i, n)
		}
	}
}

func TestAnAllowedUserIsAnsweredOnceEvenWhenRedelivered(t *testing.T) {
	g := newRig(t, nil)
	m := msg(user, user, "hello")
	require.NoError(t, g.r.Receive(m, ""))
	g.finished(t, 1)
	require.NoError(t, g.r.Receive(m, ""), "the platform delivers it again")
	require.Equal(t, []string{"reply: hello"}, g.p.messages(user))
	require.Equal(t, []string{"hello"}, g.a.texts())

	it, err := g.st.Get("telegram", string(m.ID))
	require.NoError(t, err)
	require.Equal(t, store.Done, it.State)
	conv, err := NewHistory(g.st, 20, 10000).Load("telegram", user)
	require.NoError(t, err)
	require.Len(t, conv.Messages, 2)
}

// A named instance's stranger is told the command for that instance: the
// default's `hermes pairing approve` would look in the wrong gateway.
func TestAStrangerOfANamedInstanceIsGivenThatInstancesCommand(t *testing.T) {
	t.Setenv(instance.Env, "team")
	g := newRig(t, nil)
	require.NoError(t, g.r.Receive(msg(stranger, stranger, "let me in"), ""))
	g.finished(t, 1)
	pending, err := g.auth.Pending()
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Contains(t, g.p.messages(stranger)[0], "hermes --instance team pairing approve "+pending[0].Code)
	_, err = g.auth.Approve("WRONG123")
	require.ErrorContains(t, err, "`hermes --instance team pairing list`")
}

func TestAStrangerGetsOnePairingCodeAndReachesNothingUntilApproved(t *testing.T) {
	g := newRig(t, nil)
	require.NoError(t, g.r.Receive(msg(stranger, stranger, "let me in"), ""))
	require.NoError(t, g.r.Receive(msg(stranger, stranger, "/restart"), ""))
	require.NoError(t, g.r.Receive(msg(stranger, stranger, "hello?"), ""))
	g.finished(t, 3)
	sent := g.p.messages(stranger)
	require.Len(t, sent, 1, "one short answer per code")
	require.Contains(t, sent[0], "pairing code")
	require.Empty(t, g.a.texts(), "nothing a stranger sends reaches the agent")
	require.Empty(t, g.h.restarts, "or any command")

	pending, err := g.auth.Pending()
	require.NoError(t, err)
	require.Len(t, pending, 1)
	code := pending[0].Code
	require.Len(t, code, 8)
	require.Contains(t, sent[0], "hermes pairing approve "+code)

	_, err = g.auth.Approve("WRONG123")
	require.ErrorIs(t, err, ErrUnknownCode)
	ap, err := g.auth.Approve(code)
	require.NoError(t, err)
	require.EqualValues(t, stranger, ap.UserID)

	require.NoError(t, g.r.Receive(msg(stranger, stranger, "now?"), ""))
	g.finished(t, 1)
	require.Equal(t, []string{"now?"}, g.a.texts())

	ok, err := g.auth.Revoke("telegram", stranger)
	require.NoError(t, err)
	require.True(t, ok)
	role, err := g.auth.Role(msg(stranger, stranger, "x"))
	require.NoError(t, err)
	require.Equal(t, RoleNone, role)
}

func TestPendingPairingsAreBounded(t *testing.T) {
	g := newRig(t, nil)
	for i := 0; i < MaxPending+2; i++ {
		require.NoError(t, g.r.Receive(msg(fmt.Sprint(5000+i), fmt.Sprint(5000+i), "hi"), ""))
	}
	g.finished(t, MaxPending+2)
	pending, err := g.auth.Pending()
	require.NoError(t, err)
	require.Len(t, pending, MaxPending)
}

func TestGroupsOnlyWhereListed(t *testing.T) {
	g := newRig(t, nil)
	require.NoError(t, g.r.Receive(msg(stranger, "-999", "in an unlisted group"), ""))
	require.NoError(t, g.r.Receive(msg(stranger, group, "in the listed group"), ""))
	g.finished(t, 2)
	require.Empty(t, g.p.messages("-999"))
	require.Equal(t, []string{"reply: in the listed group"}, g.p.messages(group))
}

func TestRestartIsForAdminsAndConfirmsItsOwnUpdate(t *testing.T) {
	g := newRig(t, nil)
	require.NoError(t, g.r.Receive(msg(user, user, "/restart"), ""))
	g.finished(t, 1)
	require.Contains(t, g.p.messages(user)[0], "Only the bot's admins")
	require.Empty(t, g.h.restarts)

	m := msg(admin, admin, "/restart")
	require.NoError(t, g.r.Receive(m, ""))
	g.finished(t, 1)
	require.Equal(t, []string{"Restarting…"}, g.p.wait(t, admin, 1))
	require.Eventually(t, func() bool { g.h.mu.Lock(); defer g.h.mu.Unlock(); return len(g.h.restarts) == 1 }, 10*time.Second, time.Millisecond)
	require.Equal(t, []platform.MessageID{m.ID}, g.p.confirmed)
	it, _ := g.st.Get("telegram", string(m.ID))
	require.Equal(t, store.Done, it.State, "done before the exit, so the next process never runs it again")
	n, err := g.r.TakeRestartNotice("local")
	require.NoError(t, err)
	require.Nil(t, n, "another platform's notice is left for it")
	n, err = g.r.TakeRestartNotice("telegram")
	require.NoError(t, err)
	require.EqualValues(t, admin, n.ChatID)
	n, err = g.r.TakeRestartNotice("telegram")
	require.NoError(t, err)
	require.Nil(t, n, "taken once")
}

func TestTurnsOfAChatRunInOrderAndChatsConcurrently(t *testing.T) {
	g := newRig(t, nil)
	g.a.gate = make(chan struct{})
	g.a.started = make(chan string, 10)
	require.NoError(t, g.r.Receive(msg(user, user, "one"), ""))
	require.NoError(t, g.r.Receive(msg(user, user, "two"), ""))
	require.NoError(t, g.r.Receive(msg(admin, admin, "other chat"), ""))
	// Both chats run at once; the second message of the first chat waits.
	got := []string{<-g.a.started, <-g.a.started}
	require.ElementsMatch(t, []string{"one", "other chat"}, got)
	select {
	case s := <-g.a.started:
		t.Fatalf("%q started before its chat's earlier turn finished", s)
	default:
	}
	g.a.gate <- struct{}{}
	g.a.gate <- struct{}{}
	require.Equal(t, "two", <-g.a.started)
	g.a.gate <- struct{}{}
	g.finished(t, 3)
	require.Equal(t, []string{"reply: one", "reply: two"}, g.p.messages(user))
}

// A drain whose time is up abandons the turns, but an answer already on
// its way is let through within the grace: cut short, the next process
// would send it again.
func TestADrainThatTimesOutLetsASendOnItsWayFinish(t *testing.T) {
	g := newRig(t, nil)
	g.p.sendGate, g.p.sending = make(chan struct{}), make(chan struct{}, 1)
	m := msg(user, user, "answer me")
	require.NoError(t, g.r.Receive(m, ""))
	<-g.p.sending
	timeUp, cancel := context.WithCancel(context.Background())
	cancel()
	left := make(chan int, 1)
	go func() { left <- g.r.Drain(timeUp, time.Minute) }()
	require.Eventually(t, func() bool { return g.r.ctx.Err() != nil }, 10*time.Second, time.Millisecond, "the turns are abandoned")
	close(g.p.sendGate)
	require.Equal(t, 1, <-left, "one turn was running when the time was up")
	require.Equal(t, []string{"reply: answer me"}, g.p.messages(user),
		"delivered, with no \"your answer is coming\" notice: the answer was already on its way")
	it, err := g.st.Get("telegram", string(m.ID))
	require.NoError(t, err)
	require.Equal(t, store.Done, it.State, "answered, so the next process does not answer again")
}

func TestADrainLeavesWorkPendingForTheNextProcess(t *testing.T) {
	g := newRig(t, nil)
	g.a.gate = make(chan struct{})
	g.a.started = make(chan string, 10)
	require.NoError(t, g.r.Receive(msg(user, user, "slow question"), ""))
	require.Equal(t, "slow question", <-g.a.started)
	ctx, timeout := context.WithCancel(context.Background())
	left := make(chan int, 1)
	go func() { left <- g.r.Drain(ctx, 0) }()
	require.Equal(t, []string{"⏳ Restarting, your answer is coming."}, g.p.wait(t, user, 1))
	require.True(t, g.r.Draining())
	require.NoError(t, g.r.Receive(msg(admin, admin, "arrives during the drain"), ""))
	require.Equal(t, 1, g.r.InFlight(), "one count: the running turn, not the one that arrived")
	timeout() // the drain timed out
	require.Equal(t, 1, <-left, "the drain says what is left")
	require.Eventually(t, func() bool { return g.r.InFlight() == 0 }, 10*time.Second, time.Millisecond, "the abandoned turn ends")

	// The next process resumes both.
	g2 := newRig(t, g.st)
	n, err := g2.r.Resume()
	require.NoError(t, err)
	require.Equal(t, 2, n)
	g2.finished(t, 2)
	require.Equal(t, []string{"reply: slow question"}, g2.p.messages(user))
	require.Equal(t, []string{"reply: arrives during the drain"}, g2.p.messages(admin))
}

func TestATurnThatKeepsFailingAcrossRestartsIsDropped(t *testing.T) {
	g := newRig(t, nil)
	m := msg(user, user, "poison")
	_, err := g.st.Receive(store.Item{Platform: "telegram", ID: string(m.ID), Chat: string(m.ChatID), Msg: mustJSON(m)}, "")
	require.NoError(t, err)
	for i := 0; i < 3; i++ { // three processes died in this turn
		_, err := g.st.Attempt("telegram", string(m.ID))
		require.NoError(t, err)
	}
	_, err = g.r.Resume()
	require.NoError(t, err)
	g.finished(t, 1)
	require.Empty(t, g.a.texts())
	sent := g.p.messages(user)
	require.Len(t, sent, 1)
	require.True(t, strings.HasPrefix(sent[0], "😞 Sorry"), sent[0])
	it, _ := g.st.Get("telegram", string(m.ID))
	require.Equal(t, store.Dropped, it.State)
}

func TestNewForgetsTheConversation(t *testing.T) {
	g := newRig(t, nil)
	require.NoError(t, g.r.Receive(msg(user, user, "remember me"), ""))
	require.NoError(t, g.r.Receive(msg(user, user, "/new"), ""))
	require.NoError(t, g.r.Receive(msg(user, user, "who am I?"), ""))
	g.finished(t, 3)
	g.a.mu.Lock()
	defer g.a.mu.Unlock()
	require.Len(t, g.a.turns, 2)
	require.Len(t, g.a.turns[0].History, 0)
	require.Len(t, g.a.turns[1].History, 0, "/new cleared what came before")
}

func TestCommandsOfRecordsFromAnEarlierReleaseAreRead(t *testing.T) {
	for text, want := range map[string][2]string{
		"/restart":               {"restart", ""},
		"/Restart@HermesBot now": {"restart", "now"},
		"hello":                  {"", ""},
	} {
		n, a := legacyCommand(text)
		require.Equal(t, want, [2]string{n, a}, text)
	}
}

// The router acts on the command the adapter recognised, never on the
// text's look: "/status" from an adapter that did not call it a command
// goes to the agent; a pending record stored by an earlier release (no
// "parsed") is read as that release meant it.
func TestTheAdapterSaysWhatIsACommand(t *testing.T) {
	g := newRig(t, nil)
	plain := msg(user, user, "/status")
	plain.Command, plain.Args = "", ""
	require.NoError(t, g.r.Receive(plain, ""))
	g.finished(t, 1)
	require.Equal(t, []string{"reply: /status"}, g.p.messages(user))

	old := msg(admin, admin, "/status")
	old.Command, old.Args, old.Parsed = "", "", false
	_, err := g.st.Receive(store.Item{Platform: old.Platform, ID: string(old.ID), Chat: string(old.ChatID), Msg: mustJSON(old)}, "")
	require.NoError(t, err)
	_, err = g.r.Resume()
	require.NoError(t, err)
	g.finished(t, 1)
	require.Equal(t, []string{"status: fine"}, g.p.messages(admin))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// A turn run again after a crash replaces its own earlier attempt in the
// conversation instead of adding to it.
func TestARerunTurnReplacesItsEarlierAttemptInHistory(t *testing.T) {
	g := newRig(t, nil)
	h := NewHistory(g.st, 20, 10000)
	require.NoError(t, h.Record("telegram", user, "1", "first", "a1"))
	require.NoError(t, h.Record("telegram", user, "2", "second", "a2"))
	c, err := h.ForTurn("telegram", user, "2")
	require.NoError(t, err)
	require.Len(t, c.Messages, 2, "the agent does not see its own earlier attempt")
	require.NoError(t, h.Record("telegram", user, "2", "second", "a2 again"))
	c, err = h.Load("telegram", user)
	require.NoError(t, err)
	require.Len(t, c.Messages, 4)
	require.Equal(t, "a2 again", c.Messages[3].Content)
	require.Equal(t, 2, c.Turns)
}

// On a platform whose bot is only in rooms an allowed user invited it to
// (Matrix: Access.AnyRoom), its users are answered in any room, and a
// stranger in a room is not (pairing codes go to one-to-one chats only).
func TestAnyRoomAnswersAllowedUsersOnlyInUnlistedRooms(t *testing.T) {
	g := newRig(t, nil)
	acc := telegramAccess([]string{admin}, []string{user}, nil)
	a := acc["telegram"]
	a.AnyRoom = true
	g.auth.Update(map[string]platform.Access{"telegram": a})
	require.NoError(t, g.r.Receive(msg(user, "-555", "in a room of mine"), ""))
	require.NoError(t, g.r.Receive(msg(stranger, "-555", "me too?"), ""))
	g.finished(t, 2)
	require.Equal(t, []string{"reply: in a room of mine"}, g.p.messages("-555"))
	require.Equal(t, []string{"in a room of mine"}, g.a.texts())
}
