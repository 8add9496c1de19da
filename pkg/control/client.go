package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/hermes-gateway/hermes/pkg/instance"
)

// DefaultSocketPath is where the socket unit of the instance named by
// $HERMES_INSTANCE listens: $XDG_RUNTIME_DIR/hermes/gateway.sock for the
// default instance, $XDG_RUNTIME_DIR/hermes/NAME/gateway.sock for a named one.
func DefaultSocketPath() string { return instance.CurrentOrDefault().ControlSocket() }

// Client talks to the control API. Every call takes a context: a command
// never waits without a deadline.
type Client struct {
	Path string
	hc   *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		// One connection per request: a kept-alive connection to a process
		// that has since drained and exited would fail the next request.
		DisableKeepAlives: true,
	}
	return &Client{Path: path, hc: &http.Client{Transport: tr}}
}

// APIError is a 4xx/5xx answer from the gateway.
type APIError struct {
	Code int
	Body Error
}

func (e *APIError) Error() string {
	if e.Body.Fix != "" {
		return fmt.Sprintf("gateway answered %d: %s (%s)", e.Code, e.Body.Error, e.Body.Fix)
	}
	return fmt.Sprintf("gateway answered %d: %s", e.Code, e.Body.Error)
}

// ErrNotListening means nothing listens on the control socket: the socket
// unit is stopped (or was never installed) and no gateway runs by hand.
var ErrNotListening = errors.New("nothing listens on the control socket")

func (c *Client) do(ctx context.Context, method, path string, in, out any, okCodes ...int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://hermes"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w (%s): start it with `hermes gateway start`, or install the units with `hermes install-unit`", ErrNotListening, c.Path)
		}
		return fmt.Errorf("control request %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the answer to %s %s: %w", method, path, err)
	}
	for _, ok := range okCodes {
		if resp.StatusCode == ok {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("decode the answer to %s %s: %w", method, path, err)
			}
			return nil
		}
	}
	apiErr := &APIError{Code: resp.StatusCode}
	if json.Unmarshal(data, &apiErr.Body) != nil || apiErr.Body.Error == "" {
		apiErr.Body.Error = string(bytes.TrimSpace(data))
	}
	return apiErr
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s, http.StatusOK); err != nil {
		return nil, err
	}
	return &s, nil
}

// Health is GET /v1/health; a gateway that is not ready answers 503 with its
// state, which is returned without error.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.do(ctx, http.MethodGet, "/v1/health", nil, &h, http.StatusOK, http.StatusServiceUnavailable); err != nil {
		return nil, err
	}
	return &h, nil
}

// Restart asks the gateway to drain and exit 75.
func (c *Client) Restart(ctx context.Context, reason string) error {
	return c.do(ctx, http.MethodPost, "/v1/restart", RestartRequest{Reason: reason}, nil, http.StatusAccepted)
}

// Do sends any request, for endpoints added with Server.Handle.
func (c *Client) Do(ctx context.Context, method, path string, in, out any, okCodes ...int) error {
	return c.do(ctx, method, path, in, out, okCodes...)
}
