package main

import (
	"fmt"
	"math"
	"path"
	"sort"
	"strings"
	"time"
)

// report writes docs/BENCHMARKS.md from the results.
type report struct {
	m      Machine
	f      Facts
	r      *Results
	cmd    string
	quick  bool
	counts Counts
	took   time.Duration
	phases func(string) bool
	svgRel string
	b      strings.Builder
}

func (rp *report) p(format string, args ...any) { fmt.Fprintf(&rp.b, format, args...) }

// target is one of the targets, judged on this run's figures.
type target struct {
	key      string
	phase    string
	what     string // the target, as the issue states it
	measured string
	met      bool
	known    bool // false: not measured in this run
}

func (rp *report) targets() []target {
	g := rp.r.Get
	var ts []target
	add := func(key, phase, what string, known, met bool, measured string) {
		ts = append(ts, target{key: key, phase: phase, what: what, known: known, met: met, measured: measured})
	}
	job, floor := g("restart.hermes.job"), g("restart.floor.job")
	add("job", "restart", "D-Bus restart job: median within 2× the floor's (same run)", job.N() > 0 && floor.N() > 0,
		job.Median() <= 2*floor.Median(),
		fmt.Sprintf("%s vs floor %s (%.1f×)", withUnit(job.Median(), "ms"), withUnit(floor.Median(), "ms"), job.Median()/floor.Median()))
	cli := g("restart.cli.wall")
	add("cli", "restart", "`hermes gateway restart`, the whole command: median under 100 ms", cli.N() > 0, cli.Median() < 100,
		fmt.Sprintf("median %s, max %s%s", withUnit(cli.Median(), "ms"), withUnit(cli.Max(), "ms"), over(cli, 100, "section 1")))
	stall := g("restart.cli.probe.stall")
	add("stall", "restart", "longest client stall during a restart: under 150 ms", stall.N() > 0, stall.Max() < 150,
		fmt.Sprintf("max %s over %d restarts (median %s)", withUnit(stall.Max(), "ms"), stall.N(), withUnit(stall.Median(), "ms")))
	ref, refA := g("restart.cli.probe.refused"), g("restart.ownsock.probe.refused")
	add("refused", "restart", "zero refused connections", ref.N() > 0, ref.Sum() == 0,
		fmt.Sprintf("%s refused over %d restarts; baseline (a) without the socket unit: %s over %d", num(ref.Sum()), ref.N(), num(refA.Sum()), refA.N()))
	back := g("self.back")
	selfLimit := ms(rp.f.RestartSecDur) + 300
	add("self", "self", fmt.Sprintf("`/restart` from the chat to ✓ Back: under RestartSec (%s) + 300 ms", or(rp.f.RestartSec, "?")), back.N() > 0 && rp.f.RestartSec != "", back.Median() < selfLimit,
		fmt.Sprintf("median %s, max %s%s", withUnit(back.Median(), "ms"), withUnit(back.Max(), "ms"), over(back, selfLimit, "systemd's restart timer, section 2")))
	upd := g("update.total")
	add("update", "update", "`hermes update --from DIR`: under 1 s to the confirmed new version", upd.N() > 0, upd.Median() < 1000,
		fmt.Sprintf("median %s, max %s", withUnit(upd.Median(), "ms"), withUnit(upd.Max(), "ms")))
	se, sc := g("startup.empty"), g("startup.conv")
	add("startup.empty", "startup", "exec → READY=1, empty store: under 30 ms", se.N() > 0, se.Median() < 30, "median "+withUnit(se.Median(), "ms"))
	add("startup.conv", "startup", "exec → READY=1, "+thousands(convs)+" conversations: under 100 ms", sc.N() > 0, sc.Median() < 100, "median "+withUnit(sc.Median(), "ms"))
	idle := g("mem.idle.telegram")
	idleD := g("mem.idle.default")
	storeNote := ""
	if c, cf := g("startup.conv.rss"), g("startup.conv.rssfile"); c.N() > 0 {
		storeNote = fmt.Sprintf("; but %s at start with %s conversations, of which %s file pages, the mapped store and the executable (section 5)", withUnit(c.Median(), "MiB"), thousands(convs), withUnit(cf.Median(), "MiB"))
	}
	add("mem.idle", "memory", "RSS idle: under 20 MiB", idle.N() > 0, idle.Max() < 20 && (idleD.N() == 0 || idleD.Max() < 20),
		fmt.Sprintf("%s with Telegram connected, %s on the defaults (max of %d, a young store)%s", withUnit(idle.Max(), "MiB"), withUnit(idleD.Max(), "MiB"), idle.N(), storeNote))
	peak := g("mem.load.peak")
	add("mem.load", "memory", "RSS with 100 chats at once: under 50 MiB", peak.N() > 0, peak.Max() < 50, "peak "+withUnit(peak.Max(), "MiB"))
	rt := g("msg.rt")
	add("rt.p50", "messages", "message round trip p50: under 5 ms", rt.N() > 0, rt.Median() < 5, "p50 "+withUnit(rt.Median(), "ms"))
	add("rt.p99", "messages", "message round trip p99: under 20 ms", rt.N() > 0, rt.P99() < 20, "p99 "+withUnit(rt.P99(), "ms"))
	tp := g("msg.tput")
	mean := math.NaN()
	if tp.N() > 0 {
		mean = tp.Sum() / float64(tp.N())
	}
	add("tput", "messages", "at least 1,000 updates a second durably confirmed", tp.N() > 0, mean >= 1000,
		fmt.Sprintf("%s/s on average over %d s (slowest second %s/s)", num(mean), tp.N(), num(tp.Min())))
	rec := g("poll.conflict.recovery")
	add("poll.conflict", "poll", fmt.Sprintf("after a %s 409 conflict, the next answer: within 3 s of its end", conflictLen), rec.N() > 0, rec.Max() <= 3000,
		fmt.Sprintf("median %s, max %s over %d conflicts", withUnit(rec.Median(), "ms"), withUnit(rec.Max(), "ms"), rec.N()))
	nh := g("poll.nohold.rate")
	add("poll.nohold", "poll", "getUpdates against a server that does not hold long polls: at most 2 a second", nh.N() > 0, nh.Max() <= 2,
		fmt.Sprintf("at most %s in a second, median %s, over %d s", num(nh.Max()), num(nh.Median()), nh.N()))
	sf, sb := g("stream.first"), g("stream.base")
	add("stream.first", "stream", "agent's first token → first visible text: under 1 s", sf.N() > 0, sf.Max() < 1000,
		fmt.Sprintf("median %s, max %s (answer sent whole: median %s)", withUnit(sf.Median(), "ms"), withUnit(sf.Max(), "ms"), withUnit(sb.Median(), "ms")))
	return ts
}

