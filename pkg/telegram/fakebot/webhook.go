package fakebot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// secretTokenHeader carries setWebhook's secret_token on every delivery.
const secretTokenHeader = "X-Telegram-Bot-Api-Secret-Token"

type webhookState struct {
	url            string
	secret         string
	maxConnections int
	allowedSet     bool
	// gen changes whenever the webhook is set or deleted, so an in-flight
	// delivery to an old URL does not confirm or fail against the new one.
	gen           int
	lastErrorDate int64
	lastErrorMsg  string
	delivered     int
	failed        int
}

// validSecretToken: 1-256 characters, only A-Z, a-z, 0-9, _ and -.
func validSecretToken(s string) *APIError {
	if len(s) > 256 {
		return badRequest("secret token is too long")
	}
	for i := range len(s) {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' {
			return badRequest("secret token contains unallowed characters")
		}
	}
	return nil
}

func (s *Server) validWebhookURL(raw string) *APIError {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return badRequest("invalid webhook URL specified")
	}
	if s.opts.StrictWebhookURL {
		if u.Scheme != "https" {
			return badRequest("bad webhook: An HTTPS URL must be provided for webhook")
		}
		if p := u.Port(); p != "" && !slices.Contains([]string{"443", "80", "88", "8443"}, p) {
			return badRequest("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
		}
	}
	return nil
}

// handleSetWebhook implements setWebhook; an empty url removes the webhook,
// as in Telegram.
func (s *Server) handleSetWebhook(r *http.Request, p params) (any, error) {
	raw := strings.TrimSpace(p.str("url"))
	if raw == "" {
		return s.handleDeleteWebhook(r, p)
	}
	if aerr := s.validWebhookURL(raw); aerr != nil {
		return nil, aerr
	}
	secret := p.str("secret_token")
	if aerr := validSecretToken(secret); aerr != nil {
		return nil, aerr
	}
	allowed, allowedSet, err := p.list("allowed_updates")
	if err != nil {
		return nil, badRequest("can't parse allowed_updates JSON array")
	}
	maxConn := min(max(p.int("max_connections", 40), 1), 100)

	s.mu.Lock()
	defer s.mu.Unlock()
	desc := "Webhook was set"
	if s.webhook.url == raw && s.webhook.secret == secret && s.webhook.maxConnections == maxConn && !allowedSet && !p.bool("drop_pending_updates") {
		desc = "Webhook is already set"
	}
	if p.bool("drop_pending_updates") {
		s.dropPendingLocked()
	}
	if allowedSet {
		s.updates.allowed = slices.Clone(allowed)
		s.webhook.allowedSet = len(allowed) > 0
	}
	if s.webhook.url != raw || s.webhook.secret != secret {
		s.webhook.gen++
		s.webhook.lastErrorDate, s.webhook.lastErrorMsg = 0, ""
	}
	s.webhook.url, s.webhook.secret, s.webhook.maxConnections = raw, secret, maxConn
	// A waiting getUpdates cannot survive the switch to webhook mode.
	s.terminatePollLocked(apiErr(409, DescPollBySetWebhook))
	s.startWebhookLoop()
	s.broadcastLocked()
	s.log.Info("fakebot: webhook set", "url", raw)
	return described{result: true, description: desc}, nil
}

func (s *Server) handleDeleteWebhook(_ *http.Request, p params) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	desc := "Webhook was deleted"
	if s.webhook.url == "" {
		desc = "Webhook is already deleted"
	}
	if p.bool("drop_pending_updates") {
		s.dropPendingLocked()
	}
	s.webhook = webhookState{gen: s.webhook.gen + 1, delivered: s.webhook.delivered, failed: s.webhook.failed}
	s.broadcastLocked()
	return described{result: true, description: desc}, nil
}

// dropPendingLocked discards queued updates (drop_pending_updates). They
// count as confirmed: they will never be delivered.
func (s *Server) dropPendingLocked() {
	if n := len(s.updates.queue); n > 0 {
		s.updates.confirmBelow(s.updates.queue[n-1].id + 1)
	}
}

func (s *Server) handleGetWebhookInfo(_ *http.Request, _ params) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhookInfoLocked(), nil
}

