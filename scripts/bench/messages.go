package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/pkg/store"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
)

// Figure 6: messages through the fake and the echo agent.
//
// Round trip: one message at a time, from chats taken in turn (each chat
// again only after 10 s, the global pace kept under the sender's 30/s), from
// the injection to the fake recording the reply; and to the update being
// confirmed to the Bot API, which the gateway does only once it is in the
// store (fsynced).
//
// Throughput: many chats, each writing once a second (the rate Telegram and
// the sender allow a chat), offered at a fixed rate for a while; the rate
// at which the fake's confirmed offset moves is the rate of updates durably
// received. Replies are limited to 30 a second over all chats by the
// sender (Telegram's global bot limit) and are reported beside it.

const (
	rtChats      = 200
	rtPace       = 50 * time.Millisecond
	tputChats    = 2000
	tputPerChat  = time.Second // each chat writes once a second
	tputWarmup   = time.Second
	tputInterval = time.Second
	burstPerChat = 10
)

func messages(e *Env, r *Results, c Counts, say func(string)) error {
	if err := roundTrips(e, r, c.RoundTrips, say); err != nil {
		return err
	}
	return throughput(e, r, c.Throughput, say)
}

func roundTrips(e *Env, r *Results, n int, say func(string)) error {
	users := userIDs(3001, rtChats)
	// Matrix too, in the same gateway, message for message in turn with
	// Telegram: the two figures come from the same run.
	mx, mxConfig, err := startMatrix(e)
	if err != nil {
		r.Note("messages", "Matrix round trips not measured: Dendrite did not start: %v", err)
		mx = nil
	} else {
		defer mx.Close()
	}
	fake, err := telegramSetup(e, fakebot.Options{}, nil, users, mxConfig)
	if err != nil {
		return err
	}
	defer fake.Close()
	if mx != nil {
		if err := mx.openRooms(); err != nil {
			r.Note("messages", "Matrix round trips not measured: %v", err)
			mx.Close()
			mx = nil
		}
	}
	rt := r.S("msg.rt", "injection → reply at the Bot API", "ms")
	conf := r.S("msg.confirmed", "injection → update confirmed (stored, then acknowledged)", "ms")
	mxrt := r.S("msg.mx.rt", fmt.Sprintf("Matrix: sent → answer in the person's /sync (Dendrite on loopback, %d rooms in turn)", mxRooms), "ms")
	sent := map[int64]int{}
	next := time.Now()
	for i := 0; i < n; i++ {
		time.Sleep(time.Until(next))
		next = next.Add(rtPace)
		u := users[i%len(users)]
		t0 := time.Now()
		id := fake.InjectMessage(fakebot.UserMessage{UserID: u, Text: fmt.Sprintf("round trip %d", i)})
		ctx, cancel := ctxT(30 * time.Second)
		if err := fake.WaitForConfirmed(ctx, id); err == nil {
			conf.AddDur(time.Since(t0))
		}
		msgs, err := fake.WaitForMessages(ctx, u, sent[u]+1)
		cancel()
		if err != nil {
			r.Note("messages", "round trip %d: %v", i, err)
			continue
		}
		sent[u] = len(msgs)
		rt.AddDur(msgs[len(msgs)-1].Time.Sub(t0))
		if mx != nil {
			d, err := mx.roundTrip(i, fmt.Sprintf("mx round trip %d", i))
			if err != nil {
				r.Note("messages", "Matrix round trip %d: %v", i, err)
			} else {
				mxrt.AddDur(d)
			}
		}
		if (i+1)%100 == 0 {
			say(fmt.Sprintf("round trip %d/%d", i+1, n))
		}
	}
	syncsPerAnswer(e, r, fake, users, sent)
	return nil
}

