package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/hermes-gateway/hermes/pkg/config"
)

// script writes a /bin/sh script and returns the argv that runs it. The
// script is run by /bin/sh rather than exec'd directly, which avoids
// ETXTBSY when another goroutine forks while the file is being written.
func script(t *testing.T, body string, args ...string) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.sh")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700))
	return append([]string{"/bin/sh", p}, args...)
}

func newTestExec(t *testing.T, argv []string, mutate func(*config.Exec)) Agent {
	t.Helper()
	cfg := config.Default().Agent
	cfg.Backend = config.BackendExec
	cfg.Exec.Command = argv
	if mutate != nil {
		mutate(&cfg.Exec)
	}
	ag, err := New(cfg, nil, nil)
	require.NoError(t, err)
	return ag
}

func TestExecReply(t *testing.T) {
	ag := newTestExec(t, script(t, `read -r line
printf '  got: %s\n\n \t\n' "$line"
`), nil)
	require.Equal(t, "exec (/bin/sh)", ag.Name())
	got, err := ag.Reply(context.Background(), Turn{Text: "hello"})
	require.NoError(t, err)
	require.Equal(t, "  got: hello", got, "trailing white space trimmed, leading kept")
}

func TestExecInput(t *testing.T) {
	t.Setenv("HERMES_TEST_PASSTHROUGH", "kept")
	t.Setenv("NOTIFY_SOCKET", "/run/user/1000/systemd/notify")
	t.Setenv("HERMES_CHAT_ID", "stale")
	dir := t.TempDir()
	ag := newTestExec(t, script(t, `cat > "$1/stdin"
env > "$1/env"
cp "$HERMES_HISTORY" "$1/history"
printf '%s' "$HERMES_HISTORY" > "$1/histpath"
stat -c %a "$HERMES_HISTORY" > "$1/mode"
echo ok
`, dir), nil)

	history := []Message{u("first"), a("answer \"quoted\"\nwith a newline")}
	got, err := ag.Reply(context.Background(), Turn{
		Platform: "telegram", ChatID: "-1001234", UserID: "42", UserName: "Ada Lovelace",
		Text: "line one\nline two", History: history,
	})
	require.NoError(t, err)
	require.Equal(t, "ok", got)

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	require.Equal(t, "line one\nline two\n", read("stdin"), "the message, then a newline")

	env := strings.Split(read("env"), "\n")
	for _, kv := range []string{
		"HERMES_PLATFORM=telegram", "HERMES_CHAT_ID=-1001234", "HERMES_USER_ID=42",
		"HERMES_USER_NAME=Ada Lovelace", "HERMES_TEST_PASSTHROUGH=kept",
	} {
		require.Contains(t, env, kv)
	}
	for _, kv := range env {
		require.False(t, strings.HasPrefix(kv, "NOTIFY_SOCKET="), "systemd's notify socket is the gateway's, not the command's")
		require.NotEqual(t, "HERMES_CHAT_ID=stale", kv)
	}

	var h []Message
	require.NoError(t, json.Unmarshal([]byte(read("history")), &h))
	require.Equal(t, history, h)
	require.Equal(t, "600\n", read("mode"))
	_, err = os.Stat(read("histpath"))
	require.ErrorIs(t, err, fs.ErrNotExist, "the history file is removed afterwards")

	// No history: an empty array, not a missing file.
	_, err = ag.Reply(context.Background(), Turn{Text: "x"})
	require.NoError(t, err)
	require.Equal(t, "[]", read("history"))
}

func TestExecFailure(t *testing.T) {
	ag := newTestExec(t, script(t, `echo "partial answer"
echo "the model file is missing" >&2
exit 3
`), nil)
	_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
	require.Error(t, err)
	require.Equal(t, "⚠️ The agent command failed (exit 3).", UserMessage(err))
	require.ErrorContains(t, err, "exited with status 3")
	require.ErrorContains(t, err, "stderr: the model file is missing")
	var e *Error
	require.ErrorAs(t, err, &e)
}

func TestExecStderrTail(t *testing.T) {
	ag := newTestExec(t, script(t, `echo BEGIN >&2
i=0
while [ $i -lt 500 ]; do echo "noise noise noise $i" >&2; i=$((i+1)); done
echo "THE END" >&2
exit 1
`), nil)
	_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
	require.ErrorContains(t, err, "THE END")
	require.NotContains(t, err.Error(), "BEGIN")
	_, tail, ok := strings.Cut(err.Error(), "stderr: ")
	require.True(t, ok)
	require.LessOrEqual(t, len(strings.TrimPrefix(tail, "…")), stderrTailBytes)
}

func TestExecSignal(t *testing.T) {
	ag := newTestExec(t, script(t, `kill -TERM $$`), nil)
	_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
	require.Equal(t, "⚠️ The agent command failed (killed by SIGTERM).", UserMessage(err))
}

