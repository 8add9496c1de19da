package gateway

import (
	"encoding/json"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/stretchr/testify/require"
)

// The adapters, not the router, say what is a command.
func TestTelegramAndLocalMessagesCarryTheirCommand(t *testing.T) {
	u := tgbotapi.Update{UpdateID: 7, Message: &tgbotapi.Message{MessageID: 3, Text: "/Restart@HermesBot now",
		Chat: &tgbotapi.Chat{ID: 42, Type: "private"}, From: &tgbotapi.User{ID: 42, UserName: "alice"}}}
	raw, _ := json.Marshal(u)
	m := messageFrom(u, raw)
	require.True(t, m.Parsed)
	require.Equal(t, "restart", m.Command)
	require.Equal(t, "now", m.Args)

	u.Message.Text = "what is /restart?"
	m = messageFrom(u, raw)
	require.True(t, m.Parsed)
	require.Empty(t, m.Command)

	for text, want := range map[string][2]string{"/new": {"new", ""}, "/Status please": {"status", "please"}, "hi /new": {"", ""}} {
		name, args := localCommand(text)
		require.Equal(t, want, [2]string{name, args}, text)
	}
}
