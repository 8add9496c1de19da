//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/require"
)

// hermes runs the CLI and returns its combined output and exit code. The
// context is only a guard against a hang; no test times anything.
func hermes(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "hermes"), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, ctx.Err(), "hermes %v hung: %s", args, out)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return string(out), code
}

// freshManager removes every trace of an install, as on a new machine.
func freshManager(t *testing.T) *env {
	t.Helper()
	e := &env{t: t}
	e.systemctl("stop", svc, sock)
	e.systemctl("disable", sock)
	e.systemctl("reset-failed", svc, sock)
	unitDir, cfgDir, stateDir := paths()
	for _, n := range units.Names() {
		os.Remove(filepath.Join(unitDir, n))
	}
	require.NoError(t, os.RemoveAll(cfgDir))
	require.NoError(t, os.RemoveAll(stateDir))
	e.systemctlOK("daemon-reload")
	e.cursor = journalCursor(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("journal of this test:\n%s", e.journal(""))
		}
		e.systemctl("stop", svc, sock)
		e.systemctl("reset-failed", svc, sock)
	})
	return e
}

func TestInstallUnitIsIdempotentAndRespectsHandEdits(t *testing.T) {
	e := freshManager(t)
	unitDir, _, _ := paths()

	out, code := hermes(t, nil, "install-unit")
	require.Zero(t, code, out)
	require.Contains(t, out, "linger: not enabled", "the sandbox has no logind; the install goes on and says so")
	require.Contains(t, out, "loginctl enable-linger")
	for _, n := range []string{svc, sock} {
		b, err := os.ReadFile(filepath.Join(unitDir, n))
		require.NoError(t, err)
		require.Contains(t, string(b), "Written by `hermes install-unit`")
	}
	require.Contains(t, string(must(os.ReadFile(filepath.Join(unitDir, svc)))), "ExecStart="+filepath.Join(bin, "hermes-gateway"))
	require.Equal(t, "enabled", e.prop(sock, "UnitFileState"))
	require.Equal(t, "active", e.prop(sock, "ActiveState"))
	require.Equal(t, "active", e.prop(svc, "ActiveState"))
	pid := e.mainPID()
	inv := e.prop(svc, "InvocationID")

	out, code = hermes(t, nil, "install-unit")
	require.Zero(t, code, out)
	require.Contains(t, out, "up to date")
	require.NotContains(t, out, "→", "a second install runs nothing")
	require.Equal(t, pid, e.mainPID(), "and restarts nothing")
	require.Equal(t, inv, e.prop(svc, "InvocationID"))

	// A hand edit is reported with a diff and kept.
	p := filepath.Join(unitDir, svc)
	edited := strings.Replace(string(must(os.ReadFile(p))), "RestartSec=100ms", "RestartSec=2s", 1)
	require.NoError(t, os.WriteFile(p, []byte(edited), 0o644))
	out, code = hermes(t, nil, "install-unit")
	require.Zero(t, code, out)
	require.Contains(t, out, "changed by hand")
	require.Contains(t, out, "-RestartSec=2s")
	require.Contains(t, out, "+RestartSec=100ms")
	require.Equal(t, edited, string(must(os.ReadFile(p))), "left alone without --force")

	out, code = hermes(t, nil, "install-unit", "--dry-run", "--force")
	require.Zero(t, code, out)
	require.Contains(t, out, "would daemon-reload")
	require.Equal(t, edited, string(must(os.ReadFile(p))), "--dry-run writes nothing")

	out, code = hermes(t, nil, "install-unit", "--force")
	require.Zero(t, code, out)
	require.Contains(t, string(must(os.ReadFile(p))), "RestartSec=100ms")

	out, code = hermes(t, nil, "uninstall-unit")
	require.Zero(t, code, out)
	for _, n := range units.Names() {
		_, err := os.Stat(filepath.Join(unitDir, n))
		require.True(t, os.IsNotExist(err), "%s is gone", n)
		require.Equal(t, "not-found", e.prop(n, "LoadState"), n)
	}
	_, err := os.Stat(filepath.Join(unitDir, "sockets.target.wants", sock))
	require.True(t, os.IsNotExist(err), "the enablement symlink is gone")
}

