package gateway

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/router"
	"github.com/hermes-gateway/hermes/pkg/store"
)

// localPlatform is the machine's owner talking through the control API
// (`hermes chat`). Replies are kept in the store, so an answer that comes
// after a restart is still there for the CLI to fetch.
type localPlatform struct {
	store *store.Store

	// ids serialises id allocation: the next id is the store's offset.
	ids sync.Mutex

	mu      sync.Mutex
	waiters map[int64]chan struct{} // closed when the message is finished
	closed  bool
}

const (
	platformLocal    = "local"
	collLocalReplies = "local_replies"
	maxChatText      = 64 << 10
)

func newLocalPlatform(st *store.Store) *localPlatform {
	return &localPlatform{store: st, waiters: map[int64]chan struct{}{}}
}

func (l *localPlatform) Name() string { return platformLocal }

// Send appends to the replies of the local message answered (Quote, or
// ReplyTo: they are the same local id).
func (l *localPlatform) Send(_ context.Context, m platform.Outbound) (platform.Sent, error) {
	key := m.Quote
	if key == "" {
		key = string(m.ReplyTo)
	}
	var replies []string
	if _, err := l.store.Load(collLocalReplies, key, &replies); err != nil {
		return platform.Sent{}, err
	}
	return platform.Sent{}, l.store.Put(collLocalReplies, key, append(replies, m.Text))
}

func (l *localPlatform) Typing(context.Context, platform.ChatID) error { return nil }

// finished wakes whoever waits for m.
func (l *localPlatform) finished(m router.Message) {
	id, err := strconv.ParseInt(string(m.ID), 10, 64)
	if err != nil {
		return // not a local id: nobody waits for it
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ch, ok := l.waiters[id]; ok {
		close(ch)
		delete(l.waiters, id)
	}
}

func (l *localPlatform) wait(id int64) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	if l.closed {
		return ch
	}
	if old, ok := l.waiters[id]; ok {
		return old
	}
	l.waiters[id] = ch
	return ch
}

// release lets every waiter go (the drain began): their requests answer
// 202 and the CLI fetches the answer from the next process.
func (l *localPlatform) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for id, ch := range l.waiters {
		close(ch)
		delete(l.waiters, id)
	}
}

func (l *localPlatform) answer(id int64) (control.ChatAnswer, bool, error) {
	it, err := l.store.Get(platformLocal, strconv.FormatInt(id, 10))
	if err != nil || it == nil {
		return control.ChatAnswer{}, false, err
	}
	a := control.ChatAnswer{ID: id, State: it.State, Note: it.Note, Replies: []string{}}
	if _, err := l.store.Load(collLocalReplies, strconv.FormatInt(id, 10), &a.Replies); err != nil {
		return a, true, err
	}
	return a, true, nil
}

// chatHandlers serves POST /v1/chat and GET /v1/chat/{id}.
func (g *Gateway) chatHandlers(srv *control.Server) {
	srv.Handle("POST /v1/chat", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req control.ChatRequest
		if err := control.DecodeJSON(r, &req); err != nil {
			control.WriteDecodeError(w, err, `send {"text":"..."}`)
			return
		}
		req.Text = strings.TrimSpace(req.Text)
		switch {
		case req.Text == "":
			control.WriteError(w, http.StatusBadRequest, "empty message", `send {"text":"..."} with some text`)
			return
		case len(req.Text) > maxChatText:
			control.WriteError(w, http.StatusRequestEntityTooLarge, "message over 64 KiB", "send a shorter message")
			return
		case g.router.Draining():
			// Not taken by a process that is going away: the client sends it
			// again to the next one (`hermes chat` does, across a restart,
			// so the person loses nothing). Answered rather than left in the
			// socket, so a status or a chat during a long drain gets a clear
			// answer at once.
			w.Header().Set("Retry-After", "1")
			control.WriteError(w, http.StatusServiceUnavailable, "the gateway is draining (restarting or stopping); the message was not taken",
				"send it again in a moment: the next process takes it (`hermes chat` retries by itself)")
			return
		}
		uid := os.Getuid()
		if p, ok := control.PeerFrom(r.Context()); ok {
			uid = int(p.UID)
		}
		g.local.ids.Lock()
		id, err := g.store.Offset(platformLocal)
		if err != nil {
			g.local.ids.Unlock()
			control.WriteError(w, http.StatusInternalServerError, "store: "+err.Error(), "see `hermes gateway logs`")
			return
		}
		id = max(id, 1)
		sid := platform.MessageID(strconv.FormatInt(id, 10))
		m := router.Message{Platform: platformLocal, ID: sid, ChatID: platform.ChatID(strconv.Itoa(uid)), ChatType: "local", UserID: platform.UserID(strconv.Itoa(uid)),
			UserName: "local", MessageID: sid, Text: req.Text, Parsed: true}
		m.Command, m.Args = localCommand(req.Text)
		done := g.local.wait(id)
		// The cursor moves past it: the next local id.
		err = g.router.Receive(m, strconv.FormatInt(id+1, 10))
		g.local.ids.Unlock()
		if err != nil {
			control.WriteError(w, http.StatusInternalServerError, "store: "+err.Error(), "check free space in the state directory")
			return
		}
		g.waitAnswer(w, r, id, done, req.WaitSeconds)
	}))
	srv.Handle("GET /v1/chat/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			control.WriteError(w, http.StatusBadRequest, "bad message id "+strconv.Quote(r.PathValue("id")), "use the id POST /v1/chat returned")
			return
		}
		wait, _ := strconv.Atoi(r.URL.Query().Get("wait"))
		g.waitAnswer(w, r, id, g.local.wait(id), wait)
	}))
}

func (g *Gateway) waitAnswer(w http.ResponseWriter, r *http.Request, id int64, done chan struct{}, waitSeconds int) {
	if waitSeconds <= 0 || waitSeconds > 600 {
		waitSeconds = 120
	}
	a, ok, err := g.local.answer(id)
	if err == nil && ok && a.State == store.Pending {
		t := time.NewTimer(time.Duration(waitSeconds) * time.Second)
		select {
		case <-done:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		a, ok, err = g.local.answer(id)
	}
	switch {
	case err != nil && !errors.Is(err, store.ErrNoItem):
		control.WriteError(w, http.StatusInternalServerError, "store: "+err.Error(), "see `hermes gateway logs`")
	case !ok:
		control.WriteError(w, http.StatusNotFound, "no local message with id "+strconv.FormatInt(id, 10), "send one with POST /v1/chat")
	case a.State == store.Pending:
		control.WriteJSON(w, http.StatusAccepted, a)
	default:
		control.WriteJSON(w, http.StatusOK, a)
	}
}

// localCommand reads a command typed to `hermes chat`: "/restart now" is
// ("restart", "now").
func localCommand(text string) (name, args string) {
	if !strings.HasPrefix(text, "/") {
		return "", ""
	}
	name, args, _ = strings.Cut(strings.TrimSpace(text[1:]), " ")
	return strings.ToLower(name), strings.TrimSpace(args)
}
