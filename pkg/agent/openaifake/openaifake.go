// Package openaifake is an OpenAI-compatible chat completions server for
// tests: it records every request, answers through a configurable function
// and plays scripted faults (429 with Retry-After, 5xx, slow answers,
// malformed JSON, empty choices, 401).
//
//	s := openaifake.New(t)
//	s.RateLimit(1, "1")           // the next request gets 429, Retry-After: 1
//	cfg.BaseURL = s.URL()         // "http://127.0.0.1:PORT/v1"
//	... // then s.Requests()[0].Body.Messages, .Authorization, ...
//
// It serves POST /v1/chat/completions; any other path or method gets a 404
// or 405 with an OpenAI-style error body (and is recorded too, so a test can
// see which URL a client called).
package openaifake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Path is the one endpoint the server implements.
const Path = "/v1/chat/completions"

// Message is a chat message as the client sent it. Content is its text:
// the string, or the text parts joined by newlines when the client sent
// content parts; Images are the image parts' URLs, in order.
type Message struct {
	Role    string   `json:"role"`
	Content string   `json:"content"`
	Images  []string `json:"-"`
}

// UnmarshalJSON reads content as a string or as content parts, as the
// API does, and refuses what the API refuses: a part of an unknown type,
// a text part without text, an image part whose url is neither an
// http(s) URL nor a base64 data URL of an image type the API takes.
func (m *Message) UnmarshalJSON(b []byte) error {
	var w struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Message{Role: w.Role}
	if len(w.Content) == 0 || string(w.Content) == "null" {
		return nil
	}
	if w.Content[0] == '"' {
		return json.Unmarshal(w.Content, &m.Content)
	}
	var parts []struct {
		Type     string  `json:"type"`
		Text     *string `json:"text"`
		ImageURL *struct {
			URL    string `json:"url"`
			Detail string `json:"detail"`
		} `json:"image_url"`
	}
	if err := json.Unmarshal(w.Content, &parts); err != nil {
		return fmt.Errorf("messages: content must be a string or an array of content parts: %w", err)
	}
	if len(parts) == 0 {
		return fmt.Errorf("messages: content parts must not be empty")
	}
	if w.Role != "user" {
		for _, p := range parts {
			if p.Type != "text" {
				return fmt.Errorf("messages: a %s message may carry only text parts, got %q", w.Role, p.Type)
			}
		}
	}
	var texts []string
	for i, p := range parts {
		switch p.Type {
		case "text":
			if p.Text == nil {
				return fmt.Errorf("messages: content[%d]: a text part needs text", i)
			}
			texts = append(texts, *p.Text)
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return fmt.Errorf("messages: content[%d]: an image_url part needs image_url.url", i)
			}
			if err := checkImageURL(p.ImageURL.URL); err != nil {
				return fmt.Errorf("messages: content[%d]: %w", i, err)
			}
			m.Images = append(m.Images, p.ImageURL.URL)
		default:
			return fmt.Errorf("messages: content[%d]: unknown content part type %q", i, p.Type)
		}
	}
	m.Content = strings.Join(texts, "\n")
	return nil
}

// checkImageURL accepts what the API fetches or decodes as an image.
func checkImageURL(u string) error {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return nil
	}
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return fmt.Errorf("image_url.url must be an http(s) URL or a data URL, got %.30q", u)
	}
	mime, data, ok := strings.Cut(rest, ";base64,")
	if !ok {
		return fmt.Errorf("a data URL must be base64: data:<type>;base64,<data>")
	}
	switch mime {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
	default:
		return fmt.Errorf("invalid image type %q: use image/jpeg, image/png, image/gif or image/webp", mime)
	}
	if _, err := base64.StdEncoding.DecodeString(data); err != nil || data == "" {
		return fmt.Errorf("the image data is not valid base64")
	}
	return nil
}

// Image returns the decoded data of data URL u ("" if it is not one).
func Image(u string) []byte {
	_, data, ok := strings.Cut(u, ";base64,")
	if !ok {
		return nil
	}
	b, _ := base64.StdEncoding.DecodeString(data)
	return b
}

