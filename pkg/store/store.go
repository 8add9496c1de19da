// Package store is the gateway's state file, <state_dir>/gateway.db, a bbolt
// database.
//
// Opening it is also the gateway's single-instance guard: bbolt holds an
// exclusive flock on the file for as long as it is open, so the gateway
// opens the store before anything else (before sockets, before Telegram) and
// a second instance fails at once with a *LockedError naming the first one's
// pid. A damaged file yields a *CorruptError that says how to move it aside,
// never a crash.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's name inside the state directory.
const FileName = "gateway.db"

// lockTimeout bounds the wait for bbolt's flock. bbolt's default is to wait
// forever, which would make a second gateway hang instead of failing; a
// short wait still rides out the instant when a restarting gateway's
// predecessor closes the file.
const lockTimeout = 100 * time.Millisecond

// Bucket names. Every bucket the gateway uses is created at Open, so that
// readers never have to handle a missing bucket.
var (
	bucketMeta = []byte("meta") // small key/value facts: versions, offsets
)

var buckets = [][]byte{bucketMeta, bucketInbox, bucketCursors, bucketKV}

// Store is an open gateway.db. Its methods are safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string

	sent      *sentLog
	committer committer
	commits   atomic.Int64

	// finishing holds the finishes made by FinishSent that no commit has
	// carried yet (inbox key → the finish), so that reads see them.
	fmu       sync.Mutex
	finishing map[string]finish
	// Migrated is the schema version Open found and migrated from (0: none
	// needed).
	Migrated int
	// Recovered counts items Open found answered in the sent log but not
	// yet finished in the store: a process ended between the two.
	Recovered int

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating it if needed) the store at path, taking its lock.
// The parent directory is created with mode 0700 and the file with 0600: the
// store holds chat history. Errors: *LockedError when another process holds
// the file, *CorruptError when the file is damaged, others as they come.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	db, err := openDB(path)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, finishing: map[string]finish{}}
	if s.Migrated, err = migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.sent, err = openSentLog(filepath.Dir(path)); err != nil {
		db.Close()
		return nil, err
	}
	if s.Recovered, err = s.foldSentLog(); err != nil {
		s.Close()
		return nil, fmt.Errorf("fold the sent log into %s: %w", path, err)
	}
	return s, nil
}

// openDB opens the bbolt file and reads all of it once. bbolt trusts the
// file: a truncated or overwritten one makes it panic, or fault on a mapped
// page past the end of the file (SIGBUS, which the runtime turns into a
// fatal error unless SetPanicOnFault is on). Both are caught here, while
// only this goroutine touches the database, and reported as *CorruptError;
// once this first full read has passed, later reads only see pages it has
// already checked or pages this process wrote.
func openDB(path string) (db *bolt.DB, err error) {
	// bbolt opens the file itself; keep our own handle on it so that the
	// lock can be released even when bbolt panicked halfway through Open
	// and never returned its *DB.
	var file *os.File
	opts := &bolt.Options{
		Timeout: lockTimeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}

	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// Don't call db.Close: bbolt's state is unknown and its locks
			// may be held. Closing the descriptor drops the flock; the
			// mapping leaks, which is fine on a path that ends the start.
			if file != nil {
				_ = file.Close()
			}
			db, err = nil, &CorruptError{Path: path, Err: panicError(r)}
		}
	}()

	db, err = bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, classifyOpenError(path, err)
	}
	if err := verify(db); err != nil {
		_ = db.Close()
		return nil, &CorruptError{Path: path, Err: err}
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %q: %w", name, err)
			}
		}
		return nil
	}); err != nil {
		_ = db.Close()
		if isCorruption(err) {
			return nil, &CorruptError{Path: path, Err: err}
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// panicError describes what bbolt's panic says about the file.
func panicError(r any) error {
	if f, ok := r.(interface{ Addr() uintptr }); ok {
		// A fault at a non-nil address: bbolt followed a page reference
		// past the end of the file, or out of the mapping altogether.
		return fmt.Errorf("a page lies outside the file, fault at %#x: truncated or overwritten", f.Addr())
	}
	return fmt.Errorf("bbolt panicked reading it: %v", r)
}

// verify reads every page reachable from the root once (see openDB) and
// compares the size the meta page claims with the file's: a truncated file
// is caught here even where the missing pages would only be reached later.
func verify(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(db.Path())
		if err != nil {
			return err
		}
		if tx.Size() > fi.Size() {
			return fmt.Errorf("file is %d bytes but its header says %d: truncated", fi.Size(), tx.Size())
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return walk(b)
		})
	})
}

func walk(b *bolt.Bucket) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				return walk(sub)
			}
		}
		return nil
	})
}

func classifyOpenError(path string, err error) error {
	if errors.Is(err, berrors.ErrTimeout) {
		return &LockedError{Path: path, Pid: lockHolder(path)}
	}
	if isCorruption(err) {
		return &CorruptError{Path: path, Err: err}
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// isCorruption tells a damaged file from other failures (permissions, disk
// full), which must not advise moving the file away.
func isCorruption(err error) bool {
	switch {
	case errors.Is(err, berrors.ErrInvalid),
		errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrInvalidMapping):
		return true
	}
	// bbolt formats this one with fmt.Errorf, without a sentinel.
	return strings.Contains(err.Error(), "file size too small")
}

// Close releases the file and its lock. Calling it again returns the first
// call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.flushDeferred() // the finishes waiting for company
		if s.sent != nil {
			s.sent.f.Close()
		}
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Path is the file's path as given to Open.
func (s *Store) Path() string { return s.path }

// SetMeta stores val under key in the meta bucket, durably (bbolt fsyncs on
// commit) before returning. A nil val is stored as an empty value.
func (s *Store) SetMeta(key string, val []byte) error {
	s.commits.Add(1)
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(key), val)
	})
}

// Meta returns a copy of the value stored under key, or nil, nil when there
// is none. (A value stored empty comes back as a non-nil empty slice.)
func (s *Store) Meta(key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		// bbolt's slices point into the mmap and die with the
		// transaction: copy.
		if v := tx.Bucket(bucketMeta).Get([]byte(key)); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	return out, err
}
