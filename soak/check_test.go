//go:build soak

package soak

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

var answerRe = regexp.MustCompile(`^reply #(\d+): (.*)$`)

type answer struct {
	turn int
	text string
}

// parseAnswer reads the agent's "reply #TURNS: TEXT".
func parseAnswer(s string) (answer, bool) {
	m := answerRe.FindStringSubmatch(s)
	if m == nil {
		return answer{}, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return answer{}, false
	}
	return answer{turn: n, text: m[2]}, true
}

// The window around a SIGKILL in which an answer may be on the wire: its
// first copy reached the fake at most onWireBefore before the kill (or, the
// kill's timestamp being taken just before the signal, onWireAfter after
// it), as in e2e's TestNothingLostOrRepeatedAcrossRestartsAndKills.
const (
	onWireBefore = 250 * time.Millisecond
	onWireAfter  = 50 * time.Millisecond
)

// nearestKill returns the kill closest to t and the signed distance
// kill − t.
func nearestKill(kills []time.Time, t time.Time) (time.Time, time.Duration, bool) {
	var best time.Time
	var bestD time.Duration
	found := false
	for _, k := range kills {
		d := k.Sub(t)
		if !found || abs(d) < abs(bestD) {
			best, bestD, found = k, d, true
		}
	}
	return best, bestD, found
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// onTheWire reports whether a copy the fake recorded at sent was on the
// wire at one of the instants ts (SIGKILLs, or drain timeouts), and the
// distance instant − sent. A request that took a slow-response fault
// reached the fake that long before the fake recorded it, and the instant
// may fall in between: the window then opens earlier by the longest
// sendMessage delay scripted before sent.
func (s *soak) onTheWire(ts []time.Time, sent time.Time) (time.Duration, bool) {
	ext := s.slowedBy(sent)
	for _, k := range ts {
		if d := k.Sub(sent); d >= -onWireAfter-ext && d <= onWireBefore {
			return d, true
		}
	}
	return 0, false
}

// lateOnTheWire reports whether a copy the fake recorded at sent left the
// gateway before a SIGKILL and reached the fake only after it, slowed by a
// tg-slow fault: onTheWire's window, beyond the slack of an ordinary copy.
// Such a copy is recorded after the answer of the process that followed.
func (s *soak) lateOnTheWire(kills []time.Time, sent time.Time) (time.Duration, bool) {
	ext := s.slowedBy(sent)
	for _, k := range kills {
		if d := k.Sub(sent); d >= -onWireAfter-ext && d < -onWireAfter {
			return d, true
		}
	}
	return 0, false
}

// slowedBy is the longest sendMessage delay scripted before a copy the
// fake recorded at sent, which it may have taken (0: none).
func (s *soak) slowedBy(sent time.Time) time.Duration {
	ext := time.Duration(0)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		// The request took the fault, so it arrived (sent − delay) after
		// the fault was scripted, and (sends being frequent) within a
		// minute of it.
		if arrived := sent.Add(-f.slowSend); f.kind == fSlow && f.slowSend > 0 && !arrived.Before(f.at.Add(-20*time.Millisecond)) && arrived.Sub(f.at) < time.Minute {
			ext = max(ext, f.slowSend)
		}
	}
	return ext
}

// outcome is what became of one message.
type outcome struct {
	first   fakebot.SentMessage
	kind    string // answer | dropped
	turn    int
	repeats []fakebot.SentMessage
}

// counts is the campaign's tally.
type counts struct {
	messages, answered, dropped, repeats, notices int
	answeredThenDropped                           int // answered on the wire at a SIGKILL, then apologised for
	latencies                                     []time.Duration
	slowest                                       string
	repeatDs                                      []time.Duration
}

