package matrix

import (
	"errors"
	"net/http"
	"testing"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    platform.Inbound
	}{
		{"text", `{"msgtype":"m.text","body":"hello"}`, platform.Inbound{Kind: platform.KindText, Text: "hello"}},
		{"emote", `{"msgtype":"m.emote","body":"waves"}`, platform.Inbound{Kind: platform.KindText, Text: "waves"}},
		{"command", `{"msgtype":"m.text","body":"!Restart  now please"}`, platform.Inbound{Kind: platform.KindText, Text: "!Restart  now please", Command: "restart", Args: "now please"}},
		{"slash command", `{"msgtype":"m.text","body":"/update"}`, platform.Inbound{Kind: platform.KindText, Text: "/update", Command: "update"}},
		{"not a command", `{"msgtype":"m.text","body":"/home/me is full"}`, platform.Inbound{Kind: platform.KindText, Text: "/home/me is full"}},
		{"reply loses its quote", `{"msgtype":"m.text","body":"> <@a:x> what?\n> more\n\nthis","m.relates_to":{"m.in_reply_to":{"event_id":"$e"}}}`,
			platform.Inbound{Kind: platform.KindText, Text: "this"}},
		{"quote without reply kept", `{"msgtype":"m.text","body":"> quoted\n\nmine"}`, platform.Inbound{Kind: platform.KindText, Text: "> quoted\n\nmine"}},
		{"edit", `{"msgtype":"m.text","body":" * fixed","m.new_content":{"msgtype":"m.text","body":"fixed"},"m.relates_to":{"rel_type":"m.replace","event_id":"$e"}}`,
			platform.Inbound{Kind: platform.KindSkip, Note: "an edit"}},
		{"notice from a bot", `{"msgtype":"m.notice","body":"beep"}`, platform.Inbound{Kind: platform.KindSkip, Note: "a notice (what bots send)"}},
		{"image", `{"msgtype":"m.image","body":"cat.png","url":"mxc://x/y"}`, platform.Inbound{Kind: platform.KindUnsupported, Note: "a message of type m.image"}},
		{"redacted", `{}`, platform.Inbound{Kind: platform.KindSkip, Note: "a message without content (redacted or malformed)"}},
		{"malformed", `{"msgtype":5}`, platform.Inbound{Kind: platform.KindSkip, Note: "a message without content (redacted or malformed)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got platform.Inbound
			classify(&got, []byte(tt.content))
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSyncFilter(t *testing.T) {
	// Inline JSON is what lets /sync take a filter without creating one
	// server-side first; it must start with '{'.
	require.Equal(t, `{"account_data":{"not_types":["*"]},"presence":{"not_types":["*"]},"room":{"account_data":{"not_types":["*"]},"ephemeral":{"not_types":["*"]},"timeline":{"limit":100}}}`,
		syncFilter(timelineLimit))
}

func TestRetryable(t *testing.T) {
	for code, want := range map[int]bool{
		400: false, 401: false, 403: false, 404: false, 413: false,
		408: true, 429: true, 500: true, 502: true, 503: true,
	} {
		err := mautrix.HTTPError{Response: &http.Response{StatusCode: code, Status: http.StatusText(code)}}
		require.Equal(t, want, retryable(err), code)
	}
	require.True(t, retryable(errors.New("dial tcp 127.0.0.1:1: connect: connection refused")), "no answer at all")
}
