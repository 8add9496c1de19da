// Command bench measures the Hermes gateway inside the sandbox user manager
// and writes docs/BENCHMARKS.md (and the restart timelines, docs/*.svg).
//
//	make bench                      # the full run
//	make bench BENCH_ARGS=-quick    # fewer runs, for trying things out
//	scripts/sandbox -- go run ./scripts/bench -only restart,startup -out /tmp/b.md
//	make bench BENCH_ARGS=-allow-dirty  # measure a tree with uncommitted changes
//
// It refuses a tree with uncommitted changes unless -allow-dirty: the
// report names the revision its figures belong to.
//
// It installs the project's units (rendered by package units for bin/)
// into the sandbox's `systemd --user`, plus units of its own for the
// baselines (hermes-bench-*), and drives everything from this process: the
// Bot API fake runs in it, the control-socket client loop too. Every
// comparison is taken in the same run, alternating between the variants
// round by round, because these machines are noisy.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Counts is how many runs each figure takes.
type Counts struct {
	RestartRounds int // figure 1: rounds of every variant
	SelfRestarts  int // figure 2
	Updates       int // figure 3
	Startups      int // figure 4: per store variant
	MemoryRuns    int // figure 5
	RoundTrips    int // figure 6: messages timed one by one
	Throughput    time.Duration
	WebhookRounds int // figure 7: restarts under webhook deliveries
	ConflictRuns  int // figure 8: conflicts, each conflictLen
	NoHold        time.Duration
	StreamRuns    int // figure 9: answers timed one by one, per variant
}

var full = Counts{RestartRounds: 30, SelfRestarts: 30, Updates: 30, Startups: 30, MemoryRuns: 5, RoundTrips: 400, Throughput: 10 * time.Second, WebhookRounds: 30, ConflictRuns: 8, NoHold: 10 * time.Second, StreamRuns: 10}
var quick = Counts{RestartRounds: 3, SelfRestarts: 4, Updates: 4, Startups: 5, MemoryRuns: 1, RoundTrips: 60, Throughput: 3 * time.Second, WebhookRounds: 4, ConflictRuns: 2, NoHold: 4 * time.Second, StreamRuns: 2}

var phases = []string{"restart", "self", "memory", "messages", "webhook", "poll", "startup", "update", "stream"}

func main() {
	quickFlag := flag.Bool("quick", false, "fewer runs, for trying things out (the figures are then not worth quoting)")
	out := flag.String("out", "docs/BENCHMARKS.md", "the report to write")
	svgDir := flag.String("svg-dir", "docs", "where the timeline pictures go")
	only := flag.String("only", "", "comma-separated phases to run: "+strings.Join(phases, ","))
	allowDirty := flag.Bool("allow-dirty", false, "measure a tree with uncommitted changes (the report says so)")
	flag.Parse()

	// First, before minutes of measuring: whose figures would these be?
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	tree, err := readTree(root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\nbench: the report must name the revision it measured; run me in the git checkout\n", err)
		os.Exit(2)
	}
	// What this run writes (an earlier run's report and pictures) is no
	// part of what it measures.
	ownOutput := func(p string) bool {
		return filepath.Clean(p) == filepath.Clean(*out) ||
			(filepath.Dir(filepath.Clean(p)) == filepath.Clean(*svgDir) && strings.HasSuffix(p, ".svg"))
	}
	tree.Changes = slices.DeleteFunc(tree.Changes, ownOutput)
	if len(tree.Changes) > 0 {
		if !*allowDirty {
			fmt.Fprintf(os.Stderr, "bench: the tree has %d uncommitted or untracked paths (%s), so the figures would belong to no revision.\n"+
				"bench: commit them first, or measure this tree anyway with `make bench BENCH_ARGS=-allow-dirty` (the report then says so and lists them).\n",
				len(tree.Changes), strings.Join(tree.Changes[:min(len(tree.Changes), 5)], ", "))
			os.Exit(2)
		}
		tree.AllowedDirty = true
	}

	counts := full
	if *quickFlag {
		counts = quick
	}
	want := map[string]bool{}
	for _, p := range strings.Split(*only, ",") {
		if p = strings.TrimSpace(p); p != "" {
			want[p] = true
		}
	}
	for p := range want {
		if !containsStr(phases, p) {
			fmt.Fprintf(os.Stderr, "bench: unknown phase %q (have %s)\n", p, strings.Join(phases, ","))
			os.Exit(2)
		}
	}
	run := func(p string) bool { return len(want) == 0 || want[p] }

	e, err := newEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	defer e.Close()
	machine := describeMachine(e.Root)
	machine.Tree = tree
	facts := readFacts(e)
	r := newResults()
	began := time.Now()
	say := func(s string) { fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), s) }
	phase := func(name string, f func() error) {
		if !run(name) {
			return
		}
		say("phase " + name)
		t := time.Now()
		if err := f(); err != nil {
			r.Note(name, "the phase stopped: %v", err)
			say(fmt.Sprintf("phase %s failed: %v", name, err))
		}
		r.SetInfo("took."+name, "%.0f s", time.Since(t).Seconds())
	}

	phase("restart", func() error {
		return (&restartBench{e: e, r: r}).run(counts.RestartRounds, say)
	})
	phase("self", func() error { return selfRestart(e, r, counts.SelfRestarts, say) })
	phase("memory", func() error { return memory(e, r, counts.MemoryRuns, say) })
	phase("messages", func() error { return messages(e, r, counts, say) })
	phase("webhook", func() error { return webhook(e, r, counts.WebhookRounds, say) })
	phase("poll", func() error { return pollPhase(e, r, counts, say) })
	phase("startup", func() error { return startup(e, r, counts.Startups, say) })
	phase("update", func() error { return updates(e, r, counts.Updates, say) })
	phase("stream", func() error { return streamPhase(e, r, counts.StreamRuns, say) })

	// Other people's edits while it ran (the floor and the update phase's
	// versions are built during the run, from the tree as it is then).
	if after, err := readTree(root); err == nil {
		after.Changes = slices.DeleteFunc(after.Changes, ownOutput)
		if after.Revision != tree.Revision || strings.Join(after.Changes, "\n") != strings.Join(tree.Changes, "\n") {
			end := "clean"
			if len(after.Changes) > 0 {
				end = after.changeList()
			}
			r.SetInfo("tree.changed", "changed while the benchmark ran (what it built during the run, the floor and the update phase's two versions, came from the tree as it was then): at the end, revision %s, %s", after.Revision, end)
		}
	}

	machine.LoadEnd = loadAvg()
	cmdline := "make bench"
	if args := strings.Join(os.Args[1:], " "); args != "" {
		cmdline = "make bench BENCH_ARGS='" + args + "'"
	}
	rep := report{m: machine, f: facts, r: r, cmd: cmdline, quick: *quickFlag, counts: counts, took: time.Since(began), phases: run}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	for name, tl := range r.Timelines {
		p := filepath.Join(*svgDir, name)
		if err := os.WriteFile(p, []byte(tl.SVG()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		} else {
			say("wrote " + p)
		}
	}
	rel, _ := filepath.Rel(filepath.Dir(*out), *svgDir)
	rep.svgRel = rel
	if err := os.WriteFile(*out, []byte(rep.markdown()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	say("wrote " + *out)
}
