package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hermes-gateway/hermes/pkg/shell"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/hermes-gateway/hermes/pkg/config"
)

const (
	// stderrTailBytes is how much of the command's stderr (its end) the
	// journal gets.
	stderrTailBytes = 2 << 10
	// execWaitDelay bounds how long Reply waits for the command's stdout
	// and stderr to close once the command has exited or been killed:
	// something that escaped the process group (setsid) may hold them open.
	execWaitDelay = 2 * time.Second
	// defaultMaxOutput serves when a Config built in code leaves it zero.
	defaultMaxOutput = 64 << 10
)

// execAgent is the exec backend: agent.exec.command, run once per message
// (no shell: the first element is the program, the others its arguments).
//
// The program: a name without a slash is looked up in $PATH (the gateway's:
// under systemd, not your shell's); a relative path with a slash resolves
// against the configuration file's directory. New checks that it exists.
//
// Per message, the command gets:
//   - on stdin, with agent.exec.input = "text" (the default), the person's
//     message followed by a newline (if it does not end in one), then
//     EOF; a file the person sent (a photo, a document, a voice note, an
//     audio file) is a line after it: "[The person sent a voice note
//     (voice.oga, audio/ogg, 12 KB), saved at /path]". With
//     agent.exec.input = "json", one JSON object instead (Envelope): the
//     text (the caption of files), the platform, chat and user, and the
//     files as {"path","kind","mime","name","size"} objects. Files live
//     under the state directory's files/ while the turn runs and are
//     removed when it ends;
//   - the gateway's environment (less NOTIFY_SOCKET, LISTEN_* and
//     WATCHDOG_*, which systemd meant for the gateway itself) plus
//     HERMES_PLATFORM, HERMES_CHAT_ID, HERMES_USER_ID, HERMES_USER_NAME and
//     HERMES_HISTORY, the path of a private (0600) temporary file holding
//     the chat's earlier turns as a JSON array of {"role","content"}
//     objects, oldest first ("[]" when there are none). The file is always
//     used, never an environment variable, because history_chars may
//     exceed what the kernel allows in one variable (128 KiB); it is
//     removed when the command has ended.
//
// Its stdout, trailing white space removed, is the reply. The reply may
// come in parts: each line the command writes and flushes (newline
// included) is shown in the chat as soon as it arrives (Stream), the
// message growing line by line; a last line without a newline arrives
// with the end. A command that prints its whole answer at the end is
// shown whole. Output beyond
// agent.exec.max_output_bytes is read and discarded, and the reply is cut
// there (at a character boundary) with a note saying so: an agent that
// says too much still answers. A command that writes forever is ended by
// the timeout.
//
// The command runs in its own process group. When agent.exec.timeout runs
// out (or ctx ends) the whole group is killed with SIGKILL, so a script's
// children die with it; whatever is left in the group when the command
// exits is killed too, so no turn leaves processes behind (a command that
// wants a daemon must detach it with setsid).
type execAgent struct {
	name    string // agent.exec.command[0] as configured
	path    string // the program found
	args    []string
	timeout time.Duration
	maxOut  int64
	json    bool // agent.exec.output = "json": see files.go
	jsonIn  bool // agent.exec.input = "json": see Envelope
	log     *slog.Logger
}

func newExec(cfg config.Exec, resolve func(string) string, log *slog.Logger) (*execAgent, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New(`agent.exec.command: required; set agent.exec.command = ["/usr/local/bin/my-agent"] (argv: the program and its arguments)`)
	}
	name := cfg.Command[0]
	prog := name
	if strings.Contains(prog, "/") {
		prog = resolve(prog)
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		if strings.Contains(prog, "/") {
			return nil, fmt.Errorf("agent.exec.command: %s is not an executable file (%v); fix the path or run `chmod +x %s`", prog, unwrapExecError(err), shell.Quote(prog))
		}
		return nil, fmt.Errorf("agent.exec.command: %q is not found in $PATH (%s); give its absolute path (the gateway, run by systemd, does not see your shell's PATH)", name, os.Getenv("PATH"))
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	x := &execAgent{
		name:    name,
		path:    path,
		args:    append([]string(nil), cfg.Command[1:]...),
		timeout: cfg.Timeout.Duration,
		maxOut:  cfg.MaxOutputBytes,
		json:    cfg.Output == config.ExecOutputJSON,
		jsonIn:  cfg.Input == config.ExecInputJSON,
		log:     log.With("agent", "exec"),
	}
	if x.timeout <= 0 {
		x.timeout = defaultTimeout
	}
	if x.maxOut <= 0 {
		x.maxOut = defaultMaxOutput
	}
	return x, nil
}

