//go:build e2e

// Package e2e runs the real binaries under a real `systemd --user` with real
// journald. Run it inside the sandbox: `make e2e` (scripts/sandbox).
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/require"
)

// bin holds the binaries built once for the whole run.
var bin string

func TestMain(m *testing.M) {
	if os.Getenv("HERMES_SANDBOX") == "" {
		fmt.Fprintln(os.Stderr, "e2e: these tests drive a real systemd --user; run them inside the sandbox: `make e2e` (scripts/sandbox -- go test -tags e2e ./e2e/)")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "hermes-e2e-bin-")
	if err != nil {
		panic(err)
	}
	bin = dir
	root, _ := filepath.Abs("..")
	for _, b := range []struct{ name, pkg, version string }{
		{"hermes-gateway", "./cmd/gateway", "v0.0.0-e2e"},
		{"hermes-gateway-next", "./cmd/gateway", "v0.0.1-e2e-next"},
		{"hermes", "./cmd/hermes", "v0.0.0-e2e"},
		{"hermes-broken", "./cmd/hermes", "v9.9.9-broken"},
	} {
		name := b.name
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "-ldflags", "-X github.com/hermes-gateway/hermes/pkg/version.Version="+b.version, b.pkg)
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: build", name, "failed:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	svc  = units.Service
	sock = units.Socket
)

// env is one test's view of the sandbox user manager, with the gateway's
// units installed fresh and its state and config wiped.
type env struct {
	t       *testing.T
	cursor  string
	sockets string
}

func paths() (unitDir, cfgDir, stateDir string) {
	cfg := os.Getenv("XDG_CONFIG_HOME")
	return filepath.Join(cfg, "systemd", "user"), filepath.Join(cfg, "hermes"), filepath.Join(os.Getenv("XDG_STATE_HOME"), "hermes")
}

// newEnv installs the rendered units (by hand: `hermes install-unit` has its
// own tests) and starts the socket, leaving the service stopped.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t}
	// A previous test's units, if any.
	e.systemctl("stop", svc, sock, units.FailedService)
	e.systemctl("reset-failed", svc, sock, units.FailedService)
	unitDir, cfgDir, stateDir := paths()
	require.NoError(t, os.RemoveAll(cfgDir))
	require.NoError(t, os.RemoveAll(stateDir))
	// The hardened unit may write only its state directory, which must
	// exist before it starts (install-unit creates it).
	require.NoError(t, os.MkdirAll(stateDir, 0o700))
	require.NoError(t, os.MkdirAll(unitDir, 0o755))
	all, err := units.RenderAll(units.Params{Gateway: filepath.Join(bin, "hermes-gateway"), Hermes: filepath.Join(bin, "hermes")})
	require.NoError(t, err)
	for name, body := range all {
		require.NoError(t, os.WriteFile(filepath.Join(unitDir, name), body, 0o644))
	}
	e.systemctlOK("daemon-reload")
	e.cursor = journalCursor(t)
	e.systemctlOK("start", sock)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("journal of this test:\n%s", e.journal(""))
		}
		e.systemctl("stop", svc, sock)
		e.systemctl("reset-failed", svc, sock, units.FailedService)
	})
	return e
}

// installWebhookSocket renders the webhook socket for listen, and starts it.
func (e *env) installWebhookSocket(listen string) {
	e.t.Helper()
	unitDir, _, _ := paths()
	body, err := units.Render(units.WebhookSocket, units.Params{Gateway: filepath.Join(bin, "hermes-gateway"), WebhookListen: listen})
	require.NoError(e.t, err)
	require.NoError(e.t, os.WriteFile(filepath.Join(unitDir, units.WebhookSocket), body, 0o644))
	e.systemctlOK("daemon-reload")
	e.systemctlOK("start", units.WebhookSocket)
	e.t.Cleanup(func() { e.systemctl("stop", units.WebhookSocket) })
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func (e *env) systemctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", append([]string{"--user"}, args...)...).CombinedOutput()
	return string(out), err
}

func (e *env) systemctlOK(args ...string) string {
	e.t.Helper()
	out, err := e.systemctl(args...)
	require.NoError(e.t, err, "systemctl --user %s: %s", strings.Join(args, " "), out)
	return out
}

// prop reads one unit property through systemctl show.
func (e *env) prop(unit, name string) string {
	e.t.Helper()
	return strings.TrimSpace(e.systemctlOK("show", "--value", "-p", name, unit))
}

func (e *env) mainPID() int {
	e.t.Helper()
	pid, err := strconv.Atoi(e.prop(svc, "MainPID"))
	require.NoError(e.t, err)
	return pid
}

// sigkill kills the gateway process pid, and nothing else: a MainPID of 0
// (no process at that moment) must never become kill(0), which is this
// test's whole process group, and the runner that started it.
func sigkill(t *testing.T, pid int) {
	t.Helper()
	require.Greater(t, pid, 1, "no gateway process to kill")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
}

func (e *env) client() *control.Client { return control.NewClient(control.DefaultSocketPath()) }

func (e *env) status() *control.Status {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := e.client().Status(ctx)
	require.NoError(e.t, err)
	return st
}

// writeConfig writes the gateway's config file.
func (e *env) writeConfig(body string) string {
	e.t.Helper()
	_, cfgDir, _ := paths()
	require.NoError(e.t, os.MkdirAll(cfgDir, 0o700))
	p := filepath.Join(cfgDir, "config.toml")
	require.NoError(e.t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func (e *env) configPath() string {
	_, cfgDir, _ := paths()
	return filepath.Join(cfgDir, "config.toml")
}

func mustCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func journalCursor(t *testing.T) string {
	out, err := exec.Command("journalctl", "-n", "0", "--show-cursor", "--no-pager").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, line := range strings.Split(string(out), "\n") {
		if c, ok := strings.CutPrefix(line, "-- cursor: "); ok {
			return strings.TrimSpace(c)
		}
	}
	return ""
}

// journal returns the service's journal lines since the test began, as
// "SYSLOG_IDENTIFIER: MESSAGE", optionally with extra journalctl matches.
func (e *env) journal(match string) string {
	args := []string{"--user-unit=" + svc, "--no-pager", "-o", "with-unit"}
	if e.cursor != "" {
		args = append(args, "--after-cursor="+e.cursor)
	}
	if match != "" {
		args = append(args, match)
	}
	out, _ := exec.Command("journalctl", args...).CombinedOutput()
	return string(out)
}

// waitJournal waits until the journal has a line containing want. journald
// writes asynchronously and has no completion signal to wait on, so this
// polls.
func (e *env) waitJournal(want string) string {
	e.t.Helper()
	var got string
	require.Eventually(e.t, func() bool {
		got = e.journal("")
		return strings.Contains(got, want)
	}, 30*time.Second, 50*time.Millisecond, "journal never said %q", want)
	return got
}

// countLines counts journal lines containing s.
func countLines(journal, s string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(journal))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	return n
}