// thousands formats 10000 as 10,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// over notes the runs that missed a limit their median met.
func over(s *Samples, limit float64, why string) string {
	n := 0
	for _, v := range s.Values {
		if v >= limit {
			n++
		}
	}
	if n == 0 || s.Median() >= limit {
		return ""
	}
	return fmt.Sprintf(" (%d of %d runs over it: %s)", n, s.N(), why)
}

func (rp *report) markdown() string {
	m := rp.m
	rp.p("# Benchmarks\n\n")
	rp.p("Written by `scripts/bench` (`make bench`), which runs inside `scripts/sandbox`: a private `systemd --user` and journald, the project's own units rendered by package `units` for `bin/`, and units of its own for the baselines. Every comparison below was taken in the same run, the variants alternating round by round (each round in a rotated order), because these machines are noisy. Rerun it with `make bench`; `make bench BENCH_ARGS=-quick` makes fewer runs and is only good for trying things out. It refuses a tree with uncommitted changes unless given `BENCH_ARGS=-allow-dirty`.\n\n")
	rp.p("Apart from the targets, which the project set, every number in the text is this run's, read from the units it installed, or one of the benchmark's own settings; the one constant taken from elsewhere, systemd's restart timer accuracy, is cited with its source and version in section 2.\n\n")
	if rp.quick {
		rp.p("> **This is a `-quick` run: too few runs for the figures to be worth quoting.**\n\n")
	}
	rp.p("| | |\n|---|---|\n")
	rp.p("| date | %s |\n", m.Date.Format("2006-01-02 15:04 MST"))
	rp.p("| command | `%s` (took %s) |\n", rp.cmd, rp.took.Round(time.Second))
	rp.p("| revision | %s |\n", m.Tree.Describe())
	if ch := rp.r.Info["tree.changed"]; ch != "" {
		rp.p("| tree during the run | %s |\n", ch)
	}
	rp.p("| machine | %d cores (%s), %s of memory |\n", m.Cores, nonEmpty(m.CPU, "unknown CPU"), nonEmpty(m.MemTotal, "?"))
	if m.LoadStart != "" || m.LoadEnd != "" {
		rp.p("| load average (1, 5, 15 min) | %s at the start, %s at the end (others' work on the same cores) |\n", or(m.LoadStart, "?"), or(m.LoadEnd, "?"))
	}
	rp.p("| kernel | `%s` |\n", m.Kernel)
	rp.p("| systemd | %s |\n", m.Systemd)
	rp.p("| Go | %s |\n\n", m.Go)
	rp.p("Each figure gives the median, the 95th percentile and the maximum over its runs (nearest rank: every number is one that was measured). Times are wall-clock from this process unless the row says otherwise; systemd's timestamps (`ActiveEnterTimestamp`, `ExecMainStartTimestamp`) and the Bot API fake's are on the same clock.\n\n")

	rp.targetTable()
	rp.restartSection()
	rp.selfSection()
	rp.updateSection()
	rp.startupSection()
	rp.memorySection()
	rp.messagesSection()
	rp.webhookSection()
	rp.pollSection()
	rp.streamSection()
	rp.methodSection()
	return rp.b.String()
}

