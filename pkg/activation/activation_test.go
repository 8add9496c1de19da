package activation

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMain re-executes the test binary as the activated child, the way
// go-systemd's own activation tests run an example binary: systemd sets
// LISTEN_PID to the child's pid, which only the child can know.
func TestMain(m *testing.M) {
	if os.Getenv("HERMES_ACTIVATION_CHILD") == "1" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		os.Exit(child())
	}
	os.Exit(m.Run())
}

type childReport struct {
	Activated   bool     `json:"activated"`
	Control     string   `json:"control"`
	Unclaimed   []string `json:"unclaimed"`
	EnvLeft     string   `json:"env_left"`
	SecondAdopt bool     `json:"second_adopt"`
	Answer      string   `json:"answer"`
}

func child() int {
	set, err := Adopt()
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	r := childReport{Activated: set.Activated(), EnvLeft: os.Getenv("LISTEN_FDS") + os.Getenv("LISTEN_FDNAMES")}
	l, ok := set.Take(Control)
	if ok {
		r.Control = l.Addr().String()
		// Serve one connection to prove the fd is the live socket.
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Write([]byte("hello from the adopted socket"))
				c.Close()
			}
		}()
	}
	r.Unclaimed = set.Unclaimed()
	again, err := Adopt()
	r.SecondAdopt = err == nil && again.Activated()
	json.NewEncoder(os.Stdout).Encode(r)
	// Wait for the parent to connect before exiting.
	bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

func unixListenerFile(t *testing.T, path string) *os.File {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	f, err := l.File()
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func TestAdoptTakesSystemdSocketsByNameOnce(t *testing.T) {
	dir := t.TempDir()
	ctl := filepath.Join(dir, "gateway.sock")
	other := filepath.Join(dir, "other.sock")

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// fds 3 and 4, exactly as systemd passes them.
	cmd.ExtraFiles = []*os.File{unixListenerFile(t, ctl), unixListenerFile(t, other)}
	cmd.Env = append(os.Environ(), "HERMES_ACTIVATION_CHILD=1", "LISTEN_FDS=2", "LISTEN_FDNAMES=control:mystery")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	var r childReport
	require.NoError(t, json.Unmarshal([]byte(line), &r), line)

	require.True(t, r.Activated)
	require.Equal(t, ctl, r.Control)
	require.Equal(t, []string{"mystery"}, r.Unclaimed)
	require.Empty(t, r.EnvLeft, "the environment is cleared so children do not inherit the sockets")
	require.True(t, r.SecondAdopt, "a second Adopt returns the same sockets instead of none")

	c, err := net.Dial("unix", ctl)
	require.NoError(t, err)
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	require.Equal(t, "hello from the adopted socket", string(buf[:n]))
	c.Close()
	stdin.Write([]byte("\n"))
	require.NoError(t, cmd.Wait())
}

func TestListenUnixByHand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "hermes", "gateway.sock")
	l, err := ListenUnix(path)
	require.NoError(t, err)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), di.Mode().Perm())

	// A second listener must not steal the live socket.
	_, err = ListenUnix(path)
	require.ErrorIs(t, err, ErrInUse)
	require.Contains(t, err.Error(), "hermes-gateway.socket")

	require.NoError(t, l.Close())
	_, err = os.Stat(path)
	require.True(t, os.IsNotExist(err), "a hand-run gateway cleans up its socket")
}

func TestListenUnixReplacesAStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	require.NoError(t, l.Close()) // the file stays behind, as after a crash

	l2, err := ListenUnix(path)
	require.NoError(t, err)
	l2.Close()
}

func TestListenUnixRefusesANonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.sock")
	require.NoError(t, os.WriteFile(path, []byte("precious"), 0o600))
	_, err := ListenUnix(path)
	require.ErrorContains(t, err, "is not a socket")
	data, _ := os.ReadFile(path)
	require.Equal(t, "precious", string(data))
}

func TestListeningParsesProcNetUnix(t *testing.T) {
	table := "Num       RefCount Protocol Flags    Type St Inode Path\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/user/1000/hermes/gateway.sock\n" +
		"0000000000000000: 00000003 00000000 00000000 0001 03 12346 /run/user/1000/hermes/gateway.sock\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 12347 /tmp/with space.sock\n"
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/run/user/1000/hermes/gateway.sock", true},
		{"/tmp/with space.sock", true},
		{"/tmp/other.sock", false},
	} {
		got, err := listeningIn(bufio.NewScanner(strings.NewReader(table)), tc.path)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.path)
	}
}
