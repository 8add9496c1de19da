package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// DefaultAPIURL is the Bot API server root.
const DefaultAPIURL = "https://api.telegram.org"

const (
	defaultRequestTimeout = 30 * time.Second
	// maxResponseBytes bounds what we read from the Bot API. A getUpdates
	// answer holds at most 100 updates; this is far above any real answer
	// and only protects against a misbehaving proxy streaming forever.
	maxResponseBytes = 32 << 20
	redactedToken    = "<redacted>"
)

// ClientOptions configures a Client. The zero value is usable.
type ClientOptions struct {
	// Transport carries the requests; default a clone of
	// http.DefaultTransport (which honours HTTPS_PROXY).
	Transport http.RoundTripper
	// RequestTimeout bounds one call; default 30s. A long poll gets its
	// poll timeout on top of it, so the HTTP deadline is always above the
	// time Telegram may legitimately hold the request open. (There is no
	// http.Client.Timeout: every deadline comes from the call's context.)
	RequestTimeout time.Duration
}

// Client calls the Bot API. It speaks the same dialect as
// tgbotapi.BotAPI (form-encoded POSTs to {root}/bot{token}/{method}) and
// uses tgbotapi's types for parameters and results, but it makes the HTTP
// requests itself, because tgbotapi's methods take no context (a long poll
// could not be cancelled on shutdown) and its errors embed the token-bearing
// URL. A Client is safe for concurrent use.
type Client struct {
	token   string
	root    string
	http    *http.Client
	timeout time.Duration
	// secrets are the forms in which the token can appear in text.
	secrets []string
}

// NewClient returns a Client for token at apiURL (the server root, e.g.
// "https://api.telegram.org"; "" means DefaultAPIURL). It makes no network
// call (unlike tgbotapi.NewBotAPI, which calls getMe): the gateway must be
// able to start, and report a useful state, while Telegram is unreachable.
// Use GetMe to check the token.
func NewClient(token, apiURL string, opts ClientOptions) (*Client, error) {
	if token == "" || strings.ContainsAny(token, "/?#% \t\r\n") {
		// Do not echo the token: this error goes to the journal.
		return nil, errors.New("telegram: the bot token is empty or contains characters that cannot appear in a token")
	}
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telegram: API URL %q is not an http(s) URL", apiURL)
	}
	tr := opts.Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = defaultRequestTimeout
	}
	c := &Client{
		token:   token,
		root:    strings.TrimRight(apiURL, "/"),
		http:    &http.Client{Transport: tr},
		timeout: opts.RequestTimeout,
	}
	for _, s := range []string{token, url.PathEscape(token), url.QueryEscape(token)} {
		if !containsString(c.secrets, s) {
			c.secrets = append(c.secrets, s)
		}
	}
	return c, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Redact replaces the bot token (also URL-escaped) in s by "<redacted>".
// Everything this package returns is already redacted; use it for text
// from elsewhere that may hold a request URL.
func (c *Client) Redact(s string) string {
	for _, secret := range c.secrets {
		s = strings.ReplaceAll(s, secret, redactedToken)
	}
	return s
}

