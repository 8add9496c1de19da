//go:build e2e

package journal

import (
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The handler against the sandbox's real journald, read back with
// journalctl -o json.
func TestHandlerWritesFieldsJournaldKeeps(t *testing.T) {
	marker := "hermes-handler-test-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	log := slog.New(NewHandler(os.Stderr, slog.LevelDebug))
	log.Warn("handler test", "marker", marker, "HERMES_EVENT", "exit", "update_id", 7, "reason", "planned restart")

	var entry map[string]any
	require.Eventually(t, func() bool {
		out, err := exec.Command("journalctl", "-o", "json", "--no-pager", "SYSLOG_IDENTIFIER="+filepath.Base(os.Args[0]), "MARKER="+marker).Output()
		if err != nil || len(out) == 0 {
			return false
		}
		return json.Unmarshal(out, &entry) == nil
	}, 10*time.Second, 20*time.Millisecond, "journald never stored the entry")
	require.Equal(t, "4", entry["PRIORITY"])
	require.Equal(t, `handler test marker=`+marker+` update_id=7 reason="planned restart"`, entry["MESSAGE"])
	require.Equal(t, "exit", entry["HERMES_EVENT"])
	require.Equal(t, "7", entry["UPDATE_ID"])
	require.Equal(t, "planned restart", entry["REASON"])
	require.Equal(t, "journal", entry["_TRANSPORT"], "native protocol, not stdout")
}
