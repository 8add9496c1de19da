package systemd

import (
	"context"
	"errors"
	"fmt"
)

// JobResult is how systemd says a job ended (the JobRemoved signal's result).
type JobResult string

// The job results systemd reports.
const (
	JobDone        JobResult = "done"       // the job succeeded
	JobFailed      JobResult = "failed"     // the unit failed to start or stop; see UnitState.Result
	JobTimeout     JobResult = "timeout"    // systemd's own timeout (TimeoutStartSec=, …) hit
	JobCanceled    JobResult = "canceled"   // a later job replaced it, or the unit was stopped meanwhile
	JobDependency  JobResult = "dependency" // a unit it requires failed (e.g. the socket)
	JobSkipped     JobResult = "skipped"    // nothing to do for this unit in its state
	JobInvalid     JobResult = "invalid"    // the job type does not apply to the unit
	JobAssert      JobResult = "assert"     // an Assert…= of the unit failed
	JobUnsupported JobResult = "unsupported"
)

// JobError is returned when a job finished with a result other than done.
type JobError struct {
	Op     string // "start", "stop", "restart"
	Unit   string
	JobID  int
	Result JobResult
	// StartLimitHit is set when a start or restart failed because the unit
	// hit its start limit: systemd refused to run it at all. The unit's
	// Result does not always say so (systemd 252 keeps the previous
	// failure's, e.g. exit-code), so this is learnt from the job: it
	// failed and the unit got no new invocation. ResetFailed, then start
	// again, if that is what the user wants.
	StartLimitHit bool
}

func (e *JobError) Error() string {
	why := ""
	switch e.Result {
	case JobFailed:
		why = "the unit failed"
	case JobTimeout:
		why = "systemd's own timeout for it passed"
	case JobCanceled:
		why = "the job was cancelled, e.g. by a newer job for the same unit"
	case JobDependency:
		why = "a unit it depends on failed"
	case JobAssert:
		why = "an Assert…= condition of the unit failed"
	default:
		why = "systemd reported " + string(e.Result)
	}
	if e.StartLimitHit {
		return fmt.Sprintf("%s of %s refused: it was started too often in a short time and hit its start limit (job result %q); "+
			"run `systemctl --user reset-failed %s` to allow it again, after checking `journalctl --user-unit=%s` for why it keeps failing",
			e.Op, e.Unit, e.Result, e.Unit, e.Unit)
	}
	return fmt.Sprintf("%s of %s did not succeed (job result %q: %s); see `systemctl --user status %s` and `journalctl --user-unit=%s`",
		e.Op, e.Unit, e.Result, why, e.Unit, e.Unit)
}

// JobPendingError is returned when the context ends while systemd is still
// working on a job. The job is not cancelled: it stays queued or running in
// systemd and may still succeed.
type JobPendingError struct {
	Op   string
	Unit string
	// JobID is systemd's id of the job; 0 when the context ended before
	// the manager answered the request (the job may not exist).
	JobID int
	Err   error // the context's error
}

func (e *JobPendingError) Error() string {
	if e.JobID == 0 {
		return fmt.Sprintf("gave up asking systemd for the %s of %s (%v); the job may or may not be queued: "+
			"run `systemctl --user status %s` to see (and `systemctl --user list-jobs` for the queue)",
			e.Op, e.Unit, e.Err, e.Unit)
	}
	return fmt.Sprintf("gave up waiting for the %s of %s (%v), but the job (id %d) is still queued or running in systemd and may yet finish; "+
		"run `systemctl --user status %s` to see where it is (and `systemctl --user list-jobs` for the queue)",
		e.Op, e.Unit, e.Err, e.JobID, e.Unit)
}

// Unwrap gives the context's error: errors.Is(err,
// context.DeadlineExceeded) holds for a deadline.
func (e *JobPendingError) Unwrap() error { return e.Err }

// ErrConnectionLost is wrapped by errors of jobs whose result could not be
// learned because the bus connection closed while waiting.
var ErrConnectionLost = errors.New("lost the connection to the systemd user manager")

type jobFunc func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

// Start starts unit and waits for the job's result, or for ctx to end (then
// it returns a *JobPendingError). A result other than done comes with a
// *JobError. For a Type=notify service, done means it said READY=1.
func (m *Manager) Start(ctx context.Context, unit string) (JobResult, error) {
	return m.job(ctx, "start", unit, m.conn.StartUnitContext)
}