func (s *Server) webhookInfoLocked() WebhookInfo {
	info := WebhookInfo{URL: s.webhook.url, PendingUpdateCount: len(s.updates.queue)}
	if s.webhook.url != "" {
		info.MaxConnections = s.webhook.maxConnections
		info.LastErrorDate = s.webhook.lastErrorDate
		info.LastErrorMessage = s.webhook.lastErrorMsg
		info.IPAddress = "127.0.0.1"
		if s.webhook.allowedSet {
			info.AllowedUpdates = slices.Clone(s.updates.allowed)
		}
	}
	return info
}

// WebhookInfo returns what getWebhookInfo would answer.
func (s *Server) WebhookInfo() WebhookInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhookInfoLocked()
}

// startWebhookLoop starts the single delivery goroutine on first use.
func (s *Server) startWebhookLoop() {
	s.webhookOnce.Do(func() {
		select {
		case <-s.closed:
			return
		default:
		}
		s.wg.Add(1)
		go s.webhookLoop()
	})
}

// webhookLoop delivers pending updates one at a time, in order. An update is
// confirmed when the webhook answers 2xx; otherwise the failure is recorded
// (getWebhookInfo's last_error_*) and the same update is retried after an
// exponential backoff.
func (s *Server) webhookLoop() {
	defer s.wg.Done()
	failures := 0
	for {
		s.mu.Lock()
		for s.webhook.url == "" || len(s.updates.queue) == 0 {
			ch := s.changed
			s.mu.Unlock()
			select {
			case <-ch:
			case <-s.closed:
				return
			}
			s.mu.Lock()
		}
		u := s.updates.queue[0]
		target, secret, gen := s.webhook.url, s.webhook.secret, s.webhook.gen
		s.mu.Unlock()

		errMsg := s.postUpdate(target, secret, u.raw)

		s.mu.Lock()
		if s.webhook.gen != gen {
			// The webhook changed meanwhile; start over against the new one.
			failures = 0
			s.mu.Unlock()
			continue
		}
		if errMsg == "" {
			failures = 0
			s.webhook.delivered++
			if len(s.updates.queue) > 0 && s.updates.queue[0].id == u.id {
				s.updates.confirmBelow(u.id + 1)
			}
			s.broadcastLocked()
			s.mu.Unlock()
			continue
		}
		failures++
		s.webhook.failed++
		s.webhook.lastErrorDate = s.opts.Now().Unix()
		s.webhook.lastErrorMsg = errMsg
		s.broadcastLocked()
		s.mu.Unlock()
		s.log.Info("fakebot: webhook delivery failed", "update_id", u.id, "err", errMsg)
		if !s.backoff(s.retryDelay(failures), gen) {
			return
		}
	}
}

func (s *Server) retryDelay(failures int) time.Duration {
	d := s.opts.WebhookRetryBase
	for i := 1; i < failures && d < s.opts.WebhookRetryMax; i++ {
		d *= 2
	}
	return min(d, s.opts.WebhookRetryMax)
}

// backoff sleeps d, returning early (true) if the webhook is changed or
// deleted, and false if the server closes.
func (s *Server) backoff(d time.Duration, gen int) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s.mu.Lock()
		changed, ch := s.webhook.gen != gen, s.changed
		s.mu.Unlock()
		if changed {
			return true
		}
		select {
		case <-timer.C:
			return true
		case <-s.closed:
			return false
		case <-ch:
		}
	}
}

// postUpdate POSTs one update and returns "" on 2xx or the error message
// Telegram would show in last_error_message.
func (s *Server) postUpdate(target, secret string, body []byte) string {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.WebhookTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Sprintf("Invalid webhook URL: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(secretTokenHeader, secret)
	}
	resp, err := s.opts.WebhookClient.Do(req)
	if err != nil {
		return webhookErrorMessage(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "Wrong response from the webhook: " + resp.Status
	}
	return ""
}

func webhookErrorMessage(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Connection refused"
	case errors.Is(err, context.DeadlineExceeded):
		return "Timeout expired"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return "Connection reset by peer"
	}
	return "Connection error: " + err.Error()
}
