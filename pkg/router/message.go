// Package router carries a person's message from the inbox to its answer:
// authorization, commands, the agent turn, the reply, and the record that it
// was answered. Turns of one chat run in order; different chats run
// concurrently up to a bound. Every message is in the store before it gets
// here, so a restart at any moment loses nothing: what was not finished is
// resumed by the next process.
package router

import (
	"context"
	"strings"

	"github.com/hermes-gateway/hermes/pkg/platform"
)

// Message is one incoming message, whatever the platform; it is what the
// inbox stores for an update.
type Message struct {
	Platform string `json:"platform"`
	// ID is the platform's id of this inbound event (Telegram's update id,
	// a Matrix event id): the inbox key. Ids are the platform's opaque
	// strings; records an earlier release stored hold numbers, which
	// platform's id types read too.
	ID       platform.MessageID `json:"id"`
	ChatID   platform.ChatID    `json:"chat_id"`
	ChatType string             `json:"chat_type"` // private | group | supergroup | channel | local
	UserID   platform.UserID    `json:"user_id"`
	UserName string             `json:"user_name,omitempty"`
	// MessageID is what an answer quotes, when it is not ID (Telegram's
	// message_id): see platform.Outbound.Quote.
	MessageID platform.MessageID `json:"message_id,omitempty"`
	Text      string             `json:"text"`
	// Command is the command the adapter recognised in Text, normalised
	// ("restart" for Telegram's "/restart@MyBot now"), "" for a plain
	// message; Args is the rest. The router never parses a platform's
	// command syntax.
	Command string `json:"command,omitempty"`
	Args    string `json:"args,omitempty"`
	// Parsed is true when the adapter looked for a command: records an
	// earlier release stored did not, and Resume reads theirs (see
	// legacyCommand).
	Parsed bool `json:"parsed,omitempty"`
	// Encrypted marks a message in an end-to-end encrypted room, which the
	// gateway cannot read: the room is told so, once.
	Encrypted bool `json:"encrypted,omitempty"`
	// Retried is set for this process's turn when an earlier process
	// attempted it already (never stored: the attempt count is).
	Retried bool `json:"-"`
	// Files are the files the message carries (Text is their caption):
	// fetched when its turn runs, so that a message resumed after a
	// restart is fetched then. Records of earlier releases have none.
	Files []platform.InboundFile `json:"files,omitempty"`
	// Unsupported names what a message the gateway does not handle
	// carries ("a sticker"), for its one short answer.
	Unsupported string `json:"unsupported,omitempty"`
	// Skip marks an update that carries nothing to answer (an edit, a
	// sticker, a malformed payload): recorded, confirmed, never processed.
	Skip string `json:"skip,omitempty"`
}

// Private reports whether the message came in a one-to-one chat.
func (m Message) Private() bool { return m.ChatType == "private" || m.ChatType == "local" }

// legacyCommand reads the command of a message stored by a release before
// adapters parsed commands (only Telegram and the local platform then:
// "/restart@MyBot now" → "restart", "now"), so that a /restart pending
// across the upgrade is still a /restart.
func legacyCommand(text string) (name, args string) {
	if !strings.HasPrefix(text, "/") {
		return "", ""
	}
	first, rest, _ := strings.Cut(strings.TrimSpace(text[1:]), " ")
	name, _, _ = strings.Cut(first, "@")
	return strings.ToLower(name), strings.TrimSpace(rest)
}

// Platform sends answers back where a message came from: the send half of
// platform.Adapter, which every adapter is.
type Platform interface {
	Name() string
	// Send delivers one answer, split and paced as the platform needs.
	Send(ctx context.Context, m platform.Outbound) (platform.Sent, error)
	// Typing shows that an answer is being worked on.
	Typing(ctx context.Context, chat platform.ChatID) error
}

// Confirmer is a platform that can confirm a message to its source ahead of
// the usual cycle: before a /restart exits, its own message must be
// confirmed, or the next process would be told to restart again.
type Confirmer interface {
	Confirm(ctx context.Context, id platform.MessageID) error
}
