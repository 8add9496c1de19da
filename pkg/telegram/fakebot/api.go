package fakebot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// apiHandler implements one Bot API method. It returns the result to put in
// "result", or an error (*APIError for Telegram errors).
type apiHandler func(s *Server, r *http.Request, p params) (any, error)

// described is a result that Telegram accompanies with a description, as it
// does for setWebhook ("Webhook was set").
type described struct {
	result      any
	description string
}

// methods maps lower-case method names (the Bot API matches them
// case-insensitively) to their canonical name and implementation.
var methods = map[string]struct {
	name string
	fn   apiHandler
}{}

func register(name string, fn apiHandler) {
	methods[strings.ToLower(name)] = struct {
		name string
		fn   apiHandler
	}{name, fn}
}

func init() {
	register("getMe", (*Server).handleGetMe)
	register("getUpdates", (*Server).handleGetUpdates)
	register("sendMessage", (*Server).handleSendMessage)
	register("editMessageText", (*Server).handleEditMessageText)
	register("deleteMessage", (*Server).handleDeleteMessage)
	register("getFile", (*Server).handleGetFile)
	register("sendDocument", (*Server).handleSendDocument)
	register("sendPhoto", (*Server).handleSendPhoto)
	register("sendChatAction", (*Server).handleSendChatAction)
	register("getChat", (*Server).handleGetChat)
	register("setWebhook", (*Server).handleSetWebhook)
	register("deleteWebhook", (*Server).handleDeleteWebhook)
	register("getWebhookInfo", (*Server).handleGetWebhookInfo)
	register("setMyCommands", (*Server).handleSetMyCommands)
	register("getMyCommands", (*Server).handleGetMyCommands)
	register("deleteMyCommands", (*Server).handleDeleteMyCommands)
	register("answerCallbackQuery", func(*Server, *http.Request, params) (any, error) { return true, nil })
}

// serveAPI routes POST|GET /bot<token>/<method>.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || token == "" || method == "" || strings.Contains(method, "/") {
		writeError(w, apiErr(404, DescNotFound))
		return
	}
	s.mu.Lock()
	if token != s.token {
		s.unauthorized++
		s.mu.Unlock()
		s.log.Debug("fakebot: unauthorized", "method", method)
		writeError(w, apiErr(401, DescUnauthorized))
		return
	}
	m, known := methods[strings.ToLower(method)]
	name := strings.ToLower(method)
	if known {
		name = m.name
	}
	s.calls[name]++
	fault := s.takeFaultLocked(name)
	s.broadcastLocked()
	s.mu.Unlock()

	s.log.Debug("fakebot: call", "method", name)
	if fault != nil && s.applyFault(w, r, fault) {
		return
	}
	if fault != nil && fault.Kind == FaultNoLongPoll {
		r = r.WithContext(context.WithValue(r.Context(), noHoldKey{}, true))
	}
	if !known {
		writeError(w, apiErr(404, DescNotFound))
		return
	}
	p, err := parseParams(r)
	if err != nil {
		s.log.Debug("fakebot: bad params", "method", name, "err", err)
		writeError(w, badRequest("can't parse request parameters"))
		return
	}
	res, err := m.fn(s, r, p)
	if err != nil {
		if errors.Is(err, errClientGone) {
			return
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			s.log.Error("fakebot: internal error", "method", name, "err", err)
			ae = apiErr(500, DescInternalError)
		}
		s.mu.Lock()
		s.errors++
		if s.refusals == nil {
			s.refusals = map[string]int{}
		}
		s.refusals[fmt.Sprintf("%s %d %s", name, ae.Code, ae.Description)]++
		s.mu.Unlock()
		s.log.Debug("fakebot: error answer", "method", name, "code", ae.Code, "description", ae.Description)
		writeError(w, ae)
		return
	}
	if d, ok := res.(described); ok {
		writeJSON(w, http.StatusOK, apiResponse{OK: true, Result: d.result, Description: d.description})
		return
	}
	writeJSON(w, http.StatusOK, apiResponse{OK: true, Result: res})
}

type apiResponse struct {
	OK          bool                `json:"ok"`
	Result      any                 `json:"result,omitempty"`
	ErrorCode   int                 `json:"error_code,omitempty"`
	Description string              `json:"description,omitempty"`
	Parameters  *responseParameters `json:"parameters,omitempty"`
}

type responseParameters struct {
	RetryAfter int `json:"retry_after,omitempty"`
}

func writeError(w http.ResponseWriter, e *APIError) {
	resp := apiResponse{OK: false, ErrorCode: e.Code, Description: e.Description}
	if e.RetryAfter > 0 {
		resp.Parameters = &responseParameters{RetryAfter: e.RetryAfter}
	}
	writeJSON(w, e.Code, resp)
}

// marshal encodes like the Bot API: no HTML escaping of <, > and &.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("fakebot: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"ok":false,"error_code":500,"description":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) handleGetMe(_ *http.Request, _ params) (any, error) {
	return botUser{User: s.Bot(), CanJoinGroups: true}, nil
}
