//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/stretchr/testify/require"
)

const (
	tgAdmin = 100
	tgUser  = 200
)

// withTelegram starts a Bot API fake on loopback and configures the gateway
// to use it; extra is appended to the [telegram] table.
func withTelegram(t *testing.T, e *env, token, extra string) *fakebot.Server {
	t.Helper()
	fake := fakebot.NewServer(t, fakebot.Options{WebhookRetryBase: 50 * time.Millisecond, WebhookRetryMax: 500 * time.Millisecond})
	if token == "" {
		token = fake.Token()
	}
	_, cfgDir, _ := paths()
	require.NoError(t, os.MkdirAll(cfgDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "token"), []byte(token+"\n"), 0o600))
	users := []string{strconv.Itoa(tgUser)}
	for c := 1; c <= 5; c++ {
		users = append(users, strconv.Itoa(1000+c))
	}
	e.writeConfig(fmt.Sprintf(`[telegram]
enabled = true
token_file = "token"
api_url = %q
poll_timeout = "2s"
admins = [%d]
users = [%s]
%s
`, fake.URL(), tgAdmin, strings.Join(users, ", "), extra))
	return fake
}

func waitSent(t *testing.T, fake *fakebot.Server, chat int64, n int) []fakebot.SentMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	msgs, err := fake.WaitForMessages(ctx, chat, n)
	require.NoError(t, err, "chat %d: waiting for %d messages, have %v", chat, n, fake.Sent(chat))
	return msgs
}

func TestTelegramMessageIsAnswered(t *testing.T) {
	e := newEnv(t)
	fake := withTelegram(t, e, "", "")
	e.status() // start it
	fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Username: "ann", Text: "hello bot"})
	msgs := waitSent(t, fake, tgUser, 1)
	require.Equal(t, "echo: hello bot", msgs[0].Text)

	require.Eventually(t, func() bool {
		st := e.status()
		return len(st.Platforms) == 1 && st.Platforms[0].State == "connected"
	}, 30*time.Second, 50*time.Millisecond)
	require.Contains(t, e.prop(svc, "StatusText"), "telegram connected")
}

func TestChatRestartRestartsOnceAndSaysItIsBack(t *testing.T) {
	e := newEnv(t)
	fake := withTelegram(t, e, "", "")
	first := e.status().PID
	n0, _ := strconv.Atoi(e.prop(svc, "NRestarts"))

	id := fake.InjectMessage(fakebot.UserMessage{UserID: tgAdmin, Text: "/restart"})
	msgs := waitSent(t, fake, tgAdmin, 2)
	require.Equal(t, "Restarting…", msgs[0].Text)
	require.Regexp(t, `^✓ Back: v0\.0\.0-e2e, down \d+ ms$`, msgs[1].Text)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, fake.WaitForConfirmed(ctx, id), "the /restart update was confirmed to Telegram")

	second := e.status()
	require.NotEqual(t, first, second.PID)
	require.Equal(t, strconv.Itoa(n0+1), e.prop(svc, "NRestarts"), "restarted by systemd after exit 75, once")
	require.Contains(t, second.LastRestart.Reason, "/restart")

	// The gateway keeps answering, and did not restart again.
	fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "still there?"})
	require.Equal(t, "echo: still there?", waitSent(t, fake, tgUser, 1)[0].Text)
	require.Equal(t, second.PID, e.status().PID)
	require.Len(t, fake.Sent(tgAdmin), 2)

	// A non-admin cannot.
	fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "/restart"})
	require.Contains(t, waitSent(t, fake, tgUser, 2)[1].Text, "Only the bot's admins")
	require.Equal(t, second.PID, e.status().PID)
}

// Fifty messages from five chats while the unit is restarted and SIGKILLed:
// every message is answered, in order, and exactly once, except for what
// no program can promise: the Bot API has no idempotency key, so an answer
// that was on the wire when SIGKILL struck may be sent again by the next
// process. The test checks that this is the only way a repeat happens: the
// first copy reached Telegram moments before a kill.
func TestNothingLostOrRepeatedAcrossRestartsAndKills(t *testing.T) {
	e := newEnv(t)
	fake := withTelegram(t, e, "", "")
	e.status()

	const chats, per = 5, 10
	var wg sync.WaitGroup
	for c := 1; c <= chats; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				fake.InjectMessage(fakebot.UserMessage{UserID: int64(1000 + c), Text: fmt.Sprintf("m-%d-%d", c, i)})
				time.Sleep(30 * time.Millisecond) // spread the messages over the faults; not a synchronisation
			}
		}(c)
	}
	var kills []time.Time
	for round := 0; round < 3; round++ {
		e.systemctlOK("restart", svc)
		pid := e.mainPID()
		kills = append(kills, time.Now())
		sigkill(t, pid)
		require.Eventually(t, func() bool { n := e.mainPID(); return e.prop(svc, "ActiveState") == "active" && n > 1 && n != pid }, 30*time.Second, 10*time.Millisecond)
	}
	wg.Wait()

	// The last turns record their answers just after the fake saw them.
	require.Eventually(t, func() bool {
		st := e.status()
		return st.State == control.StateReady && st.InFlight == 0
	}, 60*time.Second, 20*time.Millisecond)

	onTheWireAtAKill := func(sent time.Time) bool {
		for _, k := range kills {
			if d := k.Sub(sent); d >= -50*time.Millisecond && d <= 250*time.Millisecond {
				return true
			}
		}
		return false
	}
	repeats := 0
	for c := 1; c <= chats; c++ {
		chat := int64(1000 + c)
		msgs := waitSent(t, fake, chat, per)
		first := map[string]fakebot.SentMessage{}
		var order []string
		for _, m := range msgs {
			_, text, ok := strings.Cut(m.Text, ": ")
			require.True(t, ok, m.Text)
			if prev, seen := first[text]; seen {
				require.True(t, onTheWireAtAKill(prev.Time), "chat %d: %q answered again though its first answer (%s) was not on the wire at a kill (%v)",
					chat, text, prev.Time.Format("15:04:05.000"), kills)
				repeats++
				continue
			}
			first[text] = m
			order = append(order, text)
		}
		want := make([]string, per)
		for i := range want {
			want[i] = fmt.Sprintf("m-%d-%d", c, i)
		}
		require.Equal(t, want, order, "chat %d: every message answered, in order", chat)
	}
	t.Logf("answers repeated because SIGKILL struck while they were on the wire: %d of %d", repeats, chats*per)
}

