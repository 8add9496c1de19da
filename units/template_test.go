package units

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Named instances run the template units, rendered from the same files as
// the default instance's: systemd must accept them, and an instance of
// each (hermes-gateway@team.service) must resolve against its siblings.
func TestTemplateUnitsPassSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	require.NoError(t, err, "systemd-analyze is part of systemd; install it (apt-get install systemd)")
	dir := t.TempDir()
	unitDir := filepath.Join(dir, "units")
	runtime := filepath.Join(dir, "run")
	require.NoError(t, os.MkdirAll(unitDir, 0o755))
	require.NoError(t, os.MkdirAll(runtime, 0o700))
	for _, sandbox := range []string{SandboxFull, SandboxMinimal} {
		for _, n := range Gateway {
			b, err := Render(n, Params{Gateway: "/bin/true", Hermes: "/bin/true", Sandbox: sandbox, Template: true})
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(unitDir, TemplateName(n)), b, 0o644))
		}
		for _, u := range []string{"hermes-gateway@.service", "hermes-gateway@team.service", "hermes-gateway@team.socket",
			"hermes-gateway-webhook@team.socket", "hermes-gateway-failed@team.service"} {
			cmd := exec.Command(analyze, "--user", "verify", "--man=no", u)
			cmd.Dir = unitDir
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime, "SYSTEMD_UNIT_PATH="+unitDir+":", "SYSTEMD_LOG_LEVEL=notice")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s (%s): %s", u, sandbox, out)
			require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify %s (%s) warned", u, sandbox)
		}
	}
}

// What makes instances apart: each directive that names a unit, a path or
// the journal identity takes the instance in the template, and nothing of
// the sort shows up in the default instance's units.
func TestTemplateSeparatesEveryInstanceAndTheDefaultIsUnchanged(t *testing.T) {
	p := Params{Gateway: "/g", Template: true}
	get := func(name, section, key string, p Params) string {
		b, err := Render(name, p)
		require.NoError(t, err)
		return Directive(b, section, key)
	}
	for _, c := range []struct{ unit, section, key, tmpl, def string }{
		{Service, "Unit", "Requires", "hermes-gateway@%i.socket", "hermes-gateway.socket"},
		{Service, "Unit", "OnFailure", "hermes-gateway-failed@%i.service", "hermes-gateway-failed.service"},
		{Service, "Service", "Environment", "HERMES_INSTANCE=%i", ""},
		{Service, "Service", "StateDirectory", "hermes/%i", "hermes"},
		{Service, "Service", "SyslogIdentifier", "hermes-gateway@%i", "hermes-gateway"},
		{Service, "Service", "ReadWritePaths", "-%h/.local/state/hermes/%i -%t/hermes/%i", "-%h/.local/state/hermes -%t/hermes"},
		{Service, "Install", "Also", "hermes-gateway@%i.socket", "hermes-gateway.socket"},
		{Socket, "Socket", "ListenStream", "%t/hermes/%i/gateway.sock", "%t/hermes/gateway.sock"},
		{Socket, "Socket", "Service", "hermes-gateway@%i.service", "hermes-gateway.service"},
		{WebhookSocket, "Socket", "Service", "hermes-gateway@%i.service", "hermes-gateway.service"},
		{FailedService, "Service", "ExecStart", "/hermes notify-failure --unit hermes-gateway@%i.service", "/hermes notify-failure --unit hermes-gateway.service"},
		{FailedService, "Service", "Environment", "HERMES_INSTANCE=%i", ""},
	} {
		require.Equal(t, c.tmpl, get(c.unit, c.section, c.key, p), "%s %s= in the template", c.unit, c.key)
		require.Equal(t, c.def, get(c.unit, c.section, c.key, Params{Gateway: "/g"}), "%s %s= of the default instance", c.unit, c.key)
	}
	for _, n := range Names() {
		b, err := Render(n, Params{Gateway: "/g"})
		require.NoError(t, err)
		require.NotContains(t, string(b), "%i", "%s: the default instance's units are what they were before instances", n)
	}
	_, err := Render(UpdateService, p)
	require.ErrorContains(t, err, "shared by every instance")
	require.Equal(t, "hermes-gateway@.service", TemplateName(Service))
	require.Equal(t, "hermes-gateway-webhook@team.socket", InstanceName(WebhookSocket, "team"))
}
