// Package adapter is the Telegram adapter: it receives with getUpdates long
// polling or a webhook and answers through the paced sender, behind
// pkg/platform's contract. It holds no part of the gateway: what arrives
// goes to the platform.Sink it runs with, and how it is goes to Status and
// Options.OnStatus.
//
// What it promises:
//
//   - nothing is lost: a getUpdates batch and the offset that confirms it
//     go to Sink.Deliver together, and the offset is used upstream only
//     after Deliver returned nil; a new process resumes from Sink.Cursor.
//     A webhook delivery is answered 200 only once it is stored;
//   - when Run's context ends, the poller stops and the stored offset is
//     confirmed to Telegram, so the next process is not handed again what
//     this one stored (a /restart above all);
//   - a rejected token (401) ends Run with an error wrapping
//     platform.ErrConfig; everything else is retried and shown in Status.
//
// Telegram has no idempotent sends: an answer on the wire at the instant of
// a SIGKILL may be sent once more by the next process.
package adapter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/hermes-gateway/hermes/pkg/events"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/telegram"
)

// Name is the platform's name in the config and the store.
const Name = "telegram"

// allowedUpdates: the gateway answers messages; everything else Telegram
// could send is not asked for.
var allowedUpdates = []string{"message"}

// Options configures an Adapter.
type Options struct {
	Client *telegram.Client
	// PollTimeout is getUpdates' long-poll timeout (polling mode).
	PollTimeout time.Duration
	// Webhook, when set, is the public URL Telegram is pointed at, with
	// Secret; the gateway serves Handler on the webhook socket. Empty:
	// polling.
	Webhook        string
	Secret         string
	MaxWebhookBody int64
	Log            *slog.Logger
	// OnStatus, if set, is told each change of Status.
	OnStatus func(platform.Status)
	// MaxPhotoBytes: of a photo's sizes, the largest within it is
	// recorded (0: DefaultMaxPhotoBytes).
	MaxPhotoBytes int64
}

// Adapter is the Telegram platform.
type Adapter struct {
	o      Options
	log    *slog.Logger
	sender *telegram.Sender
	poller *telegram.Poller

	mu     sync.Mutex
	status platform.Status
}

var _ platform.Adapter = (*Adapter)(nil)

// New returns an adapter; it does not touch the network (Run does).
func New(o Options) *Adapter {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxPhotoBytes <= 0 {
		o.MaxPhotoBytes = DefaultMaxPhotoBytes
	}
	a := &Adapter{o: o, log: o.Log.With("platform", Name),
		status: platform.Status{State: platform.StateConnecting, Since: time.Now()}}
	a.sender = telegram.NewSender(o.Client, telegram.SenderOptions{Log: a.log})
	if o.Webhook == "" {
		a.poller = telegram.NewPoller(o.Client, telegram.PollerOptions{
			PollTimeout: o.PollTimeout, AllowedUpdates: allowedUpdates, Log: a.log,
			OnState: func(s telegram.State) {
				if s.Name == telegram.StateConflict {
					a.log.Warn("telegram: 409 conflict", events.PlatformConflict.With("detail", s.Detail)...)
				}
				a.setStatus(platform.State(s.Name), s.Detail)
			},
		})
	}
	return a
}

// Name is "telegram".
func (a *Adapter) Name() string { return Name }

// Status says how the adapter is.
func (a *Adapter) Status() platform.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

func (a *Adapter) setStatus(state platform.State, detail string) {
	a.mu.Lock()
	if a.status.State == state && a.status.Detail == detail {
		a.mu.Unlock()
		return
	}
	a.status = platform.Status{State: state, Detail: detail, Account: a.status.Account, Since: time.Now()}
	if state == platform.State(telegram.StateUnauthorized) {
		a.status.Fix = "run `" + instance.Hermes("setup telegram") + "`"
	}
	st := a.status
	a.mu.Unlock()
	if a.o.OnStatus != nil {
		a.o.OnStatus(st)
	}
}

// errUnauthorized is Run's end when Telegram rejects the token.
func errUnauthorized() error {
	return fmt.Errorf("telegram: the bot token was rejected (401): %s: %w", telegram.UnauthorizedDetail(), platform.ErrConfig)
}