func (rp *report) targetTable() {
	rp.p("## Targets\n\n| target | this run | |\n|---|---|---|\n")
	for _, t := range rp.targets() {
		verdict := "met"
		switch {
		case !t.known:
			verdict, t.measured = "not measured", "–"
		case !t.met:
			verdict = "**missed**"
		}
		rp.p("| %s | %s | %s |\n", t.what, t.measured, verdict)
	}
	rp.p("\n")
	missed := false
	for _, t := range rp.targets() {
		if t.known && !t.met {
			if why := rp.analysis(t.key); why != "" {
				if !missed {
					rp.p("Why the missed targets are missed (profiles and evidence in the sections below):\n\n")
					missed = true
				}
				rp.p("- **%s**: %s\n", t.what, why)
			}
		}
	}
	if missed {
		rp.p("\n")
	}
}

// table prints rows of samples: figure, runs, median, p95, max.
func (rp *report) table(keys ...string) {
	rp.p("| | runs | median | p95 | max |\n|---|---:|---:|---:|---:|\n")
	for _, k := range keys {
		s := rp.r.Get(k)
		if s.N() == 0 {
			continue
		}
		rp.p("| %s | %d | %s | %s | %s |\n", s.Name, s.N(), withUnit(s.Median(), s.Unit), withUnit(s.P95(), s.Unit), withUnit(s.Max(), s.Unit))
	}
	rp.p("\n")
}

// grid prints one row per variant and one column per metric suffix.
func (rp *report) grid(cols []string, heads []string, rows [][2]string) {
	rp.p("| |")
	for _, h := range heads {
		rp.p(" %s |", h)
	}
	rp.p("\n|---|")
	for range heads {
		rp.p("---:|")
	}
	rp.p("\n")
	for _, row := range rows {
		any := false
		for _, c := range cols {
			if rp.r.Get(row[1]+c).N() > 0 {
				any = true
			}
		}
		if !any {
			continue
		}
		rp.p("| %s |", row[0])
		for _, c := range cols {
			s := rp.r.Get(row[1] + c)
			if s.N() == 0 {
				rp.p(" – |")
				continue
			}
			if s.Unit == "" {
				rp.p(" %s / %s / %s |", num(s.Median()), num(s.P95()), num(s.Max()))
			} else {
				rp.p(" %s / %s / %s |", num(s.Median()), num(s.P95()), withUnit(s.Max(), s.Unit))
			}
		}
		rp.p("\n")
	}
	rp.p("\n")
}

