package fakebot

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// FaultKind selects what a scripted fault does to a call.
type FaultKind int

const (
	// FaultTooManyRequests answers 429 "Too Many Requests: retry after N"
	// with parameters.retry_after N.
	FaultTooManyRequests FaultKind = iota + 1
	// FaultServerError answers a 5xx (500 Internal Server Error by default,
	// or Status, e.g. 502 Bad Gateway).
	FaultServerError
	// FaultDelay waits Delay, then answers normally.
	FaultDelay
	// FaultDrop closes the connection without answering.
	FaultDrop
	// FaultConflict answers 409 "Conflict: terminated by other getUpdates
	// request; …", as Telegram answers a poller while another instance
	// polls with the same token (or while the previous process's long poll
	// is still held). Scripted for getUpdates, it also ends the long poll
	// waiting at that moment with the same 409, as the other instance's
	// first getUpdates does.
	FaultConflict
	// FaultNoLongPoll makes getUpdates answer at once whatever its timeout:
	// the pending updates, or an empty {"ok":true,"result":[]}, as a proxy
	// or an emulator that does not hold long polls does. Other methods
	// are not affected.
	FaultNoLongPoll
	// FaultBadRequest answers 400 with Description (a real Telegram text
	// such as "Bad Request: can't parse entities: …"), for the rules of
	// Telegram's the fake does not model.
	FaultBadRequest
)

var faultKindNames = map[FaultKind]string{
	FaultTooManyRequests: "too_many_requests",
	FaultServerError:     "server_error",
	FaultDelay:           "delay",
	FaultDrop:            "drop",
	FaultConflict:        "conflict",
	FaultNoLongPoll:      "no_long_poll",
	FaultBadRequest:      "bad_request",
}

func (k FaultKind) String() string {
	if n, ok := faultKindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// MarshalText / UnmarshalText let the control API name kinds in JSON:
// "too_many_requests" (or "429"), "server_error" (or "5xx"), "delay" (or
// "slow"), "drop", "conflict" (or "409"), "no_long_poll" (or "no_hold").
func (k FaultKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func (k *FaultKind) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "too_many_requests", "429", "rate_limit", "flood":
		*k = FaultTooManyRequests
	case "server_error", "5xx", "500", "502":
		*k = FaultServerError
	case "delay", "slow":
		*k = FaultDelay
	case "drop", "disconnect":
		*k = FaultDrop
	case "conflict", "409":
		*k = FaultConflict
	case "no_long_poll", "no_hold":
		*k = FaultNoLongPoll
	default:
		return fmt.Errorf("fakebot: unknown fault kind %q", b)
	}
	return nil
}

// Fault scripts a misbehaviour for the next Count calls (to Method, or to any
// method when Method is empty), or for every such call during Duration.
// Faults are consumed in the order added; a call takes at most one fault.
type Fault struct {
	Kind FaultKind `json:"kind"`
	// Method matches case-insensitively; "" matches every method.
	Method string `json:"method,omitempty"`
	// Count is how many calls the fault affects; 0 means 1. Ignored when
	// Duration is set.
	Count int `json:"count,omitempty"`
	// Duration, when set, makes the fault affect every matching call from
	// when it is scripted until Duration has passed (on Options.Now), for
	// a fault that lasts a time rather than a number of calls: a 409
	// conflict for 5 s. Faults scripted after it wait until it is over.
	Duration time.Duration `json:"duration,omitempty"`
	// RetryAfter is the 429 wait in seconds; 0 means 1.
	RetryAfter int `json:"retry_after,omitempty"`
	// Status is the 5xx code; 0 means 500.
	Status int `json:"status,omitempty"`
	// HTML answers the 5xx with an nginx-style HTML page instead of JSON, as
	// Telegram's front end does when the backend is down (clients that
	// assume a JSON body break on it).
	HTML bool `json:"html,omitempty"`
	// Delay is the wait before answering, for FaultDelay.
	Delay time.Duration `json:"delay,omitempty"`
	// Description is FaultBadRequest's text; it must start with "Bad
	// Request: " as Telegram's 400s do.
	Description string `json:"description,omitempty"`

	until time.Time // the end of a Duration fault
}