func TestExecEmptyAnswer(t *testing.T) {
	ag := newTestExec(t, script(t, `printf ' \n\n'`), nil)
	_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
	require.Equal(t, "⚠️ The agent returned an empty answer.", UserMessage(err))
	require.ErrorContains(t, err, "without writing an answer")
}

func TestExecIgnoresStdin(t *testing.T) {
	// A command that does not read its (large) stdin still answers.
	ag := newTestExec(t, script(t, `echo hi`), nil)
	got, err := ag.Reply(context.Background(), Turn{Text: strings.Repeat("x", 4<<20)})
	require.NoError(t, err)
	require.Equal(t, "hi", got)
}

func TestExecOutputLimit(t *testing.T) {
	note := "\n\n[…cut: the answer was longer than 100 bytes (agent.exec.max_output_bytes)]"
	limit := func(c *config.Exec) { c.MaxOutputBytes = 100 }

	ag := newTestExec(t, script(t, `i=0
while [ $i -lt 30 ]; do printf 0123456789; i=$((i+1)); done
`), limit)
	got, err := ag.Reply(context.Background(), Turn{Text: "hi"})
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("0123456789", 10)+note, got)

	// Far more than a pipe holds: the command is drained, not blocked.
	ag = newTestExec(t, script(t, `head -c 3000000 /dev/zero | tr '\0' a`), limit)
	got, err = ag.Reply(context.Background(), Turn{Text: "hi"})
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("a", 100)+note, got)

	// The cut does not split a character: 50 "é" are 100 bytes, and the
	// 101st byte would be half of the 51st.
	ag = newTestExec(t, script(t, `i=0
while [ $i -lt 60 ]; do printf 'é'; i=$((i+1)); done
`), func(c *config.Exec) { c.MaxOutputBytes = 101 })
	got, err = ag.Reply(context.Background(), Turn{Text: "hi"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(got, strings.Repeat("é", 50)+"\n\n[…cut"), got)

	// Exactly at the limit: no note.
	ag = newTestExec(t, script(t, `printf 0123456789`), func(c *config.Exec) { c.MaxOutputBytes = 10 })
	got, err = ag.Reply(context.Background(), Turn{Text: "hi"})
	require.NoError(t, err)
	require.Equal(t, "0123456789", got)
}

// pidWaiter reads "pgid pid" lines that a script writes to a FIFO, so the
// test learns the pids while the command is still running.
type pidWaiter struct {
	path  string
	f     *os.File
	lines chan string
}

func newPIDWaiter(t *testing.T) *pidWaiter {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pids")
	require.NoError(t, unix.Mkfifo(p, 0o600))
	// O_RDWR: opening does not wait for a writer, and the script's open
	// for writing does not wait for us.
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	require.NoError(t, err)
	w := &pidWaiter{path: p, f: f, lines: make(chan string, 1)}
	t.Cleanup(func() { f.Close() })
	go func() {
		line, err := bufio.NewReader(f).ReadString('\n')
		if err == nil {
			w.lines <- strings.TrimSpace(line)
		}
	}()
	return w
}

// processes returns the process group id and the background child's pid
// that the script reported, once it has, or fails if Reply returned first.
func (w *pidWaiter) processes(t *testing.T, done <-chan error) (pgid, child int, pidfd int) {
	t.Helper()
	var line string
	select {
	case line = <-w.lines:
	case err := <-done:
		t.Fatalf("Reply returned (%v) before the script reported its pids", err)
	}
	return w.parse(t, line)
}

// reported returns what a script that has already exited reported: it
// wrote the line before exiting, but our reader may not have run yet.
// The bound is a failure bound, not a timing assertion.
func (w *pidWaiter) reported(t *testing.T) (pgid, child int, pidfd int) {
	t.Helper()
	select {
	case line := <-w.lines:
		return w.parse(t, line)
	case <-time.After(10 * time.Second):
		t.Fatal("the script never reported its pids")
		return 0, 0, 0
	}
}

func (w *pidWaiter) parse(t *testing.T, line string) (pgid, child int, pidfd int) {
	t.Helper()
	f := strings.Fields(line)
	require.Len(t, f, 2, line)
	pgid, err := strconv.Atoi(f[0])
	require.NoError(t, err)
	child, err = strconv.Atoi(f[1])
	require.NoError(t, err)
	// A pidfd follows this very process, whoever reaps it, and cannot be
	// fooled by pid reuse.
	pidfd, err = unix.PidfdOpen(child, 0)
	if errors.Is(err, unix.ESRCH) {
		return pgid, child, -1 // already exited and reaped
	}
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(pidfd) })
	return pgid, child, pidfd
}

// requireExited waits (at most 10s, a failure bound rather than a timing
// assertion) for the process behind pidfd to exit.
func requireExited(t *testing.T, pidfd int, what string) {
	if pidfd < 0 {
		return // gone before we could even look
	}
	t.Helper()
	for {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 10_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, 1, n, "%s is still running", what)
		return
	}
}

