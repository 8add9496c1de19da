package update

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestStagePrebuiltBinaries(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	l := testLayout(t)
	fakeVersion(t, l, "v0.0.1", t0)
	install(t, l, "v0.0.1")
	cfg := writeConfig(t, "[gateway]\ndrain_timeout = \"10s\"\n")

	src := DirSource(f.prebuilt)
	a, err := src.Check(context.Background(), "v0.0.1")
	require.NoError(t, err)
	require.Equal(t, Available{Update: true, From: "v0.0.1", To: f.prebuiltVer, Changes: []string{"prebuilt " + f.prebuiltVer}}, a)
	a, err = src.Check(context.Background(), f.prebuiltVer)
	require.NoError(t, err)
	require.False(t, a.Update)

	var lines []string
	v, err := l.Stage(context.Background(), src, cfg, func(s string) { lines = append(lines, s) })
	require.NoError(t, err)
	require.Equal(t, f.prebuiltVer, v)
	require.Contains(t, strings.Join(lines, "\n"), "checking "+cfg+" with the new hermes-gateway")
	for _, name := range Binaries {
		same, err := sameContent(filepath.Join(f.prebuilt, name), filepath.Join(l.VersionDir(v), name))
		require.NoError(t, err)
		require.True(t, same, name)
	}
	inst, err := l.Installed()
	require.NoError(t, err)
	require.Equal(t, v, inst[0].Version, "the newest install")
	require.Equal(t, f.seedRev, inst[0].Revision)
	require.Equal(t, "prebuilt binaries in "+f.prebuilt, inst[0].Source)
	cur, err := l.Current()
	require.NoError(t, err)
	require.Equal(t, "v0.0.1", cur, "staging does not switch")

	// The same binaries again: the installed version is reused as it is.
	gwBefore, err := os.Stat(filepath.Join(l.VersionDir(v), "hermes-gateway"))
	require.NoError(t, err)
	before := snapshot(t, l.Root)
	lines = nil
	v2, err := l.Stage(context.Background(), src, cfg, func(s string) { lines = append(lines, s) })
	require.NoError(t, err)
	require.Equal(t, v, v2)
	require.Contains(t, strings.Join(lines, "\n"), "already installed and identical")
	gwAfter, err := os.Stat(filepath.Join(l.VersionDir(v), "hermes-gateway"))
	require.NoError(t, err)
	require.True(t, os.SameFile(gwBefore, gwAfter))
	require.Equal(t, before, snapshot(t, l.Root))
}

func TestStageRejectedConfigLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	l := testLayout(t)
	fakeVersion(t, l, "v0.0.1", t0)
	install(t, l, "v0.0.1")
	before := snapshot(t, l.Root)
	cfg := writeConfig(t, "[gateway]\nbogus = 1\n")

	dir := t.TempDir()
	writeFakeBinaries(t, dir, "v0.2.0+bad", 78)
	_, err := l.Stage(context.Background(), DirSource(dir), cfg, nil)
	require.ErrorContains(t, err, "the new hermes-gateway v0.2.0+bad rejects "+cfg)
	require.ErrorContains(t, err, "exit status 78")
	require.ErrorContains(t, err, "gateway.bogus: unknown key", "what the gateway said")
	require.ErrorContains(t, err, "fix the config")
	require.Equal(t, before, snapshot(t, l.Root))

	// The real gateway, with a config it rejects.
	f := getFixture(t)
	_, err = l.Stage(context.Background(), DirSource(f.prebuilt), cfg, nil)
	require.ErrorContains(t, err, "rejects "+cfg)
	require.ErrorContains(t, err, "bogus")
	require.Equal(t, before, snapshot(t, l.Root))
}

func TestStageRefusesBrokenBinaries(t *testing.T) {
	t.Parallel()
	l := testLayout(t)
	dir := t.TempDir()

	_, err := l.Stage(context.Background(), DirSource(dir), "", nil)
	require.ErrorContains(t, err, "must hold executable hermes and hermes-gateway")

	// A hermes-gateway that is not one.
	writeFakeBinaries(t, dir, "v0.2.0", 0)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hermes-gateway"), []byte("#!/bin/sh\necho hello\n"), 0o755))
	_, err = l.Stage(context.Background(), DirSource(dir), "", nil)
	require.ErrorContains(t, err, "is it a hermes-gateway binary?")

	// A hermes of another version.
	writeFakeBinaries(t, dir, "v0.2.0", 0)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hermes"), []byte("#!/bin/sh\necho '{\"version\":\"v0.1.9\"}'\n"), 0o755))
	_, err = l.Stage(context.Background(), DirSource(dir), "", nil)
	require.ErrorContains(t, err, "the new hermes is v0.1.9 but hermes-gateway is v0.2.0")

	// A hermes that fails.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hermes"), []byte("#!/bin/sh\necho boom >&2\nexit 3\n"), 0o755))
	_, err = l.Stage(context.Background(), DirSource(dir), "", nil)
	require.ErrorContains(t, err, "the new hermes does not work")
	require.ErrorContains(t, err, "boom")

	entries, err := os.ReadDir(l.VersionsDir())
	require.NoError(t, err)
	require.Empty(t, entries)
}

func TestStageReplacesADifferentBuildOfTheSameVersionUnlessCurrent(t *testing.T) {
	t.Parallel()
	l := testLayout(t)
	fakeVersion(t, l, "v0.0.1", t0)
	install(t, l, "v0.0.1")
	fakeVersion(t, l, "v0.2.0", t0) // installed, not current

	dir := t.TempDir()
	writeFakeBinaries(t, dir, "v0.2.0", 0)
	extra := "# rebuilt\n"
	gw := filepath.Join(dir, "hermes-gateway")
	b, err := os.ReadFile(gw)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(gw, append(b, extra...), 0o755))

	var lines []string
	v, err := l.Stage(context.Background(), DirSource(dir), "", func(s string) { lines = append(lines, s) })
	require.NoError(t, err)
	require.Equal(t, "v0.2.0", v)
	require.Contains(t, strings.Join(lines, "\n"), "replaced the installed build of v0.2.0")
	got, err := os.ReadFile(filepath.Join(l.VersionDir(v), "hermes-gateway"))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(string(got), extra))
	entries, err := os.ReadDir(l.VersionsDir())
	require.NoError(t, err)
	require.Len(t, entries, 2, "the old build is gone, no staging directory is left")

	// The current version is never replaced under the running gateway.
	_, err = l.Switch("v0.2.0")
	require.NoError(t, err)
	before := snapshot(t, l.Root)
	require.NoError(t, os.WriteFile(gw, append(b, "# again\n"...), 0o755))
	_, err = l.Stage(context.Background(), DirSource(dir), "", nil)
	require.ErrorContains(t, err, "v0.2.0 is the current version, and this build of it differs")
	require.Equal(t, before, snapshot(t, l.Root))
}

func TestStageHonoursTheContext(t *testing.T) {
	t.Parallel()
	l := testLayout(t)
	dir := t.TempDir()
	writeFakeBinaries(t, dir, "v0.2.0", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Stage(ctx, DirSource(dir), "", nil)
	require.ErrorIs(t, err, context.Canceled)
	entries, err := os.ReadDir(l.VersionsDir())
	require.NoError(t, err)
	require.Empty(t, entries)
}
