// Package platform is the contract between the gateway's core and a chat
// platform (Telegram, Matrix, …). The core never names a platform; an
// adapter never holds the core. They meet here:
//
//   - the adapter receives, and hands what arrived to a Sink, which stores
//     it durably and returns; only then does the adapter confirm upstream
//     (advance Telegram's offset, use Matrix's next_batch), so a crash at
//     any moment loses nothing: what was not stored is delivered again;
//   - the core answers through Send and Typing, naming the message it
//     answers, so an adapter whose platform has idempotent sends (Matrix's
//     transaction ids) can make a repeated send a no-op;
//   - the adapter says how it is (Status) and stops receiving when told
//     (Run's context ends).
//
// Ids are opaque strings, typed per kind so a room id cannot be passed
// where a user id belongs: a Matrix room id or a Slack ts does not fit in
// an int64.
package platform

import (
	"context"
	"errors"
	"time"
)

// ChatID names a conversation on one platform (a Telegram chat id, a Matrix
// room id).
type ChatID string

// UserID names a person on one platform (a Telegram user id, a Matrix user
// id like @alice:example.org).
type UserID string

// MessageID names one inbound event on one platform, uniquely and for
// good: a Telegram update id, a Matrix event id. It is the inbox key and
// the key that makes answers idempotent.
type MessageID string

// Kind says what an inbound message carries.
type Kind string

const (
	// KindText is a message with text, or files and their caption, to
	// answer.
	KindText Kind = "text"
	// KindUnsupported is a message the gateway does not handle (a
	// sticker, a location, a poll): it gets one short answer saying so.
	KindUnsupported Kind = "unsupported"
	// KindSkip carries nothing to answer (an edit, a reaction, a
	// malformed payload): stored and confirmed, never processed.
	KindSkip Kind = "skip"
	// KindEncrypted is a message in an encrypted room the gateway cannot
	// read: the room is told so, once.
	KindEncrypted Kind = "encrypted"
)

// Inbound is one message as it arrived, normalised.
type Inbound struct {
	Platform string    `json:"platform"`
	ID       MessageID `json:"id"`
	Chat     ChatID    `json:"chat"`
	User     UserID    `json:"user"`
	// UserName is for logs and the pairing list: @name, a display name.
	UserName string `json:"user_name,omitempty"`
	// Direct is true in a one-to-one chat: pairing codes are given only
	// there.
	Direct bool   `json:"direct"`
	Kind   Kind   `json:"kind"`
	Text   string `json:"text"`
	// Command is the command the adapter recognised in Text, normalised
	// ("restart" for Telegram's "/restart@MyBot now"); "" for a plain
	// message. Args is the rest.
	Command string `json:"command,omitempty"`
	Args    string `json:"args,omitempty"`
	// Quote is what an answer quotes when it is not ID (Telegram's
	// message_id: ID is the update id); see Outbound.Quote.
	Quote string `json:"quote,omitempty"`
	// Files are the files the message carries (a photo, a document, a
	// voice note); Text is then their caption, possibly "".
	Files []InboundFile `json:"files,omitempty"`
	// Note says why a KindSkip or KindUnsupported message is so.
	Note string    `json:"note,omitempty"`
	Time time.Time `json:"time"`
}

// Batch is what one receive cycle brought: the messages, and the cursor
// that confirms them upstream once they are stored (Telegram's next offset,
// Matrix's next_batch token). The cursor is stored in the same transaction
// as the messages, so the two never disagree after a crash.
type Batch struct {
	Messages []Inbound
	Cursor   string
}

// Sink stores what an adapter received. Deliver returns only once the
// batch is durable (fsync'd); an error means nothing of it was stored and
// the adapter must not confirm it upstream (it retries, or lets the
// platform deliver it again).
type Sink interface {
	Deliver(ctx context.Context, b Batch) error
	// Cursor is the last cursor stored for this adapter ("" before the
	// first), where a new process resumes receiving.
	Cursor(ctx context.Context) (string, error)
}

