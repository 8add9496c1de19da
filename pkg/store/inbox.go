package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	// bucketInbox holds every incoming message, keyed by platform and the
	// platform's message id, from the moment it is received until long
	// after it is answered: the record is what makes a redelivered message
	// a no-op.
	bucketInbox = []byte("inbox")
	// bucketCursors holds, per platform, where receiving resumes: an opaque
	// string the adapter gave with the batch it confirms (Telegram's next
	// offset, Matrix's next_batch).
	bucketCursors = []byte("cursors")
)

// Item states.
const (
	Pending = "pending" // received, not yet answered: run after a restart
	Done    = "done"    // answered (or deliberately not: a stranger, a skip)
	Dropped = "dropped" // gave up after MaxAttempts; the person was told
)

// Item is one incoming message and what became of it. Ids are the
// platform's, opaque: a Telegram update id in decimal, a Matrix event id.
type Item struct {
	Platform string `json:"platform"`
	ID       string `json:"id"`
	Chat     string `json:"chat"`
	// Seq is the order of arrival over the whole inbox, given by Deliver:
	// ids are opaque strings and do not sort ("10" < "9").
	Seq      uint64          `json:"seq"`
	Msg      json.RawMessage `json:"msg"`
	State    string          `json:"state"`
	Attempts int             `json:"attempts"`
	Received time.Time       `json:"received"`
	Finished time.Time       `json:"finished,omitzero"`
	Note     string          `json:"note,omitempty"`
}

func inboxKey(platform, id string) []byte {
	k := make([]byte, 0, len(platform)+1+len(id))
	k = append(k, platform...)
	k = append(k, 0)
	return append(k, id...)
}

// Deliver records a batch of new messages of one platform as pending and
// stores the platform's cursor, in one transaction (one fsync for the
// batch), so that what is confirmed upstream is always already on disk. It
// returns the messages it added, with their Seq; a message received before
// (the platform redelivered it) is left as it is and not returned: it must
// not be answered twice. An empty cursor leaves the stored one.
//
// A cursor that is a decimal integer, as is the one before it (Telegram's
// offset, the local platform's counter), never moves back: a redelivered
// old update must not rewind it.
func (s *Store) Deliver(platform string, items []Item, cursor string) ([]Item, error) {
	if platform == "" || platform[0] == 0 {
		return nil, errors.New("store: a message needs a platform")
	}
	for _, it := range items {
		// Checked before the transaction: an op in a shared commit must
		// fail before it writes anything (see commit).
		if it.ID == "" {
			return nil, fmt.Errorf("store: record %d %s message(s): a %s message without an id", len(items), platform, platform)
		}
	}
	var added []Item
	// In the group commit: the finishes waiting for company (FinishSent),
	// and other chats' writes, share its transaction.
	err := s.commit(func(tx *bolt.Tx) error {
		added = added[:0]
		in := tx.Bucket(bucketInbox)
		now := time.Now().UTC()
		for _, it := range items {
			it.Platform = platform
			k := inboxKey(platform, it.ID)
			if in.Get(k) != nil {
				continue
			}
			seq, err := in.NextSequence()
			if err != nil {
				return err
			}
			it.Seq, it.State, it.Attempts = seq, Pending, 0
			if it.Received.IsZero() {
				it.Received = now
			}
			b, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := in.Put(k, b); err != nil {
				return err
			}
			added = append(added, it)
		}
		if cursor == "" {
			return nil
		}
		return setCursor(tx, platform, cursor)
	})
	if err != nil {
		return nil, fmt.Errorf("store: record %d %s message(s): %w", len(items), platform, err)
	}
	return added, nil
}

func setCursor(tx *bolt.Tx, platform, cursor string) error {
	b := tx.Bucket(bucketCursors)
	if cur := b.Get([]byte(platform)); cur != nil {
		old, err1 := strconv.ParseInt(string(cur), 10, 64)
		next, err2 := strconv.ParseInt(cursor, 10, 64)
		if err1 == nil && err2 == nil && old >= next {
			return nil
		}
	}
	if err := b.Put([]byte(platform), []byte(cursor)); err != nil {
		return err
	}
	// Kept for a release before schema 2 that `hermes update` rolls back
	// to when this one fails to come up: it reads its offset here, and
	// without it would start from Telegram's oldest update and answer again
	// what this release answered.
	if n, err := strconv.ParseInt(cursor, 10, 64); err == nil {
		legacy, err := tx.CreateBucketIfNotExists(bucketOffsetsV1)
		if err != nil {
			return err
		}
		return legacy.Put([]byte(platform), binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	return nil
}

// Receive records one message; see Deliver.
func (s *Store) Receive(it Item, cursor string) (bool, error) {
	added, err := s.Deliver(it.Platform, []Item{it}, cursor)
	return len(added) == 1, err
}

// Cursor is the last cursor stored for a platform ("" before the first).
func (s *Store) Cursor(platform string) (string, error) {
	var c string
	err := s.db.View(func(tx *bolt.Tx) error {
		c = string(tx.Bucket(bucketCursors).Get([]byte(platform)))
		return nil
	})
	return c, err
}

// Offset is a platform's cursor read as a number (Telegram's next update
// id, the local platform's next message id): 0 before the first.
func (s *Store) Offset(platform string) (int64, error) {
	c, err := s.Cursor(platform)
	if err != nil || c == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: the %s cursor %q is not a number: %w", platform, c, err)
	}
	return n, nil
}

// Get returns one item, or nil.
func (s *Store) Get(platform, id string) (*Item, error) {
	var it *Item
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketInbox).Get(inboxKey(platform, id))
		if v == nil {
			return nil
		}
		it = new(Item)
		return decodeItem(v, it)
	})
	if it != nil && it.State == Pending {
		s.fmu.Lock()
		f, ok := s.finishing[string(inboxKey(platform, id))]
		s.fmu.Unlock()
		if ok {
			it.State, it.Note, it.Finished = Done, f.note, f.at
		}
	}
	return it, err
}

