package fakebot_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// These tests use the telegram-bot-api v5 library, the gateway's client, to
// prove the fake speaks its dialect (form-urlencoded POSTs, "null" for nil
// slices, the error type it builds from error answers).

func newBot(t *testing.T, s *fakebot.Server) *tgbotapi.BotAPI {
	t.Helper()
	bot, err := tgbotapi.NewBotAPIWithAPIEndpoint(s.Token(), s.URL()+"/bot%s/%s")
	require.NoError(t, err)
	return bot
}

func TestLibraryClientRoundTrip(t *testing.T) {
	s := fakebot.NewServer(t, fakebot.Options{BotUsername: "hermes_lib_bot", PollTimeUnit: time.Millisecond})
	bot := newBot(t, s)
	require.Equal(t, "hermes_lib_bot", bot.Self.UserName)
	require.True(t, bot.Self.IsBot)

	id := s.InjectMessage(fakebot.UserMessage{UserID: 42, FirstName: "Ann", Username: "ann", Text: "/start now"})
	updates, err := bot.GetUpdates(tgbotapi.UpdateConfig{Timeout: 1})
	require.NoError(t, err)
	require.Len(t, updates, 1)
	u := updates[0]
	require.Equal(t, id, u.UpdateID)
	require.True(t, u.Message.IsCommand())
	require.Equal(t, "start", u.Message.Command())
	require.Equal(t, "now", u.Message.CommandArguments())
	require.Equal(t, int64(42), u.Message.Chat.ID)

	_, err = bot.Request(tgbotapi.NewChatAction(42, tgbotapi.ChatTyping))
	require.NoError(t, err)

	reply := tgbotapi.NewMessage(42, "<b>Hello</b>, Ann")
	reply.ParseMode = tgbotapi.ModeHTML
	reply.ReplyToMessageID = u.Message.MessageID
	sent, err := bot.Send(reply)
	require.NoError(t, err)
	require.Equal(t, "Hello, Ann", sent.Text)
	require.Equal(t, u.Message.MessageID, sent.ReplyToMessage.MessageID)
	require.Equal(t, "bold", sent.Entities[0].Type)

	// Confirm with offset = last update_id + 1: nothing comes back.
	updates, err = bot.GetUpdates(tgbotapi.UpdateConfig{Offset: id + 1})
	require.NoError(t, err)
	require.Empty(t, updates)
	require.Equal(t, id+1, s.ConfirmedOffset())

	msgs, err := s.WaitForMessages(context.Background(), 42, 1)
	require.NoError(t, err)
	require.Equal(t, "Hello, Ann", msgs[0].Text)
	require.Equal(t, "typing", s.Actions(42)[0].Action)
}

func TestLibraryClientSeesTelegramErrors(t *testing.T) {
	s := fakebot.NewServer(t, fakebot.Options{})
	bot := newBot(t, s)
	s.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "hi"})

	_, err := bot.Send(tgbotapi.NewMessage(42, strings.Repeat("a", 4097)))
	var tgErr *tgbotapi.Error
	require.ErrorAs(t, err, &tgErr)
	require.Equal(t, 400, tgErr.Code)
	require.Equal(t, "Bad Request: message is too long", tgErr.Message)

	s.TooManyRequests("sendMessage", 1, 12)
	_, err = bot.Send(tgbotapi.NewMessage(42, "flood"))
	require.ErrorAs(t, err, &tgErr)
	require.Equal(t, 429, tgErr.Code)
	require.Equal(t, 12, tgErr.RetryAfter)

	s.DropConnections("sendMessage", 1)
	_, err = bot.Send(tgbotapi.NewMessage(42, "dropped"))
	require.Error(t, err)
	require.False(t, errors.As(err, &tgErr), "a dropped connection is a transport error, not an API error")

	s.RevokeToken("1:revoked")
	_, err = bot.GetMe()
	require.ErrorAs(t, err, &tgErr)
	require.Equal(t, 401, tgErr.Code)
}

func TestLibraryWebhookConfig(t *testing.T) {
	s := fakebot.NewServer(t, fakebot.Options{})
	bot := newBot(t, s)
	hook, err := url.Parse("http://127.0.0.1:9/telegram")
	require.NoError(t, err)
	_, err = bot.Request(tgbotapi.WebhookConfig{URL: hook, MaxConnections: 10})
	require.NoError(t, err)
	info, err := bot.GetWebhookInfo()
	require.NoError(t, err)
	require.True(t, info.IsSet())
	require.Equal(t, 10, info.MaxConnections)

	_, err = bot.GetUpdates(tgbotapi.UpdateConfig{})
	var tgErr *tgbotapi.Error
	require.ErrorAs(t, err, &tgErr)
	require.Equal(t, 409, tgErr.Code)

	_, err = bot.Request(tgbotapi.DeleteWebhookConfig{DropPendingUpdates: true})
	require.NoError(t, err)
	_, err = bot.GetUpdates(tgbotapi.UpdateConfig{})
	require.NoError(t, err)
}
