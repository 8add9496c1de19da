package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketKV holds small JSON records in named collections (pairing codes,
// approved users, notices), each a nested bucket.
var bucketKV = []byte("kv")

// Put stores v as JSON under collection/key, durably, in a commit shared
// with other writes of the moment (a conversation recorded while other
// chats' turns finish).
func (s *Store) Put(collection, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.commit(func(tx *bolt.Tx) error {
		c, err := tx.Bucket(bucketKV).CreateBucketIfNotExists([]byte(collection))
		if err != nil {
			return err
		}
		return c.Put([]byte(key), b)
	})
}

// Load reads collection/key into v; false when absent.
func (s *Store) Load(collection, key string, v any) (bool, error) {
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketKV).Bucket([]byte(collection))
		if c == nil {
			return nil
		}
		b := c.Get([]byte(key))
		if b == nil {
			return nil
		}
		found = true
		if err := json.Unmarshal(b, v); err != nil {
			return &RecordError{Bucket: collection, Err: err}
		}
		return nil
	})
	return found, err
}

// Delete removes collection/key; absent is not an error.
func (s *Store) Delete(collection, key string) error {
	return s.commit(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketKV).Bucket([]byte(collection))
		if c == nil {
			return nil
		}
		return c.Delete([]byte(key))
	})
}

// Each calls fn with every key and raw JSON value of a collection, in key
// order. fn must not keep the slice.
func (s *Store) Each(collection string, fn func(key string, raw []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketKV).Bucket([]byte(collection))
		if c == nil {
			return nil
		}
		return c.ForEach(func(k, v []byte) error {
			if err := fn(string(k), v); err != nil {
				return fmt.Errorf("%s/%s: %w", collection, k, err)
			}
			return nil
		})
	})
}