// Stop stops unit and waits like Start.
func (m *Manager) Stop(ctx context.Context, unit string) (JobResult, error) {
	return m.job(ctx, "stop", unit, m.conn.StopUnitContext)
}

// Restart restarts unit with one RestartUnit job in "replace" mode (it
// starts it if it was not running) and waits like Start.
func (m *Manager) Restart(ctx context.Context, unit string) (JobResult, error) {
	return m.job(ctx, "restart", unit, m.conn.RestartUnitContext)
}

func (m *Manager) job(ctx context.Context, op, unit string, f jobFunc) (JobResult, error) {
	starts := op != "stop"
	var before string
	if starts {
		// To tell, should the job fail, whether anything was run at all.
		var err error
		if before, err = m.invocationID(ctx, unit); err != nil {
			return "", fmt.Errorf("%s %s: %w", op, unit, err)
		}
	}
	// Buffered: go-systemd delivers the result while holding its job-table
	// lock, so an unread unbuffered channel would block every later job
	// on this connection.
	ch := make(chan string, 1)
	id, err := f(ctx, unit, "replace", ch)
	if err != nil {
		if ctx.Err() != nil {
			// The call itself ran out of time: the manager may or may not
			// have queued the job.
			return "", &JobPendingError{Op: op, Unit: unit, Err: ctx.Err()}
		}
		return "", fmt.Errorf("%s %s: %w", op, unit, err)
	}
	// Watch the connection too: a manager that goes away never sends the
	// result.
	select {
	case r := <-ch:
		res := JobResult(r)
		if res != JobDone {
			je := &JobError{Op: op, Unit: unit, JobID: id, Result: res}
			if starts && res == JobFailed {
				if s, err := m.Unit(ctx, unit); err == nil {
					je.StartLimitHit = StartLimitHit(s) || s.InvocationID == before
				}
			}
			return res, je
		}
		return res, nil
	case <-ctx.Done():
		return "", &JobPendingError{Op: op, Unit: unit, JobID: id, Err: ctx.Err()}
	case <-m.lost:
		return "", fmt.Errorf("%s of %s (job %d): %w; the job may still be running, see `systemctl --user status %s`",
			op, unit, id, ErrConnectionLost, unit)
	}
}

// ResetFailed clears unit's failed state and its start-limit counter
// (`systemctl --user reset-failed UNIT`).
func (m *Manager) ResetFailed(ctx context.Context, unit string) error {
	if err := m.conn.ResetFailedUnitContext(ctx, unit); err != nil {
		return fmt.Errorf("reset-failed %s: %w", unit, err)
	}
	return nil
}

// Reload makes the manager re-read all unit files (`systemctl --user
// daemon-reload`). It returns once the reload is complete.
func (m *Manager) Reload(ctx context.Context) error {
	if err := m.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("daemon-reload: %w", err)
	}
	return nil
}

// Enable enables unit files, given as names or absolute paths, following
// their [Install] sections, then reloads the manager so that it sees the
// change (like `systemctl --user enable`). It does not replace conflicting
// symlinks. A set of files none of which has install information is an
// error: enabling them would do nothing.
func (m *Manager) Enable(ctx context.Context, files ...string) error {
	hasInstall, _, err := m.conn.EnableUnitFilesContext(ctx, files, false, false)
	if err != nil {
		return fmt.Errorf("enable %v: %w", files, err)
	}
	if !hasInstall {
		return fmt.Errorf("enable %v: no [Install] section in them, nothing to enable", files)
	}
	return m.Reload(ctx)
}

// Disable removes the symlinks Enable made, then reloads the manager (like
// `systemctl --user disable`).
func (m *Manager) Disable(ctx context.Context, names ...string) error {
	if _, err := m.conn.DisableUnitFilesContext(ctx, names, false); err != nil {
		return fmt.Errorf("disable %v: %w", names, err)
	}
	return m.Reload(ctx)
}

func (m *Manager) invocationID(ctx context.Context, unit string) (string, error) {
	p, err := m.conn.GetUnitPropertyContext(ctx, unit, "InvocationID")
	if err != nil {
		return "", err
	}
	return id128(p.Value.Value()), nil
}

// Enqueue queues a start job for unit and returns without waiting for it:
// for a unit whose work outlives the caller, such as hermes-update.service,
// which restarts the very gateway that starts it.
func (m *Manager) Enqueue(ctx context.Context, unit string) (int, error) {
	id, err := m.conn.StartUnitContext(ctx, unit, "replace", nil)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", unit, err)
	}
	return id, nil
}
