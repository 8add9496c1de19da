package matrix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// typingFor is how long one Typing call shows "typing…"; the core calls
// again while the answer is not ready, and Send clears it.
const typingFor = 10 * time.Second

// Send delivers one answer: the Markdown as body and its HTML as
// formatted_body, in as many events as Matrix's size limit needs, each
// with a transaction id derived from what it answers, so that sending the
// same Outbound again (after a crash) makes no new event. On an error the
// parts sent so far are in Sent.IDs; sending again sends only the rest.
// Until Run has caught up after a start, a Send waits for it (at most
// catchUpWait), so it knows what the previous process sent.
func (a *Adapter) Send(ctx context.Context, m platform.Outbound) (platform.Sent, error) {
	room := id.RoomID(m.Chat)
	if strings.TrimSpace(m.Text) == "" {
		return platform.Sent{}, fmt.Errorf("matrix: an empty answer for room %s: %w", room, platform.ErrUndeliverable)
	}
	encrypted, err := a.encrypted(ctx, room)
	if err != nil {
		return platform.Sent{}, a.sendError(room, err)
	}
	if encrypted {
		return a.sendEncryptedNotice(ctx, room, m)
	}
	if err := a.waitCaughtUp(ctx); err != nil {
		return platform.Sent{}, err
	}
	var sent platform.Sent
	for i, part := range split(m.Text, maxContentBytes) {
		evID, err := a.sendAnswer(ctx, room, m, txnID(m, i), textContent(part))
		if err != nil {
			return sent, a.sendError(room, err)
		}
		sent.IDs = append(sent.IDs, evID)
	}
	a.stopTyping(ctx, room)
	return sent, nil
}

// sendEncryptedNotice answers in a room the bot cannot read: the only
// thing it sends there is a plain notice answering an encrypted event
// (that it cannot read encrypted rooms). Anything else would be plaintext
// in a room whose members expect encryption.
func (a *Adapter) sendEncryptedNotice(ctx context.Context, room id.RoomID, m platform.Outbound) (platform.Sent, error) {
	if m.ReplyTo == "" {
		return platform.Sent{}, fmt.Errorf("matrix: %s is an encrypted room; the bot sends nothing there but a notice answering an encrypted message: %w", room, platform.ErrUndeliverable)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	ev, err := a.cli.GetEvent(rctx, room, id.EventID(m.ReplyTo))
	cancel()
	if err != nil {
		return platform.Sent{}, a.sendError(room, err)
	}
	if ev.Type != event.EventEncrypted {
		return platform.Sent{}, fmt.Errorf("matrix: %s is an encrypted room and %s is not an encrypted message; the bot sends no plaintext answers there: %w", room, m.ReplyTo, platform.ErrUndeliverable)
	}
	c := content{MsgType: "m.notice", Body: m.Text}
	if c.size() > maxContentBytes {
		c.Body = split(m.Text, maxContentBytes/2)[0]
	}
	if err := a.waitCaughtUp(ctx); err != nil {
		return platform.Sent{}, err
	}
	evID, err := a.sendEvent(ctx, room, txnID(m, 0), c)
	if err != nil {
		return platform.Sent{}, a.sendError(room, err)
	}
	a.stopTyping(ctx, room)
	return platform.Sent{IDs: []string{evID}}, nil
}

// sendAnswer sends one part of answer m. An answer to a turn an earlier
// process attempted (m.Retried) may be one that process was killed
// sending: the homeserver can have made the event without recording its
// transaction id (Dendrite records it only once the request completes),
// and its /sync may not show the event yet when this process starts (its
// sync stream lags the write). So the room's recent history is read
// first, for up to resumeLook: the event carries its transaction id in
// its content too, where /messages shows it.
func (a *Adapter) sendAnswer(ctx context.Context, room id.RoomID, m platform.Outbound, txn string, c content) (string, error) {
	if txn != "" && m.Retried {
		if evID, ok := a.sent.get(txn); ok {
			return evID, nil
		}
		evID, err := a.findSent(ctx, room, txn)
		if err != nil {
			return "", err
		}
		if evID != "" {
			a.log.Info("matrix: an earlier process had sent this answer already; not sending it again", "room", room, "event_id", evID)
			a.sent.add(txn, evID)
			return evID, nil
		}
	}
	c.Txn = txn
	return a.sendEvent(ctx, room, txn, c)
}

// resumeLook bounds how long findSent waits for the homeserver to show an
// event an earlier process may have made; resumeLookEvery paces it.
const (
	resumeLook      = 2 * time.Second
	resumeLookEvery = 400 * time.Millisecond
	resumeLookDepth = 50
)

// findSent looks for the bot's event with transaction id txn among the
// room's latest events, until resumeLook has passed: "" when there is none.
func (a *Adapter) findSent(ctx context.Context, room id.RoomID, txn string) (string, error) {
	deadline := time.Now().Add(resumeLook)
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := a.cli.Messages(rctx, room, "", "", mautrix.DirectionBackward, nil, resumeLookDepth)
		cancel()
		if err != nil {
			return "", err
		}
		for _, ev := range resp.Chunk {
			if ev.Sender != a.cli.UserID {
				continue
			}
			if ev.Unsigned.TransactionID == txn || rawString(ev, "org.hermes.txn") == txn {
				return ev.ID.String(), nil
			}
		}
		if time.Now().After(deadline) {
			return "", nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(resumeLookEvery):
		}
	}
}