func (s *soak) check(chats []*chat, idle *control.Status, cursor string) {
	t := s.t
	s.mu.Lock()
	kills := append([]time.Time(nil), s.kills...)
	faults := append([]faultRec(nil), s.faults...)
	problems := append([]string(nil), s.problems...)
	starts := len(s.starts)
	ps := s.probeStat
	s.mu.Unlock()

	var failures []string
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		failures = append(failures, msg)
		t.Error(msg)
	}
	var suspects []int64 // update ids to show the journal of

	// The journal: what the gateway says it did, and anything alarming.
	js, jerr := readJournal(cursor)
	if jerr != nil {
		fail("journal: %v", jerr)
	}
	var abandons []time.Time // drains that timed out: sends in flight were cancelled
	for _, e := range js {
		if strings.Contains(e.Message, "drain timed out") {
			abandons = append(abandons, e.At)
		}
	}
	var c counts
	for _, ch := range chats {
		s.checkChat(ch, kills, abandons, &c, fail, &suspects)
	}
	backs, lostBacks := s.checkAdmin(kills, js, fail)
	var mc mxCounts
	if s.mx != nil {
		mc = s.mx.check(s, fail)
	}
	if s.mx != nil && idle != nil {
		for _, p := range idle.Platforms {
			if p.Name == "matrix" && p.State != "connected" {
				fail("matrix: the gateway ends with matrix %s (%s), want connected", p.State, p.Detail)
			}
		}
	}

	// The unit ends active, not failed, and the gateway answers.
	us, err := showService()
	if err != nil {
		fail("systemctl show: %v", err)
	}
	if us.Active != "active" || us.Sub != "running" {
		fail("the unit ends %s (%s), result %s; want active (running)", us.Active, us.Sub, us.Result)
	}
	if out, _ := systemctl("is-failed", svc); strings.TrimSpace(out) == "failed" {
		fail("the unit is failed")
	}
	for _, p := range problems {
		fail("nemesis: %s", p)
	}

	// The control socket never refused a connection; a request fails only
	// when a SIGKILL struck while it was in flight.
	for _, f := range ps.refused {
		fail("control probe: refused at %s (%s): %s", s.when(f.start), f.end.Sub(f.start).Round(time.Millisecond), f.err)
	}
	for _, f := range ps.failed {
		fail("control probe: failed at %s after %s with no SIGKILL in flight: %s", s.when(f.start), f.end.Sub(f.start).Round(time.Millisecond), f.err)
	}

	jcount := func(sub string) int {
		n := 0
		for _, e := range js {
			if strings.Contains(e.Message, sub) {
				n++
			}
		}
		return n
	}
	var panics []string
	for _, e := range js {
		if strings.Contains(e.Message, "panic:") || strings.Contains(e.Message, "fatal error:") || strings.Contains(e.Message, "DATA RACE") {
			panics = append(panics, e.String())
		}
	}
	for _, p := range panics {
		fail("journal: %s", p)
	}
	exits := map[string]int{}
	for _, e := range js {
		if e.Fields["HERMES_EVENT"] == "exit" {
			exits[e.Fields["CODE"]]++
		}
	}

	// The report.
	r := s.rep
	r.sayf("soak: ===== report (seed %d) =====", s.seed)
	r.sayf("soak: faults applied: %d (%s)", countReal(faults), faultCounts(faults))
	r.sayf("soak: fault sequence:")
	for _, f := range faults {
		r.sayf("soak:   %-9s %-16s %s", s.since(f.at), f.kind, f.detail)
	}
	r.sayf("soak: messages %d, answered %d, dropped after retries %d (with an apology), repeats on the wire %d, answered on the wire then apologised for %d, restart notices %d",
		c.messages, c.answered, c.dropped, c.repeats, c.answeredThenDropped, c.notices)
	if len(c.latencies) > 0 {
		ls := slices.Sorted(slices.Values(c.latencies))
		q := func(p float64) time.Duration {
			return ls[min(len(ls)-1, int(p*float64(len(ls))))].Round(time.Millisecond)
		}
		r.sayf("soak: time from a message to its answer: median %s, p90 %s, p99 %s, max %s (%s)", q(0.5), q(0.9), q(0.99), ls[len(ls)-1].Round(time.Millisecond), c.slowest)
	}
	if s.mx != nil {
		r.sayf("soak: matrix: rooms %d, messages %d, answered %d, duplicates %d (the promise: 0), of them made as a SIGKILL cut the first copy's request %d, dropped with an apology %d, restart notices %d, homeserver pauses %d",
			mc.rooms, mc.messages, mc.answered, mc.duplicates, mc.dupAtKill, mc.dropped, mc.notices, faultsOf(faults, fMxPause))
		if len(mc.latencies) > 0 {
			ls := slices.Sorted(slices.Values(mc.latencies))
			q := func(p float64) time.Duration {
				return ls[min(len(ls)-1, int(p*float64(len(ls))))].Round(time.Millisecond)
			}
			r.sayf("soak: matrix: time from a message to its answer: median %s, p90 %s, p99 %s, max %s", q(0.5), q(0.9), q(0.99), ls[len(ls)-1].Round(time.Millisecond))
		}
	}
	if len(c.repeatDs) > 0 {
		var ds []string
		for _, d := range c.repeatDs {
			ds = append(ds, d.Round(time.Microsecond).String())
		}
		r.sayf("soak: repeats: the copy on the wire reached the fake this long before a SIGKILL (negative: after it, slowed by tg-slow): %s", strings.Join(ds, ", "))
	}
	r.sayf("soak: /restart from the admin: %d, ✓ Back %d, Back lost at a SIGKILL %d", len(s.restartCmds()), backs, lostBacks)
	r.sayf("soak: starts caused by the nemesis %d, SIGKILLs %d, systemd NRestarts %d (since the last manual restart), unit %s/%s result %s", starts, len(kills), us.NRestarts, us.Active, us.Sub, us.Result)
	if idle != nil {
		r.sayf("soak: gateway at the end: %s pid %d, %s, in flight %d, platforms %v", idle.Version, idle.PID, idle.State, idle.InFlight, idle.Platforms)
	}
	r.sayf("soak: control probe: %d requests, %d answered by %d pids, refused %d, failed with a SIGKILL in flight %d, failed otherwise %d, longest %s (at %s); versions %v",
		ps.requests, ps.ok, len(ps.pids), len(ps.refused), len(ps.failedAtKill), len(ps.failed), ps.longest.Round(time.Millisecond), s.since(ps.longestAt), ps.versionsAnswered)
	r.sayf("soak: journal: %d lines; exits by code %v; resumed %d times (%q); drain timed out %d; turns abandoned %d; dropped turns %d; sent-log recoveries %d; delivery failed %d; redeliveries ignored %d; Back not sent %d; getUpdates 409 conflicts %d (each retried after 1 s, backing off to 30 s)",
		len(js), exits, jcount("resuming work a previous process left unfinished"), "resuming work", jcount("drain timed out"),
		jcount("turn abandoned by the drain"), jcount("dropping a turn that failed across restarts"), jcount("answers sent by the previous process"),
		jcount("delivery failed"), jcount("redelivered update ignored"), jcount("could not say we are back"), jcount("telegram: 409 conflict"))
	var errs []string
	for _, e := range js {
		if e.Priority <= 3 && e.Ident == "hermes-gateway" {
			errs = append(errs, e.String())
		}
	}
	if len(errs) > 0 {
		r.sayf("soak: journal lines at error priority: %d", len(errs))
		for i, e := range errs {
			if i == 20 {
				r.sayf("soak:   … %d more in the journal file", len(errs)-20)
				break
			}
			r.sayf("soak:   %s", e)
		}
	}

	jpath := r.path + ".journal"
	if f, err := os.Create(jpath); err == nil {
		for _, e := range js {
			fmt.Fprintln(f, e.String())
		}
		f.Close()
		r.sayf("soak: the gateway's journal: %s", jpath)
	}
	if len(failures) > 0 {
		r.sayf("soak: %d FAILURES (seed %d):", len(failures), s.seed)
		for _, f := range failures {
			r.sayf("soak:   %s", f)
		}
		s.showJournal(js, suspects)
	} else {
		r.sayf("soak: PASS (seed %d)", s.seed)
	}
}

