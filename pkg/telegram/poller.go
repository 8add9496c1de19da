package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// State names reported by the Poller.
const (
	// StateConnecting: Telegram has not been reached yet, or a network
	// error (DNS, refused, reset, timeout) stopped the last call.
	StateConnecting = "connecting"
	// StateConnected: the last getUpdates succeeded.
	StateConnected = "connected"
	// StateConflict: Telegram answered 409; see ConflictDetail.
	StateConflict = "conflict"
	// StateUnauthorized: the token was rejected; Run has returned.
	StateUnauthorized = "unauthorized"
	// StateError: Telegram answered with an error (5xx, 429, ...), or the
	// Sink failed to store an update.
	StateError = "error"
)

// ConflictDetail is the State.Detail of StateConflict.
func ConflictDetail() string {
	return "another bot instance is polling with this token, or a webhook is set; stop the other instance or run `" + instance.Hermes("setup telegram --mode poll") + "`"
}

// UnauthorizedDetail is the State.Detail of StateUnauthorized.
func UnauthorizedDetail() string {
	return "Telegram rejected the bot token (revoked or mistyped); run `" + instance.Hermes("setup telegram") + "`"
}

// State is the Poller's connection state, for status displays.
type State struct {
	Name   string // one of the State* constants
	Detail string // why, for humans; never contains the token
	Since  time.Time
}

// Limits of getUpdates' long-poll timeout (Telegram caps it at 50s).
const (
	MinPollTimeout     = time.Second
	MaxPollTimeout     = 50 * time.Second
	defaultPollTimeout = 30 * time.Second
)

// Defaults of PollerOptions' waits (exported for the documentation and the
// benchmarks, which quote them).
const (
	DefaultConflictRetryMin = time.Second
	DefaultConflictRetryMax = 30 * time.Second
	DefaultMinPollInterval  = time.Second
)

// PollerOptions configures a Poller. The zero value is usable.
type PollerOptions struct {
	// PollTimeout is getUpdates' long-poll timeout, in whole seconds,
	// clamped to 1s..50s; default 30s.
	PollTimeout time.Duration
	// AllowedUpdates is sent with every getUpdates; nil keeps Telegram's
	// current setting (its default excludes chat_member and reactions).
	AllowedUpdates []string
	// Log receives state changes (once per change) and retries (debug).
	Log *slog.Logger
	// OnState is called, from Run's goroutine, whenever the state's name or
	// detail changes. It must not block.
	OnState func(State)
	// BackoffMin and BackoffMax bound the exponential backoff after errors;
	// default 500ms doubling up to 30s, each wait jittered by ±20%.
	BackoffMin, BackoffMax time.Duration
	// ConflictRetryMin and ConflictRetryMax bound the wait after a 409:
	// default 1s, doubling with every 409 in a row up to 30s (1, 2, 4, 8,
	// 16, 30, 30 … s), back to the minimum once a long poll completes
	// (held to its end, or with updates) without a 409. Most
	// conflicts are short (our own predecessor's long poll, still held by
	// Telegram after a restart; an instance being stopped), and each second
	// of the wait is a second nobody is answered; a conflict that lasts
	// (two instances for good) is retried every ConflictRetryMax, so the
	// other instance's poll is kicked no more often than that.
	ConflictRetryMin, ConflictRetryMax time.Duration
	// MinPollInterval is the least time between the starts of two polls
	// when the first came back empty: a long poll that the server did not
	// hold (a proxy, an emulator) is followed by a wait for the rest of
	// it, so no server can make the poller spin. Default 1s, at most the
	// PollTimeout: a poll Telegram held for its timeout is never slowed,
	// and a poll that returned updates is followed at once.
	MinPollInterval time.Duration
	// Clock defaults to the real clock; tests inject their own.
	Clock Clock
}

// Poller receives updates by long-polling getUpdates and hands them to a
// Sink, confirming each only after the Sink stored it.
type Poller struct {
	c           *Client
	log         *slog.Logger
	clock       Clock
	onState     func(State)
	pollTimeout time.Duration
	allowed     []string
	backoff     backoff
	conflict    conflictBackoff
	minInterval time.Duration

	offset  atomic.Int64
	running atomic.Bool

	mu    sync.Mutex
	state State
}

