package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	// bucketInbox holds every incoming update, keyed by platform and update
	// id, from the moment it is received until long after it is answered:
	// the record is what makes a redelivered update a no-op.
	bucketInbox = []byte("inbox")
	// bucketOffsets holds, per platform, the next update id to ask for.
	bucketOffsets = []byte("offsets")
)

// Item states.
const (
	Pending = "pending" // received, not yet answered: run after a restart
	Done    = "done"    // answered (or deliberately not: a stranger, a skip)
	Dropped = "dropped" // gave up after MaxAttempts; the person was told
)

// Item is one incoming update and what became of it.
type Item struct {
	Platform string          `json:"platform"`
	ID       int64           `json:"id"`
	ChatID   int64           `json:"chat_id"`
	Msg      json.RawMessage `json:"msg"`
	State    string          `json:"state"`
	Attempts int             `json:"attempts"`
	Received time.Time       `json:"received"`
	Finished time.Time       `json:"finished,omitzero"`
	Note     string          `json:"note,omitempty"`
}

func inboxKey(platform string, id int64) []byte {
	k := make([]byte, 0, len(platform)+1+8)
	k = append(k, platform...)
	k = append(k, 0)
	// Big-endian with the sign bit flipped sorts int64s in numeric order.
	return binary.BigEndian.AppendUint64(k, uint64(id)^(1<<63))
}

// Receive records a new update as pending and advances the platform's
// offset past it, in one transaction, so that what is confirmed to the
// platform is always already on disk. It returns false, changing nothing
// but the offset, when the update was received before: the platform
// redelivered it, and it must not be answered twice.
func (s *Store) Receive(it Item) (bool, error) {
	if it.Platform == "" || it.Platform[0] == 0 {
		return false, errors.New("store: an item needs a platform")
	}
	added := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		in := tx.Bucket(bucketInbox)
		k := inboxKey(it.Platform, it.ID)
		if in.Get(k) == nil {
			it.State = Pending
			if it.Received.IsZero() {
				it.Received = time.Now().UTC()
			}
			b, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := in.Put(k, b); err != nil {
				return err
			}
			added = true
		}
		return advance(tx, it.Platform, it.ID+1)
	})
	if err != nil {
		return false, fmt.Errorf("store: record update %s/%d: %w", it.Platform, it.ID, err)
	}
	return added, nil
}

func advance(tx *bolt.Tx, platform string, next int64) error {
	b := tx.Bucket(bucketOffsets)
	if cur := b.Get([]byte(platform)); cur != nil && int64(binary.BigEndian.Uint64(cur)) >= next {
		return nil
	}
	return b.Put([]byte(platform), binary.BigEndian.AppendUint64(nil, uint64(next)))
}

// Offset is the next update id to ask the platform for (0: none yet).
func (s *Store) Offset(platform string) (int64, error) {
	var off int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketOffsets).Get([]byte(platform)); v != nil {
			off = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return off, err
}

// Get returns one item, or nil.
func (s *Store) Get(platform string, id int64) (*Item, error) {
	var it *Item
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketInbox).Get(inboxKey(platform, id))
		if v == nil {
			return nil
		}
		it = new(Item)
		return decodeItem(v, it)
	})
	return it, err
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

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

// Unfinished returns the pending items of every platform, oldest first per
// platform: the work a previous process did not finish. Unreadable records
// are returned in skipped, never stop the rest.
func (s *Store) Unfinished() (items []Item, skipped []error, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInbox).ForEach(func(k, v []byte) error {
			var it Item
			if err := decodeItem(v, &it); err != nil {
				skipped = append(skipped, fmt.Errorf("key %x: %w", k, err))
				return nil
			}
			if it.State == Pending {
				items = append(items, it)
			}
			return nil
		})
	})
	return items, skipped, err
}

// Attempt counts one more start of an item's work and returns the count:
// a turn that keeps failing across restarts is dropped after a few.
func (s *Store) Attempt(platform string, id int64) (int, error) {
	n := 0
	err := s.update(platform, id, func(it *Item) { it.Attempts++; n = it.Attempts })
	return n, err
}

// ReleaseAttempt takes back the count of an attempt that was cut short on
// purpose (a drain that timed out): only a process that died in a turn
// counts against the turn.
func (s *Store) ReleaseAttempt(platform string, id int64) error {
	return s.update(platform, id, func(it *Item) {
		if it.Attempts > 0 {
			it.Attempts--
		}
	})
}

// Finish marks an item done (or dropped) with a note.
func (s *Store) Finish(platform string, id int64, state, note string) error {
	return s.update(platform, id, func(it *Item) {
		it.State, it.Note, it.Finished = state, note, time.Now().UTC()
	})
}

// ErrNoItem is returned for an id the inbox does not hold.
var ErrNoItem = errors.New("store: no such item")

func (s *Store) update(platform string, id int64, f func(*Item)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInbox)
		k := inboxKey(platform, id)
		v := b.Get(k)
		if v == nil {
			return fmt.Errorf("%w: %s/%d", ErrNoItem, platform, id)
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
	})
}

// Prune deletes finished items older than keep. Pending items stay.
func (s *Store) Prune(keep time.Duration) (int, error) {
	cutoff := time.Now().Add(-keep)
	n := 0
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