func faultsOf(fs []faultRec, kind string) int {
	n := 0
	for _, f := range fs {
		if f.kind == kind {
			n++
		}
	}
	return n
}

func countReal(fs []faultRec) int {
	n := 0
	for _, f := range fs {
		if f.kind != fPacedStartCap {
			n++
		}
	}
	return n
}

// checkChat verifies one user chat: every message answered (or dropped with
// an apology after its retries), first answers in order, a repeat only as
// an exact copy whose first copy was on the wire at a SIGKILL, and turn
// numbers that grow by one per answered message.
func (s *soak) checkChat(ch *chat, kills, abandons []time.Time, c *counts, fail func(string, ...any), suspects *[]int64) {
	msgs := ch.sent()
	c.messages += len(msgs)
	byID := map[int]injected{}
	byText := map[string]injected{}
	for _, m := range msgs {
		byID[m.msgID] = m
		byText[m.text] = m
	}
	out := map[int]*outcome{}
	var order []int
	suspect := func(m injected) { *suspects = append(*suspects, int64(m.update)) }
	for _, sm := range s.fake.Sent(ch.id) {
		switch {
		case sm.Text == noticeText:
			c.notices++
			if _, ok := byID[sm.ReplyToMessageID]; !ok {
				fail("chat %d: a restart notice replies to message %d, which the chat never sent", ch.id, sm.ReplyToMessageID)
			}
			continue
		case strings.HasPrefix(sm.Text, apologyPrefix):
			m, ok := byID[sm.ReplyToMessageID]
			if !ok {
				fail("chat %d: an apology replies to message %d, which the chat never sent: %q", ch.id, sm.ReplyToMessageID, sm.Text)
				continue
			}
			if o := out[m.idx]; o != nil {
				s.repeat(ch, m, o, sm, kills, abandons, c, fail, suspect)
				continue
			}
			out[m.idx] = &outcome{first: sm, kind: "dropped"}
			order = append(order, m.idx)
			c.dropped++
			suspect(m)
		default:
			a, ok := parseAnswer(sm.Text)
			if !ok {
				fail("chat %d: unexpected message at %s: %q (reply to %d)", ch.id, s.when(sm.Time), sm.Text, sm.ReplyToMessageID)
				if m, ok := byID[sm.ReplyToMessageID]; ok {
					suspect(m)
				}
				continue
			}
			m, ok := byText[a.text]
			if !ok {
				fail("chat %d: an answer to a message the chat never sent: %q", ch.id, sm.Text)
				continue
			}
			if sm.ReplyToMessageID != m.msgID {
				fail("chat %d: the answer to %q replies to message %d, not %d", ch.id, m.text, sm.ReplyToMessageID, m.msgID)
			}
			if o := out[m.idx]; o != nil {
				s.repeat(ch, m, o, sm, kills, abandons, c, fail, suspect)
				continue
			}
			out[m.idx] = &outcome{first: sm, kind: "answer", turn: a.turn}
			order = append(order, m.idx)
			c.answered++
		}
	}

	// Every message answered, first answers in order.
	for _, m := range msgs {
		if o := out[m.idx]; o != nil {
			l := o.first.Time.Sub(m.sentAt)
			if len(c.latencies) == 0 || l > slices.Max(c.latencies) {
				c.slowest = fmt.Sprintf("%q sent at %s, answered at %s", m.text, s.since(m.sentAt), s.since(o.first.Time))
			}
			c.latencies = append(c.latencies, l)
		}
		if out[m.idx] == nil {
			fail("chat %d: message %d %q (update %d, sent at %s) was never answered", ch.id, m.idx, m.text, m.update, s.when(m.sentAt))
			suspect(m)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			a, b := msgs[order[i-1]], msgs[order[i]]
			fail("chat %d: out of order: %q answered (at %s) before %q (at %s)", ch.id, a.text, s.when(out[a.idx].first.Time), b.text, s.when(out[b.idx].first.Time))
			suspect(a)
			suspect(b)
		}
	}

	// The history: the agent saw one more turn per answered message. A
	// dropped message may have left its turn in the history (recorded, then
	// the process died before the send), so after drops the count may be
	// ahead by as many.
	prev, dropsSince := -1, 0
	for _, m := range msgs {
		o := out[m.idx]
		if o == nil {
			continue
		}
		if o.kind == "dropped" {
			dropsSince++
			continue
		}
		want := min(prev+1, historyTurns)
		if o.turn < want || o.turn > min(want+dropsSince, historyTurns) {
			if prev < 0 {
				fail("chat %d: the first answer (%q) saw %d earlier turns, want 0", ch.id, o.first.Text, o.turn)
			} else {
				fail("chat %d: history inconsistent: %q saw %d earlier turns, the answer before saw %d (%d drops between)", ch.id, o.first.Text, o.turn, prev, dropsSince)
			}
			suspect(m)
		}
		prev, dropsSince = o.turn, 0
	}
}

