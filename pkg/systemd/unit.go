package systemd

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// UnitState is a snapshot of a unit's properties as the manager reports
// them (`systemctl --user show UNIT`). Timestamps are zero when the event
// has not happened; MainPID is 0 when no main process runs.
type UnitState struct {
	Name          string // the unit's id, e.g. "hermes-gateway.service"
	LoadState     string // "loaded", "not-found", "bad-setting", "error", "masked"
	ActiveState   string // "active", "reloading", "inactive", "failed", "activating", "deactivating"
	SubState      string // type-specific, e.g. "running", "listening", "dead", "auto-restart"
	Result        string // services and sockets: "success", "exit-code", "signal", "core-dump", "timeout", "start-limit-hit", …
	UnitFileState string // "enabled", "disabled", "static", "linked", …; "" when there is no unit file
	// InvocationID identifies one run of the unit (32 hex digits); a restart
	// gives a new one. "" when the unit has never been started.
	InvocationID string
	MainPID      uint32
	// ExecMainCode is how the main process last ended: 0 not yet,
	// 1 CLD_EXITED (ExecMainStatus is the exit status), 2 CLD_KILLED and
	// 3 CLD_DUMPED (ExecMainStatus is the signal number).
	ExecMainCode           int32
	ExecMainStatus         int32
	ExecMainStartTimestamp time.Time
	ExecMainExitTimestamp  time.Time
	ActiveEnterTimestamp   time.Time
	StateChangeTimestamp   time.Time
	// NRestarts counts automatic restarts (Restart=) only; a manual start or
	// restart resets it. To tell runs apart use InvocationID or
	// ExecMainStartTimestamp.
	NRestarts uint32
	// StartLimitBurst is the unit's StartLimitBurst= (0: no limit).
	StartLimitBurst  uint32
	FragmentPath     string
	NeedDaemonReload bool
	// JobID is the job systemd has queued or running for the unit (a start,
	// the start half of a restart), 0 when none: a failed unit with a job
	// is being brought back, not given up on.
	JobID uint32
}

// How a process ended, as in ExecMainCode (the si_code values of waitid).
const (
	CLDExited = 1
	CLDKilled = 2
	CLDDumped = 3
)

// ExitDescription says how the main process last ended: "exited 75",
// "killed by SIGKILL", "killed by SIGSEGV (core dumped)", or "" when no
// exit has been recorded (never started, or running since).
func (s UnitState) ExitDescription() string {
	switch s.ExecMainCode {
	case CLDExited:
		return "exited " + strconv.Itoa(int(s.ExecMainStatus))
	case CLDKilled:
		return "killed by " + signalName(s.ExecMainStatus)
	case CLDDumped:
		return "killed by " + signalName(s.ExecMainStatus) + " (core dumped)"
	case 0:
		return ""
	default:
		return fmt.Sprintf("ended with code %d, status %d", s.ExecMainCode, s.ExecMainStatus)
	}
}

func signalName(n int32) string {
	if name := unix.SignalName(syscall.Signal(n)); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(int(n))
}

// StartLimitHit tells whether the unit is refusing to start because it hit
// its start limit (StartLimitBurst= starts within StartLimitIntervalSec=).
// A start or restart fails at once in that state; ResetFailed clears it.
//
// systemd says so with Result=start-limit-hit only when the run before
// had succeeded. After a crash loop (Restart=on-failure) systemd 252 leaves
// Result at the crash's (exit-code, signal, …); that case is recognised by
// the unit being failed with NRestarts having reached StartLimitBurst.
// What the state cannot show is a unit that hit the limit through failed
// starts by hand; a start then fails with a *JobError whose StartLimitHit
// is set.
func StartLimitHit(s UnitState) bool {
	if s.Result == "start-limit-hit" {
		return true
	}
	return s.ActiveState == "failed" && s.StartLimitBurst > 0 && s.NRestarts >= s.StartLimitBurst
}

// Unit reads the state of the unit called name (with its suffix, e.g.
// "hermes-gateway.service"). A unit that does not exist is no error: it
// comes back with LoadState "not-found".
func (m *Manager) Unit(ctx context.Context, name string) (UnitState, error) {
	props, err := m.conn.GetUnitPropertiesContext(ctx, name)
	if err != nil {
		return UnitState{}, fmt.Errorf("reading the properties of %s: %w", name, err)
	}
	var typeProps map[string]any
	if iface := typeInterface(name); iface != "" {
		typeProps, err = m.conn.GetUnitTypePropertiesContext(ctx, name, iface)
		if err != nil && str(props, "LoadState") == "loaded" {
			return UnitState{}, fmt.Errorf("reading the %s properties of %s: %w", iface, name, err)
		}
	}
	return stateFromProps(props, typeProps), nil
}

// typeInterface is the D-Bus interface suffix for the unit type of name:
// "Service" for "x.service", and so on.
func typeInterface(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return ""
	}
	t := name[i+1:]
	switch t {
	case "service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope":
		return strings.ToUpper(t[:1]) + t[1:]
	}
	return ""
}

// stateFromProps builds a UnitState from the property maps of the Unit
// interface and of the unit's type interface (which may be nil).
func stateFromProps(unit, typ map[string]any) UnitState {
	s := UnitState{
		Name:                 str(unit, "Id"),
		LoadState:            str(unit, "LoadState"),
		ActiveState:          str(unit, "ActiveState"),
		SubState:             str(unit, "SubState"),
		UnitFileState:        str(unit, "UnitFileState"),
		InvocationID:         id128(unit["InvocationID"]),
		FragmentPath:         str(unit, "FragmentPath"),
		ActiveEnterTimestamp: usec(unit["ActiveEnterTimestamp"]),
		StateChangeTimestamp: usec(unit["StateChangeTimestamp"]),
	}
	s.NeedDaemonReload, _ = unit["NeedDaemonReload"].(bool)
	// Job is a D-Bus struct (uo): the job id and its object path.
	if j, ok := unit["Job"].([]any); ok && len(j) == 2 {
		s.JobID, _ = j[0].(uint32)
	}
	s.StartLimitBurst, _ = unit["StartLimitBurst"].(uint32)
	if typ != nil {
		s.Result = str(typ, "Result")
		s.MainPID, _ = typ["MainPID"].(uint32)
		s.ExecMainCode, _ = typ["ExecMainCode"].(int32)
		s.ExecMainStatus, _ = typ["ExecMainStatus"].(int32)
		s.ExecMainStartTimestamp = usec(typ["ExecMainStartTimestamp"])
		s.ExecMainExitTimestamp = usec(typ["ExecMainExitTimestamp"])
		s.NRestarts, _ = typ["NRestarts"].(uint32)
	}
	return s
}

func str(m map[string]any, key string) string {
	v, _ := m[key].(string)
	return v
}

// usec converts systemd's microseconds since the epoch; 0 and "infinity"
// mean never.
func usec(v any) time.Time {
	u, ok := v.(uint64)
	if !ok || u == 0 || u == math.MaxUint64 {
		return time.Time{}
	}
	return time.UnixMicro(int64(u))
}

// id128 formats a 128-bit id given as 16 bytes; all zeroes mean none.
func id128(v any) string {
	b, ok := v.([]byte)
	if !ok || len(b) != 16 {
		return ""
	}
	for _, c := range b {
		if c != 0 {
			return hex.EncodeToString(b)
		}
	}
	return ""
}
