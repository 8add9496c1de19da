package fakebot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Telegram's getUpdates bounds: limit 1..100 (default 100) and a long-poll
// timeout of at most 50 seconds. Out-of-range values are clamped, not
// rejected, exactly like the Bot API server does.
const (
	maxUpdatesLimit    = 100
	maxLongPollSeconds = 50
)

// defaultExcludedUpdates are the update types Telegram does not deliver when
// allowed_updates is empty or was never given.
var defaultExcludedUpdates = []string{"chat_member", "message_reaction", "message_reaction_count"}

type queuedUpdate struct {
	id   int
	kind string // "message", "callback_query", ...: the update's one field
	raw  []byte // full JSON including update_id
}

// updateQueue holds the unconfirmed updates, oldest first.
type updateQueue struct {
	queue           []queuedUpdate
	nextID          int
	confirmedOffset int
	// allowed is the bot's allowed_updates setting; nil means the default.
	allowed []string
}

// pollWaiter is the getUpdates call currently long-polling. Only one may
// exist: a newer call terminates it, like Telegram does.
type pollWaiter struct {
	done chan struct{} // closed when terminated by another request
	// err is what the terminated call answers (409 Conflict, or 401 after a
	// token revocation).
	err *APIError
}

// confirmBelow drops every update with id < offset. "An update is considered
// confirmed as soon as getUpdates is called with an offset higher than its
// update_id."
func (q *updateQueue) confirmBelow(offset int) {
	n := 0
	for n < len(q.queue) && q.queue[n].id < offset {
		n++
	}
	if n > 0 {
		q.confirmedOffset = max(q.confirmedOffset, q.queue[n-1].id+1)
		q.queue = slices.Delete(q.queue, 0, n)
	}
}

// keepLast implements a negative offset: "updates starting from -offset
// update from the end of the updates queue. All previous updates will be
// forgotten."
func (q *updateQueue) keepLast(k int) {
	if k < len(q.queue) {
		q.confirmBelow(q.queue[len(q.queue)-k].id)
	}
}

// from returns up to limit queued updates with id >= offset.
func (q *updateQueue) from(offset, limit int) []json.RawMessage {
	out := []json.RawMessage{}
	for _, u := range q.queue {
		if u.id < offset {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, json.RawMessage(u.raw))
	}
	return out
}

func (q *updateQueue) isAllowed(kind string) bool {
	if len(q.allowed) == 0 {
		return !slices.Contains(defaultExcludedUpdates, kind)
	}
	return slices.Contains(q.allowed, kind)
}

// handleGetUpdates implements getUpdates with Telegram's offset, limit,
// timeout and allowed_updates semantics and its single-poller rule.
func (s *Server) handleGetUpdates(r *http.Request, p params) (any, error) {
	offset := p.int("offset", 0)
	limit := min(max(p.int("limit", maxUpdatesLimit), 1), maxUpdatesLimit)
	timeout := min(max(p.int("timeout", 0), 0), maxLongPollSeconds)
	if noHold(r) {
		timeout = 0 // a scripted server that does not hold long polls
	}
	allowed, allowedSet, err := p.list("allowed_updates")
	if err != nil {
		return nil, badRequest("can't parse allowed_updates JSON array")
	}

	s.mu.Lock()
	if s.webhook.url != "" {
		s.mu.Unlock()
		return nil, apiErr(409, DescWebhookActive)
	}
	// A second getUpdates ends the one still waiting with 409: Telegram
	// allows one poller per bot so two gateway instances notice each other.
	if s.poller != nil {
		s.terminatePollLocked(apiErr(409, DescPollConflict))
	}
	if allowedSet {
		// Only affects updates created from now on, as in Telegram.
		s.updates.allowed = slices.Clone(allowed)
	}
	switch {
	case offset > 0:
		s.updates.confirmBelow(offset)
	case offset < 0:
		s.updates.keepLast(-offset)
		offset = 0
	}
	res := s.updates.from(offset, limit)
	if len(res) > 0 || timeout == 0 {
		s.broadcastLocked()
		s.mu.Unlock()
		return res, nil
	}
	w := &pollWaiter{done: make(chan struct{})}
	s.poller = w
	s.broadcastLocked()
	ch := s.changed
	s.mu.Unlock()

	timer := time.NewTimer(time.Duration(timeout) * s.opts.PollTimeUnit)
	defer timer.Stop()
	for {
		select {
		case <-w.done:
			return nil, w.err
		case <-timer.C:
			s.endPoll(w)
			return []json.RawMessage{}, nil
		case <-r.Context().Done():
			s.endPoll(w)
			return nil, errClientGone
		case <-s.closed:
			s.endPoll(w)
			return []json.RawMessage{}, nil
		case <-ch:
			s.mu.Lock()
			if s.poller != w {
				s.mu.Unlock()
				return nil, w.err
			}
			// Updates that arrived meanwhile are answered at once: that is
			// the point of long polling.
			if res := s.updates.from(offset, limit); len(res) > 0 {
				s.poller = nil
				s.broadcastLocked()
				s.mu.Unlock()
				return res, nil
			}
			ch = s.changed
			s.mu.Unlock()
		}
	}
}

// terminatePollLocked makes the waiting getUpdates answer err.
func (s *Server) terminatePollLocked(err *APIError) {
	if s.poller == nil {
		return
	}
	s.poller.err = err
	close(s.poller.done)
	s.poller = nil
	s.broadcastLocked()
}