// repeat checks a second answer to a message: the same text (a resumed or
// repeated turn adds no turn to the history), and a first copy that was on
// the wire when a SIGKILL struck.
func (s *soak) repeat(ch *chat, m injected, o *outcome, sm fakebot.SentMessage, kills, abandons []time.Time, c *counts, fail func(string, ...any), suspect func(injected)) {
	o.repeats = append(o.repeats, sm)
	if strings.HasPrefix(sm.Text, apologyPrefix) && o.kind == "answer" {
		// The answer went out as a SIGKILL struck; the next process, not
		// knowing, started the turn once more than MaxAttempts allows and
		// apologised instead of answering again: the same unavoidable
		// case as a repeated answer, in another form.
		if d, ok := s.onTheWire(kills, o.first.Time); ok {
			c.answeredThenDropped++
			c.repeatDs = append(c.repeatDs, d)
			s.rep.sayf("soak: chat %d: %q answered (at %s, on the wire at a SIGKILL), then dropped with an apology by the next process (at %s)", ch.id, m.text, s.when(o.first.Time), s.when(sm.Time))
			return
		}
		why := "though the answer was not on the wire at a SIGKILL"
		if ad, ok := s.onTheWire(abandons, o.first.Time); ok {
			why = fmt.Sprintf("the answer was on the wire when a drain timed out at %s and cancelled the send (no SIGKILL)", s.when(o.first.Time.Add(ad)))
		}
		fail("chat %d: %q answered (at %s), then dropped with an apology (at %s): %s", ch.id, m.text, s.when(o.first.Time), s.when(sm.Time), why)
		suspect(m)
		return
	}
	if o.kind == "dropped" && !strings.HasPrefix(sm.Text, apologyPrefix) {
		// The same case in the other order: the answer left a process that
		// a SIGKILL then struck, slowed enough that the next process's
		// apology reached the fake first.
		if d, ok := s.lateOnTheWire(kills, sm.Time); ok {
			c.answeredThenDropped++
			c.repeatDs = append(c.repeatDs, d)
			s.rep.sayf("soak: chat %d: %q dropped with an apology (at %s) by the process after a SIGKILL, then the answer that was on the wire at it, slowed by tg-slow, reached the fake (at %s)", ch.id, m.text, s.when(o.first.Time), s.when(sm.Time))
			return
		}
	}
	c.repeats++
	if sm.Text != o.first.Text {
		fail("chat %d: %q answered twice, differently: %q at %s, then %q at %s", ch.id, m.text, o.first.Text, s.when(o.first.Time), sm.Text, s.when(sm.Time))
		suspect(m)
	}
	// The copy before this one was the one on the wire.
	prev := o.first
	if len(o.repeats) > 1 {
		prev = o.repeats[len(o.repeats)-2]
	}
	d, ok := s.onTheWire(kills, prev.Time)
	if !ok {
		// Or this copy was: slowed by a tg-slow fault, the copy that left
		// the killed process reaches the fake after the next process's
		// answer (the fake, like Telegram, carries out a request that
		// arrived whole even if its client is gone).
		if ld, late := s.lateOnTheWire(kills, sm.Time); late {
			c.repeatDs = append(c.repeatDs, ld)
			s.rep.sayf("soak: chat %d: %q answered (at %s) by the process after a SIGKILL, then the answer that was on the wire at it, slowed by tg-slow, reached the fake (at %s)", ch.id, m.text, s.when(prev.Time), s.when(sm.Time))
			return
		}
		if ad, ok := s.onTheWire(abandons, prev.Time); ok {
			// Not a SIGKILL: a planned stop whose drain timed out cancelled
			// a send that had already reached Telegram.
			fail("chat %d: %q (update %d) answered again at %s: its earlier answer (recorded by the fake at %s) was on the wire when a drain timed out at %s and cancelled the send (gateway.drain_timeout, no SIGKILL): the next process sent it again",
				ch.id, m.text, m.update, s.when(sm.Time), s.when(prev.Time), s.when(prev.Time.Add(ad)))
			suspect(m)
			return
		}
		k, kd, found := nearestKill(kills, prev.Time)
		near := "no SIGKILL at all"
		if found {
			near = fmt.Sprintf("nearest SIGKILL at %s, %s after it", s.when(k), kd.Round(time.Microsecond))
		}
		fail("chat %d: %q (update %d) answered again at %s though its earlier answer (at %s) was not on the wire at a SIGKILL (%s)",
			ch.id, m.text, m.update, s.when(sm.Time), s.when(prev.Time), near)
		suspect(m)
		return
	}
	c.repeatDs = append(c.repeatDs, d)
}

