package main

import (
	"fmt"
	"math"
	"time"
)

// What the figures mean, written after profiling and tracing on the
// machines the benchmarks were developed on, with this run's numbers
// filled in. explain goes under a section; analysis under the targets
// table, for a target this run missed.

func med(r *Results, key string) float64 { return r.Get(key).Median() }

func f(v float64) string { return num(v) }

var explain = map[string]func(r *Results) string{
	"restart.idle": func(r *Results) string {
		job, floor, plain := med(r, "restart.hermes.job"), med(r, "restart.floor.job"), med(r, "restart.floorplain.job")
		er, fr := med(r, "restart.hermes.execready"), med(r, "restart.floor.execready")
		cli, ready := med(r, "restart.cli.wall"), med(r, "restart.cli.ready")
		between := med(r, "restart.floor.sd.between")
		s := fmt.Sprintf("**Where a restart goes.** The restart job of hermes takes %s ms against the floor's %s ms. Its new process takes %s ms from fork to READY=1 against the floor's %s ms (both set up the same sandbox before exec; the gateway then reads its config, opens and checks the store, adopts its listeners and builds the router), and its drain is a millisecond or two. Most of the job is not the gateway's:\n\n", f(job), f(floor), f(er), f(fr))
		s += fmt.Sprintf("- *between* (%s ms for the floor too): the manager creates the new cgroup, forks, and moves the child into the cgroup before it logs `Starting…`. An strace of the manager during a restart shows the `write(\"PID\")` to the new cgroup's `cgroup.procs` blocking for ~13 ms: a cgroup migration waits for an RCU grace period (cgroup2 mounted without `favordynmods`; scripts/sandbox mounts it plainly, and so do most distributions).\n", f(between))
		if plain > 0 && !math.IsNaN(plain) {
			s += fmt.Sprintf("- the sandboxing directives of `hermes-gateway.service` (ProtectSystem=, PrivateDevices=, the seccomp filter, …): the floor restarts in %s ms with them and %s ms without; systemd sets up the namespace and the filters in the child before exec, so every start pays it (the sandbox's drop-in turns four of them off, so a normal machine pays a little more).\n", f(floor), f(plain))
		}
		if cli > 0 && !math.IsNaN(cli) {
			s += fmt.Sprintf("- the command around the job: `hermes gateway restart` takes %s ms from exec to exit, the new process is READY %s ms after the exec, so about %s ms go before the job is queued (the Go binary's start, the D-Bus connection and its Hello, reading the unit, asking the gateway for its in-flight count) and %s ms after READY (reading the unit again, asking the new process for its version).\n",
				f(cli), f(ready), f(ready-job), f(cli-ready))
		}
		return s
	},
	"restart.probe": func(r *Results) string {
		return fmt.Sprintf("**What a client sees.** Behind the socket units nobody is refused: while no process serves, connections wait in the socket's backlog, which systemd holds, and the longest request lasts about as long as the restart job (the old process stops serving at STOPPING=1, the new one at READY=1: see the timeline). Baseline (a) refuses every attempt in that gap (%s refusals per restart, median; the socket file goes away with the old process's listener) and resets what the old process had accepted into its own backlog but not served (the failed requests). Baseline (b) refuses for the whole RestartSec=5 (%s ms without an answer, median). hermes's own self restart (exit 75) is slower than its restart job because of RestartSec=: see section 2.",
			f(med(r, "restart.ownsock.probe.refused")), f(med(r, "restart.field.gap")))
	},
	"self": func(r *Results) string {
		timer := med(r, "self.timer")
		back := med(r, "self.back")
		return fmt.Sprintf("**RestartSec=100ms is not what systemd waits.** The manager arms the restart timer with sd-event's default accuracy (systemd 252's `service_arm_timer` passes an accuracy of 0 to `sd_event_add_time`, which means `DEFAULT_ACCURACY_USEC`, 250 ms), and sd-event coalesces wake-ups onto a per-boot grid: the restart comes 100 to 350 ms after the exit. Here the journal puts `exit 75` → `Scheduled restart job` at %s ms (median), most of the %s ms to ✓ Back; the rest is the drain and confirming the update to the Bot API (a few ms), the start (%s ms from the manager's `Stopped` to its `Started`: the cgroup and the sandbox of section 1, then the gateway's own start), getMe and the send. The runs start at a random point of that grid (the benchmark waits 150–400 ms between them; without the randomness every run fell on the same point, 300 ms after the exit). Only a timer that is already due fires at once: with RestartSec=0 (the variant of section 1, same run) the manager schedules the restart %s ms after the exit and a client gets its answer %s ms after asking for the restart (median), against %s ms with RestartSec=100ms. **RestartSec=0 would take ~%s ms off every planned restart**, at a price: a crash loop would reach the start limit (30 starts a minute) within a second or so instead of a few seconds. Any RestartSec= above zero lands on the grid. Not changed here (the unit is product code).",
			f(timer), f(back), f(med(r, "restart.hermes.sd.between")+med(r, "restart.hermes.sd.start")), f(med(r, "restart.rs0.timer")), f(med(r, "restart.rs0.serve")), f(med(r, "restart.self.serve")), f(med(r, "restart.self.serve")-med(r, "restart.rs0.serve")))
	},
	"update": func(r *Results) string {
		st, sw, rs, tot := med(r, "update.stage"), med(r, "update.switch"), med(r, "update.restart"), med(r, "update.total")
		return fmt.Sprintf("Where an update goes (medians): %s ms to begin (start, config check, lock), %s ms staging (copying two binaries of ~15 MB and fsyncing them, running the new `hermes-gateway --version`, `--check-config` and `hermes version`), %s ms switching `current` and refreshing the units (the new version's `install-unit --no-start`, a process of its own), %s ms restarting and confirming through `/v1/status`.",
			f(st), f(sw-st), f(rs-sw), f(tot-rs))
	},
	"startup": func(r *Results) string {
		e, c, i := med(r, "startup.empty"), med(r, "startup.conv"), med(r, "startup.inbox")
		return fmt.Sprintf("Conversations cost the start little: %s ms with 10,000 against %s ms empty (the store is mapped; the open reads every page once, to refuse a damaged file, which for a store in the page cache is quick). Inbox records are another matter: %s ms with 10,000 of them. **Every start decodes every inbox record from JSON, twice, before READY=1**: `store.(*Store).Prune` (an Update transaction over the whole inbox, to delete finished records older than 7 days) and `store.(*Store).Unfinished` (for `router.(*Router).Resume`, to find the pending ones); the profile below puts nearly all of the start's CPU in `encoding/json.Unmarshal` under those two. The inbox keeps every update for 7 days, so the cost follows the traffic: a bot answering 10,000 messages a day would keep ~70,000 records, ~%s ms per start (linear). Not changed here (product code); what would fix it: pending items in a bucket of their own (Resume reads only those), finished items keyed by time so that pruning is a range delete, and the pruning after READY=1.",
			f(c), f(e), f(i), f(c+7*(i-c)))
	},
	"memory": func(r *Results) string {
		return "Idle, the gateway is the Go runtime, the HTTP servers and clients and a mapped store; a Telegram connection adds the long poll. Under 100 chats at once the peak comes from 100 turns' goroutines and buffers, paced by the sender at 30 replies a second."
	},
	"memory.store": func(r *Results) string {
		return fmt.Sprintf("With the 10,000 conversations of section 4 (a %s store) the gateway is at %s MiB right after its start, against %s MiB on an empty store: the file pages grow from %s to %s MiB, the mapped store. The RSS targets are met on a young store; on an old one RSS mostly measures the store, unless file pages are told apart (RssAnon against RssFile). Reading every page at open is the price of refusing a damaged store up front; the pages are clean and the kernel drops them first under pressure.",
			r.Info["startup.conv.size"], f(med(r, "startup.conv.rss")), f(med(r, "startup.empty.rss")), f(med(r, "startup.empty.rssfile")), f(med(r, "startup.conv.rssfile")))
	},
	"rt": func(r *Results) string {
		return fmt.Sprintf("An update's way: the fake answers the waiting long poll; the gateway stores the update (one bbolt transaction, two fdatasync) and confirms it with the next getUpdates (%s ms, median); the router counts the attempt (a transaction), runs the echo agent, records the conversation (a transaction), sends the reply, appends to `sent.log` and marks the update finished (a transaction). About 6 fdatasync of ~0.2 ms on this disk, and four HTTP requests on loopback.",
			f(med(r, "msg.confirmed")))
	},
	"tput": func(r *Results) string {
		tp := r.Get("msg.tput")
		mean := tp.Sum() / float64(max(tp.N(), 1))
		offered := float64(tputChats) * float64(time.Second) / float64(tputPerChat)
		kept := fmt.Sprintf("the offered %s a second were kept up with (%s on average)", f(offered), f(mean))
		if mean < 0.97*offered {
			kept = fmt.Sprintf("the offered %s a second were not quite kept up with: %s on average, the unconfirmed backlog growing to %s; the backlog row (%s a second) is the ceiling on this machine, with the fake and the injector on the same two cores", f(offered), f(mean), f(r.Get("msg.lag").Max()), f(r.Get("msg.burst").Median()))
		}
		return "Updates are received one bbolt transaction each (two fdatasync per update, as counted above), so durable ingest is bounded by the disk's fdatasync rate and the CPU: " + kept + ". Replies are limited to 30 a second by the sender (Telegram's global limit), so under this load turns queue up in the store; they are answered in order, across restarts. Writing a whole getUpdates batch (up to 100 updates) in one transaction would cut the fdatasync per update from two to a few hundredths, if a higher ceiling is ever needed."
	},
	"webhook": func(r *Results) string {
		return "As with the control socket: deliveries wait in the webhook socket's backlog (Backlog=1024, held by systemd) while no process serves; none is refused or fails, and the longest waits about as long as the restart job."
	},
}

