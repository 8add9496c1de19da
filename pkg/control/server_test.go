package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type fakeBackend struct {
	mu       sync.Mutex
	state    string
	restarts []string
}

func (f *fakeBackend) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Status{Version: "v9.9.9", PID: os.Getpid(), State: f.state, Platforms: []Platform{}}
}

func (f *fakeBackend) RequestRestart(reason, by string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == StateDraining {
		return errors.New("already draining")
	}
	f.state = StateDraining
	f.restarts = append(f.restarts, reason+" by "+by)
	return nil
}

func serve(t *testing.T, b Backend) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	s := NewServer(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Handle("GET /v1/boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	s.Serve(l)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s, path
}

func raw(t *testing.T, path, method, url, body string) (int, string) {
	t.Helper()
	c := NewClient(path)
	req, err := http.NewRequest(method, "http://hermes"+url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := c.hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStatusHealthAndRestart(t *testing.T) {
	b := &fakeBackend{state: StateReady}
	_, path := serve(t, b)
	c := NewClient(path)
	ctx := context.Background()

	st, err := c.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, "v9.9.9", st.Version)
	require.Equal(t, StateReady, st.State)

	h, err := c.Health(ctx)
	require.NoError(t, err)
	require.True(t, h.OK)

	require.NoError(t, c.Restart(ctx, "test"))
	require.Len(t, b.restarts, 1)
	require.Contains(t, b.restarts[0], "test by control API, pid ", "the requester is named from SO_PEERCRED")

	h, err = c.Health(ctx)
	require.NoError(t, err)
	require.False(t, h.OK, "a draining gateway is not healthy")
	require.Equal(t, StateDraining, h.State)

	err = c.Restart(ctx, "again")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusConflict, apiErr.Code)
	require.Len(t, b.restarts, 1, "a second restart during a drain changes nothing")
}

func TestBadRequestsGetJSONErrorsAndNoEffect(t *testing.T) {
	b := &fakeBackend{state: StateReady}
	_, path := serve(t, b)
	for _, tc := range []struct {
		name, method, url, body string
		code                    int
		says                    string
	}{
		{"unknown path", "GET", "/v1/nope", "", 404, "no such endpoint"},
		{"unversioned", "GET", "/status", "", 404, "no such endpoint"},
		{"wrong method", "POST", "/v1/status", "", 405, "does not take POST"},
		{"malformed json", "POST", "/v1/restart", "{reason:", 400, "malformed JSON"},
		{"unknown field", "POST", "/v1/restart", `{"reason":"x","force":true}`, 400, "unknown field"},
		{"two values", "POST", "/v1/restart", `{} {}`, 400, "more than one value"},
		{"oversized", "POST", "/v1/restart", `{"reason":"` + strings.Repeat("x", maxBody) + `"}`, 413, "too large"},
		{"panicking handler", "GET", "/v1/boom", "", 500, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := raw(t, path, tc.method, tc.url, tc.body)
			require.Equal(t, tc.code, code, body)
			require.Contains(t, body, tc.says)
			require.Contains(t, body, `"error"`)
		})
	}
	require.Empty(t, b.restarts, "no bad request restarted anything")
	// And the server is still there.
	st, err := NewClient(path).Status(context.Background())
	require.NoError(t, err)
	require.Equal(t, StateReady, st.State)
}

func TestClientSaysWhatToDoWhenNothingListens(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "gone.sock"))
	_, err := c.Status(context.Background())
	require.ErrorIs(t, err, ErrNotListening)
	require.Contains(t, err.Error(), "hermes gateway start")
}

// TestMain lets the test binary act as a control client under another uid.
func TestMain(m *testing.M) {
	if path := os.Getenv("HERMES_CONTROL_CLIENT"); path != "" {
		_, err := NewClient(path).Status(context.Background())
		fmt.Println(err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A client running as another user is refused even when the socket's mode
// has been loosened by hand.
func TestAnotherUserIsRefusedEvenOnAnOpenSocket(t *testing.T) {
	require.Zero(t, os.Getuid(), "this test switches users with setpriv and needs root, as CI runs it")
	setpriv, err := exec.LookPath("setpriv")
	require.NoError(t, err, "setpriv is in util-linux")

	dir, err := os.MkdirTemp("", "hermes-control-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	b := &fakeBackend{state: StateReady}
	path := filepath.Join(dir, "gateway.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(path, 0o777))
	s := NewServer(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Serve(l)
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	// The test binary must be reachable by nobody too.
	exe := filepath.Join(dir, "client")
	data, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(exe, data, 0o755))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "HERMES_CONTROL_CLIENT="+path)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "403")
	require.Contains(t, string(out), "uid 65534 is not the gateway's owner")

	// The owner is still served.
	_, err = NewClient(path).Status(context.Background())
	require.NoError(t, err)
}