// NewPoller returns a Poller using c.
func NewPoller(c *Client, opts PollerOptions) *Poller {
	p := &Poller{
		c:           c,
		log:         opts.Log,
		clock:       opts.Clock,
		onState:     opts.OnState,
		pollTimeout: opts.PollTimeout,
		allowed:     opts.AllowedUpdates,
		backoff:     backoff{min: opts.BackoffMin, max: opts.BackoffMax},
		conflict:    conflictBackoff{min: opts.ConflictRetryMin, max: opts.ConflictRetryMax},
		minInterval: opts.MinPollInterval,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.clock == nil {
		p.clock = realClock{}
	}
	if p.pollTimeout == 0 {
		p.pollTimeout = defaultPollTimeout
	}
	// Telegram takes whole seconds; 0 would be short polling (a busy loop).
	p.pollTimeout = min(max(p.pollTimeout.Truncate(time.Second), MinPollTimeout), MaxPollTimeout)
	if p.backoff.min <= 0 {
		p.backoff.min = 500 * time.Millisecond
	}
	if p.backoff.max <= 0 {
		p.backoff.max = 30 * time.Second
	}
	p.backoff.max = max(p.backoff.max, p.backoff.min)
	if p.conflict.min <= 0 {
		p.conflict.min = DefaultConflictRetryMin
	}
	if p.conflict.max <= 0 {
		p.conflict.max = DefaultConflictRetryMax
	}
	p.conflict.max = max(p.conflict.max, p.conflict.min)
	if p.minInterval <= 0 {
		p.minInterval = DefaultMinPollInterval
	}
	p.minInterval = min(p.minInterval, p.pollTimeout)
	return p
}

// Offset is the offset the next getUpdates will send: one more than the
// update_id of the last update the Sink accepted (0 before any). Persist it
// (ideally in the same transaction as the update) and pass it to Run after a
// restart; everything below it has been stored.
func (p *Poller) Offset() int64 { return p.offset.Load() }

// State returns the current state.
func (p *Poller) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Run polls until ctx ends, handing updates to sink in update_id order. It
// returns nil when ctx ends (promptly: a waiting long poll is cancelled),
// and an error only for a rejected token (IsUnauthorized), on which the
// gateway should exit with a configuration error. Everything else (network
// outages, 5xx, 429, 409, a failing sink) is retried forever, with backoff,
// while OnState reports what is going on.
//
// startOffset is the stored Offset (0: start from the oldest update
// Telegram still holds). Pending updates are never dropped: no negative
// offset and no drop_pending_updates, since messages sent while the gateway
// was down must still be answered. If the Poller already confirmed beyond
// startOffset (an earlier Run, or Confirm), it does not go back.
//
// When the sink fails, the rest of that batch is not handed over, the offset
// stays before the failed update, and after a backoff the same updates are
// fetched again. One Run at a time.
func (p *Poller) Run(ctx context.Context, startOffset int64, sink Sink) error {
	return p.run(ctx, startOffset, func(ctx context.Context, batch []incoming) error {
		return p.deliver(ctx, batch, sink)
	})
}

// Update is one update as a BatchSink receives it.
type Update struct {
	// ID is the update_id, or 0 if the element has none that can be used.
	ID     int64
	Update tgbotapi.Update
	// Raw is the update's JSON as Telegram sent it; see Sink.
	Raw json.RawMessage
}

// BatchSink receives what one getUpdates returned, in update_id order, and
// the offset that confirms all of it. It must return nil only once all of
// it is stored durably (one transaction for the batch: one sync, not one
// per update); an error means the batch is fetched again, so it must be
// idempotent on update_id like a Sink.
type BatchSink func(ctx context.Context, updates []Update, nextOffset int64) error

// RunBatch is Run handing each getUpdates batch to sink at once.
func (p *Poller) RunBatch(ctx context.Context, startOffset int64, sink BatchSink) error {
	return p.run(ctx, startOffset, func(ctx context.Context, batch []incoming) error {
		return p.deliverBatch(ctx, batch, sink)
	})
}

func (p *Poller) run(ctx context.Context, startOffset int64, deliver func(context.Context, []incoming) error) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("telegram: Poller.Run called while already running")
	}
	defer p.running.Store(false)
	p.advance(startOffset)
	p.setState(StateConnecting, "")

	failures, conflicts := 0, 0
	for ctx.Err() == nil {
		// Until a call has succeeded, poll without waiting so that
		// "connected" is reported as soon as Telegram answers, instead of
		// after a full long poll: the status must not go on saying
		// "conflict" (or "connecting") for a poll timeout after the cause
		// went away.
		timeout := p.pollTimeout
		if st := p.State().Name; st == StateConnecting || st == StateError || st == StateConflict {
			timeout = 0
		}
		began := p.clock.Now()
		batch, err := p.c.getUpdates(ctx, p.offset.Load(), 100, timeout, p.allowed)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		switch {
		case err == nil:
			if err := deliver(ctx, batch); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				// Telegram is fine but we cannot take updates: report
				// that (once, while it lasts) rather than "connected".
				failures++
				wait = p.backoff.delay(failures)
				p.setState(StateError, err.Error())
				p.log.Debug("telegram: update not stored; fetching it again", "err", err, "retry_in", wait)
				break
			}
			failures = 0
			if timeout > 0 || len(batch) > 0 {
				// A long poll that nobody cut short: the conflict is
				// over. A poll that asked not to be held (the first after
				// a 409) proves nothing: another instance still polling
				// would cut our next long poll, and the backoff must go
				// on growing, or two instances would kick each other
				// every second.
				conflicts = 0
			}
			p.setState(StateConnected, "")
			wait = p.emptyPollWait(len(batch), timeout, p.clock.Now().Sub(began))
			if wait > 0 {
				p.log.Debug("telegram: getUpdates returned at once with nothing; waiting before the next", "wait", wait)
			}
		case IsUnauthorized(err):
			p.setState(StateUnauthorized, UnauthorizedDetail())
			return err
		case IsConflict(err):
			// Counted apart from other failures: its own, quicker start
			// and its own cap; the state says why meanwhile.
			conflicts++
			wait = p.conflict.delay(conflicts)
			p.setState(StateConflict, ConflictDetail())
			p.log.Debug("telegram: getUpdates conflict; retrying", "err", err, "retry_in", wait, "conflicts_in_a_row", conflicts)
		default:
			failures++
			wait = p.backoff.delay(failures)
			if ra, ok := retryAfter(err); ok {
				wait = ra // exactly what Telegram asked for
			}
			name := StateError
			if apiCode(err) == 0 {
				name = StateConnecting
			}
			p.setState(name, err.Error())
			p.log.Debug("telegram: getUpdates failed; retrying", "err", err, "retry_in", wait)
		}
		if p.clock.Sleep(ctx, wait) != nil {
			return nil
		}
	}
	return nil
}

