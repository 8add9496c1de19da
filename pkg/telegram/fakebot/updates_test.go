package fakebot

import (
	"encoding/json"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOffsetConfirmationAndRedelivery(t *testing.T) {
	s := newTestServer(t, Options{})
	ids := injectN(s, 42, 3)
	require.Equal(t, []int{ids[0], ids[0] + 1, ids[0] + 2}, ids, "update_ids increase one by one")

	// Without an offset, unconfirmed updates come again and again.
	require.Equal(t, ids, updateIDs(getUpdates(t, s, nil)))
	require.Equal(t, ids, updateIDs(getUpdates(t, s, nil)))
	require.Equal(t, 0, s.ConfirmedOffset())

	// offset = first+1 confirms only the first update.
	off := strconv.Itoa(ids[0] + 1)
	require.Equal(t, ids[1:], updateIDs(getUpdates(t, s, vals("offset", off))))
	require.Equal(t, ids[0]+1, s.ConfirmedOffset())
	require.Equal(t, 2, s.PendingUpdates())
	// ...and it never comes back, even without offset.
	require.Equal(t, ids[1:], updateIDs(getUpdates(t, s, nil)))

	// Confirming everything leaves an empty queue; new ids keep increasing.
	require.Empty(t, getUpdates(t, s, vals("offset", strconv.Itoa(ids[2]+1))))
	require.Equal(t, 0, s.PendingUpdates())
	next := s.InjectMessage(UserMessage{UserID: 42, Text: "later"})
	require.Greater(t, next, ids[2])
	require.Equal(t, []int{next}, updateIDs(getUpdates(t, s, nil)))
}

func TestNegativeOffsetForgetsEarlierUpdates(t *testing.T) {
	s := newTestServer(t, Options{})
	ids := injectN(s, 42, 5)

	require.Equal(t, ids[3:], updateIDs(getUpdates(t, s, vals("offset", "-2"))))
	// The first three were forgotten; the last two are still unconfirmed.
	require.Equal(t, ids[3:], updateIDs(getUpdates(t, s, nil)))
	require.Equal(t, 2, s.PendingUpdates())

	// A negative offset larger than the queue forgets nothing.
	require.Equal(t, ids[3:], updateIDs(getUpdates(t, s, vals("offset", "-100"))))
}

func TestLimitIsClamped(t *testing.T) {
	s := newTestServer(t, Options{})
	injectN(s, 42, 105)
	tests := []struct {
		limit string
		want  int
	}{
		{"", 100}, // default
		{"1", 1},
		{"5", 5},
		{"0", 1},  // below range: clamped to 1
		{"-7", 1}, // below range: clamped to 1
		{"100", 100},
		{"500", 100}, // above range: clamped to 100
		{"abc", 1},   // read as 0, then clamped
	}
	for _, tc := range tests {
		t.Run("limit="+tc.limit, func(t *testing.T) {
			form := url.Values{}
			if tc.limit != "" {
				form.Set("limit", tc.limit)
			}
			require.Len(t, getUpdates(t, s, form), tc.want)
		})
	}
}

func TestLongPollReturnsWhenUpdateArrives(t *testing.T) {
	s := newTestServer(t, Options{PollTimeUnit: testTimeout}) // a timeout would take far longer than the test
	ctx := testContext(t)
	got := asyncCall(ctx, s, "getUpdates", vals("timeout", "50"))
	require.NoError(t, s.WaitForLongPoll(ctx))
	id := s.InjectMessage(UserMessage{UserID: 9, Text: "wake up"})
	select {
	case r := <-got:
		var ups []testUpdate
		r.result(t, &ups)
		require.Equal(t, []int{id}, updateIDs(ups))
		require.Equal(t, "wake up", ups[0].Message.Text)
	case <-ctx.Done():
		t.Fatal("long poll did not return after the update arrived")
	}
}

func TestLongPollTimesOutEmpty(t *testing.T) {
	s := newTestServer(t, Options{PollTimeUnit: 1})
	r := call(t, s, "getUpdates", vals("timeout", "1"))
	require.JSONEq(t, `{"ok":true,"result":[]}`, r.Body)
	require.False(t, s.Stats().LongPollActive)
}

func TestSecondGetUpdatesTerminatesFirst(t *testing.T) {
	s := newTestServer(t, Options{PollTimeUnit: testTimeout})
	ctx := testContext(t)
	first := asyncCall(ctx, s, "getUpdates", vals("timeout", "30"))
	require.NoError(t, s.WaitForLongPoll(ctx))

	second := call(t, s, "getUpdates", vals("timeout", "0"))
	require.JSONEq(t, `{"ok":true,"result":[]}`, second.Body)
	select {
	case r := <-first:
		r.requireError(t, 409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
	case <-ctx.Done():
		t.Fatal("first getUpdates was not terminated")
	}
}

func TestGetUpdatesWhileWebhookIsSet(t *testing.T) {
	s := newTestServer(t, Options{})
	call(t, s, "setWebhook", vals("url", "http://127.0.0.1:9/hook")).result(t, new(bool))
	call(t, s, "getUpdates", nil).requireError(t, 409,
		"Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")

	call(t, s, "deleteWebhook", nil).result(t, new(bool))
	require.Empty(t, getUpdates(t, s, nil))
}

func TestAllowedUpdatesFiltersNewUpdates(t *testing.T) {
	s := newTestServer(t, Options{})
	cb := json.RawMessage(`{"callback_query":{"id":"1","from":{"id":5,"is_bot":false,"first_name":"A"},"chat_instance":"x"}}`)

	// By default every type but chat_member & reactions is delivered.
	id, err := s.InjectUpdate(cb)
	require.NoError(t, err)
	require.NotZero(t, id)
	id, err = s.InjectUpdate(json.RawMessage(`{"chat_member":{}}`))
	require.NoError(t, err)
	require.Zero(t, id, "chat_member is not delivered unless asked for")

	// Restricting to messages affects updates created from now on.
	getUpdates(t, s, vals("allowed_updates", `["message"]`))
	id, err = s.InjectUpdate(cb)
	require.NoError(t, err)
	require.Zero(t, id)
	require.NotZero(t, s.InjectMessage(UserMessage{UserID: 5, Text: "hi"}))

	// Not giving allowed_updates keeps the previous setting; null (as sent
	// by telegram-bot-api for a nil slice) counts as not given.
	getUpdates(t, s, vals("allowed_updates", "null"))
	id, err = s.InjectUpdate(cb)
	require.NoError(t, err)
	require.Zero(t, id)

	// An empty list restores the default.
	getUpdates(t, s, vals("allowed_updates", `[]`))
	id, err = s.InjectUpdate(cb)
	require.NoError(t, err)
	require.NotZero(t, id)
}

func TestInjectCommandAndGroupMessage(t *testing.T) {
	s := newTestServer(t, Options{})
	s.InjectMessage(UserMessage{ChatID: -1001, ChatType: "supergroup", ChatTitle: "Ops", UserID: 7, Username: "ann", Text: "/ask@hermes_fake_bot why?"})
	ups := getUpdates(t, s, nil)
	require.Len(t, ups, 1)
	m := ups[0].Message
	require.Equal(t, Chat{ID: -1001, Type: "supergroup", Title: "Ops"}, m.Chat)
	require.Equal(t, "ann", m.From.Username)
	require.Equal(t, []MessageEntity{{Type: "bot_command", Offset: 0, Length: len("/ask@hermes_fake_bot")}}, m.Entities)
}

func TestInjectRawUpdateMakesChatKnown(t *testing.T) {
	s := newTestServer(t, Options{})
	id, err := s.InjectUpdate(json.RawMessage(`{"update_id":1,"message":{"message_id":77,"date":1,"chat":{"id":555,"type":"private"},"text":"raw"}}`))
	require.NoError(t, err)
	ups := getUpdates(t, s, nil)
	require.Equal(t, []int{id}, updateIDs(ups), "update_id is replaced by the fake's own")

	var m Message
	call(t, s, "sendMessage", vals("chat_id", "555", "text", "ok", "reply_to_message_id", "77")).result(t, &m)
	require.Equal(t, 77, m.ReplyToMessage.MessageID)
	require.Equal(t, 78, m.MessageID)

	_, err = s.InjectUpdate(json.RawMessage(`{"message":{},"edited_message":{}}`))
	require.Error(t, err)
}