func unwrapExecError(err error) error {
	var e *exec.Error
	if errors.As(err, &e) {
		return e.Err
	}
	return err
}

func (x *execAgent) Name() string { return "exec (" + x.path + ")" }

// Reply runs the command for t; see execAgent.
func (x *execAgent) Reply(ctx context.Context, t Turn) (string, error) {
	if x.json {
		a, err := x.ReplyFiles(ctx, t)
		return a.textOnly(), err
	}
	return x.run(ctx, t, nil)
}

// Stream runs the command for t like Reply, giving part each line of its
// stdout (the newline included) as soon as the command has written it: an
// agent that flushes its answer line by line is shown growing in the chat.
// Only lines within agent.exec.max_output_bytes are given; a last line
// without a newline is in the returned answer only.
func (x *execAgent) Stream(ctx context.Context, t Turn, part func(string)) (string, error) {
	if x.json {
		// One JSON document: nothing to show before it is whole.
		return x.Reply(ctx, t)
	}
	return x.run(ctx, t, part)
}

func (x *execAgent) run(ctx context.Context, t Turn, part func(string)) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", ctxError("exec", err)
	}
	histPath, err := writeHistory(t.History)
	if err != nil {
		return "", &Error{User: UserGeneric, Err: fmt.Errorf("exec: %w", err)}
	}
	defer os.Remove(histPath)

	rctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, x.path, x.args...)
	cmd.Args[0] = x.name
	cmd.Env = append(childEnv(),
		"HERMES_PLATFORM="+t.Platform,
		"HERMES_CHAT_ID="+t.ChatID,
		"HERMES_USER_ID="+t.UserID,
		"HERMES_USER_NAME="+t.UserName,
		"HERMES_HISTORY="+histPath,
	)
	in := withNotes(t.Text, t.Files, true)
	if !strings.HasSuffix(in, "\n") {
		in += "\n"
	}
	if x.jsonIn {
		b, err := envelope(t)
		if err != nil {
			return "", &Error{User: UserGeneric, Err: fmt.Errorf("exec: encode the input envelope: %w", err)}
		}
		in = string(b)
	}
	cmd.Stdin = strings.NewReader(in)
	stdout := &limitedBuffer{max: x.maxOut}
	stderr := &tailBuffer{max: stderrTailBytes}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if part != nil {
		cmd.Stdout = &lineWriter{buf: stdout, part: part}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = execWaitDelay

	// The process group is killed only while its leader is not yet
	// reaped: until then its pid, which is the group's id, cannot be
	// reused, so the signal cannot reach an unrelated group.
	var mu sync.Mutex
	reaped := false
	cmd.Cancel = func() error {
		mu.Lock()
		defer mu.Unlock()
		if reaped {
			return os.ErrProcessDone
		}
		return killGroup(cmd.Process.Pid)
	}

	if err := cmd.Start(); err != nil {
		return "", &Error{User: "⚠️ The agent command could not be started; the gateway's journal has the details.",
			Err: fmt.Errorf("exec: start %s: %w; check agent.exec.command", x.path, err)}
	}
	pid := cmd.Process.Pid
	waitExited(pid)
	mu.Lock()
	_ = killGroup(pid) // whatever the command left behind
	reaped = true
	mu.Unlock()
	werr := cmd.Wait()

	state := cmd.ProcessState
	if state != nil && state.Success() {
		if werr != nil {
			// The command answered, then something kept its output
			// open past WaitDelay, or ctx ended just as it exited.
			x.log.Warn("agent: command exited 0 but", "err", werr)
		}
		return x.answer(stdout)
	}
	tailNote := "stderr: " + stderr.String()
	switch {
	case ctx.Err() != nil:
		e := ctxError("exec", ctx.Err())
		e.Err = fmt.Errorf("exec: %s: killed its process group: %w; %s", x.path, ctx.Err(), tailNote)
		return "", e
	case errors.Is(rctx.Err(), context.DeadlineExceeded):
		return "", &Error{User: UserTimeout,
			Err: fmt.Errorf("exec: %s: no answer within %s (agent.exec.timeout), killed its process group: %w; %s", x.path, x.timeout, context.DeadlineExceeded, tailNote)}
	case state == nil:
		return "", &Error{User: UserGeneric, Err: fmt.Errorf("exec: %s: %w; %s", x.path, werr, tailNote)}
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig := unix.SignalName(ws.Signal())
		if sig == "" {
			sig = "signal " + strconv.Itoa(int(ws.Signal()))
		}
		return "", &Error{User: fmt.Sprintf("⚠️ The agent command failed (killed by %s).", sig),
			Err: fmt.Errorf("exec: %s was killed by %s; %s", x.path, sig, tailNote)}
	}
	code := state.ExitCode()
	return "", &Error{User: fmt.Sprintf("⚠️ The agent command failed (exit %d).", code),
		Err: fmt.Errorf("exec: %s exited with status %d; %s", x.path, code, tailNote)}
}

