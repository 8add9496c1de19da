//go:build matrix

package gateway

// These tests run the whole gateway, as its own process, against a real
// Matrix homeserver (Dendrite, built once per machine by internal/dendrite):
// what a person in a Matrix room sees, through restarts, SIGKILLs and an
// outage of the homeserver. `make matrix-test` runs them.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/hermes-gateway/hermes/internal/dendrite"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/journal"
)

// mworld is a homeserver with a bot account, an admin (ann) and a
// stranger (zoe), and the gateway process serving the bot.
type mworld struct {
	hs       *dendrite.Server
	bot      dendrite.User
	ann, zoe *mautrix.Client
	dir      string
	config   string
	control  string

	mu     sync.Mutex
	proc   *exec.Cmd
	exited chan int
}

func newMWorld(t *testing.T) *mworld {
	if testing.Short() {
		t.Skip("needs a Dendrite homeserver (built once, then cached); skipped with -short")
	}
	hs := dendrite.Start(t)
	w := &mworld{hs: hs, bot: hs.Register("hermes"), dir: t.TempDir()}
	w.ann = w.client(t, hs.Register("ann"))
	w.zoe = w.client(t, hs.Register("zoe"))
	token := filepath.Join(w.dir, "matrix.token")
	require.NoError(t, os.WriteFile(token, []byte(w.bot.Token+"\n"), 0o600))
	w.config = filepath.Join(w.dir, "config.toml")
	w.control = filepath.Join(w.dir, "control.sock")
	// The agent takes a moment, so that kills find turns in flight; its
	// answer is the message itself, so each answer names its question.
	cfg := fmt.Sprintf(`[gateway]
state_dir = %q
drain_timeout = "5s"

[telegram]
enabled = false

[matrix]
enabled = true
homeserver = %q
user_id = %q
access_token_file = %q
admins = [%q]
sync_timeout = "5s"

[agent]
backend = "exec"

[agent.exec]
command = ["/bin/sh", "-c", "sleep 0.2; cat"]
`, filepath.Join(w.dir, "state"), hs.URL, w.bot.ID, token, w.ann.UserID)
	require.NoError(t, os.WriteFile(w.config, []byte(cfg), 0o600))
	t.Cleanup(func() { w.kill(t) })
	return w
}

func (w *mworld) client(t *testing.T, u dendrite.User) *mautrix.Client {
	c, err := mautrix.NewClient(w.hs.URL, id.UserID(u.ID), u.Token)
	require.NoError(t, err)
	return c
}

// start runs the gateway as a child process (this test binary, in
// TestMatrixGatewayChild) and waits until it answers on its control socket.
func (w *mworld) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(w.dir, "gateway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestMatrixGatewayChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HERMES_GATEWAY_CHILD="+w.config+"\n"+w.control)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	exited := make(chan int, 1)
	go func() {
		cmd.Wait()
		logf.Close()
		exited <- cmd.ProcessState.ExitCode()
	}()
	w.mu.Lock()
	w.proc, w.exited = cmd, exited
	w.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := control.NewClient(w.control).Status(ctx)
		cancel()
		if err == nil && st.PID == cmd.Process.Pid && st.State == control.StateReady {
			return
		}
		select {
		case code := <-exited:
			t.Fatalf("the gateway exited %d before it was ready:\n%s", code, w.logTail())
		default:
		}
		require.True(t, time.Now().Before(deadline), "the gateway was not ready within 60 s (%v):\n%s", err, w.logTail())
		time.Sleep(50 * time.Millisecond) // the socket appears when the process listens: no other signal
	}
}

