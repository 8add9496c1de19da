//go:build soak

// Package soak is the fault campaign (issue 9): for a bounded time, several
// Telegram chats send numbered messages through the Bot API fake while a
// nemesis restarts, kills, /restarts and updates the real gateway under the
// sandbox's systemd --user, and makes the fake throw 429s, 5xx, slow answers
// and dropped connections. Then, after a quiet period, a checker verifies
// what the README promises: every message answered, in order, exactly once
// (but for an answer on the wire at a SIGKILL), a consistent conversation
// history, a unit that ends active, and a control socket that never refused
// a connection.
//
// Run it in the sandbox (the lead's `make soak DURATION=30m SEED=N`):
//
//	scripts/sandbox -- go test -tags soak -count=1 -timeout 30m ./soak/ -args -soak.duration=2m -soak.seed=N
//
// The fault sequence (kinds, parameters, the waits between them) and every
// chat's messages (texts, agent delays, the gaps between them) are drawn
// from math/rand sources seeded by -soak.seed, so a seed replays the same
// campaign. The timing of the real system (systemd, the scheduler, the
// network stack) is not deterministic, so a seed reproduces the faults, not
// the exact interleaving; run a failing seed a few times.
//
// Faults: systemctl restart; kill -9 of the main pid; kill -9 while a
// restart drains; /restart from the admin chat; an update (the ExecStart
// symlink swapped to the other of two builds, then a restart); and from the
// fake, bursts of 429 (retry_after 1 s), 5xx, slow answers and dropped
// connections. -soak.skip=KIND,… draws but does not apply some kinds.
//
// A passing run's report is only shown with -v (go test hides a passing
// package's output); it is also written to -soak.report (default
// $TMPDIR/hermes-soak-SEED.txt, with the gateway's journal next to it).
package soak

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
)

var (
	flagDuration = flag.Duration("soak.duration", 2*time.Minute, "how long chats send messages while the nemesis injects faults")
	flagSeed     = flag.Int64("soak.seed", 0, "seed of the fault sequence and the chats' messages; 0 picks one from the clock (always printed)")
	flagChats    = flag.Int("soak.chats", 6, "chats sending numbered messages")
	flagRooms    = flag.Int("soak.rooms", 3, "Matrix rooms sending numbered messages (0: no homeserver, Telegram only)")
	flagSkip     = flag.String("soak.skip", "", "fault kinds to draw but not apply, comma-separated (e.g. kill-9-in-drain); the other faults keep their draws")
	flagReport   = flag.String("soak.report", "", "where to write the report (the journal goes next to it, .journal); default $TMPDIR/hermes-soak-SEED.txt")
)

const (
	versionA = "v0.0.0-soak-a"
	versionB = "v0.0.1-soak-b"
)

// bin holds the binaries built once for the run.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("HERMES_SANDBOX") == "" {
		fmt.Fprintln(os.Stderr, "soak: the fault campaign drives a real systemd --user; run it inside the sandbox: scripts/sandbox -- go test -tags soak -count=1 -timeout 30m ./soak/ -args -soak.duration=2m")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "hermes-soak-bin-")
	if err != nil {
		panic(err)
	}
	bin = dir
	root, _ := filepath.Abs("..")
	for _, b := range []struct{ name, pkg, version string }{
		{"hermes-gateway-a", "./cmd/gateway", versionA},
		{"hermes-gateway-b", "./cmd/gateway", versionB},
		{"hermes", "./cmd/hermes", versionA},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.name), "-ldflags", "-X github.com/hermes-gateway/hermes/pkg/version.Version="+b.version, b.pkg)
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "soak: build", b.name, "failed:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func gatewayBinary(version string) string {
	if version == versionB {
		return filepath.Join(bin, "hermes-gateway-b")
	}
	return filepath.Join(bin, "hermes-gateway-a")
}

// Chats and users. User chats are private chats 1001…1000+N; the admin only
// sends /restart, in a chat of its own.
const (
	adminID  = 100
	chatBase = 1000
)

// Message ids: the campaign chooses them (InjectUpdate), so that every
// answer, notice and apology (all sent as replies) names the message it
// belongs to. Message i of a chat is msgIDBase+i*msgIDStride; the bot's own
// messages take the ids after it, far fewer than the stride.
const (
	msgIDBase   = 1_000_000
	msgIDStride = 1000
)

