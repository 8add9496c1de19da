package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
)

// Figure 5: the gateway's resident memory (VmRSS in /proc/PID/status),
// idle on the embedded defaults, idle with Telegram connected, and the
// peak (VmHWM, the kernel's high-water mark, plus our own sampling) while
// 100 chats talk at once through the fake.

const loadChats = 100

// sampleRSS samples pid's RSS every rssSampleEvery until the returned
// stop is called, which returns the highest sample (MiB).
func sampleRSS(pid int) (stop func() float64) {
	var peak float64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(rssSampleEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if rss, _, err := procMem(pid); err == nil && rss > peak {
					peak = rss
				}
			}
		}
	}()
	return func() float64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// procMem reads VmRSS and VmHWM of pid, in MiB.
func procMem(pid int) (rss, hwm float64, err error) {
	m, err := procStatus(pid)
	return m["VmRSS"], m["VmHWM"], err
}

// procStatus reads the memory lines (kB) of /proc/PID/status, in MiB.
func procStatus(pid int) (map[string]float64, error) {
	out := map[string]float64{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, _ := strconv.ParseFloat(f[0], 64)
		out[k] = kb / 1024
	}
	return out, sc.Err()
}

// idleRSS waits for the gateway to settle after a start, then reads its
// RSS.
func idleRSS(e *Env) (float64, int, error) {
	time.Sleep(idleAfter)
	pid := e.mainPID(units.Service)
	rss, _, err := procMem(pid)
	return rss, pid, err
}

func memory(e *Env, r *Results, n int, say func(string)) error {
	idleDefault := r.S("mem.idle.default", "idle, embedded defaults (no platform)", "MiB")
	idleTG := r.S("mem.idle.telegram", "idle, Telegram connected (long-polling the fake)", "MiB")
	peak := r.S("mem.load.peak", fmt.Sprintf("peak while %d chats talk at once (VmHWM)", loadChats), "MiB")
	after := r.S("mem.load.after", "right after the load", "MiB")
	users := userIDs(2001, loadChats)
	if err := e.ensureMain(); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		// The defaults first, then Telegram: alternating with each run.
		if err := e.writeConfig("# benchmarks: the embedded defaults\n"); err != nil {
			return err
		}
		if err := e.restartMain(); err != nil {
			return err
		}
		if v, _, err := idleRSS(e); err == nil {
			idleDefault.Add(v)
		}

		fake, err := telegramSetup(e, fakebot.Options{}, nil, users, "")
		if err != nil {
			return err
		}
		v, pid, err := idleRSS(e)
		if err != nil {
			fake.Close()
			return err
		}
		idleTG.Add(v)

		// 100 chats at once: one message from each, injected together,
		// until all 100 are answered (the sender's global 30/s pacing
		// makes that take a few seconds); RSS sampled meanwhile.
		stopSampling := sampleRSS(pid)
		var inj sync.WaitGroup
		for _, u := range users {
			inj.Add(1)
			go func() {
				defer inj.Done()
				fake.InjectMessage(fakebot.UserMessage{UserID: u, Text: fmt.Sprintf("hello from chat %d, run %d", u, i)})
			}()
		}
		inj.Wait()
		ctx, cancel := ctxT(60 * time.Second)
		for _, u := range users {
			if _, err := fake.WaitForMessages(ctx, u, 1); err != nil {
				missing := 0
				for _, u := range users {
					if len(fake.Sent(u)) == 0 {
						missing++
					}
				}
				r.Note("memory", "run %d: %d of %d chats not answered within 60 s (%v)", i+1, missing, len(users), err)
				debugJournal(r, "memory")
				break
			}
		}
		cancel()
		sampled := stopSampling()
		rss, hwm, err := procMem(pid)
		fake.Close()
		if err != nil {
			return err
		}
		peak.Add(max(hwm, sampled))
		after.Add(rss)
		say(fmt.Sprintf("memory run %d/%d: idle %.1f MiB, peak %.1f MiB", i+1, n, v, max(hwm, sampled)))
	}
	return e.writeConfig("# benchmarks: the embedded defaults\n")
}
