package fakebot

import (
	"encoding/json"
	"time"
)

// User is the Bot API User object, reduced to the fields a gateway reads.
type User struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name,omitempty"`
	Username     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

// botUser is what getMe answers: Telegram adds the bot-only capability
// flags there and nowhere else.
type botUser struct {
	User
	CanJoinGroups           bool `json:"can_join_groups"`
	CanReadAllGroupMessages bool `json:"can_read_all_group_messages"`
	SupportsInlineQueries   bool `json:"supports_inline_queries"`
}

// Chat is the Bot API Chat object.
type Chat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
}

// MessageEntity is the Bot API MessageEntity object. Offsets and lengths are
// in UTF-16 code units, as Telegram counts them.
type MessageEntity struct {
	Type          string `json:"type"`
	Offset        int    `json:"offset"`
	Length        int    `json:"length"`
	URL           string `json:"url,omitempty"`
	Language      string `json:"language,omitempty"`
	CustomEmojiID string `json:"custom_emoji_id,omitempty"`
	User          *User  `json:"user,omitempty"`
}

// Message is the Bot API Message object as the fake produces it.
type Message struct {
	MessageID      int             `json:"message_id"`
	From           *User           `json:"from,omitempty"`
	Chat           Chat            `json:"chat"`
	Date           int64           `json:"date"`
	EditDate       int64           `json:"edit_date,omitempty"`
	Text           string          `json:"text,omitempty"`
	Entities       []MessageEntity `json:"entities,omitempty"`
	ReplyToMessage *Message        `json:"reply_to_message,omitempty"`
	ReplyMarkup    json.RawMessage `json:"reply_markup,omitempty"`
	// Files a person sent (see files.go), and the caption that is then
	// the message's text.
	Photo    []PhotoSize `json:"photo,omitempty"`
	Document *Document   `json:"document,omitempty"`
	Voice    *Voice      `json:"voice,omitempty"`
	Audio    *Voice      `json:"audio,omitempty"`
	Caption  string      `json:"caption,omitempty"`
}

// SentMessage is one message the bot sent, as recorded for assertions.
type SentMessage struct {
	ChatID    int64 `json:"chat_id"`
	MessageID int   `json:"message_id"`
	// Text is the text after entity parsing and trimming: what a user sees.
	Text string `json:"text"`
	// RawText is the text parameter exactly as the bot sent it.
	RawText          string          `json:"raw_text"`
	ParseMode        string          `json:"parse_mode,omitempty"`
	Entities         []MessageEntity `json:"entities,omitempty"`
	ReplyToMessageID int             `json:"reply_to_message_id,omitempty"`
	ReplyMarkup      json.RawMessage `json:"reply_markup,omitempty"`
	Time             time.Time       `json:"time"`
	// File is what sendDocument or sendPhoto sent (nil for text), and
	// Caption its caption.
	File    *SentFile `json:"file,omitempty"`
	Caption string    `json:"caption,omitempty"`
	// Edits holds earlier texts (oldest first) replaced by editMessageText.
	Edits    []string  `json:"edits,omitempty"`
	EditTime time.Time `json:"edit_time,omitzero"`
	Deleted  bool      `json:"deleted,omitempty"`
}

// ChatAction is one sendChatAction call, as recorded for assertions.
type ChatAction struct {
	ChatID int64     `json:"chat_id"`
	Action string    `json:"action"`
	Time   time.Time `json:"time"`
}

// UserMessage describes a message a (fake) user sends to the bot. It is both
// the Go argument of InjectMessage and the JSON body of POST /_fake/inject.
type UserMessage struct {
	// ChatID defaults to UserID for private chats. Group chats in Telegram
	// have negative ids; the fake does not enforce that.
	ChatID int64 `json:"chat_id"`
	// ChatType is "private" (default), "group", "supergroup" or "channel".
	ChatType  string `json:"chat_type,omitempty"`
	ChatTitle string `json:"chat_title,omitempty"`
	// UserID defaults to 1000001.
	UserID    int64  `json:"user_id"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	Text      string `json:"text"`
	// ReplyToMessageID makes the message a reply to an earlier message of the
	// same chat (if it exists).
	ReplyToMessageID int `json:"reply_to_message_id,omitempty"`
	// Photo (its sizes, smallest first), Document, Voice and Audio send
	// files; Text is then their caption. getFile and the /file/ download
	// path serve them.
	Photo    []Upload `json:"-"`
	Document *Upload  `json:"-"`
	Voice    *Upload  `json:"-"`
	Audio    *Upload  `json:"-"`
}

// WebhookInfo is the Bot API WebhookInfo object.
type WebhookInfo struct {
	URL                  string   `json:"url"`
	HasCustomCertificate bool     `json:"has_custom_certificate"`
	PendingUpdateCount   int      `json:"pending_update_count"`
	IPAddress            string   `json:"ip_address,omitempty"`
	LastErrorDate        int64    `json:"last_error_date,omitempty"`
	LastErrorMessage     string   `json:"last_error_message,omitempty"`
	MaxConnections       int      `json:"max_connections,omitempty"`
	AllowedUpdates       []string `json:"allowed_updates,omitempty"`
}

// Stats is a snapshot of the fake's counters.
type Stats struct {
	// Calls counts authorised API calls per method, keyed by the canonical
	// method name ("getUpdates", "sendMessage", ...); unknown methods are keyed
	// in lower case. Calls answered by a scripted fault are counted too.
	Calls map[string]int `json:"calls"`
	// Unauthorized counts calls made with a wrong (or revoked) token.
	Unauthorized int `json:"unauthorized"`
	// ConfirmedOffset is one more than the highest confirmed update_id: every
	// update below it was confirmed (or forgotten). 0 before any confirmation.
	ConfirmedOffset int `json:"confirmed_offset"`
	// PendingUpdates is the number of queued, unconfirmed updates.
	PendingUpdates int `json:"pending_updates"`
	// NextUpdateID is the update_id the next injected update will get.
	NextUpdateID int `json:"next_update_id"`
	// LongPollActive is true while a getUpdates call is waiting.
	LongPollActive bool `json:"long_poll_active"`
	// Faults counts calls answered by a scripted fault.
	Faults int `json:"faults"`
	// Errors counts calls a method refused on its own (a 400 such as
	// "message is not modified", flood control's 429, ...), not counting
	// scripted faults: a well-behaved client keeps it at 0.
	Errors int `json:"errors"`
	// Refusals counts those answers by method, code and description
	// ("editMessageText 400 Bad Request: message is not modified: ...").
	Refusals map[string]int `json:"refusals,omitempty"`
	// FloodRejections counts 429s produced by flood control.
	FloodRejections int `json:"flood_rejections"`
	// Webhook deliveries: successful (2xx) and failed attempts.
	WebhookDelivered int         `json:"webhook_delivered"`
	WebhookFailed    int         `json:"webhook_failed"`
	Webhook          WebhookInfo `json:"webhook"`
	// SentMessages is the number of messages sent by the bot, all chats.
	SentMessages int `json:"sent_messages"`
}
