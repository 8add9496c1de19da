package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
)

// Figure 2: /restart from the chat. The admin's message goes in through the
// fake; the gateway answers "Restarting…", drains, exits 75; systemd starts
// it again after RestartSec=; the new process says "✓ Back". Timed from the
// injection to the fake receiving ✓ Back (the fake's own clock of the
// sendMessage call).

var downRE = regexp.MustCompile(`down (\d+) ms`)

func selfRestart(e *Env, r *Results, n int, say func(string)) error {
	// A different admin each run: the sender paces a chat to one message
	// a second, and the previous run's ✓ Back went out just now.
	admins := userIDs(tgAdmin, 20)
	fake, err := telegramSetup(e, fakebot.Options{}, admins, nil, "")
	if err != nil {
		return err
	}
	defer fake.Close()
	back := r.S("self.back", "/restart → ✓ Back at the Bot API", "ms")
	ack := r.S("self.ack", "/restart → \"Restarting…\" at the Bot API", "ms")
	down := r.S("self.down", "the down time ✓ Back reports", "ms")
	began := time.Now()
	for i := 0; i < n; i++ {
		e.resetFailed(units.Service)
		admin := admins[i%len(admins)]
		have := len(fake.Sent(admin))
		t0 := time.Now()
		fake.InjectMessage(fakebot.UserMessage{UserID: admin, Text: "/restart"})
		ctx, cancel := ctxT(30 * time.Second)
		msgs, err := fake.WaitForMessages(ctx, admin, have+2)
		cancel()
		if err != nil {
			r.Note("self", "run %d: %v", i+1, err)
			continue
		}
		a, b := msgs[have], msgs[have+1]
		if !strings.HasPrefix(b.Text, "✓ Back") {
			r.Note("self", "run %d: the second answer was %q, not ✓ Back", i+1, b.Text)
			continue
		}
		ack.AddDur(a.Time.Sub(t0))
		back.AddDur(b.Time.Sub(t0))
		if m := downRE.FindStringSubmatch(b.Text); m != nil {
			v, _ := strconv.Atoi(m[1])
			down.Add(float64(v))
		}
		if err := waitLongPoll(fake); err != nil {
			return err
		}
		settle()
		if (i+1)%10 == 0 {
			say(fmt.Sprintf("self restart %d/%d", i+1, n))
		}
	}
	ds, err := restartDelays(units.Service, began)
	if err != nil {
		r.Note("self", "journal: %v", err)
	}
	for _, d := range ds {
		r.S("self.timer", "exit 75 → the manager schedules the restart (journal)", "ms").AddDur(d)
	}
	return nil
}