func (c *Client) hasSecret(s string) bool {
	for _, secret := range c.secrets {
		if strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// APIError is an error answer of the Bot API ({"ok":false,...}), or an HTTP
// error status whose body was not the JSON envelope (a proxy's HTML page).
type APIError struct {
	// Code is error_code: 400, 401, 403, 404, 409, 429, 5xx.
	Code int
	// Description is Telegram's text, e.g. "Bad Request: chat not found".
	Description string
	// RetryAfter is parameters.retry_after of a 429 (flood control).
	RetryAfter time.Duration
	// MigrateToChatID is parameters.migrate_to_chat_id: the group became a
	// supergroup with this id, and sends must go there.
	MigrateToChatID int64
}

func (e *APIError) Error() string {
	return strconv.Itoa(e.Code) + " " + e.Description
}

// IsUnauthorized reports whether Telegram rejected the token (401). The
// gateway treats this as a configuration error (exit 78): retrying cannot
// help. A network error is not this.
func IsUnauthorized(err error) bool { return apiCode(err) == http.StatusUnauthorized }

// IsConflict reports a 409: another getUpdates poller with the same token,
// or getUpdates while a webhook is set.
func IsConflict(err error) bool { return apiCode(err) == http.StatusConflict }

func apiCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

// retryAfter returns the flood-control wait of a 429.
func retryAfter(err error) (time.Duration, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == http.StatusTooManyRequests && ae.RetryAfter > 0 {
		return ae.RetryAfter, true
	}
	return 0, false
}

// temporary reports whether a failed call may succeed if repeated: flood
// control, server errors, and everything that is not an answer from
// Telegram (network errors, timeouts, garbled answers). 4xx answers other
// than 429 are final.
func temporary(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code == http.StatusTooManyRequests || ae.Code >= 500
	}
	return true
}

// Error is the error every failed call returns: the method and the cause
// (an *APIError, or a transport error), with the token redacted both from
// the text and from the unwrap chain.
type Error struct {
	Method string
	Err    error
}

func (e *Error) Error() string { return "telegram: " + e.Method + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// redactedError stands in for an error whose text contains the token and
// that we cannot rebuild without it. It keeps errors.Is working (so callers
// still see context.Canceled, syscall.ECONNREFUSED, ...) but does not
// unwrap, so the original text cannot be reached.
type redactedError struct {
	msg  string
	orig error
}

func (e *redactedError) Error() string        { return e.msg }
func (e *redactedError) Is(target error) bool { return errors.Is(e.orig, target) }

// sanitize removes the token from err and its chain. *url.Error, which is
// how the token usually arrives (net/http quotes the request URL), is
// rebuilt with a redacted URL so that errors.As and Timeout() keep working.
func (c *Client) sanitize(err error) error {
	if err == nil || !c.hasSecret(err.Error()) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue == err {
		return &url.Error{Op: ue.Op, URL: c.Redact(ue.URL), Err: c.sanitize(ue.Err)}
	}
	var ae *APIError
	if errors.As(err, &ae) && ae == err {
		cp := *ae
		cp.Description = c.Redact(ae.Description)
		return &cp
	}
	return &redactedError{msg: c.Redact(err.Error()), orig: err}
}

func (c *Client) fail(method string, err error) error {
	return &Error{Method: method, Err: c.sanitize(err)}
}

// Call invokes a Bot API method with form parameters and, if result is not
// nil, decodes the answer's "result" into it. It is the escape hatch for
// methods this package has no wrapper for (setMyCommands, ...).
func (c *Client) Call(ctx context.Context, method string, params url.Values, result any) error {
	raw, err := c.call(ctx, method, params, 0)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return c.fail(method, fmt.Errorf("decode result: %w", err))
	}
	return nil
}

// call POSTs one method call and returns the raw result. extra lengthens the
// deadline (by the long-poll timeout for getUpdates).
func (c *Client) call(ctx context.Context, method string, params url.Values, extra time.Duration) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout+extra)
	defer cancel()
	endpoint := c.root + "/bot" + c.token + "/" + method
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, c.fail(method, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.fail(method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, c.fail(method, fmt.Errorf("read answer: %w", err))
	}
	if len(body) > maxResponseBytes {
		return nil, c.fail(method, fmt.Errorf("answer larger than %d bytes", maxResponseBytes))
	}
	var env tgbotapi.APIResponse
	if err := json.Unmarshal(body, &env); err != nil || (!env.Ok && env.ErrorCode == 0) {
		if resp.StatusCode != http.StatusOK {
			// Telegram's front end answers outages with nginx HTML pages.
			return nil, c.fail(method, &APIError{Code: resp.StatusCode, Description: http.StatusText(resp.StatusCode)})
		}
		return nil, c.fail(method, fmt.Errorf("answer is not a Bot API response (HTTP %d, %d bytes)", resp.StatusCode, len(body)))
	}
	if !env.Ok {
		ae := &APIError{Code: env.ErrorCode, Description: env.Description}
		if p := env.Parameters; p != nil {
			ae.RetryAfter = time.Duration(p.RetryAfter) * time.Second
			ae.MigrateToChatID = p.MigrateToChatID
		}
		return nil, c.fail(method, ae)
	}
	return env.Result, nil
}

