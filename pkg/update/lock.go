package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Lock is the held update lock (flock on Root/update.lock). The kernel
// releases it when the process exits, however it exits.
type Lock struct{ f *os.File }

// LockedError says another process holds the update lock.
type LockedError struct {
	PID   int       // 0 when the holder has not written its pid (yet)
	Since time.Time // zero when unknown
}

func (e *LockedError) Error() string {
	who := "pid unknown"
	if e.PID > 0 {
		who = "pid " + strconv.Itoa(e.PID)
	}
	if !e.Since.IsZero() {
		who += ", since " + e.Since.Local().Format("2006-01-02 15:04:05")
	}
	return fmt.Sprintf("another hermes update is running (%s)", who)
}

// holder is the lock file's content, written by the process that holds it.
type holder struct {
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
}

// How often a waiting Lock tries again; lockWaiting (tests) is told when a
// Lock starts to wait.
var (
	lockPollInterval = 100 * time.Millisecond
	lockWaiting      func(*LockedError)
)

// Lock takes the update lock. When another process holds it, Lock returns a
// *LockedError at once, or with wait waits for it until ctx is done (the
// error then wraps both the *LockedError and ctx's error).
func (l Layout) Lock(ctx context.Context, wait bool) (*Lock, error) {
	if err := os.MkdirAll(l.Root, 0o755); err != nil {
		return nil, fmt.Errorf("update lock: %w", err)
	}
	f, err := os.OpenFile(l.LockPath(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("update lock: %w", err)
	}
	fd := int(f.Fd())
	var tick *time.Ticker
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("update lock %s: %w", l.LockPath(), err)
		}
		held := readHolder(l.LockPath())
		if !wait {
			f.Close()
			return nil, held
		}
		if tick == nil {
			tick = time.NewTicker(lockPollInterval)
			defer tick.Stop()
			if lockWaiting != nil {
				lockWaiting(held)
			}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("gave up waiting: %w: %w", held, ctx.Err())
		case <-tick.C:
		}
	}
	b, _ := json.Marshal(holder{PID: os.Getpid(), Since: time.Now().UTC().Truncate(time.Second)})
	b = append(b, '\n')
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(b, 0)
		_ = f.Sync()
	}
	return &Lock{f: f}, nil
}

// Release lets the next update in. Releasing twice is harmless.
func (k *Lock) Release() error {
	if k == nil || k.f == nil {
		return nil
	}
	_ = k.f.Truncate(0) // a stale pid would only mislead
	err := unix.Flock(int(k.f.Fd()), unix.LOCK_UN)
	if cerr := k.f.Close(); err == nil {
		err = cerr
	}
	k.f = nil
	if err != nil {
		return fmt.Errorf("release the update lock: %w", err)
	}
	return nil
}

func readHolder(path string) *LockedError {
	var h holder
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &h)
	}
	return &LockedError{PID: h.PID, Since: h.Since}
}