// checkAdmin verifies the admin chat: every /restart answered Restarting…
// and followed by ✓ Back (unless a SIGKILL struck around it), and nothing
// else.
func (s *soak) checkAdmin(kills []time.Time, js []jentry, fail func(string, ...any)) (backs, lostAtKill int) {
	var notSaid []jentry // the gateway's own word that an announcement failed
	for _, e := range js {
		if strings.Contains(e.Message, "could not say we are back") {
			notSaid = append(notSaid, e)
		}
	}
	cmds := s.restartCmds()
	byID := map[int]restartCmd{}
	for _, c := range cmds {
		byID[c.msgID] = c
	}
	restarting := map[int][]fakebot.SentMessage{}
	back := map[int][]fakebot.SentMessage{}
	var alerts []fakebot.SentMessage
	for _, sm := range s.fake.Sent(adminID) {
		_, known := byID[sm.ReplyToMessageID]
		switch {
		case sm.Text == restartingTxt && known:
			restarting[sm.ReplyToMessageID] = append(restarting[sm.ReplyToMessageID], sm)
		case strings.HasPrefix(sm.Text, backPrefix) && known:
			back[sm.ReplyToMessageID] = append(back[sm.ReplyToMessageID], sm)
			if v := strings.TrimPrefix(sm.Text, backPrefix); !strings.HasPrefix(v, versionA+",") && !strings.HasPrefix(v, versionB+",") && v != versionA && v != versionB {
				fail("admin: unexpected ✓ Back text %q", sm.Text)
			}
		case strings.HasPrefix(sm.Text, "🚨"):
			// hermes-gateway-failed.service (OnFailure=): only for a
			// gateway that failed for good, which the campaign never
			// causes (the unit must end active, checked below).
			alerts = append(alerts, sm)
		default:
			fail("admin: unexpected message at %s: %q (reply to %d)", s.when(sm.Time), sm.Text, sm.ReplyToMessageID)
		}
	}
	if len(alerts) > 0 {
		s.alerts(alerts, js, fail)
	}
	for _, c := range cmds {
		rs := restarting[c.msgID]
		if len(rs) == 0 {
			fail("admin: /restart (message %d, update %d, sent at %s) never answered %q", c.msgID, c.update, s.when(c.at), restartingTxt)
			continue
		}
		for i := 1; i < len(rs); i++ {
			if _, ok := s.onTheWire(kills, rs[i-1].Time); !ok {
				fail("admin: /restart (message %d) answered %q again at %s though the earlier one (at %s) was not on the wire at a SIGKILL", c.msgID, restartingTxt, s.when(rs[i].Time), s.when(rs[i-1].Time))
			}
		}
		bs := back[c.msgID]
		backs += len(bs)
		if len(bs) > len(rs) {
			fail("admin: /restart (message %d) got %d ✓ Back for %d Restarting…", c.msgID, len(bs), len(rs))
		}
		if len(bs) == 0 {
			// A SIGKILL between Restarting… and the next process's
			// announcement loses it; a failed announcement, or anything
			// else, is a bug.
			var said []string
			for _, e := range notSaid {
				if d := e.At.Sub(rs[0].Time); d >= 0 && d <= 30*time.Second {
					said = append(said, e.String())
				}
			}
			lost := false
			for _, k := range kills {
				if d := k.Sub(rs[0].Time); d >= -onWireAfter && d <= 10*time.Second {
					lost = true
				}
			}
			switch {
			case len(said) > 0:
				fail("admin: /restart (message %d, update %d): Restarting… at %s, but never ✓ Back; the journal: %s; %s", c.msgID, c.update, s.when(rs[0].Time), strings.Join(said, " | "), s.faultsAround(rs[0].Time, 10*time.Second))
			case lost:
				lostAtKill++
				s.rep.sayf("soak: /restart (message %d): no ✓ Back, but a SIGKILL struck within 10 s of its Restarting… (at %s)", c.msgID, s.since(rs[0].Time))
			default:
				fail("admin: /restart (message %d, update %d): Restarting… at %s, but never ✓ Back (no SIGKILL near it); %s", c.msgID, c.update, s.when(rs[0].Time), s.faultsAround(rs[0].Time, 10*time.Second))
			}
		}
	}
	return backs, lostAtKill
}