// kill ends the gateway with SIGKILL, by its pid, and waits for it.
func (w *mworld) kill(t *testing.T) {
	w.mu.Lock()
	cmd, exited := w.proc, w.exited
	w.proc = nil
	w.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

// exit waits for the gateway to exit by itself and returns its code.
func (w *mworld) exit(t *testing.T) int {
	t.Helper()
	w.mu.Lock()
	exited := w.exited
	w.proc = nil
	w.mu.Unlock()
	select {
	case code := <-exited:
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("the gateway did not exit within 60 s:\n%s", w.logTail())
		return -1
	}
}

func (w *mworld) logTail() string {
	b, _ := os.ReadFile(filepath.Join(w.dir, "gateway.log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

func (w *mworld) status(t *testing.T) control.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := control.NewClient(w.control).Status(ctx)
	require.NoError(t, err)
	return *st
}

// room has c open a room with the bot (direct: a one-to-one chat) and
// waits until the bot has joined.
func (w *mworld) room(t *testing.T, c *mautrix.Client, direct bool) id.RoomID {
	t.Helper()
	req := &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{id.UserID(w.bot.ID)}}
	if direct {
		req.Preset, req.IsDirect = "trusted_private_chat", true
	}
	resp, err := c.CreateRoom(context.Background(), req)
	require.NoError(t, err)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var m struct {
			Membership string `json:"membership"`
		}
		if err := c.StateEvent(context.Background(), resp.RoomID, event.StateMember, w.bot.ID, &m); err == nil && m.Membership == "join" {
			return resp.RoomID
		}
		require.True(t, time.Now().Before(deadline), "the bot did not join %s within 60 s:\n%s", resp.RoomID, w.logTail())
		time.Sleep(50 * time.Millisecond) // the homeserver has no push for this but /sync
	}
}

func (w *mworld) say(t *testing.T, c *mautrix.Client, room id.RoomID, text string) {
	t.Helper()
	_, err := c.SendText(context.Background(), room, text)
	require.NoError(t, err)
}

// answers returns the bodies of the bot's messages in room, oldest first.
func (w *mworld) answers(t *testing.T, c *mautrix.Client, room id.RoomID) []string {
	t.Helper()
	resp, err := c.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 1000)
	require.NoError(t, err)
	var out []string
	for _, ev := range resp.Chunk {
		if ev.Sender == id.UserID(w.bot.ID) && ev.Type == event.EventMessage {
			body, _ := ev.Content.Raw["body"].(string)
			out = append(out, body)
		}
	}
	slices.Reverse(out)
	return out
}

// waitAnswer waits until one of the bot's messages in room matches, and
// returns it.
func (w *mworld) waitAnswer(t *testing.T, c *mautrix.Client, room id.RoomID, match func(string) bool, what string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		for _, a := range w.answers(t, c, room) {
			if match(a) {
				return a
			}
		}
		require.True(t, time.Now().Before(deadline), "no answer %s in %s within 90 s; the bot said %q\n%s", what, room, w.answers(t, c, room), w.logTail())
		time.Sleep(100 * time.Millisecond) // the person's client polls too
	}
}

func is(s string) func(string) bool { return func(a string) bool { return a == s } }

// TestMatrixGatewayChild is the gateway process the Matrix tests run (and
// kill): Run, with the process's own signals, as hermes-gateway would.
func TestMatrixGatewayChild(t *testing.T) {
	env := os.Getenv("HERMES_GATEWAY_CHILD")
	if env == "" {
		t.Skip("run by TestMatrixThroughTheGateway")
	}
	cfg, ctl, _ := strings.Cut(env, "\n")
	os.Exit(Run(context.Background(), Options{ConfigPath: cfg, ControlPath: ctl, Log: journal.NewLogger(os.Stderr, slog.LevelInfo)}))
}

