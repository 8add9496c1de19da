package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The sent log closes the gap between "the answer went out" and "the store
// says so". Recording an item finished is a bbolt transaction with two
// fsyncs, several milliseconds; a SIGKILL in between would get the message
// answered again by the next process. Right after a send succeeds, one line
// is appended to sent.log with a single write(2): once that returns, the
// line is in the page cache and survives the process being killed (only a
// machine crash can lose it, and then the cost is one repeated answer). At
// start the log is folded into the store and emptied.
const sentLogName = "sent.log"

// sentLogMax triggers a fold at run time, so the file stays small.
const sentLogMax = 1 << 20

type sentLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openSentLog(dir string) (*sentLog, error) {
	p := filepath.Join(dir, sentLogName)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return &sentLog{path: p, f: f}, nil
}

// MarkSent records, at the cost of one write(2), that the answer to an item
// went out. Call Finish afterwards as usual.
func (s *Store) MarkSent(platform, id string) error {
	if s.sent == nil {
		return nil
	}
	if strings.ContainsAny(platform, " \n") || strings.Contains(id, "\n") {
		return fmt.Errorf("store: cannot log a send for %q/%q: a platform has no spaces, an id no newlines", platform, id)
	}
	line := platform + " " + id + "\n"
	s.sent.mu.Lock()
	_, err := s.sent.f.WriteString(line)
	big := false
	if fi, serr := s.sent.f.Stat(); serr == nil && fi.Size() > sentLogMax {
		big = true
	}
	s.sent.mu.Unlock()
	if err != nil {
		return fmt.Errorf("store: append to %s: %w", s.sent.path, err)
	}
	if big {
		_, err = s.foldSentLog()
	}
	return err
}

// foldSentLog marks every pending item the log names as done, durably, then
// empties the log. Folding twice is harmless.
func (s *Store) foldSentLog() (int, error) {
	if s.sent == nil {
		return 0, nil
	}
	s.sent.mu.Lock()
	defer s.sent.mu.Unlock()
	data, err := os.ReadFile(s.sent.path)
	if err != nil || len(data) == 0 {
		return 0, err
	}
	// A torn last line (the process died mid-write) has no newline and
	// is skipped: "telegram 10" cut from "telegram 103" must not finish
	// message 10.
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	n := 0
	s.commits.Add(1)
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInbox)
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			// Schema 1 wrote decimal ids, which read the same now.
			platform, id, ok := strings.Cut(sc.Text(), " ")
			if !ok || platform == "" || id == "" {
				continue
			}
			k := inboxKey(platform, id)
			v := b.Get(k)
			if v == nil {
				continue
			}
			var it Item
			if decodeItem(v, &it) != nil || it.State != Pending {
				continue
			}
			it.State, it.Note, it.Finished = Done, "answered (recorded from the sent log after the process ended)", time.Now().UTC()
			nb, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := b.Put(k, nb); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := s.sent.f.Truncate(0); err != nil {
		return n, fmt.Errorf("store: empty %s: %w", s.sent.path, err)
	}
	return n, nil
}
