//go:build soak

package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// Fault kinds.
const (
	fRestart       = "restart"         // systemctl --user restart
	fKill          = "kill-9"          // SIGKILL of the main pid
	fKillInDrain   = "kill-9-in-drain" // systemctl restart --no-block, SIGKILL while it drains
	fChatRestart   = "chat-/restart"   // /restart from the admin: Restarting…, exit 75, ✓ Back
	fUpdate        = "update"          // swap the ExecStart symlink to the other build, restart
	fTooMany       = "tg-429"
	fServerError   = "tg-5xx"
	fSlow          = "tg-slow"
	fDrop          = "tg-drop"
	fMxPause       = "mx-pause" // the Matrix homeserver stopped (SIGSTOP) for 1–5 s, then resumed
	fPacedStartCap = "paced"    // not a fault: the nemesis waited for the start budget
)

// weights of the kinds the nemesis draws.
var weights = []struct {
	kind string
	w    int
}{
	{fRestart, 3}, {fKill, 4}, {fKillInDrain, 2}, {fChatRestart, 2}, {fUpdate, 2},
	{fTooMany, 2}, {fServerError, 2}, {fSlow, 2}, {fDrop, 2},
	{fMxPause, 2},
}

// fault is one drawn step of the nemesis. Everything in it comes from the
// seeded source, in a fixed order, whatever happens at run time.
type fault struct {
	kind   string
	wait   time.Duration // before applying it
	method string        // Bot API faults
	count  int
	status int
	delay  time.Duration // tg-slow: the delay; kill-in-drain: when to kill
}

func draw(rng *rand.Rand) fault {
	total := 0
	for _, w := range weights {
		total += w.w
	}
	n := rng.IntN(total)
	var f fault
	for _, w := range weights {
		if n < w.w {
			f.kind = w.kind
			break
		}
		n -= w.w
	}
	// Mostly a pause of 0.5–4 s; one step in four follows the previous
	// fault closely (0–300 ms), so faults also land on a process that has
	// just started, or is still draining.
	if rng.IntN(4) == 0 {
		f.wait = durN(rng, 300*time.Millisecond)
	} else {
		f.wait = 500*time.Millisecond + durN(rng, 3500*time.Millisecond)
	}
	// Drawn for every kind, so the sequence does not depend on which kinds
	// use them.
	method := "sendMessage"
	if rng.IntN(3) == 0 {
		method = "getUpdates"
	}
	count := 1 + rng.IntN(3)
	status := []int{500, 502, 503}[rng.IntN(3)]
	delay := durN(rng, 2500*time.Millisecond)
	switch f.kind {
	case fTooMany, fServerError, fDrop:
		f.method, f.count, f.status = method, count, status
	case fSlow:
		f.method, f.count, f.delay = method, count, 200*time.Millisecond+delay.Truncate(time.Millisecond)
	case fKillInDrain:
		f.delay = (delay * 3 / 5).Truncate(time.Millisecond) // 0–1.5 s into the stop
	case fMxPause:
		f.delay = (time.Second + delay*8/5).Truncate(time.Millisecond)
	}
	return f
}

func (f fault) String() string {
	switch f.kind {
	case fTooMany:
		return fmt.Sprintf("%s ×%d retry_after=1", f.method, f.count)
	case fServerError:
		return fmt.Sprintf("%s ×%d %d", f.method, f.count, f.status)
	case fSlow:
		return fmt.Sprintf("%s ×%d %s", f.method, f.count, f.delay)
	case fDrop:
		return fmt.Sprintf("%s ×%d", f.method, f.count)
	case fKillInDrain:
		return fmt.Sprintf("after %s", f.delay)
	case fMxPause:
		return fmt.Sprintf("for %s", f.delay)
	}
	return f.kind
}

// faultRec is a fault as applied.
type faultRec struct {
	at       time.Time
	kind     string
	detail   string
	slowSend time.Duration // tg-slow on sendMessage: the delay
}

// restartCmd is one /restart the admin sent.
type restartCmd struct {
	msgID  int
	update int
	at     time.Time
}

func (s *soak) record(at time.Time, kind, detail string) {
	s.mu.Lock()
	s.faults = append(s.faults, faultRec{at: at, kind: kind, detail: detail})
	s.mu.Unlock()
	s.rep.sayf("soak: %s %s %s", s.since(at), kind, detail)
}

func (s *soak) restartCmds() []restartCmd {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]restartCmd(nil), s.restarts...)
}

