//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/doctor"
	"github.com/stretchr/testify/require"
)

// Three planned restarts (what three chat /restarts or POST /v1/restart
// make) are no problem: systemd counts them in NRestarts, status and doctor
// do not call them a crash loop, and doctor exits 0.
func TestThreePlannedRestartsAreNoProblem(t *testing.T) {
	e := freshManager(t)
	out, code := hermes(t, nil, "install-unit")
	require.Zero(t, code, out)
	lingerOn := loginctlSays(t, "yes")
	for i := 1; i <= 3; i++ {
		pid := e.mainPID()
		require.NoError(t, e.client().Restart(mustCtx(t), "planned "+strconv.Itoa(i)))
		require.Eventually(t, func() bool {
			p := e.mainPID()
			return e.prop(svc, "ActiveState") == "active" && p != 0 && p != pid
		}, 30*time.Second, 10*time.Millisecond)
	}
	require.Equal(t, "3", e.prop(svc, "NRestarts"), "systemd counts planned restarts")
	e.waitJournal("planned 3")

	out, code = hermes(t, lingerOn, "gateway", "status")
	require.Zero(t, code, out)
	require.Contains(t, out, "✓ no problems")
	require.Contains(t, out, "0 unplanned, 3 planned")
	require.Contains(t, out, "last exit: exited 75/TEMPFAIL (planned restart: planned 3)")
	require.NotContains(t, out, "crash")

	rep, code := runDoctor(t, lingerOn)
	require.Zero(t, code)
	for _, c := range rep.Checks {
		require.Contains(t, []string{doctor.OK, doctor.Skipped}, c.Status, "%s: %s", c.Name, c.Detail)
	}
	require.Contains(t, check(t, rep, "crash loop").Detail, "no: 0 unplanned exits")
	require.Contains(t, check(t, rep, "last exit").Detail, "exited 75/TEMPFAIL")
}

// A sandbox systemd cannot build (here: the sandbox's own drop-in taken
// away, so PrivateTmp= and friends fail with 226/NAMESPACE) is named and
// explained by restart, status, doctor and logs, with systemd's own lines:
// the gateway never ran and logged nothing.
func TestASandboxSystemdCannotBuildIsNamedAndExplained(t *testing.T) {
	e := freshManager(t)
	out, code := hermes(t, nil, "install-unit", "--sandbox=full")
	require.Zero(t, code, out)
	lingerOn := loginctlSays(t, "yes")

	unitDir, _, _ := paths()
	dropin := filepath.Join(unitDir, svc+".d", "50-sandbox.conf")
	saved, err := os.ReadFile(dropin)
	require.NoError(t, err, "scripts/sandbox writes this drop-in")
	require.NoError(t, os.Remove(dropin))
	t.Cleanup(func() {
		require.NoError(t, os.WriteFile(dropin, saved, 0o644))
		e.systemctlOK("daemon-reload")
	})
	e.systemctlOK("daemon-reload")

	out, code = hermes(t, nil, "gateway", "restart")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "✗ restart of hermes-gateway failed")
	require.Contains(t, out, "The main process exited 226/NAMESPACE: systemd could not set up the unit's mount namespace")
	require.Contains(t, out, "hermes install-unit --sandbox=minimal")
	require.Contains(t, out, "systemd: hermes-gateway.service: Failed at step NAMESPACE spawning")

	out, code = hermes(t, lingerOn, "gateway", "status")
	require.Zero(t, code, out)
	require.Contains(t, out, "226/NAMESPACE")
	require.NotContains(t, out, "crash")

	out, code = hermes(t, nil, "gateway", "logs", "-n", "30")
	require.Zero(t, code, out)
	require.Contains(t, out, "systemd: hermes-gateway.service: Failed at step NAMESPACE spawning", "logs show systemd's lines when the gateway wrote none")

	rep, code := runDoctor(t, lingerOn)
	require.Equal(t, 1, code)
	c := check(t, rep, "service")
	require.Equal(t, doctor.Failure, c.Status)
	require.Contains(t, c.Detail, "226/NAMESPACE")
	require.Contains(t, c.Fix, "--sandbox=minimal")
	c = check(t, rep, "last exit")
	require.Contains(t, c.Detail, "systemd said: ")
	require.Contains(t, c.Detail, "Failed at step NAMESPACE")
	require.False(t, strings.Contains(c.Detail, "reason it gave: none"))
	require.Equal(t, doctor.OK, check(t, rep, "crash loop").Status, "one failed start is not a crash loop")
}
