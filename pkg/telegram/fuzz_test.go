package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/.

// maxFuzzInput bounds the inputs worth running. The mutator can grow inputs
// to tens of megabytes; running (and minimizing) those takes seconds per
// input, and a worker stopped at -fuzztime in the middle of that is reported
// as a failure ("fuzzing process hung or terminated unexpectedly while
// minimizing"). Nothing here behaves differently at larger sizes.
const maxFuzzInput = 8 << 10

// FuzzDecodeUpdates: decoding a getUpdates result never panics; what it
// returns is ordered, and an update is either fully decoded with the id we
// confirm by, or zero with its raw JSON.
func FuzzDecodeUpdates(f *testing.F) {
	f.Add([]byte(`[{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"hi"}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		ups, err := decodeUpdates(data)
		if err != nil {
			return
		}
		var prev int64
		seenIDless := false
		for i, in := range ups {
			if !json.Valid(in.raw) {
				t.Fatalf("element %d: raw is not JSON: %q", i, in.raw)
			}
			if in.id <= 0 {
				seenIDless = true
				if in.id != 0 || in.update != (tgbotapi.Update{}) || in.err == nil {
					t.Fatalf("element %d: no id but %+v", i, in)
				}
				continue
			}
			if seenIDless || in.id < prev {
				t.Fatalf("element %d (id %d) out of order", i, in.id)
			}
			prev = in.id
			if in.err == nil && int64(in.update.UpdateID) != in.id {
				t.Fatalf("element %d: decoded update_id %d, confirmed by %d", i, in.update.UpdateID, in.id)
			}
			if in.err != nil && in.update != (tgbotapi.Update{}) {
				t.Fatalf("element %d: undecodable but not zero", i)
			}
		}
	})
}

// isUpdate is the fuzz oracle, written independently of decodeUpdate: a
// JSON object whose "update_id" is a positive integer.
func isUpdate(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.InputOffset() == 0 {
		return false
	}
	if _, err := dec.Token(); err != io.EOF { // trailing data
		return false
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	num, ok := obj["update_id"].(json.Number)
	if !ok {
		return false
	}
	n, err := num.Int64()
	return err == nil && n > 0
}

// FuzzWebhookHandler: whatever arrives, the handler does not panic, and the
// sink is called exactly when the request is a POST with the right secret
// and a body within the limit that is an update.
func FuzzWebhookHandler(f *testing.F) {
	f.Add("POST", true, testSecret, []byte(validUpdate))
	f.Add("POST", false, "", []byte(validUpdate))
	f.Add("GET", true, testSecret, []byte(validUpdate))
	f.Add("POST", true, testSecret, []byte(`{"update_id":1,`))
	const maxBody = 512
	f.Fuzz(func(t *testing.T, method string, withSecret bool, secret string, body []byte) {
		called := 0
		sink := func(_ context.Context, u tgbotapi.Update, raw json.RawMessage) error {
			called++
			if !bytes.Equal(raw, body) {
				t.Fatalf("sink got %q, body was %q", raw, body)
			}
			if u.UpdateID != 0 && !isUpdate(raw) {
				t.Fatalf("decoded an update from %q", raw)
			}
			return nil
		}
		h := NewWebhookHandler(testSecret, maxBody, sink, nil)
		req := &http.Request{
			Method:        method,
			URL:           &url.URL{Path: "/telegram"},
			Header:        http.Header{},
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
			RemoteAddr:    "192.0.2.1:1234",
		}
		if withSecret {
			req.Header[http.CanonicalHeaderKey(SecretHeader)] = []string{secret}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		want := method == http.MethodPost && withSecret && secret == testSecret && len(body) <= maxBody && isUpdate(body)
		if want != (called == 1) || called > 1 {
			t.Fatalf("sink called %d times, want %v (status %d)", called, want, rec.Code)
		}
		if want != (rec.Code == http.StatusOK) {
			t.Fatalf("status %d, sink expected: %v", rec.Code, want)
		}
	})
}
