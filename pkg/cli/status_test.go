package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/doctor"
	"github.com/hermes-gateway/hermes/pkg/install"
	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// journalOf reads a journal recorded in the sandbox (see pkg/doctor's
// verdict tests for what each holds).
func journalOf(t *testing.T, name string) []journal.Entry {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "doctor", "testdata", "journal-"+name+".json"))
	require.NoError(t, err)
	defer f.Close()
	es, err := journal.Decode(f, units.Service, false)
	require.NoError(t, err)
	return es
}

func factsOf(t *testing.T, name string, svc systemd.UnitState) doctor.Facts {
	es := journalOf(t, name)
	return doctor.Facts{Service: svc, Socket: sockOK, History: doctor.ReadHistory(es), Now: es[len(es)-1].Time.Add(time.Second)}
}

var (
	svcRunning = systemd.UnitState{Name: units.Service, LoadState: "loaded", ActiveState: "active", SubState: "running", Result: "success", MainPID: 77}
	sockOK     = systemd.UnitState{Name: units.Socket, LoadState: "loaded", ActiveState: "active", SubState: "listening", UnitFileState: "enabled"}
	lingerOn   = doctor.Linger{State: doctor.LingerOn}
)

func TestStatusProblems(t *testing.T) {
	afterPlanned := systemd.UnitState{Name: units.Service, LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart",
		ExecMainCode: systemd.CLDExited, ExecMainStatus: 75, NRestarts: 3}
	namespace := systemd.UnitState{Name: units.Service, LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code",
		ExecMainCode: systemd.CLDExited, ExecMainStatus: 226}
	for _, tc := range []struct {
		name    string
		facts   doctor.Facts
		linger  doctor.Linger
		files   []install.File
		cfgErr  error
		want    []string // each a problem's start, in order; none: "✓ no problems"
		wantFix []string
	}{
		{name: "three planned restarts", facts: factsOf(t, "planned", func() systemd.UnitState { s := svcRunning; s.NRestarts = 3; return s }()), linger: lingerOn},
		{name: "between a planned exit and its restart", facts: factsOf(t, "planned", afterPlanned), linger: lingerOn},
		{name: "a crash loop", facts: factsOf(t, "crashloop", svcRunning), linger: lingerOn,
			want: []string{"crash loop: 4 unplanned exits in the last 10 minutes", "last exit: killed by SIGKILL"}},
		{name: "a sandbox systemd could not build", facts: factsOf(t, "namespace", namespace), linger: lingerOn,
			want:    []string{"service: failed: the main process exited 226/NAMESPACE", "last exit: exited 226/NAMESPACE"},
			wantFix: []string{"hermes install-unit --sandbox=minimal"}},
		{name: "linger off", facts: factsOf(t, "planned", svcRunning), linger: doctor.Linger{State: doctor.LingerOff},
			want: []string{"lingering is off: the gateway stops when you log out"}, wantFix: []string{"loginctl enable-linger"}},
		{name: "linger unknown", facts: factsOf(t, "planned", svcRunning), linger: doctor.Linger{State: doctor.LingerUnknown, Why: "loginctl is not installed: no systemd-logind here"},
			want: []string{"whether lingering is on cannot be told (loginctl is not installed"}},
		{name: "units changed", facts: factsOf(t, "planned", svcRunning), linger: lingerOn,
			files: []install.File{{Name: units.Service, State: install.Modified}, {Name: units.Socket, State: install.Current}},
			want:  []string{"unit hermes-gateway.service was changed by hand"}},
		{name: "a broken config", facts: factsOf(t, "planned", svcRunning), linger: lingerOn, cfgErr: errors.New("config.toml:2: bogus: unknown key"),
			want: []string{"config: config.toml:2: bogus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := statusProblems(tc.facts, tc.linger, tc.files, tc.cfgErr, nil)
			var got []string
			for _, p := range ps {
				got = append(got, p.What)
				assert.NotEmpty(t, p.Fix, "%s: says what to do", p.What)
				assert.NotContains(t, p.What, "crash-looping", "the old verdict from NRestarts")
			}
			require.Len(t, got, len(tc.want), "%q", got)
			for i, w := range tc.want {
				assert.True(t, strings.HasPrefix(got[i], w), "problem %d: %q, want %q…", i, got[i], w)
			}
			for _, f := range tc.wantFix {
				assert.Contains(t, ps[0].Fix, f)
			}
			var out bytes.Buffer
			printStatus(&out, &StatusReport{Service: view(tc.facts.Service), Socket: view(tc.facts.Socket), Problems: ps})
			if len(tc.want) == 0 {
				assert.Contains(t, out.String(), "✓ no problems")
			}
			if tc.facts.Service.SubState == "auto-restart" {
				assert.Contains(t, out.String(), "gateway: between two processes: systemd starts the next one in a moment")
				assert.NotContains(t, out.String(), "not running")
			}
		})
	}
}

func TestAFailedStartNamesTheExitStatusAndShowsSystemdsLines(t *testing.T) {
	st := systemd.UnitState{Name: units.Service, ActiveState: "failed", SubState: "failed", Result: "exit-code", ExecMainCode: systemd.CLDExited, ExecMainStatus: 226}
	es := journalOf(t, "namespace")
	var out bytes.Buffer
	writeFailure(&out, st, es[len(es)-6:])
	s := out.String()
	assert.Contains(t, s, "The main process exited 226/NAMESPACE: systemd could not set up the unit's mount namespace")
	assert.Contains(t, s, "Fix: ")
	assert.Contains(t, s, "hermes install-unit --sandbox=minimal")
	assert.Contains(t, s, "systemd: hermes-gateway.service: Failed at step NAMESPACE spawning")
}

func TestTheAlertNamesTheExitAndCountsOnlyUnplannedExits(t *testing.T) {
	ns := factsOf(t, "namespace", systemd.UnitState{Name: units.Service, LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code",
		ExecMainCode: systemd.CLDExited, ExecMainStatus: 226})
	text := alertText(units.Service, &ns, journalOf(t, "namespace"))
	assert.Contains(t, text, "🚨 hermes-gateway.service failed: the main process exited 226/NAMESPACE")
	assert.Contains(t, text, "Fix: this system does not let your user manager build the unit's sandbox")
	assert.Contains(t, text, "systemd: hermes-gateway.service: Failed at step NAMESPACE")
	assert.NotContains(t, text, "Crash loop")

	cfg := factsOf(t, "config", systemd.UnitState{Name: units.Service, LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "exit-code",
		ExecMainCode: systemd.CLDExited, ExecMainStatus: 78, NRestarts: 30, StartLimitBurst: 30})
	text = alertText(units.Service, &cfg, nil)
	assert.Contains(t, text, "78/CONFIG")
	assert.NotContains(t, text, "start limit", "30 planned restarts before it are not the start limit")
	assert.NotContains(t, text, "Crash loop")

	sl := factsOf(t, "startlimit", systemd.UnitState{Name: units.Service, LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: "signal",
		ExecMainCode: systemd.CLDKilled, ExecMainStatus: 9, NRestarts: 30, StartLimitBurst: 30})
	text = alertText(units.Service, &sl, nil)
	assert.Contains(t, text, "hit its start limit")
	assert.Contains(t, text, "Crash loop: ")
}
