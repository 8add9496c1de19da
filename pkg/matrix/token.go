package matrix

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/shell"
)

// maxTokenFileBytes bounds what ReadTokenFile reads: the file holds one
// short line.
const maxTokenFileBytes = 64 << 10

// ReadTokenFile reads the access token from path. The file must be a
// regular file that only its owner can access (mode 0600 or stricter):
// the token is the account, and whoever reads it can speak as the bot.
// Surrounding white space is ignored. Errors say what to run and never
// contain the token.
func ReadTokenFile(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0) // a FIFO planted at path must not block the open
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("matrix: access token file %s does not exist; run `"+instance.Hermes("setup matrix")+"` to create it", path)
	}
	if err != nil {
		return "", fmt.Errorf("matrix: access token file: %w", err)
	}
	defer f.Close()
	// Checked on the opened file, so the check and the read concern the
	// same file.
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("matrix: access token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("matrix: access token file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("matrix: access token file %s has mode %04o, so other users may read it; run `chmod 600 %s`", path, perm, shell.Quote(path))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("matrix: access token file: %w", err)
	}
	if len(b) > maxTokenFileBytes {
		return "", fmt.Errorf("matrix: access token file %s is larger than %d bytes; it should hold one line", path, maxTokenFileBytes)
	}
	token := strings.TrimSpace(string(b))
	if err := CheckToken(token); err != nil {
		return "", fmt.Errorf("matrix: access token file %s: %w; run `"+instance.Hermes("setup matrix")+"`", path, err)
	}
	return token, nil
}

// CheckToken rejects what cannot be an access token (it goes into an
// Authorization header), without quoting it.
func CheckToken(token string) error {
	if token == "" {
		return errors.New("the access token is empty")
	}
	for _, r := range token {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return errors.New("the access token contains white space or characters outside printable ASCII; it should be one line such as syt_… or a random string")
		}
	}
	return nil
}
