package update

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Stage builds a new version from src into a staging directory in
// VersionsDir and checks it before anything switches: hermes-gateway
// --version runs and names the version, hermes-gateway --check-config
// accepts configPath ("" for its default), hermes version runs. Then the
// staging directory becomes VersionsDir/<version>. An identical version
// already there is reused; a differing one is replaced, unless it is
// current. On any failure the staging directory is removed and the layout
// is as it was. Current does not change: that is Switch.
func (l Layout) Stage(ctx context.Context, src Source, configPath string, progress func(string)) (version string, err error) {
	if progress == nil {
		progress = func(string) {}
	}
	if err := os.MkdirAll(l.VersionsDir(), 0o755); err != nil {
		return "", fmt.Errorf("stage: %w", err)
	}
	staging, err := os.MkdirTemp(l.VersionsDir(), stagingPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", fmt.Errorf("stage: %w", err)
	}
	defer func() {
		if staging != "" {
			os.RemoveAll(staging)
		}
	}()
	if err := os.Chmod(staging, 0o755); err != nil {
		return "", fmt.Errorf("stage: %w", err)
	}

	built, err := src.Build(ctx, staging, progress)
	if err != nil {
		return "", fmt.Errorf("from %s: %w", src.Describe(), err)
	}
	version, revision, err := verify(ctx, staging, built, configPath, progress)
	if err != nil {
		return "", err
	}

	// version.json, then everything on disk before the rename makes it a
	// version: a crash must not leave a version with empty binaries.
	m, _ := json.MarshalIndent(meta{Version: version, Revision: revision, InstalledAt: time.Now().UTC(), Source: src.Describe()}, "", "  ")
	if err := os.WriteFile(filepath.Join(staging, metaFile), append(m, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("stage %s: %w", version, err)
	}
	for _, name := range append([]string{metaFile}, Binaries...) {
		if err := syncFile(filepath.Join(staging, name)); err != nil {
			return "", fmt.Errorf("stage %s: %w", version, err)
		}
	}
	_ = syncDir(staging)

	final := l.VersionDir(version)
	fi, err := os.Lstat(final)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Rename(staging, final); err != nil {
			return "", fmt.Errorf("stage %s: %w", version, err)
		}
		staging = ""
		progress(fmt.Sprintf("staged %s in %s", version, final))
	case err != nil:
		return "", fmt.Errorf("stage %s: %w", version, err)
	case !fi.IsDir():
		return "", fmt.Errorf("stage %s: %s is in the way (not a directory); remove it and try again", version, final)
	default:
		if same, err := sameBinaries(staging, final); err != nil {
			return "", fmt.Errorf("stage %s: compare with the installed one: %w", version, err)
		} else if same {
			progress(fmt.Sprintf("%s is already installed and identical; reusing %s", version, final))
			return version, nil
		}
		if cur, _ := l.Current(); cur == version {
			return "", fmt.Errorf("%s is the current version, and this build of it differs from the installed one (uncommitted changes in the source?); it was not replaced: commit the changes (a new revision is a new version), or switch to another version first", version)
		}
		if err := exchange(staging, final); err != nil {
			return "", fmt.Errorf("stage %s: replace the installed build: %w", version, err)
		}
		progress(fmt.Sprintf("replaced the installed build of %s (it differed)", version))
		// staging now holds the old build; the deferred RemoveAll deletes it.
	}
	_ = syncDir(l.VersionsDir())
	return version, nil
}

// verify runs the staged binaries; it returns the version and revision
// they report.
func verify(ctx context.Context, dir, built, configPath string, progress func(string)) (version, revision string, err error) {
	if err := checkBinaries(dir); err != nil {
		return "", "", fmt.Errorf("the new build is incomplete: %w", err)
	}
	gateway := filepath.Join(dir, "hermes-gateway")
	progress("checking the new hermes-gateway runs")
	version, err = gatewayVersion(ctx, gateway)
	if err != nil {
		return "", "", fmt.Errorf("the new hermes-gateway does not work: %w", err)
	}
	if built != "" && built != version {
		return "", "", fmt.Errorf("the new hermes-gateway reports version %s, but was built as %s; is the version package still github.com/hermes-gateway/hermes/pkg/version?", version, built)
	}

	args := []string{"--check-config"}
	what := "the default config"
	if configPath != "" {
		args = append(args, "--config", configPath)
		what = configPath
	}
	progress(fmt.Sprintf("checking %s with the new hermes-gateway", what))
	if _, err := run(ctx, probeTimeout, "", nil, gateway, args...); err != nil {
		return "", "", fmt.Errorf("the new hermes-gateway %s rejects %s: %w\nfix the config (check it with `%s --check-config`), or wait for a version that accepts it", version, what, err, gateway)
	}

	hermes := filepath.Join(dir, "hermes")
	progress("checking the new hermes runs")
	out, err := run(ctx, probeTimeout, "", nil, hermes, "version", "--json")
	if err != nil {
		return "", "", fmt.Errorf("the new hermes does not work: %w", err)
	}
	var info struct{ Version, Revision string }
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Version == "" {
		return "", "", fmt.Errorf("the new hermes: `hermes version --json` printed %q, not its version", out)
	}
	if info.Version != version {
		return "", "", fmt.Errorf("the new hermes is %s but hermes-gateway is %s; build both from the same source", info.Version, version)
	}
	return version, info.Revision, nil
}

func sameBinaries(a, b string) (bool, error) {
	for _, name := range Binaries {
		same, err := sameContent(filepath.Join(a, name), filepath.Join(b, name))
		if err != nil || !same {
			if errors.Is(err, fs.ErrNotExist) {
				err = nil // an incomplete install differs
			}
			return false, err
		}
	}
	return true, nil
}

func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, err
	}
	sb, err := fb.Stat()
	if err != nil {
		return false, err
	}
	if sa.Size() != sb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if erra == io.EOF || erra == io.ErrUnexpectedEOF {
			return errb == io.EOF || errb == io.ErrUnexpectedEOF, nil
		}
		if erra != nil {
			return false, erra
		}
		if errb != nil {
			return false, errb
		}
	}
}

// exchange swaps two directories atomically (renameat2 RENAME_EXCHANGE),
// or, where the filesystem cannot, moves b aside and a into its place.
func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if err == nil || !(errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP)) {
		return err
	}
	aside := filepath.Join(filepath.Dir(b), trashPrefix+filepath.Base(b)+"-"+randomSuffix())
	if err := os.Rename(b, aside); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		os.Rename(aside, b)
		return err
	}
	return os.Rename(aside, a)
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
