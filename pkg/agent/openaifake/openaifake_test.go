package openaifake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/agent/openaifake"
)

type answer struct {
	status int
	header http.Header
	body   string
}

func post(t *testing.T, ctx context.Context, url, auth, body string) (answer, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header, string(b)}, nil
}

// bgPost is post for other goroutines than the test's (no require).
func bgPost(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(chat))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}

const chat = `{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"hello"}]}`

func content(t *testing.T, body string) string {
	t.Helper()
	var r struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &r), body)
	require.Len(t, r.Choices, 1)
	return r.Choices[0].Message.Content
}

func TestDefaultReplyAndRecording(t *testing.T) {
	s := openaifake.New(t)
	require.True(t, strings.HasSuffix(s.URL(), "/v1"))
	a, err := post(t, context.Background(), s.URL()+"/chat/completions", "Bearer k", chat)
	require.NoError(t, err)
	require.Equal(t, 200, a.status)
	require.Equal(t, "reply: hello", content(t, a.body))

	reqs := s.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "Bearer k", reqs[0].Authorization)
	require.Equal(t, "m", reqs[0].Body.Model)
	require.Equal(t, []openaifake.Message{{Role: "system", Content: "s"}, {Role: "user", Content: "hello"}}, reqs[0].Body.Messages)
	require.JSONEq(t, chat, string(reqs[0].Raw))

	s.SetReply(func(r openaifake.ChatRequest) string { return strings.ToUpper(r.LastUser()) })
	a, err = post(t, context.Background(), s.URL()+"/chat/completions", "", chat)
	require.NoError(t, err)
	require.Equal(t, "HELLO", content(t, a.body))
}

func TestFaults(t *testing.T) {
	s := openaifake.New(t)
	s.RateLimit(1, "3")
	s.ServerError(1, 502)
	s.Unauthorized(1)
	s.Malformed(1)
	s.EmptyChoices(1)
	url := s.URL() + "/chat/completions"

	a, _ := post(t, context.Background(), url, "", chat)
	require.Equal(t, 429, a.status)
	require.Equal(t, "3", a.header.Get("Retry-After"))
	require.Contains(t, a.body, `"rate_limit_exceeded"`)

	a, _ = post(t, context.Background(), url, "", chat)
	require.Equal(t, 502, a.status)

	a, _ = post(t, context.Background(), url, "", chat)
	require.Equal(t, 401, a.status)
	var e struct {
		Error struct{ Message, Type, Code string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.body), &e))
	require.Equal(t, "invalid_request_error", e.Error.Type)
	require.Equal(t, "invalid_api_key", e.Error.Code)
	require.Contains(t, e.Error.Message, "Incorrect API key")

	a, _ = post(t, context.Background(), url, "", chat)
	require.Equal(t, 200, a.status)
	require.False(t, json.Valid([]byte(a.body)))

	a, _ = post(t, context.Background(), url, "", chat)
	require.Equal(t, 200, a.status)
	require.JSONEq(t, `{"id":"chatcmpl-fake","object":"chat.completion","choices":[]}`, a.body)

	a, _ = post(t, context.Background(), url, "", chat)
	require.Equal(t, "reply: hello", content(t, a.body), "faults used up")
	require.Len(t, s.Requests(), 6)
}

func TestRequireKeyAndPaths(t *testing.T) {
	s := openaifake.New(t)
	s.RequireKey("sk-good")
	url := s.URL() + "/chat/completions"
	a, _ := post(t, context.Background(), url, "Bearer sk-bad", chat)
	require.Equal(t, 401, a.status)
	a, _ = post(t, context.Background(), url, "Bearer sk-good", chat)
	require.Equal(t, 200, a.status)

	a, _ = post(t, context.Background(), strings.TrimSuffix(s.URL(), "/v1")+"/chat/completions", "Bearer sk-good", chat)
	require.Equal(t, 404, a.status)
	require.Contains(t, a.body, "Unknown request URL")
	require.Equal(t, "/chat/completions", s.Requests()[2].Path)

	a, _ = post(t, context.Background(), url, "Bearer sk-good", `{"messages":[]}`)
	require.Equal(t, 400, a.status, "no model")
}

func TestSlowIsCancellable(t *testing.T) {
	s := openaifake.New(t)
	s.Slow(1, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bgPost(ctx, s.URL()+"/chat/completions") }()
	<-s.Arrived()
	cancel()
	require.True(t, errors.Is(<-done, context.Canceled))

	// A slow answer still pending when the server closes does not hold
	// Close up.
	s2 := openaifake.New(t)
	s2.Slow(1, time.Hour)
	go func() { done <- bgPost(context.Background(), s2.URL()+"/chat/completions") }()
	<-s2.Arrived()
	s2.Close()
	<-done
}

// Content parts are read as the API reads them: the text parts, the
// pictures; what the API refuses gets its 400.
func TestContentParts(t *testing.T) {
	s := openaifake.New(t)
	ok := `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what?"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,SlBFRw=="}}]}]}`
	a, err := post(t, context.Background(), s.URL()+"/chat/completions", "", ok)
	require.NoError(t, err)
	require.Equal(t, 200, a.status, a.body)
	body := s.Requests()[0].Body
	require.Equal(t, "what?", body.LastUser())
	require.Equal(t, []string{"data:image/jpeg;base64,SlBFRw=="}, body.LastUserImages())
	require.Equal(t, []byte("JPEG"), openaifake.Image(body.LastUserImages()[0]))

	for _, bad := range []string{
		`[{"type":"image_url","image_url":{"url":"data:image/tiff;base64,SlBFRw=="}}]`,
		`[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,not base64!"}}]`,
		`[{"type":"image_url","image_url":{"url":"/etc/passwd"}}]`,
		`[{"type":"image_url","image_url":"data:image/jpeg;base64,SlBFRw=="}]`,
		`[{"type":"image","data":"SlBFRw=="}]`,
		`[{"type":"text"}]`,
		`[]`,
	} {
		a, err := post(t, context.Background(), s.URL()+"/chat/completions", "", `{"model":"m","messages":[{"role":"user","content":`+bad+`}]}`)
		require.NoError(t, err)
		require.Equal(t, 400, a.status, bad)
	}
}
