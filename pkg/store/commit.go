package store

import (
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Group commit. Every bbolt commit costs two fsyncs, several milliseconds,
// and a message's life has several writes (its attempt, its conversation,
// its finish). Turns of different chats run at the same time, so their
// writes are queued and the first writer to find no commit running takes
// everything queued into one transaction: one fsync for all of them. A
// lone writer commits at once, never waiting for company (bbolt's own
// Batch waits up to 10 ms for it); under load, the writes that queued
// during one commit share the next.
//
// An op's error is its own: it does not abort the others' transaction, so
// an op must fail before it writes anything (read, check, then Put). An
// error committing the transaction is everyone's.
type committer struct {
	mu      sync.Mutex
	queue   []*pendingOp
	running bool

	// Deferred writes (see FinishSent): they ride with the next commit,
	// or are committed by a timer after deferFor, or at Close. Nobody
	// waits for them.
	deferred []*pendingOp
	timer    *time.Timer
}

// deferFor bounds how long a deferred write waits for company before it
// is committed alone.
const deferFor = time.Second

type pendingOp struct {
	fn       func(*bolt.Tx) error
	err      error
	done     chan struct{}
	deferred func(error) // a deferred write's outcome (see commitLater)
}

// commit runs fn in a transaction, shared with other writes queued at the
// same moment, and returns once that transaction is durable.
func (s *Store) commit(fn func(*bolt.Tx) error) error {
	op := &pendingOp{fn: fn, done: make(chan struct{})}
	c := &s.committer
	c.mu.Lock()
	c.queue = append(c.queue, op)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		// In a goroutine of its own, so that no writer serves others'
		// commits after its own is done.
		go s.lead()
	}
	<-op.done
	return op.err
}

// lead commits what is queued until the queue is empty.
func (s *Store) lead() {
	c := &s.committer
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		// Deferred writes first: they were made before anything queued
		// now.
		deferred := c.deferred
		c.deferred = nil
		if c.timer != nil {
			c.timer.Stop()
			c.timer = nil
		}
		c.mu.Unlock()
		s.commitBatch(append(deferred, batch...))
	}
}

func (s *Store) commitBatch(batch []*pendingOp) {
	s.commits.Add(1)
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, op := range batch {
			op.err = op.fn(tx)
		}
		return nil
	})
	for _, op := range batch {
		if err != nil {
			op.err = err
		}
		if op.deferred != nil {
			op.deferred(op.err)
		}
		close(op.done)
	}
}

// commitLater queues fn to run in the next commit, without waiting for
// it; done is told the outcome. A write whose durability is already
// covered otherwise (the sent log, for a finish) need not pay a
// transaction of its own: it shares one another write pays for anyway.
func (s *Store) commitLater(fn func(*bolt.Tx) error, done func(error)) {
	op := &pendingOp{fn: fn, done: make(chan struct{}), deferred: done}
	c := &s.committer
	c.mu.Lock()
	c.deferred = append(c.deferred, op)
	if c.timer == nil {
		c.timer = time.AfterFunc(deferFor, s.flushDeferred)
	}
	c.mu.Unlock()
}

// flushDeferred commits the deferred writes now (an empty write carries
// them), and returns once they are durable.
func (s *Store) flushDeferred() {
	c := &s.committer
	c.mu.Lock()
	n := len(c.deferred)
	c.mu.Unlock()
	if n > 0 {
		_ = s.commit(func(*bolt.Tx) error { return nil })
	}
}

// Commits counts the write transactions (each one fsync'd commit) since
// Open: what the group commit and the deferred writes save shows here.
func (s *Store) Commits() int64 { return s.commits.Load() }
