package fakebot

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxMessageLength is Telegram's limit for a text message, counted in
// characters (Unicode code points) of the text after entity parsing.
const maxMessageLength = 4096

// replyParameters is the Bot API ReplyParameters object (the successor of
// reply_to_message_id).
type replyParameters struct {
	MessageID                int  `json:"message_id"`
	AllowSendingWithoutReply bool `json:"allow_sending_without_reply"`
}

// formattedText parses text/parse_mode/entities the way sendMessage and
// editMessageText do, and applies the emptiness rule.
func formattedText(p params) (text string, entities []MessageEntity, err *APIError) {
	raw, _ := p.get("text")
	if raw == "" {
		return "", nil, apiErr(400, DescMessageTextEmpty)
	}
	text, entities, perr := parseText(raw, p.str("parse_mode"))
	if perr != nil {
		return "", nil, perr
	}
	if v, ok := p.get("entities"); ok && strings.TrimSpace(v) != "" && p.str("parse_mode") == "" {
		explicit, aerr := explicitEntities(v, text)
		if aerr != nil {
			return "", nil, aerr
		}
		entities = explicit
	}
	// Telegram trims leading and trailing white space from message texts; a
	// text of only white space is therefore empty.
	text, entities = trimText(text, entities)
	if text == "" {
		return "", nil, apiErr(400, DescMessageTextEmpty)
	}
	return text, entities, nil
}

// parseText applies parse_mode. Telegram compares the mode
// case-insensitively and rejects unknown modes.
func parseText(raw, mode string) (string, []MessageEntity, *APIError) {
	var (
		text     string
		entities []MessageEntity
		err      error
	)
	switch strings.ToLower(mode) {
	case "":
		return raw, nil, nil
	case "html":
		text, entities, err = parseHTML(raw)
	case "markdownv2":
		text, entities, err = parseMarkdownV2(raw)
	case "markdown":
		text, entities, err = parseMarkdown(raw)
	default:
		return "", nil, apiErr(400, DescUnsupportedParse)
	}
	if err != nil {
		return "", nil, apiErr(400, DescParseEntities+err.Error())
	}
	return text, entities, nil
}

// trimText strips leading and trailing white space and shifts entities.
func trimText(text string, entities []MessageEntity) (string, []MessageEntity) {
	trimmedLeft := strings.TrimLeftFunc(text, unicode.IsSpace)
	shift := utf16Len(text[:len(text)-len(trimmedLeft)])
	out := strings.TrimRightFunc(trimmedLeft, unicode.IsSpace)
	total := utf16Len(out)
	var ents []MessageEntity
	for _, e := range entities {
		start, end := max(e.Offset-shift, 0), min(e.Offset+e.Length-shift, total)
		if end > start {
			e.Offset, e.Length = start, end-start
			ents = append(ents, e)
		}
	}
	return out, ents
}

