package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// The Bot API fake runs in this process; the gateway under the sandbox
// manager talks to it on loopback.

const tgAdmin = 100

// nextUpdateID keeps update ids increasing across the fakes of one run,
// as Telegram's do: the store remembers the offset and every update id it
// received, so a new fake starting again at 100000 would have its first
// updates taken for redeliveries and dropped.
var nextUpdateID = 1_000_000

// telegramSetup starts a fake, points the gateway's config at it (admins
// and users, and extra lines appended to [telegram] and after it; no admins
// means tgAdmin), restarts the gateway
// and waits until it long-polls (in webhook mode: until it registered the
// webhook).
func telegramSetup(e *Env, opts fakebot.Options, admins, users []int64, extra string) (*fakebot.Server, error) {
	if err := e.ensureMain(); err != nil {
		return nil, err
	}
	opts.FirstUpdateID = nextUpdateID
	nextUpdateID += 10_000_000
	if len(admins) == 0 {
		admins = []int64{tgAdmin}
	}
	fake := fakebot.New(opts)
	url, err := fake.Start()
	if err != nil {
		return nil, err
	}
	if _, err := e.writeSecret("telegram.token", fake.Token()); err != nil {
		fake.Close()
		return nil, err
	}
	list := func(ids []int64) string {
		s := make([]string, len(ids))
		for i, u := range ids {
			s[i] = strconv.FormatInt(u, 10)
		}
		return strings.Join(s, ", ")
	}
	cfg := fmt.Sprintf(`[telegram]
enabled = true
token_file = "telegram.token"
api_url = %q
poll_timeout = %q
admins = [%s]
users = [%s]
%s
`, url, pollTimeout.String(), list(admins), list(users), extra)
	if err := e.writeConfig(cfg); err != nil {
		fake.Close()
		return nil, err
	}
	if err := e.restartMain(); err != nil {
		fake.Close()
		return nil, err
	}
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	if strings.Contains(extra, `mode = "webhook"`) {
		for fake.WebhookInfo().URL == "" {
			if ctx.Err() != nil {
				fake.Close()
				return nil, fmt.Errorf("the gateway never registered its webhook")
			}
			time.Sleep(10 * time.Millisecond)
		}
		return fake, nil
	}
	if err := fake.WaitForLongPoll(ctx); err != nil {
		fake.Close()
		return nil, fmt.Errorf("the gateway never long-polled the fake: %w", err)
	}
	return fake, nil
}

// userIDs is n Telegram user ids from first on.
func userIDs(first int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

// waitLongPoll waits until the gateway long-polls again, e.g. after a
// restart.
func waitLongPoll(fake *fakebot.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return fake.WaitForLongPoll(ctx)
}
