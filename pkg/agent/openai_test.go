package agent

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/agent/openaifake"
	"github.com/hermes-gateway/hermes/pkg/config"
)

// fakeClock records the waits instead of sleeping; Now advances by them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

const testKey = "sk-test-Zq8x1F2c3V4b5N6m7K8j9H0g"

// writeKey writes key to a file of the given mode and returns its path.
func writeKey(t *testing.T, key string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "openai.key")
	require.NoError(t, os.WriteFile(p, []byte(key), 0o600))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

type openAIOpts struct {
	keyFile string
	system  string
	retries int
	timeout time.Duration
	log     *slog.Logger
}

// newTestOpenAI returns an openai backend talking to s, with a fake clock.
func newTestOpenAI(t *testing.T, s *openaifake.Server, o openAIOpts) (*openAI, *fakeClock) {
	t.Helper()
	cfg := config.Default().Agent
	cfg.Backend = config.BackendOpenAI
	cfg.OpenAI.BaseURL = s.URL()
	cfg.OpenAI.Model = "test-model"
	cfg.OpenAI.SystemPrompt = o.system
	cfg.OpenAI.APIKeyFile = o.keyFile
	cfg.OpenAI.MaxRetries = o.retries
	if o.timeout > 0 {
		cfg.OpenAI.Timeout = config.Duration{Duration: o.timeout}
	}
	ag, err := New(cfg, nil, o.log)
	require.NoError(t, err)
	oa := ag.(*openAI)
	clk := newFakeClock()
	oa.clock = clk
	return oa, clk
}

func TestOpenAIRequest(t *testing.T) {
	s := openaifake.New(t)
	ag, _ := newTestOpenAI(t, s, openAIOpts{keyFile: writeKey(t, "  "+testKey+"\n", 0o600), system: "Be brief."})
	require.Equal(t, "openai (test-model at "+s.URL()+")", ag.Name())

	// The caller trims the history with Trim before Reply.
	full := []Message{u("one"), a("r1"), u("two"), a("r2"), u("three"), a("r3")}
	got, err := ag.Reply(context.Background(), Turn{Platform: "telegram", ChatID: "7", UserID: "7", Text: "four", History: Trim(full, 2, 1000)})
	require.NoError(t, err)
	require.Equal(t, "reply: four", got)

	reqs := s.Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, openaifake.Path, r.Path)
	require.Equal(t, "Bearer "+testKey, r.Authorization)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, "test-model", r.Body.Model)
	require.Equal(t, []openaifake.Message{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "two"}, {Role: "assistant", Content: "r2"},
		{Role: "user", Content: "three"}, {Role: "assistant", Content: "r3"},
		{Role: "user", Content: "four"},
	}, r.Body.Messages)
}

func TestOpenAIWithoutKeyOrSystemPrompt(t *testing.T) {
	s := openaifake.New(t)
	ag, _ := newTestOpenAI(t, s, openAIOpts{})
	got, err := ag.Reply(context.Background(), Turn{Text: "hi"})
	require.NoError(t, err)
	require.Equal(t, "reply: hi", got)
	r := s.Requests()[0]
	require.Empty(t, r.Header.Values("Authorization"))
	require.Equal(t, []openaifake.Message{{Role: "user", Content: "hi"}}, r.Body.Messages)
}

func TestChatURL(t *testing.T) {
	for base, want := range map[string]string{
		"http://127.0.0.1:8080":                          "http://127.0.0.1:8080/v1/chat/completions",
		"http://127.0.0.1:8080/":                         "http://127.0.0.1:8080/v1/chat/completions",
		"https://api.openai.com/v1":                      "https://api.openai.com/v1/chat/completions",
		"https://api.openai.com/v1/":                     "https://api.openai.com/v1/chat/completions",
		"https://openrouter.ai/api/v1":                   "https://openrouter.ai/api/v1/chat/completions",
		"https://g.example/v1beta/openai/":               "https://g.example/v1beta/openai/chat/completions",
		"https://x.example/v1/chat/completions":          "https://x.example/v1/chat/completions",
		"https://x.example/openai/v1?api-version=2024-1": "https://x.example/openai/v1/chat/completions?api-version=2024-1",
		" http://localhost:11434/v1 ":                    "http://localhost:11434/v1/chat/completions",
	} {
		got, _, err := chatURL(base)
		require.NoError(t, err, base)
		require.Equal(t, want, got, base)
	}
	for base, msg := range map[string]string{
		"":                         "agent.openai.base_url: required",
		"ftp://example.com/v1":     "is not an http:// or https:// URL",
		"api.openai.com/v1":        "is not an http:// or https:// URL",
		"http://user:pw@host/v1":   "holds credentials",
		"http://[::1/v1":           "is not an http:// or https:// URL",
		"https:///v1/no-host-here": "is not an http:// or https:// URL",
	} {
		_, _, err := chatURL(base)
		require.ErrorContains(t, err, msg, base)
		require.NotContains(t, err.Error(), "pw@", base)
	}
}

