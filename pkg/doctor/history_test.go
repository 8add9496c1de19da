package doctor

import (
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// gw is a line of the gateway's own; mgr one of the manager's about the unit.
func gw(sec int, inv string, fields ...string) journal.Entry {
	e := journal.Entry{Time: t0.Add(time.Duration(sec) * time.Second), InvocationID: inv, Priority: 6,
		Fields: map[string]string{"_COMM": "hermes-gateway", "_SYSTEMD_USER_UNIT": "hermes-gateway.service"}}
	for i := 0; i+1 < len(fields); i += 2 {
		e.Fields[fields[i]] = fields[i+1]
	}
	return e
}

func mgr(sec int, inv, msg string, fields ...string) journal.Entry {
	e := journal.Entry{Time: t0.Add(time.Duration(sec) * time.Second), InvocationID: inv, Message: msg, Priority: 5,
		Fields: map[string]string{"_COMM": "systemd", "USER_UNIT": "hermes-gateway.service", "_SYSTEMD_USER_UNIT": "init.scope"}}
	for i := 0; i+1 < len(fields); i += 2 {
		e.Fields[fields[i]] = fields[i+1]
	}
	return e
}

func exitEvent(sec int, inv, code, reason string) journal.Entry {
	return gw(sec, inv, "HERMES_EVENT", "exit", "CODE", code, "REASON", reason)
}

func TestReadHistory(t *testing.T) {
	for _, tc := range []struct {
		name               string
		entries            []journal.Entry
		planned, unplanned int
		last               string
	}{
		{
			name: "systemd 257 logs exit 75 too: one planned exit, not two",
			entries: []journal.Entry{
				exitEvent(1, "a", "75", "planned restart: chat"),
				mgr(1, "a", "hermes-gateway.service: Main process exited, code=exited, status=75/TEMPFAIL", "EXIT_CODE", "exited", "EXIT_STATUS", "75"),
			},
			planned: 1, last: "exited 75/TEMPFAIL",
		},
		{
			name: "an exit event journald did not place goes with the manager's line after it",
			entries: []journal.Entry{
				exitEvent(1, "", "78", "config: bad"),
				mgr(1, "a", "hermes-gateway.service: Main process exited, code=exited, status=78/CONFIG"),
			},
			unplanned: 1, last: "exited 78/CONFIG",
		},
		{
			name: "SIGTERM is a stop, SIGKILL and SIGSEGV are not",
			entries: []journal.Entry{
				mgr(1, "a", "hermes-gateway.service: Main process exited, code=killed, status=15/TERM"),
				mgr(2, "b", "hermes-gateway.service: Main process exited, code=killed, status=9/KILL"),
				mgr(3, "c", "hermes-gateway.service: Main process exited, code=dumped, status=11/SEGV"),
			},
			planned: 1, unplanned: 2, last: "dumped core on SIGSEGV",
		},
		{
			name: "the line a watchdog timeout leaves explains the abort",
			entries: []journal.Entry{
				func() journal.Entry {
					e := mgr(1, "a", "hermes-gateway.service: Watchdog timeout (limit 20s)!")
					e.Priority = 2
					return e
				}(),
				mgr(1, "a", "hermes-gateway.service: Main process exited, code=dumped, status=6/ABRT"),
			},
			unplanned: 1, last: "dumped core on SIGABRT",
		},
		{
			name:    "no exits",
			entries: []journal.Entry{gw(1, "a", "HERMES_EVENT", "ready")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := ReadHistory(tc.entries)
			assert.Equal(t, tc.planned, h.Planned(t0), "planned")
			assert.Equal(t, tc.unplanned, h.Unplanned(t0), "unplanned")
			if tc.last == "" {
				assert.Nil(t, h.Last())
				return
			}
			require.NotNil(t, h.Last())
			assert.Equal(t, tc.last, h.Last().String())
		})
	}
	h := ReadHistory([]journal.Entry{
		func() journal.Entry {
			e := mgr(1, "a", "hermes-gateway.service: Watchdog timeout (limit 20s)!")
			e.Priority = 2
			return e
		}(),
		mgr(1, "a", "hermes-gateway.service: Main process exited, code=dumped, status=6/ABRT"),
	})
	assert.Equal(t, []string{"hermes-gateway.service: Watchdog timeout (limit 20s)!"}, h.Last().Systemd)
	assert.Contains(t, h.Last().Explain().Cause, "watchdog")
}