// What the gateway says besides the agent's answers.
const (
	noticeText    = "⏳ Restarting, your answer is coming."
	apologyPrefix = "😞 Sorry, I could not answer your message after "
	restartingTxt = "Restarting…"
	backPrefix    = "✓ Back: "
)

// planned is one message of a chat's schedule.
type planned struct {
	idx   int
	msgID int
	text  string
	at    time.Duration // after the campaign's start
	delay time.Duration // the agent's think time, carried in the text
}

// chat is one user chat: its schedule and what was injected.
type chat struct {
	id   int64
	plan []planned

	mu       sync.Mutex
	injected []injected
}

type injected struct {
	planned
	update int
	sentAt time.Time
}

func (c *chat) sent() []injected {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]injected(nil), c.injected...)
}

// planChat draws a chat's messages for the campaign: gaps of 1–5 s; the
// agent thinks 0–1.5 s, and about one turn in fourteen 2–4.5 s, so that some
// turns outlive the 3 s drain and are resumed by the next process.
func planChat(seed int64, id int64, d time.Duration) *chat {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(id)))
	c := &chat{id: id}
	at := time.Duration(0)
	for i := 0; ; i++ {
		at += time.Second + durN(rng, 4*time.Second)
		if at > d {
			break
		}
		delay := durN(rng, 1500*time.Millisecond)
		if rng.IntN(14) == 0 {
			delay = 2*time.Second + durN(rng, 2500*time.Millisecond)
		}
		delay = delay.Truncate(time.Millisecond)
		c.plan = append(c.plan, planned{
			idx:   i,
			msgID: msgIDBase + i*msgIDStride,
			text:  fmt.Sprintf("m-%d-%d sleep=%.3f", id, i, delay.Seconds()),
			at:    at,
			delay: delay,
		})
	}
	return c
}

// agentScript is the exec agent: it reports how many turns the history it
// was given holds, sleeps as long as the message says, and echoes.
const agentScript = `#!/bin/sh
# The soak campaign's agent. HERMES_HISTORY is a JSON array of
# {"role","content"}: its user entries are the chat's earlier turns.
text=$(cat)
turns=$(( $(grep -o '"role":"user"' "$HERMES_HISTORY" | wc -l) ))
case "$text" in
  *sleep=*) sleep "${text##*sleep=}" ;;
esac
printf 'reply #%d: %s\n' "$turns" "$text"
`

const historyTurns = 1000

