package doctor

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/exitstatus"
	"github.com/hermes-gateway/hermes/pkg/journal"
)

// Exit is how one run of the gateway ended, as the journal tells it: the
// manager's "Main process exited" line (systemd 252 writes none for an
// exit it counts as success, such as 0 and 75), the gateway's own exit
// event (a crash writes none), or both.
type Exit struct {
	Time       time.Time `json:"time"`
	Invocation string    `json:"invocation_id,omitempty"`
	// Code is how the process ended: "exited" (Status is its exit status),
	// "killed" or "dumped" (Status is the signal number).
	Code   string `json:"code"`
	Status int    `json:"status"`
	// Reason is what the gateway's exit event said, "" when it wrote none.
	Reason string `json:"reason,omitempty"`
	// Systemd are systemd's own error lines about the run ("Failed at step
	// NAMESPACE spawning …"): what a run that never reached the gateway has.
	Systemd []string `json:"systemd,omitempty"`
}

// Planned reports whether the exit was asked for: a stop (exit 0, or
// SIGTERM/SIGINT/SIGHUP/SIGPIPE, which systemd counts as a clean stop) or a
// planned restart (75). Everything else is a crash, whatever systemd did
// next.
func (e Exit) Planned() bool {
	switch e.Code {
	case "exited":
		return exitstatus.Explain(e.Status).Planned
	case "killed":
		switch e.Status {
		case 1, 2, 13, 15: // HUP, INT, PIPE, TERM
			return true
		}
	}
	return false
}

// String says how the run ended: "exited 226/NAMESPACE", "killed by
// SIGKILL", "dumped core on SIGSEGV".
func (e Exit) String() string {
	switch e.Code {
	case "exited":
		return "exited " + exitstatus.Explain(e.Status).String()
	case "killed":
		return "killed by " + signalName(e.Status)
	case "dumped":
		return "dumped core on " + signalName(e.Status)
	}
	return fmt.Sprintf("ended (%s, status %d)", e.Code, e.Status)
}

// Explain says what the exit means and what to do: from pkg/exitstatus for
// an exit status, and for a signal, that something killed it.
func (e Exit) Explain() exitstatus.Status {
	if e.Code == "exited" {
		return exitstatus.Explain(e.Status)
	}
	s := exitstatus.Status{Code: e.Status, Name: strings.TrimPrefix(signalName(e.Status), "SIG"), Planned: e.Planned()}
	switch {
	case s.Planned:
		s.Cause = "stopped by " + signalName(e.Status)
	case e.Status == 6:
		s.Cause = "the gateway aborted (SIGABRT): systemd's watchdog fires this when the main loop stops answering (WatchdogSec=), or the Go runtime failed"
		s.Fix = "read `hermes gateway logs --invocation previous` for the last lines before it"
	case e.Status == 9:
		s.Cause = "the gateway was killed (SIGKILL): by hand, by the kernel's OOM killer, or by systemd when a stop took longer than TimeoutStopSec="
		s.Fix = "check `journalctl -k | grep -i oom` and `hermes gateway logs --invocation previous`"
	default:
		s.Cause = "the gateway died on " + signalName(e.Status)
		s.Fix = "read `hermes gateway logs --invocation previous`"
	}
	return s
}