func TestOpenAIBaseURLWithAndWithoutV1(t *testing.T) {
	s := openaifake.New(t)
	for _, base := range []string{s.URL(), s.URL() + "/", strings.TrimSuffix(s.URL(), "/v1")} {
		cfg := config.Default().Agent
		cfg.Backend = config.BackendOpenAI
		cfg.OpenAI.BaseURL = base
		cfg.OpenAI.Model = "m"
		ag, err := New(cfg, nil, nil)
		require.NoError(t, err)
		got, err := ag.Reply(context.Background(), Turn{Text: base})
		require.NoError(t, err, base)
		require.Equal(t, "reply: "+base, got)
	}
	for _, r := range s.Requests() {
		require.Equal(t, openaifake.Path, r.Path)
	}
}

func TestOpenAIRetryAfter(t *testing.T) {
	t.Run("seconds", func(t *testing.T) {
		s := openaifake.New(t)
		ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 3})
		s.RateLimit(1, "7")
		got, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.NoError(t, err)
		require.Equal(t, "reply: hi", got)
		require.Len(t, s.Requests(), 2)
		require.Equal(t, []time.Duration{7 * time.Second}, clk.Sleeps())
	})
	t.Run("HTTP date", func(t *testing.T) {
		s := openaifake.New(t)
		ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 3})
		s.RateLimit(1, clk.Now().Add(5*time.Second).UTC().Format(http.TimeFormat))
		_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.NoError(t, err)
		require.Len(t, s.Requests(), 2)
		require.Equal(t, []time.Duration{5 * time.Second}, clk.Sleeps())
	})
	t.Run("retry-after-ms wins", func(t *testing.T) {
		s := openaifake.New(t)
		ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 1})
		s.Fail(openaifake.Fault{Status: 429, RetryAfter: "30", Header: http.Header{"Retry-After-Ms": {"250"}}})
		_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.NoError(t, err)
		require.Equal(t, []time.Duration{250 * time.Millisecond}, clk.Sleeps())
	})
	t.Run("real clock, 1s", func(t *testing.T) {
		// The production clock really waits and is cancellable.
		s := openaifake.New(t)
		ag, _ := newTestOpenAI(t, s, openAIOpts{retries: 1})
		ag.clock = realClock{}
		s.RateLimit(1, "1")
		got, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.NoError(t, err)
		require.Equal(t, "reply: hi", got)
		require.Len(t, s.Requests(), 2)
	})
	t.Run("too long a wait is not waited for", func(t *testing.T) {
		s := openaifake.New(t)
		ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 3})
		s.RateLimit(1, "3600")
		_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.Error(t, err)
		require.Equal(t, UserRateLimit, UserMessage(err))
		require.ErrorContains(t, err, "the server asks to wait 1h0m0s")
		require.Len(t, s.Requests(), 1)
		require.Empty(t, clk.Sleeps())
	})
	t.Run("a wait beyond the deadline is not started", func(t *testing.T) {
		s := openaifake.New(t)
		ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 3})
		s.RateLimit(1, "30")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := ag.Reply(ctx, Turn{Text: "hi"})
		require.Equal(t, UserRateLimit, UserMessage(err))
		require.ErrorContains(t, err, "would outlast the deadline")
		require.Len(t, s.Requests(), 1)
		require.Empty(t, clk.Sleeps())
	})
	t.Run("retries exhausted", func(t *testing.T) {
		s := openaifake.New(t)
		ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 2})
		s.RateLimit(5, "")
		_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.Equal(t, "⚠️ The agent is rate-limited; try again in a minute.", UserMessage(err))
		require.ErrorContains(t, err, "HTTP 429 Too Many Requests")
		require.ErrorContains(t, err, "rate_limit_exceeded")
		require.ErrorContains(t, err, "after 3 attempts")
		require.Len(t, s.Requests(), 3)
		require.Len(t, clk.Sleeps(), 2)
	})
	t.Run("out of quota is not retried", func(t *testing.T) {
		s := openaifake.New(t)
		ag, _ := newTestOpenAI(t, s, openAIOpts{retries: 3})
		s.Fail(openaifake.Fault{Status: 429, Body: openaifake.ErrorBody("You exceeded your current quota", "insufficient_quota", "insufficient_quota")})
		_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.Contains(t, UserMessage(err), "run out of credit")
		require.Len(t, s.Requests(), 1)
	})
}

