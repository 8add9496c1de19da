package agent

import (
	"errors"
	"fmt"
	"github.com/hermes-gateway/hermes/pkg/shell"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// maxKeyFileBytes bounds what is read from an API key file; it holds one
// short line.
const maxKeyFileBytes = 64 << 10

// readKeyFile reads the API key from path (already resolved). The file must
// be a regular file that only its owner can access (mode 0600 or stricter):
// whoever reads the key spends the owner's money. Surrounding white space
// is ignored. Errors name the key to fix and never contain the key.
func readKeyFile(path string) (string, error) {
	const key = "agent.openai.api_key_file"
	// O_NONBLOCK keeps a FIFO planted at path from blocking the open; the
	// checks below concern the file actually opened.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %s does not exist; put the API key in it (one line) and run `chmod 600 %s`, or fix the path", key, path, shell.Quote(path))
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: %s is not a regular file (%s)", key, path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s: %s has mode %04o, so other users may read the API key; run `chmod 600 %s`", key, path, perm, shell.Quote(path))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if len(b) > maxKeyFileBytes {
		return "", fmt.Errorf("%s: %s is larger than %d bytes; it should hold the API key on one line", key, path, maxKeyFileBytes)
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return "", fmt.Errorf("%s: %s is empty; put the API key in it (one line)", key, path)
	}
	for _, r := range k {
		// A header value cannot hold these, and a key never does: the
		// file probably holds something else (several lines, a note).
		if r <= ' ' || r == 0x7f {
			return "", fmt.Errorf("%s: %s should hold only the API key on one line, but it holds white space or control characters inside the key", key, path)
		}
	}
	return k, nil
}