func signalName(n int) string {
	names := map[int]string{1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
		9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS"}
	if s, ok := names[n]; ok {
		return s
	}
	return "signal " + strconv.Itoa(n)
}

// History is what the journal says about the gateway's runs.
type History struct {
	// Exits are the runs that ended, oldest first.
	Exits []Exit `json:"exits"`
	// StartLimitHit is set when systemd refused a start after the last
	// exit ("Start request repeated too quickly").
	StartLimitHit bool `json:"start_limit_hit"`
	// Unknown is set when the journal could not be read: the verdicts fall
	// back on what systemd's properties alone can tell.
	Unknown string `json:"unknown,omitempty"`
}

// Last is the last exit, or nil.
func (h History) Last() *Exit {
	if len(h.Exits) == 0 {
		return nil
	}
	return &h.Exits[len(h.Exits)-1]
}

// Unplanned counts the exits that were not asked for since t.
func (h History) Unplanned(since time.Time) int {
	n := 0
	for _, e := range h.Exits {
		if !e.Planned() && !e.Time.Before(since) {
			n++
		}
	}
	return n
}

// Planned counts the exits that were asked for since t.
func (h History) Planned(since time.Time) int {
	n := 0
	for _, e := range h.Exits {
		if e.Planned() && !e.Time.Before(since) {
			n++
		}
	}
	return n
}

// systemd's catalog ids for the lines History reads.
const (
	msgProcessExit = "98e322203f7a4ed290d09fe03c09fe15" // "Main process exited, code=…, status=…"
	msgFailedStart = "be02cf6855d2428ba40df7e9d022f03d" // "Failed to start …"
	msgUnitFailed  = "d9b373ed55a64feb8242e02dbe79a49c" // "Failed with result …"
)

var mainExitRe = regexp.MustCompile(`Main process exited, code=(\w+), status=(\d+)`)

// ReadHistory finds the gateway's exits in the unit's journal entries (as
// journal.Read gives them: oldest first, placed in invocations). It is a
// pure function of the entries, so every verdict built on it is tested
// from journal lines alone.
func ReadHistory(entries []journal.Entry) History {
	var h History
	byRun := map[string]int{} // invocation → index in h.Exits
	loose := -1               // an exit event that could not be placed in a run
	run := func(e journal.Entry) *Exit {
		if i, ok := byRun[e.InvocationID]; ok && e.InvocationID != "" {
			return &h.Exits[i]
		}
		if e.InvocationID == "" {
			// A gateway line journald did not tag, at the edge of the
			// window read: the manager's exit line that follows is its.
			h.Exits = append(h.Exits, Exit{})
			loose = len(h.Exits) - 1
			return &h.Exits[loose]
		}
		if loose >= 0 && e.FromSystemd() && e.Time.Sub(h.Exits[loose].Time) < 5*time.Second {
			i := loose
			loose = -1
			h.Exits[i].Invocation = e.InvocationID
			byRun[e.InvocationID] = i
			return &h.Exits[i]
		}
		h.Exits = append(h.Exits, Exit{Invocation: e.InvocationID})
		byRun[e.InvocationID] = len(h.Exits) - 1
		return &h.Exits[len(h.Exits)-1]
	}
	// Lines systemd writes about a failed start before the exit line are
	// kept until the run's exit shows up.
	pending := map[string][]string{}
	for _, e := range entries {
		switch {
		case e.Fields["HERMES_EVENT"] == "exit":
			x := run(e)
			x.Reason = e.Fields["REASON"]
			if x.Code == "" {
				code, err := strconv.Atoi(e.Fields["CODE"])
				if err == nil {
					x.Code, x.Status, x.Time = "exited", code, e.Time
				}
			}
		case e.FromSystemd() && (e.Fields["MESSAGE_ID"] == msgProcessExit || mainExitRe.MatchString(e.Message)):
			code, status := e.Fields["EXIT_CODE"], e.Fields["EXIT_STATUS"]
			if m := mainExitRe.FindStringSubmatch(e.Message); m != nil && (code == "" || status == "") {
				code, status = m[1], m[2]
			}
			n, err := strconv.Atoi(status)
			if err != nil || code == "" {
				continue
			}
			x := run(e)
			x.Code, x.Status, x.Time = code, n, e.Time
			x.Systemd = append(x.Systemd, pending[e.InvocationID]...)
			delete(pending, e.InvocationID)
			h.StartLimitHit = false
		case e.FromSystemd() && strings.Contains(e.Message, "Start request repeated too quickly"):
			h.StartLimitHit = true
		case e.FromSystemd() && e.Priority <= 4 && e.Fields["MESSAGE_ID"] != msgFailedStart && e.Fields["MESSAGE_ID"] != msgUnitFailed:
			pending[e.InvocationID] = append(pending[e.InvocationID], e.Message)
		}
	}
	return h
}
