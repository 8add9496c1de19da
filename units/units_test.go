package units

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/exitstatus"
	"github.com/stretchr/testify/require"
)

// TestEveryUnitPassesSystemdAnalyzeVerify renders each unit and hands it to
// the real systemd-analyze. An unknown key is only a warning (exit 0), so any
// output at all fails the test.
func TestEveryUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	require.NoError(t, err, "systemd-analyze is part of systemd; install it (apt-get install systemd)")

	dir := t.TempDir()
	// verify checks that ExecStart= binaries exist and are executable.
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	for _, b := range []string{"hermes-gateway", "hermes"} {
		require.NoError(t, os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\n"), 0o755))
	}
	for _, sandbox := range []string{SandboxFull, SandboxMinimal} {
		t.Run(sandbox, func(t *testing.T) { verifyAll(t, analyze, dir, bin, sandbox) })
	}
}

func verifyAll(t *testing.T, analyze, dir, bin, sandbox string) {
	all, err := RenderAll(Params{Gateway: filepath.Join(bin, "hermes-gateway"), Hermes: filepath.Join(bin, "hermes"), Sandbox: sandbox})
	require.NoError(t, err)
	require.Contains(t, all, Service)
	require.Contains(t, all, Socket)

	unitDir := filepath.Join(dir, "units-"+sandbox)
	require.NoError(t, os.MkdirAll(unitDir, 0o755))
	var paths []string
	for name, body := range all {
		require.NotContains(t, string(body), "{{", "%s left a template action unrendered", name)
		p := filepath.Join(unitDir, name)
		require.NoError(t, os.WriteFile(p, body, 0o644))
		paths = append(paths, p)
	}
	runtime := filepath.Join(dir, "run")
	require.NoError(t, os.MkdirAll(runtime, 0o700))
	for _, p := range paths {
		cmd := exec.Command(analyze, "--user", "verify", "--man=no", p)
		// A user-mode verify needs a runtime directory, and must find the
		// sibling units (Requires=, Service=) next to the one it checks.
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime, "SYSTEMD_UNIT_PATH="+unitDir+":", "SYSTEMD_LOG_LEVEL=notice")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", filepath.Base(p), out)
		require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify %s warned", filepath.Base(p))
	}
}

func TestRenderFillsTheBinaryPathAndRefusesRelativePaths(t *testing.T) {
	b, err := Render(Service, Params{Gateway: "/opt/hermes/current/hermes-gateway"})
	require.NoError(t, err)
	require.Equal(t, "/opt/hermes/current/hermes-gateway", Directive(b, "Service", "ExecStart"))

	_, err = Render(Service, Params{Gateway: "bin/hermes-gateway"})
	require.ErrorContains(t, err, "must be absolute")
	_, err = Render("nope.service", Params{Gateway: "/x"})
	require.ErrorContains(t, err, "no embedded unit")
}

// The directives DESIGN.md's exit-code table relies on.
func TestServiceCarriesTheLifecycleDirectives(t *testing.T) {
	b, err := Render(Service, Params{Gateway: "/x"})
	require.NoError(t, err)
	for key, want := range map[string]string{
		"Type":                   "notify",
		"NotifyAccess":           "main",
		"Restart":                "on-failure",
		"RestartForceExitStatus": "75",
		"SuccessExitStatus":      "75",
		"StateDirectory":         "hermes",
		"KillMode":               "mixed",
	} {
		require.Equal(t, want, Directive(b, "Service", key), key)
	}
	// A bad config, and a sandbox this system cannot build, do not loop.
	prevent := strings.Fields(Directive(b, "Service", "RestartPreventExitStatus"))
	want := []string{"78"}
	for code := 200; code <= 255; code++ {
		if exitstatus.Explain(code).Sandbox {
			want = append(want, strconv.Itoa(code))
		}
	}
	require.Equal(t, want, prevent, "RestartPreventExitStatus: 78 and every sandbox status of pkg/exitstatus")

	restartSec, err := ParseTimespan(Directive(b, "Service", "RestartSec"))
	require.NoError(t, err)
	require.LessOrEqual(t, restartSec, time.Second, "RestartSec must stay short")

	// Ten planned restarts in a minute must never reach the start limit.
	interval, err := ParseTimespan(Directive(b, "Unit", "StartLimitIntervalSec"))
	require.NoError(t, err)
	require.LessOrEqual(t, interval, time.Minute)
	require.Equal(t, "30", Directive(b, "Unit", "StartLimitBurst"))
	require.Greater(t, TimeoutStop(), 25*time.Second)

	s, err := Render(Socket, Params{Gateway: "/x"})
	require.NoError(t, err)
	require.Equal(t, "control", Directive(s, "Socket", "FileDescriptorName"))
	require.Equal(t, "0600", Directive(s, "Socket", "SocketMode"))
}

func TestParseTimespan(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30s": 30 * time.Second, "100ms": 100 * time.Millisecond, "5": 5 * time.Second,
		"1min 30s": 90 * time.Second, "2m": 2 * time.Minute, "1h": time.Hour, "1.5s": 1500 * time.Millisecond,
		"250msec": 250 * time.Millisecond, "10us": 10 * time.Microsecond,
	} {
		got, err := ParseTimespan(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "abc", "10 parsecs"} {
		_, err := ParseTimespan(bad)
		require.Error(t, err, bad)
	}
}

// The hardening target of issue 9: systemd-analyze security scores the
// shipped gateway unit 2.5 or lower (an unhardened one scores 9.8 here).
// The updater needs more (it builds and writes your installed versions).
func TestHardenedUnitsExposure(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	require.NoError(t, err)
	dir := t.TempDir()
	all, err := RenderAll(Params{Gateway: "/bin/true", Hermes: "/bin/true"})
	require.NoError(t, err)
	for name, body := range all {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), body, 0o644))
	}
	runtime := filepath.Join(dir, "run")
	require.NoError(t, os.MkdirAll(runtime, 0o700))
	re := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)
	score := func(name string) float64 {
		cmd := exec.Command(analyze, "security", "--offline=yes", "--user", "--no-pager", filepath.Join(dir, name))
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime)
		out, _ := cmd.CombinedOutput() // exits non-zero above its own threshold
		m := re.FindStringSubmatch(string(out))
		require.NotNil(t, m, "%s: %s", name, out)
		s, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		return s
	}
	// The minimal sandbox keeps what seccomp and prctl give: still far
	// better than an unhardened unit (9.8 here).
	minimal, err := RenderAll(Params{Gateway: "/bin/true", Hermes: "/bin/true", Sandbox: SandboxMinimal})
	require.NoError(t, err)
	for name, limit := range map[string]float64{Service: 6.5, FailedService: 6.5, UpdateService: 8.0} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "minimal-"+name), minimal[name], 0o644))
		got := score("minimal-" + name)
		require.LessOrEqual(t, got, limit, "%s exposure with --sandbox=minimal", name)
		for _, d := range NamespaceDirectives {
			require.Empty(t, Directive(minimal[name], "Service", d), "%s: --sandbox=minimal keeps %s", name, d)
		}
		t.Logf("%s --sandbox=minimal: exposure %.1f", name, got)
	}
	for name, limit := range map[string]float64{Service: 2.5, FailedService: 2.5, UpdateService: 4.0} {
		got := score(name)
		require.Equal(t, "yes", Directive(all[name], "Service", "PrivateUsers"), "%s: systemd 252 needs PrivateUsers=yes to drop capabilities", name)
		require.LessOrEqual(t, got, limit, "%s exposure", name)
		t.Logf("%s: exposure %.1f", name, got)
	}
}
