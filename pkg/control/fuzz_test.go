package control

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzControlAPI: no request, however malformed, crashes the control API or
// gets anything but a JSON answer; and only a well-formed POST /v1/restart
// can restart anything.
func FuzzControlAPI(f *testing.F) {
	for _, seed := range []struct{ method, path, body string }{
		{"GET", "/v1/status", ""},
		{"POST", "/v1/restart", `{"reason":"x"}`},
		{"POST", "/v1/restart", `{"reason":`},
		{"DELETE", "/v1/health", ""},
		{"GET", "/../../etc/passwd", ""},
		{"POST", "/v1/restart", `{"reason":"a","extra":1}`},
	} {
		f.Add(seed.method, seed.path, seed.body)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#?%") {
			return // not a request net/http would hand to a handler
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			return
		}
		b := &fakeBackend{state: StateReady}
		s := NewServer(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
		h := recoverer(s.mux, s.log)
		req := httptest.NewRequest(method, "http://hermes"+path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		// ServeMux answers an unclean path ("/a/../b") with a redirect to
		// the clean one; everything else is JSON.
		redirect := rec.Code >= 300 && rec.Code < 400
		if ct := rec.Header().Get("Content-Type"); !redirect && ct != "application/json" {
			t.Fatalf("%s %s: %d with content type %q", method, path, rec.Code, ct)
		}
		if len(b.restarts) > 0 && !(method == http.MethodPost && path == "/v1/restart") {
			t.Fatalf("%s %s restarted the gateway", method, path)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
