package router

import (
	"fmt"
	"time"

	"github.com/hermes-gateway/hermes/pkg/store"
)

// A message's life, in one place. Every record the store keeps of a
// message is written by one of the transitions below, and a transition is
// made only from a stage that allows it (next): nothing else in the router
// touches a message's inbox record.
//
//	received ──store──▶ stored ──attempt──▶ attempted ──answer──▶ answered
//	                      │  ▲                │  ▲ │                  │
//	                      │  └────abandon─────┘  └─┘ attempt         │
//	                      │                       │  (a rerun)       │
//	                      └──────finish──────▶ finished ◀──finish────┘
//	                                            ▲   (done or dropped)
//	                                 attempted ─┘
//
// What each stage promises across a crash:
//
//   - received: the adapter has it, nothing is durable: the adapter has not
//     confirmed it upstream, so the platform delivers it again;
//   - stored: in the inbox, pending, with the adapter's cursor (one
//     transaction): the next process resumes it;
//   - attempted: a turn started and was counted: the next process runs it
//     again, MaxAttempts times at most, then drops it with an apology;
//   - answered: the answer was delivered and the sent log says so (one
//     write, before the durable finish): the next process finishes it
//     without answering again. So the finish that follows an answer needs
//     no transaction of its own: it rides with the store's next commit
//     (answeredAndFinished), and this process sees it finished at once;
//   - finished: done or dropped: never run again, however often it is
//     delivered or queued.
type Stage int

const (
	Received Stage = iota
	Stored
	Attempted
	Answered
	Finished
)

func (s Stage) String() string {
	switch s {
	case Received:
		return "received"
	case Stored:
		return "stored"
	case Attempted:
		return "attempted"
	case Answered:
		return "answered"
	case Finished:
		return "finished"
	}
	return fmt.Sprintf("stage %d", int(s))
}

// Event moves a message from one stage to the next.
type Event int

const (
	EvStore   Event = iota // the inbox has it (and the cursor after it)
	EvAttempt              // a turn starts
	EvAbandon              // the drain cut the turn short: the attempt is given back
	EvAnswer               // the answer was delivered
	EvFinish               // the outcome is recorded: done or dropped
)

func (e Event) String() string {
	return [...]string{"store", "attempt", "abandon", "answer", "finish"}[e]
}

// next is the life's only rule: the stage e leads to from s, or an error
// when e cannot happen in s (an answer after the finish would be a second
// answer; an attempt after the answer, a second turn).
func next(s Stage, e Event) (Stage, error) {
	switch {
	case s == Received && e == EvStore:
		return Stored, nil
	case (s == Stored || s == Attempted) && e == EvAttempt:
		return Attempted, nil
	case s == Attempted && e == EvAbandon:
		return Stored, nil
	case s == Attempted && e == EvAnswer:
		return Answered, nil
	case (s == Stored || s == Attempted || s == Answered) && e == EvFinish:
		return Finished, nil
	}
	return s, fmt.Errorf("a message %s cannot be %s: %w", s, e.pastTense(), errLife)
}

func (e Event) pastTense() string {
	return [...]string{"stored again", "attempted", "abandoned", "answered", "finished"}[e]
}

// errLife marks a transition the life does not allow: a bug, logged, and
// the store is left as it is.
var errLife = fmt.Errorf("not allowed in a message's life")

// stageOf is the stage an inbox record says a message is in.
func stageOf(it *store.Item) Stage {
	switch {
	case it == nil:
		return Received
	case it.State != store.Pending:
		return Finished
	case it.Attempts > 0:
		return Attempted
	}
	return Stored
}

// advance moves the claimed message m by e, if its life allows it, and
// returns the stage it was in.
func (r *Router) advance(m Message, e Event) (Stage, error) {
	k := msgKey{m.Platform, m.ID}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.stages[k]
	if !ok {
		return Received, fmt.Errorf("message %s/%s is not claimed by a turn: %w", m.Platform, m.ID, errLife)
	}
	n, err := next(s, e)
	if err != nil {
		return s, fmt.Errorf("message %s/%s: %w", m.Platform, m.ID, err)
	}
	r.stages[k] = n
	return s, nil
}