func (rp *report) notes(phase string) {
	ns := rp.r.Notes[phase]
	if len(ns) == 0 {
		return
	}
	count := map[string]int{}
	var order []string
	for _, n := range ns {
		n = strings.ReplaceAll(strings.TrimSpace(n), "\n", " ")
		if count[n] == 0 {
			order = append(order, n)
		}
		count[n]++
	}
	rp.p("Remarks from this phase:\n\n")
	for i, n := range order {
		if i == 12 {
			rp.p("- … and %d more\n", len(order)-12)
			break
		}
		if count[n] > 1 {
			rp.p("- %s (%d times)\n", n, count[n])
		} else {
			rp.p("- %s\n", n)
		}
	}
	rp.p("\n")
}

func (rp *report) skipped(phase string) bool {
	if !rp.phases(phase) {
		rp.p("Not run this time (`-only`).\n\n")
		return true
	}
	return false
}

func (rp *report) why(key string) {
	if t := rp.explain(key); t != "" {
		rp.p("%s\n\n", t)
	}
}

func (rp *report) restartSection() {
	rp.p("## 1. Restart of an idle gateway\n\n")
	if rp.skipped("restart") {
		return
	}
	rp.p("%d rounds; each round restarts every variant once, in a rotated order, with a pause of %s plus up to %s (random) and a GC of this process between restarts. The gateway runs on the embedded defaults (no platform, echo agent), so it is idle: nothing is in flight.\n\n", rp.counts.RestartRounds, settleMin, settleSpread)
	rp.p("- **hermes**: `hermes-gateway.service` + `hermes-gateway.socket` as `units` renders them (Type=notify, RestartSec=%s, socket activation). Before every restart its start limit is reset (`ResetFailed`): the unit's StartLimitBurst=%s in StartLimitIntervalSec=%s would otherwise stop the benchmark (the unit itself is not changed).\n", or(rp.f.RestartSec, "?"), or(rp.f.StartLimitBurst, "?"), or(rp.f.StartLimitInterval, "?"))
	rp.p("- **floor**: `scripts/bench/floor`, a minimal Go service that adopts its socket, sends READY=1 and answers every request with a constant body, under the same unit directives as `hermes-gateway.service` (only ExecStart=, the socket and the start limit differ). What systemd, the kernel and the Go runtime cost here: the physical limit on this machine.\n")
	rp.p("- **floor, unhardened**: the same floor without the unit's sandboxing directives (ProtectSystem=, PrivateDevices=, SystemCallFilter=, …): what the sandboxing costs a restart.\n")
	rp.p("- **(a) own socket**: the same gateway and directives without the `.socket` unit: `hermes-gateway --control PATH` listens itself.\n")
	rp.p("- **variant, RestartSec=0**: `hermes-gateway.service` and its socket as rendered, on a socket and store of their own, with RestartSec=0 instead of %s (see section 2 for why).\n", or(rp.f.RestartSec, "?"))
	rp.p("- **(b) the field's unit**: Type=simple, Restart=always, RestartSec=%s, no socket unit; a restart is `POST /v1/restart`, the gateway draining and exiting 75.\n\n", fieldRestartSec)
	rp.p("### Idle: no client\n\n")
	rp.table("restart.cli.wall", "restart.cli.ready", "restart.cli.reported", "restart.hermes.job", "restart.floor.job", "restart.floorplain.job", "restart.ownsock.job",
		"restart.hermes.execready", "restart.floor.execready", "restart.floorplain.execready", "restart.ownsock.execready")
	rp.p("Where a restart job's time goes, from the manager's journal lines for every restart job of the phase (with or without the client): *stop* is `Stopping…` → `Stopped…` (SIGTERM, the drain, the exit, the reaping), *between* is `Stopped…` → `Starting…` (the manager between the two halves of the job: it creates the new cgroup, forks, and moves the child into the cgroup before it logs `Starting…`), *start* is `Starting…` → `Started…` (the child sets up its sandbox and execs, the service starts, READY=1). Median / p95 / max.\n\n")
	rp.grid([]string{".sd.stop", ".sd.between", ".sd.start"}, []string{"stop", "between", "start"},
		[][2]string{{"hermes", "restart.hermes"}, {"floor", "restart.floor"}, {"floor, unhardened", "restart.floorplain"}, {"(a) own socket", "restart.ownsock"}})
	rp.why("restart.idle")
	rp.p("### With a client looping on the socket\n\n")
	rp.p("A client in this process does what `bin/hermes-probe` does (GET /v1/status, one connection per request, back to back) from %[1]s before the restart until %[1]s after the first answer of the new process; the requests counted are those that overlap that window. *Longest request* is hermes-probe's \"longest stall\"; *longest without an answer* is the time between two consecutive answers, the outage as the client lived it, refusals and retries included (after a refusal the client waits %[2]s before retrying). Each cell: median / p95 / max over the restarts.\n\n", probeMargin, refusedPause)
	rp.grid([]string{".job", ".wall", ".serve", ".timer", ".stall", ".gap", ".refused", ".failed", ".requests"},
		[]string{"restart job", "command", "asked → new process answers", "exit 75 → restart scheduled", "longest request", "longest without an answer", "refused", "failed", "requests"},
		[][2]string{
			{"hermes: `hermes gateway restart`", "restart.cli.probe"},
			{"floor: RestartUnit job", "restart.floor.probe"},
			{"(a) own socket: RestartUnit job", "restart.ownsock.probe"},
			{"hermes: `POST /v1/restart` (exit 75, RestartSec=" + or(rp.f.RestartSec, "?") + ")", "restart.self"},
			{"variant: hermes with RestartSec=0, `POST /v1/restart`", "restart.rs0"},
			{"(b) field's unit: `POST /v1/restart` (exit 75, RestartSec=" + fieldRestartSec.String() + ")", "restart.field"},
		})
	ref := rp.r.Get("restart.ownsock.probe.refused")
	if ref.N() > 0 {
		rp.p("Refused connections in total: hermes %s over %d restarts, the floor %s, baseline (a) %s over %d, baseline (b) %s over %d.\n\n",
			num(rp.r.Get("restart.cli.probe.refused").Sum()), rp.r.Get("restart.cli.probe.refused").N(),
			num(rp.r.Get("restart.floor.probe.refused").Sum()), num(ref.Sum()), ref.N(),
			num(rp.r.Get("restart.field.refused").Sum()), rp.r.Get("restart.field.refused").N())
	}
	rp.why("restart.probe")
	if _, ok := rp.r.Timelines["restart-timeline.svg"]; ok {
		rp.p("### One restart, drawn\n\n")
		rp.p("For each, the restart with the median longest time without an answer: `hermes gateway restart` under the client; hermes restarting itself (`POST /v1/restart`, exit 75, RestartSec=%s); and baseline (b) doing the same under the field's unit. Client requests on top (each bar one request, back-to-back ones merged; a long one outlined, with its duration); the processes below: STOPPING=1 and READY=1 are the gateway's `drain started` and `ready` journal lines (each logged right after the notification), *exit* its last line, *fork* systemd's ExecMainStartTimestamp (the new process then sets up its sandbox and execs), *RestartSec= timer* the manager's `Scheduled restart job` line. Mind the scales.\n\n", or(rp.f.RestartSec, "?"))
		for _, tl := range []struct{ file, alt string }{
			{"restart-timeline.svg", "restart timeline: hermes gateway restart"},
			{"restart-timeline-self.svg", "restart timeline: hermes restarting itself"},
			{"restart-timeline-field.svg", "restart timeline: baseline (b)"},
		} {
			if _, ok := rp.r.Timelines[tl.file]; ok {
				rp.p("![%s](%s)\n\n", tl.alt, path.Join(rp.svgRel, tl.file))
			}
		}
	}
	rp.notes("restart")
}