func TestOpenAIServerErrors(t *testing.T) {
	t.Run("retried then answered", func(t *testing.T) {
		s := openaifake.New(t)
		ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 3})
		s.ServerError(2, http.StatusBadGateway)
		got, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.NoError(t, err)
		require.Equal(t, "reply: hi", got)
		require.Len(t, s.Requests(), 3)
		require.Len(t, clk.Sleeps(), 2)
	})
	t.Run("gives up", func(t *testing.T) {
		s := openaifake.New(t)
		ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 3})
		s.ServerError(100, http.StatusServiceUnavailable)
		_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.Error(t, err)
		require.Equal(t, "⚠️ The agent's API is failing (HTTP 503); try again later.", UserMessage(err))
		require.ErrorContains(t, err, "HTTP 503 Service Unavailable")
		require.ErrorContains(t, err, "server_error")
		require.ErrorContains(t, err, "after 4 attempts")
		require.Len(t, s.Requests(), 4)
		// Exponential backoff, ±20 % jitter: ~1s, ~2s, ~4s.
		sleeps := clk.Sleeps()
		require.Len(t, sleeps, 3)
		for i, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			require.GreaterOrEqual(t, sleeps[i], base*8/10, "wait %d", i)
			require.LessOrEqual(t, sleeps[i], base*12/10, "wait %d", i)
		}
	})
	t.Run("no retries configured", func(t *testing.T) {
		s := openaifake.New(t)
		ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 0})
		s.ServerError(1, http.StatusInternalServerError)
		_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.Equal(t, "⚠️ The agent's API is failing (HTTP 500); try again later.", UserMessage(err))
		require.Len(t, s.Requests(), 1)
		require.Empty(t, clk.Sleeps())
	})
}

func TestBackoffDelay(t *testing.T) {
	for n, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 50: 30 * time.Second} {
		for range 20 {
			d := backoffDelay(n)
			require.GreaterOrEqual(t, d, base*8/10, "n=%d", n)
			require.LessOrEqual(t, d, base*12/10, "n=%d", n)
		}
	}
}

func TestOpenAIUnauthorizedNotRetried(t *testing.T) {
	s := openaifake.New(t)
	s.RequireKey("sk-the-right-one")
	ag, clk := newTestOpenAI(t, s, openAIOpts{keyFile: writeKey(t, testKey, 0o600), retries: 3})
	_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
	require.Error(t, err)
	require.Equal(t, "⚠️ The agent's API rejected the key (401); the gateway's owner needs to fix agent.openai.api_key_file.", UserMessage(err))
	require.ErrorContains(t, err, "HTTP 401 Unauthorized")
	require.ErrorContains(t, err, "Incorrect API key provided")
	require.Len(t, s.Requests(), 1)
	require.Empty(t, clk.Sleeps())

	// Without a key file, the person is told that a key is missing.
	s2 := openaifake.New(t)
	s2.Unauthorized(1)
	ag2, _ := newTestOpenAI(t, s2, openAIOpts{retries: 3})
	_, err = ag2.Reply(context.Background(), Turn{Text: "hi"})
	require.Equal(t, "⚠️ The agent's API wants a key (401); the gateway's owner needs to set agent.openai.api_key_file.", UserMessage(err))
	require.Len(t, s2.Requests(), 1)
}

func TestOpenAIOtherClientErrors(t *testing.T) {
	tests := []struct {
		fault openaifake.Fault
		user  string
	}{
		{openaifake.Fault{Status: 400, Body: openaifake.ErrorBody("Invalid value for 'model'", "invalid_request_error", "")},
			"⚠️ The agent's API refused the request (HTTP 400); the gateway's journal has the details."},
		{openaifake.Fault{Status: 404, Body: openaifake.ErrorBody("The model `nope` does not exist", "invalid_request_error", "model_not_found")},
			"⚠️ The agent's API answered 404 (not found); the gateway's owner needs to check agent.openai.base_url and agent.openai.model."},
		{openaifake.Fault{Status: 400, Body: openaifake.ErrorBody("This model's maximum context length is 8192 tokens", "invalid_request_error", "context_length_exceeded")},
			"⚠️ The conversation is too long for the agent's model; the gateway's owner should lower agent.history_chars."},
		{openaifake.Fault{Status: 403},
			"⚠️ The agent's API wants a key (403); the gateway's owner needs to set agent.openai.api_key_file."},
	}
	for _, tt := range tests {
		s := openaifake.New(t)
		ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 3})
		s.Fail(tt.fault)
		_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.Equal(t, tt.user, UserMessage(err))
		require.Len(t, s.Requests(), 1, "a 4xx is not retried")
		require.Empty(t, clk.Sleeps())
	}
}