func (s *Server) endPoll(w *pollWaiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.poller == w {
		s.poller = nil
		s.broadcastLocked()
	}
}

// enqueueLocked assigns the next update_id to an update body (a JSON object
// without update_id) and queues it, unless allowed_updates filters its type
// out, in which case Telegram never creates it and 0 is returned.
func (s *Server) enqueueLocked(kind string, body []byte) int {
	if !s.updates.isAllowed(kind) {
		s.log.Info("fakebot: update dropped by allowed_updates", "type", kind)
		return 0
	}
	id := s.updates.nextID
	s.updates.nextID++
	raw := fmt.Appendf(nil, `{"update_id":%d,`, id)
	raw = append(raw, bytes.TrimPrefix(bytes.TrimSpace(body), []byte("{"))...)
	if bytes.Equal(bytes.TrimSpace(body), []byte("{}")) {
		raw = fmt.Appendf(nil, `{"update_id":%d}`, id)
	}
	s.updates.queue = append(s.updates.queue, queuedUpdate{id: id, kind: kind, raw: raw})
	s.broadcastLocked()
	return id
}

// InjectUpdate queues an arbitrary update. raw is an Update JSON object; any
// update_id in it is replaced by the next id. If the update carries a
// message (message, edited_message, channel_post, ...) its chat becomes known
// so the bot can answer there. It returns the update_id, or 0 if the bot's
// allowed_updates excludes the update's type.
func (s *Server) InjectUpdate(raw json.RawMessage) (int, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return 0, fmt.Errorf("fakebot: inject update: %w", err)
	}
	delete(fields, "update_id")
	if len(fields) != 1 {
		return 0, fmt.Errorf("fakebot: inject update: want exactly one field besides update_id, got %d", len(fields))
	}
	var kind string
	for k := range fields {
		kind = k
	}
	body, err := marshal(fields)
	if err != nil {
		return 0, fmt.Errorf("fakebot: inject update: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var msg Message
	if json.Unmarshal(fields[kind], &msg) == nil && msg.Chat.ID != 0 {
		c := s.chatLocked(msg.Chat)
		if msg.MessageID > 0 {
			c.messages[msg.MessageID] = &msg
			c.nextMessageID = max(c.nextMessageID, msg.MessageID+1)
		}
	}
	return s.enqueueLocked(kind, body), nil
}

// InjectMessage queues a "message" update from a user and returns its
// update_id (0 if allowed_updates excludes messages). Text starting with '/'
// gets a bot_command entity at offset 0, as Telegram clients produce.
func (s *Server) InjectMessage(m UserMessage) int {
	if m.UserID == 0 {
		m.UserID = 1000001
	}
	if m.FirstName == "" {
		m.FirstName = "Test"
	}
	chat := Chat{ID: m.ChatID, Type: m.ChatType, Title: m.ChatTitle}
	if chat.Type == "" {
		chat.Type = "private"
	}
	if chat.Type == "private" {
		if chat.ID == 0 {
			chat.ID = m.UserID
		}
		chat.FirstName, chat.LastName, chat.Username = m.FirstName, m.LastName, m.Username
		chat.Title = ""
	} else if chat.Title == "" {
		chat.Title = "Hermes test group"
	}
	from := &User{ID: m.UserID, FirstName: m.FirstName, LastName: m.LastName, Username: m.Username, LanguageCode: "en"}

	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chatLocked(chat)
	msg := &Message{
		MessageID: c.nextMessageID,
		From:      from,
		Chat:      c.chat,
		Date:      s.opts.Now().Unix(),
		Text:      m.Text,
		Entities:  commandEntities(m.Text),
	}
	c.nextMessageID++
	s.attachLocked(msg, m)
	if m.ReplyToMessageID != 0 {
		if target, ok := c.messages[m.ReplyToMessageID]; ok {
			t := *target
			t.ReplyToMessage = nil
			msg.ReplyToMessage = &t
		}
	}
	c.messages[msg.MessageID] = msg
	body, err := marshal(map[string]*Message{"message": msg})
	if err != nil {
		return 0
	}
	return s.enqueueLocked("message", body)
}

// commandEntities marks a leading /command (including any @botname suffix)
// the way Telegram does for messages typed by users.
func commandEntities(text string) []MessageEntity {
	if len(text) < 2 || text[0] != '/' {
		return nil
	}
	end := 1
	for end < len(text) {
		c := text[end]
		if !(c == '_' || c == '@' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			break
		}
		end++
	}
	if end == 1 {
		return nil
	}
	return []MessageEntity{{Type: "bot_command", Offset: 0, Length: utf16Len(text[:end])}}
}

// PendingUpdates returns the number of unconfirmed updates.
func (s *Server) PendingUpdates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates.queue)
}

// ConfirmedOffset is one more than the highest confirmed update_id.
func (s *Server) ConfirmedOffset() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates.confirmedOffset
}

// WaitForConfirmed blocks until the update with the given id is confirmed
// (by a getUpdates offset or a 2xx webhook answer).
func (s *Server) WaitForConfirmed(ctx context.Context, updateID int) error {
	return s.waitUntil(ctx, func() bool { return s.updates.confirmedOffset > updateID })
}

// WaitForLongPoll blocks until a getUpdates call is waiting for updates,
// which lets tests inject only once the gateway is really polling.
func (s *Server) WaitForLongPoll(ctx context.Context) error {
	return s.waitUntil(ctx, func() bool { return s.poller != nil })
}