// GetMe returns the bot's own user; it is the cheap way to check the token
// (IsUnauthorized on the error) and the connection.
func (c *Client) GetMe(ctx context.Context) (tgbotapi.User, error) {
	var u tgbotapi.User
	err := c.Call(ctx, "getMe", nil, &u)
	return u, err
}

// SetWebhook makes Telegram POST updates to webhookURL with secret in the
// X-Telegram-Bot-Api-Secret-Token header. It never sets
// drop_pending_updates: updates that arrived while the gateway was down must
// be delivered. max_connections is 1 so that updates arrive one at a time,
// in order, as they do when polling. allowedUpdates nil keeps Telegram's
// current setting.
func (c *Client) SetWebhook(ctx context.Context, webhookURL, secret string, allowedUpdates []string) error {
	if err := validSecret(secret); err != nil {
		return fmt.Errorf("telegram: setWebhook: secret token %w", err)
	}
	p := url.Values{}
	p.Set("url", webhookURL)
	p.Set("secret_token", secret)
	p.Set("max_connections", "1")
	if err := setAllowedUpdates(p, allowedUpdates); err != nil {
		return err
	}
	var ok bool
	return c.Call(ctx, "setWebhook", p, &ok)
}

// DeleteWebhook switches the bot back to getUpdates. It never sets
// drop_pending_updates, so nothing queued is lost.
func (c *Client) DeleteWebhook(ctx context.Context) error {
	var ok bool
	return c.Call(ctx, "deleteWebhook", nil, &ok)
}

// WebhookInfo returns getWebhookInfo (URL "" when polling is possible).
func (c *Client) WebhookInfo(ctx context.Context) (tgbotapi.WebhookInfo, error) {
	var info tgbotapi.WebhookInfo
	err := c.Call(ctx, "getWebhookInfo", nil, &info)
	return info, err
}

func setAllowedUpdates(p url.Values, allowed []string) error {
	if allowed == nil {
		return nil
	}
	b, err := json.Marshal(allowed)
	if err != nil {
		return fmt.Errorf("telegram: allowed_updates: %w", err)
	}
	p.Set("allowed_updates", string(b))
	return nil
}

// getUpdates fetches updates with id >= offset (0: from the oldest pending;
// never negative, which would forget updates). timeout 0 answers at once.
func (c *Client) getUpdates(ctx context.Context, offset int64, limit int, timeout time.Duration, allowed []string) ([]incoming, error) {
	p := url.Values{}
	if offset > 0 {
		p.Set("offset", strconv.FormatInt(offset, 10))
	}
	p.Set("limit", strconv.Itoa(limit))
	p.Set("timeout", strconv.Itoa(int(timeout/time.Second)))
	if err := setAllowedUpdates(p, allowed); err != nil {
		return nil, err
	}
	raw, err := c.call(ctx, "getUpdates", p, timeout)
	if err != nil {
		return nil, err
	}
	ups, err := decodeUpdates(raw)
	if err != nil {
		return nil, c.fail("getUpdates", err)
	}
	return ups, nil
}

// sendMessage sends plain text: no parse_mode, so that arbitrary agent
// output can never be rejected for bad markup. A reply tolerates a deleted
// original (allow_sending_without_reply) rather than losing the answer.
// sendMessage sends text, formatted by entities (a JSON array of
// MessageEntity, "" for plain text).
func (c *Client) sendMessage(ctx context.Context, chatID int64, text, entities string, replyTo int) (tgbotapi.Message, error) {
	p := url.Values{}
	p.Set("chat_id", strconv.FormatInt(chatID, 10))
	p.Set("text", text)
	if entities != "" {
		p.Set("entities", entities)
	}
	if replyTo > 0 {
		p.Set("reply_parameters", `{"message_id":`+strconv.Itoa(replyTo)+`,"allow_sending_without_reply":true}`)
	}
	var m tgbotapi.Message
	err := c.Call(ctx, "sendMessage", p, &m)
	return m, err
}

func (c *Client) sendChatAction(ctx context.Context, chatID int64, action string) error {
	p := url.Values{}
	p.Set("chat_id", strconv.FormatInt(chatID, 10))
	p.Set("action", action)
	var ok bool
	return c.Call(ctx, "sendChatAction", p, &ok)
}
