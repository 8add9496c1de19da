package doctor

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The testdata journals were recorded in scripts/sandbox (systemd 252) with
// `journalctl --user-unit=hermes-gateway.service -o json --all`:
//
//	planned     three POST /v1/restart
//	stopstart   systemctl --user stop, then start
//	crashloop   four SIGKILLs, each process restarted by systemd
//	config      a restart into a config that cannot work (exit 78)
//	namespace   a start whose mount namespace systemd could not build (226)
//	startlimit  SIGKILLs until systemd gave up (the last 45 lines)
func history(t *testing.T, name string) (History, time.Time) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "journal-"+name+".json"))
	require.NoError(t, err)
	defer f.Close()
	es, err := journal.Decode(f, units.Service, false)
	require.NoError(t, err)
	require.NotEmpty(t, es)
	return ReadHistory(es), es[len(es)-1].Time
}

var (
	running = systemd.UnitState{Name: units.Service, LoadState: "loaded", ActiveState: "active", SubState: "running", Result: "success", MainPID: 4242}
	socket  = systemd.UnitState{Name: units.Socket, LoadState: "loaded", ActiveState: "active", SubState: "running", UnitFileState: "enabled"}
)

func failed(result string, code, status int32, nrestarts uint32) systemd.UnitState {
	return systemd.UnitState{Name: units.Service, LoadState: "loaded", ActiveState: "failed", SubState: "failed", Result: result,
		ExecMainCode: code, ExecMainStatus: status, NRestarts: nrestarts, StartLimitBurst: 30}
}

func byName(cs []Check) map[string]Check {
	m := map[string]Check{}
	for _, c := range cs {
		m[c.Name] = c
	}
	return m
}