// emptyPollWait is the wait after a successful getUpdates that returned n
// updates, asked to be held up to asked and answered after took. Updates
// are followed at once (more may be waiting), and so is an empty answer to
// a poll that asked not to be held (timeout 0, before "connected"), or one
// the server held for at least MinPollInterval (a long poll that ran its
// course). An empty answer sooner than that means the server does not hold
// long polls: wait out the rest of MinPollInterval, or the poller would
// ask again at once, forever.
func (p *Poller) emptyPollWait(n int, asked, took time.Duration) time.Duration {
	if n > 0 || asked <= 0 || took >= p.minInterval {
		return 0
	}
	return p.minInterval - max(took, 0)
}

// deliver hands a batch to sink, advancing the offset after each accepted
// update. It stops at the first failure.
func (p *Poller) deliver(ctx context.Context, batch []incoming, sink Sink) error {
	progress := false
	for _, in := range batch {
		if in.id > 0 && in.id < p.offset.Load() {
			continue // already stored; Telegram should not have sent it
		}
		if in.err != nil {
			p.log.Warn("telegram: update cannot be decoded; handing its raw JSON to the sink",
				"update_id", in.id, "err", in.err)
		}
		if err := sink(ctx, in.update, in.raw); err != nil {
			return fmt.Errorf("the sink did not store update %d: %w", in.id, err)
		}
		if in.id > 0 {
			p.advance(in.id + 1)
			progress = true
		}
	}
	if len(batch) > 0 && !progress {
		// Only updates without an update_id (never seen from Telegram):
		// the offset cannot move past them, so wait before fetching them
		// again rather than spin.
		return errors.New("getUpdates returned only updates without a usable update_id")
	}
	return nil
}

