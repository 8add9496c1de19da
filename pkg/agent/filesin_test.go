package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/config"
)

// An exec agent gets the files as agent.exec.input says: a note with each
// path after the text, or the JSON envelope. (cat answers with its stdin.)
func TestExecFilesInput(t *testing.T) {
	f := InFile{Path: "/state/files/telegram/7/telegram-1", Kind: "voice", Mime: "audio/ogg", Name: "voice.oga", Size: 12 << 10}
	turn := Turn{Platform: "telegram", ChatID: "42", UserID: "42", UserName: "ada", Text: "listen", Files: []InFile{f}}
	for _, c := range []struct {
		input string
		turn  Turn
		want  string
	}{
		{config.ExecInputText, turn, "listen\n[The person sent a voice note (voice.oga, audio/ogg, 12 KB), saved at /state/files/telegram/7/telegram-1]"},
		{config.ExecInputText, Turn{Text: "plain"}, "plain"},
		{config.ExecInputJSON, turn, `{"text":"listen","platform":"telegram","chat_id":"42","user_id":"42","user_name":"ada","files":[{"path":"/state/files/telegram/7/telegram-1","kind":"voice","mime":"audio/ogg","name":"voice.oga","size":12288}]}`},
		{config.ExecInputJSON, Turn{Platform: "telegram", Text: "plain"}, `{"text":"plain","platform":"telegram","chat_id":"","user_id":"","user_name":"","files":[]}`},
	} {
		cfg := config.Default().Agent.Exec
		cfg.Command, cfg.Input = []string{"cat"}, c.input
		x, err := New(config.Agent{Backend: config.BackendExec, Exec: cfg}, nil, nil)
		require.NoError(t, err)
		got, err := x.Reply(context.Background(), c.turn)
		require.NoError(t, err)
		require.Equal(t, c.want, got, c.input)
		if c.input == config.ExecInputJSON {
			var e Envelope
			require.NoError(t, json.Unmarshal([]byte(got), &e), "the envelope decodes as documented")
		}
	}
}

// With vision a picture is an image content part, as the chat
// completions API takes it; anything else, and everything without vision,
// is a note.
func TestUserContent(t *testing.T) {
	dir := t.TempDir()
	photo := filepath.Join(dir, "p")
	require.NoError(t, os.WriteFile(photo, []byte("JPEG"), 0o600))
	png := filepath.Join(dir, "d")
	require.NoError(t, os.WriteFile(png, []byte("PNG"), 0o600))
	files := []InFile{
		{Path: photo, Kind: "photo", Mime: "image/jpeg", Name: "photo.jpg", Size: 4},
		{Path: png, Kind: "document", Mime: "image/png", Name: "chart.png", Size: 3},
		{Path: "/x/v", Kind: "voice", Mime: "audio/ogg", Name: "voice.oga", Size: 2048},
	}
	for _, c := range []struct {
		vision bool
		t      Turn
		want   string
	}{
		{true, Turn{Text: "what?", Files: files}, `[{"type":"text","text":"what?\n[The person sent a voice note (voice.oga, audio/ogg, 2 KB), which you cannot see or hear]"},` +
			`{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,SlBFRw=="}},{"type":"image_url","image_url":{"url":"data:image/png;base64,UE5H"}}]`},
		{true, Turn{Files: files[:1]}, `[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,SlBFRw=="}}]`},
		{false, Turn{Text: "what?", Files: files[:2]}, `"what?\n[The person sent a photo (photo.jpg, image/jpeg, 4 bytes), which you cannot see or hear]\n[The person sent a document (chart.png, image/png, 3 bytes), which you cannot see or hear]"`},
		{true, Turn{Text: "plain"}, `"plain"`},
	} {
		content, err := userContent(c.t, c.vision)
		require.NoError(t, err)
		got, err := json.Marshal(content)
		require.NoError(t, err)
		require.JSONEq(t, c.want, string(got))
	}
}
