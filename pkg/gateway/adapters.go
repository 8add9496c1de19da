package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/hermes-gateway/hermes/pkg/activation"
	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/matrix"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/telegram"
	tgadapter "github.com/hermes-gateway/hermes/pkg/telegram/adapter"
)

// adapters are the configured platforms. The gateway knows each only to
// build it from the config; after that it runs them all alike: each runs
// with a sink into the router, answers through the router, reports its
// status here, and says ✓ Back once it can send. No adapter holds the
// gateway.
type adapters struct {
	list []platform.Adapter
	// webhook is Telegram's webhook handler, when it runs in that mode.
	webhook http.Handler

	mu sync.Mutex
	// back records the adapters that said ✓ Back (once each).
	back map[string]bool
	done sync.WaitGroup
}

// buildAdapters makes the adapters the config enables, each reporting its
// status to the gateway; g.router must exist (their sinks lead into it).
func buildAdapters(cfg *config.Config, g *Gateway) (*adapters, error) {
	as := &adapters{back: map[string]bool{}}
	if cfg.Telegram.Enabled {
		tc := cfg.Telegram
		token, err := telegram.ReadTokenFile(cfg.ResolvePath(tc.TokenFile))
		if err != nil {
			return nil, fmt.Errorf("telegram: %w", err)
		}
		client, err := telegram.NewClient(token, tc.APIURL, telegram.ClientOptions{})
		if err != nil {
			return nil, fmt.Errorf("telegram: %w", err)
		}
		o := tgadapter.Options{Client: client, PollTimeout: tc.PollTimeout.Duration, Log: g.log,
			MaxPhotoBytes: min(cfg.Agent.MaxFileBytes, tgadapter.DefaultMaxPhotoBytes),
			OnStatus:      func(st platform.Status) { g.adapterStatus(tgadapter.Name, st) }}
		if tc.Mode == config.ModeWebhook {
			if o.Secret, err = telegram.ReadSecretFile(cfg.ResolvePath(tc.Webhook.SecretFile)); err != nil {
				return nil, fmt.Errorf("telegram webhook: %w", err)
			}
			o.Webhook, o.MaxWebhookBody = tc.Webhook.PublicURL, tc.Webhook.MaxBodyBytes
		}
		a := tgadapter.New(o)
		if o.Webhook != "" {
			as.webhook = a.Handler(g.router.Sink(tgadapter.Name))
		}
		as.list = append(as.list, a)
	}
	if cfg.Matrix.Enabled {
		mc := cfg.Matrix
		token, err := matrix.ReadTokenFile(cfg.ResolvePath(mc.AccessTokenFile))
		if err != nil {
			return nil, fmt.Errorf("matrix: %w; run `"+instance.Hermes("setup matrix")+"`", err)
		}
		a, err := matrix.New(matrix.Options{
			Homeserver: mc.Homeserver, UserID: platform.UserID(mc.UserID), Token: token,
			SyncTimeout: mc.SyncTimeout.Duration, Log: g.log,
			Access:   func() platform.Access { return g.access(g.config())[matrix.Name] },
			OnStatus: func(st platform.Status) { g.adapterStatus(matrix.Name, st) },
		})
		if err != nil {
			return nil, err
		}
		as.list = append(as.list, a)
	}
	return as, nil
}

// run starts every adapter with its sink; one that cannot work at all (a
// rejected token) stops the gateway with exit 78, and the journal says
// what to fix.
func (as *adapters) run(ctx context.Context, g *Gateway) {
	for _, a := range as.list {
		as.done.Add(1)
		go func() {
			defer as.done.Done()
			err := a.Run(ctx, g.router.Sink(a.Name()))
			switch {
			case errors.Is(err, platform.ErrConfig):
				g.fail(ExitConfig, err.Error())
			case err != nil && ctx.Err() == nil:
				g.log.Error(a.Name()+": stopped receiving; restarting the gateway", "err", err)
				g.fail(ExitFailure, a.Name()+": "+err.Error())
			}
		}()
	}
}

// wait returns once every adapter's Run has returned (after ctx ended).
func (as *adapters) wait() { as.done.Wait() }

// firstConnected reports whether name just connected for the first time
// in this process: its ✓ Back is due.
func (as *adapters) firstConnected(name string) bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.back[name] {
		return false
	}
	as.back[name] = true
	return true
}

// statuses is what /v1/status shows of the adapters.
func (as *adapters) statuses() []control.Platform {
	ps := []control.Platform{}
	if as == nil {
		return ps
	}
	for _, a := range as.list {
		st := a.Status()
		detail := st.Detail
		if st.Fix != "" {
			detail += "; " + st.Fix
		}
		ps = append(ps, control.Platform{Name: a.Name(), State: string(st.State), Detail: detail})
	}
	return ps
}

// adapterStatus is told each change of an adapter's status: STATUS=
// follows, and the first time it connects it says ✓ Back where a /restart
// asked for it.
func (g *Gateway) adapterStatus(name string, st platform.Status) {
	g.updateStatus()
	if st.State != platform.StateConnected {
		return
	}
	g.mu.Lock()
	as, ctx := g.adapters, g.platformCtx
	g.mu.Unlock()
	if as != nil && ctx != nil && as.firstConnected(name) {
		go g.announceBack(ctx, name)
	}
}

// fail ends the gateway with code (the first failure wins).
func (g *Gateway) fail(code int, reason string) {
	select {
	case g.fatal <- fatalError{code: code, reason: reason}:
	default:
	}
}

// listenWebhook adopts the webhook socket, or listens by hand, with TLS
// when a certificate is configured.
func (g *Gateway) listenWebhook(set *activation.Set, cfg *config.Config) (net.Listener, error) {
	l, ok := set.Take(activation.Webhook)
	if !ok {
		var err error
		if l, err = net.Listen("tcp", cfg.Telegram.Webhook.Listen); err != nil {
			return nil, fmt.Errorf("webhook: listen on %s: %w (is "+instance.CurrentOrDefault().WebhookSocket()+" installed? `"+instance.Hermes("install-unit")+"`)", cfg.Telegram.Webhook.Listen, err)
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
