package fakebot

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSendMessageLengthLimit(t *testing.T) {
	s := newTestServer(t, Options{})
	s.InjectMessage(UserMessage{UserID: 42, Text: "hi"})

	tests := []struct {
		name      string
		text      string
		parseMode string
		wantErr   string
	}{
		{"4096 ascii", strings.Repeat("a", 4096), "", ""},
		{"4097 ascii", strings.Repeat("a", 4097), "", "Bad Request: message is too long"},
		// Telegram counts characters, not bytes: 4096 Cyrillic letters are
		// 8192 bytes and still fit.
		{"4096 runes", strings.Repeat("я", 4096), "", ""},
		{"4097 runes", strings.Repeat("я", 4097), "", "Bad Request: message is too long"},
		// Markup does not count: only the text after entity parsing does.
		{"html tags not counted", "<b>" + strings.Repeat("a", 4096) + "</b>", "HTML", ""},
		{"html entity counts once", strings.Repeat("&amp;", 4096), "HTML", ""},
		{"html over limit", "<i>" + strings.Repeat("a", 4097) + "</i>", "HTML", "Bad Request: message is too long"},
		{"markdownv2 escapes not counted", strings.Repeat(`\.`, 4096), "MarkdownV2", ""},
		// Surrounding white space is trimmed before counting.
		{"trimmed", "  \n" + strings.Repeat("a", 4096) + "\n ", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, "sendMessage", vals("chat_id", "42", "text", tc.text, "parse_mode", tc.parseMode))
			if tc.wantErr != "" {
				r.requireError(t, 400, tc.wantErr)
				return
			}
			var m Message
			r.result(t, &m)
			require.NotZero(t, m.MessageID)
		})
	}
}

func TestSendMessageTooLongExactBody(t *testing.T) {
	s := newTestServer(t, Options{})
	s.InjectMessage(UserMessage{UserID: 42, Text: "hi"})
	r := call(t, s, "sendMessage", vals("chat_id", "42", "text", strings.Repeat("x", 4097)))
	require.Equal(t, 400, r.Status)
	require.Equal(t, `{"ok":false,"error_code":400,"description":"Bad Request: message is too long"}`, r.Body)
	require.Empty(t, s.Sent(42), "a rejected message is not recorded")
}

func TestSendMessageErrors(t *testing.T) {
	s := newTestServer(t, Options{})
	s.InjectMessage(UserMessage{UserID: 42, Text: "hi"})
	tests := []struct {
		name   string
		params []string
		desc   string
	}{
		{"missing text", []string{"chat_id", "42"}, "Bad Request: message text is empty"},
		{"empty text", []string{"chat_id", "42", "text", ""}, "Bad Request: message text is empty"},
		{"white space only", []string{"chat_id", "42", "text", " \n\t "}, "Bad Request: message text is empty"},
		{"only empty markup", []string{"chat_id", "42", "text", "<b></b>", "parse_mode", "HTML"}, "Bad Request: message text is empty"},
		{"unknown chat", []string{"chat_id", "43", "text", "x"}, "Bad Request: chat not found"},
		{"unknown username", []string{"chat_id", "@nobody", "text", "x"}, "Bad Request: chat not found"},
		{"missing chat", []string{"text", "x"}, "Bad Request: chat_id is empty"},
		{"bad parse mode", []string{"chat_id", "42", "text", "x", "parse_mode", "BBCode"}, "Bad Request: unsupported parse_mode"},
		{"html error", []string{"chat_id", "42", "text", "<b>x", "parse_mode", "HTML"}, `Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`},
		{"markdownv2 error", []string{"chat_id", "42", "text", "Done.", "parse_mode", "MarkdownV2"}, `Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\'`},
		{"reply target missing", []string{"chat_id", "42", "text", "x", "reply_to_message_id", "999"}, "Bad Request: message to be replied not found"},
		{"reply_parameters target missing", []string{"chat_id", "42", "text", "x", "reply_parameters", `{"message_id":999}`}, "Bad Request: message to be replied not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			call(t, s, "sendMessage", vals(tc.params...)).requireError(t, 400, tc.desc)
		})
	}
	require.Empty(t, s.Sent(42))
}