func TestFaultCampaign(t *testing.T) {
	seed := *flagSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	duration := *flagDuration
	rep := newReport(t, seed)
	defer rep.close()
	rep.sayf("soak: seed %d, duration %s, %d chats, %d Matrix rooms (replay: -soak.seed=%d -soak.duration=%s)", seed, duration, *flagChats, *flagRooms, seed, duration)
	if *flagSkip != "" {
		rep.sayf("soak: not applying %s", *flagSkip)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("soak: FAILED with seed %d; replay: scripts/sandbox -- go test -tags soak -count=1 -timeout 30m ./soak/ -args -soak.duration=%s -soak.seed=%d (report: %s)", seed, duration, seed, rep.path)
		}
	})

	// Fresh units, config and state. The service runs a symlink, as an
	// installed version does; the nemesis's update swaps it.
	systemctl("stop", svc, sck, units.FailedService)
	systemctl("reset-failed", svc, sck, units.FailedService)
	unitDir, cfgDir, stateDir := paths()
	must(t, os.RemoveAll(cfgDir))
	must(t, os.RemoveAll(stateDir))
	must(t, os.MkdirAll(unitDir, 0o755))
	must(t, os.MkdirAll(cfgDir, 0o700))
	must(t, os.MkdirAll(stateDir, 0o700))
	link := filepath.Join(bin, "hermes-gateway")
	os.Remove(link)
	must(t, os.Symlink(gatewayBinary(versionA), link))
	all, err := units.RenderAll(units.Params{Gateway: link, Hermes: filepath.Join(bin, "hermes"), ExecAgent: true})
	must(t, err)
	for name, body := range all {
		must(t, os.WriteFile(filepath.Join(unitDir, name), body, 0o644))
	}
	_, err = systemctl("daemon-reload")
	must(t, err)
	cursor := journalCursor()
	_, err = systemctl("start", sck)
	must(t, err)
	t.Cleanup(func() {
		systemctl("stop", svc, sck)
		systemctl("reset-failed", svc, sck, units.FailedService)
	})

	fake := fakebot.New(fakebot.Options{})
	if _, err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	// The admin's chat is known from the start, as a real one is: the
	// failure alert (hermes-gateway-failed.service) writes to it.
	fake.AddChat(fakebot.Chat{ID: adminID, Type: "private", FirstName: "Admin"})

	chats := make([]*chat, *flagChats)
	var users []string
	for i := range chats {
		chats[i] = planChat(seed, int64(chatBase+1+i), duration)
		users = append(users, strconv.Itoa(chatBase+1+i))
	}
	must(t, os.WriteFile(filepath.Join(cfgDir, "token"), []byte(fake.Token()+"\n"), 0o600))
	// The Matrix homeserver, when the campaign has rooms: the gateway runs
	// both platforms at once.
	var mx *mxSide
	mxConfig := ""
	if *flagRooms > 0 {
		mx = newMatrix(t, cfgDir)
		mxConfig = mx.config()
	}
	script := filepath.Join(cfgDir, "soak-agent")
	must(t, os.WriteFile(script, []byte(agentScript), 0o700))
	must(t, os.WriteFile(filepath.Join(cfgDir, "config.toml"), []byte(fmt.Sprintf(`[gateway]
drain_timeout = "3s"

[telegram]
enabled = true
token_file = "token"
api_url = %q
poll_timeout = "2s"
admins = [%d]
users = [%s]

[agent]
backend = "exec"
max_concurrent_chats = 8
history_turns = %d
history_chars = 10000000

[agent.exec]
command = [%q]
timeout = "30s"
%s`, fake.URL(), adminID, strings.Join(users, ", "), historyTurns, script, mxConfig)), 0o600))

	_, err = systemctl("start", svc)
	must(t, err)
	st, err := gatewayStatus(30 * time.Second)
	must(t, err)
	if st.Version != versionA {
		t.Fatalf("the gateway runs %s, want %s", st.Version, versionA)
	}

	if mx != nil {
		mx.openRooms(t, seed, *flagRooms, duration)
	}
	s := &soak{t: t, rep: rep, fake: fake, mx: mx, link: link, current: versionA, start: time.Now(), seed: seed}
	rep.sayf("soak: started at %s (the journal's clock)", s.start.Format("15:04:05.000"))

	// The control socket is probed throughout, one connection per request.
	probeStop := make(chan struct{})
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); s.probe(probeStop) }()

	// The chats send on their schedules (a person typing, not a
	// synchronisation).
	var wg sync.WaitGroup
	for _, c := range chats {
		wg.Add(1)
		go func(c *chat) {
			defer wg.Done()
			for _, p := range c.plan {
				time.Sleep(time.Until(s.start.Add(p.at)))
				now := time.Now()
				id := s.inject(c.id, c.id, p.msgID, p.text)
				c.mu.Lock()
				c.injected = append(c.injected, injected{planned: p, update: id, sentAt: now})
				c.mu.Unlock()
			}
		}(c)
	}

	if mx != nil {
		wg.Add(1)
		go func() { defer wg.Done(); mx.send(s) }()
	}

	s.nemesis(rand.New(rand.NewPCG(uint64(seed), 0xfa0175)), s.start.Add(duration))
	wg.Wait()

	// Quiet period: no more faults; wait (bounded) until every message has
	// its answer and the gateway is idle.
	fake.ClearFaults()
	quietAt := time.Now()
	rep.sayf("soak: nemesis stopped at +%s; quiet period", quietAt.Sub(s.start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, c := range chats {
		if err := waitAnswered(ctx, fake, c); err != nil {
			t.Errorf("chat %d: not every message was answered within the quiet period's deadline: %v", c.id, err)
		}
	}
	if mx != nil {
		if err := mx.waitAnswered(ctx); err != nil {
			t.Errorf("matrix: not every message was answered within the quiet period's deadline: %v", err)
		}
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 30*time.Second)
	waitBacks(bctx, fake, s.restartCmds())
	bcancel()
	var idle *control.Status
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, err := gatewayStatus(10 * time.Second); err == nil && st.State == control.StateReady && st.InFlight == 0 {
			idle = st
			break
		}
	}
	if idle == nil {
		t.Errorf("the gateway did not become ready and idle within 60 s of the quiet period")
	}
	rep.sayf("soak: quiet after %s", time.Since(quietAt).Round(time.Millisecond))
	close(probeStop)
	<-probeDone

	s.check(chats, idle, cursor)
}

