// Package httpserve serves HTTP on a listener systemd owns, and shuts down
// without dropping a single accepted request: what the control API and the
// webhook need while the gateway restarts.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is an http.Server with a drain-safe Shutdown.
type Server struct {
	http     *http.Server
	listener net.Listener
	done     chan error
	conns    connSet
}

// Options tune a Server; zero values get safe defaults.
type Options struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	ConnContext       func(context.Context, net.Conn) context.Context
	Log               *slog.Logger
}

// Serve starts serving h on l in the background.
func Serve(l net.Listener, h http.Handler, o Options) *Server {
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = 5 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = 16 << 10
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{listener: l, done: make(chan error, 1)}
	s.http = &http.Server{
		Handler:           h,
		ConnContext:       o.ConnContext,
		ConnState:         s.conns.track,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug),
	}
	go func() { s.done <- s.http.Serve(l) }()
	return s
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
	empty chan struct{} // closed when open drains to zero
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
		return fmt.Errorf("connections still open at shutdown: %w", ctx.Err())
	}
}
