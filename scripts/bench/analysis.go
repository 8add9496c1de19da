package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/telegram"
)

// What the figures mean. Every number in these texts is computed from this
// run's results, read from what the run installed (Facts), formatted from
// the constant that made the benchmark do what it did, or quoted from
// systemd's source with the file, the function and the version (the
// citations below). Nothing here repeats a figure seen in an earlier run:
// a sentence that needs one is dropped when the run did not measure it.
// explain goes under a section; analysis under the targets table, for a
// target this run missed.

// systemd's restart timer, as its source has it. Quoted from systemd 252
// (the version the benchmarks were written on); the report says which
// version the run had.
const (
	sdCitedVersion = "252"
	// sdDefaultAccuracy is sd-event's DEFAULT_ACCURACY_USEC
	// (src/libsystemd/sd-event/sd-event.c), what an accuracy of 0 selects
	// (sd_event_add_time(3): "Specify 0 for selecting the default accuracy
	// (250ms)").
	sdDefaultAccuracy = 250 * time.Millisecond
)

func med(r *Results, key string) float64 { return r.Get(key).Median() }

func f(v float64) string { return num(v) }

func known(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) {
			return false
		}
	}
	return true
}

// timerCitation is the source of the restart timer's coalescing, with the
// run's systemd version beside the cited one.
func timerCitation(m Machine) string {
	s := fmt.Sprintf("systemd %s's `service_arm_timer()` (src/core/service.c) arms the restart timer with `sd_event_add_time(…, CLOCK_MONOTONIC, now + RestartSec, 0, …)`; an accuracy of 0 selects sd-event's `DEFAULT_ACCURACY_USEC`, %s (src/libsystemd/sd-event/sd-event.c; sd_event_add_time(3): \"Specify 0 for selecting the default accuracy (250ms)\"), and `sleep_between()` in the same file wakes the loop at a point of that window shared by the whole system (a per-boot offset, then 10 s, 1 s and 250 ms steps) to coalesce wake-ups. So the restart may come anywhere from RestartSec= to RestartSec= + %s after the exit. (`DefaultTimerAccuracySec=` of systemd-system.conf(5) is the default `AccuracySec=` of .timer units and `TimerSlackNSec=` of systemd.exec(5) the kernel timer slack of the processes a unit starts; neither governs this timer.)",
		sdCitedVersion, sdDefaultAccuracy, sdDefaultAccuracy)
	if !strings.HasPrefix(m.Systemd, "systemd "+sdCitedVersion+" ") && m.Systemd != "systemd "+sdCitedVersion {
		s += fmt.Sprintf(" This run had %s: the source quoted is %s's, not checked against it.", or(m.Systemd, "an unknown systemd"), sdCitedVersion)
	}
	return s
}

