package telegram

import (
	"math/rand/v2"
	"time"

	"github.com/hermes-gateway/hermes/pkg/clock"
)

// Clock is the time source of the Poller and the Sender, so tests can
// observe and control every wait (backoff, retry_after, pacing).
type Clock = clock.Clock

// realClock is the production Clock.
type realClock = clock.Real

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

// conflictBackoff is the wait after the n-th 409 in a row (n >= 1): min,
// 2*min, ... capped at max, without jitter. A conflict is between this
// poller and one other, so there is no herd to spread, and a fixed
// sequence is what the README and the status can promise.
type conflictBackoff struct {
	min, max time.Duration
}

func (b conflictBackoff) delay(n int) time.Duration {
	d := b.min
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}
