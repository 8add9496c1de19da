//go:build e2e

package systemd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/stretchr/testify/require"
)

// These tests drive the sandbox's private `systemd --user` (scripts/sandbox).
// Other packages' e2e tests share that manager at the same time, so every
// unit here has a name of its own and nothing global is touched besides
// daemon-reload.

func TestMain(m *testing.M) {
	if os.Getenv("HERMES_SANDBOX") == "" {
		fmt.Fprintln(os.Stderr, "pkg/systemd e2e: these tests drive a real systemd --user; run them inside the sandbox: scripts/sandbox -- go test -tags e2e ./pkg/systemd/")
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// jobTimeout is a failsafe for jobs that should finish: far longer than
// any of them takes, so it never decides a test by timing.
const jobTimeout = time.Minute

func connect(t *testing.T) *Manager {
	t.Helper()
	m, err := Connect(context.Background())
	require.NoError(t, err)
	t.Cleanup(m.Close)
	return m
}

func jobCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	t.Cleanup(cancel)
	return ctx
}

var unitSeq atomic.Int32

// unitName is a name no other test (nor -count run) uses.
func unitName(what string) string {
	return fmt.Sprintf("hermes-e2e-sd-%s-%d-%d.service", what, os.Getpid(), unitSeq.Add(1))
}

func unitDir() string {
	return filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user")
}

// installUnit writes a unit file and makes the manager read it; the unit is
// stopped and removed again when the test ends.
func installUnit(t *testing.T, m *Manager, name, content string) string {
	t.Helper()
	path := filepath.Join(unitDir(), name)
	require.NoError(t, os.MkdirAll(unitDir(), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	require.NoError(t, m.Reload(jobCtx(t)))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
		defer cancel()
		_, _ = m.Stop(ctx, name)
		_ = m.Disable(ctx, name)
		_ = os.Remove(path)
		_ = m.Reload(ctx)
		_ = m.ResetFailed(ctx, name)
	})
	return path
}

const notifyUnit = `[Unit]
Description=hermes e2e: a Type=notify service
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=all
ExecStart=/bin/sh -c 'systemd-notify --ready; exec sleep infinity'
`

func TestE2EStartRestartStop(t *testing.T) {
	m := connect(t)
	name := unitName("cycle")
	path := installUnit(t, m, name, notifyUnit)

	s, err := m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, name, s.Name)
	require.Equal(t, "loaded", s.LoadState)
	require.Equal(t, "inactive", s.ActiveState)
	require.Equal(t, path, s.FragmentPath)
	require.Empty(t, s.InvocationID)
	require.Equal(t, "", s.ExitDescription())

	res, err := m.Start(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, JobDone, res)
	first, err := m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "active", first.ActiveState)
	require.Equal(t, "running", first.SubState)
	require.NotZero(t, first.MainPID)
	require.Len(t, first.InvocationID, 32)
	require.False(t, first.ExecMainStartTimestamp.IsZero())
	require.False(t, first.ActiveEnterTimestamp.IsZero())

	res, err = m.Restart(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, JobDone, res)
	second, err := m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "active", second.ActiveState)
	require.NotEqual(t, first.InvocationID, second.InvocationID, "a restart is a new invocation")
	require.NotEqual(t, first.MainPID, second.MainPID)
	require.NotZero(t, second.MainPID)
	require.Zero(t, second.NRestarts, "manual restarts do not count")

	// An edited unit file shows until the next daemon-reload (unless
	// another package's test reloads in between).
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(notifyUnit, "a Type=notify service", "edited", 1)), 0o644))
	s, err = m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	if !s.NeedDaemonReload {
		t.Log("NeedDaemonReload is already false: someone else reloaded")
	}
	require.NoError(t, m.Reload(jobCtx(t)))
	s, err = m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.False(t, s.NeedDaemonReload)

	res, err = m.Stop(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, JobDone, res)
	s, err = m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "inactive", s.ActiveState)
	require.Equal(t, "dead", s.SubState)
	require.Zero(t, s.MainPID)
	// (Its ExecMain* are gone: an inactive unit nothing refers to is
	// unloaded, and read afresh from its file.)

	// Stopping a stopped unit is fine.
	res, err = m.Stop(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, JobDone, res)
}

