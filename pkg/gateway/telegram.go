package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/hermes-gateway/hermes/pkg/activation"
	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/events"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/router"
	"github.com/hermes-gateway/hermes/pkg/telegram"
)

const platformTelegram = "telegram"

// allowedUpdates: the gateway answers messages; everything else Telegram
// could send is not asked for.
var allowedUpdates = []string{"message"}

// telegramPlatform connects the router to Telegram: updates come in through
// the poller or the webhook, replies go out through the sender.
type telegramPlatform struct {
	g      *Gateway
	cfg    config.Telegram
	client *telegram.Client
	sender *telegram.Sender
	poller *telegram.Poller
	secret string
	log    *slog.Logger

	mu    sync.Mutex
	state control.Platform
}

func newTelegramPlatform(g *Gateway, cfg *config.Config) (*telegramPlatform, error) {
	tc := cfg.Telegram
	tokenFile := cfg.ResolvePath(tc.TokenFile)
	token, err := telegram.ReadTokenFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	client, err := telegram.NewClient(token, tc.APIURL, telegram.ClientOptions{})
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	t := &telegramPlatform{g: g, cfg: tc, client: client, log: g.log.With("platform", platformTelegram),
		state: control.Platform{Name: platformTelegram, State: telegram.StateConnecting}}
	t.sender = telegram.NewSender(client, telegram.SenderOptions{Log: t.log})
	if tc.Mode == config.ModeWebhook {
		if t.secret, err = telegram.ReadSecretFile(cfg.ResolvePath(tc.Webhook.SecretFile)); err != nil {
			return nil, fmt.Errorf("telegram webhook: %w", err)
		}
	} else {
		t.poller = telegram.NewPoller(client, telegram.PollerOptions{
			PollTimeout: tc.PollTimeout.Duration, AllowedUpdates: allowedUpdates, Log: t.log,
			OnState: func(s telegram.State) {
				if s.Name == telegram.StateConflict {
					t.log.Warn("telegram: 409 conflict", events.PlatformConflict.With("detail", s.Detail)...)
				}
				t.setState(s.Name, s.Detail)
			},
		})
	}
	return t, nil
}

func (t *telegramPlatform) Name() string { return platformTelegram }

func (t *telegramPlatform) Send(ctx context.Context, m platform.Outbound) (platform.Sent, error) {
	chat, err := strconv.ParseInt(string(m.Chat), 10, 64)
	if err != nil {
		return platform.Sent{}, fmt.Errorf("telegram: chat id %q is not a Telegram chat id (an integer): %w", m.Chat, platform.ErrUndeliverable)
	}
	quote, _ := strconv.Atoi(m.Quote) // "" or foreign: quote nothing
	ids, err := t.sender.Send(ctx, chat, m.Text, quote)
	var sent platform.Sent
	for _, id := range ids {
		sent.IDs = append(sent.IDs, strconv.Itoa(id))
	}
	return sent, err
}

func (t *telegramPlatform) Typing(ctx context.Context, chat platform.ChatID) error {
	id, err := strconv.ParseInt(string(chat), 10, 64)
	if err != nil {
		return fmt.Errorf("telegram: chat id %q is not a Telegram chat id (an integer)", chat)
	}
	return t.sender.Typing(ctx, id)
}

func (t *telegramPlatform) setState(name, detail string) {
	t.mu.Lock()
	changed := t.state.State != name || t.state.Detail != detail
	t.state.State, t.state.Detail = name, detail
	t.mu.Unlock()
	if changed {
		t.g.updateStatus()
	}
}

