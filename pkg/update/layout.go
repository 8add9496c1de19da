// Package update is the mechanics of `hermes update`: the on-disk layout of
// installed versions, switching between them atomically, staging a new
// version from a source (a git checkout or prebuilt binaries) and verifying
// it before anything switches, pruning, and the lock that keeps two updates
// apart. Restarting through systemd and deciding to roll back is the CLI's
// job (pkg/cli).
//
// The layout (scripts/install.sh creates it):
//
//	$HERMES_HOME/versions/<version>/{hermes,hermes-gateway,version.json}
//	$HERMES_HOME/current -> versions/<version>   (the units run current/hermes-gateway)
//	$HERMES_HOME/state.json                      (the history of switches)
//	$HERMES_HOME/source.json                     (where hermes was installed from)
//	$HERMES_HOME/update.lock
//	$HERMES_BIN_DIR/hermes -> $HERMES_HOME/current/hermes
package update

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Errors callers may test for with errors.Is.
var (
	ErrNotInstalled = errors.New("hermes is not installed")
	ErrNoPrevious   = errors.New("no previous version to go back to")
	ErrNoSource     = errors.New("no update source")
	ErrDiverged     = errors.New("the checkout has diverged from its remote branch")
	ErrLocalChanges = errors.New("uncommitted changes would be overwritten")
)

// Binaries are the files every version directory holds.
var Binaries = []string{"hermes", "hermes-gateway"}

const (
	metaFile      = "version.json"
	stagingPrefix = ".staging-"
	trashPrefix   = ".trash-"
	maxHistory    = 50
	installHint   = "install with `make install` (scripts/install.sh)"
)

// Layout is where versions are installed: Root ($HERMES_HOME, default
// ~/.local/lib/hermes) and BinDir ($HERMES_BIN_DIR, default ~/.local/bin).
type Layout struct{ Root, BinDir string }

// DefaultLayout is the layout from $HERMES_HOME, $HERMES_BIN_DIR and $HOME.
func DefaultLayout() Layout {
	home := os.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	l := Layout{Root: os.Getenv("HERMES_HOME"), BinDir: os.Getenv("HERMES_BIN_DIR")}
	if l.Root == "" {
		l.Root = filepath.Join(home, ".local", "lib", "hermes")
	}
	if l.BinDir == "" {
		l.BinDir = filepath.Join(home, ".local", "bin")
	}
	if abs, err := filepath.Abs(l.Root); err == nil {
		l.Root = abs
	}
	if abs, err := filepath.Abs(l.BinDir); err == nil {
		l.BinDir = abs
	}
	return l
}

// VersionsDir holds one directory per installed version.
func (l Layout) VersionsDir() string { return filepath.Join(l.Root, "versions") }

// VersionDir is the directory of one version.
func (l Layout) VersionDir(version string) string { return filepath.Join(l.VersionsDir(), version) }

// CurrentLink is the symlink to the running version's directory.
func (l Layout) CurrentLink() string { return filepath.Join(l.Root, "current") }

// GatewayPath is what the units run: current/hermes-gateway.
func (l Layout) GatewayPath() string { return filepath.Join(l.CurrentLink(), "hermes-gateway") }

// HermesLink is the CLI on PATH: BinDir/hermes -> current/hermes.
func (l Layout) HermesLink() string { return filepath.Join(l.BinDir, "hermes") }

// StatePath is the history of switches.
func (l Layout) StatePath() string { return filepath.Join(l.Root, "state.json") }

// SourcePath is where scripts/install.sh records the source it installed from.
func (l Layout) SourcePath() string { return filepath.Join(l.Root, "source.json") }

// LockPath is the update lock.
func (l Layout) LockPath() string { return filepath.Join(l.Root, "update.lock") }

// Current is the version current points at.
func (l Layout) Current() (string, error) {
	link := l.CurrentLink()
	target, err := os.Readlink(link)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w (%s does not exist); %s", ErrNotInstalled, link, installHint)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %s is not a symlink to a version (%v); %s", ErrNotInstalled, link, err, installHint)
	}
	dir := target
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(l.Root, dir)
	}
	v := filepath.Base(dir)
	if filepath.Dir(filepath.Clean(dir)) != filepath.Clean(l.VersionsDir()) || !ValidVersion(v) {
		return "", fmt.Errorf("%s points at %s, not at a version in %s; %s", link, target, l.VersionsDir(), installHint)
	}
	if err := checkBinaries(dir); err != nil {
		return "", fmt.Errorf("%s points at %s, which is broken (%v); switch to another version (`hermes update --rollback`) or %s", link, target, err, installHint)
	}
	return v, nil
}

