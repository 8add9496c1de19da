package fakebot

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// chatState is everything the fake knows about one chat.
type chatState struct {
	chat Chat
	// messages holds every message of the chat (users' and the bot's) by id,
	// so replies and edits can be checked against what exists.
	messages map[int]*Message
	// message ids are per chat in private chats and groups.
	nextMessageID int
	sent          []SentMessage
	actions       []ChatAction
}

// chatLocked returns the state of chat, creating it (which makes the chat
// "known", so sends to it stop failing with "chat not found").
func (s *Server) chatLocked(chat Chat) *chatState {
	c, ok := s.chats[chat.ID]
	if !ok {
		c = &chatState{chat: chat, messages: map[int]*Message{}, nextMessageID: 1}
		s.chats[chat.ID] = c
		return c
	}
	if chat.Type != "" {
		c.chat = chat
	}
	return c
}

// AddChat makes a chat known without injecting an update (for a bot that
// sends first, e.g. to an allow-listed admin chat).
func (s *Server) AddChat(chat Chat) {
	if chat.Type == "" {
		chat.Type = "private"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatLocked(chat)
	s.broadcastLocked()
}

// resolveChatLocked finds the chat a chat_id parameter names: a numeric id
// or an @username.
func (s *Server) resolveChatLocked(p params) (*chatState, *APIError) {
	raw := strings.TrimSpace(p.str("chat_id"))
	if raw == "" {
		return nil, apiErr(400, DescChatIDEmpty)
	}
	if strings.HasPrefix(raw, "@") {
		for _, c := range s.chats {
			if c.chat.Username != "" && strings.EqualFold("@"+c.chat.Username, raw) {
				return c, nil
			}
		}
		return nil, apiErr(400, DescChatNotFound)
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return nil, apiErr(400, DescChatNotFound)
	}
	c, ok := s.chats[id]
	if !ok {
		return nil, apiErr(400, DescChatNotFound)
	}
	return c, nil
}

// chatActions are the actions sendChatAction accepts.
var chatActions = []string{
	"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
	"upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
}

func (s *Server) handleSendChatAction(_ *http.Request, p params) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, aerr := s.resolveChatLocked(p)
	if aerr != nil {
		return nil, aerr
	}
	action := p.str("action")
	if !slices.Contains(chatActions, action) {
		return nil, apiErr(400, DescWrongAction)
	}
	c.actions = append(c.actions, ChatAction{ChatID: c.chat.ID, Action: action, Time: s.opts.Now()})
	s.broadcastLocked()
	return true, nil
}

func (s *Server) handleGetChat(_ *http.Request, p params) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, aerr := s.resolveChatLocked(p)
	if aerr != nil {
		return nil, aerr
	}
	return c.chat, nil
}

func (s *Server) handleSetMyCommands(_ *http.Request, p params) (any, error) {
	raw, _ := p.get("commands")
	var cmds []struct {
		Command     string `json:"command"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal([]byte(raw), &cmds); err != nil {
		return nil, badRequest("can't parse commands JSON object")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = json.RawMessage(raw)
	return true, nil
}

func (s *Server) handleGetMyCommands(_ *http.Request, _ params) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.commands == nil {
		return []any{}, nil
	}
	return s.commands, nil
}

func (s *Server) handleDeleteMyCommands(_ *http.Request, _ params) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = nil
	return true, nil
}

// Sent returns the messages the bot sent to chatID, oldest first.
func (s *Server) Sent(chatID int64) []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sentLocked(chatID)
}

func (s *Server) sentLocked(chatID int64) []SentMessage {
	c, ok := s.chats[chatID]
	if !ok {
		return nil
	}
	return slices.Clone(c.sent)
}

// AllSent returns the messages the bot sent to any chat, ordered by time.
func (s *Server) AllSent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SentMessage
	for _, c := range s.chats {
		out = append(out, c.sent...)
	}
	slices.SortStableFunc(out, func(a, b SentMessage) int { return a.Time.Compare(b.Time) })
	return out
}

// Actions returns the chat actions the bot sent to chatID, oldest first.
func (s *Server) Actions(chatID int64) []ChatAction {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chats[chatID]
	if !ok {
		return nil
	}
	return slices.Clone(c.actions)
}

// WaitForMessages blocks until the bot has sent at least n messages to
// chatID and returns all of them. It wakes on each send, without polling.
func (s *Server) WaitForMessages(ctx context.Context, chatID int64, n int) ([]SentMessage, error) {
	var out []SentMessage
	err := s.waitUntil(ctx, func() bool {
		out = s.sentLocked(chatID)
		return len(out) >= n
	})
	return out, err
}

// WaitForActions blocks until the bot has sent at least n chat actions to
// chatID.
func (s *Server) WaitForActions(ctx context.Context, chatID int64, n int) ([]ChatAction, error) {
	var out []ChatAction
	err := s.waitUntil(ctx, func() bool {
		if c, ok := s.chats[chatID]; ok {
			out = slices.Clone(c.actions)
		}
		return len(out) >= n
	})
	return out, err
}

// WaitForMessage blocks until the bot's message number i (0-based, in
// sending order) in chatID exists and ok holds for it, and returns it. It
// wakes on each send and edit, without polling: a test watches an answer
// grow.
func (s *Server) WaitForMessage(ctx context.Context, chatID int64, i int, ok func(SentMessage) bool) (SentMessage, error) {
	var out SentMessage
	err := s.waitUntil(ctx, func() bool {
		sent := s.sentLocked(chatID)
		if len(sent) <= i || !ok(sent[i]) {
			return false
		}
		out = sent[i]
		return true
	})
	return out, err
}
