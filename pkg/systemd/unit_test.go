package systemd

import (
	"context"
	"errors"
	"github.com/godbus/dbus/v5"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExitDescription(t *testing.T) {
	for _, tc := range []struct {
		code, status int32
		want         string
	}{
		{0, 0, ""},
		{CLDExited, 0, "exited 0"},
		{CLDExited, 75, "exited 75"},
		{CLDKilled, 9, "killed by SIGKILL"},
		{CLDKilled, 15, "killed by SIGTERM"},
		{CLDDumped, 11, "killed by SIGSEGV (core dumped)"},
		{CLDKilled, 200, "killed by signal 200"},
	} {
		got := UnitState{ExecMainCode: tc.code, ExecMainStatus: tc.status}.ExitDescription()
		require.Equal(t, tc.want, got, "code %d status %d", tc.code, tc.status)
	}
}

func TestStartLimitHit(t *testing.T) {
	require.True(t, StartLimitHit(UnitState{ActiveState: "failed", Result: "start-limit-hit"}))
	require.False(t, StartLimitHit(UnitState{ActiveState: "failed", Result: "exit-code"}))
	require.False(t, StartLimitHit(UnitState{}))
	// A crash loop that ran into the limit: systemd 252 keeps Result=exit-code.
	require.True(t, StartLimitHit(UnitState{ActiveState: "failed", Result: "exit-code", NRestarts: 5, StartLimitBurst: 5}))
	require.False(t, StartLimitHit(UnitState{ActiveState: "failed", Result: "exit-code", NRestarts: 4, StartLimitBurst: 5}))
	require.False(t, StartLimitHit(UnitState{ActiveState: "activating", Result: "exit-code", NRestarts: 5, StartLimitBurst: 5}))
	require.False(t, StartLimitHit(UnitState{ActiveState: "failed", Result: "exit-code", NRestarts: 5}), "no limit configured")
}

func TestTypeInterface(t *testing.T) {
	require.Equal(t, "Service", typeInterface("hermes-gateway.service"))
	require.Equal(t, "Socket", typeInterface("hermes-gateway.socket"))
	require.Equal(t, "Automount", typeInterface("x.automount"))
	require.Equal(t, "", typeInterface("hermes-gateway"))
	require.Equal(t, "", typeInterface("weird."))
	require.Equal(t, "", typeInterface("a.b"))
}

func TestStateFromProps(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	unit := map[string]any{
		"Id":                   "hermes-gateway.service",
		"LoadState":            "loaded",
		"ActiveState":          "active",
		"SubState":             "running",
		"UnitFileState":        "static",
		"InvocationID":         []byte{0x85, 0x98, 0x87, 0x20, 0x79, 0x4f, 0x44, 0xe3, 0x8d, 0x62, 0x66, 0x07, 0x16, 0x6e, 0x1b, 0x65},
		"FragmentPath":         "/home/u/.config/systemd/user/hermes-gateway.service",
		"NeedDaemonReload":     true,
		"ActiveEnterTimestamp": uint64(start.UnixMicro()),
		"StateChangeTimestamp": uint64(math.MaxUint64),
		// godbus gives a struct (uo) in a variant as []any.
		"Job": []any{uint32(17), dbus.ObjectPath("/org/freedesktop/systemd1/job/17")},
	}
	svc := map[string]any{
		"Result":                 "success",
		"MainPID":                uint32(4242),
		"ExecMainCode":           int32(0),
		"ExecMainStatus":         int32(0),
		"ExecMainStartTimestamp": uint64(start.UnixMicro()),
		"ExecMainExitTimestamp":  uint64(0),
		"NRestarts":              uint32(3),
	}
	s := stateFromProps(unit, svc)
	require.Equal(t, "hermes-gateway.service", s.Name)
	require.Equal(t, "loaded", s.LoadState)
	require.Equal(t, "active", s.ActiveState)
	require.Equal(t, "running", s.SubState)
	require.Equal(t, "static", s.UnitFileState)
	require.Equal(t, "85988720794f44e38d626607166e1b65", s.InvocationID)
	require.Equal(t, "/home/u/.config/systemd/user/hermes-gateway.service", s.FragmentPath)
	require.True(t, s.NeedDaemonReload)
	require.True(t, start.Equal(s.ActiveEnterTimestamp))
	require.True(t, start.Equal(s.ExecMainStartTimestamp))
	require.True(t, s.StateChangeTimestamp.IsZero(), "infinity means never")
	require.True(t, s.ExecMainExitTimestamp.IsZero())
	require.Equal(t, "success", s.Result)
	require.Equal(t, uint32(4242), s.MainPID)
	require.Equal(t, uint32(3), s.NRestarts)
	require.Equal(t, uint32(17), s.JobID)

	// A unit never started: null invocation id, no type properties.
	s = stateFromProps(map[string]any{"LoadState": "not-found", "InvocationID": make([]byte, 16)}, nil)
	require.Equal(t, "not-found", s.LoadState)
	require.Empty(t, s.InvocationID)
	require.Empty(t, s.Result)
}

func TestJobErrors(t *testing.T) {
	je := &JobError{Op: "start", Unit: "hermes-gateway.service", JobID: 7, Result: JobDependency}
	require.Contains(t, je.Error(), "a unit it depends on failed")
	require.Contains(t, je.Error(), "systemctl --user status hermes-gateway.service")
	je.Result, je.StartLimitHit = JobFailed, true
	require.Contains(t, je.Error(), "start limit")
	require.Contains(t, je.Error(), "systemctl --user reset-failed hermes-gateway.service")

	pe := &JobPendingError{Op: "restart", Unit: "hermes-gateway.service", JobID: 9, Err: context.DeadlineExceeded}
	require.True(t, errors.Is(pe, context.DeadlineExceeded))
	require.Contains(t, pe.Error(), "still queued or running in systemd")
	require.Contains(t, pe.Error(), "systemctl --user status hermes-gateway.service")
	pe.JobID = 0
	require.Contains(t, pe.Error(), "may or may not be queued")
}
