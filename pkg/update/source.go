package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Source is where a new version comes from.
type Source interface {
	// Describe names the source for people: "origin/main in /src/hermes".
	Describe() string
	// Check says whether an update is available and what it contains,
	// changing nothing in the layout.
	Check(ctx context.Context, current string) (Available, error)
	// Build puts hermes and hermes-gateway for the new version into dir (an
	// empty staging directory) and returns the version they were built as.
	Build(ctx context.Context, dir string, progress func(string)) (version string, err error)
}

// Available is what Check found.
type Available struct {
	Update   bool     // To differs from From
	From, To string   // the current version, and the one the source would build
	Changes  []string // "abc1234 subject" per commit, newest first; or "prebuilt vX"
}

// SourceInfo is source.json, written by scripts/install.sh: the checkout
// hermes was installed from, and what it tracks.
type SourceInfo struct {
	Kind     string `json:"kind"`               // "git", or "none" (installed from a tree without git)
	Checkout string `json:"checkout,omitempty"` // absolute path of the tree
	Remote   string `json:"remote,omitempty"`   // e.g. origin
	Branch   string `json:"branch,omitempty"`   // the remote branch, e.g. main
	Go       string `json:"go,omitempty"`       // the Go toolchain install.sh used (units may not have it on PATH)
}

// ReadSource reads source.json. It is an ErrNoSource error when hermes was
// not installed from a git checkout.
func ReadSource(l Layout) (SourceInfo, error) {
	var s SourceInfo
	b, err := os.ReadFile(l.SourcePath())
	if errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("%w: %s does not exist; reinstall from a git checkout with `make install` (scripts/install.sh)", ErrNoSource, l.SourcePath())
	}
	if err != nil {
		return s, fmt.Errorf("read the update source: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w; reinstall with `make install` (scripts/install.sh)", l.SourcePath(), err)
	}
	switch {
	case s.Kind == "none":
		return s, fmt.Errorf("%w: hermes was installed from %s, which is not a git checkout", ErrNoSource, nonEmpty(s.Checkout, "a tree"))
	case s.Kind != "git" || s.Checkout == "":
		return s, fmt.Errorf("%w: %s names no git checkout; reinstall with `make install` (scripts/install.sh)", ErrNoSource, l.SourcePath())
	}
	return s, nil
}

// Source is the recorded checkout as a Source.
func (s SourceInfo) Source() Source {
	g := GitSource(s.Checkout, s.Remote, s.Branch).(*gitSource)
	g.goHint = s.Go
	return g
}

// DirSource is a directory with prebuilt hermes and hermes-gateway.
func DirSource(dir string) Source {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return &dirSource{dir: dir}
}

type dirSource struct{ dir string }

func (s *dirSource) Describe() string { return "prebuilt binaries in " + s.dir }

func (s *dirSource) version(ctx context.Context) (string, error) {
	if err := checkBinaries(s.dir); err != nil {
		return "", fmt.Errorf("%s must hold executable hermes and hermes-gateway: %w", s.dir, err)
	}
	return gatewayVersion(ctx, filepath.Join(s.dir, "hermes-gateway"))
}

func (s *dirSource) Check(ctx context.Context, current string) (Available, error) {
	v, err := s.version(ctx)
	if err != nil {
		return Available{}, err
	}
	a := Available{Update: v != current, From: current, To: v}
	if a.Update {
		a.Changes = []string{"prebuilt " + v}
	}
	return a, nil
}

func (s *dirSource) Build(ctx context.Context, dir string, progress func(string)) (string, error) {
	v, err := s.version(ctx)
	if err != nil {
		return "", err
	}
	if progress != nil {
		progress(fmt.Sprintf("copying %s from %s", v, s.dir))
	}
	for _, name := range Binaries {
		if err := copyFile(filepath.Join(s.dir, name), filepath.Join(dir, name), 0o755); err != nil {
			return "", fmt.Errorf("copy %s: %w", name, err)
		}
	}
	return v, nil
}

func copyFile(from, to string, perm os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// gatewayVersion runs `hermes-gateway --version` and returns the version,
// the second field of "hermes-gateway v0.1.0+abc1234 (rev …, go…)".
func gatewayVersion(ctx context.Context, gateway string) (string, error) {
	out, err := run(ctx, probeTimeout, "", nil, gateway, "--version")
	if err != nil {
		return "", fmt.Errorf("%s does not run: %w", gateway, err)
	}
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "hermes-gateway" || !ValidVersion(f[1]) {
		return "", fmt.Errorf("`%s --version` printed %q, not `hermes-gateway VERSION …`; is it a hermes-gateway binary?", gateway, strings.TrimSpace(out))
	}
	return f[1], nil
}

func nonEmpty(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
