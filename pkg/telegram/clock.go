package telegram

import (
	"context"
	"math/rand/v2"
	"time"
)

// Clock is the time source of the Poller and the Sender. It exists so that
// tests can observe and control every wait (backoff, retry_after, pacing)
// instead of sleeping for real and asserting on wall time.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx ends, in which case it returns
	// ctx.Err(). A d <= 0 returns at once (with ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// realClock is the production Clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is an exponential backoff with ±20 % jitter, so that many
// gateways (or a gateway and its restarted self) that failed together do not
// retry in lockstep.
type backoff struct {
	min, max time.Duration
}

// delay returns the wait before retry number n (n >= 1): min, 2*min, ...
// capped at max, each jittered by ±20 %.
func (b backoff) delay(n int) time.Duration {
	d := b.min
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