// alerts reports failure alerts (one failure for all of them): each with
// systemd's lines that triggered it and the fault just before.
func (s *soak) alerts(alerts []fakebot.SentMessage, js []jentry, fail func(string, ...any)) {
	s.mu.Lock()
	faults := append([]faultRec(nil), s.faults...)
	s.mu.Unlock()
	causes := map[string]int{}
	var first string
	for i, a := range alerts {
		// The OnFailure= trigger just before the alert, and the unit's
		// lines in the second before it.
		var trig time.Time
		for _, e := range js {
			if strings.Contains(e.Message, "Triggering OnFailure=") && !e.At.After(a.Time) && a.Time.Sub(e.At) < 30*time.Second {
				trig = e.At
			}
		}
		var lines []string
		for _, e := range js {
			if !trig.IsZero() && e.Ident == "systemd" && !e.At.Before(trig.Add(-time.Second)) && !e.At.After(trig) && !strings.Contains(e.Message, "Killing process") {
				lines = append(lines, e.String())
			}
		}
		cause, kind := "no fault", "none"
		for _, f := range faults {
			if f.kind != fPacedStartCap && !f.at.After(trig) && trig.Sub(f.at) < 10*time.Second {
				cause, kind = f.kind+" ("+s.since(f.at)+": "+f.detail+")", f.kind
			}
		}
		causes[kind]++
		head, _, _ := strings.Cut(a.Text, "\n")
		line := fmt.Sprintf("%q at %s; the fault before: %s; systemd: %s", head, s.when(a.Time), cause, strings.Join(lines, " | "))
		s.rep.sayf("soak: failure alert %d: %s", i+1, line)
		if i == 0 {
			first = line
		}
	}
	fail("admin: %d failure alert(s) from hermes-gateway-failed.service, though the gateway never failed for good (the unit was restarted at once each time, and ends active); faults just before them: %v; the first: %s",
		len(alerts), causes, first)
}

