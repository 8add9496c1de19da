package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Backend is what the control API asks of the gateway.
type Backend interface {
	Status() Status
	// RequestRestart starts a drain that ends in exit 75. It fails when the
	// gateway is already draining.
	RequestRestart(reason, by string) error
}

// maxBody bounds every request body: control requests are small, and a
// client must not be able to make the gateway buffer without limit.
const maxBody = 64 << 10

// Server serves the control API on one listener.
type Server struct {
	mux      *http.ServeMux
	http     *http.Server
	log      *slog.Logger
	listener net.Listener
	done     chan error
	conns    connSet
	// allowed maps known paths to their method, so that a wrong method gets
	// 405 rather than the catch-all 404.
	allowed map[string]string
}

// NewServer builds the control API for b. Handle adds more endpoints before
// Serve.
func NewServer(b Backend, log *slog.Logger) *Server {
	s := &Server{mux: http.NewServeMux(), log: log, allowed: map[string]string{
		"/v1/status": "GET", "/v1/health": "GET", "/v1/restart": "POST"}}
	s.mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, b.Status())
	})
	s.mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		st := b.Status().State
		code := http.StatusOK
		if st != StateReady {
			code = http.StatusServiceUnavailable
		}
		WriteJSON(w, code, Health{OK: code == http.StatusOK, State: st})
	})
	s.mux.HandleFunc("POST /v1/restart", func(w http.ResponseWriter, r *http.Request) {
		var req RestartRequest
		if err := DecodeJSON(r, &req); err != nil {
			WriteDecodeError(w, err, `send {"reason":"..."} or an empty body`)
			return
		}
		if req.Reason == "" {
			req.Reason = "requested through the control API"
		}
		by := "control API"
		if p, ok := PeerFrom(r.Context()); ok {
			by = "control API, " + p.String()
		}
		if err := b.RequestRestart(req.Reason, by); err != nil {
			WriteError(w, http.StatusConflict, err.Error(), "wait for the running drain to finish; the gateway restarts or stops after it")
			return
		}
		WriteJSON(w, http.StatusAccepted, Accepted{Accepted: true, Message: "draining, then exiting 75 for systemd to restart"})
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow, ok := s.allowed[r.URL.Path]; ok {
			w.Header().Set("Allow", allow)
			WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s does not take %s", r.URL.Path, r.Method), "use "+allow)
			return
		}
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path),
			"the API has GET /v1/status, GET /v1/health, POST /v1/restart; is the CLI newer than the gateway? see `hermes version`")
	})
	return s
}

// Handle adds an endpoint (a Go 1.22 mux pattern such as "POST /v1/chat").
func (s *Server) Handle(pattern string, h http.Handler) {
	if method, path, ok := strings.Cut(pattern, " "); ok {
		s.allowed[path] = method
	}
	s.mux.Handle(pattern, h)
}

// Serve starts serving l in the background. Connections from other users are
// refused (see OwnerOnly); a panic in a handler is answered 500 and logged,
// and never takes the gateway down.
func (s *Server) Serve(l net.Listener) {
	s.http = &http.Server{
		Handler:           recoverer(s.mux, s.log),
		ConnContext:       connContext,
		ConnState:         s.conns.track,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.done = make(chan error, 1)
	owner := OwnerOnly(l, func(p Peer, err error) {
		s.log.Warn("control: refused a connection", "peer_pid", p.PID, "peer_uid", p.UID, "err", err)
	})
	s.listener = owner
	go func() { s.done <- s.http.Serve(owner) }()
}

// Shutdown stops accepting (the listener's fd is closed here, but systemd
// keeps its own copy, so new connections wait in the backlog for the next
// process), answers every connection already accepted, and returns when they
// are closed or ctx ends.
//
// http.Server.Shutdown is not used: it drops a connection whose request
// is read after shutdown began (net/http closes it unanswered), and it does
// not wait for the Serve loop, so a connection accepted in that instant is
// not yet tracked. Either way a client reads EOF during a restart.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.http == nil {
		return nil
	}
	s.listener.Close()
	serveErr := <-s.done // every accepted connection is now tracked
	// Connections close after their current response; idle ones now.
	s.http.SetKeepAlivesEnabled(false)
	err := s.conns.waitEmpty(ctx)
	if err != nil {
		s.http.Close()
	}
	if serveErr != nil && !errors.Is(serveErr, net.ErrClosed) && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}

// connSet tracks open connections through http.Server.ConnState.
type connSet struct {
	mu    sync.Mutex
	open  map[net.Conn]struct{}
	empty chan struct{} // closed and replaced when open drains to zero
}

func (cs *connSet) track(c net.Conn, state http.ConnState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.open == nil {
		cs.open = map[net.Conn]struct{}{}
	}
	switch state {
	case http.StateNew:
		cs.open[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(cs.open, c)
		if len(cs.open) == 0 && cs.empty != nil {
			close(cs.empty)
			cs.empty = nil
		}
	}
}

func (cs *connSet) waitEmpty(ctx context.Context) error {
	cs.mu.Lock()
	if len(cs.open) == 0 {
		cs.mu.Unlock()
		return nil
	}
	if cs.empty == nil {
		cs.empty = make(chan struct{})
	}
	ch := cs.empty
	cs.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("control connections still open at shutdown: %w", ctx.Err())
	}
}

func recoverer(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("control: handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				WriteError(w, http.StatusInternalServerError, "internal error", "see `hermes gateway logs`")
			}
		}()
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h.ServeHTTP(w, r)
	})
}

// WriteJSON writes v as the JSON body of a response.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// WriteError writes an Error body.
func WriteError(w http.ResponseWriter, code int, msg, fix string) {
	WriteJSON(w, code, Error{Error: msg, Fix: fix})
}

// ErrTooLarge is a request body over the limit.
var ErrTooLarge = errors.New("request body too large")

// WriteDecodeError answers a DecodeJSON error: 413 for a body over the
// limit, 400 otherwise.
func WriteDecodeError(w http.ResponseWriter, err error, fix string) {
	code := http.StatusBadRequest
	if errors.Is(err, ErrTooLarge) {
		code = http.StatusRequestEntityTooLarge
	}
	WriteError(w, code, err.Error(), fix)
}

// DecodeJSON reads a request body strictly: unknown fields and trailing data
// are errors; an empty body leaves v as it is.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: over %d bytes", ErrTooLarge, tooBig.Limit)
		}
		return fmt.Errorf("malformed JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("malformed JSON body: more than one value")
	}
	return nil
}