// syncsPerAnswer counts, with strace attached to the gateway (after the
// round trips: ptrace slows it down), the fdatasync/fsync calls of lone
// messages answered one at a time: what one answered message costs the
// disk when no other chat's writes share its transactions. A bbolt commit
// is two fdatasyncs (the pages, then the meta page), so half the count is
// the store's transactions. The count is over everything the gateway
// synced meanwhile (the Matrix adapter's /sync cursor included), with a
// pause after the last answer so that a write waiting for company (the
// finish) is counted too.
func syncsPerAnswer(e *Env, r *Results, fake *fakebot.Server, users []int64, sent map[int64]int) {
	stop, ok := traceCalls(e, "strace-answer.txt", "fdatasync,fsync")
	if !ok {
		return
	}
	const n = 100
	answered := 0
	for i := 0; i < n; i++ {
		u := users[i%len(users)]
		fake.InjectMessage(fakebot.UserMessage{UserID: u, Text: fmt.Sprintf("traced %d", i)})
		ctx, cancel := ctxT(30 * time.Second)
		msgs, err := fake.WaitForMessages(ctx, u, sent[u]+1)
		cancel()
		if err != nil {
			continue
		}
		sent[u] = len(msgs)
		answered++
	}
	time.Sleep(2 * time.Second) // a write waiting for company is committed alone within 1 s
	calls := stop()
	if answered == 0 {
		return
	}
	syncs := calls["fdatasync"] + calls["fsync"]
	r.SetInfo("msg.answersyncs", "%d lone messages answered one at a time cost %d fdatasync and %d fsync calls: %.2f per answered message, about %.2f store transactions (two syncs each), strace -f -c on the gateway",
		answered, calls["fdatasync"], calls["fsync"], float64(syncs)/float64(answered), float64(syncs)/2/float64(answered))
}

func throughput(e *Env, r *Results, d time.Duration, say func(string)) error {
	users := userIDs(100001, tputChats)
	fake, err := telegramSetup(e, fakebot.Options{}, nil, users, "")
	if err != nil {
		return err
	}
	defer func() {
		// Thousands of answers are still owed (30 a second): stop the
		// gateway (the fake still up, so the turns in flight finish) and
		// start the next phase from an empty store.
		e.stop(units.Service)
		fake.Close()
		os.Remove(filepath.Join(e.StateDir, store.FileName))
		os.Remove(filepath.Join(e.StateDir, "sent.log"))
	}()
	rate := r.S("msg.tput", fmt.Sprintf("updates durably confirmed per second (%d chats, each writing once a second)", tputChats), "/s")
	replies := r.S("msg.replies", "replies per second meanwhile (paced by the sender to Telegram's global limit)", "/s")
	lag := r.S("msg.lag", "injected but not yet confirmed, sampled each second", "")

	// The injector: one message every tputPerChat/tputChats, chats in turn,
	// so each chat writes once a second.
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		every := tputPerChat / tputChats
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		start, sentN := time.Now(), 0
		for {
			select {
			case <-stop:
				done <- sentN
				return
			case <-tick.C:
			}
			// Keep to the schedule whatever the ticker delivers.
			for due := int(time.Since(start) / every); sentN < due; sentN++ {
				fake.InjectMessage(fakebot.UserMessage{UserID: users[sentN%len(users)], Text: "tput"})
			}
		}
	}()
	first := fake.Stats().NextUpdateID
	time.Sleep(tputWarmup)
	st := fake.Stats()
	prevConf, prevSent, prevT := st.ConfirmedOffset, st.SentMessages, time.Now()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		time.Sleep(tputInterval)
		st = fake.Stats()
		now := time.Now()
		secs := now.Sub(prevT).Seconds()
		rate.Add(float64(st.ConfirmedOffset-prevConf) / secs)
		replies.Add(float64(st.SentMessages-prevSent) / secs)
		lag.Add(float64(st.NextUpdateID - max(st.ConfirmedOffset, first)))
		prevConf, prevSent, prevT = st.ConfirmedOffset, st.SentMessages, now
	}
	close(stop)
	injected := <-done
	r.SetInfo("msg.tput.offered", "%.0f", float64(time.Second)/float64(tputPerChat/tputChats))
	r.SetInfo("msg.tput.injected", "%d", injected)
	say(fmt.Sprintf("throughput: median %.0f updates/s confirmed, %.0f replies/s", rate.Median(), replies.Median()))

	// Let it catch up, then the capacity: a backlog injected at once (10
	// updates from each chat), timed until the last one is confirmed.
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	if err := fake.WaitForConfirmed(ctx, fake.Stats().NextUpdateID-1); err != nil {
		return fmt.Errorf("the gateway did not catch up with the offered load within 60 s: %w", err)
	}
	t0 := time.Now()
	last := 0
	for k := 0; k < burstPerChat; k++ {
		for _, u := range users {
			last = fake.InjectMessage(fakebot.UserMessage{UserID: u, Text: "burst"})
		}
	}
	injectedIn := time.Since(t0)
	if err := fake.WaitForConfirmed(ctx, last); err != nil {
		return fmt.Errorf("the backlog was not confirmed within 60 s: %w", err)
	}
	took := time.Since(t0)
	n := burstPerChat * len(users)
	r.S("msg.burst", fmt.Sprintf("a backlog of %d updates (%d from each chat): confirmed per second", n, burstPerChat), "/s").Add(float64(n) / took.Seconds())
	r.SetInfo("msg.burst", "%d updates injected in %.0f ms, all confirmed after %.0f ms", n, ms(injectedIn), ms(took))
	say(fmt.Sprintf("backlog of %d confirmed in %.0f ms", n, ms(took)))
	syncsPerUpdate(e, r, fake, users)
	return nil
}