func (rp *report) selfSection() {
	rp.p("## 2. Self restart from the chat\n\n")
	if rp.skipped("self") {
		return
	}
	rp.p("The admin sends `/restart` through the Bot API fake (in this process, on loopback; `poll_timeout = \"%s\"`). The gateway answers `Restarting…`, drains, confirms the update, exits 75; systemd starts it again after RestartSec=%s; the new process says `✓ Back: vX, down N ms`. Timed from the injection to the fake recording each answer. %d runs, the start limit reset before each.\n\n", pollTimeout, or(rp.f.RestartSec, "?"), rp.counts.SelfRestarts)
	rp.table("self.ack", "self.back", "self.down", "self.timer")
	rp.why("self")
	rp.notes("self")
}

func (rp *report) updateSection() {
	rp.p("## 3. `hermes update --from DIR`\n\n")
	if rp.skipped("update") {
		return
	}
	rp.p("The install layout made by `scripts/install.sh` inside the sandbox (`~/.local/lib/hermes`, its install-unit into the sandbox manager). Two versions (`v0.0.0-bench.a`, `.b`) built once into two directories; %d updates alternate between them with `~/.local/bin/hermes update --from DIR`. Each stages (copies the binaries, fsyncs, runs `--version`, `--check-config`, `hermes version`), switches `current`, refreshes the units, restarts through systemd and confirms the version through `/v1/status`. Timed from exec to the `✓ Restarted` line (printed once `/v1/status` confirmed the new version), with the progress lines timestamped on the way.\n\n", rp.counts.Updates)
	rp.table("update.stage", "update.switch", "update.restart", "update.total", "update.reported", "update.wall")
	rp.why("update")
	rp.notes("update")
}

