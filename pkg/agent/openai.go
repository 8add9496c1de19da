package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/version"
)

const (
	// maxResponseBytes bounds the body read from the API.
	maxResponseBytes = 8 << 20
	// maxExcerptBytes bounds the body excerpt quoted in errors.
	maxExcerptBytes = 500
	// defaultTimeout serves when a Config built in code leaves it zero.
	defaultTimeout = 60 * time.Second
)

// openAI is the openai backend: any OpenAI-compatible chat completions API.
//
// The endpoint is derived from agent.openai.base_url by one rule: a
// base_url without a path (the server root, "http://127.0.0.1:8080") gets
// "/v1/chat/completions" appended; a base_url with a path
// ("https://api.openai.com/v1", "https://openrouter.ai/api/v1",
// ".../v1beta/openai") gets "/chat/completions" appended; a base_url that
// already ends in "/chat/completions" is used as it is. Trailing slashes do
// not matter, and a query string is kept.
//
// The API key is read from api_key_file once, by New; changing the key
// takes a restart.
type openAI struct {
	endpoint string // POST target
	display  string // base_url as configured, for Name and errors
	model    string
	system   string
	key      string // "" when no api_key_file: no Authorization header
	timeout  time.Duration
	retries  int
	client   *http.Client
	clock    clock
	log      *slog.Logger
	// vision: pictures the person sends go to the model as image parts
	// (agent.openai.vision).
	vision bool
}

func newOpenAI(cfg config.OpenAI, resolve func(string) string, log *slog.Logger) (*openAI, error) {
	endpoint, display, err := chatURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New(`agent.openai.model: required; set agent.openai.model = "gpt-4o-mini" (a model your server offers)`)
	}
	o := &openAI{
		endpoint: endpoint,
		display:  display,
		model:    strings.TrimSpace(cfg.Model),
		system:   cfg.SystemPrompt,
		timeout:  cfg.Timeout.Duration,
		retries:  max(cfg.MaxRetries, 0),
		client:   &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		clock:    realClock{},
		log:      log.With("agent", "openai"),
		vision:   cfg.Vision,
	}
	if o.timeout <= 0 {
		o.timeout = defaultTimeout
	}
	if cfg.APIKeyFile != "" {
		if o.key, err = readKeyFile(resolve(cfg.APIKeyFile)); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// chatURL applies the base_url rule documented on openAI. It returns the
// endpoint and the base URL for display (credentials masked).
func chatURL(base string) (endpoint, display string, err error) {
	const fix = `set agent.openai.base_url = "https://api.openai.com/v1" (or your server's, such as "http://127.0.0.1:8080/v1")`
	base = strings.TrimSpace(base)
	if base == "" {
		return "", "", errors.New("agent.openai.base_url: required; " + fix)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("agent.openai.base_url: %q is not an http:// or https:// URL; %s", base, fix)
	}
	if u.User != nil {
		return "", "", fmt.Errorf("agent.openai.base_url: %q holds credentials; remove them and put the API key in the file agent.openai.api_key_file names", u.Redacted())
	}
	display = u.Redacted()
	u.Fragment, u.RawFragment = "", ""
	p := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
	case p == "":
		p = "/v1/chat/completions"
	default:
		p += "/chat/completions"
	}
	u.Path, u.RawPath = p, ""
	return u.String(), display, nil
}

func (o *openAI) Name() string { return fmt.Sprintf("openai (%s at %s)", o.model, o.display) }

type chatRequest struct {
	Model    string        `json:"model"`
	Messages []wireMessage `json:"messages"`
	Stream   bool          `json:"stream,omitempty"`
}

// attemptError is a failed attempt: what to tell the person, what to log,
// and whether (and after how long) to try again.
type attemptError struct {
	user       string
	err        error
	retry      bool
	retryAfter time.Duration // from the server; 0: use the backoff
}

