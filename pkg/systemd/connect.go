// Package systemd is the hermes CLI's side of systemd: it finds and talks to
// the user's service manager (`systemd --user`) over D-Bus, runs unit jobs
// (start, stop, restart) that wait for their result under a deadline, and
// reads unit properties.
//
// Everything here is bounded in time: Connect gives up within
// ConnectTimeout (or the context's earlier deadline), and every other call
// uses the context it is given, so a silent bus or a job that never
// finishes cannot hang the CLI as long as the caller passes a deadline.
//
// Typical use:
//
//	m, err := systemd.Connect(ctx)
//	if err != nil { return err } // *UnreachableError: print it, it says how to fix it
//	defer m.Close()
//	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
//	defer cancel()
//	if _, err := m.Restart(jctx, "hermes-gateway.service"); err != nil { ... }
package systemd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// ConnectTimeout bounds Connect when its context has no earlier deadline.
// A manager that is absent fails at once (no socket, connection refused);
// this wait is only for one that accepted and is slow to answer, as a busy
// or just-booted machine's is: 2 s made doctor call a loaded but working
// manager unreachable (seen under emulation in make vmtest).
const ConnectTimeout = 10 * time.Second

// reservePerCandidate is the time Connect keeps, while trying one bus
// address, for each address still to try after it.
const reservePerCandidate = 250 * time.Millisecond

// Manager is a connection to the user's service manager. It is safe for
// concurrent use. Close it when done.
type Manager struct {
	conn *sdbus.Conn
	// lost is closed when either D-Bus connection underneath conn (method
	// calls, signals) closes; job waits watch it.
	lost chan struct{}
	// Address is the bus address that answered, for diagnostics
	// (`hermes doctor`).
	Address string
}

// Close closes the connection. Jobs already queued keep running in systemd.
func (m *Manager) Close() {
	if m != nil && m.conn != nil {
		m.conn.Close()
	}
}

// Attempt is one bus address Connect tried, and why it did not work.
type Attempt struct {
	// Source says where the address came from: "DBUS_SESSION_BUS_ADDRESS",
	// "XDG_RUNTIME_DIR/bus" or "XDG_RUNTIME_DIR/systemd/private".
	Source  string
	Address string
	Err     error
}

// UnreachableError is what Connect returns when no bus address leads to a
// user manager that answers. Its Error() is one paragraph meant to be shown
// to the user as is: what was tried and how to fix it.
type UnreachableError struct {
	// Attempts lists the addresses tried, in order; empty when there was
	// nothing to try (neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR).
	Attempts []Attempt
}

func (e *UnreachableError) Error() string {
	var b strings.Builder
	b.WriteString("cannot reach the systemd user manager: ")
	if len(e.Attempts) == 0 {
		b.WriteString("neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set, so there is no user bus to try")
	} else {
		b.WriteString("tried ")
		for i, a := range e.Attempts {
			if i > 0 {
				b.WriteString("; then ")
			}
			fmt.Fprintf(&b, "%s (from %s): %s", a.Address, a.Source, describeDialError(a.Err))
		}
	}
	b.WriteString(". Is the user manager running (`systemctl --user status` should answer)? ")
	b.WriteString("Over SSH without lingering it stops when you log out: run `loginctl enable-linger $USER` once. ")
	b.WriteString("After sudo or su the session variables point nowhere: log in as that user with `machinectl shell USER@`, ")
	b.WriteString("or export XDG_RUNTIME_DIR=/run/user/$(id -u) (and unset DBUS_SESSION_BUS_ADDRESS) before running hermes.")
	return b.String()
}

// Unwrap gives the errors of the attempts, so errors.Is(err,
// context.DeadlineExceeded) tells a silent bus from a missing one.
func (e *UnreachableError) Unwrap() []error {
	errs := make([]error, 0, len(e.Attempts))
	for _, a := range e.Attempts {
		errs = append(errs, a.Err)
	}
	return errs
}

// errNoManager marks a bus that answered but has no systemd manager on it.
type noManagerError struct{ err error }

func (e *noManagerError) Error() string {
	return "the bus answered but no systemd manager is on it: " + e.err.Error()
}
func (e *noManagerError) Unwrap() error { return e.err }

func describeDialError(err error) string {
	var nm *noManagerError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &nm):
		return nm.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "the socket accepted the connection but nothing answered in time"
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOENT):
		return "no such socket"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: a stale socket with nothing listening"
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "permission denied: the socket belongs to another user"
	default:
		return err.Error()
	}
}

type candidate struct {
	source, address string
	// direct is a peer-to-peer connection to the manager itself (its
	// private socket): no bus daemon, so no Hello.
	direct bool
}

