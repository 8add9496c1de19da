//go:build soak

package soak

// The Matrix side of the campaign (issue 16): a real homeserver (Dendrite,
// from internal/dendrite) and several rooms whose person sends numbered
// messages alongside the Telegram chats, to the same gateway, through the
// same faults. Matrix promises more than Telegram: every send carries a
// transaction id derived from the event it answers, so a send repeated
// after a SIGKILL is deduplicated by the homeserver. The checker therefore
// allows no repeat at all in a room: every message answered exactly once,
// in order, with the history one turn longer per answer.
//
// The homeserver is never restarted as a fault: Dendrite keeps transaction
// ids in memory, and a send repeated across its restart is a duplicate the
// README documents. Its outage is a pause instead (mx-pause: SIGSTOP of the
// Dendrite process the campaign started, by its pid, then SIGCONT), which
// keeps its memory.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/hermes-gateway/hermes/internal/dendrite"
)

// roomBase numbers the rooms (for their schedules and message texts) apart
// from the Telegram chats.
const roomBase = 2000

// mxSide is the homeserver, the bot's account and the rooms.
type mxSide struct {
	hs     *dendrite.Server
	bot    dendrite.User
	person *mautrix.Client
	rooms  []*mxRoom
}

// mxRoom is one room: its schedule (a chat's, drawn the same way) and what
// was sent into it.
type mxRoom struct {
	*chat
	room id.RoomID
}

// newMatrix runs the homeserver, registers the bot and the person, and
// writes the bot's token where the config names it.
func newMatrix(tb testing.TB, cfgDir string) *mxSide {
	tb.Helper()
	hs := dendrite.Start(tb)
	m := &mxSide{hs: hs, bot: hs.Register("hermes")}
	u := hs.Register("mia")
	c, err := mautrix.NewClient(hs.URL, id.UserID(u.ID), u.Token)
	if err != nil {
		tb.Fatal(err)
	}
	m.person = c
	if err := os.WriteFile(filepath.Join(cfgDir, "matrix.token"), []byte(m.bot.Token+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return m
}

// config is the [matrix] section of the gateway's config.
func (m *mxSide) config() string {
	return fmt.Sprintf(`
[matrix]
enabled = true
homeserver = %q
user_id = %q
access_token_file = "matrix.token"
users = [%q]
sync_timeout = "2s"
`, m.hs.URL, m.bot.ID, m.person.UserID)
}

// openRooms has the person open n rooms with the bot, once the gateway
// runs (it joins invites from allowed users), and waits until the bot has
// joined each.
func (m *mxSide) openRooms(tb testing.TB, seed int64, n int, d time.Duration) {
	tb.Helper()
	for i := range n {
		resp, err := m.person.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{id.UserID(m.bot.ID)}})
		if err != nil {
			tb.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			var mem struct {
				Membership string `json:"membership"`
			}
			if err := m.person.StateEvent(context.Background(), resp.RoomID, event.StateMember, m.bot.ID, &mem); err == nil && mem.Membership == "join" {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("the bot did not join room %s within 60 s", resp.RoomID)
			}
			time.Sleep(50 * time.Millisecond) // the homeserver has no push for this but /sync
		}
		m.rooms = append(m.rooms, &mxRoom{chat: planChat(seed, int64(roomBase+1+i), d), room: resp.RoomID})
	}
}

// send runs the rooms' schedules from start; it returns when every message
// is sent. A paused homeserver holds the person's send until it resumes,
// as it would hold a real client's.
func (m *mxSide) send(s *soak) {
	var wg sync.WaitGroup
	for _, r := range m.rooms {
		wg.Add(1)
		go func(r *mxRoom) {
			defer wg.Done()
			for _, p := range r.plan {
				time.Sleep(time.Until(s.start.Add(p.at)))
				now := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				_, err := m.person.SendText(ctx, r.room, p.text)
				cancel()
				if err != nil {
					s.problem("matrix: send %q into room %d: %v", p.text, r.id, err)
					continue
				}
				r.mu.Lock()
				r.injected = append(r.injected, injected{planned: p, sentAt: now})
				r.mu.Unlock()
			}
		}(r)
	}
	wg.Wait()
}

// botMessage is one of the bot's messages in a room.
type botMessage struct {
	body string
	at   time.Time // the homeserver's timestamp
}

// botMessages returns the bot's messages in room, oldest first.
func (m *mxSide) botMessages(room id.RoomID) ([]botMessage, error) {
	var out []botMessage
	from := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := m.person.Messages(ctx, room, from, "", mautrix.DirectionBackward, nil, 1000)
		cancel()
		if err != nil {
			return nil, err
		}
		for _, ev := range resp.Chunk {
			if ev.Sender == id.UserID(m.bot.ID) && ev.Type == event.EventMessage {
				body, _ := ev.Content.Raw["body"].(string)
				out = append(out, botMessage{body: body, at: time.UnixMilli(ev.Timestamp)})
			}
		}
		if len(resp.Chunk) == 0 || resp.End == "" || resp.End == from {
			break
		}
		from = resp.End
	}
	slices.Reverse(out)
	return out, nil
}