// requireGroupGone fails if any process of group pgid is still alive
// (zombies waiting for their reaper do not count).
func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		s := string(b)
		// "pid (comm) state ppid pgrp ..."; comm may hold anything.
		rest := s[strings.LastIndexByte(s, ')')+1:]
		f := strings.Fields(rest)
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		require.Contains(t, []string{"Z", "X"}, f[0], "process %s of group %d is alive: %s", e.Name(), pgid, s)
	}
}

func replyAsync(ag Agent, ctx context.Context, t Turn) (<-chan error, *string) {
	done := make(chan error, 1)
	var got string
	go func() {
		var err error
		got, err = ag.Reply(ctx, t)
		done <- err
	}()
	return done, &got
}

// waitReply waits for Reply to return; 30s is a failure bound.
func waitReply(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Reply did not return")
		return nil
	}
}

const spawnSleep = `sleep 1000 &
echo "$$ $!" > "$1"
wait
`

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	w := newPIDWaiter(t)
	ag := newTestExec(t, script(t, spawnSleep, w.path), func(c *config.Exec) { c.Timeout = config.Duration{Duration: time.Second} })
	done, _ := replyAsync(ag, context.Background(), Turn{Text: "hi"})
	pgid, _, pidfd := w.processes(t, done)

	err := waitReply(t, done)
	require.Error(t, err)
	require.Equal(t, "⚠️ The agent took too long to answer.", UserMessage(err))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "no answer within 1s (agent.exec.timeout), killed its process group")
	requireExited(t, pidfd, "the background sleep")
	requireGroupGone(t, pgid)
}

func TestExecCancelKillsProcessGroup(t *testing.T) {
	w := newPIDWaiter(t)
	ag := newTestExec(t, script(t, spawnSleep, w.path), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, _ := replyAsync(ag, ctx, Turn{Text: "hi"})
	pgid, _, pidfd := w.processes(t, done)
	cancel()

	err := waitReply(t, done)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, UserCanceled, UserMessage(err))
	requireExited(t, pidfd, "the background sleep")
	requireGroupGone(t, pgid)
}

func TestExecLeavesNothingBehind(t *testing.T) {
	// The command answers and exits, leaving a child that holds stdout:
	// the child is killed and the answer returned.
	w := newPIDWaiter(t)
	ag := newTestExec(t, script(t, `sleep 1000 &
echo "$$ $!" > "$1"
echo done
`, w.path), nil)
	done, got := replyAsync(ag, context.Background(), Turn{Text: "hi"})
	// The script answers at once: Reply may well return before its pid
	// line is read.
	require.NoError(t, waitReply(t, done))
	pgid, _, pidfd := w.reported(t)
	require.Equal(t, "done", *got)
	requireExited(t, pidfd, "the background sleep")
	requireGroupGone(t, pgid)
}

func TestExecEscapedChildCannotHang(t *testing.T) {
	// A child that left the process group (setsid) and holds stdout open
	// cannot be killed with the group; WaitDelay stops us waiting for it.
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	w := newPIDWaiter(t)
	ag := newTestExec(t, script(t, `setsid sh -c 'echo $$ > "$1"; exec sleep 1000' sh "$2" &
while [ ! -s "$2" ]; do :; done
echo "$$ $(cat "$2")" > "$1"
echo done
`, w.path, filepath.Join(t.TempDir(), "child")), nil)
	done, got := replyAsync(ag, context.Background(), Turn{Text: "hi"})
	_, child, _ := w.processes(t, done)
	t.Cleanup(func() { _ = unix.Kill(child, unix.SIGKILL) })
	require.NoError(t, waitReply(t, done))
	require.Equal(t, "done", *got)
}

func TestExecCommandChecks(t *testing.T) {
	newWith := func(argv []string, resolve func(string) string) error {
		cfg := config.Default().Agent
		cfg.Backend = config.BackendExec
		cfg.Exec.Command = argv
		_, err := New(cfg, resolve, nil)
		return err
	}
	err := newWith([]string{"hermes-no-such-agent"}, nil)
	require.ErrorContains(t, err, `agent.exec.command: "hermes-no-such-agent" is not found in $PATH`)
	require.ErrorContains(t, err, "give its absolute path")

	dir := t.TempDir()
	prog := filepath.Join(dir, "agent")
	require.NoError(t, os.WriteFile(prog, []byte("#!/bin/sh\necho hi\n"), 0o644))
	err = newWith([]string{prog}, nil)
	require.ErrorContains(t, err, "is not an executable file")
	require.ErrorContains(t, err, "chmod +x "+prog)

	// A relative path resolves against the config file's directory.
	require.NoError(t, os.Chmod(prog, 0o755))
	resolve := func(p string) string { return filepath.Join(dir, p) }
	require.NoError(t, newWith([]string{"./agent"}, resolve))
	require.Error(t, newWith([]string{"./agent"}, nil), "not relative to the working directory")
}