func (rp *report) startupSection() {
	rp.p("## 4. Start-up: exec → READY=1\n\n")
	if rp.skipped("startup") {
		return
	}
	rp.p("`hermes-gateway` run directly (not under systemd) with `NOTIFY_SOCKET` pointing at a unixgram socket of this process and `--control` a temporary path; timed from `cmd.Start` to the READY=1 datagram. %d runs per store, the stores alternating. The populated stores hold %s conversations of %d turns (%d + %d characters a turn) in collection `history` exactly as `router.History.Record` writes them (%s), and for the last row also one finished inbox record per chat (%s), as traffic leaves them until they are pruned. The page cache is warm, as on any restart.\n\n",
		rp.counts.Startups, thousands(convs), convTurns, convUserChars, convBotChars, rp.r.Info["startup.conv.size"], rp.r.Info["startup.inbox.size"])
	rp.table("startup.fresh", "startup.empty", "startup.conv", "startup.inbox")
	rp.why("startup")
	if top := rp.r.Info["startup.profile"]; top != "" {
		rp.p("CPU profile of %s starts on the store with the inbox records (`gateway.Run` in the benchmark's process, `runtime/pprof`, then `go tool pprof -top`):\n\n```\n%s\n```\n\n", rp.r.Info["startup.profile.runs"], top)
		rp.why("startup.profile")
	}
	rp.notes("startup")
}

func (rp *report) memorySection() {
	rp.p("## 5. Memory\n\n")
	if rp.skipped("memory") {
		return
	}
	rp.p("VmRSS from `/proc/PID/status` of the service's main process, %s after it started; then %d chats (`users = [...]`) each send a message at once through the fake and the peak is taken when all are answered (VmHWM, the kernel's high-water mark, or our own sampling every %s if higher). %d runs, each from a fresh start.\n\n", idleAfter, loadChats, rssSampleEvery, rp.counts.MemoryRuns)
	rp.table("mem.idle.default", "mem.idle.telegram", "mem.load.peak", "mem.load.after")
	rp.why("memory")
	if rp.r.Get("startup.conv.rss").N() > 0 {
		rp.p("The store is memory too: the gateway maps `gateway.db` and reads every page of it once when it opens it (the check for a damaged file), so those pages count in its RSS as file pages (clean, shared with the page cache, reclaimable under pressure, but RSS all the same). RSS at READY=1 of the starts of section 4:\n\n")
		rp.table("startup.empty.rss", "startup.empty.rssfile", "startup.conv.rss", "startup.conv.rssfile", "startup.inbox.rss", "startup.inbox.rssfile")
		rp.why("memory.store")
	}
	rp.notes("memory")
}

