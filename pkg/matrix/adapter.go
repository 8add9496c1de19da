// Package matrix is the Matrix adapter: it receives with /sync long
// polling and answers with idempotent sends, behind pkg/platform's
// contract, on mautrix-go's client.
//
// What it promises:
//
//   - nothing is lost or answered twice across a crash: a /sync batch and
//     its next_batch token go to Sink.Deliver together, and the token is
//     used for the next /sync only after Deliver returned nil; a new
//     process resumes from Sink.Cursor. Without a cursor (the first start)
//     it syncs once to learn where "now" is and answers nothing older;
//   - a repeated Send is a no-op on the wire: each event's transaction id
//     is derived from the message answered (Outbound.ReplyTo, Key and the
//     part's index), and a homeserver answers a repeated transaction id
//     from the same access token with the event it already made; an event
//     whose request a crash cut off (which the homeserver may not have
//     recorded) is found in the next process's first /sync instead;
//   - invites from allowed users (platform.Access) are joined, and anyone's
//     direct chat (where the core gives a stranger a pairing code); a
//     stranger's group room is declined, so it does not hang unanswered;
//   - encrypted rooms are not read: an m.room.encrypted event arrives as
//     KindEncrypted, and the only thing Send puts into an encrypted room
//     is a plain notice answering such an event.
package matrix

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Name is the platform's name in the config and the store.
const Name = "matrix"

// Sync timeouts: how long the homeserver holds a /sync open when nothing
// happens.
const (
	DefaultSyncTimeout = 30 * time.Second
	MinSyncTimeout     = time.Second
	MaxSyncTimeout     = 5 * time.Minute
)

// Options configures an Adapter.
type Options struct {
	// Homeserver is the client-server API's root, https://matrix.example.org.
	Homeserver string
	// UserID is the bot's account (@bot:example.org). Run checks that the
	// token belongs to it: a token of another account is a config error.
	UserID platform.UserID
	// Token is the access token (from ReadTokenFile).
	Token string
	// Access says whose invites are joined; nil declines every invite.
	// It is called for each invite, so a reloaded config applies at once.
	Access func() platform.Access
	// SyncTimeout is /sync's long-poll timeout; default 30s.
	SyncTimeout time.Duration
	// BackoffMin and BackoffMax bound the exponential backoff after
	// errors (network, 5xx, a failed Deliver); default 500ms to 30s.
	BackoffMin, BackoffMax time.Duration
	// HTTPClient carries the requests; default one without a global
	// timeout (each request has its own deadline).
	HTTPClient *http.Client
	Log        *slog.Logger
	// OnStatus, if set, is told each change of Status (the gateway's
	// STATUS= line, and its ✓ Back once the adapter can send).
	OnStatus func(platform.Status)
}

// Adapter is the Matrix platform.
type Adapter struct {
	opts Options
	cli  *mautrix.Client
	log  *slog.Logger

	mu      sync.Mutex
	status  platform.Status
	members map[id.RoomID]int  // joined member count, when known
	crypted map[id.RoomID]bool // whether the room has m.room.encryption, when known
	sent    sentIndex

	// caughtUp is closed once Run has received everything since the
	// stored cursor, and with it the bot's own events a previous process
	// sent (see sentIndex).
	caughtUp     chan struct{}
	caughtUpOnce sync.Once
}

var _ platform.Adapter = (*Adapter)(nil)