// Installed is one version on disk.
type Installed struct {
	Version     string    `json:"version"`
	Dir         string    `json:"dir"`
	Revision    string    `json:"revision,omitempty"`
	InstalledAt time.Time `json:"installed_at"`
	Source      string    `json:"source,omitempty"`
	Current     bool      `json:"current,omitempty"`
}

// meta is version.json, written into a version's directory when it is
// staged (by Stage or scripts/install.sh).
type meta struct {
	Version     string    `json:"version"`
	Revision    string    `json:"revision,omitempty"`
	InstalledAt time.Time `json:"installed_at"`
	Source      string    `json:"source,omitempty"`
}

// Installed lists the versions on disk, newest install first (by the
// installed_at of their version.json, else the directory's mtime).
func (l Layout) Installed() ([]Installed, error) {
	entries, err := os.ReadDir(l.VersionsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list installed versions: %w", err)
	}
	cur, _ := l.Current()
	var out []Installed
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !ValidVersion(name) {
			continue // staging and trash directories start with a dot
		}
		in := Installed{Version: name, Dir: l.VersionDir(name), Current: name == cur}
		var m meta
		if b, err := os.ReadFile(filepath.Join(in.Dir, metaFile)); err == nil && json.Unmarshal(b, &m) == nil {
			in.Revision, in.InstalledAt, in.Source = m.Revision, m.InstalledAt, m.Source
		}
		if in.InstalledAt.IsZero() {
			if fi, err := e.Info(); err == nil {
				in.InstalledAt = fi.ModTime()
			}
		}
		out = append(out, in)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].InstalledAt.Equal(out[j].InstalledAt) {
			return out[i].InstalledAt.After(out[j].InstalledAt)
		}
		return out[i].Version > out[j].Version
	})
	return out, nil
}

func (l Layout) isInstalled(version string) bool {
	return ValidVersion(version) && checkBinaries(l.VersionDir(version)) == nil
}

// switchRecord is one entry of state.json's history.
type switchRecord struct {
	From string    `json:"from,omitempty"`
	To   string    `json:"to"`
	At   time.Time `json:"at"`
}

type state struct {
	Switches []switchRecord `json:"switches"`
}

func (l Layout) readState() (state, error) {
	var st state
	b, err := os.ReadFile(l.StatePath())
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, fmt.Errorf("%s: %w", l.StatePath(), err)
	}
	return st, nil
}

