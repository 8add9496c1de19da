package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// timelineLimit is how many events of a room one /sync returns. More
// arrive as a "limited" timeline, whose gap receive fills from /messages.
const timelineLimit = 100

// maxBackfillPages bounds the /messages pages fetched for one limited
// timeline (each of timelineLimit events).
const maxBackfillPages = 50

// syncFilter keeps /sync to what the adapter reads: room timelines and
// state, and invites. Presence, typing, receipts and account data would
// only wake the long poll for nothing.
func syncFilter(limit int) string {
	f := map[string]any{
		"presence":     map[string]any{"not_types": []string{"*"}},
		"account_data": map[string]any{"not_types": []string{"*"}},
		"room": map[string]any{
			"timeline":     map[string]any{"limit": limit},
			"ephemeral":    map[string]any{"not_types": []string{"*"}},
			"account_data": map[string]any{"not_types": []string{"*"}},
		},
	}
	b, _ := json.Marshal(f)
	return string(b)
}

// sync is one /sync call, held by the homeserver up to timeout when
// nothing happens. Its deadline is that plus a margin, so a connection
// that silently died does not hang the adapter.
func (a *Adapter) sync(ctx context.Context, since string, limit int, timeout time.Duration) (*mautrix.RespSync, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	return a.cli.FullSyncRequest(ctx, mautrix.ReqSync{
		Timeout:  int(timeout / time.Millisecond),
		Since:    since,
		FilterID: syncFilter(limit), // the spec allows a filter inline as JSON
	})
}

// receive turns one /sync response into messages, after joining the
// invites it brought and filling the gaps of limited timelines. An error
// means the response must not be confirmed (a join or a backfill failed
// in a way a retry may fix).
func (a *Adapter) receive(ctx context.Context, since string, resp *mautrix.RespSync) ([]platform.Inbound, error) {
	if err := a.invites(ctx, resp); err != nil {
		return nil, err
	}
	for room := range resp.Rooms.Leave {
		a.forget(room)
	}
	rooms := make([]id.RoomID, 0, len(resp.Rooms.Join))
	for room := range resp.Rooms.Join {
		rooms = append(rooms, room)
	}
	slices.Sort(rooms) // the same batch for the same response
	var msgs []platform.Inbound
	for _, room := range rooms {
		jr := resp.Rooms.Join[room]
		a.learnState(room, jr)
		for _, ev := range jr.Timeline.Events {
			if ev.Sender == a.cli.UserID && ev.Unsigned.TransactionID != "" {
				a.sent.add(ev.Unsigned.TransactionID, ev.ID.String())
			}
		}
		events := jr.Timeline.Events
		if jr.Timeline.Limited && since != "" && a.ownJoin(events) < 0 {
			gap, err := a.backfill(ctx, room, jr.Timeline.PrevBatch, since)
			if err != nil {
				return nil, err
			}
			events = append(gap, events...)
		}
		if joined := a.ownJoin(events); joined >= 0 {
			// A room the bot just joined: its timeline starts with
			// history from before the bot was there, not for it.
			events = events[joined+1:]
		}
		seen := map[id.EventID]bool{}
		for _, ev := range events {
			if seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
			m, ok := a.inbound(ctx, room, ev)
			if ok {
				msgs = append(msgs, m)
			}
		}
	}
	return msgs, nil
}

// ownJoin returns the index of the bot's own join in events, or -1.
func (a *Adapter) ownJoin(events []*event.Event) int {
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		if ev.Type == event.StateMember && ev.StateKey != nil && *ev.StateKey == a.cli.UserID.String() &&
			rawString(ev, "membership") == "join" && prevMembership(ev) != "join" {
			return i
		}
	}
	return -1
}