func (t *telegramPlatform) status() control.Platform {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// run checks the token, then receives updates until ctx ends. A rejected
// token stops the gateway with exit 78; anything else is retried.
func (t *telegramPlatform) run(ctx context.Context) {
	me, ok := t.hello(ctx)
	if !ok {
		return
	}
	t.log.Info("telegram: connected", events.PlatformConnected.With("bot", "@"+me.UserName, "mode", t.cfg.Mode)...)
	go t.g.announceBack(ctx, platformTelegram)
	if t.poller != nil {
		offset, err := t.g.store.Offset(platformTelegram)
		if err != nil {
			t.fatal(fmt.Sprintf("telegram: read the stored offset: %v", err))
			return
		}
		if err := t.poller.RunBatch(ctx, offset, t.batchSink); err != nil {
			if telegram.IsUnauthorized(err) {
				t.fatal("telegram: the bot token was rejected (401): " + telegram.UnauthorizedDetail)
				return
			}
			t.log.Error("telegram: poller stopped", "err", err)
		}
		return
	}
	t.registerWebhook(ctx)
}

// hello calls getMe until Telegram answers: a network outage keeps the
// gateway ready and "connecting"; a 401 is a configuration error.
func (t *telegramPlatform) hello(ctx context.Context) (tgbotapi.User, bool) {
	delay := 500 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		me, err := t.client.GetMe(cctx)
		cancel()
		if err == nil {
			t.setState(telegram.StateConnected, "@"+me.UserName)
			return me, true
		}
		if telegram.IsUnauthorized(err) {
			t.setState(telegram.StateUnauthorized, telegram.UnauthorizedDetail)
			t.fatal("telegram: the bot token was rejected (401): " + telegram.UnauthorizedDetail)
			return me, false
		}
		if ctx.Err() != nil {
			return me, false
		}
		t.setState(telegram.StateConnecting, err.Error())
		t.log.Warn("telegram: not reachable yet; retrying", "err", err, "in", delay.String())
		select {
		case <-ctx.Done():
			return me, false
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

func (t *telegramPlatform) fatal(reason string) {
	select {
	case t.g.fatal <- fatalError{code: ExitConfig, reason: reason}:
	default:
	}
}

// registerWebhook points Telegram at the configured public URL with the
// secret, retrying until it succeeds.
func (t *telegramPlatform) registerWebhook(ctx context.Context) {
	delay := time.Second
	for {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := t.client.SetWebhook(cctx, t.cfg.Webhook.PublicURL, t.secret, allowedUpdates)
		cancel()
		switch {
		case err == nil:
			t.setState(telegram.StateConnected, "webhook "+t.cfg.Webhook.PublicURL)
			t.log.Info("telegram: webhook registered", "url", t.cfg.Webhook.PublicURL)
			return
		case telegram.IsUnauthorized(err):
			t.fatal("telegram: the bot token was rejected (401): " + telegram.UnauthorizedDetail)
			return
		case ctx.Err() != nil:
			return
		}
		t.setState(telegram.StateError, "setWebhook: "+err.Error())
		t.log.Warn("telegram: could not register the webhook; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Minute)
	}
}

func (t *telegramPlatform) webhookHandler() http.Handler {
	return telegram.NewWebhookHandler(t.secret, t.cfg.Webhook.MaxBodyBytes, t.sink, t.log)
}

// sink turns an update into a router message and stores it; only then may
// Telegram be told it was received.
func (t *telegramPlatform) sink(_ context.Context, u tgbotapi.Update, raw json.RawMessage) error {
	m := messageFrom(u, raw)
	// The offset moves past it, as polling would (so a switch to polling
	// starts after what the webhook delivered).
	id, _ := strconv.ParseInt(string(m.ID), 10, 64)
	return t.g.router.Receive(m, strconv.FormatInt(id+1, 10))
}

// batchSink stores what one getUpdates returned, and the offset that
// confirms it, in one transaction.
func (t *telegramPlatform) batchSink(_ context.Context, us []telegram.Update, next int64) error {
	ms := make([]router.Message, 0, len(us))
	for _, u := range us {
		ms = append(ms, messageFrom(u.Update, u.Raw))
	}
	return t.g.router.ReceiveBatch(platformTelegram, ms, strconv.FormatInt(next, 10))
}

func messageFrom(u tgbotapi.Update, raw json.RawMessage) router.Message {
	m := router.Message{Platform: platformTelegram, ID: tgID(int64(u.UpdateID)), Parsed: true}
	if u.UpdateID == 0 {
		// tgbotapi could not decode it; take the id from the raw JSON so the
		// record (and the offset) still move past it.
		var probe struct {
			UpdateID int64 `json:"update_id"`
		}
		m.Skip = "undecodable update"
		if err := json.Unmarshal(raw, &probe); err != nil {
			m.Skip += " (" + err.Error() + ")"
		}
		m.ID = tgID(probe.UpdateID)
		return m
	}
	msg := u.Message
	if msg == nil {
		m.Skip = "not a message (edit, reaction, callback…)"
		return m
	}
	if msg.Chat != nil && msg.Chat.ID != 0 {
		m.ChatID, m.ChatType = platform.ChatID(tgID(msg.Chat.ID)), msg.Chat.Type
	}
	if msg.From != nil && msg.From.ID != 0 {
		m.UserID = platform.UserID(tgID(msg.From.ID))
		m.UserName = msg.From.UserName
		if m.UserName == "" {
			m.UserName = msg.From.FirstName
		}
	}
	m.MessageID = tgID(int64(msg.MessageID))
	m.Text = msg.Text
	m.Command, m.Args, _ = telegram.ParseCommand(msg.Text)
	if m.ChatID == "" || m.UserID == "" {
		m.Skip = "message without chat or sender"
	}
	return m
}

// tgID is a Telegram number as the platform's opaque id.
func tgID(n int64) platform.MessageID { return platform.MessageID(strconv.FormatInt(n, 10)) }

// confirmStored tells Telegram that everything stored is received, so the
// next process is not handed it again (a /restart above all). Called once
// the poller has stopped: a getUpdates while it polls would end its poll
// with 409.
func (t *telegramPlatform) confirmStored() {
	if t.poller == nil || t.poller.Offset() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := t.poller.Confirm(ctx, t.poller.Offset()-1); err != nil {
		t.log.Warn("telegram: could not confirm stored updates before exit; they are recognised as already received if delivered again", "err", err)
	}
}

// listenWebhook adopts the webhook socket, or listens by hand, with TLS
// when a certificate is configured.
func (g *Gateway) listenWebhook(set *activation.Set, cfg *config.Config) (net.Listener, error) {
	l, ok := set.Take(activation.Webhook)
	if !ok {
		var err error
		if l, err = net.Listen("tcp", cfg.Telegram.Webhook.Listen); err != nil {
			return nil, fmt.Errorf("webhook: listen on %s: %w (is hermes-gateway-webhook.socket installed? `hermes install-unit`)", cfg.Telegram.Webhook.Listen, err)
		}
	}
	wc := cfg.Telegram.Webhook
	if wc.TLSCert == "" {
		return l, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.ResolvePath(wc.TLSCert), cfg.ResolvePath(wc.TLSKey))
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("webhook: load the TLS certificate and key: %w", err)
	}
	return tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}
