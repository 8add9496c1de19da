package telegram

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

const testSecret = "hermes_webhook-Secret123"

const validUpdate = `{"update_id":100001,"message":{"message_id":5,"date":1700000000,"chat":{"id":42,"type":"private"},"from":{"id":42,"is_bot":false,"first_name":"Ann"},"text":"hi"}}`

func TestWebhookHandlerRequests(t *testing.T) {
	sink := newRecordingSink()
	h := NewWebhookHandler(testSecret, 1024, sink.sink, nil)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)

	cases := []struct {
		name    string
		method  string
		secret  *string
		body    string
		status  int
		storage bool
	}{
		{"valid", http.MethodPost, ptr(testSecret), validUpdate, http.StatusOK, true},
		{"get", http.MethodGet, ptr(testSecret), "", http.StatusMethodNotAllowed, false},
		{"put", http.MethodPut, ptr(testSecret), validUpdate, http.StatusMethodNotAllowed, false},
		{"no secret", http.MethodPost, nil, validUpdate, http.StatusUnauthorized, false},
		{"empty secret", http.MethodPost, ptr(""), validUpdate, http.StatusForbidden, false},
		{"wrong secret", http.MethodPost, ptr(testSecret + "x"), validUpdate, http.StatusForbidden, false},
		{"secret prefix", http.MethodPost, ptr(testSecret[:5]), validUpdate, http.StatusForbidden, false},
		{"too large", http.MethodPost, ptr(testSecret), `{"update_id":1,"message":{"text":"` + strings.Repeat("x", 2000) + `"}}`, http.StatusRequestEntityTooLarge, false},
		{"malformed", http.MethodPost, ptr(testSecret), `{"update_id":1,`, http.StatusBadRequest, false},
		{"not an object", http.MethodPost, ptr(testSecret), `[1,2]`, http.StatusBadRequest, false},
		{"missing update_id", http.MethodPost, ptr(testSecret), `{"message":{"text":"hi"}}`, http.StatusBadRequest, false},
		{"string update_id", http.MethodPost, ptr(testSecret), `{"update_id":"1"}`, http.StatusBadRequest, false},
		{"zero update_id", http.MethodPost, ptr(testSecret), `{"update_id":0}`, http.StatusBadRequest, false},
		{"empty body", http.MethodPost, ptr(testSecret), ``, http.StatusBadRequest, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(sink.ids())
			req, err := http.NewRequest(tc.method, ts.URL, strings.NewReader(tc.body))
			require.NoError(t, err)
			if tc.secret != nil {
				req.Header.Set(SecretHeader, *tc.secret)
			}
			resp, err := ts.Client().Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.storage {
				require.Len(t, sink.ids(), before+1)
			} else {
				require.Len(t, sink.ids(), before, "nothing may reach the sink")
			}
		})
	}
	// Over the limit without a Content-Length (chunked): still 413.
	big := io.MultiReader(strings.NewReader(`{"update_id":1,"message":{"text":"`), strings.NewReader(strings.Repeat("x", 2000)+`"}}`))
	req, err := http.NewRequest(http.MethodPost, ts.URL, big)
	require.NoError(t, err)
	req.Header.Set(SecretHeader, testSecret)
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Len(t, sink.ids(), 1)

	d := sink.get(0)
	require.Equal(t, 100001, d.update.UpdateID)
	require.Equal(t, "hi", d.update.Message.Text)
	require.JSONEq(t, validUpdate, string(d.raw))
}

func ptr[T any](v T) *T { return &v }

func TestWebhookHandlerSinkFailureIs500(t *testing.T) {
	sink := newRecordingSink()
	sink.fail = func(int, delivery) error { return errors.New("store unavailable") }
	ts := httptest.NewServer(NewWebhookHandler(testSecret, 0, sink.sink, nil))
	t.Cleanup(ts.Close)
	req, err := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader(validUpdate))
	require.NoError(t, err)
	req.Header.Set(SecretHeader, testSecret)
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.NotContains(t, string(body), "store unavailable", "internal errors stay in the log")
}

func TestWebhookHandlerWithoutSecretRejectsAll(t *testing.T) {
	sink := newRecordingSink()
	h := NewWebhookHandler("", 0, sink.sink, nil)
	for _, secret := range []string{"", "anything"} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(validUpdate))
		req.Header.Set(SecretHeader, secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusForbidden, rec.Code)
	}
	require.Empty(t, sink.ids())
}

func TestWebhookHandlerUndecodableUpdate(t *testing.T) {
	sink := newRecordingSink()
	h := NewWebhookHandler(testSecret, 0, sink.sink, nil)
	body := `{"update_id":7,"message":{"message_id":"seven"}}`
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set(SecretHeader, testSecret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	d := sink.get(0)
	require.Zero(t, d.update.UpdateID)
	require.Equal(t, body, string(d.raw))
}

// End to end: the fake delivers to the handler with the secret header,
// and retries (with the same update) after a 500.
func TestWebhookEndToEnd(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{WebhookRetryBase: 5 * time.Millisecond, WebhookRetryMax: 10 * time.Millisecond})
	c := newTestClient(t, srv, ClientOptions{})
	sink := newRecordingSink()
	sink.fail = func(n int, _ delivery) error {
		if n == 1 {
			return errors.New("store busy")
		}
		return nil
	}
	ts := httptest.NewServer(NewWebhookHandler(testSecret, 0, sink.sink, nil))
	t.Cleanup(ts.Close)
	require.NoError(t, c.SetWebhook(ctx, ts.URL, testSecret, nil))

	id := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "via webhook"})
	require.NoError(t, srv.WaitForConfirmed(ctx, id))
	require.Equal(t, []int{id, id}, sink.ids(), "redelivered after the 500, confirmed after the 200")
	require.Equal(t, "via webhook", sink.get(1).update.Message.Text)
	info, err := c.WebhookInfo(ctx)
	require.NoError(t, err)
	require.Contains(t, info.LastErrorMessage, "500")
	require.Zero(t, info.PendingUpdateCount)
}

func TestWebhookEndToEndWrongSecret(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{WebhookRetryBase: 5 * time.Millisecond, WebhookRetryMax: 10 * time.Millisecond})
	c := newTestClient(t, srv, ClientOptions{})
	sink := newRecordingSink()
	handler := NewWebhookHandler(testSecret, 0, sink.sink, nil)
	statuses := make(chan int, 100)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, r)
		w.WriteHeader(rec.Code)
		statuses <- rec.Code
	}))
	t.Cleanup(ts.Close)
	require.NoError(t, c.SetWebhook(ctx, ts.URL, "someone_elses_secret", nil))

	id := srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "spoofed?"})
	for range 3 {
		select {
		case code := <-statuses:
			require.Equal(t, http.StatusForbidden, code)
		case <-ctx.Done():
			t.Fatal("no webhook delivery")
		}
	}
	require.Empty(t, sink.ids())
	require.Less(t, srv.ConfirmedOffset(), id+1)
	require.Contains(t, srv.WebhookInfo().LastErrorMessage, strconv.Itoa(http.StatusForbidden))
}
