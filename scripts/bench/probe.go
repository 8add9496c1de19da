package main

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
)

// The probe is bin/hermes-probe's loop, in process so that every request
// can be kept for the timeline: GET /v1/status on the control socket, one
// connection per request, as fast as answers come. One difference: after
// a refused connection it waits refusedPause before trying again, so that
// a baseline without socket activation does not spin a core of this
// two-core machine while it is down (hermes-probe retries at once).

const refusedPause = time.Millisecond

// Outcome of one probe request.
const (
	Answered = iota
	Refused
	Failed
)

// Request is one probe request, times relative to the probe's start.
type Request struct {
	Start, End time.Duration
	Outcome    int
	PID        int
	Err        string // the error of a refused or failed request
}

// Probe loops on a control socket until stopped.
type Probe struct {
	path  string
	t0    time.Time
	first chan struct{}
	stop  chan struct{}
	done  chan struct{}

	mu   sync.Mutex
	reqs []Request
}

// StartProbe starts the loop and waits (up to 10 s) for its first answer.
func StartProbe(path string) (*Probe, error) {
	p := &Probe{path: path, t0: time.Now(), first: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	select {
	case <-p.first:
		return p, nil
	case <-time.After(10 * time.Second):
		p.Stop()
		return nil, errors.New("probe: no answer from " + path + " within 10 s")
	}
}

func (p *Probe) loop() {
	defer close(p.done)
	c := control.NewClient(p.path)
	firstSeen := false
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		start := time.Since(p.t0)
		// As in hermes-probe: a request in flight when the probe is
		// stopped still gets its answer.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		st, err := c.Status(ctx)
		cancel()
		r := Request{Start: start, End: time.Since(p.t0)}
		if err != nil {
			r.Err = err.Error()
		}
		switch {
		case err == nil:
			r.Outcome, r.PID = Answered, st.PID
		case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, control.ErrNotListening):
			r.Outcome = Refused
		default:
			r.Outcome = Failed
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, r)
		p.mu.Unlock()
		if r.Outcome == Answered && !firstSeen {
			firstSeen = true
			close(p.first)
		}
		if r.Outcome != Answered {
			time.Sleep(refusedPause)
		}
	}
}

// Now is the probe's clock.
func (p *Probe) Now() time.Duration { return time.Since(p.t0) }

// At converts a wall-clock time to the probe's clock.
func (p *Probe) At(t time.Time) time.Duration { return t.Sub(p.t0) }

// WaitPID waits until a request answered by a pid other than old ends
// after from, and returns when that answer came.
func (p *Probe) WaitPID(old int, from time.Duration, timeout time.Duration) (time.Duration, bool) {
	deadline := time.Now().Add(timeout)
	seen := 0
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for ; seen < len(p.reqs); seen++ {
			r := p.reqs[seen]
			if r.Outcome == Answered && r.PID != old && r.PID != 0 && r.End > from {
				p.mu.Unlock()
				return r.End, true
			}
		}
		p.mu.Unlock()
		time.Sleep(200 * time.Microsecond)
	}
	return 0, false
}

// Stop ends the loop (the request in flight finishes) and returns every
// request.
func (p *Probe) Stop() []Request {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reqs
}

// Seen is what the client saw in a window of requests.
type Seen struct {
	Requests, Answered, Refused, Failed int
	// LongestStall is the longest single request, as hermes-probe
	// reports it.
	LongestStall time.Duration
	// LongestGap is the longest time between two consecutive answers:
	// the outage as the client lived it, refusals and retries included.
	LongestGap time.Duration
	PIDs       []int
	// FirstFailure is the error of the first failed request.
	FirstFailure string
}

// summarize counts the requests that overlap [from, to): those under way
// when the restart was asked for included.
func summarize(reqs []Request, from, to time.Duration) Seen {
	var s Seen
	var lastAnswer time.Duration = -1
	for _, r := range reqs {
		if r.End < from || r.Start >= to {
			continue
		}
		s.Requests++
		if d := r.End - r.Start; d > s.LongestStall {
			s.LongestStall = d
		}
		switch r.Outcome {
		case Answered:
			s.Answered++
			if lastAnswer >= 0 && r.End-lastAnswer > s.LongestGap {
				s.LongestGap = r.End - lastAnswer
			}
			lastAnswer = r.End
			if n := len(s.PIDs); n == 0 || s.PIDs[n-1] != r.PID {
				s.PIDs = append(s.PIDs, r.PID)
			}
		case Refused:
			s.Refused++
		default:
			s.Failed++
			if s.FirstFailure == "" {
				s.FirstFailure = r.Err
			}
		}
	}
	return s
}