func TestOpenAITimeout(t *testing.T) {
	s := openaifake.New(t)
	ag, clk := newTestOpenAI(t, s, openAIOpts{retries: 3, timeout: 100 * time.Millisecond})
	s.Slow(1, time.Hour)
	_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
	require.Error(t, err)
	require.Equal(t, "⚠️ The agent took too long to answer.", UserMessage(err))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "no answer within 100ms (agent.openai.timeout)")
	require.Len(t, s.Requests(), 1, "a timeout is not retried")
	require.Empty(t, clk.Sleeps())

	// The next request is answered: the timeout was per request.
	got, err := ag.Reply(context.Background(), Turn{Text: "again"})
	require.NoError(t, err)
	require.Equal(t, "reply: again", got)
}

func TestOpenAICanceled(t *testing.T) {
	s := openaifake.New(t)
	ag, _ := newTestOpenAI(t, s, openAIOpts{retries: 3})
	s.Slow(1, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := ag.Reply(ctx, Turn{Text: "hi"})
		done <- err
	}()
	<-s.Arrived()
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, UserCanceled, UserMessage(err))
	require.Len(t, s.Requests(), 1)
}

func TestOpenAIUnreachable(t *testing.T) {
	// A port nobody listens on: connection refused, retried, then given up.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	cfg := config.Default().Agent
	cfg.Backend = config.BackendOpenAI
	cfg.OpenAI.BaseURL = "http://" + addr + "/v1"
	cfg.OpenAI.Model = "m"
	cfg.OpenAI.MaxRetries = 2
	ag, err := New(cfg, nil, nil)
	require.NoError(t, err)
	clk := newFakeClock()
	ag.(*openAI).clock = clk
	_, err = ag.Reply(context.Background(), Turn{Text: "hi"})
	require.Equal(t, "⚠️ The gateway cannot reach the agent's API; try again later.", UserMessage(err))
	require.ErrorContains(t, err, "connection refused")
	require.ErrorContains(t, err, "after 3 attempts")
	require.Len(t, clk.Sleeps(), 2)
}

func TestOpenAIBadAnswers(t *testing.T) {
	unreadable := "⚠️ The agent returned an answer the gateway could not read."
	tests := []struct {
		name  string
		setup func(s *openaifake.Server)
		user  string
		want  string // in the error
	}{
		{"malformed JSON", func(s *openaifake.Server) { s.Malformed(1) }, unreadable, "malformed answer"},
		{"empty choices", func(s *openaifake.Server) { s.EmptyChoices(1) }, "⚠️ The agent returned an empty answer.", "no choices"},
		{"blank content", func(s *openaifake.Server) { s.SetReply(func(openaifake.ChatRequest) string { return " \n " }) },
			"⚠️ The agent returned an empty answer.", "empty answer"},
		{"null content", func(s *openaifake.Server) {
			s.Fail(openaifake.Fault{Status: 200, Body: `{"choices":[{"message":{"role":"assistant","content":null},"finish_reason":"length"}]}`})
		}, "⚠️ The agent returned an empty answer.", `finish_reason "length"`},
		{"content filter", func(s *openaifake.Server) {
			s.Fail(openaifake.Fault{Status: 200, Body: `{"choices":[{"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}]}`})
		}, "⚠️ The agent's API withheld the answer (content filter).", "content_filter"},
		{"content of another type", func(s *openaifake.Server) {
			s.Fail(openaifake.Fault{Status: 200, Body: `{"choices":[{"message":{"content":42}}]}`})
		}, unreadable, "neither a string nor text parts"},
		{"an error object with 200", func(s *openaifake.Server) {
			s.Fail(openaifake.Fault{Status: 200, Body: openaifake.ErrorBody("overloaded", "server_error", "")})
		}, UserGeneric, "overloaded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openaifake.New(t)
			ag, _ := newTestOpenAI(t, s, openAIOpts{retries: 3})
			tt.setup(s)
			_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
			require.Error(t, err)
			require.Equal(t, tt.user, UserMessage(err))
			require.ErrorContains(t, err, tt.want)
			require.Len(t, s.Requests(), 1, "not retried")
		})
	}
}

