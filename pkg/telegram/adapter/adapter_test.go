package adapter

import (
	"encoding/json"
	"testing"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/stretchr/testify/require"
)

// What the adapter makes of an update decides what the router does with
// it: the command it recognised, whom to answer, what to quote, or that
// there is nothing to answer.
func TestInbound(t *testing.T) {
	msg := func(text, chatType string, chat, from int64) tgbotapi.Update {
		u := tgbotapi.Update{UpdateID: 7, Message: &tgbotapi.Message{MessageID: 3, Date: 1700000000, Text: text}}
		if chat != 0 {
			u.Message.Chat = &tgbotapi.Chat{ID: chat, Type: chatType}
		}
		if from != 0 {
			u.Message.From = &tgbotapi.User{ID: from, UserName: "alice"}
		}
		return u
	}
	for _, c := range []struct {
		name string
		u    tgbotapi.Update
		raw  string
		want platform.Inbound
	}{
		{"a command to the bot", msg("/Restart@HermesBot now", "private", 42, 42), "",
			platform.Inbound{ID: "7", Chat: "42", User: "42", UserName: "alice", Direct: true, Kind: platform.KindText, Text: "/Restart@HermesBot now", Command: "restart", Args: "now", Quote: "3"}},
		{"a slash inside a sentence", msg("what is /restart?", "supergroup", -1001234, 42), "",
			platform.Inbound{ID: "7", Chat: "-1001234", User: "42", UserName: "alice", Kind: platform.KindText, Text: "what is /restart?", Quote: "3"}},
		{"a sticker", msg("", "private", 42, 42), "",
			platform.Inbound{ID: "7", Chat: "42", User: "42", UserName: "alice", Direct: true, Kind: platform.KindUnsupported, Note: "not text", Quote: "3"}},
		{"a channel post without a sender", msg("news", "channel", -100, 0), "",
			platform.Inbound{ID: "7", Chat: "-100", Kind: platform.KindSkip, Note: "message without chat or sender", Text: "news", Quote: "3"}},
		{"an edit", tgbotapi.Update{UpdateID: 8}, "",
			platform.Inbound{ID: "8", Kind: platform.KindSkip, Note: "not a message (edit, reaction, callback…)"}},
		{"an update tgbotapi could not decode", tgbotapi.Update{}, `{"update_id":9,"message":"?"}`,
			platform.Inbound{ID: "9", Kind: platform.KindSkip, Note: "undecodable update"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := json.RawMessage(c.raw)
			if c.raw == "" {
				raw, _ = json.Marshal(c.u)
			}
			got := Inbound(c.u, raw)
			got.Time = got.Time.UTC()
			c.want.Platform = Name
			if c.u.Message != nil {
				c.want.Time = got.Time
				require.Equal(t, int64(1700000000), got.Time.Unix())
			}
			require.Equal(t, c.want, got)
		})
	}
}

func TestChatNumberSaysWhatATelegramChatIs(t *testing.T) {
	n, err := ChatNumber("-1001234")
	require.NoError(t, err)
	require.EqualValues(t, -1001234, n)
	_, err = ChatNumber("!room:example.org")
	require.ErrorContains(t, err, "not a Telegram chat id (an integer")
}