// Reply sends [system prompt] + t.History + t.Text to the chat completions
// endpoint, each attempt bounded by agent.openai.timeout. 429, 5xx and
// network errors are retried up to agent.openai.max_retries times, waiting
// what Retry-After (or retry-after-ms) asks, else an exponential backoff
// with jitter; a timeout and any other 4xx are not retried. A wait that
// would outlast ctx's deadline, or a Retry-After above a minute, ends the
// retries at once.
func (o *openAI) Reply(ctx context.Context, t Turn) (string, error) {
	return o.run(ctx, t, false, func(actx context.Context, body []byte) (string, *attemptError, bool) {
		reply, aerr := o.attempt(actx, body)
		return reply, aerr, false
	})
}

// wireMessage is a Message as sent: its content a string, or content
// parts (the person's message with pictures, see userContent).
type wireMessage struct {
	Role    string `json:"role"`
	Content any    `json:"content"`
}

// request encodes the chat completions request for t. The files the
// person sent are pictures (image content parts) with
// agent.openai.vision, and otherwise a note in the text.
func (o *openAI) request(t Turn, stream bool) ([]byte, error) {
	msgs := make([]wireMessage, 0, len(t.History)+2)
	if o.system != "" {
		msgs = append(msgs, wireMessage{Role: RoleSystem, Content: o.system})
	}
	for _, m := range t.History {
		msgs = append(msgs, wireMessage{Role: m.Role, Content: m.Content})
	}
	content, err := userContent(t, o.vision)
	if err != nil {
		return nil, err
	}
	msgs = append(msgs, wireMessage{Role: RoleUser, Content: content})
	return json.Marshal(chatRequest{Model: o.model, Messages: msgs, Stream: stream})
}

// run makes attempts with do until one succeeds or the retries (see Reply)
// are spent. do reports whether it gave any part of the answer to the
// caller: once a person may have seen part of an answer, it is not asked
// for again (a second, different answer would follow the first's start).
func (o *openAI) run(ctx context.Context, t Turn, stream bool, do func(context.Context, []byte) (string, *attemptError, bool)) (string, error) {
	body, err := o.request(t, stream)
	if err != nil {
		return "", o.fail(&attemptError{user: UserGeneric, err: fmt.Errorf("encode request: %w", err)}, 0, "")
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return "", ctxError("openai", err)
		}
		reply, aerr, emitted := do(ctx, body)
		if aerr == nil {
			return reply, nil
		}
		if emitted {
			return "", o.fail(aerr, attempt, "not retrying: part of the answer was already shown")
		}
		if !aerr.retry || attempt > o.retries {
			return "", o.fail(aerr, attempt, "")
		}
		wait := aerr.retryAfter
		if wait <= 0 {
			wait = backoffDelay(attempt)
		}
		if wait > maxRetryAfter {
			return "", o.fail(aerr, attempt, fmt.Sprintf("not retrying: the server asks to wait %s", wait.Round(time.Second)))
		}
		if dl, ok := ctx.Deadline(); ok && o.clock.Now().Add(wait).After(dl) {
			return "", o.fail(aerr, attempt, fmt.Sprintf("not retrying: waiting %s would outlast the deadline", wait.Round(time.Millisecond)))
		}
		o.log.Warn("agent: retrying", "attempt", attempt, "wait", wait, "err", o.redact(aerr.err.Error()))
		if err := o.clock.Sleep(ctx, wait); err != nil {
			return "", o.fail(&attemptError{user: aerr.user, err: errors.Join(aerr.err, fmt.Errorf("gave up waiting to retry: %w", err))}, attempt, "")
		}
	}
}

// fail turns the last attempt's error into the *Error Reply returns, with
// the API key redacted from the text.
func (o *openAI) fail(a *attemptError, attempts int, note string) *Error {
	err := a.err
	if attempts > 1 {
		err = fmt.Errorf("%w (after %d attempts)", err, attempts)
	}
	if note != "" {
		err = fmt.Errorf("%w; %s", err, note)
	}
	err = fmt.Errorf("openai: %w", err)
	return &Error{User: a.user, Err: &redactedError{msg: o.redact(err.Error()), err: err}}
}