var restartedRe = regexp.MustCompile(`✓ Restarted hermes-gateway \(pid (\d+) → (\d+), v0\.0\.0-e2e\) in (\d+) ms`)

func TestGatewayRestartStatusAndLogs(t *testing.T) {
	e := freshManager(t)
	out, code := hermes(t, nil, "install-unit")
	require.Zero(t, code, out)
	old := e.mainPID()

	out, code = hermes(t, nil, "gateway", "restart")
	require.Zero(t, code, out)
	m := restartedRe.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	require.Equal(t, strconv.Itoa(old), m[1])
	newPID := e.mainPID()
	require.Equal(t, strconv.Itoa(newPID), m[2], "the pid reported is the one running after READY")
	require.NotEqual(t, old, newPID)

	// logs --invocation previous shows the old process, not the new one.
	e.waitJournal("(pid " + strconv.Itoa(newPID) + ")")
	out, code = hermes(t, nil, "gateway", "logs", "--invocation", "previous")
	require.Zero(t, code, out)
	require.Contains(t, out, "(pid "+strconv.Itoa(old)+")")
	require.Contains(t, out, "drain done")
	require.NotContains(t, out, "(pid "+strconv.Itoa(newPID)+")")

	out, code = hermes(t, nil, "gateway", "status", "--json")
	require.Zero(t, code, out)
	require.Contains(t, out, `"active": "active"`)
	require.Contains(t, out, `"pid": `+strconv.Itoa(newPID))

	// Stopped, status must not start it through the socket.
	out, code = hermes(t, nil, "gateway", "stop")
	require.Zero(t, code, out)
	require.Contains(t, out, "✓ Stopped hermes-gateway")
	require.Contains(t, out, "exited 0 after draining")
	out, code = hermes(t, nil, "gateway", "status")
	require.Zero(t, code, out)
	require.Contains(t, out, "not running")
	require.Equal(t, "inactive", e.prop(svc, "ActiveState"), "status left it stopped")

	out, code = hermes(t, nil, "gateway", "start")
	require.Zero(t, code, out)
	require.Contains(t, out, "✓ Started hermes-gateway")
	require.Equal(t, "active", e.prop(svc, "ActiveState"))
}

func TestRestartIntoABrokenGatewayReportsWhy(t *testing.T) {
	e := freshManager(t)
	out, code := hermes(t, nil, "install-unit")
	require.Zero(t, code, out)
	e.writeConfig("[agent]\nbackend = \"telepathy\"\n")

	out, code = hermes(t, nil, "gateway", "restart")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "✗ restart of hermes-gateway failed")
	require.Contains(t, out, "exited 78")
	require.Contains(t, out, "telepathy", "the new invocation's journal lines say what is wrong")
	require.Contains(t, out, "agent.backend")
	require.Equal(t, "failed", e.prop(svc, "ActiveState"))

	// Fixed, a start resets the failure and comes up.
	_, cfgDir, _ := paths()
	require.NoError(t, os.Remove(filepath.Join(cfgDir, "config.toml")))
	out, code = hermes(t, nil, "gateway", "start")
	require.Zero(t, code, out)
	require.Equal(t, "active", e.prop(svc, "ActiveState"))
}

func TestNoUserBusIsExplainedAtOnce(t *testing.T) {
	dir := t.TempDir()
	for _, env := range [][]string{
		{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(dir, "nope"), "XDG_RUNTIME_DIR=" + dir},
		{"DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR="},
	} {
		for _, args := range [][]string{{"gateway", "status"}, {"gateway", "restart"}, {"install-unit"}} {
			out, code := hermes(t, env, args...)
			require.Equal(t, 1, code, out)
			require.Contains(t, out, "cannot reach the systemd user manager", args)
			require.Contains(t, out, "loginctl enable-linger", args)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
