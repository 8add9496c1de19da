package fakebot

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEditMessageTextAnswersAsTelegram covers what a streaming gateway
// meets when it edits its answer: each refusal with Telegram's exact body,
// and a refused edit leaving the message as it was.
func TestEditMessageTextAnswersAsTelegram(t *testing.T) {
	clock := &manualClock{now: time.Unix(1_700_000_000, 0)}
	s := newTestServer(t, Options{Now: clock.Now, FloodControl: &FloodControl{
		PerChat: Bucket{Burst: 2, Every: time.Second},
		Global:  Bucket{Burst: 30, Every: time.Second / 30},
	}})
	s.InjectMessage(UserMessage{UserID: 42, Text: "hi"}) // id 1, the person's
	var m Message
	call(t, s, "sendMessage", vals("chat_id", "42", "text", "The answer")).result(t, &m) // id 2
	edit := func(id, text string, kv ...string) reply {
		return call(t, s, "editMessageText", vals(append([]string{"chat_id", "42", "message_id", id, "text", text}, kv...)...))
	}

	// The same text and entities: refused with Telegram's whole sentence.
	r := edit("2", "The answer")
	require.Equal(t, `{"ok":false,"error_code":400,"description":"Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"}`, r.Body)
	// The same text with other entities is a change.
	clock.Advance(time.Second)
	require.Equal(t, 200, edit("2", "The answer", "entities", `[{"type":"bold","offset":0,"length":3}]`).Status)
	// White space Telegram trims away changes nothing either.
	clock.Advance(time.Second)
	edit("2", "  The answer \n", "entities", `[{"type":"bold","offset":2,"length":3}]`).requireError(t, 400, DescMessageNotModified)

	edit("9", "x").requireError(t, 400, "Bad Request: message to edit not found")
	edit("1", "x").requireError(t, 400, "Bad Request: message can't be edited")
	edit("2", "x", "entities", `[{"type":"bold","offset":0}]`).requireError(t, 400,
		`Bad Request: can't parse MessageEntity: Can't find field "length"`)
	edit("2", "  ").requireError(t, 400, "Bad Request: message text is empty")

	// Edits count against the chat's send limit: two at once, the third
	// refused with retry_after, and not applied.
	clock.Advance(10 * time.Second)
	require.Equal(t, 200, edit("2", "The answer grows").Status)
	require.Equal(t, 200, edit("2", "The answer grows more").Status)
	edit("2", "The answer grows too fast").requireErrorRetry(t, 1)
	require.Equal(t, "The answer grows more", s.Sent(42)[0].Text)
	clock.Advance(time.Second)
	require.Equal(t, 200, edit("2", "The answer, complete.").Status)
	require.Equal(t, []string{"The answer", "The answer", "The answer grows", "The answer grows more"}, s.Sent(42)[0].Edits)
}