// The whole gateway on a real homeserver, as people in Matrix rooms see
// it, in the order a deployment lives it.
func TestMatrixThroughTheGateway(t *testing.T) {
	w := newMWorld(t)
	w.start(t)
	ann := w.room(t, w.ann, true)

	t.Run("happy path", func(t *testing.T) {
		w.say(t, w.ann, ann, "hello")
		w.waitAnswer(t, w.ann, ann, is("hello"), `"hello"`)
		w.say(t, w.ann, ann, "/status")
		w.waitAnswer(t, w.ann, ann, func(a string) bool { return strings.Contains(a, "matrix: connected") }, "to /status")
		st := w.status(t)
		require.Equal(t, []control.Platform{{Name: "matrix", State: "connected"}}, st.Platforms)
	})

	t.Run("a stranger and pairing", func(t *testing.T) {
		zoe := w.room(t, w.zoe, true)
		w.say(t, w.zoe, zoe, "let me in")
		got := w.waitAnswer(t, w.zoe, zoe, func(a string) bool { return strings.Contains(a, "pairing code") }, "with a pairing code")
		code := regexp.MustCompile(`pairing approve ([A-Z0-9]{8})`).FindStringSubmatch(got)
		require.NotNil(t, code, got)
		var ap control.ApprovedUser
		require.NoError(t, control.NewClient(w.control).Do(context.Background(), "POST", "/v1/pairing/approve", control.ApproveRequest{Code: code[1]}, &ap, 200))
		require.Equal(t, "matrix", ap.Platform)
		require.EqualValues(t, w.zoe.UserID, ap.UserID)
		w.waitAnswer(t, w.zoe, zoe, func(a string) bool { return strings.Contains(a, "You're in") }, "saying they are in")
		w.say(t, w.zoe, zoe, "hi, I am in")
		w.waitAnswer(t, w.zoe, zoe, is("hi, I am in"), "to the approved stranger")
		require.NotContains(t, w.answers(t, w.zoe, zoe), "let me in", "what a stranger said before the approval never reached the agent")
	})

	t.Run("/restart says ✓ Back in its room", func(t *testing.T) {
		w.say(t, w.ann, ann, "/restart")
		w.waitAnswer(t, w.ann, ann, is("Restarting…"), "Restarting…")
		require.Equal(t, ExitRestart, w.exit(t))
		w.start(t) // as systemd would, on exit 75
		back := w.waitAnswer(t, w.ann, ann, func(a string) bool { return strings.HasPrefix(a, "✓ Back: ") }, "✓ Back")
		require.Regexp(t, `^✓ Back: \S+, down \d+ ms$`, back)
		n := 0
		for _, a := range w.answers(t, w.ann, ann) {
			if strings.HasPrefix(a, "✓ Back") {
				n++
			}
		}
		require.Equal(t, 1, n, "said once")
	})

	t.Run("SIGKILLs with messages in flight from several rooms", func(t *testing.T) {
		rooms := []id.RoomID{ann, w.room(t, w.ann, false), w.room(t, w.ann, false)}
		const perRoom = 20
		total := len(rooms) * perRoom
		answered := func() int {
			n := 0
			for _, r := range rooms {
				for _, a := range w.answers(t, w.ann, r) {
					if strings.HasPrefix(a, "r") && strings.Contains(a, "-m") {
						n++
					}
				}
			}
			return n
		}
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for i := range perRoom {
				for k, r := range rooms {
					if _, err := w.ann.SendText(context.Background(), r, fmt.Sprintf("r%d-m%02d", k, i)); err != nil {
						t.Errorf("send: %v", err)
						return
					}
				}
			}
		}()
		// Five kills, each once more answers have come since the last:
		// the stream of messages is still arriving, turns are running.
		kills := 0
		for last := answered(); kills < 5; {
			deadline := time.Now().Add(90 * time.Second)
			for answered() < min(last+3, total) {
				require.True(t, time.Now().Before(deadline), "no progress after %d kills:\n%s", kills, w.logTail())
				time.Sleep(20 * time.Millisecond)
			}
			w.kill(t)
			kills++
			last = answered()
			t.Logf("SIGKILL %d with %d of %d answered", kills, last, total)
			w.start(t)
		}
		<-sent
		log, _ := os.ReadFile(filepath.Join(w.dir, "gateway.log"))
		resumed := regexp.MustCompile(`resuming work a previous process left unfinished.*count=(\d+)`).FindAllStringSubmatch(string(log), -1)
		require.NotEmpty(t, resumed, "a kill found turns in flight, which the next process resumed")
		for _, r := range resumed {
			t.Logf("a new process resumed %s unfinished turns", r[1])
		}
		deadline := time.Now().Add(120 * time.Second)
		for answered() < total {
			require.True(t, time.Now().Before(deadline), "%d of %d answered after the kills:\n%s", answered(), total, w.logTail())
			time.Sleep(100 * time.Millisecond)
		}
		for k, r := range rooms {
			var want, got []string
			for i := range perRoom {
				want = append(want, fmt.Sprintf("r%d-m%02d", k, i))
			}
			for _, a := range w.answers(t, w.ann, r) {
				if strings.HasPrefix(a, fmt.Sprintf("r%d-", k)) {
					got = append(got, a)
				}
			}
			require.Equal(t, want, got, "room %d: each answered once, none lost, in order", k)
		}
	})

	t.Run("the homeserver stopped for 10 s and back", func(t *testing.T) {
		w.hs.Stop()
		deadline := time.Now().Add(60 * time.Second)
		for {
			st := w.status(t)
			require.Equal(t, control.StateReady, st.State, "the gateway stays ready")
			if st.Platforms[0].State == "connecting" {
				require.Contains(t, st.Platforms[0].Detail, "cannot reach the homeserver")
				break
			}
			require.True(t, time.Now().Before(deadline), "matrix still %q a minute into the outage", st.Platforms[0].State)
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(10 * time.Second) // the outage itself
		require.Equal(t, control.StateReady, w.status(t).State)
		w.hs.Restart()
		w.say(t, w.ann, ann, "after the outage")
		w.waitAnswer(t, w.ann, ann, is("after the outage"), "after the outage")
		require.Equal(t, "connected", w.status(t).Platforms[0].State)
	})

	w.mu.Lock()
	proc := w.proc
	w.mu.Unlock()
	require.NoError(t, proc.Process.Signal(syscall.SIGTERM))
	require.Equal(t, ExitStopped, w.exit(t))
}
