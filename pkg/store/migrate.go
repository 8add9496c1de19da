package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Schema is the layout this code writes, recorded in the meta bucket under
// metaSchema. A store without the record was written by a release before
// records existed (schema 1) and is migrated once, in one transaction, at
// Open: a crash during it leaves the file as it was.
//
//   - 1: inbox keyed by platform + int64 update id (big-endian, sign bit
//     flipped), items with numeric "id" and "chat_id"; per-platform next
//     update id in bucket "offsets".
//   - 2: inbox keyed by platform + the platform's id as an opaque string,
//     items with string "id" and "chat" and an arrival "seq"; per-platform
//     cursor strings in bucket "cursors". Numeric cursors are also still
//     written to "offsets" as schema 1 did, so that a release before
//     schema 2 that an update rolls back to resumes Telegram where this
//     one left off (its inbox records it cannot read, and skips).
const Schema = 2

const metaSchema = "schema"

var bucketOffsetsV1 = []byte("offsets")

// migrate brings the file to Schema and says from which version it came
// (0 when it was current or new).
func migrate(db *bolt.DB) (int, error) {
	from := 0
	err := db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		v := meta.Get([]byte(metaSchema))
		switch {
		case v == nil:
			from = 1
		default:
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return fmt.Errorf("unreadable schema version %q; move the file aside and start again", v)
			}
			if n > Schema {
				return fmt.Errorf("the store is schema %d, written by a newer hermes-gateway (this one knows %d); run that release again (`hermes update --rollback` is not enough: the file stays new), or move the file aside", n, Schema)
			}
			if n == Schema {
				return nil
			}
			from = n
		}
		if from == 1 {
			found, err := migrateV1(tx)
			if err != nil {
				return fmt.Errorf("migrate the store from schema 1: %w", err)
			}
			if !found {
				from = 0 // a new file: nothing to migrate
			}
		}
		return meta.Put([]byte(metaSchema), []byte(strconv.Itoa(Schema)))
	})
	if err != nil {
		return 0, err
	}
	return from, nil
}

// itemV1 is an inbox record as schema 1 wrote it.
type itemV1 struct {
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

// migrateV1 rewrites the inbox and the offsets; found is false for a new,
// empty file.
func migrateV1(tx *bolt.Tx) (found bool, err error) {
	in := tx.Bucket(bucketInbox)
	type kv struct{ k, v []byte }
	var old []kv
	if err := in.ForEach(func(k, v []byte) error {
		old = append(old, kv{append([]byte{}, k...), append([]byte{}, v...)})
		return nil
	}); err != nil {
		return false, err
	}
	found = len(old) > 0
	// Schema 1's keys sort by platform, then numerically by id: the arrival
	// order the new Seq keeps.
	for _, r := range old {
		if err := in.Delete(r.k); err != nil {
			return false, err
		}
		var o itemV1
		if err := json.Unmarshal(r.v, &o); err != nil || o.Platform == "" {
			// Unreadable then, unreadable now: keep it under a key no
			// lookup uses, so the next start reports it as before.
			platform, id := splitKeyV1(r.k)
			if err := in.Put(inboxKey(platform, "unreadable-"+id), r.v); err != nil {
				return false, err
			}
			continue
		}
		seq, err := in.NextSequence()
		if err != nil {
			return false, err
		}
		it := Item{Platform: o.Platform, ID: strconv.FormatInt(o.ID, 10), Chat: strconv.FormatInt(o.ChatID, 10), Seq: seq,
			Msg: o.Msg, State: o.State, Attempts: o.Attempts, Received: o.Received, Finished: o.Finished, Note: o.Note}
		b, err := json.Marshal(it)
		if err != nil {
			return false, err
		}
		if err := in.Put(inboxKey(it.Platform, it.ID), b); err != nil {
			return false, err
		}
	}
	if offs := tx.Bucket(bucketOffsetsV1); offs != nil {
		found = true
		cur := tx.Bucket(bucketCursors)
		if err := offs.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return errors.New("an offset that is not 8 bytes")
			}
			return cur.Put(append([]byte{}, k...), []byte(strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10)))
		}); err != nil {
			return false, err
		}
	}
	return found, nil
}

func splitKeyV1(k []byte) (platform, id string) {
	for i, c := range k {
		if c == 0 && len(k)-i-1 == 8 {
			return string(k[:i]), strconv.FormatInt(int64(binary.BigEndian.Uint64(k[i+1:])^(1<<63)), 10)
		}
	}
	return "unknown", fmt.Sprintf("%x", k)
}
