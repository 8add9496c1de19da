//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/require"
)

// script writes an executable agent script into the config directory.
func script(t *testing.T, name, body string) string {
	t.Helper()
	_, cfgDir, _ := paths()
	require.NoError(t, os.MkdirAll(cfgDir, 0o700))
	p := filepath.Join(cfgDir, name)
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700))
	return p
}

// A turn still running when the service restarts: its person hears that the
// answer is coming, and gets it from the next process, once.
func TestALongTurnIsAnsweredAfterTheRestart(t *testing.T) {
	e := newEnv(t)
	slow := script(t, "slow-agent", "sleep 5\necho \"slow: $(cat)\"\n")
	fake := withTelegram(t, e, "", fmt.Sprintf("[gateway]\ndrain_timeout = \"4s\"\n[agent]\nbackend = \"exec\"\n[agent.exec]\ncommand = [%q]\ntimeout = \"30s\"\n", slow))
	first := e.status().PID

	fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "a hard question"})
	ctx, cancel := contextWithTimeout(30 * time.Second)
	defer cancel()
	_, err := fake.WaitForActions(ctx, tgUser, 1) // "typing…": the turn is running
	require.NoError(t, err)

	e.systemctlOK("restart", svc)
	require.NotEqual(t, first, e.mainPID())
	msgs := waitSent(t, fake, tgUser, 2)
	require.Equal(t, "⏳ Restarting, your answer is coming.", msgs[0].Text)
	require.Equal(t, "slow: a hard question", msgs[1].Text)
	require.Eventually(t, func() bool { return e.status().InFlight == 0 }, 30*time.Second, 20*time.Millisecond)
	require.Len(t, fake.Sent(tgUser), 2, "answered once")
	j := e.waitJournal("resuming work a previous process left unfinished")
	require.Contains(t, j, "drain timed out")
}

func TestConversationSurvivesRestartsAndABinarySwap(t *testing.T) {
	e := newEnv(t)
	// The unit runs a symlink, as an installed version does (current/…).
	linkDir := t.TempDir()
	link := filepath.Join(linkDir, "hermes-gateway")
	require.NoError(t, os.Symlink(filepath.Join(bin, "hermes-gateway"), link))
	unitDir, _, _ := paths()
	body, err := units.Render(units.Service, units.Params{Gateway: link})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(unitDir, units.Service), body, 0o644))
	e.systemctlOK("daemon-reload")

	chat := func(text string) string {
		out, code := hermes(t, nil, "chat", text)
		require.Zero(t, code, out)
		return strings.TrimSpace(out)
	}
	require.Equal(t, "echo: one", chat("one"))
	e.systemctlOK("restart", svc)
	require.Equal(t, "echo #2: two", chat("two"), "history survived a restart")

	// Swap the binary under the link, as an update does, and restart.
	next := filepath.Join(linkDir, "hermes-gateway.next")
	require.NoError(t, os.Symlink(filepath.Join(bin, "hermes-gateway-next"), next))
	require.NoError(t, os.Rename(next, link))
	e.systemctlOK("restart", svc)
	require.Equal(t, "v0.0.1-e2e-next", e.status().Version)
	require.Equal(t, "echo #3: three", chat("three"), "history survived the new version")

	require.Contains(t, chat("/new"), "Fresh conversation")
	require.Equal(t, "echo: four", chat("four"))
}

func TestAFailingExecAgentGivesAClearError(t *testing.T) {
	e := newEnv(t)
	bad := script(t, "bad-agent", "echo 'model file missing: /nowhere/model.gguf' >&2\nexit 3\n")
	e.writeConfig(fmt.Sprintf("[agent]\nbackend = \"exec\"\n[agent.exec]\ncommand = [%q]\n", bad))
	out, code := hermes(t, nil, "chat", "hello?")
	require.Zero(t, code, out)
	require.Equal(t, "⚠️ The agent command failed (exit 3).", strings.TrimSpace(out))
	j := e.waitJournal("model file missing")
	require.Contains(t, j, "agent failed")
}
