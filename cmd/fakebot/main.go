// Command fakebot runs the project's fake Telegram Bot API server
// (pkg/telegram/fakebot) for demos and script-driven tests.
//
// It serves the Bot API under {base}/bot{TOKEN}/{method} and the control API
// under {base}/_fake/ (documented in the fakebot package). When --ready-file
// is given, the base URL is written there once the listener is open, so a
// script can wait for the file instead of sleeping:
//
//	fakebot --listen 127.0.0.1:0 --ready-file /tmp/fakebot.url &
//	while [ ! -s /tmp/fakebot.url ]; do sleep 0.1; done
//	base=$(cat /tmp/fakebot.url)
//	curl -s -X POST "$base/_fake/inject" -d '{"user_id":42,"text":"/start"}'
//
// Faults are scripted the same way, for a number of calls or for a time:
//
//	curl -s -X POST "$base/_fake/fault" -d '{"kind":"conflict","method":"getUpdates","duration":"5s"}'
//	curl -s -X POST "$base/_fake/fault" -d '{"kind":"no_long_poll","method":"getUpdates","duration":"10s"}'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakebot:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		listen      = flag.String("listen", "127.0.0.1:0", "address to listen on (host:port; port 0 picks a free one)")
		token       = flag.String("token", fakebot.DefaultToken, "bot token the fake accepts")
		username    = flag.String("bot-username", "hermes_fake_bot", "username getMe reports")
		firstName   = flag.String("bot-name", "Hermes Fake", "first name getMe reports")
		readyFile   = flag.String("ready-file", "", "write the base URL to this file once listening")
		retryBase   = flag.Duration("webhook-retry-base", time.Second, "first webhook retry delay (doubles per failure)")
		retryMax    = flag.Duration("webhook-retry-max", 60*time.Second, "maximum webhook retry delay")
		pollUnit    = flag.Duration("poll-time-unit", time.Second, "length of one getUpdates timeout second (shrink for fast demos)")
		flood       = flag.Bool("flood-control", false, "answer 429 to sends over Telegram's rate limits")
		strictHooks = flag.Bool("strict-webhook-url", false, "require HTTPS webhooks on ports 443/80/88/8443 like Telegram")
		verbose     = flag.Bool("v", false, "log every API call")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", flag.Args())
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	opts := fakebot.Options{
		Token:            *token,
		BotUsername:      *username,
		BotFirstName:     *firstName,
		WebhookRetryBase: *retryBase,
		WebhookRetryMax:  *retryMax,
		PollTimeUnit:     *pollUnit,
		StrictWebhookURL: *strictHooks,
		Logger:           logger,
	}
	if *flood {
		opts.FloodControl = fakebot.DefaultFloodControl()
	}
	srv := fakebot.New(opts)
	base, err := srv.Listen(*listen)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer srv.Close()

	if *readyFile != "" {
		if err := writeReadyFile(*readyFile, base); err != nil {
			return err
		}
		defer os.Remove(*readyFile)
	}
	logger.Info("fakebot ready", "base_url", base, "api_endpoint", base+"/bot<token>/<method>", "control", base+"/_fake/")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	logger.Info("fakebot stopping")
	return nil
}

// writeReadyFile writes atomically (temp file + rename) so a watcher never
// reads a half-written URL.
func writeReadyFile(path, base string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fakebot-ready-*")
	if err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	_, werr := tmp.WriteString(base + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("ready file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("ready file: %w", err)
	}
	return nil
}