// ChatRequest is the decoded body of a chat completions request (the fields
// the gateway sends).
type ChatRequest struct {
	Model    string    `json:"model"`
	Messages []Message `json:"messages"`
	Stream   bool      `json:"stream,omitempty"`
}

// LastUserImages returns the image URLs of the last user message.
func (r ChatRequest) LastUserImages() []string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Images
		}
	}
	return nil
}

// LastUser returns the content of the last user message, or "".
func (r ChatRequest) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// Request is a request the server received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	// Authorization is the Authorization header ("" when absent).
	Authorization string
	// Body is the decoded JSON body (zero when it did not decode).
	Body ChatRequest
	// Raw is the body as received.
	Raw []byte
}

// Fault replaces the normal answer to one request. The zero Fault is the
// normal answer.
type Fault struct {
	// Delay postpones the answer. The wait ends early (and nothing is
	// answered) when the client gives up or the server closes.
	Delay time.Duration
	// Status, when not 0, is the HTTP status of the answer.
	Status int
	// RetryAfter, when not "", is sent as the Retry-After header.
	RetryAfter string
	// Header holds more headers to send (such as retry-after-ms), with
	// the fault's answer or the normal one.
	Header http.Header
	// Body, when not "", is the raw answer body (Content-Type
	// application/json, whatever it holds). With Status and no Body, the
	// body is an OpenAI-style error.
	Body string
	// For a streamed answer ("stream": true): CutAfter > 0 closes the
	// connection after that many chunks, without [DONE] (a proxy or the
	// model server dying mid-answer); ErrorAfter > 0 sends an error event,
	// data: {"error":{...}}, after that many chunks and ends the stream
	// there, as OpenAI-compatible servers report a failure mid-stream.
	CutAfter, ErrorAfter int
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once
	arrived chan Request

	mu       sync.Mutex
	requests []Request
	faults   []Fault
	reply    func(ChatRequest) string
	chunks   func(string) []string
	gate     func(r ChatRequest, i int)
	key      string
	n        int
}

// New starts a server; it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a server outside a test (the benchmarks); Close it.
func Start() *Server {
	s := &Server{
		closing: make(chan struct{}),
		arrived: make(chan Request, 1000),
		reply:   func(r ChatRequest) string { return "reply: " + r.LastUser() },
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// URL returns the base URL to configure, including "/v1":
// "http://127.0.0.1:PORT/v1".
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Close stops the server, ending delayed answers first. It is called by
// the test's cleanup; calling it again is harmless.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.srv.Close()
	})
}

// SetReply sets the function that makes the assistant's answer (the
// default echoes the last user message as "reply: <text>").
func (s *Server) SetReply(f func(ChatRequest) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply = f
}

// RequireKey makes requests whose Authorization is not "Bearer <key>" fail
// with 401 and an OpenAI-style error body. "" accepts any request.
func (s *Server) RequireKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = key
}

// Fail queues faults: each of the next requests to the endpoint consumes
// one, in order; once they are used up, requests are answered normally.
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// RateLimit makes the next n requests fail with 429 and, when retryAfter
// is not "", a Retry-After header (seconds, or an HTTP date).
func (s *Server) RateLimit(n int, retryAfter string) {
	s.Fail(repeat(n, Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter,
		Body: ErrorBody("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded")})...)
}

// ServerError makes the next n requests fail with status (a 5xx).
func (s *Server) ServerError(n, status int) {
	s.Fail(repeat(n, Fault{Status: status,
		Body: ErrorBody("The server had an error while processing your request. Sorry about that!", "server_error", "")})...)
}

// Unauthorized makes the next n requests fail with 401 and OpenAI's error
// body for a wrong key.
func (s *Server) Unauthorized(n int) {
	s.Fail(repeat(n, Fault{Status: http.StatusUnauthorized,
		Body: ErrorBody("Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")})...)
}

// Slow delays the answers to the next n requests by d (then answers
// normally). The delay ends early when the client gives up.
func (s *Server) Slow(n int, d time.Duration) { s.Fail(repeat(n, Fault{Delay: d})...) }