// New returns an adapter; it does not touch the network (Run does).
func New(o Options) (*Adapter, error) {
	if err := CheckToken(o.Token); err != nil {
		return nil, fmt.Errorf("matrix: %w; run `"+instance.Hermes("setup matrix")+"`: %w", err, platform.ErrConfig)
	}
	if local, server, ok := strings.Cut(string(o.UserID), ":"); !ok || len(local) < 2 || local[0] != '@' || server == "" {
		return nil, fmt.Errorf("matrix: user id %q is not a Matrix user id such as @bot:example.org; set matrix.user_id: %w", o.UserID, platform.ErrConfig)
	}
	if o.SyncTimeout == 0 {
		o.SyncTimeout = DefaultSyncTimeout
	}
	o.SyncTimeout = min(max(o.SyncTimeout, MinSyncTimeout), MaxSyncTimeout)
	if o.BackoffMin <= 0 {
		o.BackoffMin = 500 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	o.BackoffMax = max(o.BackoffMax, o.BackoffMin)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cli, err := mautrix.NewClient(o.Homeserver, id.UserID(o.UserID), o.Token)
	if err != nil {
		return nil, fmt.Errorf("matrix: homeserver %q: %w; set matrix.homeserver to the server's https:// root: %w", o.Homeserver, err, platform.ErrConfig)
	}
	cli.Client = o.HTTPClient
	if cli.Client == nil {
		cli.Client = &http.Client{}
	}
	cli.UserAgent = "hermes-gateway"
	a := &Adapter{
		opts: o, cli: cli, log: o.Log.With("platform", Name),
		members: map[id.RoomID]int{}, crypted: map[id.RoomID]bool{},
		sent: sentIndex{ids: map[string]string{}}, caughtUp: make(chan struct{}),
	}
	a.status = platform.Status{State: platform.StateConnecting, Account: string(o.UserID), Since: time.Now()}
	return a, nil
}

// Name is "matrix".
func (a *Adapter) Name() string { return Name }

// Status says how the adapter is.
func (a *Adapter) Status() platform.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

func (a *Adapter) setStatus(state platform.State, detail, fix string) {
	a.mu.Lock()
	if a.status.State == state && a.status.Detail == detail {
		a.mu.Unlock()
		return
	}
	a.status = platform.Status{State: state, Detail: detail, Fix: fix, Account: a.status.Account, Since: time.Now()}
	st := a.status
	a.mu.Unlock()
	a.log.Info("matrix state", "state", state, "detail", detail)
	if a.opts.OnStatus != nil {
		a.opts.OnStatus(st)
	}
}

// Run receives until ctx ends. It returns nil then, and an error wrapping
// platform.ErrConfig when the homeserver rejects the token or the token
// belongs to another account.
func (a *Adapter) Run(ctx context.Context, sink platform.Sink) error {
	err := a.run(ctx, sink)
	if ctx.Err() != nil {
		a.setStatus(platform.StateStopped, "", "")
		return nil
	}
	return err
}

func (a *Adapter) run(ctx context.Context, sink platform.Sink) error {
	if err := a.whoami(ctx); err != nil {
		return err
	}
	since, err := a.cursor(ctx, sink)
	if err != nil {
		return err
	}
	if since == "" {
		if since, err = a.skipHistory(ctx, sink); err != nil {
			return err
		}
		a.markCaughtUp() // a new store: no answer of an earlier process to repeat
	}
	for fails := 0; ctx.Err() == nil; {
		timeout := a.opts.SyncTimeout
		if !a.isCaughtUp() {
			timeout = 0 // catching up: what is there, at once
		}
		resp, err := a.sync(ctx, since, timelineLimit, timeout)
		if err != nil {
			if cerr := a.fatal(err); cerr != nil {
				return cerr
			}
			fails++
			a.retryStatus(err)
			a.wait(ctx, fails)
			continue
		}
		a.setStatus(platform.StateConnected, "", "")
		msgs, err := a.receive(ctx, since, resp)
		if err != nil {
			// The same since again: nothing was confirmed.
			fails++
			a.retryStatus(err)
			a.wait(ctx, fails)
			continue
		}
		fails = 0
		if err := a.deliver(ctx, sink, platform.Batch{Messages: msgs, Cursor: resp.NextBatch}); err != nil {
			return nil // ctx ended
		}
		since = resp.NextBatch
		a.markCaughtUp()
	}
	return nil
}

func (a *Adapter) markCaughtUp() { a.caughtUpOnce.Do(func() { close(a.caughtUp) }) }

func (a *Adapter) isCaughtUp() bool {
	select {
	case <-a.caughtUp:
		return true
	default:
		return false
	}
}

// whoami checks that the homeserver takes the token and that it is the
// configured account's, retrying what a retry can fix.
func (a *Adapter) whoami(ctx context.Context) error {
	for fails := 1; ; fails++ {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := a.cli.Whoami(rctx)
		cancel()
		if err == nil {
			if resp.UserID != id.UserID(a.opts.UserID) {
				err := fmt.Errorf("matrix: the access token belongs to %s, but matrix.user_id is %s; run `"+instance.Hermes("setup matrix")+"` with the bot's token: %w", resp.UserID, a.opts.UserID, platform.ErrConfig)
				a.setStatus(platform.StateError, err.Error(), "run `"+instance.Hermes("setup matrix")+"`")
				return err
			}
			return nil
		}
		if cerr := a.fatal(err); cerr != nil {
			return cerr
		}
		a.retryStatus(err)
		if !a.wait(ctx, fails) {
			return ctx.Err()
		}
	}
}

func (a *Adapter) cursor(ctx context.Context, sink platform.Sink) (string, error) {
	for fails := 1; ; fails++ {
		c, err := sink.Cursor(ctx)
		if err == nil {
			return c, nil
		}
		a.setStatus(platform.StateError, "could not read the stored sync position: "+err.Error(), "see the gateway's journal for the store's error")
		if !a.wait(ctx, fails) {
			return "", ctx.Err()
		}
	}
}

// skipHistory is the first start's sync: it learns where "now" is and
// stores it, so that what was said before the bot was set up is not
// answered. Pending invites are handled (they are not history).
func (a *Adapter) skipHistory(ctx context.Context, sink platform.Sink) (string, error) {
	for fails := 1; ; fails++ {
		resp, err := a.sync(ctx, "", 0, 0) // only where now is
		if err == nil {
			a.setStatus(platform.StateConnected, "", "")
			err = a.invites(ctx, resp)
		}
		if err == nil {
			if err := a.deliver(ctx, sink, platform.Batch{Cursor: resp.NextBatch}); err != nil {
				return "", err
			}
			return resp.NextBatch, nil
		}
		if cerr := a.fatal(err); cerr != nil {
			return "", cerr
		}
		a.retryStatus(err)
		if !a.wait(ctx, fails) {
			return "", ctx.Err()
		}
	}
}

// deliver hands b to the sink until it is stored; it returns an error
// only when ctx ends first (the batch then stays unconfirmed, and the next
// process syncs it again from the stored cursor).
func (a *Adapter) deliver(ctx context.Context, sink platform.Sink, b platform.Batch) error {
	for fails := 1; ; fails++ {
		err := sink.Deliver(ctx, b)
		if err == nil {
			if fails > 1 {
				a.setStatus(platform.StateConnected, "", "")
			}
			return nil
		}
		a.log.Warn("matrix: could not store a sync batch; retrying it", "messages", len(b.Messages), "err", err)
		a.setStatus(platform.StateError, "could not store received messages: "+err.Error(), "see the gateway's journal for the store's error")
		if !a.wait(ctx, fails) {
			return ctx.Err()
		}
	}
}

// fatal returns the ErrConfig error for a rejected token, nil otherwise.
func (a *Adapter) fatal(err error) error {
	if errors.Is(err, mautrix.MUnknownToken) || errors.Is(err, mautrix.MMissingToken) {
		fix := "run `" + instance.Hermes("setup matrix") + "` with a new access token"
		a.setStatus(platform.StateError, "the homeserver rejected the access token (logged out or revoked)", fix)
		return fmt.Errorf("matrix: the homeserver rejected the access token (logged out or revoked); %s: %w", fix, platform.ErrConfig)
	}
	return nil
}

// retryStatus reports a failure that a retry may fix: a homeserver that
// cannot be reached is "connecting", one that answers with an error is
// "error".
func (a *Adapter) retryStatus(err error) {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		a.setStatus(platform.StateError, fmt.Sprintf("the homeserver answered %s", he.Response.Status), "")
		return
	}
	a.setStatus(platform.StateConnecting, "cannot reach the homeserver: "+err.Error(), "check the network and matrix.homeserver")
}

// wait sleeps the backoff for the n-th failure in a row; false when ctx
// ended.
func (a *Adapter) wait(ctx context.Context, n int) bool {
	d := a.opts.BackoffMin
	for i := 1; i < n && d < a.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, a.opts.BackoffMax)
	// ±20 % so gateways that failed together do not retry in lockstep.
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