func decodeItem(v []byte, it *Item) error {
	if err := json.Unmarshal(v, it); err != nil {
		return &RecordError{Bucket: string(bucketInbox), Err: err}
	}
	return nil
}

// RecordError is a record the store cannot read: it is skipped, never fatal.
type RecordError struct {
	Bucket string
	Err    error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("store: unreadable record in %s: %v", e.Bucket, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Unfinished returns the pending items of every platform in the order they
// arrived: the work a previous process did not finish. Unreadable records
// are returned in skipped, never stop the rest.
func (s *Store) Unfinished() (items []Item, skipped []error, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInbox).ForEach(func(k, v []byte) error {
			var it Item
			if err := decodeItem(v, &it); err != nil {
				skipped = append(skipped, fmt.Errorf("key %q: %w", k, err))
				return nil
			}
			s.fmu.Lock()
			_, finishing := s.finishing[string(k)]
			s.fmu.Unlock()
			if it.State == Pending && !finishing {
				items = append(items, it)
			}
			return nil
		})
	})
	slices.SortStableFunc(items, func(a, b Item) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return items, skipped, err
}

// Attempt counts one more start of an item's work and returns the count:
// a turn that keeps failing across restarts is dropped after a few.
func (s *Store) Attempt(platform, id string) (int, error) {
	n := 0
	err := s.update(platform, id, func(it *Item) { it.Attempts++; n = it.Attempts })
	return n, err
}

// ReleaseAttempt takes back the count of an attempt that was cut short on
// purpose (a drain that timed out): only a process that died in a turn
// counts against the turn.
func (s *Store) ReleaseAttempt(platform, id string) error {
	return s.update(platform, id, func(it *Item) {
		if it.Attempts > 0 {
			it.Attempts--
		}
	})
}

// Finish marks an item done (or dropped) with a note.
func (s *Store) Finish(platform, id, state, note string) error {
	return s.update(platform, id, func(it *Item) {
		it.State, it.Note, it.Finished = state, note, time.Now().UTC()
	})
}

// finish is a FinishSent not yet committed.
type finish struct {
	note string
	at   time.Time
}

// FinishSent marks done an item whose answer MarkSent has recorded in the
// sent log, without a transaction of its own: the write rides with the
// next commit some other write pays for (the next message received, a
// turn's attempt or history), or is committed alone after deferFor, or at
// Close. Reads (Get, Unfinished) see it finished at once. No promise needs
// more: a process that dies before the commit leaves the sent log, which
// the next Open folds into the store (the item is finished, not answered
// again); a machine crash can lose the sent log's line as well, and then,
// as before, the cost is one repeated answer.
func (s *Store) FinishSent(platform, id, note string) error {
	if s.sent == nil {
		return s.Finish(platform, id, Done, note) // no sent log to cover it
	}
	k := inboxKey(platform, id)
	f := finish{note: note, at: time.Now().UTC()}
	s.fmu.Lock()
	s.finishing[string(k)] = f
	s.fmu.Unlock()
	s.commitLater(func(tx *bolt.Tx) error {
		return updateItem(tx, platform, id, func(it *Item) { it.State, it.Note, it.Finished = Done, f.note, f.at })
	}, func(err error) {
		if err != nil && !errors.Is(err, ErrNoItem) {
			// Still finished for this process's reads; the sent log
			// finishes it at the next start.
			return
		}
		s.fmu.Lock()
		if s.finishing[string(k)] == f {
			delete(s.finishing, string(k))
		}
		s.fmu.Unlock()
	})
	return nil
}

// ErrNoItem is returned for an id the inbox does not hold.
var ErrNoItem = errors.New("store: no such item")

// update changes one item, in a transaction shared with whatever other
// writes are waiting (see commit): turns of different chats finishing at
// the same time pay for one fsync.
func (s *Store) update(platform, id string, f func(*Item)) error {
	return s.commit(func(tx *bolt.Tx) error { return updateItem(tx, platform, id, f) })
}

func updateItem(tx *bolt.Tx, platform, id string, f func(*Item)) error {
	b := tx.Bucket(bucketInbox)
	k := inboxKey(platform, id)
	v := b.Get(k)
	if v == nil {
		return fmt.Errorf("%w: %s/%s", ErrNoItem, platform, id)
	}
	var it Item
	if err := decodeItem(v, &it); err != nil {
		return err
	}
	f(&it)
	nb, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return b.Put(k, nb)
}

// Prune deletes finished items older than keep. Pending items stay.
func (s *Store) Prune(keep time.Duration) (int, error) {
	cutoff := time.Now().Add(-keep)
	n := 0
	s.commits.Add(1)
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketInbox).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var it Item
			if json.Unmarshal(v, &it) != nil {
				continue
			}
			if it.State != Pending && !it.Finished.IsZero() && it.Finished.Before(cutoff) {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}