// redactedError is err with a redacted text; Unwrap keeps errors.Is working.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (o *openAI) redact(s string) string {
	if o.key == "" {
		return s
	}
	return strings.ReplaceAll(s, o.key, "[REDACTED]")
}

// attempt makes one request.
func (o *openAI) attempt(ctx context.Context, body []byte) (string, *attemptError) {
	actx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	resp, aerr := o.post(ctx, actx, body, "application/json")
	if aerr != nil {
		return "", aerr
	}
	defer resp.Body.Close()
	return o.readWhole(ctx, actx, resp)
}

// post sends one chat request under actx (this attempt's timeout; ctx is
// the caller's, to tell the two apart when they end).
func (o *openAI) post(ctx, actx context.Context, body []byte, accept string) (*http.Response, *attemptError) {
	req, err := http.NewRequestWithContext(actx, http.MethodPost, o.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &attemptError{user: UserGeneric, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "hermes-gateway/"+version.Version)
	if o.key != "" {
		req.Header.Set("Authorization", "Bearer "+o.key)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, o.transportError(ctx, actx, err)
	}
	return resp, nil
}

// readWhole reads a whole (not streamed) answer, or the error it is.
func (o *openAI) readWhole(ctx, actx context.Context, resp *http.Response) (string, *attemptError) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return "", o.transportError(ctx, actx, fmt.Errorf("read the answer to POST %s (HTTP %d): %w", o.endpoint, resp.StatusCode, err))
	}
	if len(data) > maxResponseBytes {
		return "", &attemptError{user: UserGeneric, err: fmt.Errorf("POST %s: HTTP %d: the answer is larger than %d bytes", o.endpoint, resp.StatusCode, maxResponseBytes)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", o.statusError(resp, data)
	}
	return o.parse(resp, data)
}

// transportError classifies an error of the request itself: the caller's
// context ended (no retry), this attempt's timeout ran out (no retry: a
// slow model is not made faster by asking again), or a network error
// (retried).
func (o *openAI) transportError(ctx, actx context.Context, err error) *attemptError {
	if cerr := ctx.Err(); cerr != nil {
		e := ctxError("openai", cerr)
		return &attemptError{user: e.User, err: fmt.Errorf("POST %s: %w", o.endpoint, cerr)}
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return &attemptError{user: UserTimeout,
			err: fmt.Errorf("POST %s: no answer within %s (agent.openai.timeout): %w", o.endpoint, o.timeout, context.DeadlineExceeded)}
	}
	return &attemptError{user: "⚠️ The gateway cannot reach the agent's API; try again later.", err: err, retry: true}
}

// apiError is the error object of an OpenAI-style error body,
// {"error":{"message":...,"type":...,"code":...}}.
type apiError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"` // a string, a number or null
}

func (e *apiError) code() string {
	var s string
	if json.Unmarshal(e.Code, &s) == nil {
		return s
	}
	return string(e.Code)
}