// deliverBatch hands what is new in a batch to sink at once, and advances
// the offset past it once sink stored it.
func (p *Poller) deliverBatch(ctx context.Context, batch []incoming, sink BatchSink) error {
	us := make([]Update, 0, len(batch))
	next := p.offset.Load()
	for _, in := range batch {
		if in.id > 0 && in.id < p.offset.Load() {
			continue // already stored; Telegram should not have sent it
		}
		if in.err != nil {
			p.log.Warn("telegram: update cannot be decoded; handing its raw JSON to the sink",
				"update_id", in.id, "err", in.err)
		}
		us = append(us, Update{ID: in.id, Update: in.update, Raw: in.raw})
		if in.id > 0 {
			next = max(next, in.id+1)
		}
	}
	if len(us) > 0 {
		if err := sink(ctx, us, next); err != nil {
			return fmt.Errorf("the sink did not store updates %d..%d: %w", us[0].ID, us[len(us)-1].ID, err)
		}
	}
	if len(batch) > 0 && next == p.offset.Load() && len(us) > 0 {
		// Only updates without an update_id (never seen from Telegram):
		// the offset cannot move past them, so wait before fetching them
		// again rather than spin.
		return errors.New("getUpdates returned only updates without a usable update_id")
	}
	p.advance(next)
	return nil
}

func (p *Poller) advance(offset int64) {
	for {
		cur := p.offset.Load()
		if offset <= cur || p.offset.CompareAndSwap(cur, offset) {
			return
		}
	}
}

// Confirm tells Telegram that every update up to and including upTo is
// handled (getUpdates with offset=upTo+1, timeout 0, limit 1), so it will
// not be delivered again. The gateway calls it before exiting (for a
// /restart: otherwise the next start would receive /restart again). Call it
// after Run has returned: a getUpdates while Run is polling makes Telegram
// answer the waiting poll with 409.
func (p *Poller) Confirm(ctx context.Context, upTo int64) error {
	if upTo <= 0 {
		return fmt.Errorf("telegram: Confirm: %d is not an update_id", upTo)
	}
	if _, err := p.c.getUpdates(ctx, upTo+1, 1, 0, p.allowed); err != nil {
		return err
	}
	p.advance(upTo + 1)
	return nil
}

// setState records and reports a state change; repeating the current state
// is a no-op, so each change is logged once.
func (p *Poller) setState(name, detail string) {
	p.mu.Lock()
	if p.state.Name == name && p.state.Detail == detail {
		p.mu.Unlock()
		return
	}
	renamed := p.state.Name != name
	// A first reason for the current state ("connecting" -> "connecting:
	// connection refused") is news too; later rewordings are not.
	notable := renamed || p.state.Detail == ""
	st := State{Name: name, Detail: detail, Since: p.state.Since}
	if renamed {
		st.Since = p.clock.Now()
	}
	p.state = st
	p.mu.Unlock()

	switch {
	case !notable:
		p.log.Debug("telegram: state detail changed", "state", name, "detail", detail)
	case name == StateConnected:
		p.log.Info("telegram: connected")
	case name == StateUnauthorized:
		p.log.Error("telegram: "+name, "detail", detail)
	case name == StateConnecting && detail == "":
		p.log.Info("telegram: connecting")
	default:
		p.log.Warn("telegram: "+name, "detail", detail)
	}
	if p.onState != nil {
		p.onState(st)
	}
}
