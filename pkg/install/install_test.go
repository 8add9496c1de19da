package install

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeManager is a user manager that keeps unit states and decides how the
// service's start ends from the unit file on disk, as systemd would after a
// daemon-reload: startExit(sandbox level) is the exit status of the main
// process (0: it comes up).
type fakeManager struct {
	unitDir   string
	states    map[string]systemd.UnitState
	startExit func(sandbox string) int32
	calls     []string
	reloaded  bool
}

func newFake(t *testing.T, startExit func(string) int32) *fakeManager {
	return &fakeManager{unitDir: t.TempDir(), states: map[string]systemd.UnitState{}, startExit: startExit}
}

func (f *fakeManager) Reload(context.Context) error {
	f.calls = append(f.calls, "reload")
	f.reloaded = true
	return nil
}

func (f *fakeManager) Enable(_ context.Context, names ...string) error {
	for _, n := range names {
		f.calls = append(f.calls, "enable "+n)
		st := f.states[n]
		st.UnitFileState = "enabled"
		f.states[n] = st
	}
	return nil
}

func (f *fakeManager) Disable(_ context.Context, names ...string) error {
	for _, n := range names {
		f.calls = append(f.calls, "disable "+n)
	}
	return nil
}

func (f *fakeManager) Start(_ context.Context, unit string) (systemd.JobResult, error) {
	f.calls = append(f.calls, "start "+unit)
	st := f.states[unit]
	st.Name = unit
	file := unit
	if strings.HasPrefix(unit, "hermes-gateway@") && strings.HasSuffix(unit, ".service") {
		file = units.TemplateName(units.Service) // a named instance runs the template
	} else if unit != units.Service {
		st.ActiveState, st.SubState = "active", "listening"
		f.states[unit] = st
		return "done", nil
	}
	b, err := os.ReadFile(filepath.Join(f.unitDir, file))
	if err != nil {
		return "", err
	}
	code := f.startExit(units.Directive(b, "Service", "X-Hermes-Sandbox"))
	if code == 0 {
		st.ActiveState, st.SubState, st.ExecMainCode, st.ExecMainStatus = "active", "running", 0, 0
		f.states[unit] = st
		return "done", nil
	}
	st.ActiveState, st.SubState, st.Result = "failed", "failed", "exit-code"
	st.ExecMainCode, st.ExecMainStatus = systemd.CLDExited, code
	f.states[unit] = st
	return "failed", &systemd.JobError{Op: "start", Unit: unit, Result: "failed"}
}

func (f *fakeManager) Stop(_ context.Context, unit string) (systemd.JobResult, error) {
	f.calls = append(f.calls, "stop "+unit)
	return "done", nil
}

func (f *fakeManager) ResetFailed(_ context.Context, unit string) error {
	f.calls = append(f.calls, "reset-failed "+unit)
	st := f.states[unit]
	if st.ActiveState == "failed" {
		st.ActiveState, st.SubState = "inactive", "dead"
		f.states[unit] = st
	}
	return nil
}

func (f *fakeManager) Unit(_ context.Context, name string) (systemd.UnitState, error) {
	st := f.states[name]
	st.Name = name
	if st.ActiveState == "" {
		st.ActiveState, st.SubState = "inactive", "dead"
	}
	return st, nil
}

func (f *fakeManager) options(sandbox string, out *bytes.Buffer) Options {
	return Options{
		Params:  units.Params{Gateway: "/opt/hermes/current/hermes-gateway"},
		UnitDir: f.unitDir,
		Config:  config.Default(),
		Sandbox: sandbox,
		Out:     out,
		Linger:  func(context.Context) (string, error) { return "= linger: already enabled", nil },
		ManagerLines: func(context.Context, string, string) []string {
			return []string{"hermes-gateway.service: Failed to drop capabilities: Operation not permitted"}
		},
	}
}

func (f *fakeManager) installedSandbox(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(f.unitDir, units.Service))
	require.NoError(t, err)
	return units.Directive(b, "Service", "X-Hermes-Sandbox")
}

func always(code int32) func(string) int32 { return func(string) int32 { return code } }

// failsOnFull is systemd 252 without a user namespace, or a kernel without
// unprivileged user namespaces: the full sandbox fails at a sandbox step,
// the minimal one runs.
func failsOnFull(code int32) func(string) int32 {
	return func(sandbox string) int32 {
		if sandbox == units.SandboxFull {
			return code
		}
		return 0
	}
}

func TestInstallStartsTheServiceAndASecondRunChangesNothing(t *testing.T) {
	f := newFake(t, always(0))
	var out bytes.Buffer
	res, err := Install(context.Background(), f, f.options("", &out))
	require.NoError(t, err, out.String())
	assert.Equal(t, units.SandboxFull, res.Sandbox)
	assert.Equal(t, units.SandboxFull, f.installedSandbox(t))
	assert.Contains(t, f.calls, "enable "+units.Socket)
	assert.Contains(t, f.calls, "start "+units.Service)
	assert.Contains(t, out.String(), "✓ installed")

	f.calls = nil
	out.Reset()
	res, err = Install(context.Background(), f, f.options("", &out))
	require.NoError(t, err)
	assert.True(t, res.UpToDate, out.String())
	assert.Empty(t, filter(f.calls, "start", "reload", "enable"), "a second install restarts nothing")
}