func TestServiceVerdicts(t *testing.T) {
	type want struct{ status, has string }
	for _, tc := range []struct {
		name    string
		journal string
		svc     systemd.UnitState
		later   time.Duration // Now, after the journal's last line
		want    map[string]want
	}{
		{
			name: "three planned restarts are not a crash loop", journal: "planned",
			svc: func() systemd.UnitState { s := running; s.NRestarts = 3; return s }(),
			want: map[string]want{
				"service":    {OK, "running"},
				"crash loop": {OK, "no: 0 unplanned exits in the last 10 minutes; 3 planned restarts and stops, which are not crashes"},
				"last exit":  {OK, "exited 75/TEMPFAIL: a planned restart"},
			},
		},
		{
			name: "the wait between a planned exit and its restart is a restart in progress", journal: "planned",
			svc: systemd.UnitState{Name: units.Service, LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart", Result: "success",
				ExecMainCode: systemd.CLDExited, ExecMainStatus: 75, NRestarts: 3},
			want: map[string]want{
				"service":    {OK, "restarting: a planned restart (exited 75/TEMPFAIL) is in progress"},
				"crash loop": {OK, "no: 0 unplanned"},
			},
		},
		{
			name: "a stop and a start by hand", journal: "stopstart", svc: running,
			want: map[string]want{
				"crash loop": {OK, "no: 0 unplanned exits"},
				"last exit":  {OK, "exited 0/SUCCESS: stopped on request"},
			},
		},
		{
			name: "four kills are a crash loop", journal: "crashloop",
			svc: func() systemd.UnitState { s := running; s.NRestarts = 4; return s }(),
			want: map[string]want{
				"service":    {OK, "running"},
				"crash loop": {Failure, "4 unplanned exits in the last 10 minutes (the last one killed by SIGKILL)"},
				"last exit":  {Warning, "killed by SIGKILL: the gateway was killed"},
			},
		},
		{
			name: "a crash loop that ended more than 10 minutes ago", journal: "crashloop", svc: running, later: 11 * time.Minute,
			want: map[string]want{"crash loop": {OK, "no: 0 unplanned exits"}},
		},
		{
			name: "the wait before restarting after a kill", journal: "crashloop",
			svc: systemd.UnitState{Name: units.Service, LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart", Result: "signal",
				ExecMainCode: systemd.CLDKilled, ExecMainStatus: 9, NRestarts: 4},
			want: map[string]want{"service": {Warning, "restarting after an unplanned exit: the main process killed by SIGKILL"}},
		},
		{
			name: "a config that cannot work", journal: "config", svc: failed("exit-code", 1, 78, 0),
			want: map[string]want{
				"service":    {Failure, "failed: the main process exited 78/CONFIG: the configuration cannot work"},
				"crash loop": {OK, "no: 1 unplanned exit"},
				"last exit":  {Failure, "the gateway said: config: "},
			},
		},
		{
			name: "systemd could not build the sandbox", journal: "namespace", svc: failed("exit-code", 1, 226, 0),
			want: map[string]want{
				"service":   {Failure, "failed: the main process exited 226/NAMESPACE: systemd could not set up the unit's mount namespace"},
				"last exit": {Failure, "systemd said: "},
			},
		},
		{
			name: "systemd gave up after a crash loop", journal: "startlimit", svc: failed("signal", 2, 9, 30),
			want: map[string]want{
				"service":    {Failure, "hit its start limit"},
				"crash loop": {Failure, "unplanned exits"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, end := history(t, tc.journal)
			checks := byName(ServiceChecks(Facts{Service: tc.svc, Socket: socket, History: h, Now: end.Add(time.Second + tc.later)}))
			assert.Equal(t, OK, checks["socket"].Status)
			for name, w := range tc.want {
				c, ok := checks[name]
				require.True(t, ok, "no check %q", name)
				assert.Equal(t, w.status, c.Status, "%s: %s", name, c.Detail)
				assert.Contains(t, c.Detail, w.has, name)
				if c.Status != OK {
					assert.NotEmpty(t, c.Fix, "%s says what to do", name)
				}
			}
		})
	}
}

func TestASandboxFailureNamesTheStepAndTheFix(t *testing.T) {
	h, end := history(t, "namespace")
	x := h.Last()
	require.NotNil(t, x)
	assert.Equal(t, "exited 226/NAMESPACE", x.String())
	assert.Empty(t, x.Reason, "the gateway never ran")
	require.NotEmpty(t, x.Systemd)
	assert.Contains(t, strings.Join(x.Systemd, "\n"), "Failed at step NAMESPACE spawning")
	checks := byName(ServiceChecks(Facts{Service: failed("exit-code", 1, 226, 0), Socket: socket, History: h, Now: end}))
	assert.Contains(t, checks["service"].Fix, "hermes install-unit --sandbox=minimal")
	assert.NotContains(t, checks["last exit"].Detail, "none")
}

// NRestarts counts planned restarts too: 30 of them and then a bad config
// is not the start limit.
func TestManyPlannedRestartsThenAFailureIsNotTheStartLimit(t *testing.T) {
	h, end := history(t, "config")
	checks := byName(ServiceChecks(Facts{Service: failed("exit-code", 1, 78, 30), Socket: socket, History: h, Now: end}))
	assert.NotContains(t, checks["service"].Detail, "start limit")
	assert.Contains(t, checks["service"].Detail, "78/CONFIG")
}

func TestWithoutTheJournalNoCrashLoopIsGuessed(t *testing.T) {
	s := running
	s.NRestarts = 12
	checks := byName(ServiceChecks(Facts{Service: s, Socket: socket, History: History{Unknown: "journalctl not found"}, Now: time.Now()}))
	assert.Equal(t, Skipped, checks["crash loop"].Status)
	assert.Contains(t, checks["crash loop"].Detail, "journalctl not found")
	assert.Equal(t, OK, checks["service"].Status)
}

func TestTheSocketAndAMissingService(t *testing.T) {
	off := socket
	off.UnitFileState = "disabled"
	checks := byName(ServiceChecks(Facts{Service: running, Socket: off, Now: time.Now()}))
	assert.Equal(t, Warning, checks["socket"].Status)
	assert.Contains(t, checks["socket"].Detail, "will not come back after a reboot")

	checks = byName(ServiceChecks(Facts{Service: systemd.UnitState{LoadState: "not-found"}, Socket: socket, Now: time.Now()}))
	assert.Equal(t, Failure, checks["service"].Status)
	assert.Contains(t, checks["service"].Fix, "hermes install-unit")
}

func TestLingerIsASentenceInEachState(t *testing.T) {
	for _, tc := range []struct {
		name, out        string
		err, ctxErr      error
		state, says, fix string
	}{
		{"on", "yes\n", nil, nil, LingerOn, "lingering is on: your user manager runs without a login session", ""},
		{"off", "no\n", nil, nil, LingerOff, "lingering is off: the gateway stops when you log out", "loginctl enable-linger"},
		{"no logind", "Failed to get user: Could not activate remote peer: activation request failed: unknown unit.\n", errors.New("exit status 1"), nil,
			LingerUnknown, "whether lingering is on cannot be told (loginctl said: Failed to get user: Could not activate remote peer", "loginctl show-user"},
		{"no loginctl", "", exec.ErrNotFound, nil, LingerUnknown, "cannot be told (loginctl is not installed", "loginctl show-user"},
		{"no answer", "", errors.New("signal: killed"), errors.New("context deadline exceeded"), LingerUnknown, "loginctl did not answer", "enable-linger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := lingerFrom(tc.out, tc.err, tc.ctxErr)
			assert.Equal(t, tc.state, l.State)
			assert.Contains(t, l.Sentence(), tc.says)
			assert.NotContains(t, l.Sentence(), "is cannot", "a sentence, not a state pasted into one")
			if tc.fix == "" {
				assert.Empty(t, l.Fix())
				assert.Equal(t, OK, LingerCheck(l).Status)
			} else {
				assert.Contains(t, l.Fix(), tc.fix)
				assert.Equal(t, Warning, LingerCheck(l).Status)
			}
		})
	}
}

func TestSandboxLevel(t *testing.T) {
	c, ok := SandboxCheck(units.SandboxFull)
	require.True(t, ok)
	assert.Equal(t, OK, c.Status)

	c, ok = SandboxCheck(units.SandboxMinimal)
	require.True(t, ok)
	assert.Equal(t, Warning, c.Status)
	assert.Contains(t, c.Detail, "PrivateUsers", "says what was left out")
	assert.Contains(t, c.Fix, "hermes install-unit --sandbox=full", "and the way back")

	_, ok = SandboxCheck("")
	assert.False(t, ok, "units installed before the levels existed say nothing")
}
