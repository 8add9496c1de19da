package update

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func TestDefaultLayoutFollowsTheEnvironment(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("HERMES_HOME", "")
	t.Setenv("HERMES_BIN_DIR", "")
	l := DefaultLayout()
	require.Equal(t, Layout{Root: "/home/u/.local/lib/hermes", BinDir: "/home/u/.local/bin"}, l)
	require.Equal(t, "/home/u/.local/lib/hermes/current/hermes-gateway", l.GatewayPath())
	require.Equal(t, "/home/u/.local/lib/hermes/versions", l.VersionsDir())

	t.Setenv("HERMES_HOME", "/opt/h")
	t.Setenv("HERMES_BIN_DIR", "/opt/bin")
	require.Equal(t, Layout{Root: "/opt/h", BinDir: "/opt/bin"}, DefaultLayout())
}

func TestCurrentSaysHowToInstall(t *testing.T) {
	l := testLayout(t)
	_, err := l.Current()
	require.ErrorIs(t, err, ErrNotInstalled)
	require.ErrorContains(t, err, "make install")
	require.ErrorContains(t, err, "scripts/install.sh")

	// A link to a version that is not there is no installation either.
	require.NoError(t, os.MkdirAll(l.Root, 0o755))
	require.NoError(t, os.Symlink("versions/v1", l.CurrentLink()))
	_, err = l.Current()
	require.ErrorContains(t, err, "broken")
}

func TestSwitchIsAtomicAndRecordsThePreviousVersion(t *testing.T) {
	l := testLayout(t)
	fakeVersion(t, l, "v1", t0)
	fakeVersion(t, l, "v2", t0.Add(time.Hour))

	prev, err := l.Switch("v1")
	require.NoError(t, err)
	require.Empty(t, prev, "nothing was current before")
	prev, err = l.Switch("v2")
	require.NoError(t, err)
	require.Equal(t, "v1", prev)
	target, err := os.Readlink(l.CurrentLink())
	require.NoError(t, err)
	require.Equal(t, "versions/v2", target, "a relative link, so the tree can move")
	cur, err := l.Current()
	require.NoError(t, err)
	require.Equal(t, "v2", cur)
	back, err := l.Previous()
	require.NoError(t, err)
	require.Equal(t, "v1", back)

	// Switching to the current version changes nothing.
	before := snapshot(t, l.Root)
	prev, err = l.Switch("v2")
	require.NoError(t, err)
	require.Equal(t, "v2", prev)
	require.Equal(t, before, snapshot(t, l.Root))

	// While current flips back and forth, the gateway path always resolves.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var misses, reads int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			reads++
			if _, err := os.Stat(l.GatewayPath()); err != nil {
				misses++
			}
		}
	}()
	for i := 0; i < 300; i++ {
		_, err := l.Switch([]string{"v1", "v2"}[i%2])
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
	require.Zero(t, misses, "current did not resolve in %d of %d reads", misses, reads)

	// No temporary link or state file is left behind.
	entries, err := os.ReadDir(l.Root)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"current", "state.json", "versions"}, names)
}

func TestSwitchRefusesAVersionThatIsNotInstalled(t *testing.T) {
	l := testLayout(t)
	fakeVersion(t, l, "v1", t0)
	_, err := l.Switch("v1")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(l.VersionDir("v2"), 0o755)) // no binaries
	before := snapshot(t, l.Root)

	for _, v := range []string{"v2", "v3", "../v1", ".staging-1-x", ""} {
		_, err = l.Switch(v)
		require.Error(t, err, v)
	}
	require.Equal(t, before, snapshot(t, l.Root))
}

func TestPreviousIsWhereARollbackGoes(t *testing.T) {
	l := testLayout(t)
	for i, v := range []string{"v1", "v2", "v3"} {
		fakeVersion(t, l, v, t0.Add(time.Duration(i)*time.Hour))
	}
	for _, v := range []string{"v1", "v2"} {
		_, err := l.Switch(v)
		require.NoError(t, err)
	}
	prev, err := l.Previous()
	require.NoError(t, err)
	require.Equal(t, "v1", prev)

	// A rollback is a switch; rolling back again returns to where it came from.
	_, err = l.Switch(prev)
	require.NoError(t, err)
	prev, err = l.Previous()
	require.NoError(t, err)
	require.Equal(t, "v2", prev)

	// scripts/install.sh switches without recording: the version before
	// is the one the last recorded switch went to.
	tmp := filepath.Join(l.Root, "tmp-link")
	require.NoError(t, os.Symlink("versions/v3", tmp))
	require.NoError(t, os.Rename(tmp, l.CurrentLink()))
	prev, err = l.Previous()
	require.NoError(t, err)
	require.Equal(t, "v1", prev)
}

func TestPreviousWithoutHistory(t *testing.T) {
	l := testLayout(t)
	fakeVersion(t, l, "v1", t0)
	install(t, l, "v1")
	_, err := l.Previous()
	require.ErrorIs(t, err, ErrNoPrevious)

	// The newest version installed before the current one; a newer one
	// (staged but never run) only when there is no older one.
	fakeVersion(t, l, "v2", t0.Add(time.Hour))
	prev, err := l.Previous()
	require.NoError(t, err)
	require.Equal(t, "v2", prev)
	fakeVersion(t, l, "v0", t0.Add(-time.Hour))
	prev, err = l.Previous()
	require.NoError(t, err)
	require.Equal(t, "v0", prev)
}

