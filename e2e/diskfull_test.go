//go:build e2e

package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/stretchr/testify/require"
)

// The state directory fills up: the update cannot be stored, so it is not
// confirmed to Telegram and nothing half-done is left; when space returns,
// the same process stores and answers it, without a restart.
func TestAFullStateDirectoryLosesNothing(t *testing.T) {
	e := newEnv(t)
	_, _, stateDir := paths()
	require.NoError(t, os.MkdirAll(stateDir, 0o700))
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", stateDir).CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() {
		e.systemctl("stop", svc)
		exec.Command("umount", "-l", stateDir).Run()
	})
	fake := withTelegram(t, e, "", "")
	first := e.status().PID
	fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "before"})
	require.Equal(t, "echo: before", waitSent(t, fake, tgUser, 1)[0].Text)

	// Fill the file system to the last byte.
	filler := filepath.Join(stateDir, "filler")
	f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), err)
			break
		}
	}
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	f.Close()

	// Messages arrive while nothing can be written. Whatever the store
	// could not take is not confirmed (the poller's contract, tested in
	// pkg/telegram); the journal says why, and the gateway stays up.
	var ids []int
	for i := 0; i < 3; i++ {
		ids = append(ids, fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "while full " + string(rune('a'+i))}))
	}
	e.waitJournal("no space left on device")
	require.Equal(t, first, e.status().PID, "a full disk is not a crash")

	// Space returns: the same process stores and answers everything, once.
	require.NoError(t, os.Remove(filler))
	msgs := waitSent(t, fake, tgUser, 4)
	seen := map[string]int{}
	for _, m := range msgs[1:] {
		_, text, _ := strings.Cut(m.Text, ": ")
		seen[text]++
	}
	require.Equal(t, map[string]int{"while full a": 1, "while full b": 1, "while full c": 1}, seen)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, fake.WaitForConfirmed(ctx, ids[2]))
	require.Eventually(t, func() bool { return e.status().InFlight == 0 }, 60*time.Second, 20*time.Millisecond)
	require.Equal(t, first, e.status().PID, "no restart was needed")
	require.Len(t, fake.Sent(tgUser), 4)

	// And nothing is left pending for a later process to answer again.
	e.systemctlOK("restart", svc)
	j := e.waitJournal("ready (socket-activated")
	require.NotContains(t, j[strings.LastIndex(j, "drain done"):], "resuming work a previous process left unfinished")
	require.Len(t, fake.Sent(tgUser), 4)
}
