package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/activation"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/platform"
)

// fakeAdapter is a platform driven by the test: what the test puts in
// inbox is delivered through the sink, every send lands in sent.
type fakeAdapter struct {
	name     string
	onStatus func(string, platform.Status)
	inbox    chan platform.Batch
	sent     chan platform.Outbound
	// runErr, if set, is what Run returns at once (a rejected token).
	runErr  error
	cursors chan string
}

func newFakeAdapter(name string) *fakeAdapter {
	return &fakeAdapter{name: name, inbox: make(chan platform.Batch, 10), sent: make(chan platform.Outbound, 10), cursors: make(chan string, 10)}
}

func (f *fakeAdapter) Name() string { return f.name }
func (f *fakeAdapter) Run(ctx context.Context, sink platform.Sink) error {
	if f.runErr != nil {
		return f.runErr
	}
	c, err := sink.Cursor(ctx)
	if err != nil {
		return err
	}
	f.cursors <- c
	f.onStatus(f.name, platform.Status{State: platform.StateConnected})
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-f.inbox:
			if err := sink.Deliver(ctx, b); err != nil {
				return err
			}
		}
	}
}
func (f *fakeAdapter) Send(_ context.Context, m platform.Outbound) (platform.Sent, error) {
	f.sent <- m
	return platform.Sent{}, nil
}
func (f *fakeAdapter) Typing(context.Context, platform.ChatID) error { return nil }
func (f *fakeAdapter) Status() platform.Status {
	return platform.Status{State: platform.StateConnected}
}

// runWith runs a gateway with the fake adapter, whose admin is @ann.
func runWith(t *testing.T, dir string, f *fakeAdapter) *lifecycle {
	t.Helper()
	l := &lifecycle{dir: dir, config: filepath.Join(dir, "config.toml"), control: filepath.Join(dir, "control.sock"),
		notify: newRecNotifier(), sigs: make(chan os.Signal, 4), code: make(chan int, 1)}
	require.NoError(t, os.WriteFile(l.config, []byte(baseConfig(dir)), 0o600))
	go func() {
		l.code <- Run(context.Background(), Options{
			ConfigPath: l.config, ControlPath: l.control,
			Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			Notify: l.notify, Signals: l.sigs,
			Activation: func() (*activation.Set, error) { return &activation.Set{}, nil },
			Adapters: func(onStatus func(string, platform.Status)) []platform.Adapter {
				f.onStatus = onStatus
				return []platform.Adapter{f}
			},
			Access: map[string]platform.Access{f.name: {Admins: []platform.UserID{"@ann:example.org"}, AnyRoom: true}},
		})
	}()
	return l
}

func (f *fakeAdapter) next(t *testing.T) platform.Outbound {
	t.Helper()
	select {
	case m := <-f.sent:
		return m
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: nothing sent within 30 s", f.name)
		return platform.Outbound{}
	}
}

func text(id, chat, user, body string, direct bool) platform.Inbound {
	m := platform.Inbound{Platform: "chat", ID: platform.MessageID(id), Chat: platform.ChatID(chat), User: platform.UserID(user), Direct: direct, Kind: platform.KindText, Text: body}
	if len(body) > 1 && body[0] == '/' {
		m.Command = body[1:]
	}
	return m
}

// The gateway runs an adapter it knows nothing of like any other: what it
// delivers is answered in the chat it came from, idempotently keyed by the
// message answered; a stranger is given a pairing code there and told there
// that they are in; a /restart says ✓ Back in its chat from the next
// process; the cursor it stored is where the next process resumes.
func TestTheGatewayRunsAnyAdapter(t *testing.T) {
	dir := t.TempDir()
	f := newFakeAdapter("chat")
	l := runWith(t, dir, f)
	l.waitReady(t)
	require.Equal(t, "", <-f.cursors, "a new store: no cursor")

	f.inbox <- platform.Batch{Messages: []platform.Inbound{text("$e1", "!room:example.org", "@ann:example.org", "hello", false)}, Cursor: "s1"}
	require.Equal(t, platform.Outbound{Chat: "!room:example.org", ReplyTo: "$e1", Key: "answer", Text: "echo: hello"}, f.next(t))

	f.inbox <- platform.Batch{Messages: []platform.Inbound{text("$e2", "!dm:example.org", "@zoe:example.org", "let me in", true)}, Cursor: "s2"}
	got := f.next(t)
	require.Equal(t, platform.ChatID("!dm:example.org"), got.Chat)
	code := regexp.MustCompile(`pairing approve ([A-Z0-9]{8})`).FindStringSubmatch(got.Text)
	require.NotNil(t, code, got.Text)
	var ap control.ApprovedUser
	require.NoError(t, control.NewClient(l.control).Do(context.Background(), "POST", "/v1/pairing/approve", control.ApproveRequest{Code: code[1]}, &ap, 200))
	require.Equal(t, control.ApprovedUser{Platform: "chat", UserID: "@zoe:example.org", Approved: ap.Approved}, ap)
	got = f.next(t)
	require.Equal(t, platform.ChatID("!dm:example.org"), got.Chat, "told where they asked")
	require.Contains(t, got.Text, "You're in")

	f.inbox <- platform.Batch{Messages: []platform.Inbound{text("$e3", "!room:example.org", "@ann:example.org", "/restart", false)}, Cursor: "s3"}
	require.Equal(t, "Restarting…", f.next(t).Text)
	require.Equal(t, ExitRestart, l.exit(t))

	f2 := newFakeAdapter("chat")
	l2 := runWith(t, dir, f2)
	l2.waitReady(t)
	require.Equal(t, "s3", <-f2.cursors, "resumes after what was stored")
	back := f2.next(t)
	require.Regexp(t, `^✓ Back: .+, down \d+ ms$`, back.Text)
	require.Equal(t, platform.Outbound{Chat: "!room:example.org", ReplyTo: "$e3", Key: "back", Text: back.Text}, back,
		"in the chat that asked, keyed by the /restart so a platform with idempotent sends says it once")
	l2.sigs <- syscall.SIGTERM
	require.Equal(t, ExitStopped, l2.exit(t))
}

// An adapter that cannot work at all (a rejected token) stops the gateway
// with 78, which systemd does not restart, and the reason is its error.
func TestAnAdapterThatCannotWorkExits78(t *testing.T) {
	f := newFakeAdapter("chat")
	f.runErr = fmt.Errorf("chat: the token was rejected; run `hermes setup chat`: %w", platform.ErrConfig)
	l := runWith(t, t.TempDir(), f)
	require.Equal(t, ExitConfig, l.exit(t))
}
