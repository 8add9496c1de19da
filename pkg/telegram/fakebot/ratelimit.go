package fakebot

import (
	"math"
	"time"
)

// Bucket is a token bucket: Burst messages at once, then one more per Every.
type Bucket struct {
	Burst int
	Every time.Duration
}

// FloodControl reproduces Telegram's documented send limits: about one
// message per second in a private chat, 20 messages per minute in a group,
// and 30 messages per second for the whole bot. A send over a limit is
// answered 429 "Too Many Requests: retry after N" and is not delivered. A
// zero Bucket disables that limit.
type FloodControl struct {
	PerChat  Bucket
	PerGroup Bucket
	Global   Bucket
}

// DefaultFloodControl returns limits close to Telegram's: 3-message bursts
// then 1/s per private chat, 20/min per group, 30/s overall.
func DefaultFloodControl() *FloodControl {
	return &FloodControl{
		PerChat:  Bucket{Burst: 3, Every: time.Second},
		PerGroup: Bucket{Burst: 20, Every: 3 * time.Second},
		Global:   Bucket{Burst: 30, Every: time.Second / 30},
	}
}

type bucketState struct {
	tokens float64
	last   time.Time
}

// wait refills the bucket up to now and, if a token is available, reports
// 0; otherwise it reports how long until one is.
func (b *bucketState) wait(cfg Bucket, now time.Time) time.Duration {
	if b.last.IsZero() {
		b.tokens, b.last = float64(cfg.Burst), now
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(float64(cfg.Burst), b.tokens+float64(elapsed)/float64(cfg.Every))
		b.last = now
	}
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(cfg.Every))
}

type floodState struct {
	cfg        *FloodControl
	chats      map[int64]*bucketState
	global     bucketState
	rejections int
}

func newFloodState(cfg *FloodControl) *floodState {
	return &floodState{cfg: cfg, chats: map[int64]*bucketState{}}
}

// SetFloodControl enables (non-nil) or disables (nil) flood control.
func (s *Server) SetFloodControl(cfg *FloodControl) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rejections := s.flood.rejections
	s.flood = newFloodState(cfg)
	s.flood.rejections = rejections
}

// allow charges one message to chat and to the bot, or returns the 429 to
// answer. A rejected send consumes nothing. Call with s.mu held.
func (f *floodState) allow(chat Chat, now time.Time) *APIError {
	if f.cfg == nil {
		return nil
	}
	per := f.cfg.PerChat
	if chat.Type == "group" || chat.Type == "supergroup" || chat.Type == "channel" {
		per = f.cfg.PerGroup
	}
	cb, ok := f.chats[chat.ID]
	if !ok {
		cb = &bucketState{}
		f.chats[chat.ID] = cb
	}
	var wait time.Duration
	if per.Burst > 0 && per.Every > 0 {
		wait = max(wait, cb.wait(per, now))
	}
	if g := f.cfg.Global; g.Burst > 0 && g.Every > 0 {
		wait = max(wait, f.global.wait(g, now))
	}
	if wait > 0 {
		f.rejections++
		return tooManyRequests(int(math.Ceil(wait.Seconds())))
	}
	if per.Burst > 0 && per.Every > 0 {
		cb.tokens--
	}
	if g := f.cfg.Global; g.Burst > 0 && g.Every > 0 {
		f.global.tokens--
	}
	return nil
}
