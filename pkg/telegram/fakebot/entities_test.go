package fakebot

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The entities parameter is checked field by field, as the Bot API server
// does, and fixed as TDLib does; a fake that took any entities would let a
// sender with broken offsets pass its tests.
func TestSendMessageExplicitEntities(t *testing.T) {
	s := newTestServer(t, Options{})
	s.InjectMessage(UserMessage{UserID: 42, Text: "hi"})

	for _, tc := range []struct {
		name     string
		text     string
		entities string
		wantErr  string
		want     []MessageEntity
	}{
		{"bold", "hello world", `[{"type":"bold","offset":6,"length":5}]`, "", []MessageEntity{{Type: "bold", Offset: 6, Length: 5}}},
		{"pre with language", "x := 1", `[{"type":"pre","offset":0,"length":6,"language":"go"}]`, "", []MessageEntity{{Type: "pre", Offset: 0, Length: 6, Language: "go"}}},
		{"utf16 offsets", "😀 b", `[{"type":"bold","offset":3,"length":1}]`, "", []MessageEntity{{Type: "bold", Offset: 3, Length: 1}}},
		{"cut at the end of the text", "abc", `[{"type":"italic","offset":1,"length":10}]`, "", []MessageEntity{{Type: "italic", Offset: 1, Length: 2}}},
		{"past the end dropped", "abc", `[{"type":"italic","offset":5,"length":1}]`, "", nil},
		{"empty dropped", "abc", `[{"type":"bold","offset":1,"length":0}]`, "", nil},
		{"nothing inside code", "a b c", `[{"type":"code","offset":0,"length":5},{"type":"bold","offset":2,"length":1}]`, "", []MessageEntity{{Type: "code", Offset: 0, Length: 5}}},
		{"text link", "docs", `[{"type":"text_link","offset":0,"length":4,"url":"https://example.org"}]`, "", []MessageEntity{{Type: "text_link", Offset: 0, Length: 4, URL: "https://example.org"}}},
		{"not an array", "abc", `{"type":"bold"}`, "Bad Request: can't parse entities JSON object", nil},
		{"not an object", "abc", `[1]`, "Bad Request: can't parse MessageEntity: expected an Object", nil},
		{"unknown type", "abc", `[{"type":"shiny","offset":0,"length":2}]`, "Bad Request: can't parse MessageEntity: Unsupported type specified", nil},
		{"no type", "abc", `[{"offset":0,"length":2}]`, `Bad Request: can't parse MessageEntity: Can't find field "type"`, nil},
		{"no offset", "abc", `[{"type":"bold","length":2}]`, `Bad Request: can't parse MessageEntity: Can't find field "offset"`, nil},
		{"text link without url", "abc", `[{"type":"text_link","offset":0,"length":2}]`, `Bad Request: can't parse MessageEntity: Can't find field "url"`, nil},
		{"text link with ftp", "abc", `[{"type":"text_link","offset":0,"length":2,"url":"ftp://a.com"}]`, "Bad Request: Entity URL 'ftp://a.com' is invalid: Unsupported URL protocol", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, "sendMessage", vals("chat_id", "42", "text", tc.text, "entities", tc.entities))
			if tc.wantErr != "" {
				r.requireError(t, 400, tc.wantErr)
				return
			}
			var m Message
			r.result(t, &m)
			require.Equal(t, tc.want, m.Entities)
		})
	}
}
