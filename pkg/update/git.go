package update

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// GitSource is a git checkout that follows remote/branch: updates are
// fetched, fast-forwarded (never merged or rebased) and built with the Go
// toolchain.
func GitSource(checkout, remote, branch string) Source {
	if abs, err := filepath.Abs(checkout); err == nil {
		checkout = abs
	}
	return &gitSource{checkout: checkout, remote: remote, branch: branch}
}

type gitSource struct {
	checkout, remote, branch string
	goHint                   string // the toolchain install.sh used

	mu     sync.Mutex
	target string // the fetched commit Check saw; Build builds exactly that
}

func (g *gitSource) Describe() string {
	return fmt.Sprintf("%s/%s in %s", nonEmpty(g.remote, "?"), nonEmpty(g.branch, "?"), g.checkout)
}

func (g *gitSource) git(ctx context.Context, args ...string) (string, error) {
	return g.gitT(ctx, gitTimeout, args...)
}

func (g *gitSource) gitT(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	out, err := g.gitRaw(ctx, timeout, args...)
	return strings.TrimSpace(out), err
}

// gitRaw is git's stdout as it is (porcelain output starts with spaces).
func (g *gitSource) gitRaw(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	return run(ctx, timeout, "", []string{"GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}, "git", append([]string{"-C", g.checkout}, args...)...)
}

// isAncestor says whether commit a is an ancestor of (or equal to) b.
func (g *gitSource) isAncestor(ctx context.Context, a, b string) (bool, error) {
	_, err := g.git(ctx, "merge-base", "--is-ancestor", a, b)
	var ce *CommandError
	if errors.As(err, &ce) && ce.ExitCode() == 1 {
		return false, nil
	}
	return err == nil, err
}

// fetch fetches remote/branch and returns the fetched commit.
func (g *gitSource) fetch(ctx context.Context) (string, error) {
	if fi, err := os.Stat(g.checkout); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: the source checkout %s is gone; reinstall with `make install` from a checkout, or update from prebuilt binaries with --from DIR", ErrNoSource, g.checkout)
	}
	if top, err := g.git(ctx, "rev-parse", "--show-toplevel"); err != nil {
		return "", fmt.Errorf("%w: %s is not a git checkout (%v); reinstall with `make install` from a checkout, or update with --from DIR", ErrNoSource, g.checkout, err)
	} else if !sameDir(top, g.checkout) {
		return "", fmt.Errorf("%w: %s is not the top of a git checkout (that is %s); reinstall with `make install` from the checkout", ErrNoSource, g.checkout, top)
	}
	if g.remote == "" || g.branch == "" {
		return "", fmt.Errorf("%w: no remote branch recorded for %s; give its branch an upstream (`git -C %s branch --set-upstream-to=origin/main`) and reinstall with `make install`", ErrNoSource, g.checkout, g.checkout)
	}
	if _, err := g.gitT(ctx, fetchTimeout, "fetch", "--quiet", "--no-tags", g.remote, g.branch); err != nil {
		return "", fmt.Errorf("fetch %s %s into %s failed: %w\ncheck the network and the remote (`git -C %s remote -v`), then try again", g.remote, g.branch, g.checkout, err, g.checkout)
	}
	target, err := g.git(ctx, "rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}")
	if err != nil {
		return "", fmt.Errorf("fetch %s %s into %s: no commit fetched: %w", g.remote, g.branch, g.checkout, err)
	}
	return target, nil
}

// plan returns the commit a build would be made from: target when HEAD can
// be fast-forwarded to it, HEAD when HEAD already contains it. A diverged
// checkout, or uncommitted changes the fast-forward would overwrite, are
// errors.
func (g *gitSource) plan(ctx context.Context, target string) (string, error) {
	head, err := g.git(ctx, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		return "", fmt.Errorf("%s has no commit checked out: %w", g.checkout, err)
	}
	if head == target {
		return head, nil
	}
	if ok, err := g.isAncestor(ctx, target, head); err != nil {
		return "", err
	} else if ok {
		return head, nil // local commits on top of the remote's: build them
	}
	ff, err := g.isAncestor(ctx, head, target)
	if err != nil {
		return "", err
	}
	if !ff {
		counts, _ := g.git(ctx, "rev-list", "--left-right", "--count", head+"..."+target)
		local, remote, _ := strings.Cut(counts, "\t")
		return "", fmt.Errorf("%w: %s has %s commit(s) that %s/%s does not, and %s/%s has %s that it does not; hermes update only fast-forwards: resolve it by hand (`git -C %s status`), then run hermes update again",
			ErrDiverged, g.checkout, nonEmpty(local, "?"), g.remote, g.branch, g.remote, g.branch, nonEmpty(remote, "?"), g.checkout)
	}
	if err := g.checkOverwrite(ctx, head, target); err != nil {
		return "", err
	}
	return target, nil
}

// checkOverwrite fails when a file the fast-forward changes has
// uncommitted changes (or is untracked) in the checkout.
func (g *gitSource) checkOverwrite(ctx context.Context, head, target string) error {
	changedOut, err := g.git(ctx, "diff", "--name-only", "-z", head, target)
	if err != nil {
		return err
	}
	statusOut, err := g.gitRaw(ctx, gitTimeout, "status", "--porcelain", "-z", "--untracked-files=all")
	if err != nil {
		return err
	}
	changed := map[string]bool{}
	for _, p := range strings.Split(changedOut, "\x00") {
		if p != "" {
			changed[p] = true
		}
	}
	var conflicts []string
	entries := strings.Split(statusOut, "\x00")
	for i := 0; i < len(entries); i++ {
		e := entries[i]
		if len(e) < 4 {
			continue
		}
		paths := []string{e[3:]}
		if e[0] == 'R' || e[0] == 'C' { // renames and copies: the source path follows
			if i+1 < len(entries) {
				i++
				paths = append(paths, entries[i])
			}
		}
		for _, p := range paths {
			if changed[p] {
				conflicts = append(conflicts, p)
			}
		}
	}
	if len(conflicts) == 0 {
		return nil
	}
	sort.Strings(conflicts)
	return fmt.Errorf("%w: %s in %s; commit or stash them (`git -C %s stash`), then run hermes update again",
		ErrLocalChanges, strings.Join(conflicts, ", "), g.checkout, g.checkout)
}

func (g *gitSource) versionAt(ctx context.Context, commit string) (string, error) {
	semver, err := g.git(ctx, "show", commit+":VERSION")
	if err != nil {
		return "", fmt.Errorf("%s has no VERSION file at %s: %w", g.checkout, short(commit), err)
	}
	return MakeVersion(semver, commit), nil
}

// changes lists "abc1234 subject" for the commits the update brings: since
// the installed version's revision when the checkout knows it, else since
// HEAD.
func (g *gitSource) changes(ctx context.Context, current, build string) []string {
	base := "HEAD"
	if rev := revisionOf(current); rev != "" {
		if full, err := g.git(ctx, "rev-parse", "--verify", "--quiet", rev+"^{commit}"); err == nil {
			if ok, _ := g.isAncestor(ctx, full, build); ok {
				base = full
			}
		}
	}
	out, err := g.git(ctx, "log", "--no-decorate", "--format=%h %s", base+".."+build)
	if err != nil || out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

func (g *gitSource) Check(ctx context.Context, current string) (Available, error) {
	target, err := g.fetch(ctx)
	if err != nil {
		return Available{}, err
	}
	build, err := g.plan(ctx, target)
	if err != nil {
		return Available{}, err
	}
	to, err := g.versionAt(ctx, build)
	if err != nil {
		return Available{}, err
	}
	g.mu.Lock()
	g.target = target
	g.mu.Unlock()
	a := Available{Update: to != current, From: current, To: to}
	if a.Update {
		a.Changes = g.changes(ctx, current, build)
	}
	return a, nil
}

// Build fast-forwards the checkout to what Check fetched (fetching first if
// Check was not called) and builds both binaries into dir.
func (g *gitSource) Build(ctx context.Context, dir string, progress func(string)) (string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	g.mu.Lock()
	target := g.target
	g.mu.Unlock()
	if target == "" {
		progress(fmt.Sprintf("fetching %s %s into %s", g.remote, g.branch, g.checkout))
		var err error
		if target, err = g.fetch(ctx); err != nil {
			return "", err
		}
	}
	build, err := g.plan(ctx, target)
	if err != nil {
		return "", err
	}
	head, err := g.git(ctx, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	if build != head {
		progress(fmt.Sprintf("fast-forwarding %s to %s", g.checkout, short(build)))
		if _, err := g.git(ctx, "merge", "--ff-only", "--quiet", build); err != nil {
			return "", fmt.Errorf("fast-forward %s to %s failed: %w\nresolve it by hand (`git -C %s status`), then run hermes update again", g.checkout, short(build), err, g.checkout)
		}
	}
	rev, err := g.git(ctx, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	semver, err := os.ReadFile(filepath.Join(g.checkout, "VERSION"))
	if err != nil {
		return "", fmt.Errorf("read the version: %w", err)
	}
	version := MakeVersion(string(semver), rev)
	modified := ""
	if st, err := g.git(ctx, "status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
		modified = "true"
		progress(fmt.Sprintf("note: %s has uncommitted changes; they are built in (revision marked +dirty)", g.checkout))
	}
	goBin, err := findGo(g.goHint)
	if err != nil {
		return "", err
	}
	const pkg = "github.com/hermes-gateway/hermes/pkg/version"
	ldflags := fmt.Sprintf("-X %s.Version=%s -X %s.Revision=%s -X %s.Modified=%s", pkg, version, pkg, rev, pkg, modified)
	for _, b := range []struct{ name, main string }{{"hermes-gateway", "./cmd/gateway"}, {"hermes", "./cmd/hermes"}} {
		progress(fmt.Sprintf("building %s %s", b.name, version))
		if _, err := run(ctx, buildTimeout, g.checkout, nil, goBin, "build", "-trimpath", "-ldflags", ldflags, "-o", filepath.Join(dir, b.name), b.main); err != nil {
			return "", fmt.Errorf("build %s %s failed: %w\nfix the build in %s (now at %s), then run hermes update again",
				b.name, version, err, g.checkout, short(rev))
		}
	}
	return version, nil
}

// findGo is the Go toolchain: on PATH, else the one install.sh used, else
// the default tarball location.
func findGo(hint string) (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, p := range []string{hint, "/usr/local/go/bin/go"} {
		if p != "" && checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", errors.New("no Go toolchain found (not on PATH, nor in /usr/local/go/bin): install Go (https://go.dev/dl), or update from prebuilt binaries with --from DIR")
}

func short(rev string) string { return rev[:min(7, len(rev))] }

func sameDir(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
