package telegram

import (
	"errors"
	"fmt"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/shell"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"syscall"
)

// maxSecretFileBytes bounds what we read from a token or secret file; both
// hold a single short line.
const maxSecretFileBytes = 64 << 10

// tokenShape is the loose shape of a BotFather token: "<bot id>:<secret>".
var tokenShape = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]{30,}$`)

// ReadTokenFile reads the bot token from path. The file must be a regular
// file that only its owner can access (mode 0600 or stricter), because the
// token is the bot: whoever reads it can impersonate it. Surrounding white
// space is ignored. Errors say what to run and never contain the token.
func ReadTokenFile(path string) (string, error) {
	b, err := readPrivateFile(path, "token")
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(b))
	switch {
	case token == "":
		return "", fmt.Errorf("telegram: token file %s is empty; run `"+instance.Hermes("setup telegram")+"` to store the token from @BotFather", path)
	case !tokenShape.MatchString(token):
		return "", fmt.Errorf("telegram: token file %s does not hold a bot token (expected one line \"<bot id>:<secret>\" as given by @BotFather); run `"+instance.Hermes("setup telegram")+"`", path)
	}
	return token, nil
}

// ReadSecretFile reads the webhook secret token from path, with the same
// file rules as ReadTokenFile. Telegram accepts 1-256 characters from
// A-Z, a-z, 0-9, _ and -.
func ReadSecretFile(path string) (string, error) {
	b, err := readPrivateFile(path, "webhook secret")
	if err != nil {
		return "", err
	}
	secret := strings.TrimSpace(string(b))
	if err := validSecret(secret); err != nil {
		return "", fmt.Errorf("telegram: webhook secret file %s: the secret %w; run `"+instance.Hermes("setup telegram --mode webhook")+"` to generate one", path, err)
	}
	return secret, nil
}

// validSecret checks Telegram's rule for secret_token. The error does not
// quote the secret.
func validSecret(s string) error {
	if len(s) < 1 || len(s) > 256 {
		return fmt.Errorf("must be 1 to 256 characters long, not %d", len(s))
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return errors.New("may only contain A-Z, a-z, 0-9, _ and -")
		}
	}
	return nil
}

// readPrivateFile opens path and checks, on the opened file (so the check
// and the read concern the same file), that it is a regular file with no
// group or other permission bits. O_NONBLOCK keeps a FIFO planted at path
// from blocking the open.
func readPrivateFile(path, what string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("telegram: %s file %s does not exist; run `"+instance.Hermes("setup telegram")+"` to create it", what, path)
	}
	if err != nil {
		return nil, fmt.Errorf("telegram: %s file: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("telegram: %s file: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("telegram: %s file %s is not a regular file (%s)", what, path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("telegram: %s file %s has mode %04o, so other users may read it; run `chmod 600 %s`", what, path, perm, shell.Quote(path))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("telegram: %s file: %w", what, err)
	}
	if len(b) > maxSecretFileBytes {
		return nil, fmt.Errorf("telegram: %s file %s is larger than %d bytes; it should hold one line", what, path, maxSecretFileBytes)
	}
	return b, nil
}