// Malformed makes the next n requests get 200 with a body that is not JSON.
func (s *Server) Malformed(n int) {
	s.Fail(repeat(n, Fault{Status: http.StatusOK, Body: `{"id":"chatcmpl-fake","choices":[{"message":`})...)
}

// EmptyChoices makes the next n requests get 200 with "choices": [].
func (s *Server) EmptyChoices(n int) {
	s.Fail(repeat(n, Fault{Status: http.StatusOK, Body: `{"id":"chatcmpl-fake","object":"chat.completion","choices":[]}`})...)
}

func repeat(n int, f Fault) []Fault {
	fs := make([]Fault, n)
	for i := range fs {
		fs[i] = f
	}
	return fs
}

// ErrorBody returns an OpenAI-style error body,
// {"error":{"message":..,"type":..,"param":null,"code":..}}; an empty code
// is sent as null.
func ErrorBody(message, typ, code string) string {
	var c any
	if code != "" {
		c = code
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nil, "code": c}})
	return string(b)
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Arrived delivers each request as it arrives (before it is answered), so
// a test can wait for a request to be in flight. It buffers 1000 requests;
// later ones are not delivered there (Requests still has them).
func (s *Server) Arrived() <-chan Request { return s.arrived }

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Authorization: r.Header.Get("Authorization"), Raw: raw}
	decodeErr := json.Unmarshal(raw, &req.Body)

	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.n++
	id := s.n
	var fault Fault
	endpoint := r.URL.Path == Path && r.Method == http.MethodPost
	if endpoint && len(s.faults) > 0 {
		fault = s.faults[0]
		s.faults = s.faults[1:]
	}
	key, reply := s.key, s.reply
	s.mu.Unlock()
	select {
	case s.arrived <- req:
	default:
	}

	switch {
	case r.URL.Path != Path:
		writeJSON(w, http.StatusNotFound, "", ErrorBody(fmt.Sprintf("Unknown request URL: %s %s.", r.Method, r.URL.Path), "invalid_request_error", "unknown_url"))
		return
	case r.Method != http.MethodPost:
		writeJSON(w, http.StatusMethodNotAllowed, "", ErrorBody("Method not allowed: "+r.Method, "invalid_request_error", ""))
		return
	}

	if fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.closing:
			t.Stop()
			return
		}
	}
	if fault.Status == 0 && fault.Body == "" && req.Body.Stream && decodeErr == nil && (key == "" || req.Authorization == "Bearer "+key) && strings.TrimSpace(req.Body.Model) != "" {
		for k, v := range fault.Header {
			w.Header()[http.CanonicalHeaderKey(k)] = v
		}
		s.stream(w, r, id, req.Body, fault)
		return
	}
	for k, v := range fault.Header {
		w.Header()[http.CanonicalHeaderKey(k)] = v
	}
	if fault.Status != 0 || fault.Body != "" {
		status, body := fault.Status, fault.Body
		if status == 0 {
			status = http.StatusOK
		}
		if body == "" {
			body = ErrorBody(http.StatusText(status), "fake_fault", "")
		}
		writeJSON(w, status, fault.RetryAfter, body)
		return
	}

	if key != "" && req.Authorization != "Bearer "+key {
		writeJSON(w, http.StatusUnauthorized, "", ErrorBody("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
		return
	}
	if decodeErr != nil {
		writeJSON(w, http.StatusBadRequest, "", ErrorBody("We could not parse the JSON body of your request: "+decodeErr.Error(), "invalid_request_error", ""))
		return
	}
	if strings.TrimSpace(req.Body.Model) == "" {
		writeJSON(w, http.StatusBadRequest, "", ErrorBody("you must provide a model parameter", "invalid_request_error", ""))
		return
	}
	b, _ := json.Marshal(map[string]any{
		"id":      fmt.Sprintf("chatcmpl-fake-%d", id),
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   req.Body.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": reply(req.Body)},
			"finish_reason": "stop",
		}},
		"usage": map[string]any{"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
	})
	writeJSON(w, http.StatusOK, "", string(b))
}

func writeJSON(w http.ResponseWriter, status int, retryAfter, body string) {
	w.Header().Set("Content-Type", "application/json")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
