package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var explainKeys = []string{"restart.idle", "restart.probe", "self", "update", "startup", "memory", "memory.store", "rt", "tput", "webhook", "poll"}

// An explanation is made of this run's figures: without them there is
// nothing to say, and nothing pre-written is said instead.
func TestExplanationsNeedTheirFigures(t *testing.T) {
	rp := &report{r: newResults(), f: Facts{RestartSec: "100ms", RestartSecDur: 100 * time.Millisecond}}
	for _, k := range explainKeys {
		require.Empty(t, rp.explain(k), k)
	}
}

func TestExplanationsQuoteTheRunAndTheUnits(t *testing.T) {
	r := newResults()
	for _, v := range []float64{300, 180, 420} {
		r.S("self.timer", "", "ms").Add(v)
	}
	r.S("self.back", "", "ms").Add(333)
	r.S("restart.rs0.timer", "", "ms").Add(4)
	r.S("restart.rs0.serve", "", "ms").Add(40)
	r.S("restart.self.serve", "", "ms").Add(290)
	rp := &report{r: r, m: Machine{Systemd: "systemd 257 (257.1)"},
		f: Facts{RestartSec: "7s", RestartSecDur: 7 * time.Second, StartLimitBurst: "12", StartLimitInterval: "2min"}}
	s := rp.explain("self")
	for _, want := range []string{"RestartSec=7s", "180 to 420 ms", "300 ms (median", "StartLimitBurst=12", "StartLimitIntervalSec=2min",
		"250ms", "src/core/service.c", "systemd 252", "This run had systemd 257", "7000 to 7250 ms", "**RestartSec=0 would take 250 ms off"} {
		require.Contains(t, s, want)
	}
	require.NotContains(t, s, "100ms", "RestartSec comes from the unit the run installed")
}

func TestPollExplanation(t *testing.T) {
	r := newResults()
	for _, v := range []float64{2010, 2050, 2100} {
		r.S("poll.conflict.recovery", "", "ms").Add(v)
	}
	r.S("poll.conflict.calls", "", "").Add(3)
	r.S("poll.nohold.rate", "", "/s").Add(1)
	r.S("poll.nohold.rate", "", "/s").Add(2)
	r.S("poll.nohold.rt", "", "ms").Add(500)
	rp := &report{r: r}
	s := rp.explain("poll")
	require.Contains(t, s, "2050 ms after its end (median; at most 2100 ms over 3 conflicts)")
	require.Contains(t, s, "at most 2 in any second of 2")

	ts := map[string]target{}
	for _, tg := range rp.targets() {
		ts[tg.key] = tg
	}
	require.True(t, ts["poll.conflict"].known)
	require.True(t, ts["poll.conflict"].met)
	require.True(t, ts["poll.nohold"].met)
	r.S("poll.nohold.rate", "", "/s").Add(3)
	for _, tg := range rp.targets() {
		if tg.key == "poll.nohold" {
			require.False(t, tg.met, "3 polls in a second misses the target")
		}
	}
}

func TestTopFunction(t *testing.T) {
	// -cum order: the first line is not the one with the most flat time.
	top := `File: bench
Type: cpu
Showing nodes accounting for 1.20s, 85.71% of 1.40s total
      flat  flat%   sum%        cum   cum%
     0.01s  0.22%  0.22%      4.21s 92.94%  encoding/json.Unmarshal
         0     0%  0.22%      2.27s 50.11%  github.com/hermes-gateway/hermes/pkg/gateway.Run
     0.47s 10.38% 11.92%      1.43s 31.57%  encoding/json.checkValid
     0.36s  7.95% 21.19%      0.83s 18.32%  encoding/json.(*decodeState).skip
`
	require.Equal(t, "`encoding/json.checkValid` (10.38% of the samples)", topFunction(top))
	require.Empty(t, topFunction(""))
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func TestReadTreeSeesEveryChange(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("bin/\n"), 0o644))
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "one")

	tr, err := readTree(dir)
	require.NoError(t, err)
	require.NotEmpty(t, tr.Revision)
	require.Empty(t, tr.Changes)
	require.Contains(t, tr.Describe(), "clean")

	// Ignored files are not the build's; an untracked source file is, and
	// so is an edit.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "x"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.go"), []byte("package a\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a // edited\n"), 0o644))
	tr, err = readTree(dir)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"a.go", "b.go"}, tr.Changes)
	d := tr.Describe()
	require.Contains(t, d, "with uncommitted changes")
	require.Contains(t, d, "2 paths: `a.go`, `b.go`")
	require.False(t, strings.Contains(d, "bin/x"))
}
