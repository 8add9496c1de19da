package fakebot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultToken is the token a Server accepts when Options.Token is empty. It
// has the real "<bot id>:<secret>" shape.
const DefaultToken = "123456789:AAHermesFakeBotToken-0123456789abcdef"

// Options configures a Server. The zero value is usable.
type Options struct {
	// Token the bot must use; default DefaultToken. The numeric prefix before
	// ':' is the bot's user id, as in real tokens.
	Token string
	// BotUsername and BotFirstName are returned by getMe. Defaults
	// "hermes_fake_bot" and "Hermes Fake".
	BotUsername  string
	BotFirstName string
	// BotID overrides the id taken from the token prefix.
	BotID int64
	// FirstUpdateID is the update_id of the first injected update; default
	// 100000. Telegram's ids are large and only ever increase.
	FirstUpdateID int
	// PollTimeUnit is how long one second of getUpdates' timeout lasts.
	// Default time.Second; tests can shrink it so that a long poll with
	// timeout=1 expires quickly. The 50 s cap applies before scaling.
	PollTimeUnit time.Duration
	// Webhook delivery: the first retry waits WebhookRetryBase (default 1s),
	// doubling per failure up to WebhookRetryMax (default 60s). Each POST is
	// bounded by WebhookTimeout (default 10s).
	WebhookRetryBase time.Duration
	WebhookRetryMax  time.Duration
	WebhookTimeout   time.Duration
	// WebhookClient sends webhook POSTs; default a client with WebhookTimeout.
	WebhookClient *http.Client
	// StrictWebhookURL enforces Telegram's rules that the webhook is HTTPS on
	// port 443, 80, 88 or 8443. Off by default so tests can use httptest.
	StrictWebhookURL bool
	// FloodControl enables Telegram-like 429s for sends that are too frequent.
	// nil (default) disables it.
	FloodControl *FloodControl
	// Now is the clock (message dates, flood control); default time.Now.
	Now func() time.Time
	// Logger receives one debug line per call and info lines for control
	// actions; default discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.BotUsername == "" {
		o.BotUsername = "hermes_fake_bot"
	}
	if o.BotFirstName == "" {
		o.BotFirstName = "Hermes Fake"
	}
	if o.BotID == 0 {
		prefix, _, _ := strings.Cut(o.Token, ":")
		if id, err := strconv.ParseInt(prefix, 10, 64); err == nil && id > 0 {
			o.BotID = id
		} else {
			o.BotID = 123456789
		}
	}
	if o.FirstUpdateID <= 0 {
		o.FirstUpdateID = 100000
	}
	if o.PollTimeUnit <= 0 {
		o.PollTimeUnit = time.Second
	}
	if o.WebhookRetryBase <= 0 {
		o.WebhookRetryBase = time.Second
	}
	if o.WebhookRetryMax <= 0 {
		o.WebhookRetryMax = 60 * time.Second
	}
	if o.WebhookRetryMax < o.WebhookRetryBase {
		o.WebhookRetryMax = o.WebhookRetryBase
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	if o.WebhookClient == nil {
		o.WebhookClient = &http.Client{Timeout: o.WebhookTimeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server is a fake Telegram Bot API server. Create it with New (or NewServer
// in tests), then either Start it on a loopback port or mount Handler().
// All methods are safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger

	// mu guards everything below. changed is closed and replaced on every
	// state change so that waiters (long polls, WaitFor*, the webhook
	// deliverer) wake up without polling.
	mu      sync.Mutex
	changed chan struct{}

	token        string
	calls        map[string]int
	unauthorized int
	faultsHit    int
	errors       int                    // error answers of the methods themselves (Stats.Errors)
	refusals     map[string]int         // the same by method, code and description
	files        map[string]*storedFile // by file_id: what people sent

	updates updateQueue
	poller  *pollWaiter

	chats    map[int64]*chatState
	commands json.RawMessage

	webhook webhookState
	faults  []*Fault
	flood   *floodState

	webhookOnce sync.Once
	closed      chan struct{}
	closeOnce   sync.Once
	wg          sync.WaitGroup

	httpSrv *http.Server
	baseURL string
}

// New creates a Server; it does not listen until Start or Listen.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		changed: make(chan struct{}),
		token:   opts.Token,
		calls:   map[string]int{},
		chats:   map[int64]*chatState{},
		closed:  make(chan struct{}),
	}
	s.updates.nextID = opts.FirstUpdateID
	s.flood = newFloodState(opts.FloodControl)
	return s
}

// NewServer is the test convenience: New + Start on 127.0.0.1, closed by
// t.Cleanup.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if _, err := s.Start(); err != nil {
		t.Fatalf("fakebot: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start listens on a random loopback port and serves. It returns the base
// URL (http://127.0.0.1:PORT); the Bot API lives under BASE/bot<token>/.
func (s *Server) Start() (string, error) { return s.Listen("127.0.0.1:0") }

// Listen serves on addr (host:port) and returns the base URL.
func (s *Server) Listen(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("fakebot: listen %s: %w", addr, err)
	}
	return s.Serve(l), nil
}

// Serve serves on an existing listener (for example a socket handed over by
// systemd) and returns the base URL.
func (s *Server) Serve(l net.Listener) string {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	base := "http://" + l.Addr().String()
	s.mu.Lock()
	s.httpSrv = srv
	s.baseURL = base
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("fakebot: serve", "err", err)
		}
	}()
	s.log.Info("fakebot: listening", "url", base)
	return base
}

// Close stops serving, ends waiting long polls and webhook delivery, and
// waits for the server's goroutines. Safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.mu.Lock()
		srv := s.httpSrv
		s.broadcastLocked()
		s.mu.Unlock()
		if srv != nil {
			_ = srv.Close()
		}
		s.wg.Wait()
	})
}

// URL is the base URL given by Start/Listen ("" when only Handler is used).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// APIEndpoint is the format string for tgbotapi.NewBotAPIWithAPIEndpoint:
// BASE/bot%s/%s.
func (s *Server) APIEndpoint() string { return s.URL() + "/bot%s/%s" }

// Token is the currently accepted token.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Bot is the bot's own User, as getMe returns it.
func (s *Server) Bot() User {
	return User{ID: s.opts.BotID, IsBot: true, FirstName: s.opts.BotFirstName, Username: s.opts.BotUsername}
}

// Handler serves the Bot API under /bot<token>/<method> and the control API
// under /_fake/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/_fake/", s.controlHandler())
	mux.HandleFunc("/file/", s.serveFile)
	mux.HandleFunc("/", s.serveAPI)
	return mux
}

// broadcastLocked wakes every waiter. Call with s.mu held.
func (s *Server) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitUntil blocks until cond (evaluated with s.mu held) is true, ctx ends or
// the server closes. It re-evaluates only when state changes.
func (s *Server) waitUntil(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fakebot: wait: %w", ctx.Err())
		case <-s.closed:
			return ErrClosed
		}
	}
}
