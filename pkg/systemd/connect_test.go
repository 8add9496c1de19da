package systemd

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// connectOrHang runs Connect and fails the test if it has not returned
// well after its deadline.
func connectOrHang(t *testing.T, ctx context.Context) (*Manager, error) {
	t.Helper()
	type result struct {
		m   *Manager
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := Connect(ctx)
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case <-time.After(ConnectTimeout + 10*time.Second):
		t.Fatal("Connect did not return within its deadline")
		return nil, nil
	}
}

func requireUnreachable(t *testing.T, err error) *UnreachableError {
	t.Helper()
	var ue *UnreachableError
	require.ErrorAs(t, err, &ue)
	msg := err.Error()
	require.NotContains(t, msg, "\n", "the message is one paragraph")
	require.Contains(t, msg, "loginctl enable-linger")
	require.Contains(t, msg, "machinectl shell")
	require.Contains(t, msg, "XDG_RUNTIME_DIR=/run/user/$(id -u)")
	return ue
}

func TestConnectNoEnvironment(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	_, err := connectOrHang(t, context.Background())
	ue := requireUnreachable(t, err)
	require.Empty(t, ue.Attempts)
	require.Contains(t, err.Error(), "neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set")
}

func TestConnectMissingSocket(t *testing.T) {
	rt := t.TempDir()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", rt)
	_, err := connectOrHang(t, context.Background())
	ue := requireUnreachable(t, err)
	require.Len(t, ue.Attempts, 2)
	require.Equal(t, "unix:path="+filepath.Join(rt, "bus"), ue.Attempts[0].Address)
	require.Equal(t, "unix:path="+filepath.Join(rt, "systemd", "private"), ue.Attempts[1].Address)
	for _, a := range ue.Attempts {
		require.ErrorIs(t, a.Err, os.ErrNotExist)
	}
	require.Contains(t, err.Error(), "no such socket")
	require.Contains(t, err.Error(), rt)
}

func TestConnectEnvAddressFirst(t *testing.T) {
	rt := t.TempDir()
	env := "unix:path=" + filepath.Join(rt, "elsewhere")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", env)
	t.Setenv("XDG_RUNTIME_DIR", rt)
	_, err := connectOrHang(t, context.Background())
	ue := requireUnreachable(t, err)
	require.Len(t, ue.Attempts, 3)
	require.Equal(t, env, ue.Attempts[0].Address)
	require.Equal(t, "DBUS_SESSION_BUS_ADDRESS", ue.Attempts[0].Source)
}

func TestConnectRefused(t *testing.T) {
	rt := t.TempDir()
	path := filepath.Join(rt, "bus")
	// A socket file nobody listens on: bind, then close the listener
	// without removing the file.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	require.NoError(t, l.Close())

	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+path)
	t.Setenv("XDG_RUNTIME_DIR", "")
	_, err = connectOrHang(t, context.Background())
	ue := requireUnreachable(t, err)
	require.Len(t, ue.Attempts, 1)
	require.Contains(t, err.Error(), "connection refused")
}

// silentListener accepts connections and never says a word.
func silentListener(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
}

func TestConnectSilentListenerDefaultDeadline(t *testing.T) {
	rt := t.TempDir()
	silentListener(t, filepath.Join(rt, "bus"))
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", rt)
	_, err := connectOrHang(t, context.Background())
	ue := requireUnreachable(t, err)
	require.ErrorIs(t, ue.Attempts[0].Err, context.DeadlineExceeded)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "accepted the connection but nothing answered")
	t.Log(err)
}

func TestConnectSilentListenerShortDeadline(t *testing.T) {
	rt := t.TempDir()
	path := filepath.Join(rt, "silent")
	silentListener(t, path)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+path)
	t.Setenv("XDG_RUNTIME_DIR", "")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := connectOrHang(t, ctx)
	ue := requireUnreachable(t, err)
	require.Len(t, ue.Attempts, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestConnectCancelled(t *testing.T) {
	rt := t.TempDir()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", rt)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := connectOrHang(t, ctx)
	require.ErrorIs(t, err, context.Canceled)
	var ue *UnreachableError
	require.False(t, errors.As(err, &ue))
}

// A bus daemon with nobody on it: the bus answers, the manager does not.
func TestConnectBusWithoutManager(t *testing.T) {
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed")
	}
	rt := t.TempDir()
	sock := filepath.Join(rt, "bus")
	conf := filepath.Join(rt, "bus.conf")
	// No service directories: nothing can be activated, in particular not
	// org.freedesktop.systemd1.
	require.NoError(t, os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=`+sock+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, daemon, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	// dbus-daemon prints its address once it listens.
	line := make([]byte, 512)
	n, err := out.Read(line)
	require.NoError(t, err)
	require.Contains(t, string(line[:n]), sock)

	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+sock)
	t.Setenv("XDG_RUNTIME_DIR", "")
	_, err = connectOrHang(t, context.Background())
	ue := requireUnreachable(t, err)
	require.Len(t, ue.Attempts, 1)
	require.Contains(t, err.Error(), "no systemd manager is on it")
	require.True(t, strings.Contains(err.Error(), "org.freedesktop.systemd1"), err.Error())
}