// Start budget: the unit's start limit is 30 starts in 60 s; the nemesis
// keeps to startBudget, so the limit is never its doing.
const (
	startBudget = 20
	startWindow = 60 * time.Second
)

// Bot API failures (429, 5xx, dropped connections) on sendMessage count
// against one message's retries: the sender gives up after 5 retries, and
// the README calls such a message undeliverable (logged, not answered). So a
// sendMessage failure burst (at most 3 calls) is added only once the
// previous one is used up (with everything added after it) and
// sendCooldown has passed since: a message that took the burst's last
// failure (its 3rd at most) retries within 2 s ±20% (the backoff after a
// third failure; a 429 waits its 1 s), plus at most a 1 s per-chat pacing
// slot. No message can then see more than 3 failures in a row.
const sendCooldown = 6 * time.Second

// nemesis applies drawn faults until end.
func (s *soak) nemesis(rng *rand.Rand, end time.Time) {
	fw := newFaultWatch(s.fake)
	defer fw.stop()
	skip := map[string]bool{}
	for _, k := range strings.Split(*flagSkip, ",") {
		if k = strings.TrimSpace(k); k != "" {
			skip[k] = true
		}
	}
	for {
		f := draw(rng)
		if !sleepUntil(time.Now().Add(f.wait), end) {
			return
		}
		if skip[f.kind] || (f.kind == fMxPause && s.mx == nil) {
			continue
		}
		sendFailure := false
		switch f.kind {
		case fRestart, fKill, fKillInDrain, fChatRestart, fUpdate:
			if !s.paceStarts(end) {
				return
			}
		case fTooMany, fServerError, fDrop:
			if f.method == "sendMessage" {
				sendFailure = true
				if !waitFor(end, fw.sendFailureAllowed) {
					return
				}
			}
		}
		at := time.Now()
		switch f.kind {
		case fRestart:
			s.restart(at, f)
		case fKill:
			s.kill(at, f)
		case fKillInDrain:
			s.killInDrain(at, f)
		case fChatRestart:
			s.chatRestart(at, f)
		case fUpdate:
			s.update(at, f)
		case fTooMany:
			fw.add(f.count, sendFailure, func() { s.fake.TooManyRequests(f.method, f.count, 1) })
			s.record(at, f.kind, f.String())
		case fServerError:
			fw.add(f.count, sendFailure, func() { s.fake.ServerErrors(f.method, f.count, f.status) })
			s.record(at, f.kind, f.String())
		case fSlow:
			fw.add(f.count, sendFailure, func() { s.fake.SlowResponses(f.method, f.count, f.delay) })
			s.record(at, f.kind, f.String())
			if f.method == "sendMessage" {
				s.mu.Lock()
				s.faults[len(s.faults)-1].slowSend = f.delay
				s.mu.Unlock()
			}
		case fDrop:
			fw.add(f.count, sendFailure, func() { s.fake.DropConnections(f.method, f.count) })
			s.record(at, f.kind, f.String())
		case fMxPause:
			s.mx.pause(s, at, f.delay)
		}
	}
}

// faultWatch follows the fake's fault counter, to know when the faults
// added so far are all used up.
type faultWatch struct {
	fake        *fakebot.Server
	mu          sync.Mutex
	added       int       // fault calls scripted so far
	sendPending bool      // a sendMessage failure burst is not used up yet
	sendDoneAt  time.Time // when the last one was
	done        chan struct{}
}

func newFaultWatch(fake *fakebot.Server) *faultWatch {
	fw := &faultWatch{fake: fake, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-fw.done:
				return
			case <-t.C:
			}
			hit := fake.Stats().Faults
			fw.mu.Lock()
			if fw.sendPending && hit >= fw.added {
				fw.sendPending, fw.sendDoneAt = false, time.Now()
			}
			fw.mu.Unlock()
		}
	}()
	return fw
}

func (fw *faultWatch) add(n int, sendFailure bool, script func()) {
	fw.mu.Lock()
	fw.added += n
	fw.sendPending = fw.sendPending || sendFailure
	fw.mu.Unlock()
	script()
}

func (fw *faultWatch) sendFailureAllowed() bool {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return !fw.sendPending && time.Since(fw.sendDoneAt) >= sendCooldown
}

func (fw *faultWatch) stop() { close(fw.done) }

// sleepUntil sleeps until t, or returns false at end.
func sleepUntil(t, end time.Time) bool {
	if t.After(end) {
		time.Sleep(time.Until(end))
		return false
	}
	time.Sleep(time.Until(t))
	return true
}

