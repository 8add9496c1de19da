package openaifake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// SetChunks sets how a streamed answer is cut into chunks (the default
// cuts after each space, as models stream words).
func (s *Server) SetChunks(f func(answer string) []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chunks = f
}

// SetChunkGate sets a function called before chunk i (0-based) of every
// streamed answer (to request r) is written; it may block, so a test can
// hold a stream at a point of its choosing, or pace it like a model
// writing (nil: no gate).
func (s *Server) SetChunkGate(f func(r ChatRequest, i int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = f
}

// Words cuts text after each space: "a b" → "a ", "b".
func Words(text string) []string {
	var out []string
	for text != "" {
		i := strings.IndexByte(text, ' ')
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	return out
}

// stream answers a "stream": true request as OpenAI does: server-sent
// events, a first chunk with the role, one chunk per piece of content, a
// last one with finish_reason "stop", then "data: [DONE]". Each event is
// flushed as it is written.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, id int, req ChatRequest, fault Fault) {
	s.mu.Lock()
	reply, chunker, gate := s.reply, s.chunks, s.gate
	s.mu.Unlock()
	if chunker == nil {
		chunker = Words
	}
	pieces := chunker(reply(req))
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	created := time.Now().Unix()
	event := func(delta map[string]any, finish any) bool {
		b, _ := json.Marshal(map[string]any{
			"id": fmt.Sprintf("chatcmpl-fake-%d", id), "object": "chat.completion.chunk",
			"created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
		})
		return s.writeEvent(w, fl, string(b))
	}
	if !event(map[string]any{"role": "assistant", "content": ""}, nil) {
		return
	}
	for i, p := range pieces {
		if gate != nil {
			gate(req, i)
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		default:
		}
		if fault.CutAfter > 0 && i == fault.CutAfter {
			panic(http.ErrAbortHandler) // the connection is cut, no [DONE]
		}
		if fault.ErrorAfter > 0 && i == fault.ErrorAfter {
			s.writeEvent(w, fl, ErrorBody("The server had an error while processing your request. Sorry about that!", "server_error", ""))
			return
		}
		if !event(map[string]any{"content": p}, nil) {
			return
		}
	}
	if !event(map[string]any{}, "stop") {
		return
	}
	s.writeEvent(w, fl, "[DONE]")
}

func (s *Server) writeEvent(w http.ResponseWriter, fl http.Flusher, data string) bool {
	if _, err := io.WriteString(w, "data: "+data+"\n\n"); err != nil {
		return false
	}
	if fl != nil {
		fl.Flush()
	}
	return true
}
