package update

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lockHolderEnv makes the test binary a child that holds the update lock of
// the layout rooted there until its stdin closes (see startLockHolder).
const lockHolderEnv = "HERMES_UPDATE_TEST_HOLD_LOCK"

var fixtureRoot string

func TestMain(m *testing.M) {
	if root := os.Getenv(lockHolderEnv); root != "" {
		os.Exit(holdLock(root))
	}
	// Git in the tests must not read the machine's or the user's config
	// (commit signing, hooks, another default branch).
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL": os.DevNull, "GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
		"GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
	} {
		os.Setenv(k, v)
	}
	dir, err := os.MkdirTemp("", "hermes-update-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func holdLock(root string) int {
	lk, err := Layout{Root: root}.Lock(context.Background(), false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hold lock:", err)
		return 1
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
	if err := lk.Release(); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		return 1
	}
	return 0
}

// fixture is built once for the tests that need real binaries: the
// module's committed tree (HEAD of the repository these tests run in, so
// that edits in progress elsewhere in the tree cannot break them) with the
// working copy of scripts/install.sh, committed as a seed repository, and
// binaries built from it.
type fixture struct {
	seed, seedRev, semver string
	prebuilt, prebuiltVer string
	goEnv                 []string // GOCACHE etc., for commands run with another HOME
}

var (
	fxOnce sync.Once
	fx     *fixture
	fxErr  error
)

func getFixture(t *testing.T) *fixture {
	t.Helper()
	fxOnce.Do(func() { fx, fxErr = buildFixture() })
	if fxErr != nil {
		t.Fatalf("fixture: %v", fxErr)
	}
	return fx
}

func buildFixture() (*fixture, error) {
	ctx := context.Background()
	top, err := run(ctx, gitTimeout, "", nil, "git", "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("these tests need the module's git checkout: %w", err)
	}
	top = strings.TrimSpace(top)
	f := &fixture{seed: filepath.Join(fixtureRoot, "seed"), prebuilt: filepath.Join(fixtureRoot, "prebuilt"), prebuiltVer: "v0.9.0+prebuilt"}
	if err := os.MkdirAll(f.seed, 0o755); err != nil {
		return nil, err
	}
	tarball := filepath.Join(fixtureRoot, "seed.tar")
	steps := [][]string{
		{"git", "-C", top, "archive", "--format=tar", "-o", tarball, "HEAD"},
		{"tar", "-xf", tarball, "-C", f.seed},
	}
	for _, s := range steps {
		if _, err := run(ctx, time.Minute, "", nil, s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	script, err := os.ReadFile(filepath.Join(top, "scripts", "install.sh"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(f.seed, "scripts", "install.sh"), script, 0o755); err != nil {
		return nil, err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "seed"}} {
		if _, err := run(ctx, time.Minute, f.seed, nil, "git", args...); err != nil {
			return nil, err
		}
	}
	rev, err := run(ctx, gitTimeout, f.seed, nil, "git", "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	f.seedRev = strings.TrimSpace(rev)
	v, err := os.ReadFile(filepath.Join(f.seed, "VERSION"))
	if err != nil {
		return nil, err
	}
	f.semver = strings.TrimSpace(string(v))

	goEnv, err := run(ctx, time.Minute, "", nil, "go", "env", "GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS")
	if err != nil {
		return nil, err
	}
	vals := strings.Split(strings.TrimRight(goEnv, "\n"), "\n")
	for i, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS"} {
		if i < len(vals) {
			f.goEnv = append(f.goEnv, k+"="+vals[i])
		}
	}

	const pkg = "github.com/hermes-gateway/hermes/pkg/version"
	ldflags := fmt.Sprintf("-X %s.Version=%s -X %s.Revision=%s", pkg, f.prebuiltVer, pkg, f.seedRev)
	for name, main := range map[string]string{"hermes-gateway": "./cmd/gateway", "hermes": "./cmd/hermes"} {
		if _, err := run(ctx, buildTimeout, f.seed, nil, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", filepath.Join(f.prebuilt, name), main); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// --- helpers ---

func testLayout(t *testing.T) Layout {
	d := t.TempDir()
	return Layout{Root: filepath.Join(d, "lib", "hermes"), BinDir: filepath.Join(d, "bin")}
}

// fakeVersion installs a version made of shell scripts, installed at at.
func fakeVersion(t *testing.T, l Layout, version string, at time.Time) {
	t.Helper()
	dir := l.VersionDir(version)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	writeFakeBinaries(t, dir, version, 0)
	m := fmt.Sprintf(`{"version":%q,"installed_at":%q,"source":"test"}`, version, at.UTC().Format(time.RFC3339Nano))
	require.NoError(t, os.WriteFile(filepath.Join(dir, metaFile), []byte(m), 0o644))
}

// writeFakeBinaries writes a hermes-gateway and a hermes script reporting
// version; the gateway's --check-config exits with checkExit.
func writeFakeBinaries(t *testing.T, dir, version string, checkExit int) {
	t.Helper()
	gw := fmt.Sprintf(`#!/bin/sh
case "$1" in
--version) echo "hermes-gateway %[1]s (rev fake, go1.26.8)" ;;
--check-config) [ %[2]d = 0 ] || { echo "hermes-gateway: config: $3:1: gateway.bogus: unknown key" >&2; exit %[2]d; } ;;
esac
`, version, checkExit)
	cli := fmt.Sprintf("#!/bin/sh\necho '{\"version\":\"%s\",\"revision\":\"fake\"}'\n", version)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hermes-gateway"), []byte(gw), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hermes"), []byte(cli), 0o755))
}

// snapshot describes everything under root (names, kinds, link targets,
// file contents), to show that a failed operation changed nothing.
func snapshot(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		case fi.IsDir():
			out = append(out, rel+"/")
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out = append(out, fmt.Sprintf("%s %v %x", rel, fi.Mode(), sha256.Sum256(b)))
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(out)
	return out
}

func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := run(context.Background(), time.Minute, dir, nil, "git", args...)
	require.NoError(t, err)
	return strings.TrimSpace(out)
}

// newRepos clones the seed into an origin (with a working tree, so the
// tests commit there directly) and clones that into a checkout, which
// tracks origin/main as an installed checkout does.
func newRepos(t *testing.T) (origin, checkout string) {
	t.Helper()
	f := getFixture(t)
	d := t.TempDir()
	origin, checkout = filepath.Join(d, "origin"), filepath.Join(d, "checkout")
	gitT(t, "", "clone", "-q", f.seed, origin)
	gitT(t, "", "clone", "-q", origin, checkout)
	return origin, checkout
}

// commitFile writes content to name in repo and commits it; it returns the
// new revision.
func commitFile(t *testing.T, repo, name, content, subject string) string {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644))
	gitT(t, repo, "add", name)
	gitT(t, repo, "commit", "-q", "-m", subject)
	return gitT(t, repo, "rev-parse", "HEAD")
}

// startLockHolder runs a child process (this test binary) that takes l's
// lock; it returns once the lock is held, with the child's pid and a
// function that makes the child release it and waits for it to exit.
func startLockHolder(t *testing.T, l Layout) (pid int, release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+l.Root)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the child did not take the lock")
	require.Equal(t, "locked\n", line)
	var once sync.Once
	release = func() {
		once.Do(func() {
			stdin.Close()
			require.NoError(t, cmd.Wait())
		})
	}
	t.Cleanup(release)
	return cmd.Process.Pid, release
}
