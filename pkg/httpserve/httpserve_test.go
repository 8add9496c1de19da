package httpserve

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// notifyingListener says when it accepted a connection and when it was
// closed, so a test can order a client's steps against Shutdown without
// sleeping.
type notifyingListener struct {
	net.Listener
	accepted chan struct{}
	closed   chan struct{}
	once     sync.Once
}

func (l *notifyingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return c, err
}

func (l *notifyingListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.closed) })
	return err
}

func listen(t *testing.T) (*notifyingListener, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	return &notifyingListener{Listener: l, accepted: make(chan struct{}, 16), closed: make(chan struct{})}, path
}

var quiet = Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}

func get(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	_, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "an accepted request must be answered, not cut")
	return resp
}

// A request being handled when Shutdown begins is answered, and Shutdown
// waits for it.
func TestARequestInFlightAtShutdownIsAnswered(t *testing.T) {
	l, path := listen(t)
	entered, release := make(chan struct{}), make(chan struct{})
	s := Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	}), quiet)
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	respC := make(chan *http.Response, 1)
	go func() {
		_, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
		if err != nil {
			respC <- nil
			return
		}
		resp, _ := http.ReadResponse(bufio.NewReader(c), nil)
		respC <- resp
	}()
	<-entered
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	<-l.closed // Shutdown has begun: nothing new is accepted
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a request was being handled", err)
	default:
	}
	close(release)
	resp := <-respC
	require.NotNil(t, resp, "the request in flight was answered")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, "done", string(b))
	require.NoError(t, <-done)
}

// A connection accepted before Shutdown whose request arrives after it
// began is answered too: net/http's own Shutdown closes such a connection
// unanswered, which a client sees as EOF in the middle of a restart.
func TestARequestReadAfterShutdownBeganIsAnswered(t *testing.T) {
	l, path := listen(t)
	s := Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "late but answered") }), quiet)
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	<-l.accepted
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	<-l.closed
	resp := get(t, c)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, "late but answered", string(b))
	require.NoError(t, <-done)
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "and the connection is closed after the answer")
}

// An idle keep-alive connection does not hold Shutdown up.
func TestIdleConnectionsDoNotHoldShutdown(t *testing.T) {
	l, path := listen(t)
	s := Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), quiet)
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	resp := get(t, c)
	io.Copy(io.Discard, resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, s.Shutdown(context.Background()))
}

// Past its context, Shutdown closes what is left and says so.
func TestShutdownGivesUpAtItsDeadline(t *testing.T) {
	l, path := listen(t)
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s := Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), quiet)
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
	require.NoError(t, err)
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = s.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "connections still open at shutdown")
}