func (s *Server) handleSendMessage(_ *http.Request, p params) (any, error) {
	text, entities, aerr := formattedText(p)
	if aerr != nil {
		return nil, aerr
	}
	replyTo := p.int("reply_to_message_id", 0)
	allowNoReply := p.bool("allow_sending_without_reply")
	var rp replyParameters
	if ok, err := p.object("reply_parameters", &rp); err != nil {
		return nil, badRequest("can't parse reply parameters JSON object")
	} else if ok {
		replyTo, allowNoReply = rp.MessageID, rp.AllowSendingWithoutReply
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	c, aerr := s.resolveChatLocked(p)
	if aerr != nil {
		return nil, aerr
	}
	var replyMsg *Message
	if replyTo != 0 {
		if target, ok := c.messages[replyTo]; ok {
			t := *target
			t.ReplyToMessage = nil
			replyMsg = &t
		} else if !allowNoReply {
			return nil, apiErr(400, DescReplyNotFound)
		} else {
			replyTo = 0
		}
	}
	if utf8.RuneCountInString(text) > maxMessageLength {
		return nil, apiErr(400, DescMessageTooLong)
	}
	now := s.opts.Now()
	if aerr := s.flood.allow(c.chat, now); aerr != nil {
		s.broadcastLocked()
		return nil, aerr
	}
	bot := s.Bot()
	msg := &Message{
		MessageID:      c.nextMessageID,
		From:           &bot,
		Chat:           c.chat,
		Date:           now.Unix(),
		Text:           text,
		Entities:       entities,
		ReplyToMessage: replyMsg,
	}
	if rm, ok := p.get("reply_markup"); ok && json.Valid([]byte(rm)) {
		msg.ReplyMarkup = json.RawMessage(rm)
	}
	c.nextMessageID++
	c.messages[msg.MessageID] = msg
	c.sent = append(c.sent, SentMessage{
		ChatID:           c.chat.ID,
		MessageID:        msg.MessageID,
		Text:             text,
		RawText:          p.str("text"),
		ParseMode:        p.str("parse_mode"),
		Entities:         entities,
		ReplyToMessageID: replyTo,
		ReplyMarkup:      msg.ReplyMarkup,
		Time:             now,
	})
	s.broadcastLocked()
	return msg, nil
}

// handleEditMessageText covers the chat_id+message_id form, which is what a
// gateway streaming an answer uses, answering as Telegram does: 400
// "message is not modified" for an edit that changes nothing (a frequent
// bug in streaming code), "message to edit not found", "message can't be
// edited" for a message that is not the bot's, the text's entities checked
// as sendMessage checks them, and the flood limits of sends (429 with
// retry_after).
func (s *Server) handleEditMessageText(_ *http.Request, p params) (any, error) {
	if _, ok := p.get("inline_message_id"); ok {
		return nil, badRequest("MESSAGE_ID_INVALID")
	}
	s.mu.Lock()
	c, aerr := s.resolveChatLocked(p)
	s.mu.Unlock()
	if aerr != nil {
		return nil, aerr
	}
	text, entities, aerr := formattedText(p)
	if aerr != nil {
		return nil, aerr
	}
	if utf8.RuneCountInString(text) > maxMessageLength {
		return nil, apiErr(400, DescMessageTooLong)
	}
	id := p.int("message_id", 0)
	markup, _ := p.get("reply_markup")

	s.mu.Lock()
	defer s.mu.Unlock()
	msg, ok := c.messages[id]
	if !ok {
		return nil, apiErr(400, DescEditNotFound)
	}
	if msg.From == nil || msg.From.ID != s.opts.BotID {
		return nil, apiErr(400, DescCantBeEdited)
	}
	if msg.Text == text && slices.Equal(msg.Entities, entities) && string(msg.ReplyMarkup) == markup {
		return nil, apiErr(400, DescMessageNotModified)
	}
	now := s.opts.Now()
	// Edits share the send limits (Telegram's levlam, tdlib/td#3034):
	// a gateway editing a streamed answer too often gets 429 with
	// retry_after like one sending too often, and the edit is not made.
	if aerr := s.flood.allow(c.chat, now); aerr != nil {
		s.broadcastLocked()
		return nil, aerr
	}
	edited := *msg
	edited.Text, edited.Entities, edited.EditDate = text, entities, now.Unix()
	edited.ReplyMarkup = nil
	if markup != "" && json.Valid([]byte(markup)) {
		edited.ReplyMarkup = json.RawMessage(markup)
	}
	c.messages[id] = &edited
	for i := range c.sent {
		if sm := &c.sent[i]; sm.MessageID == id {
			sm.Edits = append(sm.Edits, sm.Text)
			sm.Text, sm.RawText, sm.ParseMode, sm.Entities = text, p.str("text"), p.str("parse_mode"), entities
			sm.ReplyMarkup, sm.EditTime = edited.ReplyMarkup, now
		}
	}
	s.broadcastLocked()
	return &edited, nil
}

func (s *Server) handleDeleteMessage(_ *http.Request, p params) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, aerr := s.resolveChatLocked(p)
	if aerr != nil {
		return nil, aerr
	}
	id := p.int("message_id", 0)
	if _, ok := c.messages[id]; !ok {
		return nil, apiErr(400, DescDeleteNotFound)
	}
	delete(c.messages, id)
	for i := range c.sent {
		if c.sent[i].MessageID == id {
			c.sent[i].Deleted = true
		}
	}
	s.broadcastLocked()
	return true, nil
}
