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
//   - 3: ids inside records are strings too. Schema 2 kept the router's
//     records as Telegram made them: inbox messages, pairing codes,
//     approvals, conversations and the restart notice held "id",
//     "chat_id", "user_id", "message_id", "last_id" as JSON numbers,
//     which a Matrix room id cannot be. Migrating rewrites those numbers
//     as strings ("-100123"), once; the readers also accept numbers (see
//     pkg/platform's id types), so a record written by a schema 2
//     process at any moment still reads.
const Schema = 3

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
		if from == 1 || from == 2 {
			if err := migrateV2(tx); err != nil {
				return fmt.Errorf("migrate the store from schema 2: %w", err)
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

// idFields are the record fields that hold a platform's id: schema 2 wrote
// Telegram's as JSON numbers.
var idFields = []string{"id", "chat_id", "user_id", "message_id", "last_id", "reply_to"}

// migrateV2 rewrites the numeric ids in every inbox message and every
// collection record as strings. A record that is not a JSON object (the
// local replies, a list) or cannot be read is left as it was: its reader
// reports it as before.
func migrateV2(tx *bolt.Tx) error {
	in := tx.Bucket(bucketInbox)
	if err := rewrite(in, func(v []byte) ([]byte, bool) {
		var it Item
		if json.Unmarshal(v, &it) != nil || len(it.Msg) == 0 {
			return nil, false
		}
		msg, ok := idsAsStrings(it.Msg)
		if !ok {
			return nil, false
		}
		it.Msg = msg
		b, err := json.Marshal(it)
		return b, err == nil
	}); err != nil {
		return err
	}
	kv := tx.Bucket(bucketKV)
	var colls [][]byte
	if err := kv.ForEachBucket(func(k []byte) error {
		colls = append(colls, append([]byte{}, k...))
		return nil
	}); err != nil {
		return err
	}
	for _, c := range colls {
		if err := rewrite(kv.Bucket(c), idsAsStrings); err != nil {
			return fmt.Errorf("collection %s: %w", c, err)
		}
	}
	return nil
}

// rewrite replaces each value of b that f changes.
func rewrite(b *bolt.Bucket, f func([]byte) ([]byte, bool)) error {
	type kv struct{ k, v []byte }
	var changed []kv
	if err := b.ForEach(func(k, v []byte) error {
		if v == nil {
			return nil // a nested bucket
		}
		if nv, ok := f(v); ok {
			changed = append(changed, kv{append([]byte{}, k...), nv})
		}
		return nil
	}); err != nil {
		return err
	}
	for _, r := range changed {
		if err := b.Put(r.k, r.v); err != nil {
			return err
		}
	}
	return nil
}

// idsAsStrings rewrites a JSON object's integer id fields as strings; ok
// is false when there was nothing to change.
func idsAsStrings(v []byte) ([]byte, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(v, &obj) != nil || obj == nil {
		return nil, false
	}
	changed := false
	for _, f := range idFields {
		raw, ok := obj[f]
		if !ok || len(raw) == 0 || raw[0] == '"' {
			continue
		}
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			continue
		}
		if _, err := n.Int64(); err != nil {
			continue
		}
		s, _ := json.Marshal(n.String())
		obj[f] = s
		changed = true
	}
	if !changed {
		return nil, false
	}
	b, err := json.Marshal(obj)
	return b, err == nil
}