// backfill fetches the events a limited timeline left out: from its
// prev_batch back to the previous sync's token, oldest first. Servers
// differ on whether /messages includes the event at its "to" token
// (Dendrite does), so the newest event at or before that token is looked
// up and the gap cut after it: what the previous batch confirmed is not
// delivered again.
func (a *Adapter) backfill(ctx context.Context, room id.RoomID, from, to string) ([]*event.Event, error) {
	messages := func(from, to string, limit int) (*mautrix.RespMessages, error) {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := a.cli.Messages(rctx, room, from, to, mautrix.DirectionBackward, nil, limit)
		if err != nil {
			return nil, fmt.Errorf("matrix: fetching the messages a limited sync left out of %s: %w", room, err)
		}
		return resp, nil
	}
	edge, err := messages(to, "", 1)
	if err != nil {
		return nil, err
	}
	var confirmed id.EventID
	if len(edge.Chunk) > 0 {
		confirmed = edge.Chunk[0].ID
	}
	var gap []*event.Event
pages:
	for page := 0; page < maxBackfillPages && from != ""; page++ {
		resp, err := messages(from, to, timelineLimit)
		if err != nil {
			return nil, err
		}
		for _, ev := range resp.Chunk { // newest first
			if ev.ID == confirmed {
				break pages
			}
			gap = append(gap, ev)
		}
		if len(resp.Chunk) == 0 || resp.End == "" || resp.End == from {
			break
		}
		from = resp.End
	}
	slices.Reverse(gap)
	return gap, nil
}

// invites joins the rooms allowed users invited the bot to, and anyone's
// direct chat (a stranger is answered there with a pairing code, as on
// Telegram: the core decides); it declines a stranger's group room. A join or decline that fails for good (the room is gone,
// the invite withdrawn) is logged and dropped; one that may work later
// fails the whole batch, so the invite comes again.
func (a *Adapter) invites(ctx context.Context, resp *mautrix.RespSync) error {
	for room, ir := range resp.Rooms.Invite {
		inviter, direct := a.inviter(ir.State.Events)
		allowed := false
		if a.opts.Access != nil && inviter != "" {
			allowed, _ = a.opts.Access().Allowed(platform.UserID(inviter))
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var err error
		if allowed || (direct && inviter != "") {
			_, err = a.cli.JoinRoomByID(rctx, room)
			a.log.Info("matrix: joined on invite", "room", room, "inviter", inviter, "direct", direct, "err", err)
		} else {
			_, err = a.cli.LeaveRoom(rctx, room, &mautrix.ReqLeave{Reason: "this bot joins the rooms of its allowed users only; write to it in a direct chat to ask for access"})
			a.log.Info("matrix: declined a group invite from a user not allowed", "room", room, "inviter", inviter, "err", err)
		}
		cancel()
		if err != nil && retryable(err) {
			return err
		}
	}
	return nil
}

// inviter finds who invited the bot, from the invite's stripped state.
func (a *Adapter) inviter(state []*event.Event) (inviter id.UserID, direct bool) {
	for _, ev := range state {
		if ev.Type == event.StateMember && ev.StateKey != nil && *ev.StateKey == a.cli.UserID.String() && rawString(ev, "membership") == "invite" {
			var c struct {
				IsDirect bool `json:"is_direct"`
			}
			json.Unmarshal(ev.Content.VeryRaw, &c)
			return ev.Sender, c.IsDirect
		}
	}
	return "", false
}

// learnState updates what the adapter knows of a room from its state and
// timeline: membership changes make the member count unknown, and an
// m.room.encryption event makes the room encrypted for good.
func (a *Adapter) learnState(room id.RoomID, jr *mautrix.SyncJoinedRoom) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, list := range [][]*event.Event{jr.State.Events, jr.Timeline.Events} {
		for _, ev := range list {
			switch ev.Type {
			case event.StateMember:
				delete(a.members, room)
			case event.StateEncryption:
				a.crypted[room] = true
			}
		}
	}
	if n := jr.Summary.JoinedMemberCount; n != nil {
		a.members[room] = *n
	}
}

func (a *Adapter) forget(room id.RoomID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.members, room)
	delete(a.crypted, room)
}

// inbound normalises one timeline event; false for an event that is not
// a message (state, reactions, redactions) or is the bot's own.
func (a *Adapter) inbound(ctx context.Context, room id.RoomID, ev *event.Event) (platform.Inbound, bool) {
	if ev.Sender == a.cli.UserID || ev.StateKey != nil {
		return platform.Inbound{}, false
	}
	m := platform.Inbound{
		Platform: Name, ID: platform.MessageID(ev.ID), Chat: platform.ChatID(room),
		User: platform.UserID(ev.Sender), UserName: ev.Sender.String(),
		Time: time.UnixMilli(ev.Timestamp).UTC(),
	}
	switch ev.Type {
	case event.EventEncrypted:
		m.Kind, m.Note = platform.KindEncrypted, "an end-to-end encrypted message"
	case event.EventSticker:
		m.Kind, m.Note = platform.KindUnsupported, "a sticker"
	case event.EventMessage:
		classify(&m, ev.Content.VeryRaw)
	default:
		return platform.Inbound{}, false
	}
	m.Direct = a.direct(ctx, room)
	return m, true
}

