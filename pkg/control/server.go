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
	"slices"
	"strconv"
	"strings"

	"github.com/hermes-gateway/hermes/pkg/httpserve"
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
	mux *http.ServeMux
	srv *httpserve.Server
	log *slog.Logger
	// routes are the endpoints in the order they were added ("GET
	// /v1/status"): the 404's hint lists them.
	routes []string
	// paths matches a request's path alone against the endpoints' paths
	// (patterns such as /v1/chat/{id} included), so that a wrong method
	// gets 405 with the methods the path takes rather than the catch-all
	// 404.
	paths   *http.ServeMux
	methods map[string][]string // path pattern → its methods
}

// NewServer builds the control API for b. Handle adds more endpoints before
// Serve.
func NewServer(b Backend, log *slog.Logger) *Server {
	s := &Server{mux: http.NewServeMux(), log: log, paths: http.NewServeMux(), methods: map[string][]string{}}
	s.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, b.Status())
	})
	s.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		st := b.Status().State
		code := http.StatusOK
		if st != StateReady {
			code = http.StatusServiceUnavailable
		}
		WriteJSON(w, code, Health{OK: code == http.StatusOK, State: st})
	})
	s.HandleFunc("POST /v1/restart", func(w http.ResponseWriter, r *http.Request) {
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
		if _, pattern := s.paths.Handler(r); pattern != "" {
			allow := strings.Join(s.methods[pattern], ", ")
			w.Header().Set("Allow", allow)
			WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s does not take %s", r.URL.Path, r.Method), "use "+allow)
			return
		}
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path),
			"the API has "+strings.Join(s.routes, ", ")+"; is the CLI newer than the gateway? see `hermes version`")
	})
	return s
}

// Handle adds an endpoint: a Go 1.22 mux pattern with its method, such as
// "POST /v1/chat" or "GET /v1/chat/{id}".
func (s *Server) Handle(pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		panic("control: endpoint " + strconv.Quote(pattern) + " needs a method and a path")
	}
	s.mux.Handle(pattern, h)
	if _, seen := s.methods[path]; !seen {
		s.paths.Handle(path, http.NotFoundHandler())
	}
	s.methods[path] = append(s.methods[path], method)
	s.routes = append(s.routes, pattern)
}

// HandleFunc is Handle for a function.
func (s *Server) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	s.Handle(pattern, http.HandlerFunc(h))
}

// Routes lists the endpoints ("GET /v1/status", …) in the order they were
// added.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// Serve starts serving l in the background. Connections from other users are
// refused (see OwnerOnly); a panic in a handler is answered 500 and logged,
// and never takes the gateway down.
func (s *Server) Serve(l net.Listener) {
	owner := OwnerOnly(l, func(p Peer, err error) {
		s.log.Warn("control: refused a connection", "peer_pid", p.PID, "peer_uid", p.UID, "err", err)
	})
	s.srv = httpserve.Serve(owner, recoverer(s.mux, s.log), httpserve.Options{ConnContext: connContext, Log: s.log})
}

// Shutdown stops accepting, answers every request already accepted, and
// returns when they are done or ctx ends; new connections wait in systemd's
// socket for the next process (see httpserve).
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
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
