package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hermes-gateway/hermes/pkg/markdown"
)

// MaxMessageLength is Telegram's limit on a text message: 4096 characters.
const MaxMessageLength = 4096

// SenderOptions configures a Sender. The zero value is usable.
type SenderOptions struct {
	// PerChatInterval is the minimum gap between two messages to one chat;
	// default 1s, Telegram's advice for private chats.
	PerChatInterval time.Duration
	// GlobalPerSecond caps messages per second over all chats, with bursts
	// of as many; default 30, Telegram's global bot limit.
	GlobalPerSecond int
	// MaxRetries is how often one message is retried after a 429, a 5xx or
	// a network error; default 5, negative for none. Other errors (400 chat
	// not found, 403 blocked by the user, ...) are never retried.
	MaxRetries int
	// BackoffMin and BackoffMax bound the backoff between retries of 5xx
	// and network errors; default 500ms doubling up to 15s, ±20% jitter. A
	// 429 waits exactly its retry_after instead.
	BackoffMin, BackoffMax time.Duration
	// Log receives retries.
	Log *slog.Logger
	// Clock defaults to the real clock; tests inject their own.
	Clock Clock
}

// Sender sends replies, pacing them to stay within Telegram's flood limits
// (so 429s are rare) and retrying what can succeed later. Chats are paced
// independently: a chat waiting for its interval holds up no other chat.
// Messages to one chat go out one Send at a time, in call order, so the
// parts of a long reply are never interleaved with another reply.
type Sender struct {
	c          *Client
	log        *slog.Logger
	clock      Clock
	interval   time.Duration
	emission   time.Duration // global: one message per emission...
	burst      time.Duration // ...with up to burst/emission at once
	maxRetries int
	backoff    backoff

	mu    sync.Mutex
	chats map[int64]*chatPace
	// tat is the global limiter's "theoretical arrival time" (GCRA).
	tat time.Time
}

// chatPace is one chat's pacing state.
type chatPace struct {
	// turn is a one-slot semaphore: one Send per chat at a time. A channel
	// rather than a mutex so that waiting for it honours the context.
	turn chan struct{}
	// next is the earliest time the next message may go out.
	next time.Time
	// users counts Sends holding or waiting for turn; guarded by Sender.mu.
	users int
}

