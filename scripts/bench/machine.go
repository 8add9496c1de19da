package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Machine describes where the figures were taken.
type Machine struct {
	Cores    int
	CPU      string
	MemTotal string
	Kernel   string
	Systemd  string
	Go       string
	Date     time.Time
	Tree     Tree
	// Load is /proc/loadavg's 1, 5 and 15 minute averages when the run
	// began and when it ended: others' work on the same cores.
	LoadStart, LoadEnd string
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func describeMachine(root string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now(), LoadStart: loadAvg()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				var kb float64
				if _, err := fmt.Sscan(strings.TrimSpace(v), &kb); err == nil {
					m.MemTotal = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
				break
			}
		}
		f.Close()
	}
	if out, err := exec.Command("systemctl", "--version").Output(); err == nil {
		m.Systemd, _, _ = strings.Cut(string(out), "\n")
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	return m
}

// Tree is the checkout the binaries were built from.
type Tree struct {
	Revision string // git rev-parse --short HEAD; "" when unknown
	// Changes are the paths that differ from Revision: modified, added,
	// deleted or untracked (not ignored) files, any of which can be in
	// the build. Empty: the tree was clean.
	Changes []string
	// AllowedDirty: measured anyway, on -allow-dirty.
	AllowedDirty bool
}

// readTree asks git about the checkout at root.
func readTree(root string) (Tree, error) {
	var t Tree
	rev := exec.Command("git", "rev-parse", "--short", "HEAD")
	rev.Dir = root
	out, err := rev.Output()
	if err != nil {
		return t, fmt.Errorf("git rev-parse HEAD in %s: %w", root, err)
	}
	t.Revision = strings.TrimSpace(string(out))
	st := exec.Command("git", "status", "--porcelain", "--untracked-files=all")
	st.Dir = root
	out, err = st.Output()
	if err != nil {
		return t, fmt.Errorf("git status in %s: %w", root, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if len(l) > 3 {
			t.Changes = append(t.Changes, strings.TrimSpace(l[3:]))
		}
	}
	return t, nil
}

// Describe is the revision line of the report.
func (t Tree) Describe() string {
	if t.Revision == "" {
		return "unknown (not a git checkout?)"
	}
	if len(t.Changes) == 0 {
		return fmt.Sprintf("%s, clean (no uncommitted or untracked files)", t.Revision)
	}
	return fmt.Sprintf("%s **with uncommitted changes**, measured on `-allow-dirty`: the figures are of this tree, not of %s (%s)",
		t.Revision, t.Revision, t.changeList())
}

// changeList is "N paths: `a`, `b`, …".
func (t Tree) changeList() string {
	shown := t.Changes
	more := ""
	if len(shown) > 8 {
		shown, more = shown[:8], fmt.Sprintf(", … %d more", len(t.Changes)-8)
	}
	return fmt.Sprintf("%d paths: `%s`%s", len(t.Changes), strings.Join(shown, "`, `"), more)
}
