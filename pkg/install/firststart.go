package install

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/exitstatus"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/units"
)

// SandboxError is a first start that failed while systemd built the unit's
// sandbox: the unit as rendered cannot run on this system.
type SandboxError struct {
	Status exitstatus.Status
	// Invocation is the failed run's invocation id.
	Invocation string
	// Lines are the journal lines about the unit from that start (the
	// manager's own: the gateway never ran).
	Lines []string
}

// report says it as a block: the step, why, what to do, and the lines.
func (e *SandboxError) report(say func(string, ...any)) {
	say("✗ %s could not start: systemd failed at step %s", instance.CurrentOrDefault().Service(), e.Status)
	say("  why: %s", e.Status.Cause)
	say("  fix: %s", e.Status.Fix)
	if len(e.Lines) > 0 {
		say("  the manager's lines (the gateway itself never ran):")
		for _, l := range e.Lines {
			say("    %s", l)
		}
	}
}

func (e *SandboxError) Error() string {
	return fmt.Sprintf("%s could not start: systemd failed at step %s (%s). Fix: %s",
		instance.CurrentOrDefault().Service(), e.Status, e.Status.Cause, e.Status.Fix)
}

// startChecked starts the service once and checks that it came up, instead
// of reporting success on a unit that dies at once. Where the first start
// fails on a sandbox step (218, 226, …), restarting cannot help (the unit's
// RestartPreventExitStatus= stops it looping and the socket keeps
// listening): in auto mode the units are rendered again without the
// namespace-based directives and started once more; asked for the full
// sandbox, it reports which step failed and what to do.
func startChecked(ctx context.Context, sd Systemd, o *Options, res *Result, say func(string, ...any), auto bool) error {
	err := startOnce(ctx, sd)
	if err == nil {
		return nil
	}
	var se *SandboxError
	if !errors.As(err, &se) {
		return err
	}
	se.Lines = o.managerLines(ctx, se.Invocation)
	se.report(say)
	if !auto || o.Params.Sandbox != units.SandboxFull {
		return err
	}

	// Fall back: keep what seccomp and prctl give, leave out what needs
	// namespaces, and say so (doctor keeps saying so).
	o.Params.Sandbox = units.SandboxMinimal
	say("! this system cannot build the full sandbox; installing with --sandbox=minimal, which leaves out %s", strings.Join(units.NamespaceDirectives, ", "))
	say("  (systemd-analyze security: see the README's hardening table; when the system allows it, `hermes install-unit --sandbox=full` puts them back)")
	files, cerr := Check(o.Params, o.UnitDir, o.Config)
	if cerr != nil {
		return cerr
	}
	for _, f := range files {
		if f.State == Current {
			continue
		}
		if f.State == Modified && !o.Force {
			say("! %s: changed by hand; left alone, so the fallback may not take effect", f.Name)
			continue
		}
		if werr := WriteAtomic(f.Path, f.want, 0o644); werr != nil {
			return fmt.Errorf("write %s: %w; check that %s is writable", f.Path, werr, o.UnitDir)
		}
		res.Actions = append(res.Actions, "write "+f.Path)
	}
	res.Files = files
	res.Sandbox = units.SandboxMinimal
	if rerr := sd.Reload(ctx); rerr != nil {
		return rerr
	}
	if rerr := sd.ResetFailed(ctx, instance.CurrentOrDefault().Service()); rerr != nil {
		return rerr
	}
	if err := startOnce(ctx, sd); err != nil {
		if errors.As(err, &se) {
			se.Lines = o.managerLines(ctx, se.Invocation)
			se.report(say)
		}
		return fmt.Errorf("even with --sandbox=minimal: %w", err)
	}
	say("✓ %s started with --sandbox=minimal", instance.CurrentOrDefault().Service())
	return nil
}

// startOnce runs one start job and checks the unit it leaves behind: for
// Type=notify the job is done at READY=1, or failed.
func startOnce(ctx context.Context, sd Systemd) error {
	_, jobErr := sd.Start(ctx, instance.CurrentOrDefault().Service())
	st, err := sd.Unit(ctx, instance.CurrentOrDefault().Service())
	if err != nil {
		return err
	}
	if jobErr == nil && st.ActiveState == "active" {
		return nil
	}
	if st.ExecMainCode == systemd.CLDExited {
		if s := exitstatus.Explain(int(st.ExecMainStatus)); s.Sandbox {
			return &SandboxError{Status: s, Invocation: st.InvocationID}
		}
	}
	if jobErr == nil {
		jobErr = fmt.Errorf("%s is %s/%s after its start job", instance.CurrentOrDefault().Service(), st.ActiveState, st.SubState)
	}
	if d := st.ExitDescription(); d != "" && st.ExecMainCode == systemd.CLDExited {
		s := exitstatus.Explain(int(st.ExecMainStatus))
		return fmt.Errorf("%w: main process %s: %s; fix: %s", jobErr, s, s.Cause, s.Fix)
	}
	return fmt.Errorf("%w; see `hermes gateway logs --invocation current`", jobErr)
}

// managerLines reads the failed run's lines (by its invocation, so no
// earlier run's end is taken for this one's).
func (o *Options) managerLines(ctx context.Context, invocation string) []string {
	if o.ManagerLines != nil {
		return o.ManagerLines(ctx, instance.CurrentOrDefault().Service(), invocation)
	}
	if invocation == "" {
		invocation = "current"
	}
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var lines []string
	for _, e := range journal.ReadRun(jctx, journal.Query{Unit: instance.CurrentOrDefault().Service(), Invocation: invocation, Lines: 20}) {
		lines = append(lines, e.Time.Format("15:04:05.000")+" "+e.Message)
	}
	return lines
}
