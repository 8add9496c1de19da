package update

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLockHeldByAnotherProcess(t *testing.T) {
	l := testLayout(t)
	pid, release := startLockHolder(t, l)

	_, err := l.Lock(context.Background(), false)
	var le *LockedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, pid, le.PID)
	require.False(t, le.Since.IsZero())
	require.Contains(t, err.Error(), "another hermes update is running (pid ")
	require.Contains(t, err.Error(), ", since ")

	release()
	lk, err := l.Lock(context.Background(), false)
	require.NoError(t, err, "free once the holder released it")
	b, err := os.ReadFile(l.LockPath())
	require.NoError(t, err)
	var h holder
	require.NoError(t, json.Unmarshal(b, &h))
	require.Equal(t, os.Getpid(), h.PID)
	require.NoError(t, lk.Release())
	require.NoError(t, lk.Release(), "twice is harmless")
}

func TestLockWaitsUntilReleased(t *testing.T) {
	l := testLayout(t)
	pid, release := startLockHolder(t, l)

	waiting := make(chan *LockedError, 1)
	lockWaiting = func(le *LockedError) { waiting <- le }
	t.Cleanup(func() { lockWaiting = nil })

	type result struct {
		lk  *Lock
		err error
	}
	done := make(chan result, 1)
	go func() {
		lk, err := l.Lock(context.Background(), true)
		done <- result{lk, err}
	}()
	le := <-waiting // it found the lock held and waits
	require.Equal(t, pid, le.PID)
	release()
	r := <-done
	require.NoError(t, r.err)
	require.NoError(t, r.lk.Release())
}

func TestLockWaitEndsWithTheContext(t *testing.T) {
	l := testLayout(t)
	pid, _ := startLockHolder(t, l)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lockWaiting = func(*LockedError) { cancel() }
	t.Cleanup(func() { lockWaiting = nil })

	_, err := l.Lock(ctx, true)
	require.ErrorIs(t, err, context.Canceled)
	var le *LockedError
	require.True(t, errors.As(err, &le))
	require.Equal(t, pid, le.PID)
}

func TestLockedErrorWithoutDetails(t *testing.T) {
	require.Equal(t, "another hermes update is running (pid unknown)", (&LockedError{}).Error())
	e := &LockedError{PID: 42, Since: time.Date(2025, 3, 1, 10, 0, 0, 0, time.Local)}
	require.Equal(t, "another hermes update is running (pid 42, since 2025-03-01 10:00:00)", e.Error())
}
