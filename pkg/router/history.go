package router

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/hermes-gateway/hermes/pkg/agent"
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
}

func historyKey(platform string, chatID int64) string {
	return platform + "/" + strconv.FormatInt(chatID, 10)
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
func (h *History) Load(platform string, chatID int64) (Conversation, error) {
	var c Conversation
	_, err := h.store.Load(collHistory, historyKey(platform, chatID), &c)
	return c, err
}

// Append adds a turn and trims.
func (h *History) Append(platform string, chatID int64, user, assistant string) error {
	c, err := h.Load(platform, chatID)
	if err != nil {
		return err
	}
	c.Messages = append(c.Messages, agent.Message{Role: "user", Content: user}, agent.Message{Role: "assistant", Content: assistant})
	c.Messages = agent.Trim(c.Messages, h.maxTurns, h.maxChars)
	c.Turns++
	c.Updated = time.Now().UTC()
	return h.store.Put(collHistory, historyKey(platform, chatID), c)
}

// Reset starts a fresh conversation (/new).
func (h *History) Reset(platform string, chatID int64) error {
	return h.store.Delete(collHistory, historyKey(platform, chatID))
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
