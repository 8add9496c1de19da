// Package install writes the gateway's units into the user's systemd
// directory and takes them out again: `hermes install-unit` and
// `hermes uninstall-unit`.
package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// header starts every unit file install-unit writes. The checksum covers
// the rest of the file, so a later install can tell a file it wrote (safe to
// refresh) from one a person edited (reported, and left alone).
const headerPrefix = "# Written by `hermes install-unit`; sha256:"

const headerSuffix = ". Edits here are kept and reported by the next install; prefer `systemctl --user edit UNIT`.\n"

// withHeader returns body as install-unit writes it.
func withHeader(body []byte) []byte {
	sum := sha256.Sum256(body)
	return append([]byte(headerPrefix+hex.EncodeToString(sum[:])+headerSuffix), body...)
}

// splitHeader returns the body of a file and whether its header's checksum
// still matches it (false for a file without a header).
func splitHeader(data []byte) (body []byte, intact bool) {
	if !bytes.HasPrefix(data, []byte(headerPrefix)) {
		return data, false
	}
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return data, false
	}
	line, body := string(data[:nl+1]), data[nl+1:]
	sum := strings.TrimSuffix(strings.TrimPrefix(line, headerPrefix), headerSuffix)
	got := sha256.Sum256(body)
	return body, sum == hex.EncodeToString(got[:])
}

// State is how an installed unit file compares with the embedded one.
type State string

const (
	Missing  State = "missing"  // not installed
	Current  State = "current"  // identical to what install-unit would write
	Outdated State = "outdated" // written by an older install-unit; safe to refresh
	Modified State = "modified" // edited by hand since install-unit wrote it
)

// File is one unit file's state.
type File struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	State State  `json:"state"`
	// Diff is a unified diff from the installed file to the one that would
	// be written, for outdated and modified files.
	Diff string `json:"diff,omitempty"`

	want []byte // the rendered body, with header
}

func compare(name, path string, body []byte) (File, error) {
	f := File{Name: name, Path: path, want: withHeader(body)}
	have, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		f.State = Missing
		return f, nil
	case err != nil:
		return f, fmt.Errorf("read %s: %w", path, err)
	}
	haveBody, intact := splitHeader(have)
	switch {
	case intact && bytes.Equal(haveBody, body):
		f.State = Current
		return f, nil
	case intact:
		f.State = Outdated
	default:
		f.State = Modified
	}
	f.Diff = unifiedDiff(path, have, f.want)
	return f, nil
}

func unifiedDiff(path string, have, want []byte) string {
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(string(have)),
		B:        difflib.SplitLines(string(want)),
		FromFile: path + " (installed)",
		ToFile:   path + " (hermes " + "install-unit)",
		Context:  2,
	})
	return d
}

// WriteAtomic writes data to path with mode through a temporary file and a
// rename, so no reader (systemd, the gateway) ever sees a half-written file.
func WriteAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
