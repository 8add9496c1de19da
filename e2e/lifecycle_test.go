//go:build e2e

package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/stretchr/testify/require"
)

// 1. The socket is started and the service is not; the first connection
// starts the gateway, which answers it.
func TestFirstConnectionStartsTheGateway(t *testing.T) {
	e := newEnv(t)
	require.Equal(t, "active", e.prop(sock, "ActiveState"))
	require.Equal(t, "inactive", e.prop(svc, "ActiveState"), "socket activation: nothing runs until someone connects")

	st := e.status()
	require.Equal(t, control.StateReady, st.State)
	require.True(t, st.Activated, "the gateway adopted systemd's socket")
	require.Equal(t, "active", e.prop(svc, "ActiveState"))
	require.Equal(t, e.mainPID(), st.PID)
	require.Equal(t, e.prop(svc, "InvocationID"), st.InvocationID)
	require.Equal(t, "v0.0.0-e2e", st.Version)
}

// 2. Twenty restarts while a client keeps asking for status: every request
// is answered, none is refused, the pid changes each time.
func TestRestartsUnderLoadLoseNoRequest(t *testing.T) {
	e := newEnv(t)
	first := e.status().PID

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	pids := sync.Map{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := e.client()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			st, err := c.Status(ctx)
			cancel()
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				continue
			}
			ok.Add(1)
			pids.Store(st.PID, true)
		}
	}()

	prev := first
	for i := 0; i < 20; i++ {
		// For Type=notify the job ends at the new process's READY=1.
		e.systemctlOK("restart", svc)
		pid := e.mainPID()
		require.NotEqual(t, prev, pid, "restart %d kept pid %d", i+1, pid)
		prev = pid
	}
	close(stop)
	<-done

	require.Zero(t, failed.Load(), "requests failed during restarts; first: %v", firstErr.Load())
	require.Greater(t, ok.Load(), int64(20))
	seen := 0
	pids.Range(func(_, _ any) bool { seen++; return true })
	require.GreaterOrEqual(t, seen, 2, "the client saw the gateway change")
	require.Equal(t, "active", e.prop(svc, "ActiveState"))
}

// 3. POST /v1/restart: exit 75, systemd starts a new process after
// RestartSec, the unit never fails, the journal shows a planned restart.
func TestRestartRequestIsAPlannedRestart(t *testing.T) {
	e := newEnv(t)
	old := e.status()
	nBefore := e.prop(svc, "NRestarts")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.client().Restart(ctx, "e2e planned restart"))

	// The control socket queues our request until the new process serves it.
	var st *control.Status
	require.Eventually(t, func() bool {
		st = e.status()
		return st.PID != old.PID && st.State == control.StateReady
	}, 30*time.Second, 20*time.Millisecond)

	require.NotNil(t, st.LastRestart, "the new process reports why the old one left")
	require.Equal(t, "e2e planned restart", st.LastRestart.Reason)
	require.Equal(t, old.PID, st.LastRestart.PID)
	require.Contains(t, st.LastRestart.RequestedBy, "control API")

	n0, _ := strconv.Atoi(nBefore)
	require.Equal(t, strconv.Itoa(n0+1), e.prop(svc, "NRestarts"), "systemd restarted it (RestartForceExitStatus=75)")
	require.Equal(t, "active", e.prop(svc, "ActiveState"))
	require.Equal(t, "success", e.prop(svc, "Result"))

	j := e.waitJournal("Scheduled restart job")
	require.Contains(t, j, "restart requested")
	require.Contains(t, j, "exit 75: planned restart")
	require.NotContains(t, j, "Failed with result", "exit 75 is not a failure (SuccessExitStatus=75)")
}

// 4. kill -9 of the main pid: the crash path restarts it and NRestarts grows.
func TestKilledGatewayIsRestarted(t *testing.T) {
	e := newEnv(t)
	old := e.status().PID
	n0, _ := strconv.Atoi(e.prop(svc, "NRestarts"))

	sigkill(t, old)
	var st *control.Status
	require.Eventually(t, func() bool {
		st = e.status()
		return st.PID != old && st.State == control.StateReady
	}, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, strconv.Itoa(n0+1), e.prop(svc, "NRestarts"))
	j := e.waitJournal("status=9/KILL")
	require.Contains(t, j, "Scheduled restart job")
}

// 5. A broken config: exit 78, no restart loop, and one journal line that
// names the file, the key and the fix.
func TestBrokenConfigExits78WithoutLooping(t *testing.T) {
	e := newEnv(t)
	path := e.writeConfig("[gateway]\ndrain_timout = \"5s\"\n")

	out, err := e.systemctl("start", svc)
	require.Error(t, err, "the start job fails: %s", out)
	require.Equal(t, "failed", e.prop(svc, "ActiveState"), "failed, not auto-restart: RestartPreventExitStatus=78")
	require.Equal(t, "78", e.prop(svc, "ExecMainStatus"))
	require.Equal(t, "0", e.prop(svc, "NRestarts"))

	j := e.waitJournal("drain_timout")
	require.Contains(t, j, path)
	require.Contains(t, j, "drain_timeout", "the fix names the key it probably meant")
	require.NotContains(t, j, "Scheduled restart job")
}

// 6. A second gateway started by hand is refused; the first is untouched.
func TestSecondGatewayByHandIsRefused(t *testing.T) {
	e := newEnv(t)
	first := e.status()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "hermes-gateway"))
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	require.True(t, errors.As(err, &exitErr), "the second gateway must exit at once: %v %s", err, out)
	require.Equal(t, 1, exitErr.ExitCode())
	require.Contains(t, string(out), "another hermes-gateway is running (pid "+strconv.Itoa(first.PID)+")")

	_, err = os.Stat(control.DefaultSocketPath())
	require.NoError(t, err, "the socket systemd owns is still there")
	again := e.status()
	require.Equal(t, first.PID, again.PID)
	require.Equal(t, control.StateReady, again.State)
}

// 7. systemctl stop: exit 0 after draining, stays stopped; the next control
// connection starts it again.
func TestStopDrainsAndTheNextConnectionStartsAgain(t *testing.T) {
	e := newEnv(t)
	first := e.status().PID

	e.systemctlOK("stop", svc)
	require.Equal(t, "inactive", e.prop(svc, "ActiveState"), "stopped, and no restart pending")
	require.Equal(t, "0", e.prop(svc, "ExecMainStatus"))
	require.Equal(t, "success", e.prop(svc, "Result"))
	require.Equal(t, "active", e.prop(sock, "ActiveState"), "the socket keeps listening")
	j := e.waitJournal("drain done")
	require.Contains(t, j, "drain started")
	require.Contains(t, j, "exit 0: stop requested")

	st := e.status()
	require.NotEqual(t, first, st.PID)
	require.Equal(t, "active", e.prop(svc, "ActiveState"))
}
