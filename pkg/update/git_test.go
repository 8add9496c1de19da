package update

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGitSourceUpdateListsTheCommitsAndBuilds(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	origin, checkout := newRepos(t)
	current := MakeVersion(f.semver, f.seedRev)
	commitFile(t, origin, "NOTES.md", "one\n", "docs: add notes")
	rev := commitFile(t, origin, "NOTES.md", "two\n", "docs: more notes")

	src := GitSource(checkout, "origin", "main")
	require.Equal(t, "origin/main in "+checkout, src.Describe())
	a, err := src.Check(context.Background(), current)
	require.NoError(t, err)
	require.True(t, a.Update)
	require.Equal(t, current, a.From)
	require.Equal(t, MakeVersion(f.semver, rev), a.To)
	require.Len(t, a.Changes, 2)
	require.Equal(t, rev[:7]+" docs: more notes", a.Changes[0], "newest first, like git log --oneline")
	require.True(t, strings.HasSuffix(a.Changes[1], " docs: add notes"))
	require.Equal(t, f.seedRev, gitT(t, checkout, "rev-parse", "HEAD"), "Check changes nothing")

	// Stage builds exactly what Check saw, even if origin moved on since.
	commitFile(t, origin, "NOTES.md", "three\n", "docs: not confirmed yet")
	l := testLayout(t)
	var lines []string
	v, err := l.Stage(context.Background(), src, filepath.Join(t.TempDir(), "missing.toml"), func(s string) { lines = append(lines, s) })
	require.NoError(t, err)
	require.Equal(t, a.To, v)
	require.Equal(t, rev, gitT(t, checkout, "rev-parse", "HEAD"), "fast-forwarded to the checked commit")
	require.Contains(t, strings.Join(lines, "\n"), "building hermes-gateway "+v)

	out, err := run(context.Background(), time.Minute, "", nil, filepath.Join(l.VersionDir(v), "hermes-gateway"), "--version")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "hermes-gateway "+v+" (rev "+rev[:12]+", "), out)
	inst, err := l.Installed()
	require.NoError(t, err)
	require.Len(t, inst, 1)
	require.Equal(t, rev, inst[0].Revision)
	require.Equal(t, src.Describe(), inst[0].Source)
}

func TestGitSourceUpToDate(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	_, checkout := newRepos(t)
	current := MakeVersion(f.semver, f.seedRev)

	a, err := GitSource(checkout, "origin", "main").Check(context.Background(), current)
	require.NoError(t, err)
	require.Equal(t, Available{From: current, To: current}, a)

	// Local commits on top of the remote's are no divergence: they are
	// what would be built.
	local := commitFile(t, checkout, "LOCAL.md", "mine\n", "local: a note")
	a, err = GitSource(checkout, "origin", "main").Check(context.Background(), current)
	require.NoError(t, err)
	require.True(t, a.Update)
	require.Equal(t, MakeVersion(f.semver, local), a.To)
	require.Equal(t, []string{local[:7] + " local: a note"}, a.Changes, "the commits since the installed revision")
}

func TestGitSourceDivergedChangesNothing(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	origin, checkout := newRepos(t)
	commitFile(t, origin, "NOTES.md", "theirs\n", "remote change")
	local := commitFile(t, checkout, "LOCAL.md", "mine\n", "local change")

	src := GitSource(checkout, "origin", "main")
	_, err := src.Check(context.Background(), MakeVersion(f.semver, f.seedRev))
	require.ErrorIs(t, err, ErrDiverged)
	require.ErrorContains(t, err, "git -C "+checkout+" status")
	require.ErrorContains(t, err, "1 commit(s)")

	l := testLayout(t)
	fakeVersion(t, l, "v0.0.1", t0)
	install(t, l, "v0.0.1")
	before := snapshot(t, l.Root)
	_, err = l.Stage(context.Background(), src, "", nil)
	require.ErrorIs(t, err, ErrDiverged)
	require.Equal(t, before, snapshot(t, l.Root))
	require.Equal(t, local, gitT(t, checkout, "rev-parse", "HEAD"))
}

func TestGitSourceRefusesToOverwriteLocalChanges(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	origin, checkout := newRepos(t)
	commitFile(t, origin, "README.md", "theirs\n", "docs: rewrite the README")
	require.NoError(t, os.WriteFile(filepath.Join(checkout, "README.md"), []byte("mine\n"), 0o644))
	// An untracked file the update would add is in the way too.
	commitFile(t, origin, "NEW.md", "theirs\n", "docs: a new file")
	require.NoError(t, os.WriteFile(filepath.Join(checkout, "NEW.md"), []byte("mine\n"), 0o644))
	// A change to a file the update does not touch is fine.
	require.NoError(t, os.WriteFile(filepath.Join(checkout, "VERSION"), []byte(f.semver+"\n\n"), 0o644))

	_, err := GitSource(checkout, "origin", "main").Check(context.Background(), MakeVersion(f.semver, f.seedRev))
	require.ErrorIs(t, err, ErrLocalChanges)
	require.ErrorContains(t, err, "NEW.md, README.md in "+checkout)
	require.ErrorContains(t, err, "git -C "+checkout+" stash")
	require.NotContains(t, err.Error(), "VERSION")
}

func TestGitSourceBuildFailureLeavesTheLayoutAlone(t *testing.T) {
	t.Parallel()
	origin, checkout := newRepos(t)
	main, err := os.ReadFile(filepath.Join(origin, "cmd", "gateway", "main.go"))
	require.NoError(t, err)
	commitFile(t, origin, "cmd/gateway/main.go", string(main)+"\nfunc broken( {\n", "gateway: break the build")

	l := testLayout(t)
	fakeVersion(t, l, "v0.0.1", t0)
	install(t, l, "v0.0.1")
	before := snapshot(t, l.Root)
	src := GitSource(checkout, "origin", "main")
	a, err := src.Check(context.Background(), "v0.0.1")
	require.NoError(t, err)
	require.True(t, a.Update)
	_, err = l.Stage(context.Background(), src, "", nil)
	require.Error(t, err)
	require.ErrorContains(t, err, "build hermes-gateway")
	require.ErrorContains(t, err, "cmd/gateway/main.go", "the compiler's output")
	require.ErrorContains(t, err, "syntax error")
	require.ErrorContains(t, err, "fix the build in "+checkout)
	require.Equal(t, before, snapshot(t, l.Root), "no staging directory, no version")
}

func TestGitSourceUnreachable(t *testing.T) {
	t.Parallel()
	_, err := GitSource(filepath.Join(t.TempDir(), "gone"), "origin", "main").Check(context.Background(), "v0.0.1")
	require.ErrorIs(t, err, ErrNoSource)
	require.ErrorContains(t, err, "is gone")
	require.ErrorContains(t, err, "--from DIR")

	origin, checkout := newRepos(t)
	require.NoError(t, os.RemoveAll(origin))
	_, err = GitSource(checkout, "origin", "main").Check(context.Background(), "v0.0.1")
	require.ErrorContains(t, err, "fetch origin main into "+checkout+" failed")
	require.ErrorContains(t, err, "git -C "+checkout+" remote -v")

	_, err = GitSource(checkout, "", "").Check(context.Background(), "v0.0.1")
	require.ErrorIs(t, err, ErrNoSource)
	require.ErrorContains(t, err, "set-upstream-to")
}
