package matrix

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	good := write("good", "  syt_aGVybWVz_abcdefghijklmnop_0a1b2c\n", 0o600)
	tok, err := ReadTokenFile(good)
	require.NoError(t, err)
	require.Equal(t, "syt_aGVybWVz_abcdefghijklmnop_0a1b2c", tok)

	readable := write("readable", "secret-token", 0o644)
	_, err = ReadTokenFile(readable)
	require.ErrorContains(t, err, "has mode 0644, so other users may read it; run `chmod 600 "+readable+"`")
	require.NotContains(t, err.Error(), "secret-token")

	_, err = ReadTokenFile(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "does not exist; run `hermes setup matrix`")

	_, err = ReadTokenFile(write("empty", "\n", 0o600))
	require.ErrorContains(t, err, "empty")

	_, err = ReadTokenFile(write("two", "secret one\n", 0o600))
	require.ErrorContains(t, err, "white space")
	require.NotContains(t, err.Error(), "secret")

	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	_, err = ReadTokenFile(fifo)
	require.ErrorContains(t, err, "not a regular file")
}
