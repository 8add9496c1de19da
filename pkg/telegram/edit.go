package telegram

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// editMessageText replaces the text of a message the bot sent, formatted
// by entities (a JSON array of MessageEntity, "" for plain text).
func (c *Client) editMessageText(ctx context.Context, chatID int64, messageID int, text, entities string) error {
	p := url.Values{}
	p.Set("chat_id", strconv.FormatInt(chatID, 10))
	p.Set("message_id", strconv.Itoa(messageID))
	p.Set("text", text)
	if entities != "" {
		p.Set("entities", entities)
	}
	var m tgbotapi.Message
	return c.Call(ctx, "editMessageText", p, &m)
}

func (c *Client) deleteMessage(ctx context.Context, chatID int64, messageID int) error {
	p := url.Values{}
	p.Set("chat_id", strconv.FormatInt(chatID, 10))
	p.Set("message_id", strconv.Itoa(messageID))
	var ok bool
	return c.Call(ctx, "deleteMessage", p, &ok)
}

// notModified reports Telegram's 400 for an edit that changes nothing: the
// message already shows what was asked, which is success.
func notModified(err error) bool { return badRequestContains(err, "message is not modified") }

// editGone reports an edit of a message that cannot be edited any more (it
// was deleted, or is too old): the text must go in a new message.
func editGone(err error) bool {
	return badRequestContains(err, "message to edit not found") || badRequestContains(err, "message can't be edited")
}

func badRequestContains(err error, s string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == 400 && strings.Contains(ae.Description, s)
}