func (rp *report) explain(key string) string {
	r, fa := rp.r, rp.f
	switch key {
	case "restart.idle":
		job, floor, plain := med(r, "restart.hermes.job"), med(r, "restart.floor.job"), med(r, "restart.floorplain.job")
		er, fr := med(r, "restart.hermes.execready"), med(r, "restart.floor.execready")
		if !known(job, floor, er, fr) {
			return ""
		}
		s := fmt.Sprintf("**Where a restart goes** (medians). The restart job of hermes takes %s ms against the floor's %s ms. Its new process takes %s ms from fork to READY=1 against the floor's %s ms (both set up the same sandbox before exec; the gateway then reads its config, opens and checks the store, adopts its listeners and builds the router).", f(job), f(floor), f(er), f(fr))
		if stop := med(r, "restart.hermes.sd.stop"); known(stop) {
			s += fmt.Sprintf(" Its stop (SIGTERM, the drain, the exit, the reaping) takes %s ms against the floor's %s ms.", f(stop), f(med(r, "restart.floor.sd.stop")))
		}
		s += " Where the rest goes:\n\n"
		if hb, fb := med(r, "restart.hermes.sd.between"), med(r, "restart.floor.sd.between"); known(hb, fb) {
			s += fmt.Sprintf("- *between*: %s ms for hermes and %s ms for the floor, which does nothing in it: the manager creates the new cgroup, forks, and moves the child into the cgroup before it logs `Starting…`.\n", f(hb), f(fb))
		}
		if known(plain) {
			s += fmt.Sprintf("- the sandboxing directives of `hermes-gateway.service` (ProtectSystem=, PrivateDevices=, the seccomp filter, …): the floor restarts in %s ms with them and %s ms without; systemd sets them up in the child before exec, so every start pays for them.", f(floor), f(plain))
			if len(fa.SandboxOff) > 0 {
				s += fmt.Sprintf(" The sandbox's drop-in sets %s, so a normal machine sets up more of them than this one.", "`"+strings.Join(fa.SandboxOff, "`, `")+"`")
			}
			s += "\n"
		}
		if cli, ready := med(r, "restart.cli.wall"), med(r, "restart.cli.ready"); known(cli, ready) && ready >= job && cli >= ready {
			// Medians of different runs: only a breakdown when they
			// are in order.
			s += fmt.Sprintf("- the command around the job: `hermes gateway restart` takes %s ms from exec to exit and the new process is READY %s ms after the exec, so %s ms go before or beside the job (the command's own start, its D-Bus connection, reading the unit, asking the gateway for its in-flight count) and %s ms after READY (reading the unit again, asking the new process for its version).\n",
				f(cli), f(ready), f(ready-job), f(cli-ready))
		}
		return s
	case "restart.probe":
		ref, refA := r.Get("restart.cli.probe.refused"), r.Get("restart.ownsock.probe.refused")
		if ref.N() == 0 {
			return ""
		}
		s := "**What a client sees.** "
		if ref.Sum() == 0 && r.Get("restart.floor.probe.refused").Sum() == 0 {
			s += fmt.Sprintf("Behind the socket units nobody was refused in %d restarts: while no process serves, connections wait in the socket's backlog, which systemd holds", ref.N())
		} else {
			s += fmt.Sprintf("Behind the socket units %s connections were refused over %d restarts (see the remarks for the errors); otherwise they wait in the socket's backlog, which systemd holds", num(ref.Sum()), ref.N())
		}
		s += fmt.Sprintf(". The longest request: %s ms (median), against a restart job of %s ms (idle, median); the old process stops serving at STOPPING=1, the new one serves from READY=1 (see the timeline).",
			f(med(r, "restart.cli.probe.stall")), f(med(r, "restart.hermes.job")))
		if refA.N() > 0 {
			s += fmt.Sprintf(" Baseline (a) refuses %s connections per restart (median) while its socket is gone, and resets what the old process had accepted but not served (the failed requests).", f(refA.Median()))
		}
		if g := r.Get("restart.field.gap"); g.N() > 0 {
			s += fmt.Sprintf(" Baseline (b) leaves its client without an answer for %s ms (median) with RestartSec=%s.", f(g.Median()), fieldRestartSec)
		}
		if self, job := med(r, "restart.self.serve"), med(r, "restart.hermes.job"); known(self, job) && self > job {
			s += fmt.Sprintf(" hermes's own self restart (exit 75) takes %s ms from asking to an answer (median), longer than its restart job: RestartSec=, see section 2.", f(self))
		}
		return s
	case "self":
		timer, back := r.Get("self.timer"), med(r, "self.back")
		if timer.N() == 0 || !known(back) {
			return ""
		}
		s := fmt.Sprintf("**RestartSec=%s is not what systemd waits.** Here the journal puts `exit 75` → `Scheduled restart job` at %s ms (median; from %s to %s ms over %d restarts), of the %s ms from `/restart` to ✓ Back (median); the rest is the drain and the update's confirmation, the start (%s ms from the manager's `Stopped` to its `Started`, medians of section 1), getMe and the send. Why: %s",
			or(fa.RestartSec, "?"), f(timer.Median()), f(timer.Min()), f(timer.Max()), timer.N(), f(back),
			f(med(r, "restart.hermes.sd.between")+med(r, "restart.hermes.sd.start")), timerCitation(rp.m))
		if fa.RestartSecDur > 0 {
			s += fmt.Sprintf(" With RestartSec=%s: %s to %s ms.", fa.RestartSec, f(ms(fa.RestartSecDur)), f(ms(fa.RestartSecDur+sdDefaultAccuracy)))
		}
		s += fmt.Sprintf(" The benchmark pauses %s plus up to %s (random) between runs, so the runs fall on different points of that window.", settleMin, settleSpread)
		rs0t, rs0s, selfs := med(r, "restart.rs0.timer"), med(r, "restart.rs0.serve"), med(r, "restart.self.serve")
		if known(rs0t, rs0s, selfs) {
			s += fmt.Sprintf(" A timer already due fires at once: with RestartSec=0 (the variant of section 1, same run) the manager schedules the restart %s ms after the exit and a client gets its answer %s ms after asking for the restart (median), against %s ms with RestartSec=%s. **RestartSec=0 would take %s ms off every planned restart** (the difference of those medians), at a price: a crash loop would reach the start limit (StartLimitBurst=%s in StartLimitIntervalSec=%s) sooner, after %s restarts of about %s ms each. Not changed here (the unit is product code).",
				f(rs0t), f(rs0s), f(selfs), or(fa.RestartSec, "?"), f(selfs-rs0s), or(fa.StartLimitBurst, "?"), or(fa.StartLimitInterval, "?"), or(fa.StartLimitBurst, "?"), f(rs0s))
		}
		return s
	case "update":
		st, sw, rs, tot := med(r, "update.stage"), med(r, "update.switch"), med(r, "update.restart"), med(r, "update.total")
		if !known(st, sw, rs, tot) {
			return ""
		}
		return fmt.Sprintf("Where an update goes (medians): %s ms to begin (start, config check, lock), %s ms staging (copying the two binaries, %s, and fsyncing them, running the new `hermes-gateway --version`, `--check-config` and `hermes version`), %s ms switching `current` and refreshing the units (the new version's `install-unit --no-start`, a process of its own), %s ms restarting and confirming through `/v1/status`.",
			f(st), f(sw-st), or(fa.Binaries, "sizes unknown"), f(rs-sw), f(tot-rs))
	case "startup":
		e, c, i := med(r, "startup.empty"), med(r, "startup.conv"), med(r, "startup.inbox")
		if !known(e, c) {
			return ""
		}
		s := fmt.Sprintf("Conversations cost the start %s ms: %s ms with %s against %s ms empty (the store is mapped; the open reads every page once, to refuse a damaged file).", f(c-e), f(c), thousands(convs), f(e))
		if known(i) {
			s += fmt.Sprintf(" The inbox records cost another %s ms: %s ms with %s of them.", f(i-c), f(i), thousands(convs))
		}
		if top := topFunction(r.Info["startup.profile"]); top != "" {
			s += " In the profile below, the function with the most CPU time of its own is " + top + "."
		}
		return s
	case "memory":
		idle, tg, peak := med(r, "mem.idle.default"), med(r, "mem.idle.telegram"), r.Get("mem.load.peak")
		if !known(idle, tg) || peak.N() == 0 {
			return ""
		}
		return fmt.Sprintf("Medians: %s MiB idle on the defaults, %s MiB with Telegram connected (%s MiB for the platform, its client and its long poll); %s MiB at the peak with %d chats at once (%s MiB above idle with Telegram), while the sender paces the replies.",
			f(idle), f(tg), f(tg-idle), f(peak.Median()), loadChats, f(peak.Median()-tg))
	case "memory.store":
		if r.Get("startup.conv.rss").N() == 0 {
			return ""
		}
		return fmt.Sprintf("With the %s conversations of section 4 (a %s store) the gateway is at %s MiB right after its start, against %s MiB on an empty store; its file pages grow from %s to %s MiB: the mapped store. The RSS targets are judged on VmRSS, file pages included; RssAnon against RssFile tells the gateway's own memory from the store's pages, which are clean and which the kernel drops first under pressure.",
			thousands(convs), r.Info["startup.conv.size"], f(med(r, "startup.conv.rss")), f(med(r, "startup.empty.rss")), f(med(r, "startup.empty.rssfile")), f(med(r, "startup.conv.rssfile")))
	case "rt":
		conf, rt := med(r, "msg.confirmed"), med(r, "msg.rt")
		if !known(conf, rt) {
			return ""
		}
		return fmt.Sprintf("Medians: an update is confirmed %s ms after the injection (the fake answers the waiting long poll; the gateway stores the update, then confirms it with its next getUpdates) and answered %s ms after it.", f(conf), f(rt))
	case "tput":
		tp := r.Get("msg.tput")
		if tp.N() == 0 {
			return ""
		}
		mean := tp.Sum() / float64(tp.N())
		offered := float64(tputChats) * float64(time.Second) / float64(tputPerChat)
		kept := fmt.Sprintf("the offered %s a second were kept up with (%s on average)", f(offered), f(mean))
		if mean < 0.97*offered {
			kept = fmt.Sprintf("the offered %s a second were not kept up with: %s on average, the unconfirmed backlog growing to %s", f(offered), f(mean), f(r.Get("msg.lag").Max()))
			if b := r.Get("msg.burst"); b.N() > 0 {
				kept += fmt.Sprintf("; the backlog row (%s a second) is the ceiling on this machine, with the fake and the injector on the same cores", f(b.Median()))
			}
		}
		return fmt.Sprintf("Durable ingest: %s. Replies are paced by the sender (Telegram's global limit for a bot): %s a second meanwhile (median), so under this load turns queue up in the store, to be answered in order.",
			kept, f(med(r, "msg.replies")))
	case "webhook":
		a, rf, fl := r.Get("webhook.answered"), r.Get("webhook.refused"), r.Get("webhook.failed")
		if a.N() == 0 {
			return ""
		}
		if rf.Sum() == 0 && fl.Sum() == 0 {
			return fmt.Sprintf("As with the control socket: deliveries wait in the webhook socket's backlog (Backlog=%s, held by systemd) while no process serves; in %d restarts none was refused or failed; the longest delivery took %s ms (median), the restart job %s ms (median).",
				or(fa.WebhookBacklog, "?"), a.N(), f(med(r, "webhook.stall")), f(med(r, "webhook.job")))
		}
		return fmt.Sprintf("Deliveries wait in the webhook socket's backlog (Backlog=%s, held by systemd) while no process serves; %s were refused and %s failed over %d restarts (see the remarks).",
			or(fa.WebhookBacklog, "?"), num(rf.Sum()), num(fl.Sum()), a.N())
	case "poll":
		rec, calls := r.Get("poll.conflict.recovery"), r.Get("poll.conflict.calls")
		s := ""
		if rec.N() > 0 {
			s += fmt.Sprintf("**A conflict costs seconds.** After a %s conflict the answer came %s ms after its end (median; at most %s ms over %d conflicts), the poller having sent %s getUpdates during it (median). %s. The message waits while it lasts: Telegram holds it, and the poller takes it with the first getUpdates that is not refused.",
				conflictLen, f(rec.Median()), f(rec.Max()), rec.N(), f(calls.Median()), r.Info["poll.defaults"])
		}
		if st := r.Info["poll.conflict.status"]; st != "" {
			s += " Halfway through each conflict the gateway said: " + st + "."
		}
		if j := r.Info["poll.conflict.journal"]; j != "" {
			s += " Its journal: " + j + "."
		}
		if p := r.Get("poll.nohold.rate"); p.N() > 0 {
			s += fmt.Sprintf("\n\n**No server makes it spin.** Answered at once, the gateway sent %s getUpdates a second (median; at most %s in any second of %d); a message sent then was answered after %s ms (median; at most %s ms), the poller's wait after an empty answer (at most %s) being what the server's haste costs it.",
				f(p.Median()), f(p.Max()), p.N(), f(med(r, "poll.nohold.rt")), f(r.Get("poll.nohold.rt").Max()), telegram.DefaultMinPollInterval)
		}
		return s
	}
	return ""
}

