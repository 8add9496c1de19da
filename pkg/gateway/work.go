package gateway

import (
	"context"
	"sync"
)

// Tracker counts work in flight (turns, deliveries) so a drain knows when it
// is done, and refuses new work once a drain has begun.
type Tracker struct {
	mu       sync.Mutex
	n        int
	draining bool
	idle     chan struct{} // closed when n drops to 0 during a drain
}

// Begin registers one piece of work. It returns false once the gateway is
// draining: the caller must not start the work (and must not confirm it to
// the platform, so that it is redelivered to the next process).
func (t *Tracker) Begin() (done func(), ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return nil, false
	}
	t.n++
	var once sync.Once
	return func() { once.Do(t.end) }, true
}

func (t *Tracker) end() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// Count is the work in flight now.
func (t *Tracker) Count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Draining reports whether a drain has begun.
func (t *Tracker) Draining() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.draining
}

// Drain refuses new work from now on and waits until the work in flight is
// done or ctx ends. It returns how much work was left unfinished.
func (t *Tracker) Drain(ctx context.Context) int {
	t.mu.Lock()
	t.draining = true
	if t.n == 0 {
		t.mu.Unlock()
		return 0
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return 0
	case <-ctx.Done():
		return t.Count()
	}
}
