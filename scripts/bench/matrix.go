package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/hermes-gateway/hermes/internal/dendrite"
)

// The Matrix side of figure 6: a real homeserver (Dendrite, the one `make
// matrix-test` runs; its binaries come from $HERMES_DENDRITE_BIN, which
// `make bench` points at the cache outside the sandbox) on loopback, the
// gateway serving it next to Telegram, and a person whose client syncs.

// mxRooms is how many rooms the person talks to the bot in, in turn.
const mxRooms = 5

// matrixWorld is the homeserver, the bot's account and a person (an admin
// of the bot) with rooms the bot joined and a sync loop that reports the
// bot's answers.
type matrixWorld struct {
	tb      *benchTB
	hs      *dendrite.Server
	bot     dendrite.User
	person  *mautrix.Client
	rooms   []id.RoomID
	answers chan string
	stop    context.CancelFunc
}

// startMatrix runs Dendrite and registers the accounts; configLines is the
// gateway config's [matrix] table for it.
func startMatrix(e *Env) (w *matrixWorld, configLines string, err error) {
	tb := &benchTB{dir: e.Work}
	defer tb.recover(&err)
	w = &matrixWorld{tb: tb, answers: make(chan string, 100)}
	w.hs = dendrite.Start(tb)
	w.bot = w.hs.Register("hermes")
	u := w.hs.Register("bench")
	if w.person, err = mautrix.NewClient(w.hs.URL, id.UserID(u.ID), u.Token); err != nil {
		w.Close()
		return nil, "", err
	}
	if _, err := e.writeSecret("matrix.token", w.bot.Token); err != nil {
		w.Close()
		return nil, "", err
	}
	return w, fmt.Sprintf(`[matrix]
enabled = true
homeserver = %q
user_id = %q
access_token_file = "matrix.token"
admins = [%q]
`, w.hs.URL, w.bot.ID, u.ID), nil
}

// openRooms has the person open rooms with the (running) gateway's bot,
// waits until it joined them, and starts the person's sync loop.
func (w *matrixWorld) openRooms() error {
	ctx := context.Background()
	for range mxRooms {
		resp, err := w.person.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{id.UserID(w.bot.ID)}})
		if err != nil {
			return err
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			var m struct {
				Membership string `json:"membership"`
			}
			if err := w.person.StateEvent(ctx, resp.RoomID, event.StateMember, w.bot.ID, &m); err == nil && m.Membership == "join" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the gateway's bot did not join a room within 60 s")
			}
			time.Sleep(50 * time.Millisecond) // the homeserver has no push for this but /sync
		}
		w.rooms = append(w.rooms, resp.RoomID)
	}
	syncer := w.person.Syncer.(*mautrix.DefaultSyncer)
	syncer.OnEventType(event.EventMessage, func(_ context.Context, ev *event.Event) {
		if ev.Sender == id.UserID(w.bot.ID) {
			body, _ := ev.Content.Raw["body"].(string)
			select {
			case w.answers <- body:
			default:
			}
		}
	})
	sctx, cancel := context.WithCancel(ctx)
	w.stop = cancel
	go w.person.SyncWithContext(sctx)
	return nil
}

// roundTrip sends text in room i and times it until the person's client
// sees the bot's answer (which ends with the text: the echo agent).
func (w *matrixWorld) roundTrip(i int, text string) (time.Duration, error) {
	t0 := time.Now()
	if _, err := w.person.SendText(context.Background(), w.rooms[i%len(w.rooms)], text); err != nil {
		return 0, err
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case a := <-w.answers:
			if strings.HasSuffix(a, ": "+text) {
				return time.Since(t0), nil
			}
		case <-timeout:
			return 0, fmt.Errorf("no answer to %q within 30 s", text)
		}
	}
}

func (w *matrixWorld) Close() {
	if w.stop != nil {
		w.stop()
	}
	w.tb.cleanup()
}

// benchTB lets this program use the test harness that runs Dendrite
// (internal/dendrite takes a testing.TB): a failure is an error of the
// phase, not a panic of the program.
type benchTB struct {
	testing.TB // nil: only the methods below are called
	dir        string
	mu         sync.Mutex
	cleanups   []func()
}

type tbFailure string

func (b *benchTB) Helper()                 {}
func (b *benchTB) Logf(f string, a ...any) { fmt.Fprintf(os.Stderr, "dendrite: "+f+"\n", a...) }
func (b *benchTB) Fatal(a ...any)          { panic(tbFailure(fmt.Sprint(a...))) }
func (b *benchTB) Fatalf(f string, a ...any) {
	panic(tbFailure(fmt.Sprintf(f, a...)))
}
func (b *benchTB) Failed() bool { return false }
func (b *benchTB) TempDir() string {
	d, err := os.MkdirTemp(b.dir, "dendrite-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}
func (b *benchTB) Cleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, f)
}

// cleanup runs the cleanups, last first, as testing does.
func (b *benchTB) cleanup() {
	b.mu.Lock()
	cs := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// recover turns a Fatal into *err, after the cleanups.
func (b *benchTB) recover(err *error) {
	if r := recover(); r != nil {
		f, ok := r.(tbFailure)
		if !ok {
			panic(r)
		}
		b.cleanup()
		*err = fmt.Errorf("%s", string(f))
	}
}