// topFunction reads `go tool pprof -top` output (in any order) and names
// the function with the largest flat share, with that share.
func topFunction(top string) string {
	best, bestPct := "", -1.0
	header := false
	for _, l := range strings.Split(top, "\n") {
		if strings.Contains(l, "flat%") {
			header = true
			continue
		}
		fs := strings.Fields(l)
		if !header || len(fs) < 6 {
			continue
		}
		var pct float64
		if _, err := fmt.Sscanf(fs[1], "%f%%", &pct); err == nil && pct > bestPct {
			best, bestPct = fmt.Sprintf("`%s` (%s of the samples)", strings.Join(fs[5:], " "), fs[1]), pct
		}
	}
	return best
}

// analysis is a missed target's reason, from this run's figures.
func (rp *report) analysis(key string) string {
	r := rp.r
	switch key {
	case "job":
		return fmt.Sprintf("hermes's new process takes %s ms from fork to READY=1 against the floor's %s ms, and its *between* is %s ms against %s ms (medians); see *Where a restart goes* in section 1.",
			f(med(r, "restart.hermes.execready")), f(med(r, "restart.floor.execready")), f(med(r, "restart.hermes.sd.between")), f(med(r, "restart.floor.sd.between")))
	case "cli":
		return fmt.Sprintf("%s ms of the command (median) are outside the restart job (%s ms); see *Where a restart goes* in section 1.",
			f(med(r, "restart.cli.wall")-med(r, "restart.hermes.job")), f(med(r, "restart.hermes.job")))
	case "stall":
		return fmt.Sprintf("the longest stall was %s ms; the longest idle restart job of hermes, %s ms; see the table and the timeline of section 1.",
			f(r.Get("restart.cli.probe.stall").Max()), f(r.Get("restart.hermes.job").Max()))
	case "refused":
		return "see the remarks of section 1 for the errors."
	case "self":
		return fmt.Sprintf("`exit 75` → `Scheduled restart job` alone took %s ms (median) with RestartSec=%s, against %s ms with RestartSec=0; systemd's restart timer may fire up to %s late (section 2 cites the source).",
			f(med(r, "self.timer")), or(rp.f.RestartSec, "?"), f(med(r, "restart.rs0.timer")), sdDefaultAccuracy)
	case "update":
		return "see the breakdown in section 3."
	case "startup.empty", "startup.conv":
		return "see section 4 and its profile."
	case "mem.idle", "mem.load":
		return "see section 5."
	case "rt.p50", "rt.p99", "tput":
		return "see section 6."
	case "poll.conflict", "poll.nohold":
		return "see section 8."
	}
	return ""
}