// soak is one campaign's shared state.
type soak struct {
	t       *testing.T
	rep     *report
	fake    *fakebot.Server
	mx      *mxSide // nil: no Matrix rooms
	link    string
	current string // the version the link points at
	start   time.Time
	seed    int64

	mu        sync.Mutex
	faults    []faultRec
	kills     []time.Time
	starts    []time.Time // every start the nemesis caused
	problems  []string    // what went wrong while applying faults
	restarts  []restartCmd
	adminSeq  int
	probeStat probeStats
}

func (s *soak) since(at time.Time) string {
	return "+" + at.Sub(s.start).Round(time.Millisecond).String()
}

// when is since plus the wall clock, to find the moment in the journal.
func (s *soak) when(at time.Time) string {
	return s.since(at) + " (" + at.Format("15:04:05.000") + ")"
}

func (s *soak) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.problems = append(s.problems, s.since(time.Now())+" "+msg)
	s.mu.Unlock()
	s.rep.sayf("soak: PROBLEM %s", msg)
}

// inject queues a message from user in chat (private) with the given
// message id, as Telegram would deliver it, and returns its update id.
func (s *soak) inject(chatID, user int64, msgID int, text string) int {
	m := fakebot.Message{
		MessageID: msgID,
		From:      &fakebot.User{ID: user, FirstName: "Soak", Username: fmt.Sprintf("soak%d", user), LanguageCode: "en"},
		Chat:      fakebot.Chat{ID: chatID, Type: "private", FirstName: "Soak"},
		Date:      time.Now().Unix(),
		Text:      text,
	}
	if strings.HasPrefix(text, "/") {
		m.Entities = []fakebot.MessageEntity{{Type: "bot_command", Offset: 0, Length: len(strings.Fields(text)[0])}}
	}
	raw, err := json.Marshal(map[string]any{"message": m})
	if err != nil {
		panic(err)
	}
	id, err := s.fake.InjectUpdate(raw)
	if err != nil {
		s.problem("inject %q into chat %d: %v", text, chatID, err)
	}
	return id
}

// waitAnswered waits until every message injected into c has an answer or
// an apology in the fake, waking on each send.
func waitAnswered(ctx context.Context, fake *fakebot.Server, c *chat) error {
	msgs := c.sent()
	n := len(msgs)
	for {
		got, err := fake.WaitForMessages(ctx, c.id, n)
		if err != nil {
			return err
		}
		done := map[int]bool{}
		for _, m := range got {
			if _, ok := parseAnswer(m.Text); ok || strings.HasPrefix(m.Text, apologyPrefix) {
				done[m.ReplyToMessageID] = true
			}
		}
		missing := 0
		for _, m := range msgs {
			if !done[m.msgID] {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		n = len(got) + 1
	}
}

// waitBacks waits until every /restart has its "✓ Back", or ctx ends (the
// checker then says which did not).
func waitBacks(ctx context.Context, fake *fakebot.Server, cmds []restartCmd) {
	if len(cmds) == 0 {
		return
	}
	n := 1
	for {
		got, err := fake.WaitForMessages(ctx, adminID, n)
		if err != nil {
			return
		}
		back := map[int]bool{}
		for _, m := range got {
			if strings.HasPrefix(m.Text, backPrefix) {
				back[m.ReplyToMessageID] = true
			}
		}
		all := true
		for _, c := range cmds {
			all = all && back[c.msgID]
		}
		if all {
			return
		}
		n = len(got) + 1
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// report collects the campaign's output: the test log and a file.
type report struct {
	t    *testing.T
	path string
	f    *os.File
	mu   sync.Mutex
}

func newReport(t *testing.T, seed int64) *report {
	p := *flagReport
	if p == "" {
		p = filepath.Join(os.TempDir(), fmt.Sprintf("hermes-soak-%d.txt", seed))
	}
	r := &report{t: t, path: p}
	f, err := os.Create(p)
	if err != nil {
		t.Logf("soak: cannot write the report to %s: %v", p, err)
	} else {
		r.f = f
	}
	return r
}

func (r *report) sayf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	r.t.Log(line)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		fmt.Fprintln(r.f, line)
	}
}

func (r *report) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}
