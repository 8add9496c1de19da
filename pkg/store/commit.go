package store

import (
	"sync"

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
}

type pendingOp struct {
	fn   func(*bolt.Tx) error
	err  error
	done chan struct{}
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
		c.mu.Unlock()
		s.commitBatch(batch)
	}
}

func (s *Store) commitBatch(batch []*pendingOp) {
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
		close(op.done)
	}
}