// candidates lists the addresses to try, in order: $DBUS_SESSION_BUS_ADDRESS,
// then unix:path=$XDG_RUNTIME_DIR/bus, then the manager's own private socket
// $XDG_RUNTIME_DIR/systemd/private (what systemctl --user falls back to on
// machines without a user bus, e.g. Debian without dbus-user-session).
func candidates() []candidate {
	var out []candidate
	env := strings.TrimSpace(os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
	if env != "" && env != "autolaunch:" {
		out = append(out, candidate{source: "DBUS_SESSION_BUS_ADDRESS", address: env})
	}
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" {
		bus := "unix:path=" + filepath.Join(rt, "bus")
		if bus != env {
			out = append(out, candidate{source: "XDG_RUNTIME_DIR/bus", address: bus})
		}
		out = append(out, candidate{source: "XDG_RUNTIME_DIR/systemd/private",
			address: "unix:path=" + filepath.Join(rt, "systemd", "private"), direct: true})
	}
	return out
}

// Connect finds the user manager and connects to it. It tries the
// addresses in the order candidates() gives and gives up within
// ConnectTimeout, or at ctx's deadline if that is earlier, with an
// *UnreachableError. ctx bounds only the connecting: the connection
// itself lives until Close, and each later call takes its own context.
func Connect(ctx context.Context) (*Manager, error) {
	deadline := time.Now().Add(ConnectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cands := candidates()
	uerr := &UnreachableError{}
	for i, c := range cands {
		// Most of the time left goes to this candidate, but some is kept
		// for each of the others, so one silent socket cannot starve them.
		left := time.Duration(len(cands) - i - 1)
		remaining := time.Until(deadline)
		budget := remaining - left*reservePerCandidate
		if even := remaining / (left + 1); budget < even {
			budget = even
		}
		actx, cancel := context.WithTimeout(ctx, budget)
		m, err := connectOne(actx, c)
		cancel()
		if err == nil {
			return m, nil
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			// The caller gave up (e.g. Ctrl-C): say so rather than blaming
			// the bus.
			return nil, fmt.Errorf("connecting to the systemd user manager: %w", ctx.Err())
		}
		uerr.Attempts = append(uerr.Attempts, Attempt{Source: c.source, Address: c.address, Err: err})
		if ctx.Err() != nil {
			break // the caller's deadline: no time left for the others
		}
	}
	return nil, uerr
}

// connTracker remembers the raw connections an attempt opened, so that an
// attempt abandoned at its deadline can close them (which also unblocks
// whatever read the attempt is stuck in).
type connTracker struct {
	mu        sync.Mutex
	conns     []*dbus.Conn
	abandoned bool
}

func (t *connTracker) add(c *dbus.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.abandoned {
		c.Close()
		return false
	}
	t.conns = append(t.conns, c)
	return true
}

func (t *connTracker) abandon() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.abandoned = true
	for _, c := range t.conns {
		c.Close()
	}
}

func (t *connTracker) list() []*dbus.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*dbus.Conn(nil), t.conns...)
}

var errAbandoned = errors.New("connection attempt abandoned")

// connectOne connects to one candidate address and checks that a systemd
// manager answers there, all before ctx's deadline.
func connectOne(ctx context.Context, c candidate) (*Manager, error) {
	if path, ok := strings.CutPrefix(c.address, "unix:path="); ok && !strings.ContainsAny(path, ",;") {
		// A clearer error than the dial's for the common case.
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
	}
	tr := &connTracker{}
	type result struct {
		m   *Manager
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := dialManager(ctx, c, tr)
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			tr.abandon()
		}
		return r.m, r.err
	case <-ctx.Done():
		tr.abandon()
		// The attempt may still finish (or fail) after this; close whatever
		// it produces.
		go func() {
			if r := <-done; r.m != nil {
				r.m.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func dialManager(ctx context.Context, c candidate, tr *connTracker) (*Manager, error) {
	dial := func() (*dbus.Conn, error) {
		// No dbus.WithContext: a context given to the connection would
		// become its lifetime. The attempt's deadline is enforced by
		// connectOne closing the connection instead.
		conn, err := dbus.Dial(c.address)
		if err != nil {
			return nil, err
		}
		if !tr.add(conn) {
			return nil, errAbandoned
		}
		if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			conn.Close()
			return nil, err
		}
		if !c.direct {
			if err := conn.Hello(); err != nil {
				conn.Close()
				return nil, err
			}
		}
		return conn, nil
	}
	first, err := dial()
	if err != nil {
		return nil, err
	}
	// Is there a manager on this bus? A session bus without systemd (or
	// with it gone) answers this with an error, a silent one not at all.
	var version dbus.Variant
	err = first.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
		CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", dbus.FlagNoAutoStart,
			"org.freedesktop.systemd1.Manager", "Version").Store(&version)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &noManagerError{err}
	}
	used := false
	conn, err := sdbus.NewConnection(func() (*dbus.Conn, error) {
		if !used {
			used = true
			return first, nil
		}
		return dial()
	})
	if err != nil {
		return nil, err
	}
	m := &Manager{conn: conn, lost: make(chan struct{}), Address: c.address}
	raw := tr.list()
	go func() {
		// Both connections end at Close at the latest.
		select {
		case <-raw[0].Context().Done():
		case <-raw[len(raw)-1].Context().Done():
		}
		close(m.lost)
	}()
	return m, nil
}
