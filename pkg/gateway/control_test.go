package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/router"
	"github.com/stretchr/testify/require"
)

// serveControl serves the gateway's whole control API (every endpoint Run
// adds) on a socket of its own, for tests that never reach a handler's
// work: wrong methods, unknown paths, a drain.
func serveControl(t *testing.T) (*Gateway, *control.Server, *http.Client) {
	t.Helper()
	g := &Gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil)), cfg: config.Default(), state: control.StateReady}
	srv := g.controlServer()
	path := filepath.Join(t.TempDir(), "gateway.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	return g, srv, hc
}

func do(t *testing.T, hc *http.Client, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://hermes"+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// Every endpoint, taken from the route table itself, answers a wrong method
// with 405 and the methods it takes, and the 404 of an unknown path lists
// every endpoint: an endpoint added later cannot be forgotten by either.
func TestWrongMethodsAre405AndThe404ListsEveryEndpoint(t *testing.T) {
	_, srv, hc := serveControl(t)
	routes := srv.Routes()
	require.Contains(t, routes, "GET /v1/chat/{id}")
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "1")
		wrong := http.MethodPut
		if method == wrong {
			wrong = http.MethodDelete
		}
		t.Run(route, func(t *testing.T) {
			resp, body := do(t, hc, wrong, path, "")
			require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, body)
			require.Contains(t, strings.Split(resp.Header.Get("Allow"), ", "), method)
			require.Contains(t, body, "does not take "+wrong)
		})
	}
	resp, body := do(t, hc, http.MethodGet, "/v1/nope", "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	for _, route := range routes {
		require.Contains(t, body, route, "the 404's hint lists every endpoint")
	}
}

// A new message during a drain is not taken, and the answer says so at
// once: 503 with Retry-After, for the client to send it to the next
// process (hermes chat does).
func TestAChatDuringADrainIsRefusedWithRetryAfter(t *testing.T) {
	g, _, hc := serveControl(t)
	g.router = router.New(router.Options{Log: g.log})
	g.router.Drain(context.Background(), 0)
	resp, body := do(t, hc, http.MethodPost, "/v1/chat", `{"text":"hello"}`)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Contains(t, body, "was not taken")
	require.Contains(t, body, "next process")
}

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	return string(b)
}

// section returns the README's text from the heading to the next heading of
// the same or a higher level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	require.GreaterOrEqual(t, i, 0, "README has no %q", heading)
	rest := doc[i+len(heading)+2:]
	level := strings.Repeat("#", strings.Index(heading, " "))
	for j := 0; j < len(rest); {
		k := strings.Index(rest[j:], "\n#")
		if k < 0 {
			break
		}
		line := rest[j+k+1:]
		hashes := len(line) - len(strings.TrimLeft(line, "#"))
		if hashes <= len(level) {
			return rest[:j+k]
		}
		j += k + 1
	}
	return rest
}

// The README's control API table lists exactly the endpoints the gateway
// serves.
func TestREADMEListsEveryControlEndpoint(t *testing.T) {
	_, srv, _ := serveControl(t)
	text := section(t, readme(t), "### Control API")
	var documented []string
	for _, m := range regexp.MustCompile("`((?:GET|POST|PUT|DELETE) /v1/[^`? ]*)").FindAllStringSubmatch(text, -1) {
		if !slices.Contains(documented, m[1]) {
			documented = append(documented, m[1])
		}
	}
	routes := srv.Routes()
	slices.Sort(routes)
	slices.Sort(documented)
	require.Equal(t, routes, documented, "README's control API table and the gateway's routes")
}

// The README's SIGHUP paragraph names exactly the keys a reload applies
// live and the keys that need a restart.
func TestREADMEListsTheKeysAReloadDoesNotApply(t *testing.T) {
	doc := readme(t)
	keys := func(marker string) []string {
		start, end := "<!-- "+marker+" -->", "<!-- /"+marker+" -->"
		i, j := strings.Index(doc, start), strings.Index(doc, end)
		require.True(t, i >= 0 && j > i, "README has no %s … %s", start, end)
		var out []string
		for _, m := range regexp.MustCompile("`([a-z_.]+)`").FindAllStringSubmatch(doc[i:j], -1) {
			out = append(out, m[1])
		}
		return out
	}
	want := RestartKeys()
	require.Equal(t, want, keys("restart-keys"),
		"README's SIGHUP list of keys that need a restart; in the config file's order it reads:\n%s", backticked(want))
	require.Equal(t, LiveKeys, keys("live-keys"), "README's SIGHUP list of keys applied live:\n%s", backticked(LiveKeys))
}

func backticked(keys []string) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("`" + k + "`")
	}
	return b.String()
}

func TestAReloadNamesTheKeysThatNeedARestart(t *testing.T) {
	old := config.Default()
	next := config.Default()
	next.Telegram.Admins = []int64{42}
	next.Gateway.DrainTimeout.Duration = old.Gateway.DrainTimeout.Duration / 2
	require.Empty(t, changedRestartKeys(old, next), "live keys need no restart")
	next.Agent.Backend = config.BackendExec
	next.Telegram.Webhook.Listen = "127.0.0.1:9999"
	require.Equal(t, []string{"telegram.webhook.listen", "agent.backend"}, changedRestartKeys(old, next))

	applied := applyLive(old, next)
	require.Equal(t, []int64{42}, applied.Telegram.Admins)
	require.Equal(t, next.Gateway.DrainTimeout, applied.Gateway.DrainTimeout)
	require.Equal(t, old.Agent.Backend, applied.Agent.Backend, "a key that needs a restart keeps its running value")
	require.Equal(t, old.Telegram.Webhook, applied.Telegram.Webhook)
	require.Empty(t, changedRestartKeys(old, applied))
}
