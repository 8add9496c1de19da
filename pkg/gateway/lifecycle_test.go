package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/activation"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/store"
)

// recNotifier records what the gateway tells the service manager, and
// signals READY=1 on ready.
type recNotifier struct {
	mu    sync.Mutex
	lines []string
	ready chan struct{}
	once  sync.Once
}

func newRecNotifier() *recNotifier { return &recNotifier{ready: make(chan struct{})} }

func (n *recNotifier) add(s string) error {
	n.mu.Lock()
	n.lines = append(n.lines, s)
	n.mu.Unlock()
	return nil
}
func (n *recNotifier) Ready() error {
	n.once.Do(func() { close(n.ready) })
	return n.add("READY=1")
}
func (n *recNotifier) Reloading() error { return n.add("RELOADING=1") }
func (n *recNotifier) Stopping() error  { return n.add("STOPPING=1") }
func (n *recNotifier) Watchdog() error  { return n.add("WATCHDOG=1") }
func (n *recNotifier) Status(f string, a ...any) error {
	return n.add("STATUS=" + fmt.Sprintf(f, a...))
}

// sent is what was sent, without STATUS= lines (their wording is not the
// lifecycle's).
func (n *recNotifier) sent() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, l := range n.lines {
		if !strings.HasPrefix(l, "STATUS=") {
			out = append(out, l)
		}
	}
	return out
}

type lifecycle struct {
	dir, config, control string
	notify               *recNotifier
	sigs                 chan os.Signal
	code                 chan int
}

// start runs a gateway in this process, without systemd: an empty set of
// activated sockets (it listens on its own control socket), a recording
// notifier, signals from the test.
func start(t *testing.T, dir, config string) *lifecycle {
	t.Helper()
	l := &lifecycle{dir: dir, config: filepath.Join(dir, "config.toml"), control: filepath.Join(dir, "control.sock"),
		notify: newRecNotifier(), sigs: make(chan os.Signal, 4), code: make(chan int, 1)}
	require.NoError(t, os.WriteFile(l.config, []byte(config), 0o600))
	go func() {
		l.code <- Run(context.Background(), Options{
			ConfigPath: l.config, ControlPath: l.control,
			Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			Notify: l.notify, Signals: l.sigs,
			Activation: func() (*activation.Set, error) { return &activation.Set{}, nil },
		})
	}()
	return l
}

func (l *lifecycle) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-l.notify.ready:
	case code := <-l.code:
		t.Fatalf("exited %d before READY", code)
	case <-time.After(30 * time.Second):
		t.Fatal("no READY=1 within 30 s")
	}
}

func (l *lifecycle) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-l.code:
		return code
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60 s")
		return -1
	}
}

func baseConfig(dir string) string {
	return fmt.Sprintf("[gateway]\nstate_dir = %q\ndrain_timeout = \"2s\"\n\n[telegram]\nenabled = false\n", filepath.Join(dir, "state"))
}

// The lifecycle's decisions, each as systemd sees them: what was notified
// and the exit code its Restart*= directives act on.
func TestLifecycleWithoutSystemd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		config   func(dir string) string
		prepare  func(t *testing.T, dir string) func()
		act      func(t *testing.T, l *lifecycle)
		wantCode int
		wantSent []string
	}{
		{
			name:     "SIGTERM drains and exits 0: stays stopped",
			config:   baseConfig,
			act:      func(t *testing.T, l *lifecycle) { l.sigs <- syscall.SIGTERM },
			wantCode: ExitStopped,
			wantSent: []string{"READY=1", "STOPPING=1"},
		},
		{
			name:   "SIGHUP reloads without a restart, then SIGTERM stops",
			config: baseConfig,
			act: func(t *testing.T, l *lifecycle) {
				l.sigs <- syscall.SIGHUP
				l.sigs <- syscall.SIGTERM
			},
			wantCode: ExitStopped,
			wantSent: []string{"READY=1", "RELOADING=1", "READY=1", "STOPPING=1"},
		},
		{
			name:   "a restart request drains and exits 75: systemd starts the next process",
			config: baseConfig,
			act: func(t *testing.T, l *lifecycle) {
				c := control.NewClient(l.control)
				require.NoError(t, c.Restart(context.Background(), "lifecycle test"))
			},
			wantCode: ExitRestart,
			wantSent: []string{"READY=1", "STOPPING=1"},
		},
		{
			name: "a config that cannot work exits 78 before READY: systemd does not loop",
			config: func(dir string) string {
				return baseConfig(dir) + "\n[agent]\nbackend = \"no-such-backend\"\n"
			},
			wantCode: ExitConfig,
		},
		{
			name:   "another instance holds the store: exit 1 before READY, sockets untouched",
			config: baseConfig,
			prepare: func(t *testing.T, dir string) func() {
				st, err := store.Open(filepath.Join(dir, "state", store.FileName))
				require.NoError(t, err)
				return func() { st.Close() }
			},
			wantCode: ExitFailure,
		},
		{
			name:   "a damaged store exits 78 with the advice to move it aside",
			config: baseConfig,
			prepare: func(t *testing.T, dir string) func() {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "state"), 0o700))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "state", store.FileName), []byte(strings.Repeat("not bbolt", 1000)), 0o600))
				return func() {}
			},
			wantCode: ExitConfig,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.prepare != nil {
				defer tc.prepare(t, dir)()
			}
			l := start(t, dir, tc.config(dir))
			if tc.act != nil {
				l.waitReady(t)
				st, err := control.NewClient(l.control).Status(context.Background())
				require.NoError(t, err)
				require.Equal(t, control.StateReady, st.State)
				require.False(t, st.Activated, "no socket came from systemd")
				tc.act(t, l)
			}
			require.Equal(t, tc.wantCode, l.exit(t))
			require.Equal(t, tc.wantSent, l.notify.sent())
			if tc.act == nil {
				_, err := os.Stat(l.control)
				require.True(t, os.IsNotExist(err), "a gateway that never got ready did not create its control socket")
			}
		})
	}
}

// A planned restart is reported by the next process: why, and by whom.
func TestTheNextProcessReportsThePlannedRestart(t *testing.T) {
	dir := t.TempDir()
	l := start(t, dir, baseConfig(dir))
	l.waitReady(t)
	require.NoError(t, control.NewClient(l.control).Restart(context.Background(), "lifecycle test"))
	require.Equal(t, ExitRestart, l.exit(t))

	l2 := start(t, dir, baseConfig(dir))
	l2.waitReady(t)
	st, err := control.NewClient(l2.control).Status(context.Background())
	require.NoError(t, err)
	require.NotNil(t, st.LastRestart)
	require.Contains(t, st.LastRestart.Reason, "lifecycle test")
	l2.sigs <- syscall.SIGTERM
	require.Equal(t, ExitStopped, l2.exit(t))
}