const failingUnit = `[Unit]
Description=hermes e2e: exits 1 before it is ready
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=all
ExecStart=/bin/sh -c 'exit 1'
`

func TestE2EStartFails(t *testing.T) {
	m := connect(t)
	name := unitName("fail")
	installUnit(t, m, name, failingUnit)

	res, err := m.Start(jobCtx(t), name)
	require.Equal(t, JobFailed, res)
	var je *JobError
	require.ErrorAs(t, err, &je)
	require.Equal(t, JobFailed, je.Result)
	require.Equal(t, name, je.Unit)
	require.Contains(t, err.Error(), "systemctl --user status "+name)

	s, err := m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "failed", s.ActiveState)
	require.Equal(t, "exit-code", s.Result)
	require.Equal(t, int32(CLDExited), s.ExecMainCode)
	require.Equal(t, "exited 1", s.ExitDescription())
	require.False(t, StartLimitHit(s))
}

// startUntilRefused starts (or restarts) the unit until systemd refuses,
// checking each time that JobError.StartLimitHit tells a refused start
// (nothing ran: same invocation) from one that ran. It takes as many tries
// as it needs: a daemon-reload (other packages' e2e tests do them at the
// same time) resets the start-limit counters of systemd 252.
func startUntilRefused(t *testing.T, m *Manager, name string, restart bool) *JobError {
	t.Helper()
	for range 50 {
		before, err := m.Unit(jobCtx(t), name)
		require.NoError(t, err)
		var res JobResult
		if restart {
			res, err = m.Restart(jobCtx(t), name)
		} else {
			res, err = m.Start(jobCtx(t), name)
		}
		after, uerr := m.Unit(jobCtx(t), name)
		require.NoError(t, uerr)
		if err == nil {
			require.Equal(t, JobDone, res)
			continue
		}
		var je *JobError
		require.ErrorAs(t, err, &je)
		require.Equal(t, JobFailed, res)
		ran := after.InvocationID != before.InvocationID
		require.Equal(t, !ran, je.StartLimitHit, "StartLimitHit=%v but the unit ran=%v: %v", je.StartLimitHit, ran, err)
		if je.StartLimitHit {
			require.Contains(t, err.Error(), "reset-failed "+name)
			return je
		}
	}
	t.Fatalf("%s never hit its start limit", name)
	return nil
}

// Failed starts by hand until the limit: the unit's Result stays exit-code
// on systemd 252, the refused start is recognised from the job.
func TestE2EStartLimitHitByHand(t *testing.T) {
	m := connect(t)
	name := unitName("limit")
	installUnit(t, m, name, strings.Replace(failingUnit, "StartLimitIntervalSec=0", "StartLimitIntervalSec=1h\nStartLimitBurst=2", 1))

	startUntilRefused(t, m, name, false)
	s, err := m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "failed", s.ActiveState)
	t.Logf("after the refused start: Result=%s NRestarts=%d", s.Result, s.NRestarts)

	require.NoError(t, m.ResetFailed(jobCtx(t), name))
	s, err = m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.False(t, StartLimitHit(s))
	require.Equal(t, "inactive", s.ActiveState)
	// It runs again (and fails the ordinary way).
	res, err := m.Start(jobCtx(t), name)
	require.Equal(t, JobFailed, res)
	var je *JobError
	require.ErrorAs(t, err, &je)
	require.False(t, je.StartLimitHit)
	s, err = m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "exit-code", s.Result)
}