// Run checks the token, then receives until ctx ends.
func (a *Adapter) Run(ctx context.Context, sink platform.Sink) error {
	defer func() {
		if ctx.Err() != nil { // an unauthorized token stays shown as such
			a.setStatus(platform.StateStopped, "")
		}
	}()
	me, err := a.hello(ctx)
	if err != nil || ctx.Err() != nil {
		return err
	}
	mode := "poll"
	if a.poller == nil {
		mode = "webhook"
	}
	a.log.Info("telegram: connected", events.PlatformConnected.With("bot", "@"+me.UserName, "mode", mode)...)
	if a.poller == nil {
		if err := a.registerWebhook(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
	cursor, err := sink.Cursor(ctx)
	if err != nil {
		return fmt.Errorf("telegram: read the stored offset: %w", err)
	}
	var offset int64
	if cursor != "" {
		if offset, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return fmt.Errorf("telegram: the stored offset %q is not a number; move the state directory's gateway.db aside if it was edited: %w", cursor, platform.ErrConfig)
		}
	}
	err = a.poller.RunBatch(ctx, offset, func(ctx context.Context, us []telegram.Update, next int64) error {
		b := platform.Batch{Cursor: strconv.FormatInt(next, 10)}
		for _, u := range us {
			b.Messages = append(b.Messages, InboundWithin(u.Update, u.Raw, a.o.MaxPhotoBytes))
		}
		return sink.Deliver(ctx, b)
	})
	a.confirmStored()
	switch {
	case err != nil && telegram.IsUnauthorized(err):
		return errUnauthorized()
	case err != nil && ctx.Err() == nil:
		a.log.Error("telegram: poller stopped", "err", err)
		return err
	}
	return nil
}

// hello calls getMe until Telegram answers: a network outage keeps the
// adapter "connecting"; a 401 is a configuration error.
func (a *Adapter) hello(ctx context.Context) (tgbotapi.User, error) {
	delay := 500 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		me, err := a.o.Client.GetMe(cctx)
		cancel()
		if err == nil {
			a.mu.Lock()
			a.status.Account = "@" + me.UserName
			a.mu.Unlock()
			a.setStatus(platform.StateConnected, "@"+me.UserName)
			return me, nil
		}
		if telegram.IsUnauthorized(err) {
			a.setStatus(platform.State(telegram.StateUnauthorized), telegram.UnauthorizedDetail())
			return me, errUnauthorized()
		}
		if ctx.Err() != nil {
			return me, nil
		}
		a.setStatus(platform.StateConnecting, err.Error())
		a.log.Warn("telegram: not reachable yet; retrying", "err", err, "in", delay.String())
		select {
		case <-ctx.Done():
			return me, nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// registerWebhook points Telegram at the public URL with the secret,
// retrying until it succeeds; a rejected token ends it with an error.
func (a *Adapter) registerWebhook(ctx context.Context) error {
	delay := time.Second
	for {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := a.o.Client.SetWebhook(cctx, a.o.Webhook, a.o.Secret, allowedUpdates)
		cancel()
		switch {
		case err == nil:
			a.setStatus(platform.StateConnected, "webhook "+a.o.Webhook)
			a.log.Info("telegram: webhook registered", "url", a.o.Webhook)
			return nil
		case telegram.IsUnauthorized(err):
			a.setStatus(platform.State(telegram.StateUnauthorized), telegram.UnauthorizedDetail())
			return errUnauthorized()
		case ctx.Err() != nil:
			return nil
		}
		a.setStatus(platform.StateError, "setWebhook: "+err.Error())
		a.log.Warn("telegram: could not register the webhook; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Minute)
	}
}

// Handler serves Telegram's webhook deliveries, storing each through sink
// before answering 200 (webhook mode).
func (a *Adapter) Handler(sink platform.Sink) http.Handler {
	return telegram.NewWebhookHandler(a.o.Secret, a.o.MaxWebhookBody, func(ctx context.Context, u tgbotapi.Update, raw json.RawMessage) error {
		m := InboundWithin(u, raw, a.o.MaxPhotoBytes)
		// The offset moves past it, as polling would: a switch to polling
		// starts after what the webhook delivered.
		id, _ := strconv.ParseInt(string(m.ID), 10, 64)
		return sink.Deliver(ctx, platform.Batch{Messages: []platform.Inbound{m}, Cursor: strconv.FormatInt(id+1, 10)})
	}, a.log)
}

// confirmStored tells Telegram that everything stored is received, so the
// next process is not handed it again. Called once the poller has
// stopped: a getUpdates while it polls would end its poll with 409.
func (a *Adapter) confirmStored() {
	if a.poller == nil || a.poller.Offset() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := a.poller.Confirm(ctx, a.poller.Offset()-1); err != nil {
		a.log.Warn("telegram: could not confirm stored updates before exit; they are recognised as already received if delivered again", "err", err)
	}
}

// Send delivers one answer, quoting Outbound.Quote (the message_id).
func (a *Adapter) Send(ctx context.Context, m platform.Outbound) (platform.Sent, error) {
	chat, err := ChatNumber(m.Chat)
	if err != nil {
		return platform.Sent{}, fmt.Errorf("%w: %w", err, platform.ErrUndeliverable)
	}
	quote, _ := strconv.Atoi(m.Quote) // "" or another platform's: quote nothing
	ids, err := a.sender.Send(ctx, chat, m.Text, quote)
	var sent platform.Sent
	for _, id := range ids {
		sent.IDs = append(sent.IDs, strconv.Itoa(id))
	}
	return sent, err
}

// Typing shows "typing…" in chat for a few seconds.
func (a *Adapter) Typing(ctx context.Context, chat platform.ChatID) error {
	id, err := ChatNumber(chat)
	if err != nil {
		return err
	}
	return a.sender.Typing(ctx, id)
}

// ChatNumber is a Telegram chat id as the Bot API takes it.
func ChatNumber(c platform.ChatID) (int64, error) {
	n, err := strconv.ParseInt(string(c), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("telegram: chat id %q is not a Telegram chat id (an integer such as -1001234)", c)
	}
	return n, nil
}

// Inbound is one update as the gateway stores it. An update with nothing to
// answer is KindSkip with a note, still stored (and so confirmed).
func Inbound(u tgbotapi.Update, raw json.RawMessage) platform.Inbound {
	return InboundWithin(u, raw, DefaultMaxPhotoBytes)
}

// InboundWithin is Inbound, recording of a photo the largest size within
// maxPhoto bytes. A photo, document, voice note or audio file is recorded
// in Files, its caption as Text; a sticker, location, poll… is
// KindUnsupported with a note naming it.
func InboundWithin(u tgbotapi.Update, raw json.RawMessage, maxPhoto int64) platform.Inbound {
	m := platform.Inbound{Platform: Name, ID: number(int64(u.UpdateID)), Kind: platform.KindText}
	if u.UpdateID == 0 {
		// tgbotapi could not decode it; take the id from the raw JSON so
		// the record (and the offset) still move past it.
		var probe struct {
			UpdateID int64 `json:"update_id"`
		}
		m.Kind, m.Note = platform.KindSkip, "undecodable update"
		if err := json.Unmarshal(raw, &probe); err != nil {
			m.Note += " (" + err.Error() + ")"
		}
		m.ID = number(probe.UpdateID)
		return m
	}
	msg := u.Message
	if msg == nil {
		m.Kind, m.Note = platform.KindSkip, "not a message (edit, reaction, callback…)"
		return m
	}
	if msg.Chat != nil && msg.Chat.ID != 0 {
		m.Chat = platform.ChatID(number(msg.Chat.ID))
		m.Direct = msg.Chat.Type == "private"
	}
	if msg.From != nil && msg.From.ID != 0 {
		m.User = platform.UserID(number(msg.From.ID))
		m.UserName = msg.From.UserName
		if m.UserName == "" {
			m.UserName = msg.From.FirstName
		}
	}
	m.Quote = string(number(int64(msg.MessageID)))
	m.Text = msg.Text
	m.Time = time.Unix(int64(msg.Date), 0).UTC()
	m.Command, m.Args, _ = telegram.ParseCommand(msg.Text)
	var unsupported string
	m.Files, unsupported = files(msg, maxPhoto)
	if len(m.Files) > 0 {
		m.Text = msg.Caption // a caption is never a command
	}
	switch {
	case m.Chat == "" || m.User == "":
		m.Kind, m.Note = platform.KindSkip, "message without chat or sender"
	case m.Text == "" && len(m.Files) == 0:
		m.Kind, m.Note = platform.KindUnsupported, "not text"
		if unsupported != "" {
			m.Note = unsupported
		}
	}
	return m
}

func number(n int64) platform.MessageID { return platform.MessageID(strconv.FormatInt(n, 10)) }