func (a *Adapter) sendEvent(ctx context.Context, room id.RoomID, txn string, c content) (string, error) {
	if evID, ok := a.sent.get(txn); ok {
		return evID, nil // sent by an earlier process, seen in /sync
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var req []mautrix.ReqSendEvent
	if txn != "" {
		req = append(req, mautrix.ReqSendEvent{TransactionID: txn})
	}
	resp, err := a.cli.SendMessageEvent(rctx, room, event.EventMessage, c, req...)
	if err != nil {
		return "", err
	}
	return resp.EventID.String(), nil
}

// txnID is the transaction id of part i of an answer: a hash of the room,
// the message answered and the send's key, the same in every process, so
// the homeserver recognises a repeated send (it keeps transaction ids per
// access token; Dendrite for 30 to 60 minutes, in memory). A notice that
// answers nothing (ReplyTo "") gets a random id from the client: there is
// nothing stable to derive it from, and two "✓ Back" notices a day apart
// must both be sent.
func txnID(m platform.Outbound, part int) string {
	if m.ReplyTo == "" {
		return ""
	}
	h := sha256.New()
	for _, s := range []string{string(m.Chat), string(m.ReplyTo), m.Key, strconv.Itoa(part)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "hermes-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// encrypted reports whether room has m.room.encryption, asking the
// homeserver the first time. A room cannot become unencrypted, so true is
// kept for good; false is corrected by the next sync that shows the
// event.
func (a *Adapter) encrypted(ctx context.Context, room id.RoomID) (bool, error) {
	a.mu.Lock()
	enc, ok := a.crypted[room]
	a.mu.Unlock()
	if ok {
		return enc, nil
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var c map[string]any
	err := a.cli.StateEvent(rctx, room, event.StateEncryption, "", &c)
	switch {
	case err == nil:
		enc = true
	case errors.Is(err, mautrix.MNotFound):
		enc = false
	default:
		return false, err
	}
	a.mu.Lock()
	if !a.crypted[room] {
		a.crypted[room] = enc
	}
	enc = a.crypted[room]
	a.mu.Unlock()
	return enc, nil
}

// catchUpWait bounds how long a Send waits for Run to catch up before it
// relies on the homeserver's own deduplication alone.
const catchUpWait = 15 * time.Second

// waitCaughtUp holds a send until Run has synced past the stored cursor,
// so that the bot's own events sent by a previous process are in
// a.sent; it gives up waiting (not sending) after catchUpWait.
func (a *Adapter) waitCaughtUp(ctx context.Context) error {
	t := time.NewTimer(catchUpWait)
	defer t.Stop()
	select {
	case <-a.caughtUp:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// sentIndex maps the transaction ids of the bot's own events, as /sync
// shows them to the device that sent them, to their event ids. A
// homeserver records a transaction id only once the send request
// completes: a process killed with a request in flight leaves an event
// the homeserver would make again on the next process's retry (Dendrite
// does). The next process sees that event in its first /sync, with its
// transaction id, and does not send it again. Bounded: the oldest
// entries go first.
type sentIndex struct {
	mu    sync.Mutex
	ids   map[string]string
	order []string
}

const maxSentIndex = 4096

func (x *sentIndex) add(txn, evID string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.ids[txn]; ok {
		return
	}
	x.ids[txn] = evID
	x.order = append(x.order, txn)
	if len(x.order) > maxSentIndex {
		delete(x.ids, x.order[0])
		x.order = x.order[1:]
	}
}

func (x *sentIndex) get(txn string) (string, bool) {
	if txn == "" {
		return "", false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	id, ok := x.ids[txn]
	return id, ok
}

// Typing shows "typing…" in chat for a few seconds.
func (a *Adapter) Typing(ctx context.Context, chat platform.ChatID) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := a.cli.UserTyping(rctx, id.RoomID(chat), true, typingFor); err != nil {
		return a.sendError(id.RoomID(chat), err)
	}
	return nil
}

// stopTyping clears "typing…" once the answer is there, rather than
// leaving it for the rest of typingFor. Best effort: it only looks.
func (a *Adapter) stopTyping(ctx context.Context, room id.RoomID) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	a.cli.UserTyping(rctx, room, false, 0)
}

// sendError wraps what a retry cannot fix (the bot is not in the room or
// was banned, the room is gone, the event was refused) in
// platform.ErrUndeliverable, and a rejected token in platform.ErrConfig.
func (a *Adapter) sendError(room id.RoomID, err error) error {
	switch {
	case errors.Is(err, mautrix.MUnknownToken), errors.Is(err, mautrix.MMissingToken):
		return fmt.Errorf("matrix: the homeserver rejected the access token; run `hermes setup matrix`: %w: %w", err, platform.ErrConfig)
	case !retryable(err):
		return fmt.Errorf("matrix: room %s: %w: %w", room, err, platform.ErrUndeliverable)
	}
	return fmt.Errorf("matrix: room %s: %w", room, err)
}
