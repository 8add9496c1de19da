//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/require"
)

// withoutSandboxDropIn takes away scripts/sandbox's drop-in for the
// gateway, so the unit runs as shipped. In the sandbox's namespaces the
// user manager cannot build the full sandbox (PrivateTmp= and the kernel
// protections fail with 226/NAMESPACE there): a real case of a system that
// cannot, as on a machine without unprivileged user namespaces.
func withoutSandboxDropIn(t *testing.T, e *env) {
	t.Helper()
	unitDir, _, _ := paths()
	dropin := filepath.Join(unitDir, svc+".d", "50-sandbox.conf")
	body, err := os.ReadFile(dropin)
	require.NoError(t, err, "scripts/sandbox writes this drop-in")
	require.NoError(t, os.Remove(dropin))
	t.Cleanup(func() {
		require.NoError(t, os.WriteFile(dropin, body, 0o644))
		e.systemctl("daemon-reload")
	})
}

func TestInstallUnitOnASystemThatCannotBuildTheSandbox(t *testing.T) {
	e := freshManager(t)
	withoutSandboxDropIn(t, e)
	unitDir, _, _ := paths()

	// Asked for the full sandbox: one start, the step named and explained,
	// the manager's own lines shown, the socket still listening, no loop.
	out, code := hermes(t, nil, "install-unit", "--sandbox=full")
	t.Logf("hermes install-unit --sandbox=full:\n%s", out)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "226/NAMESPACE")
	require.Contains(t, out, "hermes install-unit --sandbox=minimal", "it says what to do")
	require.Contains(t, out, "NAMESPACE spawning", "the manager's own line (the gateway never ran)")
	require.Equal(t, "active", e.prop(sock, "ActiveState"), "the socket keeps listening")
	require.Equal(t, "failed", e.prop(svc, "ActiveState"))
	require.Equal(t, "0", e.prop(svc, "NRestarts"), "a sandbox failure is not restarted into a loop")
	require.Equal(t, units.SandboxFull, units.Directive(must(os.ReadFile(filepath.Join(unitDir, svc))), "Service", "X-Hermes-Sandbox"))

	// Auto (the default): the same failure, then the minimal sandbox, said
	// out loud, and a gateway that runs.
	out, code = hermes(t, nil, "install-unit")
	t.Logf("hermes install-unit:\n%s", out)
	require.Zero(t, code, out)
	require.Contains(t, out, "226/NAMESPACE")
	require.Contains(t, out, "installing with --sandbox=minimal")
	require.Contains(t, out, "started with --sandbox=minimal")
	require.Equal(t, "active", e.prop(svc, "ActiveState"))
	require.Equal(t, "active", e.prop(sock, "ActiveState"))
	require.Equal(t, units.SandboxMinimal, units.Directive(must(os.ReadFile(filepath.Join(unitDir, svc))), "Service", "X-Hermes-Sandbox"))
	st := e.status()
	require.Equal(t, "ready", st.State)

	// The next install keeps it (as `hermes update` runs one).
	out, code = hermes(t, nil, "install-unit")
	require.Zero(t, code, out)
	require.Contains(t, out, "up to date")
}