func TestSendMessageRecordsAndReplies(t *testing.T) {
	s := newTestServer(t, Options{})
	s.InjectMessage(UserMessage{UserID: 42, Text: "question"}) // message_id 1

	var m Message
	call(t, s, "sendMessage", vals("chat_id", "42", "text", "<b>Answer</b> &lt;ok&gt;", "parse_mode", "HTML",
		"reply_to_message_id", "1", "reply_markup", `{"inline_keyboard":[]}`)).result(t, &m)
	require.Equal(t, 2, m.MessageID, "message ids are per chat and shared with the user's messages")
	require.Equal(t, "Answer <ok>", m.Text)
	require.Equal(t, []MessageEntity{{Type: "bold", Offset: 0, Length: 6}}, m.Entities)
	require.True(t, m.From.IsBot)
	require.Equal(t, "question", m.ReplyToMessage.Text)

	// allow_sending_without_reply turns a missing target into a plain send.
	var plain Message
	call(t, s, "sendMessage", vals("chat_id", "42", "text", "x", "reply_parameters", `{"message_id":999,"allow_sending_without_reply":true}`)).result(t, &plain)
	require.Nil(t, plain.ReplyToMessage)

	sent, err := s.WaitForMessages(testContext(t), 42, 2)
	require.NoError(t, err)
	require.Len(t, sent, 2)
	require.Equal(t, SentMessage{
		ChatID: 42, MessageID: 2, Text: "Answer <ok>", RawText: "<b>Answer</b> &lt;ok&gt;", ParseMode: "HTML",
		Entities: []MessageEntity{{Type: "bold", Offset: 0, Length: 6}}, ReplyToMessageID: 1, ReplyMarkup: []byte(`{"inline_keyboard":[]}`), Time: sent[0].Time,
	}, sent[0])
	require.Equal(t, 0, sent[1].ReplyToMessageID)
	require.Equal(t, 2, s.Stats().SentMessages)
}

func TestWaitForMessagesWakesOnSend(t *testing.T) {
	s := newTestServer(t, Options{})
	s.AddChat(Chat{ID: 5, Type: "private"})
	ctx := testContext(t)
	done := make(chan []SentMessage, 1)
	go func() {
		msgs, err := s.WaitForMessages(ctx, 5, 2)
		if err == nil {
			done <- msgs
		}
		close(done)
	}()
	call(t, s, "sendMessage", vals("chat_id", "5", "text", "one"))
	call(t, s, "sendMessage", vals("chat_id", "5", "text", "two"))
	msgs, ok := <-done
	require.True(t, ok)
	require.Len(t, msgs, 2)
	require.Equal(t, "two", msgs[1].Text)
}

func TestSendChatAction(t *testing.T) {
	s := newTestServer(t, Options{})
	s.InjectMessage(UserMessage{UserID: 42, Text: "hi"})

	var ok bool
	call(t, s, "sendChatAction", vals("chat_id", "42", "action", "typing")).result(t, &ok)
	require.True(t, ok)
	call(t, s, "sendChatAction", vals("chat_id", "42", "action", "dancing")).requireError(t, 400, "Bad Request: wrong parameter action in request")
	call(t, s, "sendChatAction", vals("chat_id", "43", "action", "typing")).requireError(t, 400, "Bad Request: chat not found")

	acts, err := s.WaitForActions(testContext(t), 42, 1)
	require.NoError(t, err)
	require.Len(t, acts, 1)
	require.Equal(t, "typing", acts[0].Action)
}

func TestEditAndDeleteMessage(t *testing.T) {
	s := newTestServer(t, Options{})
	s.InjectMessage(UserMessage{UserID: 42, Text: "hi"}) // id 1
	var m Message
	call(t, s, "sendMessage", vals("chat_id", "42", "text", "draft")).result(t, &m)

	call(t, s, "editMessageText", vals("chat_id", "42", "message_id", "2", "text", "final")).result(t, &m)
	require.Equal(t, "final", m.Text)
	require.NotZero(t, m.EditDate)

	// Streaming code that re-sends the same text gets this error.
	call(t, s, "editMessageText", vals("chat_id", "42", "message_id", "2", "text", "final")).requireError(t, 400, DescMessageNotModified)
	call(t, s, "editMessageText", vals("chat_id", "42", "message_id", "1", "text", "x")).requireError(t, 400, "Bad Request: message can't be edited")
	call(t, s, "editMessageText", vals("chat_id", "42", "message_id", "9", "text", "x")).requireError(t, 400, "Bad Request: message to edit not found")

	sent := s.Sent(42)
	require.Equal(t, "final", sent[0].Text)
	require.Equal(t, []string{"draft"}, sent[0].Edits)

	var ok bool
	call(t, s, "deleteMessage", vals("chat_id", "42", "message_id", "2")).result(t, &ok)
	call(t, s, "deleteMessage", vals("chat_id", "42", "message_id", "2")).requireError(t, 400, "Bad Request: message to delete not found")
	require.True(t, s.Sent(42)[0].Deleted)
}