// install points current at v the way scripts/install.sh does (no history).
func install(t *testing.T, l Layout, v string) {
	t.Helper()
	tmp := filepath.Join(l.Root, ".current.tmp")
	os.Remove(tmp)
	require.NoError(t, os.Symlink("versions/"+v, tmp))
	require.NoError(t, os.Rename(tmp, l.CurrentLink()))
}

func TestInstalledNewestFirst(t *testing.T) {
	l := testLayout(t)
	fakeVersion(t, l, "v0.1.0+aaaaaaa", t0.Add(2*time.Hour))
	fakeVersion(t, l, "v0.3.0+ccccccc", t0)
	fakeVersion(t, l, "v0.2.0+bbbbbbb", t0.Add(time.Hour))
	// Without version.json the directory's mtime counts.
	fakeVersion(t, l, "v0.0.9", t0)
	require.NoError(t, os.Remove(filepath.Join(l.VersionDir("v0.0.9"), metaFile)))
	require.NoError(t, os.Chtimes(l.VersionDir("v0.0.9"), t0.Add(90*time.Minute), t0.Add(90*time.Minute)))
	// Staging and trash directories are not versions.
	require.NoError(t, os.MkdirAll(filepath.Join(l.VersionsDir(), ".staging-1-abc"), 0o755))
	install(t, l, "v0.2.0+bbbbbbb")

	inst, err := l.Installed()
	require.NoError(t, err)
	var got []string
	for _, in := range inst {
		got = append(got, in.Version)
		require.Equal(t, in.Version == "v0.2.0+bbbbbbb", in.Current, in.Version)
	}
	require.Equal(t, []string{"v0.1.0+aaaaaaa", "v0.0.9", "v0.2.0+bbbbbbb", "v0.3.0+ccccccc"}, got)
	require.Equal(t, "test", inst[0].Source)
	require.True(t, inst[0].InstalledAt.Equal(t0.Add(2*time.Hour)))

	none, err := testLayout(t).Installed()
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestPruneKeepsCurrentPreviousAndTheNewest(t *testing.T) {
	l := testLayout(t)
	for i := 1; i <= 6; i++ {
		fakeVersion(t, l, "v"+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Hour))
	}
	// Rolled back from v6 to v2: current v2 (old), previous v6 (newest).
	install(t, l, "v6")
	_, err := l.Switch("v2")
	require.NoError(t, err)

	// Leftovers: a staging directory of a process that is gone, one of a
	// running process (this one), and trash.
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	deadStaging := filepath.Join(l.VersionsDir(), ".staging-"+strconv.Itoa(dead.Process.Pid)+"-x")
	liveStaging := filepath.Join(l.VersionsDir(), ".staging-"+strconv.Itoa(os.Getpid())+"-y")
	trash := filepath.Join(l.VersionsDir(), ".trash-v0-z")
	for _, d := range []string{deadStaging, liveStaging, trash} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}

	removed, err := l.Prune(3)
	require.NoError(t, err)
	require.Equal(t, []string{"v4", "v3", "v1"}, removed, "kept: current v2, previous v6, and the newest other, v5")
	requireVersions(t, l, "v6", "v5", "v2")
	require.NoDirExists(t, deadStaging)
	require.NoDirExists(t, trash)
	require.DirExists(t, liveStaging, "a running update's staging directory stays")

	removed, err = l.Prune(0)
	require.NoError(t, err)
	require.Equal(t, []string{"v5"}, removed)
	requireVersions(t, l, "v6", "v2")

	removed, err = l.Prune(10)
	require.NoError(t, err)
	require.Empty(t, removed)
	_, err = l.Prune(-1)
	require.Error(t, err)
	cur, err := l.Current()
	require.NoError(t, err)
	require.Equal(t, "v2", cur)
}

func requireVersions(t *testing.T, l Layout, want ...string) {
	t.Helper()
	inst, err := l.Installed()
	require.NoError(t, err)
	var got []string
	for _, in := range inst {
		got = append(got, in.Version)
	}
	require.Equal(t, want, got)
}

func TestVersionNames(t *testing.T) {
	require.Equal(t, "v0.1.0+abc1234", MakeVersion("0.1.0\n", "abc1234def0123"))
	require.Equal(t, "v0.1.0", MakeVersion("v0.1.0", ""))
	require.Equal(t, "abc1234", revisionOf("v0.1.0+abc1234"))
	require.Empty(t, revisionOf("v0.9.0+prebuilt"))
	require.Empty(t, revisionOf("v0.1.0"))
	for _, ok := range []string{"v0.1.0", "v0.1.0+abc1234", "1.2.3-rc.1"} {
		require.True(t, ValidVersion(ok), ok)
	}
	for _, bad := range []string{"", ".staging-1", "a/b", "..", "v 1"} {
		require.False(t, ValidVersion(bad), bad)
	}
}
