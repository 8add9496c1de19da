package cli

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/stretchr/testify/require"
)

// A message sent while the gateway drains is answered 503 and not taken;
// hermes chat sends it again and prints the answer of the next process.
func TestChatSendsAgainAMessageADrainingGatewayDidNotTake(t *testing.T) {
	var posts atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat", func(w http.ResponseWriter, r *http.Request) {
		switch posts.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "1")
			control.WriteError(w, http.StatusServiceUnavailable, "the gateway is draining (restarting or stopping); the message was not taken", "send it again")
		case 2:
			control.WriteJSON(w, http.StatusAccepted, control.ChatAnswer{ID: 7, State: "pending"})
		}
	})
	var gets atomic.Int32
	mux.HandleFunc("GET /v1/chat/{id}", func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "7", r.PathValue("id"))
		if gets.Add(1) == 1 {
			// The old process exits while the client waits: the connection
			// is cut without an answer.
			hj, ok := w.(http.Hijacker)
			require.True(t, ok)
			c, _, err := hj.Hijack()
			require.NoError(t, err)
			c.Close()
			return
		}
		control.WriteJSON(w, http.StatusOK, control.ChatAnswer{ID: 7, State: "done", Replies: []string{"hello to you"}})
	})
	path := filepath.Join(t.TempDir(), "gateway.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	replies, err := chatOnce(ctx, control.NewClient(path), "hello")
	require.NoError(t, err)
	require.Equal(t, []string{"hello to you"}, replies)
	require.EqualValues(t, 2, posts.Load(), "sent once more after the 503, not more")
	require.EqualValues(t, 2, gets.Load())
}