func (o *openAI) statusError(resp *http.Response, data []byte) *attemptError {
	status := resp.StatusCode
	err := fmt.Errorf("POST %s: HTTP %s: %s", o.endpoint, resp.Status, o.excerpt(data))
	var body struct {
		Error *apiError `json:"error"`
	}
	_ = json.Unmarshal(data, &body)
	var code, typ string
	if body.Error != nil {
		code, typ = body.Error.code(), body.Error.Type
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		if o.key == "" {
			return &attemptError{err: err, user: fmt.Sprintf("⚠️ The agent's API wants a key (%d); the gateway's owner needs to set agent.openai.api_key_file.", status)}
		}
		return &attemptError{err: err, user: fmt.Sprintf("⚠️ The agent's API rejected the key (%d); the gateway's owner needs to fix agent.openai.api_key_file.", status)}
	case status == http.StatusTooManyRequests && (code == "insufficient_quota" || typ == "insufficient_quota"):
		return &attemptError{err: err, user: "⚠️ The agent's API account has run out of credit; the gateway's owner needs to check its billing."}
	case status == http.StatusTooManyRequests:
		return &attemptError{err: err, user: UserRateLimit, retry: true, retryAfter: o.retryAfter(resp.Header)}
	case status >= 500:
		return &attemptError{err: err, user: fmt.Sprintf("⚠️ The agent's API is failing (HTTP %d); try again later.", status), retry: true, retryAfter: o.retryAfter(resp.Header)}
	case status == http.StatusRequestEntityTooLarge || code == "context_length_exceeded" || typ == "exceed_context_size_error":
		return &attemptError{err: err, user: "⚠️ The conversation is too long for the agent's model; the gateway's owner should lower agent.history_chars."}
	case status == http.StatusNotFound:
		return &attemptError{err: err, user: "⚠️ The agent's API answered 404 (not found); the gateway's owner needs to check agent.openai.base_url and agent.openai.model."}
	default:
		return &attemptError{err: err, user: fmt.Sprintf("⚠️ The agent's API refused the request (HTTP %d); the gateway's journal has the details.", status)}
	}
}

// retryAfter reads the wait a 429 or 5xx asks for: retry-after-ms (sent by
// OpenAI), else Retry-After in seconds or as an HTTP date. 0 when absent or
// unreadable.
func (o *openAI) retryAfter(h http.Header) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s > 1e6 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(o.clock.Now()), 0)
	}
	return 0
}

// parse reads choices[0].message.content from a 2xx answer.
func (o *openAI) parse(resp *http.Response, data []byte) (string, *attemptError) {
	unreadable := "⚠️ The agent returned an answer the gateway could not read."
	var r struct {
		Choices []struct {
			Message struct {
				Content json.RawMessage `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return "", &attemptError{user: unreadable,
			err: fmt.Errorf("POST %s: HTTP %d: malformed answer (%v): %s", o.endpoint, resp.StatusCode, err, o.excerpt(data))}
	}
	if r.Error != nil && len(r.Choices) == 0 {
		return "", &attemptError{user: UserGeneric,
			err: fmt.Errorf("POST %s: HTTP %d but an error answer: %s", o.endpoint, resp.StatusCode, o.excerpt(data))}
	}
	if len(r.Choices) == 0 {
		return "", &attemptError{user: UserEmpty, err: fmt.Errorf("POST %s: HTTP %d: no choices in the answer: %s", o.endpoint, resp.StatusCode, o.excerpt(data))}
	}
	c := r.Choices[0]
	text, ok := contentText(c.Message.Content)
	if !ok {
		return "", &attemptError{user: unreadable,
			err: fmt.Errorf("POST %s: HTTP %d: choices[0].message.content is neither a string nor text parts: %s", o.endpoint, resp.StatusCode, o.excerpt(data))}
	}
	text = strings.TrimSpace(text)
	if text == "" {
		if c.FinishReason == "content_filter" {
			return "", &attemptError{user: "⚠️ The agent's API withheld the answer (content filter).",
				err: fmt.Errorf("POST %s: empty answer, finish_reason %q", o.endpoint, c.FinishReason)}
		}
		return "", &attemptError{user: UserEmpty, err: fmt.Errorf("POST %s: empty answer (finish_reason %q): %s", o.endpoint, c.FinishReason, o.excerpt(data))}
	}
	return text, nil
}

// contentText reads a message content: a string, null (no text), or an
// array of parts of which the "text" ones count.
func contentText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" || p.Type == "output_text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), true
}

// excerpt returns body as valid UTF-8 on one line, the API key redacted,
// cut to at most maxExcerptBytes bytes, for error messages. Redacting before
// cutting matters: a key cut in half would escape redaction.
func (o *openAI) excerpt(body []byte) string {
	s := o.redact(strings.ToValidUTF8(string(body), "\uFFFD"))
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(empty body)"
	}
	if len(s) <= maxExcerptBytes {
		return s
	}
	const more = " …"
	n := maxExcerptBytes - len(more)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + more
}
