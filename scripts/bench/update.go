package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/units"
)

// Figure 3: `hermes update --from DIR` with prebuilt binaries, in the
// install layout scripts/install.sh makes (~/.local/lib/hermes, run inside
// the sandbox, so its install-unit installs into the sandbox manager). Two
// versions are built once into two directories, and the updates alternate
// between them. Timed from exec to the "✓ Restarted" line, which the
// command prints only after /v1/status confirmed the new version; each
// progress line is timestamped too, for where the time goes.

var updateMarks = []struct{ key, prefix, name string }{
	{"update.stage", "→ staging", "exec → staging begins (checks, lock, config)"},
	{"update.switch", "→ switching current", "exec → staged and verified, switching"},
	{"update.restart", "→ restarting", "exec → units refreshed, restarting"},
}

func updates(e *Env, r *Results, n int, say func(string)) error {
	// Units written by hand (figure 1) carry no install-unit header and
	// would be kept as "edited": remove them, let install.sh install its
	// own.
	e.stop(units.Service, units.Socket)
	for _, name := range units.Names() {
		os.Remove(filepath.Join(e.UnitDir, name))
	}
	if err := e.reload(); err != nil {
		return err
	}
	if err := e.writeConfig("# benchmarks: the embedded defaults\n"); err != nil {
		return err
	}
	t := time.Now()
	install := exec.Command(filepath.Join(e.Root, "scripts", "install.sh"))
	install.Dir = e.Root
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/install.sh: %v: %s", err, out)
	}
	say(fmt.Sprintf("installed with scripts/install.sh in %.1f s", time.Since(t).Seconds()))

	dirs := map[string]string{}
	for _, v := range []string{"a", "b"} {
		version := "v0.0.0-bench." + v
		dir := filepath.Join(e.Work, "prebuilt-"+v)
		dirs[version] = dir
		for bin, pkg := range map[string]string{"hermes-gateway": "./cmd/gateway", "hermes": "./cmd/hermes"} {
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X github.com/hermes-gateway/hermes/pkg/version.Version="+version, "-o", filepath.Join(dir, bin), pkg)
			cmd.Dir = e.Root
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("build %s %s: %v: %s", version, bin, err, out)
			}
		}
	}
	hermes := filepath.Join(e.Home, ".local", "bin", "hermes")
	total := r.S("update.total", "exec → ✓ Restarted (new version confirmed)", "ms")
	confirm := r.S("update.reported", "what the command reports (switch → confirmed)", "ms")
	wall := r.S("update.wall", "exec → exit", "ms")
	order := []string{"v0.0.0-bench.a", "v0.0.0-bench.b"}
	for i := 0; i < n; i++ {
		version := order[i%2]
		units := units.Service
		e.resetFailed(units)
		marks, out, took, err := timedLines(hermes, "update", "--from", dirs[version])
		if err != nil {
			r.Note("update", "run %d (%s): %v\n%s", i+1, version, err, out)
			continue
		}
		okAt, ok := marks["✓ Restarted"]
		if !ok || !strings.Contains(out, version) {
			r.Note("update", "run %d (%s): no ✓ Restarted for it:\n%s", i+1, version, out)
			continue
		}
		total.AddDur(okAt)
		wall.AddDur(took)
		for _, m := range updateMarks {
			if at, ok := marks[m.prefix]; ok {
				r.S(m.key, m.name, "ms").AddDur(at)
			}
		}
		if m := cliTookRE.FindStringSubmatch(out[strings.Index(out, "✓ Restarted"):]); m != nil {
			var v float64
			fmt.Sscan(m[1], &v)
			confirm.Add(v)
		}
		if (i+1)%10 == 0 {
			say(fmt.Sprintf("update %d/%d", i+1, n))
		}
		settle()
	}
	return nil
}

// timedLines runs a command and notes when each line of its output
// starting with one of the update's progress prefixes first appeared.
func timedLines(name string, args ...string) (map[string]time.Duration, string, time.Duration, error) {
	cmd := exec.Command(name, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	marks := map[string]time.Duration{}
	var out strings.Builder
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, "", 0, err
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			at := time.Since(t0)
			line := sc.Text()
			out.WriteString(line + "\n")
			for _, p := range []string{"→ staging", "→ switching current", "→ restarting", "✓ Restarted"} {
				if _, seen := marks[p]; !seen && strings.HasPrefix(line, p) {
					marks[p] = at
				}
			}
		}
	}()
	err := cmd.Wait()
	took := time.Since(t0)
	pw.Close()
	<-read
	return marks, out.String(), took, err
}