func TestAFirstStartThatCannotBuildTheSandboxFallsBackToMinimal(t *testing.T) {
	for _, code := range []int32{218, 226, 228} {
		f := newFake(t, failsOnFull(code))
		var out bytes.Buffer
		res, err := Install(context.Background(), f, f.options("", &out))
		require.NoError(t, err, out.String())
		assert.Equal(t, units.SandboxMinimal, res.Sandbox)
		assert.Equal(t, units.SandboxMinimal, f.installedSandbox(t), "the units on disk are the minimal ones")
		assert.Equal(t, "active", f.states[units.Service].ActiveState)
		assert.Equal(t, "active", f.states[units.Socket].ActiveState, "the socket keeps listening")
		s := out.String()
		assert.Contains(t, s, "step "+map[int32]string{218: "218/CAPABILITIES", 226: "226/NAMESPACE", 228: "228/SECCOMP"}[code])
		assert.Contains(t, s, "Failed to drop capabilities", "the manager's lines are shown")
		assert.Contains(t, s, "leaves out PrivateUsers")
		assert.Contains(t, s, "--sandbox=full")

		// The next install (e.g. the one `hermes update` runs) keeps the
		// minimal sandbox instead of breaking the service again.
		out.Reset()
		res, err = Install(context.Background(), f, f.options("", &out))
		require.NoError(t, err)
		assert.True(t, res.UpToDate, out.String())
		assert.Equal(t, units.SandboxMinimal, f.installedSandbox(t))
	}
}

func TestAskedForTheFullSandboxItExplainsInsteadOfFallingBack(t *testing.T) {
	f := newFake(t, failsOnFull(226))
	var out bytes.Buffer
	_, err := Install(context.Background(), f, f.options(units.SandboxFull, &out))
	var se *SandboxError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "226/NAMESPACE", se.Status.String())
	assert.Contains(t, err.Error(), "--sandbox=minimal", "the error says what to do")
	assert.Contains(t, err.Error(), "unprivileged_userns_clone")
	assert.Equal(t, units.SandboxFull, f.installedSandbox(t), "nothing was changed behind the person's back")
	assert.Equal(t, "active", f.states[units.Socket].ActiveState, "the socket keeps listening")
	assert.Equal(t, 1, count(f.calls, "start "+units.Service), "started once, not looped")
}

func TestAFailureThatIsNotTheSandboxIsNotPapered(t *testing.T) {
	f := newFake(t, always(1))
	var out bytes.Buffer
	_, err := Install(context.Background(), f, f.options("", &out))
	require.Error(t, err)
	var se *SandboxError
	assert.False(t, errors.As(err, &se))
	assert.Contains(t, err.Error(), "1/FAILURE")
	assert.Contains(t, err.Error(), "hermes gateway logs")
	assert.Equal(t, units.SandboxFull, f.installedSandbox(t), "no fallback for a failure the sandbox did not cause")
	assert.NotContains(t, out.String(), "✓ installed")
}

func TestMinimalOnRequestAndBackToFull(t *testing.T) {
	f := newFake(t, always(0))
	var out bytes.Buffer
	_, err := Install(context.Background(), f, f.options(units.SandboxMinimal, &out))
	require.NoError(t, err)
	assert.Equal(t, units.SandboxMinimal, f.installedSandbox(t))
	b, err := os.ReadFile(filepath.Join(f.unitDir, units.Service))
	require.NoError(t, err)
	for _, d := range units.NamespaceDirectives {
		assert.Empty(t, units.Directive(b, "Service", d), d)
	}
	assert.Equal(t, "yes", units.Directive(b, "Service", "NoNewPrivileges"))

	_, err = Install(context.Background(), f, f.options(units.SandboxFull, &out))
	require.NoError(t, err)
	assert.Equal(t, units.SandboxFull, f.installedSandbox(t))
}

func TestDrainTimeoutMustStayBelowTheStopTimeout(t *testing.T) {
	f := newFake(t, always(0))
	o := f.options("", &bytes.Buffer{})
	o.Config.Gateway.DrainTimeout.Duration = 40 * time.Second
	_, err := Install(context.Background(), f, o)
	require.ErrorContains(t, err, "TimeoutStopSec")
	assert.Empty(t, f.calls)
}

func filter(calls []string, prefixes ...string) []string {
	var out []string
	for _, c := range calls {
		for _, p := range prefixes {
			if strings.HasPrefix(c, p) {
				out = append(out, c)
			}
		}
	}
	return out
}

func count(calls []string, c string) int {
	n := 0
	for _, x := range calls {
		if x == c {
			n++
		}
	}
	return n
}