func TestOpenAIContentParts(t *testing.T) {
	s := openaifake.New(t)
	ag, _ := newTestOpenAI(t, s, openAIOpts{})
	s.Fail(openaifake.Fault{Status: 200, Body: `{"choices":[{"message":{"role":"assistant","content":[{"type":"text","text":"Hello, "},{"type":"image_url","image_url":{}},{"type":"text","text":"world"}]}}]}`})
	got, err := ag.Reply(context.Background(), Turn{Text: "hi"})
	require.NoError(t, err)
	require.Equal(t, "Hello, world", got)
}

func TestOpenAIErrorExcerptIsBounded(t *testing.T) {
	s := openaifake.New(t)
	ag, _ := newTestOpenAI(t, s, openAIOpts{})
	s.Fail(openaifake.Fault{Status: 400, Body: "BEGIN" + strings.Repeat("é", 2000) + "END"})
	_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
	require.ErrorContains(t, err, "BEGIN")
	require.NotContains(t, err.Error(), "END")
	require.NotContains(t, err.Error(), "\uFFFD", "no character cut in half")
	_, body, ok := strings.Cut(err.Error(), "400 Bad Request: ")
	require.True(t, ok, err.Error())
	require.LessOrEqual(t, len(body), maxExcerptBytes)
}

func TestOpenAIKeyNeverInErrors(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	echoKey := "Incorrect API key provided: " + testKey + "."
	tests := []openaifake.Fault{
		{Status: 401, Body: openaifake.ErrorBody(echoKey, "invalid_request_error", "invalid_api_key")},
		{Status: 500, Body: echoKey},
		{Status: 200, Body: `{"broken": "` + testKey},
		{Status: 200, Body: `{"choices":[], "note":"` + testKey + `"}`},
		// The key straddles the excerpt's 500-byte cut.
		{Status: 400, Body: strings.Repeat("a", maxExcerptBytes-10) + testKey},
	}
	for i, f := range tests {
		s := openaifake.New(t)
		ag, _ := newTestOpenAI(t, s, openAIOpts{keyFile: writeKey(t, testKey, 0o600), retries: 1, log: log})
		s.Fail(f, f)
		_, err := ag.Reply(context.Background(), Turn{Text: "hi"})
		require.Error(t, err, i)
		require.NotContains(t, err.Error(), testKey, i)
		require.NotContains(t, err.Error(), testKey[:20], i)
		require.NotContains(t, UserMessage(err), testKey, i)
		if i < 2 {
			require.Contains(t, err.Error(), "[REDACTED]", i)
		}
	}
	require.Contains(t, logs.String(), "retrying", "the 500 was retried and logged")
	require.NotContains(t, logs.String(), testKey)
}

func TestOpenAIKeyFile(t *testing.T) {
	newWith := func(path string, resolve func(string) string) error {
		cfg := config.Default().Agent
		cfg.Backend = config.BackendOpenAI
		cfg.OpenAI.BaseURL = "http://127.0.0.1:1/v1"
		cfg.OpenAI.Model = "m"
		cfg.OpenAI.APIKeyFile = path
		_, err := New(cfg, resolve, nil)
		return err
	}

	p := writeKey(t, testKey, 0o644)
	err := newWith(p, nil)
	require.ErrorContains(t, err, "agent.openai.api_key_file")
	require.ErrorContains(t, err, "has mode 0644")
	require.ErrorContains(t, err, "run `chmod 600 "+p+"`")
	require.NotContains(t, err.Error(), testKey)

	require.NoError(t, newWith(writeKey(t, testKey, 0o400), nil), "0400 is stricter than 0600")

	err = newWith(filepath.Join(t.TempDir(), "missing.key"), nil)
	require.ErrorContains(t, err, "does not exist")

	err = newWith(writeKey(t, " \n", 0o600), nil)
	require.ErrorContains(t, err, "is empty")

	err = newWith(writeKey(t, testKey+"\n"+testKey+"-second-line", 0o600), nil)
	require.ErrorContains(t, err, "only the API key on one line")
	require.NotContains(t, err.Error(), testKey)

	err = newWith(t.TempDir(), nil)
	require.ErrorContains(t, err, "is not a regular file")

	// A relative path goes through resolve (the config file's directory).
	dir := filepath.Dir(writeKey(t, testKey, 0o600))
	require.NoError(t, newWith("openai.key", func(p string) string { return filepath.Join(dir, p) }))

	// A path with a space is quoted in the hint.
	spaced := filepath.Join(t.TempDir(), "my key")
	require.NoError(t, os.WriteFile(spaced, []byte(testKey), 0o600))
	require.NoError(t, os.Chmod(spaced, 0o640))
	require.ErrorContains(t, newWith(spaced, nil), "run `chmod 600 '"+spaced+"'`")
}