// Restarts of a healthy unit until the limit: Result=start-limit-hit.
func TestE2EStartLimitHitRestarts(t *testing.T) {
	m := connect(t)
	name := unitName("limitok")
	installUnit(t, m, name, strings.Replace(notifyUnit, "StartLimitIntervalSec=0", "StartLimitIntervalSec=1h\nStartLimitBurst=2", 1))
	_, err := m.Start(jobCtx(t), name)
	require.NoError(t, err)
	startUntilRefused(t, m, name, true)
	s, err := m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "start-limit-hit", s.Result)
	require.True(t, StartLimitHit(s))
}

// A crash loop (Restart=on-failure) into the limit. The start job fails
// with the first attempt; the automatic restarts go on after it.
func TestE2EStartLimitHitCrashLoop(t *testing.T) {
	m := connect(t)
	name := unitName("loop")
	installUnit(t, m, name, strings.Replace(
		strings.Replace(failingUnit, "StartLimitIntervalSec=0", "StartLimitIntervalSec=1h\nStartLimitBurst=3", 1),
		"ExecStart=", "Restart=on-failure\nRestartSec=0\nExecStart=", 1))
	w := watchUnit(t, m, name)
	res, err := m.Start(jobCtx(t), name)
	require.Equal(t, JobFailed, res)
	var je *JobError
	require.ErrorAs(t, err, &je)
	// (je.StartLimitHit may be either: the loop may be over already.)

	s := w.until(func(s UnitState) bool { return s.ActiveState == "failed" })
	require.Equal(t, uint32(3), s.StartLimitBurst)
	require.True(t, StartLimitHit(s), "Result=%s NRestarts=%d", s.Result, s.NRestarts)
	require.Equal(t, "exited 1", s.ExitDescription())
}

// unitWatch wakes up on every property change of one unit.
type unitWatch struct {
	t       *testing.T
	m       *Manager
	name    string
	changed chan *dbus.Signal
}

// watchUnit subscribes to the unit's PropertiesChanged signals on a
// connection of its own, before the test makes anything happen.
func watchUnit(t *testing.T, m *Manager, name string) *unitWatch {
	t.Helper()
	conn, err := dbus.Dial(m.Address)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}))
	if !strings.HasSuffix(m.Address, "/systemd/private") {
		require.NoError(t, conn.Hello())
	}
	path := dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sdbus.PathBusEscape(name))
	require.NoError(t, conn.AddMatchSignal(dbus.WithMatchObjectPath(path),
		dbus.WithMatchInterface("org.freedesktop.DBus.Properties"), dbus.WithMatchMember("PropertiesChanged")))
	w := &unitWatch{t: t, m: m, name: name, changed: make(chan *dbus.Signal, 64)}
	conn.Signal(w.changed)
	// Without a subscriber the manager does not send PropertiesChanged.
	require.NoError(t, conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
		Call("org.freedesktop.systemd1.Manager.Subscribe", 0).Err)
	return w
}

// until returns the unit's state once cond holds, looking again after each
// change signal.
func (w *unitWatch) until(cond func(UnitState) bool) UnitState {
	w.t.Helper()
	ctx := jobCtx(w.t)
	for {
		s, err := w.m.Unit(ctx, w.name)
		require.NoError(w.t, err)
		if cond(s) {
			return s
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			w.t.Fatalf("%s never reached the state waited for; last: %+v", w.name, s)
		}
	}
}

func TestE2EKilled(t *testing.T) {
	m := connect(t)
	name := unitName("killed")
	installUnit(t, m, name, `[Service]
Type=oneshot
ExecStart=/bin/sh -c 'kill -9 $$$$'
`)
	res, err := m.Start(jobCtx(t), name)
	require.Equal(t, JobFailed, res)
	require.Error(t, err)
	s, err := m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "signal", s.Result)
	require.Equal(t, "killed by SIGKILL", s.ExitDescription())
	require.False(t, s.ExecMainExitTimestamp.IsZero())
}