// syncsPerUpdate counts, with strace attached to the gateway (after the
// figures: ptrace slows it down), the fdatasync/fsync calls that a backlog
// of updates costs: what bounds the rate at which updates are durably
// received.
func syncsPerUpdate(e *Env, r *Results, fake *fakebot.Server, users []int64) {
	stop, ok := traceCalls(e, "strace-ingest.txt", "fdatasync,fsync,pwrite64")
	if !ok {
		return
	}
	const n = 2000
	last := 0
	for i := 0; i < n; i++ {
		last = fake.InjectMessage(fakebot.UserMessage{UserID: users[i%len(users)], Text: "traced"})
	}
	ctx, cancel := ctxT(60 * time.Second)
	err := fake.WaitForConfirmed(ctx, last)
	cancel()
	calls := stop()
	if err != nil {
		return
	}
	// The router keeps answering meanwhile (30 a second, 3 transactions
	// each); the count is over everything the gateway synced.
	r.SetInfo("msg.syncs", "%d updates cost %d fdatasync and %d fsync calls (%.2f per update) and %d pwrite64 calls, strace -f -c on the gateway",
		n, calls["fdatasync"], calls["fsync"], float64(calls["fdatasync"]+calls["fsync"])/n, calls["pwrite64"])
}

// traceCalls attaches strace to the gateway's main process, counting the
// given system calls (strace -f -c); stop detaches it and returns the
// count of each. ok is false when strace is missing or cannot attach: the
// figure is then left out.
func traceCalls(e *Env, file, calls string) (stop func() map[string]int, ok bool) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		return nil, false
	}
	pid := e.mainPID(units.Service)
	out := filepath.Join(e.Work, file)
	cmd := exec.Command(strace, "-f", "-c", "-o", out, "-e", "trace="+calls, "-p", strconv.Itoa(pid))
	if err := cmd.Start(); err != nil {
		return nil, false
	}
	time.Sleep(500 * time.Millisecond) // attached to every thread
	return func() map[string]int {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		b, _ := os.ReadFile(out)
		counts := map[string]int{}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) >= 5 {
				if c, err := strconv.Atoi(f[3]); err == nil {
					counts[f[len(f)-1]] = c
				}
			}
		}
		return counts
	}, true
}