// faultsAround lists the faults applied within d after t.
func (s *soak) faultsAround(t time.Time, d time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for _, f := range s.faults {
		if !f.at.Before(t.Add(-time.Second)) && !f.at.After(t.Add(d)) {
			parts = append(parts, fmt.Sprintf("%s %s %s", s.since(f.at), f.kind, f.detail))
		}
	}
	if len(parts) == 0 {
		return "no fault within " + d.String()
	}
	return "faults around it: " + strings.Join(parts, "; ")
}

// showJournal prints the journal lines about the suspect updates, and the
// lifecycle lines around them.
func (s *soak) showJournal(js []jentry, suspects []int64) {
	if len(suspects) == 0 {
		return
	}
	want := map[string]bool{}
	for _, id := range suspects {
		want[strconv.FormatInt(id, 10)] = true
	}
	var ids []string
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) > 20 {
		ids = ids[:20]
	}
	s.rep.sayf("soak: journal lines about updates %s (and lifecycle lines within 3 s of them):", strings.Join(ids, ", "))
	var times []time.Time
	for _, e := range js {
		if want[e.Fields["UPDATE_ID"]] {
			times = append(times, e.At)
		}
	}
	near := func(t time.Time) bool {
		for _, x := range times {
			if abs(t.Sub(x)) <= 3*time.Second {
				return true
			}
		}
		return false
	}
	shown := 0
	for _, e := range js {
		lifecycle := e.Fields["HERMES_EVENT"] != "" || e.Ident != "hermes-gateway"
		if want[e.Fields["UPDATE_ID"]] || (lifecycle && near(e.At)) {
			s.rep.sayf("soak:   %s", e)
			shown++
			if shown == 300 {
				s.rep.sayf("soak:   … (the journal file has the rest)")
				return
			}
		}
	}
}
