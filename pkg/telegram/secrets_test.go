package telegram

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	require.NoError(t, os.Chmod(path, mode))
	return path
}

func TestReadTokenFile(t *testing.T) {
	token := fakebot.DefaultToken

	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := writeFile(t, "telegram.token", "  "+token+"\n", mode)
		got, err := ReadTokenFile(path)
		require.NoError(t, err)
		require.Equal(t, token, got)
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		path := writeFile(t, "telegram.token", token+"\n", mode)
		_, err := ReadTokenFile(path)
		require.ErrorContains(t, err, "chmod 600 "+path)
		require.NotContains(t, err.Error(), token)
	}

	// A path the user pastes into a shell is quoted.
	dir := filepath.Join(t.TempDir(), "my bots")
	require.NoError(t, os.Mkdir(dir, 0o700))
	path := filepath.Join(dir, "telegram.token")
	require.NoError(t, os.WriteFile(path, []byte(token), 0o644))
	require.NoError(t, os.Chmod(path, 0o644))
	_, err := ReadTokenFile(path)
	require.ErrorContains(t, err, "chmod 600 '"+path+"'")

	_, err = ReadTokenFile(filepath.Join(t.TempDir(), "missing.token"))
	require.ErrorContains(t, err, "does not exist")
	require.ErrorContains(t, err, "hermes setup telegram")

	_, err = ReadTokenFile(writeFile(t, "empty.token", " \n", 0o600))
	require.ErrorContains(t, err, "empty")

	for _, bad := range []string{"not a token", "123456789:short", "abc:AAHermesFakeBotToken-0123456789abcdef", token + " " + token, "bot" + token} {
		_, err = ReadTokenFile(writeFile(t, "bad.token", bad, 0o600))
		require.ErrorContains(t, err, "does not hold a bot token")
		require.NotContains(t, err.Error(), bad)
	}

	_, err = ReadTokenFile(t.TempDir())
	require.ErrorContains(t, err, "not a regular file")

	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	_, err = ReadTokenFile(fifo) // must not block waiting for a writer
	require.ErrorContains(t, err, "not a regular file")

	// A symlink to a private file is fine (systemd credentials, ...).
	target := writeFile(t, "real.token", token, 0o600)
	link := filepath.Join(t.TempDir(), "link.token")
	require.NoError(t, os.Symlink(target, link))
	got, err := ReadTokenFile(link)
	require.NoError(t, err)
	require.Equal(t, token, got)

	_, err = ReadTokenFile(writeFile(t, "huge.token", strings.Repeat("1", maxSecretFileBytes+1), 0o600))
	require.ErrorContains(t, err, "larger than")
}

func TestReadSecretFile(t *testing.T) {
	got, err := ReadSecretFile(writeFile(t, "webhook.secret", testSecret+"\n", 0o600))
	require.NoError(t, err)
	require.Equal(t, testSecret, got)

	path := writeFile(t, "webhook.secret", testSecret, 0o644)
	_, err = ReadSecretFile(path)
	require.ErrorContains(t, err, "chmod 600 "+path)
	require.NotContains(t, err.Error(), testSecret)

	for _, bad := range []string{"", "has space", "semi;colon", "ü", strings.Repeat("a", 257)} {
		_, err := ReadSecretFile(writeFile(t, "webhook.secret", bad, 0o600))
		require.Error(t, err, "%q", bad)
		if bad != "" {
			require.NotContains(t, err.Error(), bad)
		}
	}
	got, err = ReadSecretFile(writeFile(t, "webhook.secret", strings.Repeat("a", 256), 0o600))
	require.NoError(t, err)
	require.Len(t, got, 256)
}
