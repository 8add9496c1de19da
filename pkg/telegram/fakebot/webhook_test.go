package fakebot

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hookRequest is one delivery the test webhook received.
type hookRequest struct {
	Secret   string
	UpdateID int
	Text     string
}

// scriptedHook answers deliveries with statuses in order (the last one
// repeats) and reports each delivery on a channel.
func scriptedHook(t *testing.T, statuses ...int) (*httptest.Server, <-chan hookRequest) {
	t.Helper()
	got := make(chan hookRequest, 100)
	var (
		mu sync.Mutex
		n  int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var u testUpdate
		_ = json.Unmarshal(body, &u)
		hr := hookRequest{Secret: r.Header.Get("X-Telegram-Bot-Api-Secret-Token"), UpdateID: u.UpdateID}
		if u.Message != nil {
			hr.Text = u.Message.Text
		}
		mu.Lock()
		status := statuses[min(n, len(statuses)-1)]
		n++
		mu.Unlock()
		got <- hr
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func fastWebhookOptions() Options {
	return Options{WebhookRetryBase: time.Millisecond, WebhookRetryMax: 4 * time.Millisecond}
}

func TestWebhookDeliveryRetriesUntil2xx(t *testing.T) {
	s := newTestServer(t, fastWebhookOptions())
	hook, got := scriptedHook(t, 500, 502, 200)
	ctx := testContext(t)

	id := s.InjectMessage(UserMessage{UserID: 42, Text: "via webhook"})
	var ok bool
	call(t, s, "setWebhook", vals("url", hook.URL, "secret_token", "s3cr3t_-X")).result(t, &ok)
	require.NoError(t, s.WaitForConfirmed(ctx, id))

	for range 3 {
		require.Equal(t, hookRequest{Secret: "s3cr3t_-X", UpdateID: id, Text: "via webhook"}, <-got,
			"the same update is retried, with the secret header")
	}
	info := s.WebhookInfo()
	require.Equal(t, hook.URL, info.URL)
	require.Equal(t, 0, info.PendingUpdateCount)
	require.Equal(t, "Wrong response from the webhook: 502 Bad Gateway", info.LastErrorMessage)
	require.NotZero(t, info.LastErrorDate)
	require.Equal(t, id+1, s.ConfirmedOffset())
	st := s.Stats()
	require.Equal(t, 1, st.WebhookDelivered)
	require.Equal(t, 2, st.WebhookFailed)
}

func TestWebhookDeliversInOrderOneAtATime(t *testing.T) {
	s := newTestServer(t, fastWebhookOptions())
	hook, got := scriptedHook(t, 200)
	ctx := testContext(t)

	call(t, s, "setWebhook", vals("url", hook.URL))
	ids := injectN(s, 42, 5)
	require.NoError(t, s.WaitForConfirmed(ctx, ids[4]))
	for _, id := range ids {
		r := <-got
		require.Equal(t, id, r.UpdateID)
		require.Empty(t, r.Secret, "no secret header without secret_token")
	}
}

func TestWebhookConnectionErrorIsRecorded(t *testing.T) {
	s := newTestServer(t, fastWebhookOptions())
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there any more

	s.InjectMessage(UserMessage{UserID: 42, Text: "x"})
	call(t, s, "setWebhook", vals("url", deadURL))
	ctx := testContext(t)
	require.NoError(t, s.waitUntil(ctx, func() bool { return s.webhook.failed >= 2 }))
	info := s.WebhookInfo()
	require.Equal(t, "Connection refused", info.LastErrorMessage)
	require.Equal(t, 1, info.PendingUpdateCount, "an undelivered update stays pending")

	// Moving the webhook to a working URL delivers the pending update.
	hook, got := scriptedHook(t, 200)
	call(t, s, "setWebhook", vals("url", hook.URL))
	require.Equal(t, "x", (<-got).Text)
}

func TestWebhookDropPendingUpdates(t *testing.T) {
	s := newTestServer(t, fastWebhookOptions())
	injectN(s, 42, 3)

	// deleteWebhook with drop_pending_updates works without a webhook too.
	var ok bool
	r := call(t, s, "deleteWebhook", vals("drop_pending_updates", "true"))
	r.result(t, &ok)
	require.JSONEq(t, `{"ok":true,"result":true,"description":"Webhook is already deleted"}`, r.Body)
	require.Equal(t, 0, s.PendingUpdates())

	injectN(s, 42, 2)
	hook, got := scriptedHook(t, 200)
	r = call(t, s, "setWebhook", vals("url", hook.URL, "drop_pending_updates", "True"))
	require.JSONEq(t, `{"ok":true,"result":true,"description":"Webhook was set"}`, r.Body)
	id := s.InjectMessage(UserMessage{UserID: 42, Text: "after"})
	require.NoError(t, s.WaitForConfirmed(testContext(t), id))
	require.Equal(t, hookRequest{UpdateID: id, Text: "after"}, <-got, "dropped updates are never delivered")
}

func TestSetWebhookValidation(t *testing.T) {
	s := newTestServer(t, Options{})
	tests := []struct {
		name   string
		params []string
		desc   string
	}{
		{"secret with bad chars", []string{"url", "http://127.0.0.1/x", "secret_token", "no spaces"}, "Bad Request: secret token contains unallowed characters"},
		{"secret too long", []string{"url", "http://127.0.0.1/x", "secret_token", strings.Repeat("a", 257)}, "Bad Request: secret token is too long"},
		{"not a URL", []string{"url", "not a url"}, "Bad Request: invalid webhook URL specified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			call(t, s, "setWebhook", vals(tc.params...)).requireError(t, 400, tc.desc)
		})
	}
	call(t, s, "setWebhook", vals("url", "http://127.0.0.1/x", "secret_token", strings.Repeat("a", 256))).result(t, new(bool))

	strict := newTestServer(t, Options{StrictWebhookURL: true})
	call(t, strict, "setWebhook", vals("url", "http://example.org/x")).requireError(t, 400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
	call(t, strict, "setWebhook", vals("url", "https://example.org:9999/x")).requireError(t, 400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
}

func TestGetWebhookInfo(t *testing.T) {
	s := newTestServer(t, Options{})
	injectN(s, 42, 2)
	r := call(t, s, "getWebhookInfo", nil)
	require.JSONEq(t, `{"ok":true,"result":{"url":"","has_custom_certificate":false,"pending_update_count":2}}`, r.Body)

	// An unreachable port: deliveries fail and retry with the default 1s backoff.
	call(t, s, "setWebhook", vals("url", "http://127.0.0.1:9/h", "max_connections", "500", "allowed_updates", `["message"]`))
	var info WebhookInfo
	call(t, s, "getWebhookInfo", nil).result(t, &info)
	require.Equal(t, "http://127.0.0.1:9/h", info.URL)
	require.Equal(t, 100, info.MaxConnections, "max_connections is clamped to 1..100")
	require.Equal(t, []string{"message"}, info.AllowedUpdates)
}

func TestSetWebhookTerminatesLongPoll(t *testing.T) {
	s := newTestServer(t, Options{PollTimeUnit: testTimeout})
	ctx := testContext(t)
	poll := asyncCall(ctx, s, "getUpdates", vals("timeout", "50"))
	require.NoError(t, s.WaitForLongPoll(ctx))
	call(t, s, "setWebhook", vals("url", "http://127.0.0.1:9/h"))
	(<-poll).requireError(t, 409, "Conflict: terminated by setWebhook request")
}
