package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Timeouts of the subprocesses (each also bounded by the caller's context).
var (
	fetchTimeout = 2 * time.Minute
	gitTimeout   = 30 * time.Second
	buildTimeout = 10 * time.Minute
	probeTimeout = 30 * time.Second // running a new binary to check it
)

// CommandError is a subprocess that failed: the command line, how it ended,
// and the last lines of its output.
type CommandError struct {
	Cmd    string
	Err    error
	Output string
}

func (e *CommandError) Error() string {
	s := fmt.Sprintf("`%s`: %v", e.Cmd, e.Err)
	if e.Output != "" {
		s += ":\n" + indent(e.Output)
	}
	return s
}

func (e *CommandError) Unwrap() error { return e.Err }

// ExitCode is the command's exit status, -1 if it did not exit by itself.
func (e *CommandError) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// run runs name with args in dir, bounded by timeout, and returns its
// stdout. extraEnv is added to this process's environment.
func run(ctx context.Context, timeout time.Duration, dir string, extraEnv []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A binary just written (staged, copied) may for a moment be "busy":
	// a child forked meanwhile by another goroutine holds the writer's fd
	// until it execs (golang.org/issue/22315). Try again shortly, as
	// cmd/go does.
	for attempt := 1; ; attempt++ {
		out, err := run1(ctx, timeout, dir, extraEnv, name, args...)
		if !errors.Is(err, syscall.ETXTBSY) || attempt == 5 || ctx.Err() != nil {
			return out, err
		}
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
	}
}

func run1(ctx context.Context, timeout time.Duration, dir string, extraEnv []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if len(extraEnv) > 0 {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	cmd.Stdin = nil
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Children that keep the pipes open (a daemon started by a build
	// script) cannot hold Wait past the timeout.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return stdout.String(), nil
	}
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	} else if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	out := stderr.String()
	if strings.TrimSpace(out) == "" {
		out = stdout.String()
	}
	return stdout.String(), &CommandError{Cmd: cmdline(name, args), Err: err, Output: tail(out, 20)}
}

func cmdline(name string, args []string) string {
	parts := append([]string{name}, args...)
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, " \t\"'") {
			parts[i] = fmt.Sprintf("%q", p)
		}
	}
	return strings.Join(parts, " ")
}

// tail is the last n non-empty lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var keep []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = append([]string{fmt.Sprintf("… (%d lines before)", len(keep)-n)}, keep[len(keep)-n:]...)
	}
	return strings.Join(keep, "\n")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