// waitFor polls cond (the nemesis's pacing, not an assertion) until it
// holds, or returns false at end.
func waitFor(end time.Time, cond func() bool) bool {
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// paceStarts waits until one more start keeps within the budget.
func (s *soak) paceStarts(end time.Time) bool {
	s.mu.Lock()
	var recent []time.Time
	for _, t := range s.starts {
		if time.Since(t) < startWindow {
			recent = append(recent, t)
		}
	}
	s.mu.Unlock()
	if len(recent) < startBudget {
		return true
	}
	until := recent[len(recent)-startBudget].Add(startWindow + 100*time.Millisecond)
	s.record(time.Now(), fPacedStartCap, fmt.Sprintf("%d starts in the last %s: waiting %s", len(recent), startWindow, time.Until(until).Round(time.Millisecond)))
	return sleepUntil(until, end)
}

func (s *soak) started() {
	s.mu.Lock()
	s.starts = append(s.starts, time.Now())
	s.mu.Unlock()
}

// activePID waits until the service is active with a main pid other than
// old, and returns it. A failed unit (the start limit) is a nemesis bug: it
// is reported, reset and started again.
func (s *soak) activePID(old int) int {
	deadline := time.Now().Add(60 * time.Second)
	var failedSince time.Time
	for time.Now().Before(deadline) {
		st, err := showService()
		if err == nil {
			if st.Active == "active" && st.MainPID != 0 && st.MainPID != old {
				return st.MainPID
			}
			// A crash during a restart job's stop leaves the unit failed
			// for a moment, until the job's start; only a unit that stays
			// failed is stuck (the start limit).
			switch {
			case st.Active != "failed":
				failedSince = time.Time{}
			case failedSince.IsZero():
				failedSince = time.Now()
			case time.Since(failedSince) > 3*time.Second:
				s.problem("the unit stayed failed (result %s): reset-failed and start, counted as a nemesis bug", st.Result)
				systemctl("reset-failed", svc)
				systemctl("start", svc)
				s.started()
				failedSince = time.Time{}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, _ := showService()
	s.problem("the service was not active with a new main pid 60 s after a fault (old pid %d, now %+v)", old, st)
	return st.MainPID
}

func (s *soak) mainPID() int {
	st, err := showService()
	if err != nil || st.Active != "active" || st.MainPID == 0 {
		return s.activePID(0)
	}
	return st.MainPID
}

func (s *soak) restart(at time.Time, f fault) {
	old := s.mainPID()
	s.started()
	if _, err := systemctl("restart", svc); err != nil {
		s.problem("%v", err)
	}
	pid := s.activePID(old)
	s.record(at, f.kind, fmt.Sprintf("pid %d → %d in %s", old, pid, time.Since(at).Round(time.Millisecond)))
}

func (s *soak) sigkill(pid int) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := time.Now()
	if pid <= 1 {
		// No gateway process at that moment: kill(0) would be this
		// test's own process group.
		return k, fmt.Errorf("no gateway process to kill (MainPID %d)", pid)
	}
	err := syscall.Kill(pid, syscall.SIGKILL)
	if err == nil {
		s.kills = append(s.kills, k)
	}
	return k, err
}

func (s *soak) kill(at time.Time, f fault) {
	old := s.mainPID()
	s.started()
	k, err := s.sigkill(old)
	if err != nil {
		s.problem("kill -9 %d: %v", old, err)
	}
	pid := s.activePID(old)
	s.record(k, f.kind, fmt.Sprintf("pid %d → %d in %s", old, pid, time.Since(k).Round(time.Millisecond)))
}

func (s *soak) killInDrain(at time.Time, f fault) {
	old := s.mainPID()
	s.started()
	if _, err := systemctl("restart", "--no-block", svc); err != nil {
		s.problem("%v", err)
	}
	time.Sleep(f.delay)
	detail := ""
	if st, err := showService(); err == nil && st.MainPID == old {
		k, err := s.sigkill(old)
		if err != nil {
			detail = fmt.Sprintf("kill -9 %d: %v; ", old, err)
		} else {
			detail = fmt.Sprintf("SIGKILL at %s (%s, %s); ", s.since(k), st.Active, st.Sub)
		}
	} else {
		detail = fmt.Sprintf("the drain was over before the kill (%s); ", f.delay)
	}
	pid := s.activePID(old)
	s.record(at, f.kind, detail+fmt.Sprintf("pid %d → %d in %s", old, pid, time.Since(at).Round(time.Millisecond)))
}

func (s *soak) chatRestart(at time.Time, f fault) {
	old := s.mainPID()
	s.mu.Lock()
	s.adminSeq++
	msgID := msgIDBase + s.adminSeq*msgIDStride
	s.mu.Unlock()
	s.started()
	id := s.inject(adminID, adminID, msgID, "/restart")
	s.mu.Lock()
	s.restarts = append(s.restarts, restartCmd{msgID: msgID, update: id, at: at})
	s.mu.Unlock()
	// Until the gateway answered Restarting… to this very message, and a
	// new process runs.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	answered := false
	for n := 1; !answered; {
		got, err := s.fake.WaitForMessages(ctx, adminID, n)
		if err != nil {
			s.problem("/restart (message %d) not answered %q within 60 s", msgID, restartingTxt)
			break
		}
		for _, m := range got {
			answered = answered || (m.ReplyToMessageID == msgID && m.Text == restartingTxt)
		}
		n = len(got) + 1
	}
	pid := s.activePID(old)
	s.record(at, f.kind, fmt.Sprintf("message %d (update %d): pid %d → %d in %s", msgID, id, old, pid, time.Since(at).Round(time.Millisecond)))
}

// update switches the service to the other build the way an update does
// it, minus the parts `hermes update` has its own e2e tests for (staging,
// checks, rollback): the ExecStart symlink is atomically replaced by one to
// the new binary (rename over it), then the unit restarts. Simpler and more
// deterministic than running the whole `hermes update` under the nemesis.
func (s *soak) update(at time.Time, f fault) {
	next := versionB
	if s.current == versionB {
		next = versionA
	}
	tmp := s.link + ".next"
	os.Remove(tmp)
	if err := os.Symlink(gatewayBinary(next), tmp); err != nil {
		s.problem("update: %v", err)
		return
	}
	if err := os.Rename(tmp, s.link); err != nil {
		s.problem("update: %v", err)
		return
	}
	prev := s.current
	s.current = next
	old := s.mainPID()
	s.started()
	if _, err := systemctl("restart", svc); err != nil {
		s.problem("update: %v", err)
	}
	pid := s.activePID(old)
	st, err := gatewayStatus(30 * time.Second)
	switch {
	case err != nil:
		s.problem("update: status after the restart: %v", err)
	case st.Version != next:
		s.problem("update: the gateway runs %s after switching to %s", st.Version, next)
	}
	s.record(at, f.kind, fmt.Sprintf("%s → %s: pid %d → %d in %s", prev, next, old, pid, time.Since(at).Round(time.Millisecond)))
}

// probeStats counts the control-socket probe's requests.
type probeStats struct {
	requests, ok     int
	refused          []probeFailure // connection refused / no socket: never acceptable
	failedAtKill     []probeFailure // the request was in flight when a SIGKILL struck
	failed           []probeFailure // anything else
	longest          time.Duration
	longestAt        time.Time
	pids             map[int]bool
	versionsAnswered map[string]int
}

type probeFailure struct {
	start, end time.Time
	err        string
}

// probe asks the gateway for its status over and over, one connection per
// request, until stop.
func (s *soak) probe(stop <-chan struct{}) {
	c := controlClient()
	ps := probeStats{pids: map[int]bool{}, versionsAnswered: map[string]int{}}
	defer func() {
		s.mu.Lock()
		s.probeStat = ps
		s.mu.Unlock()
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := c.Status(ctx)
		cancel()
		end := time.Now()
		ps.requests++
		if d := end.Sub(start); d > ps.longest {
			ps.longest, ps.longestAt = d, start
		}
		if err == nil {
			ps.ok++
			ps.pids[st.PID] = true
			ps.versionsAnswered[st.Version]++
		} else {
			pf := probeFailure{start: start, end: end, err: err.Error()}
			s.mu.Lock()
			atKill := false
			for _, k := range s.kills {
				atKill = atKill || (!k.Before(start.Add(-50*time.Millisecond)) && !k.After(end))
			}
			s.mu.Unlock()
			switch {
			case errors.Is(err, control.ErrNotListening) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT):
				ps.refused = append(ps.refused, pf)
			case atKill:
				ps.failedAtKill = append(ps.failedAtKill, pf)
			default:
				ps.failed = append(ps.failed, pf)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// faultCounts sums the applied faults by kind, in a stable order.
func faultCounts(fs []faultRec) string {
	n := map[string]int{}
	for _, f := range fs {
		n[f.kind]++
	}
	var kinds []string
	for k := range n {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

// durN draws a duration in [0, d) from rng.
func durN(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(d)))
}
