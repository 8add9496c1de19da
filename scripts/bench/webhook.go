package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
)

// Figure 7: Telegram webhook mode. systemd owns the webhook's TCP socket
// (hermes-gateway-webhook.socket); while the service restarts, deliveries
// wait in its backlog. A client here plays Telegram: it POSTs updates to the
// webhook with the secret header, one connection per request, back to
// back, while hermes-gateway.service is restarted (one RestartUnit job per
// round); every request that overlaps the restart is counted answered
// (200), refused (connection refused) or failed (anything else).
//
// The updates are group messages from a group the config does not list:
// stored, acknowledged and finished without an answer, so the gateway
// restarts idle, as in figure 1, and nothing piles up behind the sender's
// 30/s.

const (
	webhookSecret = "hermes-bench-secret_0123456789"
	benchGroup    = -100987654321
)

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type poster struct {
	url  string
	t0   time.Time
	hc   *http.Client
	next int64
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	reqs []Request
}

func startPoster(url string) *poster {
	// Update ids go on increasing across the run (see nextUpdateID): a
	// later phase's updates below these would be taken for redeliveries.
	p := &poster{url: url, t0: time.Now(), next: int64(nextUpdateID), stop: make(chan struct{}), done: make(chan struct{}),
		hc: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	nextUpdateID += 10_000_000 // far more than one round posts
	go p.loop()
	return p
}

func (p *poster) loop() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		p.next++
		body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"from":{"id":4242,"is_bot":false,"first_name":"Bench"},"chat":{"id":%d,"type":"group","title":"bench"},"date":%d,"text":"hello webhook"}}`,
			p.next, p.next, benchGroup, time.Now().Unix())
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, p.url, bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", webhookSecret)
		start := time.Since(p.t0)
		resp, err := p.hc.Do(req)
		r := Request{Start: start}
		switch {
		case err == nil:
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.Outcome = Failed
			r.Err = resp.Status
			if resp.StatusCode == http.StatusOK {
				r.Outcome, r.Err = Answered, ""
			}
		case errors.Is(err, syscall.ECONNREFUSED):
			r.Outcome, r.Err = Refused, err.Error()
		default:
			r.Outcome, r.Err = Failed, err.Error()
		}
		r.End = time.Since(p.t0)
		p.mu.Lock()
		p.reqs = append(p.reqs, r)
		p.mu.Unlock()
		if r.Outcome != Answered {
			time.Sleep(refusedPause)
		}
	}
}

// answeredAfter reports whether a request that started after t was
// answered.
func (p *poster) answeredAfter(t time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.reqs) - 1; i >= 0 && p.reqs[i].Start > t; i-- {
		if p.reqs[i].Outcome == Answered {
			return true
		}
	}
	return false
}

func (p *poster) Stop() []Request {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reqs
}

func webhook(e *Env, r *Results, rounds int, say func(string)) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	if err := e.ensureMain(); err != nil { // before the socket: it renders every unit
		return err
	}
	url := fmt.Sprintf("http://%s/tg", listen)
	sock, err := units.Render(units.WebhookSocket, units.Params{Gateway: e.Gateway, Hermes: e.Hermes, WebhookListen: listen})
	if err != nil {
		return err
	}
	if err := e.writeUnit(units.WebhookSocket, sock); err != nil {
		return err
	}
	defer func() {
		e.stop(units.Service, units.WebhookSocket)
		os.Remove(filepath.Join(e.UnitDir, units.WebhookSocket))
		_ = e.reload()
		_ = e.writeConfig("# benchmarks: the embedded defaults\n")
		_ = e.start(units.Service)
	}()
	if err := e.reload(); err != nil {
		return err
	}
	// systemd refuses to start a socket whose service already runs.
	e.stop(units.Service)
	if err := e.start(units.WebhookSocket); err != nil {
		return err
	}
	if _, err := e.writeSecret("webhook.secret", webhookSecret); err != nil {
		return err
	}
	fake, err := telegramSetup(e, fakebot.Options{}, nil, nil, fmt.Sprintf(`mode = "webhook"

[telegram.webhook]
public_url = %q
listen = %q
secret_file = "webhook.secret"
`, url, listen))
	if err != nil {
		return err
	}
	defer fake.Close()

	stall := r.S("webhook.stall", "longest single delivery", "ms")
	gap := r.S("webhook.gap", "longest time without an answer", "ms")
	refused := r.S("webhook.refused", "refused", "")
	failed := r.S("webhook.failed", "failed", "")
	answered := r.S("webhook.answered", "answered (200)", "")
	job := r.S("webhook.job", "RestartUnit job meanwhile", "ms")
	for i := 0; i < rounds; i++ {
		p := startPoster(url)
		time.Sleep(probeMargin)
		at := time.Since(p.t0)
		d, err := e.restartJob(units.Service)
		if err != nil {
			p.Stop()
			r.Note("webhook", "round %d: %v", i+1, err)
			continue
		}
		after := time.Since(p.t0)
		deadline := time.Now().Add(30 * time.Second)
		for !p.answeredAfter(after) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(probeMargin)
		reqs := p.Stop()
		s := summarize(reqs, at, time.Since(p.t0))
		job.AddDur(d)
		stall.AddDur(s.LongestStall)
		gap.AddDur(s.LongestGap)
		refused.Add(float64(s.Refused))
		failed.Add(float64(s.Failed))
		if s.FirstFailure != "" {
			r.Note("webhook", "round %d: a delivery failed: %s", i+1, s.FirstFailure)
		}
		answered.Add(float64(s.Answered))
		settle()
		if (i+1)%10 == 0 {
			say(fmt.Sprintf("webhook round %d/%d", i+1, rounds))
		}
	}
	return nil
}
