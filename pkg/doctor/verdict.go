package doctor

import (
	"fmt"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/exitstatus"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/units"
)

// CrashWindow is how far back a crash loop is looked for, and CrashLoop how
// many unplanned exits in it make one. Planned restarts (exit 75) and stops
// never count: systemd's NRestarts counts them too, so it is not used.
const (
	CrashWindow = 10 * time.Minute
	CrashLoop   = 3
)

// Facts are what the service verdicts are made from: systemd's view of the
// units, what the journal says about the gateway's runs, and the time.
type Facts struct {
	Service systemd.UnitState
	Socket  systemd.UnitState
	History History
	Now     time.Time
}

// ServiceChecks are the verdicts about the socket and the service: is it
// installed and running, is it crash-looping, and how did it last end. They
// are a pure function of f: `hermes gateway status` and `hermes doctor`
// show the same verdicts, and tests make them from unit properties and
// journal lines alone.
func ServiceChecks(f Facts) []Check {
	r := &Report{}
	socketCheck(r, f.Socket)
	s := f.Service
	if s.LoadState == "not-found" || s.LoadState == "" {
		r.add("service", Failure, "not installed", "run `hermes install-unit`")
		return r.Checks
	}
	last := lastExitOf(f)
	serviceCheck(r, f, last)
	crashLoopCheck(r, f)
	lastExitCheck(r, f, last)
	return r.Checks
}

func socketCheck(r *Report, k systemd.UnitState) {
	switch {
	case k.LoadState == "not-found" || k.LoadState == "":
		r.add("socket", Failure, instance.CurrentOrDefault().Socket()+" is not installed", "run `hermes install-unit`")
	case k.ActiveState == "active":
		detail := "listening (" + k.SubState + ")"
		if k.UnitFileState == "enabled" {
			detail += ", enabled: it comes back after a reboot"
			r.add("socket", OK, detail, "")
		} else {
			r.add("socket", Warning, detail+", but "+nonEmpty(k.UnitFileState, "not enabled")+": the gateway will not come back after a reboot", "run `hermes install-unit`")
		}
	default:
		r.add("socket", Failure, fmt.Sprintf("%s is %s (%s): nothing listens on the control socket", instance.CurrentOrDefault().Socket(), k.ActiveState, nonEmpty(k.Result, "no result")),
			"run `systemctl --user reset-failed hermes-gateway.socket; systemctl --user start hermes-gateway.socket`")
	}
}

// startLimitHit tells whether systemd gave up starting the service. The
// journal says so ("Start request repeated too quickly"); systemd.
// StartLimitHit's guess from NRestarts is used only when the journal could
// not be read, because NRestarts counts planned restarts too.
func startLimitHit(f Facts) bool {
	s := f.Service
	if s.Result == "start-limit-hit" {
		return true
	}
	if f.History.Unknown != "" {
		return systemd.StartLimitHit(s)
	}
	return s.ActiveState == "failed" && f.History.StartLimitHit
}

// lastExitOf is the last exit the journal recorded, or, when it has none,
// the one systemd's properties hold.
func lastExitOf(f Facts) *Exit {
	if x := f.History.Last(); x != nil {
		return x
	}
	return StateExit(f.Service)
}

// StateExit is how the main process last ended as systemd's properties
// say (ExecMainCode, ExecMainStatus); nil when it has not ended.
func StateExit(s systemd.UnitState) *Exit {
	x := &Exit{Time: s.ExecMainExitTimestamp, Status: int(s.ExecMainStatus), Invocation: s.InvocationID}
	switch s.ExecMainCode {
	case systemd.CLDExited:
		x.Code = "exited"
	case systemd.CLDKilled:
		x.Code = "killed"
	case systemd.CLDDumped:
		x.Code = "dumped"
	default:
		return nil
	}
	return x
}