// Outbound is one answer.
type Outbound struct {
	Chat ChatID
	// ReplyTo is the message this answers ("" for a notice nobody asked
	// for, like ✓ Back).
	ReplyTo MessageID
	// Key is unique for this send among all sends for ReplyTo (the part
	// of a split answer, "back", "notice"): with ReplyTo it is the
	// idempotency key of a platform that has one.
	Key string
	// Quote is the platform's id of the message the answer is shown as a
	// reply to, when that is not ReplyTo (Telegram: the message_id, while
	// ReplyTo is the update id); "" quotes nothing.
	Quote string
	// Retried is true when an earlier process already attempted the turn
	// this answers: it may have been killed with this very send in flight,
	// which an adapter whose platform deduplicates sends may need to look
	// for before sending (see the Matrix adapter).
	Retried bool
	// Text is Markdown; the adapter renders it as its platform shows
	// formatting, and splits it where the platform's size limit needs.
	Text string
}

// Sent says what a send produced.
type Sent struct {
	// IDs are the platform's ids of the messages sent (a split answer has
	// several).
	IDs []string
}

// ErrUndeliverable wraps a send the platform refused for good (the bot was
// blocked, the chat is gone, the text was refused): retrying cannot help;
// the core logs it and moves on.
var ErrUndeliverable = errors.New("undeliverable")

// ErrConfig wraps a failure no retry can fix (a rejected token): the
// gateway exits 78 and the journal says what to fix.
var ErrConfig = errors.New("configuration cannot work")

// State is an adapter's connection state.
type State string

const (
	StateConnecting State = "connecting"
	StateConnected  State = "connected"
	// StateConflict: another client holds what this one needs (Telegram's
	// 409: another poller or a webhook); retried with a backoff.
	StateConflict State = "conflict"
	StateError    State = "error"
	StateStopped  State = "stopped"
)

// Status is what /v1/status, STATUS= and doctor show of an adapter.
type Status struct {
	State State `json:"state"`
	// Detail says why, in one line, and Fix what to do, if anything.
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
	// Account is who the adapter is signed in as (@MyBot, @bot:example.org).
	Account string    `json:"account,omitempty"`
	Since   time.Time `json:"since"`
}

// Adapter is one platform.
type Adapter interface {
	// Name is the platform's name in the config and the store: "telegram",
	// "matrix". It never changes: stored messages are keyed by it.
	Name() string
	// Run receives until ctx ends, handing each batch to sink before it
	// confirms it upstream. It returns nil when ctx ends, and an error
	// wrapping ErrConfig when it cannot work at all; everything else
	// (network, 5xx, conflicts) it retries and reports in Status.
	Run(ctx context.Context, sink Sink) error
	// Send delivers one answer.
	Send(ctx context.Context, m Outbound) (Sent, error)
	// Typing shows, for a few seconds, that an answer is being worked on.
	Typing(ctx context.Context, chat ChatID) error
	// Status says how the adapter is.
	Status() Status
}

// Access is who may talk to the bot on one platform: default deny.
type Access struct {
	// Admins may use /restart and /update; they are users too.
	Admins []UserID
	Users  []UserID
	// Groups are the group chats the bot answers in, to anyone there.
	Groups []ChatID
	// AnyRoom: in a group chat not listed, the bot still answers its
	// admins and users (never strangers). Matrix: the bot is only in
	// rooms an allowed user invited it to.
	AnyRoom bool
}

// Allowed reports whether u may talk, and whether as an admin.
func (a Access) Allowed(u UserID) (allowed, admin bool) {
	for _, x := range a.Admins {
		if x == u {
			return true, true
		}
	}
	for _, x := range a.Users {
		if x == u {
			return true, false
		}
	}
	return false, false
}

// GroupAllowed reports whether the bot answers in chat c.
func (a Access) GroupAllowed(c ChatID) bool {
	for _, x := range a.Groups {
		if x == c {
			return true
		}
	}
	return false
}
