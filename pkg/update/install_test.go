package update

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runInstall runs scripts/install.sh of tree with HOME, HERMES_HOME and
// HERMES_BIN_DIR in home, from another directory.
func runInstall(t *testing.T, tree, home string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(tree, "scripts", "install.sh")}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), getFixture(t).goEnv...)
	cmd.Env = append(cmd.Env, "HOME="+home,
		"HERMES_HOME="+filepath.Join(home, "lib", "hermes"), "HERMES_BIN_DIR="+filepath.Join(home, "bin"))
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "install.sh:\n%s", out)
	return string(out)
}

func TestInstallScript(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	origin, checkout := newRepos(t)
	checkout, err := filepath.EvalSymlinks(checkout)
	require.NoError(t, err)
	home := t.TempDir()
	l := Layout{Root: filepath.Join(home, "lib", "hermes"), BinDir: filepath.Join(home, "bin")}
	version := MakeVersion(f.semver, f.seedRev)

	out := runInstall(t, checkout, home, nil, "--no-install-unit")
	require.Contains(t, out, "installed "+version+" in "+l.VersionDir(version))
	require.Contains(t, out, "current: "+version)
	require.Contains(t, out, "skipped hermes install-unit")

	// The layout: the version, current (relative), the CLI link.
	cur, err := l.Current()
	require.NoError(t, err)
	require.Equal(t, version, cur)
	target, err := os.Readlink(l.CurrentLink())
	require.NoError(t, err)
	require.Equal(t, "versions/"+version, target)
	target, err = os.Readlink(l.HermesLink())
	require.NoError(t, err)
	require.Equal(t, filepath.Join(l.CurrentLink(), "hermes"), target)
	got, err := run(context.Background(), time.Minute, "", nil, l.HermesLink(), "version")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(got, "hermes "+version+" (rev "+f.seedRev[:12]), got)
	got, err = run(context.Background(), time.Minute, "", nil, l.GatewayPath(), "--version")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(got, "hermes-gateway "+version+" "), got)

	inst, err := l.Installed()
	require.NoError(t, err)
	require.Len(t, inst, 1)
	require.Equal(t, f.seedRev, inst[0].Revision)
	require.Equal(t, "scripts/install.sh from "+checkout, inst[0].Source)
	require.True(t, inst[0].Current)

	info, err := ReadSource(l)
	require.NoError(t, err)
	require.Equal(t, "git", info.Kind)
	require.Equal(t, checkout, info.Checkout)
	require.Equal(t, "origin", info.Remote)
	require.Equal(t, "main", info.Branch)
	require.NotEmpty(t, info.Go)

	lock, err := os.ReadFile(l.LockPath())
	require.NoError(t, err)
	require.Empty(t, lock, "the lock is released and says nobody holds it")

	// Again: nothing replaced, nothing moved.
	before := snapshot(t, l.Root)
	gw1, err := os.Stat(filepath.Join(l.VersionDir(version), "hermes-gateway"))
	require.NoError(t, err)
	out = runInstall(t, checkout, home, []string{"HERMES_SKIP_INSTALL_UNIT=1"})
	require.Contains(t, out, version+" is already installed in "+l.VersionDir(version)+"; nothing replaced")
	require.Contains(t, out, "current is already "+version)
	require.NotContains(t, out, "recorded the update source")
	require.Contains(t, out, "skipped hermes install-unit")
	gw2, err := os.Stat(filepath.Join(l.VersionDir(version), "hermes-gateway"))
	require.NoError(t, err)
	require.True(t, os.SameFile(gw1, gw2))
	require.Equal(t, before, snapshot(t, l.Root))

	// From there, hermes update's mechanics: the recorded source, a new
	// commit upstream, stage, switch, and the way back.
	rev := commitFile(t, origin, "NOTES.md", "news\n", "docs: news")
	src := info.Source()
	a, err := src.Check(context.Background(), cur)
	require.NoError(t, err)
	require.Equal(t, []string{rev[:7] + " docs: news"}, a.Changes)
	next, err := l.Stage(context.Background(), src, "", nil)
	require.NoError(t, err)
	require.Equal(t, MakeVersion(f.semver, rev), next)
	prev, err := l.Switch(next)
	require.NoError(t, err)
	require.Equal(t, version, prev)
	got, err = run(context.Background(), time.Minute, "", nil, l.HermesLink(), "version")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(got, "hermes "+next+" "), "the CLI on PATH follows current: %s", got)
	back, err := l.Previous()
	require.NoError(t, err)
	require.Equal(t, version, back)
	removed, err := l.Prune(0)
	require.NoError(t, err)
	require.Empty(t, removed, "current and previous are kept")
}

func TestInstallScriptOutsideGit(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	tree := filepath.Join(t.TempDir(), "tree")
	gitT(t, "", "clone", "-q", f.seed, tree)
	require.NoError(t, os.RemoveAll(filepath.Join(tree, ".git")))
	tree, err := filepath.EvalSymlinks(tree)
	require.NoError(t, err)
	home := t.TempDir()
	l := Layout{Root: filepath.Join(home, "lib", "hermes"), BinDir: filepath.Join(home, "bin")}
	version := MakeVersion(f.semver, "")

	out := runInstall(t, tree, home, []string{"GOFLAGS=-buildvcs=false"}, "--no-install-unit")
	require.Contains(t, out, "installed "+version)
	require.Contains(t, out, "is not a git checkout")
	cur, err := l.Current()
	require.NoError(t, err)
	require.Equal(t, version, cur)
	_, err = ReadSource(l)
	require.ErrorIs(t, err, ErrNoSource)
	require.ErrorContains(t, err, "hermes was installed from "+tree+", which is not a git checkout")
}