var analysis = map[string]func(r *Results) string{
	"job": func(r *Results) string {
		return "the gateway's own start (exec → READY=1) is the difference from the floor; see *Where a restart goes* in section 1."
	},
	"cli": func(r *Results) string {
		return "the command's own start, its D-Bus connection and its status requests come on top of the job; see *Where a restart goes* in section 1."
	},
	"stall": func(r *Results) string {
		return "a client waits as long as the restart job; the slow restarts are the manager's (cgroup migration, namespace setup), see section 1."
	},
	"refused": func(r *Results) string {
		return "see the remarks of section 1 for the errors."
	},
	"self": func(r *Results) string {
		return fmt.Sprintf("systemd's restart timer is coalesced onto a 250 ms grid: RestartSec=100ms waits 100–350 ms (%s ms median here, from the journal), which alone leaves little of the 300 ms; RestartSec=0 fires at once (%s ms); see section 2.", f(med(r, "self.timer")), f(med(r, "restart.rs0.timer")))
	},
	"update": func(r *Results) string { return "see the breakdown in section 3." },
	"startup.empty": func(r *Results) string {
		return "see section 4."
	},
	"startup.conv": func(r *Results) string {
		return "see section 4 and its profile."
	},
	"mem.idle": func(r *Results) string { return "see section 5." },
	"mem.load": func(r *Results) string { return "see section 5." },
	"rt.p50":   func(r *Results) string { return "each reply costs about six fdatasync; see section 6." },
	"rt.p99":   func(r *Results) string { return "each reply costs about six fdatasync; see section 6." },
	"tput": func(r *Results) string {
		return "each update is its own bbolt transaction (two fdatasync); see section 6."
	},
}