// answer turns the command's stdout into the reply.
func (x *execAgent) answer(out *limitedBuffer) (string, error) {
	b := out.buf
	if out.truncated {
		// Drop a character cut in half at the limit.
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	text := strings.TrimRightFunc(strings.ToValidUTF8(string(b), "\uFFFD"), unicode.IsSpace)
	if text == "" {
		return "", &Error{User: UserEmpty, Err: fmt.Errorf("exec: %s exited 0 without writing an answer to stdout", x.path)}
	}
	if out.truncated {
		x.log.Warn("agent: answer cut at agent.exec.max_output_bytes", "max_output_bytes", x.maxOut, "written", out.written)
		text += fmt.Sprintf("\n\n[…cut: the answer was longer than %d bytes (agent.exec.max_output_bytes)]", x.maxOut)
	}
	return text, nil
}

// gatewayOnlyEnv are the variables systemd addresses to the gateway process
// itself (sd_notify, socket activation, watchdog); the command must not
// act on them.
var gatewayOnlyEnv = []string{"NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_PID", "WATCHDOG_USEC"}

// childEnv returns the gateway's environment without gatewayOnlyEnv.
func childEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(gatewayOnlyEnv, name) {
			out = append(out, kv)
		}
	}
	return out
}

// writeHistory writes h to a new private temporary file and returns its
// path.
func writeHistory(h []Message) (string, error) {
	if h == nil {
		h = []Message{}
	}
	data, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("encode history: %w", err)
	}
	f, err := os.CreateTemp("", "hermes-history-*.json") // mode 0600
	if err != nil {
		return "", fmt.Errorf("history file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("history file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("history file: %w", err)
	}
	return f.Name(), nil
}

// killGroup sends SIGKILL to process group pgid.
func killGroup(pgid int) error {
	if pgid <= 1 {
		// -0 would be the gateway's own group, -1 every process it may
		// signal: never.
		return fmt.Errorf("exec: refusing to kill process group %d", pgid)
	}
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// waitExited blocks until process pid has exited, without reaping it
// (WNOWAIT): it stays a zombie, holding its pid, until cmd.Wait reaps it.
func waitExited(pid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// limitedBuffer keeps the first max bytes written to it and counts, then
// discards, the rest (so the writer never blocks on a full pipe).
type limitedBuffer struct {
	max       int64
	buf       []byte
	written   int64
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.written += int64(len(p))
	if room := b.max - int64(len(b.buf)); room > 0 {
		if int64(len(p)) > room {
			b.buf = append(b.buf, p[:room]...)
			b.truncated = true
		} else {
			b.buf = append(b.buf, p...)
		}
	} else if len(p) > 0 {
		b.truncated = true
	}
	return len(p), nil
}

// lineWriter writes to buf and gives part each complete line that buf
// kept (exec.Cmd calls Write from one goroutine, as the bytes arrive).
type lineWriter struct {
	buf     *limitedBuffer
	part    func(string)
	emitted int // bytes of buf.buf already given to part
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	for {
		kept := w.buf.buf[w.emitted:]
		i := bytes.IndexByte(kept, '\n')
		if i < 0 {
			return n, err
		}
		w.part(strings.ToValidUTF8(string(kept[:i+1]), "\uFFFD"))
		w.emitted += i + 1
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
	cut bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.cut = true
	}
	return len(p), nil
}

// String returns the tail as valid UTF-8, "…" marking a cut, or "(empty)".
func (b *tailBuffer) String() string {
	s := b.buf
	if b.cut {
		for len(s) > 0 && !utf8.RuneStart(s[0]) {
			s = s[1:]
		}
	}
	out := strings.TrimSpace(strings.ToValidUTF8(string(s), "\uFFFD"))
	switch {
	case out == "":
		return "(empty)"
	case b.cut:
		return "…" + out
	}
	return out
}
