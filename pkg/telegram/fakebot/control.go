package fakebot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The control API drives the fake from scripts (see the package doc for the
// endpoint list). Answers use the Bot API envelope: {"ok":true,"result":...}
// or {"ok":false,"error_code":N,"description":"..."}.

const (
	defaultWaitTimeout = 10 * time.Second
	maxWaitTimeout     = 5 * time.Minute
)

func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_fake/inject", s.ctlInject)
	mux.HandleFunc("POST /_fake/update", s.ctlInjectUpdate)
	mux.HandleFunc("POST /_fake/chat", s.ctlAddChat)
	mux.HandleFunc("GET /_fake/sent", s.ctlSent)
	mux.HandleFunc("GET /_fake/actions", s.ctlActions)
	mux.HandleFunc("/_fake/wait", s.ctlWait)
	mux.HandleFunc("POST /_fake/fault", s.ctlFault)
	mux.HandleFunc("DELETE /_fake/fault", s.ctlClearFaults)
	mux.HandleFunc("POST /_fake/token", s.ctlToken)
	mux.HandleFunc("POST /_fake/flood", s.ctlFlood)
	mux.HandleFunc("GET /_fake/stats", s.ctlStats)
	mux.HandleFunc("/_fake/", func(w http.ResponseWriter, _ *http.Request) {
		ctlError(w, http.StatusNotFound, "unknown control endpoint")
	})
	return mux
}

func ctlOK(w http.ResponseWriter, result any) {
	writeJSON(w, http.StatusOK, apiResponse{OK: true, Result: result})
}

func ctlError(w http.ResponseWriter, status int, desc string) {
	writeJSON(w, status, apiResponse{OK: false, ErrorCode: status, Description: desc})
}

func decodeBody(r *http.Request, into any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

// POST /_fake/inject {"chat_id":..,"user_id":..,"text":..,...}
func (s *Server) ctlInject(w http.ResponseWriter, r *http.Request) {
	var m UserMessage
	if err := decodeBody(r, &m); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	id := s.InjectMessage(m)
	ctlOK(w, map[string]int{"update_id": id})
}

// POST /_fake/update {<raw Update JSON>}
func (s *Server) ctlInjectUpdate(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if err := decodeBody(r, &raw); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	id, err := s.InjectUpdate(raw)
	if err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctlOK(w, map[string]int{"update_id": id})
}

// POST /_fake/chat {"id":..,"type":"private",...}
func (s *Server) ctlAddChat(w http.ResponseWriter, r *http.Request) {
	var c Chat
	if err := decodeBody(r, &c); err != nil || c.ID == 0 {
		ctlError(w, http.StatusBadRequest, "want a Chat object with a non-zero id")
		return
	}
	s.AddChat(c)
	ctlOK(w, true)
}

func queryChatID(r *http.Request) (int64, bool, error) {
	v := r.URL.Query().Get("chat_id")
	if v == "" {
		return 0, false, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("chat_id: %w", err)
	}
	return id, true, nil
}

// GET /_fake/sent[?chat_id=N]
func (s *Server) ctlSent(w http.ResponseWriter, r *http.Request) {
	id, ok, err := queryChatID(r)
	switch {
	case err != nil:
		ctlError(w, http.StatusBadRequest, err.Error())
	case ok:
		ctlOK(w, nonNil(s.Sent(id)))
	default:
		ctlOK(w, nonNil(s.AllSent()))
	}
}

// GET /_fake/actions?chat_id=N
func (s *Server) ctlActions(w http.ResponseWriter, r *http.Request) {
	id, ok, err := queryChatID(r)
	if err != nil || !ok {
		ctlError(w, http.StatusBadRequest, "chat_id is required")
		return
	}
	ctlOK(w, nonNil(s.Actions(id)))
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// /_fake/wait?chat_id=N&count=K[&timeout=10s]      -> the chat's messages
// /_fake/wait?method=getUpdates&count=K             -> the call count
// /_fake/wait?long_poll=1                           -> true once polling
// /_fake/wait?confirmed=UPDATE_ID                   -> true once confirmed
// A wait that times out answers 408.
func (s *Server) ctlWait(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	timeout := defaultWaitTimeout
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			if secs, err2 := strconv.ParseFloat(v, 64); err2 == nil {
				d, err = time.Duration(secs*float64(time.Second)), nil
			}
		}
		if err != nil || d <= 0 {
			ctlError(w, http.StatusBadRequest, "timeout: want a duration like 5s")
			return
		}
		timeout = min(d, maxWaitTimeout)
	}
	count := 1
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			ctlError(w, http.StatusBadRequest, "count: want a non-negative integer")
			return
		}
		count = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	var (
		result any
		err    error
	)
	chatID, hasChat, cerr := queryChatID(r)
	switch {
	case cerr != nil:
		ctlError(w, http.StatusBadRequest, cerr.Error())
		return
	case hasChat:
		var msgs []SentMessage
		msgs, err = s.WaitForMessages(ctx, chatID, count)
		result = nonNil(msgs)
	case q.Get("method") != "":
		err = s.WaitForCalls(ctx, q.Get("method"), count)
		result = s.Calls(q.Get("method"))
	case q.Get("long_poll") != "":
		err, result = s.WaitForLongPoll(ctx), true
	case q.Get("confirmed") != "":
		id, perr := strconv.Atoi(q.Get("confirmed"))
		if perr != nil {
			ctlError(w, http.StatusBadRequest, "confirmed: want an update_id")
			return
		}
		err, result = s.WaitForConfirmed(ctx, id), true
	default:
		ctlError(w, http.StatusBadRequest, "want chat_id, method, long_poll or confirmed")
		return
	}
	if err != nil {
		status := http.StatusRequestTimeout
		if errors.Is(err, ErrClosed) {
			status = http.StatusServiceUnavailable
		}
		ctlError(w, status, err.Error())
		return
	}
	ctlOK(w, result)
}