// lifeError logs a transition the life refused: a bug in the router, which
// must not become a second answer.
func (r *Router) lifeError(err error) {
	r.log.Error("refused a step outside a message's life; the store is left as it is", "err", err)
}

// attempt counts a turn's start (stored or attempted → attempted) and
// returns how many turns of it have started.
func (r *Router) attempt(m Message) (int, error) {
	prev, err := r.advance(m, EvAttempt)
	if err != nil {
		r.lifeError(err)
		return 0, err
	}
	n, err := r.o.Store.Attempt(m.Platform, string(m.ID))
	if err != nil {
		r.setStage(m, prev) // not counted: as it was
	}
	return n, err
}

// giveBack gives the attempt back (attempted → stored): a turn the drain
// cut short is not the turn's fault.
func (r *Router) giveBack(m Message) error {
	if _, err := r.advance(m, EvAbandon); err != nil {
		r.lifeError(err)
		return err
	}
	return r.o.Store.ReleaseAttempt(m.Platform, string(m.ID))
}

// answered records the delivered answer in the sent log (attempted →
// answered), before the durable finish: see the store's sent log.
func (r *Router) answered(m Message) error {
	if _, err := r.advance(m, EvAnswer); err != nil {
		r.lifeError(err)
		return err
	}
	return r.o.Store.MarkSent(m.Platform, string(m.ID))
}

// finish records the outcome (→ finished), retrying a failed write until
// it holds: an answered message left pending would be answered again by
// the next process (the sent log covers a crash meanwhile).
func (r *Router) finish(m Message, state, note string) {
	if _, err := r.advance(m, EvFinish); err != nil {
		r.lifeError(err)
		return
	}
	for attempt := 0; ; attempt++ {
		err := r.o.Store.Finish(m.Platform, string(m.ID), state, note)
		if err == nil {
			break
		}
		if attempt == 0 {
			r.log.Error("store: could not mark the message finished; retrying until it can",
				"platform", m.Platform, "update_id", m.ID, "err", err)
		}
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(retryStoreAfter):
		}
	}
	if r.o.Finished != nil {
		r.o.Finished(m, state, note)
	}
}

// answeredAndFinished records a delivered answer and finishes the message
// (attempted → answered → finished) with one write(2) and no transaction
// of its own: the sent log's line is what a crash needs (the next process
// finishes the message from it, without answering again), so the durable
// finish rides with the store's next commit (Store.FinishSent). Without
// the line (the write failed), the finish is durable on its own, as
// before.
func (r *Router) answeredAndFinished(log interface{ Warn(string, ...any) }, m Message, note string) {
	if err := r.answered(m); err != nil {
		log.Warn("could not record the send", "err", err)
		r.finish(m, store.Done, note)
		return
	}
	if _, err := r.advance(m, EvFinish); err != nil {
		r.lifeError(err)
		return
	}
	if err := r.o.Store.FinishSent(m.Platform, string(m.ID), note); err != nil {
		// Only without a sent log (a store opened for tests): as finish.
		r.log.Error("store: could not mark the message finished", "platform", m.Platform, "update_id", m.ID, "err", err)
	}
	if r.o.Finished != nil {
		r.o.Finished(m, store.Done, note)
	}
}

// storeBatch records what an adapter received (received → stored), with
// its cursor, in one transaction; it returns the messages that were new.
func (r *Router) storeBatch(name string, items []store.Item, cursor string) ([]store.Item, error) {
	return r.o.Store.Deliver(name, items, cursor)
}

// dropUnreadable finishes a record Resume cannot read (stored → finished,
// dropped): it can never become a turn.
func (r *Router) dropUnreadable(it store.Item, why error) {
	r.log.Warn("dropping an unreadable inbox message", "platform", it.Platform, "id", it.ID, "err", why)
	if err := r.o.Store.Finish(it.Platform, it.ID, store.Dropped, "unreadable: "+why.Error()); err != nil {
		// It stays pending: the next start skips it again.
		r.log.Warn("could not mark the unreadable message dropped; the next start skips it again", "platform", it.Platform, "id", it.ID, "err", err)
	}
}

func (r *Router) setStage(m Message, s Stage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.stages[msgKey{m.Platform, m.ID}]; ok {
		r.stages[msgKey{m.Platform, m.ID}] = s
	}
}
