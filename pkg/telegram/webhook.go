package telegram

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
)

// SecretHeader carries setWebhook's secret_token on every webhook POST.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// DefaultMaxWebhookBody is the body limit when none is given.
const DefaultMaxWebhookBody = 1 << 20

// WebhookHandler receives updates that Telegram POSTs after SetWebhook and
// hands them to a Sink. It answers 200 only once the Sink has stored the
// update, so that Telegram keeps (and retries) anything not stored:
//
//   - not POST: 405;
//   - secret header missing: 401, wrong: 403 (nothing is read or stored;
//     only Telegram knows the secret, so this is someone else);
//   - body over maxBody: 413;
//   - not a JSON object with a positive integer update_id: 400 (Telegram
//     never sends that, and retrying would not fix it);
//   - Sink error: 500, and Telegram retries later with backoff.
//
// As with the Poller, an update tgbotapi cannot decode is passed as raw JSON
// with a zero Update. Requests may be concurrent unless the webhook was set
// with max_connections 1 (SetWebhook does that), so the Sink must be safe
// for concurrent use, and idempotent on update_id since an update whose 200
// was lost on the way is delivered again.
type WebhookHandler struct {
	secret  [sha256.Size]byte
	noSec   bool
	maxBody int64
	sink    Sink
	log     *slog.Logger
}

// NewWebhookHandler returns a handler accepting requests that carry secret.
// An empty secret rejects every request: the endpoint is public, and the
// secret is all that tells Telegram from anyone else. maxBody <= 0 means
// DefaultMaxWebhookBody.
func NewWebhookHandler(secret string, maxBody int64, sink Sink, log *slog.Logger) *WebhookHandler {
	if maxBody <= 0 {
		maxBody = DefaultMaxWebhookBody
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &WebhookHandler{secret: sha256.Sum256([]byte(secret)), noSec: secret == "", maxBody: maxBody, sink: sink, log: log}
}

func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	got, present := r.Header[http.CanonicalHeaderKey(SecretHeader)]
	if !present || len(got) == 0 {
		h.log.Warn("telegram: webhook request without secret header; rejected", "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	// Comparing hashes keeps the comparison constant-time in the length
	// too, so the secret's length does not leak either.
	sum := sha256.Sum256([]byte(got[0]))
	if h.noSec || len(got) != 1 || subtle.ConstantTimeCompare(sum[:], h.secret[:]) != 1 {
		h.log.Warn("telegram: webhook request with wrong secret; rejected", "remote", r.RemoteAddr)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if r.ContentLength > h.maxBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	in, err := decodeUpdate(body)
	if err != nil {
		h.log.Warn("telegram: webhook body is not an update; rejected", "err", err)
		http.Error(w, "body is not a Telegram update", http.StatusBadRequest)
		return
	}
	if in.err != nil {
		h.log.Warn("telegram: update cannot be decoded; handing its raw JSON to the sink", "update_id", in.id, "err", in.err)
	}
	if err := h.sink(r.Context(), in.update, in.raw); err != nil {
		h.log.Error("telegram: update not stored; Telegram will deliver it again", "update_id", in.id, "err", err)
		http.Error(w, "update not stored", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}
