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
)

// Message is one incoming message, whatever the platform; it is what the
// inbox stores for an update.
type Message struct {
	Platform  string `json:"platform"`
	ID        int64  `json:"id"` // the platform's update id: the inbox key
	ChatID    int64  `json:"chat_id"`
	ChatType  string `json:"chat_type"` // private | group | supergroup | channel | local
	UserID    int64  `json:"user_id"`
	UserName  string `json:"user_name,omitempty"`
	MessageID int    `json:"message_id,omitempty"`
	Text      string `json:"text"`
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

// Platform sends answers back where a message came from.
type Platform interface {
	Name() string
	// Send delivers text to a chat, split and paced as the platform needs.
	Send(ctx context.Context, chatID int64, text string, replyTo int) error
	// Typing shows that an answer is being worked on.
	Typing(ctx context.Context, chatID int64) error
}

// Confirmer is a platform that can confirm an update to its source ahead of
// the usual cycle: before a /restart exits, its own update must be
// confirmed, or the next process would be told to restart again.
type Confirmer interface {
	Confirm(ctx context.Context, id int64) error
}