// POST /_fake/fault {"kind":"too_many_requests","method":"sendMessage","count":2,"retry_after":3}
// or, for a time: {"kind":"conflict","method":"getUpdates","duration":"5s"}
func (s *Server) ctlFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if err := decodeBody(r, &f); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	if f.Kind == 0 {
		ctlError(w, http.StatusBadRequest, "kind is required: too_many_requests, server_error, delay, drop, conflict or no_long_poll")
		return
	}
	s.AddFault(f)
	ctlOK(w, true)
}

// DELETE /_fake/fault
func (s *Server) ctlClearFaults(w http.ResponseWriter, _ *http.Request) {
	s.ClearFaults()
	ctlOK(w, true)
}

// POST /_fake/token {"token":"NEW"}
func (s *Server) ctlToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if err := decodeBody(r, &body); err != nil || strings.TrimSpace(body.Token) == "" {
		ctlError(w, http.StatusBadRequest, "want {\"token\":\"...\"}")
		return
	}
	s.RevokeToken(body.Token)
	ctlOK(w, true)
}

// POST /_fake/flood {"enabled":true} for DefaultFloodControl, {"enabled":false}
// to turn it off, or explicit buckets:
// {"enabled":true,"per_chat":{"burst":1,"every":"1s"},...}.
func (s *Server) ctlFlood(w http.ResponseWriter, r *http.Request) {
	type bucket struct {
		Burst int    `json:"burst"`
		Every string `json:"every"`
	}
	var body struct {
		Enabled  bool    `json:"enabled"`
		PerChat  *bucket `json:"per_chat"`
		PerGroup *bucket `json:"per_group"`
		Global   *bucket `json:"global"`
	}
	if err := decodeBody(r, &body); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !body.Enabled {
		s.SetFloodControl(nil)
		ctlOK(w, true)
		return
	}
	cfg := DefaultFloodControl()
	for _, b := range []struct {
		in  *bucket
		out *Bucket
	}{{body.PerChat, &cfg.PerChat}, {body.PerGroup, &cfg.PerGroup}, {body.Global, &cfg.Global}} {
		if b.in == nil {
			continue
		}
		every, err := time.ParseDuration(b.in.Every)
		if b.in.Every != "" && err != nil {
			ctlError(w, http.StatusBadRequest, "every: want a duration like 1s")
			return
		}
		*b.out = Bucket{Burst: b.in.Burst, Every: every}
	}
	s.SetFloodControl(cfg)
	ctlOK(w, true)
}

// GET /_fake/stats
func (s *Server) ctlStats(w http.ResponseWriter, _ *http.Request) {
	ctlOK(w, s.Stats())
}