// Switch points current at version atomically: a new relative symlink is
// created next to current and renamed over it, so current always resolves.
// It returns the version current pointed at before ("" if none) and records
// the switch in state.json for Previous. Switching to the current version
// changes nothing.
func (l Layout) Switch(version string) (previous string, err error) {
	if !ValidVersion(version) {
		return "", fmt.Errorf("switch to %q: not a version name", version)
	}
	if err := checkBinaries(l.VersionDir(version)); err != nil {
		return "", fmt.Errorf("switch to %s: not installed (%v); nothing was changed", version, err)
	}
	previous, _ = l.Current() // a missing or broken current is replaced
	if previous == version {
		return previous, nil
	}

	// The new history is written first, renamed into place only once the
	// link switched: a failure before that changes nothing.
	st, _ := l.readState() // an unreadable history starts afresh
	st.Switches = append(st.Switches, switchRecord{From: previous, To: version, At: time.Now().UTC()})
	if n := len(st.Switches); n > maxHistory {
		st.Switches = st.Switches[n-maxHistory:]
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	stateTmp, err := writeTemp(l.Root, ".state.json.tmp-", append(b, '\n'), 0o644)
	if err != nil {
		return previous, fmt.Errorf("switch to %s: write the history: %w; nothing was changed", version, err)
	}
	defer os.Remove(stateTmp) // gone already when renamed

	tmpLink := filepath.Join(l.Root, ".current.tmp-"+strconv.Itoa(os.Getpid())+"-"+randomSuffix())
	if err := os.Symlink(filepath.Join("versions", version), tmpLink); err != nil {
		return previous, fmt.Errorf("switch to %s: %w; nothing was changed", version, err)
	}
	if err := os.Rename(tmpLink, l.CurrentLink()); err != nil {
		os.Remove(tmpLink)
		return previous, fmt.Errorf("switch to %s: %w; nothing was changed (%s still points at %s)", version, err, l.CurrentLink(), previous)
	}
	// Not being able to record the switch does not undo it: Previous then
	// finds the version current pointed at before as the last one recorded.
	_ = os.Rename(stateTmp, l.StatePath())
	_ = syncDir(l.Root)
	return previous, nil
}

// Previous is the version before the current one, where `hermes update
// --rollback` goes: the version the last switch to current came from. When
// current was switched outside hermes update (scripts/install.sh records no
// history), it is the version the last recorded switch went to; with no
// history at all, the newest version installed before current.
func (l Layout) Previous() (string, error) {
	cur, err := l.Current()
	if err != nil {
		return "", err
	}
	if st, err := l.readState(); err == nil && len(st.Switches) > 0 {
		last := st.Switches[len(st.Switches)-1]
		cand := last.From
		if last.To != cur {
			cand = last.To
		}
		if cand != "" && cand != cur && l.isInstalled(cand) {
			return cand, nil
		}
	}
	inst, err := l.Installed()
	if err != nil {
		return "", err
	}
	var curAt time.Time
	for _, in := range inst {
		if in.Version == cur {
			curAt = in.InstalledAt
		}
	}
	fallback := ""
	for _, in := range inst {
		if in.Version == cur || !l.isInstalled(in.Version) {
			continue
		}
		if !in.InstalledAt.After(curAt) {
			return in.Version, nil
		}
		if fallback == "" {
			fallback = in.Version
		}
	}
	if fallback != "" {
		return fallback, nil
	}
	return "", fmt.Errorf("%w: %s is the only version installed", ErrNoPrevious, cur)
}

// Prune deletes installed versions beyond the keep newest, and never the
// current or the previous one (both count towards keep). It returns the
// versions it removed, newest first. Staging directories left behind by
// processes that no longer run are removed as well.
func (l Layout) Prune(keep int) ([]string, error) {
	if keep < 0 {
		return nil, fmt.Errorf("prune: keep must be 0 or more, not %d", keep)
	}
	cur, err := l.Current()
	if err != nil {
		return nil, err
	}
	prev, _ := l.Previous()
	inst, err := l.Installed()
	if err != nil {
		return nil, err
	}
	budget := keep - 1
	if prev != "" {
		budget--
	}
	var removed []string
	var errs []error
	for _, in := range inst {
		switch {
		case in.Version == cur || in.Version == prev:
			continue
		case budget > 0:
			budget--
			continue
		}
		if err := l.removeDir(in.Dir, in.Version); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, in.Version)
	}
	l.removeLeftovers()
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("prune: %w", err)
	}
	return removed, nil
}

// removeDir moves a version aside first, so that a half-deleted version
// never shows as installed.
func (l Layout) removeDir(dir, name string) error {
	trash := filepath.Join(l.VersionsDir(), trashPrefix+name+"-"+randomSuffix())
	if err := os.Rename(dir, trash); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove %s (moved to %s): %w", name, trash, err)
	}
	return nil
}

// removeLeftovers deletes trash, and staging directories whose process
// (the pid in .staging-<pid>-<random>) is gone.
func (l Layout) removeLeftovers() {
	entries, _ := os.ReadDir(l.VersionsDir())
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(l.VersionsDir(), name)
		switch {
		case strings.HasPrefix(name, trashPrefix):
			os.RemoveAll(p)
		case strings.HasPrefix(name, stagingPrefix):
			pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, stagingPrefix), "-")
			if pid, err := strconv.Atoi(pidStr); err == nil && !processAlive(pid) {
				os.RemoveAll(p)
			}
		}
	}
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

var versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+~-]{0,127}$`)

// ValidVersion says whether s can name a version directory.
func ValidVersion(s string) bool { return versionRE.MatchString(s) }

// MakeVersion is the version name scripts/install.sh and GitSource use: the
// semantic version from VERSION with the short revision, "v0.1.0+abc1234";
// without a revision "v0.1.0".
func MakeVersion(semver, revision string) string {
	v := "v" + strings.TrimPrefix(strings.TrimSpace(semver), "v")
	if revision != "" {
		v += "+" + revision[:min(7, len(revision))]
	}
	return v
}

// revisionOf is the short revision in a version made by MakeVersion.
func revisionOf(version string) string {
	_, rev, ok := strings.Cut(version, "+")
	if !ok {
		return ""
	}
	rev, _, _ = strings.Cut(rev, ".")
	if len(rev) < 7 || strings.Trim(rev, "0123456789abcdef") != "" {
		return ""
	}
	return rev
}

// checkBinaries says whether dir holds executable hermes and hermes-gateway.
func checkBinaries(dir string) error {
	for _, name := range Binaries {
		if err := checkExecutable(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeTemp writes data to a new file in dir (synced) and returns its path.
func writeTemp(dir, prefix string, data []byte, perm os.FileMode) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, prefix)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// writeFileAtomic replaces path with data through a synced temporary file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-", data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
