// Package activation hands the gateway its listeners: the sockets systemd
// passed by name (socket activation), or sockets it opens itself when run by
// hand in a terminal.
package activation

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"

	"github.com/coreos/go-systemd/v22/activation"
)

// Names of the sockets, as FileDescriptorName= in the socket units.
const (
	Control = "control"
	Webhook = "webhook"
)

var (
	adoptOnce sync.Once
	adopted   map[string][]net.Listener
	adoptErr  error
)

// Set is the listeners systemd passed, by name.
type Set struct {
	byName map[string][]net.Listener
}

// Adopt takes the listeners systemd passed to this process. It reads the
// environment exactly once per process: go-systemd's ListenersWithNames
// unsets LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES on first call (so children do
// not inherit them), and a second read would find nothing.
func Adopt() (*Set, error) {
	adoptOnce.Do(func() {
		adopted, adoptErr = activation.ListenersWithNames()
		if adoptErr != nil {
			adoptErr = fmt.Errorf("adopt systemd sockets (LISTEN_FDS): %w", adoptErr)
		}
	})
	if adoptErr != nil {
		return nil, adoptErr
	}
	// Take removes entries; hand out a copy so Adopt stays idempotent.
	m := make(map[string][]net.Listener, len(adopted))
	for k, v := range adopted {
		m[k] = v
	}
	return &Set{byName: m}, nil
}

// Activated reports whether systemd passed any socket.
func (s *Set) Activated() bool { return len(s.byName) > 0 }

// Take returns the listener systemd passed under name, and removes it from
// the set so that Unclaimed can report the rest. More than one fd under one
// name is a unit mistake (FileDescriptorName= names every fd of its socket
// unit): the caller gets the first and the rest are closed.
func (s *Set) Take(name string) (net.Listener, bool) {
	ls := s.byName[name]
	if len(ls) == 0 {
		return nil, false
	}
	delete(s.byName, name)
	for _, extra := range ls[1:] {
		extra.Close()
	}
	return ls[0], true
}

// Unclaimed lists names systemd passed that nobody took: a socket unit the
// gateway does not understand, worth a warning.
func (s *Set) Unclaimed() []string {
	var names []string
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrInUse means a live listener already holds a socket path.
var ErrInUse = errors.New("socket path is in use")

// ListenUnix opens a control socket at path by hand (no socket activation):
// the parent directory is created 0700 and the socket is made 0600, matching
// the socket unit. A stale socket file left by a dead process is replaced; a
// path some live process listens on (systemd's hermes-gateway.socket, most
// likely) is never touched.
func ListenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(dirOf(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the directory for %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; move it away or choose another path with --control", path)
		}
		live, err := listening(path)
		if err != nil {
			return nil, fmt.Errorf("check whether %s is in use: %w", path, err)
		}
		if live {
			return nil, fmt.Errorf("%w: %s is held by another listener (systemd's hermes-gateway.socket?): "+
				"use `hermes gateway start`, or stop it with `systemctl --user stop hermes-gateway.socket`, or choose another path with --control", ErrInUse, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// The file is removed on Close, which suits a hand-run gateway.
	l.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("restrict %s to its owner: %w", path, err)
	}
	return l, nil
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			if i == 0 {
				return "/"
			}
			return path[:i]
		}
	}
	return "."
}
