package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// JEntry is one journal line of a unit.
type JEntry struct {
	T     time.Time
	PID   int
	Msg   string
	Event string // the gateway's HERMES_EVENT, if any
}

// readJournal returns a unit's journal lines (its own and the manager's
// about it) from since on, oldest first. The timestamps are journald's
// reception times (__REALTIME_TIMESTAMP).
func readJournal(unit string, since time.Time) ([]JEntry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "journalctl", "--user-unit="+unit, "-o", "json", "--no-pager",
		"--since", "@"+strconv.FormatInt(since.Unix()-1, 10)).Output()
	if err != nil {
		return nil, err
	}
	var es []JEntry
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var raw map[string]any
		if json.Unmarshal(sc.Bytes(), &raw) != nil {
			continue
		}
		us, _ := strconv.ParseInt(str(raw["__REALTIME_TIMESTAMP"]), 10, 64)
		t := time.UnixMicro(us)
		if t.Before(since) {
			continue
		}
		pid, _ := strconv.Atoi(str(raw["_PID"]))
		es = append(es, JEntry{T: t, PID: pid, Msg: str(raw["MESSAGE"]), Event: str(raw["HERMES_EVENT"])})
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].T.Before(es[j].T) })
	return es, nil
}

// str reads a journal JSON field: a string, or an array of bytes for
// values that are not valid UTF-8.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		b := make([]byte, 0, len(x))
		for _, c := range x {
			if f, ok := c.(float64); ok {
				b = append(b, byte(f))
			}
		}
		return string(b)
	}
	return ""
}

// findEvent returns the first entry of pid with the gateway event name (pid
// 0: any pid) at or after from.
func findEvent(es []JEntry, pid int, event string, from time.Time) (JEntry, bool) {
	for _, e := range es {
		if e.Event == event && (pid == 0 || e.PID == pid) && !e.T.Before(from) {
			return e, true
		}
	}
	return JEntry{}, false
}

// debugJournal adds the gateway's warnings and errors of the last minute
// to the phase's notes.
func debugJournal(r *Results, phase string) {
	out, _ := exec.Command("journalctl", "_COMM=hermes-gateway", "-p", "warning", "--since", "-60s", "--no-pager", "-o", "cat", "-n", "20").CombinedOutput()
	if s := string(bytes.TrimSpace(out)); s != "" {
		r.Note(phase, "the gateway's journal (warnings): %s", s)
	}
}

// restartDelays returns, for every planned restart of unit since since,
// the time from the gateway's "exit 75" line to the manager's "Scheduled
// restart job" line: how long RestartSec= really waited.
func restartDelays(unit string, since time.Time) ([]time.Duration, error) {
	js, err := readJournal(unit, since)
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	var exit time.Time
	for _, e := range js {
		switch {
		case e.Event == "exit" && strings.HasPrefix(e.Msg, "exit 75"):
			exit = e.T
		case strings.Contains(e.Msg, "Scheduled restart job") && !exit.IsZero():
			out = append(out, e.T.Sub(exit))
			exit = time.Time{}
		}
	}
	return out, nil
}
