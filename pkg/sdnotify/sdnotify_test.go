package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// listen opens a real unixgram socket as systemd would and points
// NOTIFY_SOCKET at it, as mdlayher/sdnotify's tests do.
func listen(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

func read(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, err := conn.Read(buf)
	require.NoError(t, err)
	return string(buf[:n])
}

func TestVerbsSendTheDatagramsSystemdExpects(t *testing.T) {
	conn := listen(t)
	n := New()

	require.NoError(t, n.Ready())
	require.Equal(t, "READY=1", read(t, conn))

	require.NoError(t, n.Status("ready: %d platforms\nconnected", 2))
	require.Equal(t, "STATUS=ready: 2 platforms connected", read(t, conn))

	require.NoError(t, n.Stopping())
	require.Equal(t, "STOPPING=1", read(t, conn))

	require.NoError(t, n.Watchdog())
	require.Equal(t, "WATCHDOG=1", read(t, conn))

	require.NoError(t, n.ExtendTimeout(1500*time.Millisecond))
	require.Equal(t, "EXTEND_TIMEOUT_USEC=1500000", read(t, conn))

	require.NoError(t, n.Reloading())
	got := read(t, conn)
	require.True(t, strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC="), got)
}

func TestNoSocketIsANoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	require.NoError(t, New().Ready())
	var nilNotifier *Notifier
	require.NoError(t, nilNotifier.Stopping())
}

func TestAGoneSocketIsAnError(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	require.Error(t, New().Ready())
}

func TestWatchdogIntervalIsHalfOfWatchdogUsec(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "10000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	require.Equal(t, 5*time.Second, WatchdogInterval())

	t.Setenv("WATCHDOG_PID", "1") // meant for another process
	require.Zero(t, WatchdogInterval())

	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	require.Zero(t, WatchdogInterval())
}
