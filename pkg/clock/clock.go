// Package clock is the time source of every wait that tests need to observe
// and control (backoff, Retry-After, pacing) instead of sleeping for real.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx ends, in which case it returns
	// ctx.Err(). A d <= 0 returns at once (with ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the production Clock.
type Real struct{}

// Now is time.Now.
func (Real) Now() time.Time { return time.Now() }

// Sleep waits for d or ctx.
func (Real) Sleep(ctx context.Context, d time.Duration) error {
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