// messageContent is the part of m.room.message the adapter reads.
type messageContent struct {
	MsgType   string `json:"msgtype"`
	Body      string `json:"body"`
	RelatesTo *struct {
		RelType   string `json:"rel_type"`
		InReplyTo *struct {
			EventID string `json:"event_id"`
		} `json:"m.in_reply_to"`
	} `json:"m.relates_to"`
}

// classify sets Kind, Text, Command and Note from an m.room.message's
// content.
func classify(m *platform.Inbound, raw json.RawMessage) {
	var c messageContent
	if err := json.Unmarshal(raw, &c); err != nil || c.MsgType == "" {
		// A redacted message has empty content.
		m.Kind, m.Note = platform.KindSkip, "a message without content (redacted or malformed)"
		return
	}
	if c.RelatesTo != nil && c.RelatesTo.RelType == "m.replace" {
		m.Kind, m.Note = platform.KindSkip, "an edit"
		return
	}
	switch c.MsgType {
	case "m.text", "m.emote":
		m.Kind = platform.KindText
		m.Text = c.Body
		if c.RelatesTo != nil && c.RelatesTo.InReplyTo != nil {
			m.Text = stripReplyFallback(m.Text)
		}
		m.Command, m.Args = command(m.Text)
	case "m.notice":
		// Bots send notices, and bots must not answer each other in a loop.
		m.Kind, m.Note = platform.KindSkip, "a notice (what bots send)"
	default:
		m.Kind, m.Note = platform.KindUnsupported, "a message of type "+c.MsgType
	}
}

// stripReplyFallback removes the "> <@alice:x> quoted" lines a client
// puts before the text of a reply.
func stripReplyFallback(body string) string {
	lines := strings.Split(body, "\n")
	i := 0
	for i < len(lines) && strings.HasPrefix(lines[i], ">") {
		i++
	}
	if i == 0 {
		return body
	}
	if i < len(lines) && lines[i] == "" {
		i++
	}
	return strings.Join(lines[i:], "\n")
}

// command recognises "!restart now" and "/restart now". Element keeps
// unknown /commands to itself unless sent as a message, so "!" is the
// Matrix habit; both mean the same.
func command(text string) (name, args string) {
	if len(text) < 2 || (text[0] != '!' && text[0] != '/') {
		return "", ""
	}
	first, rest, _ := strings.Cut(strings.TrimSpace(text[1:]), " ")
	for _, r := range first {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return "", ""
		}
	}
	return strings.ToLower(first), strings.TrimSpace(rest)
}

// direct reports whether room has exactly two joined members, asking the
// homeserver when the count is not known. An error counts as not direct:
// pairing codes are then not given there, which is the safe side.
func (a *Adapter) direct(ctx context.Context, room id.RoomID) bool {
	a.mu.Lock()
	n, ok := a.members[room]
	a.mu.Unlock()
	if !ok {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := a.cli.JoinedMembers(rctx, room)
		cancel()
		if err != nil {
			a.log.Warn("matrix: could not count a room's members", "room", room, "err", err)
			return false
		}
		n = len(resp.Joined)
		a.mu.Lock()
		a.members[room] = n
		a.mu.Unlock()
	}
	return n == 2
}

// prevMembership is the membership a member event replaced ("" for the
// first): a profile change is a join after a join, not a new join.
func prevMembership(ev *event.Event) string {
	if ev.Unsigned.PrevContent == nil {
		return ""
	}
	return rawField(ev.Unsigned.PrevContent.VeryRaw, "membership")
}

func rawString(ev *event.Event, key string) string { return rawField(ev.Content.VeryRaw, key) }

func rawField(raw json.RawMessage, key string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	var s string
	json.Unmarshal(m[key], &s)
	return s
}

// retryable says whether a failed request may work if tried again: a
// network error, a 5xx or a 429. Other 4xx answers are final.
func retryable(err error) bool {
	var he mautrix.HTTPError
	if !errors.As(err, &he) || he.Response == nil {
		return true
	}
	code := he.Response.StatusCode
	return code >= 500 || code == 429 || code == 408
}
