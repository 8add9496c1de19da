package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// holdEnv makes the test binary, re-executed by a test, a stand-in for a
// running gateway: it opens the store named by the variable, says "locked"
// on stdout and keeps the lock until its stdin closes.
const holdEnv = "HERMES_STORE_TEST_HOLD"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		os.Exit(holdLock(path))
	}
	os.Exit(m.Run())
}

func holdLock(path string) int {
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		return 1
	}
	return 0
}

func TestOpenCreatesDirAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "hermes", FileName)
	s, err := Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, path, s.Path())

	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), di.Mode().Perm())
}

func TestMeta(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	require.NoError(t, err)

	v, err := s.Meta("absent")
	require.NoError(t, err)
	require.Nil(t, v)

	require.NoError(t, s.SetMeta("version", []byte("1.2.3")))
	require.NoError(t, s.SetMeta("empty", nil))
	v, err = s.Meta("version")
	require.NoError(t, err)
	require.Equal(t, []byte("1.2.3"), v)
	v, err = s.Meta("empty")
	require.NoError(t, err)
	require.NotNil(t, v)
	require.Empty(t, v)

	require.Error(t, s.SetMeta("", []byte("x")), "bbolt refuses empty keys")

	// Values survive a reopen, and Close is idempotent.
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	s, err = Open(path)
	require.NoError(t, err)
	defer s.Close()
	v, err = s.Meta("version")
	require.NoError(t, err)
	require.Equal(t, []byte("1.2.3"), v)
}

func TestMetaReturnsCopy(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), FileName))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.SetMeta("k", []byte("abc")))
	v, err := s.Meta("k")
	require.NoError(t, err)
	v[0] = 'X' // would fault if it pointed into bbolt's read-only mmap
	v, err = s.Meta("k")
	require.NoError(t, err)
	require.Equal(t, []byte("abc"), v)
}

func TestOpenLockedBySameProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	require.NoError(t, err)
	defer s.Close()

	start := time.Now()
	_, err = Open(path)
	var le *LockedError
	require.ErrorAs(t, err, &le)
	require.Less(t, time.Since(start), 2*time.Second, "a second gateway must fail at once")
	require.Equal(t, path, le.Path)
	require.Equal(t, os.Getpid(), le.Pid)
	require.Equal(t, fmt.Sprintf("another hermes-gateway is running (pid %d)", os.Getpid()), err.Error())
}

// TestOpenLockedByOtherProcess is the real case: a gateway already runs.
func TestOpenLockedByOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	_, err = Open(path)
	var le *LockedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, cmd.Process.Pid, le.Pid)
	require.Equal(t, fmt.Sprintf("another hermes-gateway is running (pid %d)", cmd.Process.Pid), le.Error())

	// Once the holder exits, the store opens.
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	s, err := Open(path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestLockedErrorWithoutPid(t *testing.T) {
	err := &LockedError{Path: "/s/gateway.db"}
	require.Equal(t, "another hermes-gateway holds /s/gateway.db", err.Error())
}

func TestParseLocks(t *testing.T) {
	const locks = `1: POSIX  ADVISORY  WRITE 111 fd:01:5678 0 EOF
2: FLOCK  ADVISORY  WRITE 222 fd:02:5678 0 EOF
2: -> FLOCK  ADVISORY  WRITE 333 fd:01:5678 0 EOF
3: FLOCK  ADVISORY  WRITE 444 fd:01:5678 0 EOF
4: OFDLCK ADVISORY  READ  -1 00:06:9 0 EOF
`
	tests := []struct {
		name              string
		text              string
		major, minor, ino uint64
		want              int
	}{
		{"exact match", locks, 0xfd, 1, 5678, 444},
		{"other device", locks, 0xfd, 2, 5678, 222},
		{"no such inode", locks, 0xfd, 1, 1, 0},
		{"ambiguous inode only", locks, 8, 1, 5678, 0},
		{"unique inode only", "1: FLOCK  ADVISORY  WRITE 555 00:2a:77 0 EOF\n", 0, 0x30, 77, 555},
		{"garbage", "nonsense\n\n1: FLOCK x\n", 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseLocks(bufio.NewScanner(strings.NewReader(tt.text)), tt.major, tt.minor, tt.ino)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDevNumbers(t *testing.T) {
	// makedev(0xfd, 1) and a large one, as glibc encodes them.
	require.Equal(t, uint64(0xfd), devMajor(0xfd01))
	require.Equal(t, uint64(1), devMinor(0xfd01))
	dev := makedev(0x12345, 0x6789a)
	require.Equal(t, uint64(0x12345), devMajor(dev))
	require.Equal(t, uint64(0x6789a), devMinor(dev))
}

func makedev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}

func TestCorruptFiles(t *testing.T) {
	valid := validDBBytes(t)

	tests := []struct {
		name string
		data []byte
	}{
		{"garbage", []byte(strings.Repeat("this is not a bbolt file\n", 2000))},
		{"short garbage", []byte("hello")},
		{"zeros", make([]byte, 64<<10)},
		{"truncated to meta pages", valid[:2*4096]},
		{"truncated mid page", valid[:3*4096+100]},
		{"truncated to half", valid[:len(valid)/2]},
		{"first page only", valid[:4096]},
		{"meta pages destroyed", append(make([]byte, 2*4096), valid[2*4096:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			require.NoError(t, os.WriteFile(path, tt.data, 0o600))

			s, err := Open(path)
			if s != nil {
				s.Close()
			}
			var ce *CorruptError
			require.ErrorAs(t, err, &ce, "%v", err)
			require.Equal(t, path, ce.Path)
			require.NotNil(t, ce.Err)
			msg := err.Error()
			require.Contains(t, msg, "damaged")
			require.Contains(t, msg, "mv "+path+" "+path+".broken-"+time.Now().Format("2006-01-02"))
			require.Contains(t, msg, "empty store")

			// The failed Open released the lock and left the file alone;
			// following the advice gets a working store.
			got, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			require.Equal(t, tt.data, got)
			require.NoError(t, os.Rename(path, path+".broken"))
			s, err = Open(path)
			require.NoError(t, err)
			require.NoError(t, s.Close())
		})
	}
}

// validDBBytes makes a store with enough data to span many pages, so that
// truncations cut through real content.
func validDBBytes(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	require.NoError(t, err)
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("history"))
		if err != nil {
			return err
		}
		for i := 0; i < 2000; i++ {
			if err := b.Put([]byte(fmt.Sprintf("chat-%05d", i)), []byte(strings.Repeat("m", 100))); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, s.SetMeta("version", []byte("1")))
	require.NoError(t, s.Close())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Greater(t, len(data), 32*4096)
	return data
}

func TestCorruptErrorQuotesPath(t *testing.T) {
	err := &CorruptError{Path: "/home/a b/it's/gateway.db", Err: errors.New("boom")}
	require.Contains(t, err.Error(), `mv '/home/a b/it'\''s/gateway.db' '/home/a b/it'\''s/gateway.db.broken-`)
	require.ErrorIs(t, err, err.Err)
}

func TestOpenOtherErrorsAreNotCorruption(t *testing.T) {
	dir := t.TempDir()
	// The path is a directory: an error, but not one to "fix" with mv.
	_, err := Open(dir)
	require.Error(t, err)
	var ce *CorruptError
	var le *LockedError
	require.False(t, errors.As(err, &ce), "%v", err)
	require.False(t, errors.As(err, &le), "%v", err)
}
