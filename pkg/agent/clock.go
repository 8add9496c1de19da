package agent

import (
	"math/rand/v2"
	"time"

	hclock "github.com/hermes-gateway/hermes/pkg/clock"
)

// clock is the time source of the openai backend's retries (tests observe
// every wait instead of sleeping).
type clock = hclock.Clock

type realClock = hclock.Real

// Retry waits of the openai backend.
const (
	backoffMin = 1 * time.Second
	backoffMax = 30 * time.Second
	// maxRetryAfter is the longest Retry-After the backend waits for; a
	// server asking for more gets no retry (the person is told to try
	// again later instead of waiting minutes for an answer).
	maxRetryAfter = 60 * time.Second
)

// backoffDelay returns the wait before retry number n (n >= 1): 1s, 2s, 4s,
// ... capped at 30s, each jittered by ±20 % so that gateways that failed
// together do not retry in lockstep.
func backoffDelay(n int) time.Duration {
	d := backoffMin
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
