package router

import (
	"encoding/json"
	"time"

	"github.com/hermes-gateway/hermes/pkg/agent"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/store"
)

// collHistory holds one conversation per chat: platform/chat id → Conversation.
const collHistory = "history"

// Conversation is a chat's history with the agent.
type Conversation struct {
	Messages []agent.Message `json:"messages"`
	// Turns counts every turn since the last /new, including trimmed ones.
	Turns   int       `json:"turns"`
	Updated time.Time `json:"updated"`
	// LastID is the update whose turn is last in Messages: a turn run again
	// after a crash replaces its own earlier attempt instead of adding to it.
	LastID platform.MessageID `json:"last_id,omitempty"`
}

func historyKey(name string, chatID platform.ChatID) string {
	return name + "/" + string(chatID)
}

// History keeps conversations in the store, trimmed to the configured cap,
// so they survive restarts and updates.
type History struct {
	store    *store.Store
	maxTurns int
	maxChars int
}

// NewHistory returns conversations capped at maxTurns turns and maxChars
// characters.
func NewHistory(st *store.Store, maxTurns, maxChars int) *History {
	return &History{store: st, maxTurns: maxTurns, maxChars: maxChars}
}

// Load returns a chat's conversation (empty when it has none).
func (h *History) Load(name string, chatID platform.ChatID) (Conversation, error) {
	var c Conversation
	_, err := h.store.Load(collHistory, historyKey(name, chatID), &c)
	return c, err
}

// ForTurn returns the conversation as the agent should see it for update
// id: without that update's own turn, if an earlier attempt recorded it.
func (h *History) ForTurn(name string, chatID platform.ChatID, id platform.MessageID) (Conversation, error) {
	c, err := h.Load(name, chatID)
	if err == nil && c.LastID == id && len(c.Messages) >= 2 {
		c.Messages = c.Messages[:len(c.Messages)-2]
	}
	return c, err
}

// Record adds the turn of update id and trims; recording the same update
// again replaces its turn.
func (h *History) Record(name string, chatID platform.ChatID, id platform.MessageID, user, assistant string) error {
	c, err := h.Load(name, chatID)
	if err != nil {
		return err
	}
	if c.LastID == id && len(c.Messages) >= 2 {
		c.Messages = c.Messages[:len(c.Messages)-2]
		c.Turns--
	}
	c.Messages = append(c.Messages, agent.Message{Role: "user", Content: user}, agent.Message{Role: "assistant", Content: assistant})
	c.Messages = agent.Trim(c.Messages, h.maxTurns, h.maxChars)
	c.Turns++
	c.LastID = id
	c.Updated = time.Now().UTC()
	return h.store.Put(collHistory, historyKey(name, chatID), c)
}

// Reset starts a fresh conversation (/new).
func (h *History) Reset(name string, chatID platform.ChatID) error {
	return h.store.Delete(collHistory, historyKey(name, chatID))
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