func (rp *report) messagesSection() {
	rp.p("## 6. Messages through the Bot API fake and the echo agent\n\n")
	if rp.skipped("messages") {
		return
	}
	rp.p("**Round trip**: %d messages one at a time, one every %s, from %d chats in turn (so no chat writes more than once in %s, and the sender's pace, per chat and overall, never delays a reply); timed from the injection to the fake recording the reply. The update was stored (fsync) before it was confirmed, and the reply follows the agent's turn. The p99 is the %dth of %d.\n\n",
		rp.counts.RoundTrips, rtPace, rtChats, rtPace*rtChats, int(math.Ceil(0.99*float64(rp.counts.RoundTrips))), rp.counts.RoundTrips)
	rp.p("| | runs | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n")
	for _, k := range []string{"msg.confirmed", "msg.rt", "msg.mx.rt"} {
		s := rp.r.Get(k)
		if s.N() > 0 {
			rp.p("| %s | %d | %s | %s | %s | %s |\n", s.Name, s.N(), withUnit(s.Median(), "ms"), withUnit(s.P95(), "ms"), withUnit(s.P99(), "ms"), withUnit(s.Max(), "ms"))
		}
	}
	rp.p("\n")
	if s := rp.r.Get("msg.mx.rt"); s.N() > 0 {
		rp.p("The Matrix row is the same gateway in the same run, a Matrix message after each Telegram one: sent by a person's client to Dendrite on loopback, received by the gateway's /sync, answered by the echo agent with a transaction id, and timed until the person's own /sync shows the answer. It includes the homeserver's work both ways, which the Bot API fake does not have.\n\n")
	}
	if v := rp.r.Info["msg.answersyncs"]; v != "" {
		rp.p("What an answered message costs the disk, counted after the round trips: %s. A lone message's transactions: stored with the cursor, its attempt, its conversation (before the send); the finish after the send rides with the next transaction (the sent log's one write covers it meanwhile), or is committed alone after 1 s.\n\n", v)
	}
	rp.why("rt")
	rp.p("**Throughput**: %d chats, each writing once a second (offered %s updates/s, %s injected), for %s after a %s warm-up; each row is per one-second interval.\n\n",
		tputChats, rp.r.Info["msg.tput.offered"], rp.r.Info["msg.tput.injected"], rp.counts.Throughput, tputWarmup)
	rp.table("msg.tput", "msg.replies", "msg.lag", "msg.burst")
	if v := rp.r.Info["msg.burst"]; v != "" {
		rp.p("The backlog: %s. The fake and this process share the machine's %d cores with the gateway.\n\n", v, rp.m.Cores)
	}
	if v := rp.r.Info["msg.syncs"]; v != "" {
		rp.p("What a durable update costs, counted after the figures: %s.\n\n", v)
	}
	rp.why("tput")
	rp.notes("messages")
}

func (rp *report) webhookSection() {
	rp.p("## 7. Webhook mode: deliveries during a restart\n\n")
	if rp.skipped("webhook") {
		return
	}
	rp.p("`mode = \"webhook\"`, the webhook socket rendered by `units` for a loopback port and started (`hermes-gateway-webhook.socket`, Backlog=%s). A client here plays Telegram: back-to-back POSTs of updates with the secret header, one connection per request, from %s before a RestartUnit job of `hermes-gateway.service` until %s after the first answer that follows it. The updates are messages in a group the config does not list: stored, acknowledged, finished without an answer (the gateway stays idle). %d restarts.\n\n", or(rp.f.WebhookBacklog, "?"), probeMargin, probeMargin, rp.counts.WebhookRounds)
	rp.table("webhook.job", "webhook.answered", "webhook.refused", "webhook.failed", "webhook.stall", "webhook.gap")
	a, rf, f := rp.r.Get("webhook.answered"), rp.r.Get("webhook.refused"), rp.r.Get("webhook.failed")
	if a.N() > 0 {
		rp.p("In total over %d restarts: %s deliveries answered, %s refused, %s failed.\n\n", a.N(), num(a.Sum()), num(rf.Sum()), num(f.Sum()))
	}
	rp.why("webhook")
	rp.notes("webhook")
}