// waitAnswered waits (polling, as a person's client would) until every
// message sent into each room has an answer or an apology, or ctx ends.
func (m *mxSide) waitAnswered(ctx context.Context) error {
	for _, r := range m.rooms {
		for {
			got, err := m.botMessages(r.room)
			if err == nil {
				done := map[string]bool{}
				drops := 0
				for _, b := range got {
					if a, ok := parseAnswer(b.body); ok {
						done[a.text] = true
					} else if strings.HasPrefix(b.body, apologyPrefix) {
						drops++
					}
				}
				missing := 0
				for _, msg := range r.sent() {
					if !done[msg.text] {
						missing++
					}
				}
				if missing <= drops {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("room %d: %w", r.id, ctx.Err())
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}

// mxCounts is the Matrix side's tally.
type mxCounts struct {
	rooms, messages, answered, duplicates, dropped, notices int
	dupAtKill                                               int // a duplicate whose first copy was created as a SIGKILL struck
	latencies                                               []time.Duration
}

// check verifies every room: each message answered exactly once (no
// repeat, whatever the faults: the homeserver deduplicates a repeated
// send), first answers in order, and turn numbers that grow by one.
func (m *mxSide) check(s *soak, fail func(string, ...any)) mxCounts {
	c := mxCounts{rooms: len(m.rooms)}
	for _, r := range m.rooms {
		msgs := r.sent()
		c.messages += len(msgs)
		got, err := m.botMessages(r.room)
		if err != nil {
			fail("matrix: room %d: reading its messages: %v", r.id, err)
			continue
		}
		byText := map[string]injected{}
		for _, msg := range msgs {
			byText[msg.text] = msg
		}
		first := map[int]botMessage{}
		turns := map[int]int{}
		var order []int
		drops := 0
		for _, b := range got {
			switch {
			case b.body == noticeText:
				c.notices++
				continue
			case strings.HasPrefix(b.body, apologyPrefix):
				drops++
				continue
			}
			a, ok := parseAnswer(b.body)
			if !ok {
				fail("matrix: room %d: unexpected message at %s: %q", r.id, s.when(b.at), b.body)
				continue
			}
			msg, ok := byText[a.text]
			if !ok {
				fail("matrix: room %d: an answer to a message the room never sent: %q", r.id, b.body)
				continue
			}
			if prev, dup := first[msg.idx]; dup {
				if d, ok := wireAtKill(s, prev.at); ok {
					// Seen (seed 202, 10 min) before the Matrix adapter
					// looked for a cut send's event: the first copy was
					// created as a SIGKILL cut the request, Dendrite did
					// not remember its transaction id, and the next
					// process's send made a second event. A failure, told
					// apart so it is recognised.
					c.dupAtKill++
					fail("matrix: room %d: %q answered twice; the first copy (at %s) was created %s before a SIGKILL cut its request, and the next process did not find it in the room before sending again (at %s)", r.id, msg.text, s.when(prev.at), d, s.when(b.at))
					continue
				}
				c.duplicates++
				fail("matrix: room %d: %q answered twice (at %s and %s); a repeated send must be deduplicated by its transaction id", r.id, msg.text, s.when(prev.at), s.when(b.at))
				continue
			}
			first[msg.idx], turns[msg.idx] = b, a.turn
			order = append(order, msg.idx)
			c.answered++
			c.latencies = append(c.latencies, b.at.Sub(msg.sentAt))
		}
		c.dropped += drops
		missing := 0
		for _, msg := range msgs {
			if _, ok := first[msg.idx]; !ok {
				missing++
				if missing > drops {
					fail("matrix: room %d: message %d %q (sent at %s) was never answered (%d apologies in the room)", r.id, msg.idx, msg.text, s.when(msg.sentAt), drops)
				}
			}
		}
		for i := 1; i < len(order); i++ {
			if order[i] < order[i-1] {
				fail("matrix: room %d: out of order: %q answered before %q", r.id, msgs[order[i-1]].text, msgs[order[i]].text)
			}
		}
		// The history: one more turn per answered message; a dropped
		// message may have left its turn, so after a gap the count may be
		// ahead by as many as were dropped.
		prev, gap := -1, 0
		for _, msg := range msgs {
			turn, ok := turns[msg.idx]
			if !ok {
				gap++
				continue
			}
			want := min(prev+1, historyTurns)
			if turn < want || turn > min(want+gap, historyTurns) {
				fail("matrix: room %d: history inconsistent: %q saw %d earlier turns, the answer before saw %d (%d unanswered between)", r.id, msg.text, turn, prev, gap)
			}
			prev, gap = turn, 0
		}
	}
	return c
}

// wireAtKill reports whether an event the homeserver created at "at" was
// created within the on-the-wire window of a SIGKILL, and how long before
// it.
func wireAtKill(s *soak, at time.Time) (time.Duration, bool) {
	s.mu.Lock()
	kills := append([]time.Time(nil), s.kills...)
	s.mu.Unlock()
	for _, k := range kills {
		// The homeserver's timestamps are in milliseconds.
		if d := k.Sub(at); d >= -onWireAfter-time.Millisecond && d <= onWireBefore {
			return d, true
		}
	}
	return 0, false
}

// pause is the mx-pause fault: the homeserver stopped (SIGSTOP) for d,
// then resumed. The nemesis waits it out, so the campaign never ends with
// the homeserver stopped.
func (m *mxSide) pause(s *soak, at time.Time, d time.Duration) {
	if err := m.hs.Pause(); err != nil {
		s.problem("mx-pause: %v", err)
		return
	}
	s.record(at, fMxPause, fmt.Sprintf("homeserver stopped for %s", d))
	time.Sleep(d) // the outage itself
	if err := m.hs.Continue(); err != nil {
		s.problem("mx-continue: %v", err)
	}
}