func TestE2ERestartDeadline(t *testing.T) {
	m := connect(t)
	name := unitName("slow")
	flag := filepath.Join(t.TempDir(), "started-once")
	// Ready on its first run; the run after that never says READY=1.
	installUnit(t, m, name, `[Unit]
Description=hermes e2e: ready once, then never
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=all
TimeoutStartSec=infinity
ExecStart=/bin/sh -c 'if [ -e `+flag+` ]; then exec sleep infinity; fi; touch `+flag+`; systemd-notify --ready; exec sleep infinity'
`)
	res, err := m.Start(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, JobDone, res)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err = m.Restart(ctx, name)
	require.Empty(t, res)
	var pe *JobPendingError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, "restart", pe.Op)
	require.Contains(t, err.Error(), "systemctl --user status "+name)
	if pe.JobID != 0 { // (0 if even the request took longer than the deadline)
		require.Contains(t, err.Error(), "still queued or running")
	}

	// The job is really still there: the unit is on its way (the manager
	// handles this request after the restart's, on the same connection).
	s, err := m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Contains(t, []string{"deactivating", "activating"}, s.ActiveState)

	// The connection is still usable, and a stop replaces the pending job.
	res, err = m.Stop(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, JobDone, res)
	s, err = m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "inactive", s.ActiveState)
}

func TestE2EUnitNotFound(t *testing.T) {
	m := connect(t)
	s, err := m.Unit(jobCtx(t), unitName("nonexistent"))
	require.NoError(t, err)
	require.Equal(t, "not-found", s.LoadState)
	require.Equal(t, "inactive", s.ActiveState)
	require.Empty(t, s.InvocationID)
}

func TestE2EEnableDisable(t *testing.T) {
	m := connect(t)
	name := unitName("enable")
	installUnit(t, m, name, notifyUnit+"\n[Install]\nWantedBy=default.target\n")

	require.NoError(t, m.Enable(jobCtx(t), name))
	s, err := m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "enabled", s.UnitFileState)
	_, err = os.Lstat(filepath.Join(unitDir(), "default.target.wants", name))
	require.NoError(t, err)

	require.NoError(t, m.Disable(jobCtx(t), name))
	s, err = m.Unit(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, "disabled", s.UnitFileState)

	static := unitName("static")
	installUnit(t, m, static, notifyUnit)
	err = m.Enable(jobCtx(t), static)
	require.ErrorContains(t, err, "no [Install] section")
}

func TestE2EConnectRuntimeDirBus(t *testing.T) {
	rt := os.Getenv("XDG_RUNTIME_DIR")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	m := connect(t)
	require.Equal(t, "unix:path="+filepath.Join(rt, "bus"), m.Address)
}

// Without any user bus, the manager's private socket still works, jobs
// included (their results come as signals on the direct connection).
func TestE2EConnectPrivateSocket(t *testing.T) {
	rt := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(rt, "systemd"), 0o700))
	require.NoError(t, os.Symlink(filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "systemd", "private"), filepath.Join(rt, "systemd", "private")))
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", rt)
	m := connect(t)
	require.Equal(t, "unix:path="+filepath.Join(rt, "systemd", "private"), m.Address)

	name := unitName("private")
	installUnit(t, m, name, notifyUnit)
	res, err := m.Start(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, JobDone, res)
	res, err = m.Stop(jobCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, JobDone, res)
}

// Many jobs in a row on one connection, each a new invocation. (A job whose
// result is never read is in TestE2ERestartDeadline: its restart job ends,
// cancelled, after the test stopped waiting, and the connection goes on.)
func TestE2EManyJobsOneConnection(t *testing.T) {
	m := connect(t)
	name := unitName("many")
	installUnit(t, m, name, notifyUnit)
	seen := map[string]bool{}
	for range 5 {
		res, err := m.Restart(jobCtx(t), name)
		require.NoError(t, err)
		require.Equal(t, JobDone, res)
		s, err := m.Unit(jobCtx(t), name)
		require.NoError(t, err)
		require.False(t, seen[s.InvocationID])
		seen[s.InvocationID] = true
	}
}