func (rp *report) pollSection() {
	rp.p("## 8. Telegram: a 409 conflict, and a server that does not hold long polls\n\n")
	if rp.skipped("poll") {
		return
	}
	rp.p("Polling mode against the Bot API fake (`poll_timeout = \"%s\"`). **Conflict**: %d times, while the gateway long-polls, the fake answers every getUpdates 409 (`Conflict: terminated by other getUpdates request; …`) for %s, starting with the long poll waiting then, as when another instance polls with the same token or the previous process's long poll is still held; a message is sent as it starts. Timed from the end of the conflict to the fake recording the answer; halfway through, the gateway's `/v1/status` and systemd's `STATUS=` are read. **No hold**: then the fake answers every getUpdates at once, `{\"ok\":true,\"result\":[]}` when nothing is pending (a proxy or an emulator that does not hold long polls); the gateway's getUpdates calls are counted each second for %s with nothing to fetch, then %d messages, one a second at a random point of it, each from a chat of its own, are timed to their answers.\n\n",
		pollTimeout, rp.counts.ConflictRuns, conflictLen, rp.counts.NoHold, int(rp.counts.NoHold/time.Second))
	rp.table("poll.conflict.recovery", "poll.conflict.calls", "poll.nohold.rate", "poll.nohold.rt")
	rp.why("poll")
	rp.notes("poll")
}

func (rp *report) methodSection() {
	rp.p("## Notes on method\n\n")
	rp.p("- Units are installed the way the e2e tests install them: rendered by package `units` for `bin/`, written to `$XDG_CONFIG_HOME/systemd/user/`, `daemon-reload`. Figure 3 alone uses `scripts/install.sh`, whose `hermes install-unit` installs the units of the install layout.\n")
	rp.p("- Start limits: `hermes-gateway.service` allows StartLimitBurst=%s starts in StartLimitIntervalSec=%s, manual ones included, and the benchmark starts it far more often; it calls `ResetFailed` (`systemctl --user reset-failed`) on it before every restart rather than change the unit. The benchmark's own units (`hermes-bench-*`) have StartLimitBurst=%s instead.\n", or(rp.f.StartLimitBurst, "?"), or(rp.f.StartLimitInterval, "?"), benchStartLimit)
	if len(rp.f.SandboxOff) > 0 {
		rp.p("- `scripts/sandbox` adds a drop-in to `hermes-gateway.service` for what its namespaces cannot provide: `%s`; the benchmark copies that drop-in to the units that share the service's directives (the floor, baseline (a), the RestartSec=0 variant), so they are compared as they run.\n", strings.Join(rp.f.SandboxOff, "`, `"))
	}
	rp.p("- Between two runs of anything the benchmark pauses %s plus up to %s (random) and collects its own garbage. The client loops, the Bot API fake and the bookkeeping run in the benchmark's process, on the same %d cores as the gateway and the manager: a loaded machine, like a small server.\n", settleMin, settleSpread, rp.m.Cores)
	rp.p("- Nothing here is a test: `make test` times nothing; this report is the only place the targets are checked.\n\n")
	rp.p("## How long each phase took\n\n| phase | |\n|---|---|\n")
	var ks []string
	for k := range rp.r.Info {
		if strings.HasPrefix(k, "took.") {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	for _, k := range ks {
		rp.p("| %s | %s |\n", strings.TrimPrefix(k, "took."), rp.r.Info[k])
	}
	rp.p("\n")
}

func nonEmpty(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func (rp *report) streamSection() {
	rp.p("## 9. Streamed answers\n\n")
	if rp.skipped("stream") {
		return
	}
	rp.p("The openai backend against the OpenAI fake in this process, which writes a %d-word answer at one word every %s (%.1f s of writing). Timed from the agent's first token (the fake writing its first chunk) to the first visible text (the Bot API fake recording the answer's first message), %d answers streamed and, alternating with them in the same run, %d given whole after the same writing time (the baseline: what a person saw before streaming), each in a chat of its own. Then %d chats at once, streamed, then answered whole, each variant from a fresh start, with the gateway's memory sampled every %s.\n\n",
		streamWords, streamWordEvery, (streamWords * streamWordEvery).Seconds(), rp.counts.StreamRuns, rp.counts.StreamRuns, streamChats, rssSampleEvery)
	rp.table("stream.first", "stream.base", "stream.edits", "stream.rate", "stream.load.first", "stream.load.edits", "stream.mem.streamed", "stream.mem.whole")
	if v := rp.r.Info["stream.errors"]; v != "" {
		rp.p("Sends and edits the Bot API fake refused during the phase (an unchanged edit, flood control, ...): %s.\n\n", v)
	}
	rp.notes("stream")
}