func serviceCheck(r *Report, f Facts, last *Exit) {
	s := f.Service
	switch {
	case startLimitHit(f):
		detail := "hit its start limit: it ended unplanned too often in a short time and systemd stopped trying"
		if last != nil {
			detail += "; the last run: " + last.String()
		}
		r.add("service", Failure, detail,
			"read `hermes gateway logs --invocation previous`, fix the cause, then `hermes gateway start` (it resets the limit)")
	case s.ActiveState == "failed":
		detail := "failed (" + nonEmpty(s.Result, "no result") + ")"
		fix := "read `hermes gateway logs --invocation current`, fix the cause, then `hermes gateway start`"
		if last != nil {
			st := last.Explain()
			detail = "failed: the main process " + last.String() + ": " + st.Cause
			if st.Fix != "" {
				fix = st.Fix
			}
		}
		r.add("service", Failure, detail, fix)
	case s.ActiveState == "active" || s.ActiveState == "reloading":
		r.add("service", OK, fmt.Sprintf("running, pid %d", s.MainPID), "")
	case s.SubState == "auto-restart" || (s.ActiveState == "activating" && last != nil && s.MainPID == 0):
		// Between an exit and the restart systemd has scheduled
		// (RestartSec=): a planned restart in progress, or a crash being
		// recovered from.
		if last == nil || last.Planned() {
			how := "a planned restart"
			if last != nil {
				how += " (" + last.String() + ")"
			}
			r.add("service", OK, "restarting: "+how+" is in progress; systemd starts the new process in a moment", "")
		} else {
			r.add("service", Warning, "restarting after an unplanned exit: the main process "+last.String(), "read `hermes gateway logs --invocation previous`")
		}
	case s.ActiveState == "activating":
		r.add("service", OK, "starting", "")
	case s.ActiveState == "deactivating":
		r.add("service", OK, "stopping: draining the work in flight", "")
	default:
		r.add("service", OK, s.ActiveState+": the next request to the socket starts it", "")
	}
}

func crashLoopCheck(r *Report, f Facts) {
	h := f.History
	if h.Unknown != "" {
		r.add("crash loop", Skipped, "cannot tell: the journal could not be read ("+h.Unknown+")", "")
		return
	}
	since := f.Now.Add(-CrashWindow)
	unplanned, planned := h.Unplanned(since), h.Planned(since)
	plannedNote := ""
	if planned > 0 {
		plannedNote = fmt.Sprintf("; %d planned %s, which %s not crashes", planned, plural(planned, "restart or stop", "restarts and stops"), plural(planned, "is", "are"))
	}
	if unplanned >= CrashLoop {
		last := h.Last()
		for i := len(h.Exits) - 1; i >= 0; i-- {
			if !h.Exits[i].Planned() {
				last = &h.Exits[i]
				break
			}
		}
		r.add("crash loop", Failure, fmt.Sprintf("%d unplanned exits in the last %d minutes (the last one %s)%s", unplanned, int(CrashWindow.Minutes()), last.String(), plannedNote),
			"read `hermes gateway logs --invocation previous` for why it keeps dying")
		return
	}
	r.add("crash loop", OK, fmt.Sprintf("no: %d unplanned %s in the last %d minutes%s", unplanned, plural(unplanned, "exit", "exits"), int(CrashWindow.Minutes()), plannedNote), "")
}

func lastExitCheck(r *Report, f Facts, x *Exit) {
	if x == nil {
		r.add("last exit", OK, "none recorded", "")
		return
	}
	st := x.Explain()
	detail := x.String() + ": " + st.Cause
	switch {
	case x.Reason != "":
		detail += "; the gateway said: " + x.Reason
	case len(x.Systemd) > 0:
		detail += "; systemd said: " + strings.Join(x.Systemd, " / ")
	case !x.Planned() && exitstatus.Systemd(x.Status) && x.Code == "exited":
		detail += "; the gateway never ran, so it logged nothing"
	case !x.Planned():
		detail += "; the gateway logged no reason (a crash or a kill leaves none)"
	}
	running := f.Service.ActiveState == "active" || f.Service.ActiveState == "reloading" || f.Service.ActiveState == "activating"
	switch {
	case x.Planned():
		r.add("last exit", OK, detail, "")
	case running:
		// It came back: worth knowing, not a failure now.
		r.add("last exit", Warning, detail, nonEmpty(st.Fix, "see `hermes gateway logs --invocation previous`"))
	default:
		r.add("last exit", Failure, detail, nonEmpty(st.Fix, "see `hermes gateway logs --invocation current`"))
	}
}

// SandboxCheck is the verdict on the hardening level the units were
// installed with (X-Hermes-Sandbox= in the service): full is the normal
// state; minimal is a true and lasting difference a person should see,
// with the way back.
func SandboxCheck(level string) (Check, bool) {
	switch level {
	case units.SandboxFull:
		return Check{Name: "sandbox", Status: OK, Detail: "full: every hardening directive of the units is on"}, true
	case units.SandboxMinimal:
		return Check{Name: "sandbox", Status: Warning,
			Detail: "minimal: installed without the directives that need namespaces (" + strings.Join(units.NamespaceDirectives, ", ") +
				"), because this system's user manager could not build them; the system call filter and the rest of the hardening are on",
			Fix: "once the system allows unprivileged user namespaces, run `hermes install-unit --sandbox=full` (it starts the gateway once and says if it still cannot)"}, true
	}
	return Check{}, false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