// NewSender returns a Sender using c.
func NewSender(c *Client, opts SenderOptions) *Sender {
	s := &Sender{
		c:          c,
		log:        opts.Log,
		clock:      opts.Clock,
		interval:   opts.PerChatInterval,
		maxRetries: opts.MaxRetries,
		backoff:    backoff{min: opts.BackoffMin, max: opts.BackoffMax},
		chats:      map[int64]*chatPace{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.interval <= 0 {
		s.interval = time.Second
	}
	perSecond := opts.GlobalPerSecond
	if perSecond <= 0 {
		perSecond = 30
	}
	s.emission = time.Second / time.Duration(perSecond)
	s.burst = s.emission * time.Duration(perSecond)
	switch {
	case s.maxRetries == 0:
		s.maxRetries = 5
	case s.maxRetries < 0:
		s.maxRetries = 0
	}
	if s.backoff.min <= 0 {
		s.backoff.min = 500 * time.Millisecond
	}
	if s.backoff.max <= 0 {
		s.backoff.max = 15 * time.Second
	}
	s.backoff.max = max(s.backoff.max, s.backoff.min)
	return s
}

// Send sends text, which is Markdown, to chatID: formatted with message
// entities computed from a real parse (package markdown), never with
// parse_mode, so no stray character can make Telegram refuse it; split
// where it is longer than MaxMessageLength, each entity closed at a cut and
// reopened after it. If Telegram still refuses a part's entities (400
// "can't parse entities"), that part goes once more as plain text and the
// journal says why. The first part replies to message replyTo if it is not
// 0 (and is sent anyway if that message is gone). It returns the ids of the
// messages sent.
// On failure it returns the ids sent so far and an error naming the chat and
// the reason; the rest of the text is not sent.
//
// A retried send after a network error may duplicate a message if the first
// attempt did reach Telegram: the Bot API has no idempotency key, and a
// duplicate is better than a lost answer.
func (s *Sender) Send(ctx context.Context, chatID int64, text string, replyTo int) ([]int, error) {
	styled := markdown.Render(text)
	if strings.TrimSpace(styled.Text) == "" {
		return nil, fmt.Errorf("telegram: cannot deliver message to chat %d: the text is empty", chatID)
	}
	parts := markdown.Split(styled, MaxMessageLength)
	prefix := fmt.Sprintf("telegram: cannot deliver message to chat %d", chatID)
	cp, err := s.acquire(ctx, chatID)
	if err != nil {
		return nil, &chatError{prefix, err}
	}
	defer s.release(chatID, cp)

	ids := make([]int, 0, len(parts))
	for i, part := range parts {
		rt := 0
		if i == 0 {
			rt = replyTo
		}
		id, err := s.sendPart(ctx, chatID, cp, part, rt)
		if err != nil {
			if len(parts) > 1 {
				prefix += fmt.Sprintf(" (part %d of %d)", i+1, len(parts))
			}
			return ids, &chatError{prefix, err}
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Typing shows "typing…" in chatID for about 5 seconds (or until the next
// message). It is not paced or retried: it is a hint, and the caller
// repeats it while the agent works.
func (s *Sender) Typing(ctx context.Context, chatID int64) error {
	if err := s.c.sendChatAction(ctx, chatID, "typing"); err != nil {
		return &chatError{fmt.Sprintf("telegram: typing in chat %d", chatID), err}
	}
	return nil
}

// chatError puts the chat (the one thing a caller needs to tell failures
// apart) in front of a send error, without repeating the package prefix.
type chatError struct {
	prefix string
	err    error
}

func (e *chatError) Error() string {
	return e.prefix + ": " + strings.TrimPrefix(e.err.Error(), "telegram: ")
}

func (e *chatError) Unwrap() error { return e.err }

func (s *Sender) sendPart(ctx context.Context, chatID int64, cp *chatPace, part markdown.Styled, replyTo int) (int, error) {
	entities := entitiesJSON(part.Spans)
	for attempt := 0; ; attempt++ {
		if err := s.pace(ctx, cp); err != nil {
			return 0, err
		}
		m, err := s.c.sendMessage(ctx, chatID, part.Text, entities, replyTo)
		if err == nil {
			return m.MessageID, nil
		}
		if entities != "" && refusedEntities(err) {
			// Better unformatted than unsent: once, as plain text.
			s.log.Warn("telegram: formatting refused; sending this part as plain text", "chat_id", chatID, "err", err)
			entities = ""
			continue
		}
		if ctx.Err() != nil || !temporary(err) || attempt >= s.maxRetries {
			return 0, err
		}
		if wait, ok := retryAfter(err); ok {
			// Flood control: Telegram says exactly when this chat may
			// continue; pace waits for it.
			s.mu.Lock()
			cp.next = later(cp.next, s.clock.Now().Add(wait))
			s.mu.Unlock()
			s.log.Info("telegram: flood control; waiting", "chat_id", chatID, "retry_after", wait)
			continue
		}
		wait := s.backoff.delay(attempt + 1)
		s.log.Info("telegram: send failed; retrying", "chat_id", chatID, "err", err, "retry_in", wait)
		if err := s.clock.Sleep(ctx, wait); err != nil {
			return 0, err
		}
	}
}

// pace waits for the chat's next slot, then for a global slot. The global
// slot is taken only once the chat's own turn has come, so a chat waiting
// out its interval never holds a global slot another chat could use.
func (s *Sender) pace(ctx context.Context, cp *chatPace) error {
	s.mu.Lock()
	now := s.clock.Now()
	at := later(now, cp.next)
	cp.next = at.Add(s.interval)
	s.mu.Unlock()
	if err := s.clock.Sleep(ctx, at.Sub(now)); err != nil {
		return err
	}

	// GCRA: each message pushes tat by one emission interval; a message may
	// go when tat is at most one burst ahead of now.
	s.mu.Lock()
	now = s.clock.Now()
	s.tat = later(s.tat, now).Add(s.emission)
	wait := s.tat.Sub(now) - s.burst
	s.mu.Unlock()
	return s.clock.Sleep(ctx, wait)
}

func (s *Sender) acquire(ctx context.Context, chatID int64) (*chatPace, error) {
	s.mu.Lock()
	cp, ok := s.chats[chatID]
	if !ok {
		cp = &chatPace{turn: make(chan struct{}, 1)}
		s.chats[chatID] = cp
	}
	cp.users++
	s.mu.Unlock()
	select {
	case cp.turn <- struct{}{}:
		return cp, nil
	case <-ctx.Done():
		s.mu.Lock()
		cp.users--
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

// release ends a Send and forgets chats that need no pacing any more, so
// the map does not grow with every chat ever answered.
func (s *Sender) release(chatID int64, cp *chatPace) {
	<-cp.turn
	s.mu.Lock()
	defer s.mu.Unlock()
	cp.users--
	now := s.clock.Now()
	if cp.users == 0 && !cp.next.After(now) {
		delete(s.chats, chatID)
	}
	if len(s.chats) > 1024 {
		for id, c := range s.chats {
			if c.users == 0 && !c.next.After(now) {
				delete(s.chats, id)
			}
		}
	}
}

// entitiesJSON is the entities parameter for spans ("" for none).
func entitiesJSON(spans []markdown.Span) string {
	if len(spans) == 0 {
		return ""
	}
	b, err := json.Marshal(spans)
	if err != nil {
		return ""
	}
	return string(b)
}

// refusedEntities reports a 400 about the formatting, not the message:
// "can't parse entities", "can't parse MessageEntity: …", "Entity URL … is
// invalid".
func refusedEntities(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 400 {
		return false
	}
	d := strings.ToLower(ae.Description)
	return strings.Contains(d, "entities") || strings.Contains(d, "messageentity") || strings.Contains(d, "entity url")
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
