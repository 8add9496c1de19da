package fakebot

import (
	"context"
	"maps"
	"strings"
)

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Calls:            make(map[string]int, len(s.calls)),
		Unauthorized:     s.unauthorized,
		ConfirmedOffset:  s.updates.confirmedOffset,
		PendingUpdates:   len(s.updates.queue),
		NextUpdateID:     s.updates.nextID,
		LongPollActive:   s.poller != nil,
		Faults:           s.faultsHit,
		Errors:           s.errors,
		Refusals:         maps.Clone(s.refusals),
		FloodRejections:  s.flood.rejections,
		WebhookDelivered: s.webhook.delivered,
		WebhookFailed:    s.webhook.failed,
		Webhook:          s.webhookInfoLocked(),
	}
	for k, v := range s.calls {
		st.Calls[k] = v
	}
	for _, c := range s.chats {
		st.SentMessages += len(c.sent)
	}
	return st
}

// Calls returns how often method (any case) was called with a valid token.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[canonicalMethod(method)]
}

// WaitForCalls blocks until method has been called at least n times.
func (s *Server) WaitForCalls(ctx context.Context, method string, n int) error {
	name := canonicalMethod(method)
	return s.waitUntil(ctx, func() bool { return s.calls[name] >= n })
}

func canonicalMethod(method string) string {
	if m, ok := methods[strings.ToLower(method)]; ok {
		return m.name
	}
	return strings.ToLower(method)
}
