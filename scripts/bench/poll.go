package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/telegram"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
)

// Figure 8: the Telegram poller against a Bot API that misbehaves.
//
// Conflict: the fake answers every getUpdates 409 for conflictLen, starting
// with the long poll waiting at that moment, as when another instance
// polls with the same token or the previous process's long poll is still
// held; a message is sent as it starts. Timed from the end of the conflict
// to the fake recording the answer. Halfway through, the gateway's status
// (/v1/status and systemd's STATUS=) is read, and afterwards its journal,
// for what they say.
//
// No hold: for noHoldLen the fake answers getUpdates at once, empty when
// nothing is pending (a proxy or an emulator that does not hold long
// polls); the getUpdates calls are counted each second. Meanwhile a
// message every second, timed to its answer: what the poller's wait
// between such polls costs.

const conflictLen = 5 * time.Second

// pollTimeout is the gateway's poll_timeout in every phase that talks to
// the fake (telegramSetup writes it into the config).
const pollTimeout = 2 * time.Second

func pollPhase(e *Env, r *Results, c Counts, say func(string)) error {
	users := userIDs(7001, c.ConflictRuns+int(c.NoHold/time.Second))
	fake, err := telegramSetup(e, fakebot.Options{}, nil, users, "")
	if err != nil {
		return err
	}
	defer fake.Close()
	r.SetInfo("poll.defaults", "The poller's defaults: a 409 is retried after %s, doubling with every 409 in a row up to %s; an empty getUpdates that came back sooner than %s after it was sent is followed by the rest of that wait",
		telegram.DefaultConflictRetryMin, telegram.DefaultConflictRetryMax, telegram.DefaultMinPollInterval)
	if err := conflicts(e, r, fake, users[:c.ConflictRuns], say); err != nil {
		return err
	}
	return noHold(r, fake, users[c.ConflictRuns:], c.NoHold)
}

func conflicts(e *Env, r *Results, fake *fakebot.Server, users []int64, say func(string)) error {
	recovery := r.S("poll.conflict.recovery", fmt.Sprintf("end of a %s conflict → the answer at the Bot API", conflictLen), "ms")
	calls := r.S("poll.conflict.calls", "getUpdates calls during the conflict (each answered 409)", "")
	began := time.Now()
	client := control.NewClient(e.ControlSocket())
	seen := map[string]int{} // what the status said halfway, and how often
	for i, u := range users {
		if err := waitLongPoll(fake); err != nil {
			return err
		}
		have := len(fake.Sent(u))
		before := fake.Calls("getUpdates")
		end := fake.ConflictFor(conflictLen)
		fake.InjectMessage(fakebot.UserMessage{UserID: u, Text: fmt.Sprintf("sent during conflict %d", i+1)})

		time.Sleep(time.Until(end.Add(-conflictLen / 2)))
		seen[statusNow(client)]++
		time.Sleep(time.Until(end))
		calls.Add(float64(fake.Calls("getUpdates") - before))

		ctx, cancel := ctxT(conflictLen + time.Minute)
		msgs, err := fake.WaitForMessages(ctx, u, have+1)
		cancel()
		if err != nil {
			r.Note("poll", "conflict %d: no answer: %v", i+1, err)
			continue
		}
		recovery.AddDur(msgs[have].Time.Sub(end))
		say(fmt.Sprintf("conflict %d/%d: answered %.0f ms after its end", i+1, len(users), ms(msgs[have].Time.Sub(end))))
		settle()
	}
	var said []string
	for s, n := range seen {
		said = append(said, fmt.Sprintf("%s (%d of %d conflicts)", s, n, len(users)))
	}
	r.SetInfo("poll.conflict.status", "%s", strings.Join(said, "; "))
	js, err := readJournal(units.Service, began)
	if err != nil {
		r.Note("poll", "journal: %v", err)
		return nil
	}
	n, example := 0, ""
	for _, j := range js {
		if j.Event == "platform_conflict" {
			n++
			example = j.Msg
		}
	}
	r.SetInfo("poll.conflict.journal", "%d `platform_conflict` entries for %d conflicts (the last: %q)", n, len(users), example)
	return nil
}

// statusNow is what the gateway says about Telegram right now: its
// /v1/status platform state and detail, and systemd's STATUS= text.
func statusNow(c *control.Client) string {
	ctx, cancel := ctxT(5 * time.Second)
	defer cancel()
	platform := "no answer"
	if st, err := c.Status(ctx); err == nil {
		for _, p := range st.Platforms {
			if p.Name == "telegram" {
				platform = fmt.Sprintf("`%s`: %s", p.State, p.Detail)
			}
		}
	}
	sd, _ := systemctl("show", "-p", "StatusText", "--value", units.Service)
	return fmt.Sprintf("/v1/status %s, STATUS=%q", platform, strings.TrimSpace(sd))
}

func noHold(r *Results, fake *fakebot.Server, users []int64, window time.Duration) error {
	polls := r.S("poll.nohold.rate", "getUpdates calls per second, the server not holding long polls (no messages)", "/s")
	rt := r.S("poll.nohold.rt", "then: message → answer at the Bot API, the server still not holding", "ms")
	if err := waitLongPoll(fake); err != nil {
		return err
	}
	// The long poll waiting now was held; the window starts with the
	// first call after it, the first that is answered at once.
	before := fake.Calls("getUpdates")
	fake.NoLongPollsFor(pollTimeout + 2*window + 10*time.Second)
	defer fake.ClearFaults()
	ctx, cancel := ctxT(pollTimeout + 5*time.Second)
	err := fake.WaitForCalls(ctx, "getUpdates", before+1)
	cancel()
	if err != nil {
		return fmt.Errorf("no getUpdates after the held one: %w", err)
	}
	// Nothing to fetch: how often does it ask? Counted each second from
	// half a second after that call, so that calls a second apart do not
	// fall on the edges of the count.
	time.Sleep(time.Second / 2)
	next, last := time.Now(), fake.Calls("getUpdates")
	for range int(window / time.Second) {
		next = next.Add(time.Second)
		time.Sleep(time.Until(next))
		n := fake.Calls("getUpdates")
		polls.Add(float64(n - last))
		last = n
	}
	// And what it costs a message: one a second, each at a random point
	// of the poller's wait, from a chat of its own.
	for i := range int(window / time.Second) {
		u := users[i%len(users)]
		time.Sleep(rand.N(time.Second))
		have := len(fake.Sent(u))
		t0 := time.Now()
		fake.InjectMessage(fakebot.UserMessage{UserID: u, Text: "while the server does not hold"})
		ctx, cancel := ctxT(10 * time.Second)
		msgs, err := fake.WaitForMessages(ctx, u, have+1)
		cancel()
		if err != nil {
			r.Note("poll", "no hold: a message was not answered: %v", err)
			continue
		}
		rt.AddDur(msgs[have].Time.Sub(t0))
	}
	return nil
}