func TestRejectedTokenExits78WithoutLooping(t *testing.T) {
	e := newEnv(t)
	withTelegram(t, e, "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "")
	_, err := e.systemctl("start", svc)
	require.NoError(t, err, "READY comes before Telegram is asked")
	require.Eventually(t, func() bool { return e.prop(svc, "ActiveState") == "failed" }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "78", e.prop(svc, "ExecMainStatus"))
	require.Equal(t, "0", e.prop(svc, "NRestarts"))
	j := e.waitJournal("rejected")
	require.Contains(t, j, "hermes setup telegram")
	require.NotContains(t, j, "123456:AAAA", "the token never reaches the journal")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Webhook mode through the activated socket: Telegram's deliveries during
// restarts wait in the socket and are all answered.
func TestWebhookThroughTheActivatedSocketAcrossRestarts(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	_, cfgDir, _ := paths()
	require.NoError(t, os.MkdirAll(cfgDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "secret"), []byte("s3cret-token_1\n"), 0o600))
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	fake := withTelegram(t, e, "", fmt.Sprintf(`mode = "webhook"
[telegram.webhook]
public_url = "http://%s/telegram"
listen = %q
secret_file = "secret"
`, listen, listen))
	e.installWebhookSocket(listen)
	e.status()
	require.Eventually(t, func() bool { return fake.WebhookInfo().URL != "" }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, fmt.Sprintf("http://%s/telegram", listen), fake.WebhookInfo().URL)

	const n = 20
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: fmt.Sprintf("w-%d", i)})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for i := 0; i < 5; i++ {
		e.systemctlOK("restart", svc)
	}
	<-done
	msgs := waitSent(t, fake, tgUser, n)
	seen := map[string]int{}
	for _, m := range msgs {
		_, text, _ := strings.Cut(m.Text, ": ")
		seen[text]++
	}
	for i := 0; i < n; i++ {
		require.Equal(t, 1, seen[fmt.Sprintf("w-%d", i)], "all: %v", msgs)
	}
	require.Len(t, fake.Sent(tgUser), n)
}

func TestSetupTelegramAndPairingThroughTheCLI(t *testing.T) {
	freshManager(t)
	fake := fakebot.NewServer(t, fakebot.Options{})
	out, code := hermes(t, nil, "install-unit")
	require.Zero(t, code, out)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("123:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 0o600))
	out, code = hermes(t, nil, "setup", "telegram", "--token-file", bad, "--admin", "100", "--api-url", fake.URL())
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "Telegram rejected that token")
	_, cfgDir, _ := paths()
	_, err := os.Stat(filepath.Join(cfgDir, "config.toml"))
	require.True(t, os.IsNotExist(err), "nothing written")

	good := filepath.Join(dir, "good")
	require.NoError(t, os.WriteFile(good, []byte(fake.Token()+"\n"), 0o600))
	out, code = hermes(t, nil, "setup", "telegram", "--token-file", good, "--admin", "100", "--api-url", fake.URL())
	require.Zero(t, code, out)
	require.Contains(t, out, "✓ token accepted: @hermes_fake_bot")
	require.Contains(t, out, "✓ Restarted hermes-gateway")
	require.Contains(t, out, "https://t.me/hermes_fake_bot")
	fi, err := os.Stat(filepath.Join(cfgDir, "telegram.token"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	fake.InjectMessage(fakebot.UserMessage{UserID: 100, Text: "hi"})
	require.Equal(t, "echo: hi", waitSent(t, fake, 100, 1)[0].Text)

	// A stranger pairs through the CLI.
	fake.InjectMessage(fakebot.UserMessage{UserID: 777, Username: "zoe", Text: "hello?"})
	got := waitSent(t, fake, 777, 1)[0].Text
	require.Contains(t, got, "pairing code")
	out, code = hermes(t, nil, "pairing", "list")
	require.Zero(t, code, out)
	require.Contains(t, out, "user 777 (zoe)")
	code8 := strings.Fields(strings.SplitN(got, "pairing code is ", 2)[1])[0]
	out, code = hermes(t, nil, "pairing", "approve", code8)
	require.Zero(t, code, out)
	require.Contains(t, out, "✓ approved telegram user 777")
	require.Contains(t, waitSent(t, fake, 777, 2)[1].Text, "You're in")
	fake.InjectMessage(fakebot.UserMessage{UserID: 777, Text: "now?"})
	require.Equal(t, "echo: now?", waitSent(t, fake, 777, 3)[2].Text)
	out, code = hermes(t, nil, "pairing", "revoke", "777")
	require.Zero(t, code, out)
	out, code = hermes(t, nil, "pairing", "approve", "NOPE2345")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "no pending pairing request")
}