// UnmarshalJSON accepts delay and duration as Go duration strings ("250ms")
// or as nanoseconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var aux struct {
		plain
		Delay    json.RawMessage `json:"delay,omitempty"`
		Duration json.RawMessage `json:"duration,omitempty"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("fakebot: fault: %w", err)
	}
	*f = Fault(aux.plain)
	for _, d := range []struct {
		name string
		raw  json.RawMessage
		into *time.Duration
	}{{"delay", aux.Delay, &f.Delay}, {"duration", aux.Duration, &f.Duration}} {
		if len(d.raw) == 0 {
			continue
		}
		var str string
		if json.Unmarshal(d.raw, &str) == nil {
			v, err := time.ParseDuration(str)
			if err != nil {
				return fmt.Errorf("fakebot: fault %s: %w", d.name, err)
			}
			*d.into = v
		} else if err := json.Unmarshal(d.raw, d.into); err != nil {
			return fmt.Errorf("fakebot: fault %s: %w", d.name, err)
		}
	}
	return nil
}

// AddFault scripts a fault.
func (s *Server) AddFault(f Fault) { s.addFault(f) }

// addFault scripts f and returns the end of a Duration fault (zero for a
// counted one).
func (s *Server) addFault(f Fault) time.Time {
	if f.Count <= 0 {
		f.Count = 1
	}
	if f.Method != "" {
		f.Method = canonicalMethod(f.Method)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Duration > 0 {
		f.until = s.opts.Now().Add(f.Duration)
	}
	s.faults = append(s.faults, &f)
	if f.Kind == FaultConflict && (f.Method == "" || f.Method == "getUpdates") {
		// The other instance's first getUpdates ends ours.
		s.terminatePollLocked(apiErr(409, DescPollConflict))
	}
	s.log.Info("fakebot: fault scripted", "kind", f.Kind, "method", f.Method, "count", f.Count, "duration", f.Duration)
	return f.until
}

// ConflictFor answers every getUpdates with 409 Conflict for d, starting by
// the long poll waiting now, as while another instance polls with the same
// token. It returns when the conflict ends (on Options.Now).
func (s *Server) ConflictFor(d time.Duration) time.Time {
	return s.addFault(Fault{Kind: FaultConflict, Method: "getUpdates", Duration: d})
}

// NoLongPollsFor makes getUpdates answer at once, whatever its timeout, for
// d (an empty result when nothing is pending), as a server that does not
// hold long polls. It returns when that ends (on Options.Now).
func (s *Server) NoLongPollsFor(d time.Duration) time.Time {
	return s.addFault(Fault{Kind: FaultNoLongPoll, Method: "getUpdates", Duration: d})
}

// TooManyRequests makes the next count calls to method ("" = any) answer
// 429 with retry_after seconds.
func (s *Server) TooManyRequests(method string, count, retryAfter int) {
	s.AddFault(Fault{Kind: FaultTooManyRequests, Method: method, Count: count, RetryAfter: retryAfter})
}

// ServerErrors makes the next count calls answer status (500 if 0).
func (s *Server) ServerErrors(method string, count, status int) {
	s.AddFault(Fault{Kind: FaultServerError, Method: method, Count: count, Status: status})
}

// SlowResponses delays the next count calls by d before answering.
func (s *Server) SlowResponses(method string, count int, d time.Duration) {
	s.AddFault(Fault{Kind: FaultDelay, Method: method, Count: count, Delay: d})
}

// DropConnections closes the connection of the next count calls without
// answering.
func (s *Server) DropConnections(method string, count int) {
	s.AddFault(Fault{Kind: FaultDrop, Method: method, Count: count})
}

// ClearFaults removes every scripted fault not yet consumed.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// RevokeToken switches the accepted token, as BotFather's /revoke does: the
// old token gets 401 Unauthorized from then on.
func (s *Server) RevokeToken(newToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = newToken
	s.terminatePollLocked(apiErr(401, DescUnauthorized))
	s.log.Info("fakebot: token revoked")
}

// takeFaultLocked consumes one count of the first fault matching method (a
// Duration fault is not consumed, only dropped once over).
func (s *Server) takeFaultLocked(method string) *Fault {
	now := s.opts.Now()
	s.faults = slices.DeleteFunc(s.faults, func(f *Fault) bool { return !f.until.IsZero() && !now.Before(f.until) })
	for i, f := range s.faults {
		if f.Method != "" && f.Method != method {
			continue
		}
		if f.until.IsZero() {
			f.Count--
			if f.Count <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		s.faultsHit++
		taken := *f
		return &taken
	}
	return nil
}

// applyFault acts out f. It returns true when the call has been answered
// (or dropped) and false when it should proceed normally (after a delay).
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	switch f.Kind {
	case FaultTooManyRequests:
		writeError(w, tooManyRequests(f.RetryAfter))
	case FaultServerError:
		e := serverError(f.Status)
		if f.HTML {
			writeNginxError(w, e.Code)
		} else {
			writeError(w, e)
		}
	case FaultDelay:
		timer := time.NewTimer(f.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
			return false
		case <-r.Context().Done():
		case <-s.closed:
		}
	case FaultDrop:
		dropConnection(w)
	case FaultConflict:
		writeError(w, apiErr(409, DescPollConflict))
	case FaultBadRequest:
		d := f.Description
		if !strings.HasPrefix(d, "Bad Request: ") {
			d = "Bad Request: " + d
		}
		writeError(w, apiErr(400, d))
	default: // FaultNoLongPoll: the handler answers, not holding (noHold)
		return false
	}
	return true
}

// noHoldKey marks a request whose getUpdates must not be held.
type noHoldKey struct{}

func noHold(r *http.Request) bool { return r.Context().Value(noHoldKey{}) != nil }

// dropConnection closes the TCP connection without writing a response.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// Without hijacking (HTTP/2, recorders) aborting the handler is the
	// closest thing: net/http then resets the stream or closes the conn.
	panic(http.ErrAbortHandler)
}

func writeNginxError(w http.ResponseWriter, status int) {
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n", text, text)
}
