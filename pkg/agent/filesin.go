package agent

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// InFile is a file the person sent with their message (a photo, a
// document, a voice note, an audio file), fetched by the gateway for the
// turn. It exists while the turn runs and is removed when it ends: an
// agent that wants to keep it must copy it.
type InFile struct {
	// Path is the file's absolute path (mode 0600, in the gateway's state
	// directory).
	Path string `json:"path"`
	// Kind is "photo", "document", "voice" or "audio".
	Kind string `json:"kind"`
	// Mime is the media type the platform announced ("" if none), Name
	// the file's name as sent ("" if none), Size its size in bytes.
	Mime string `json:"mime,omitempty"`
	Name string `json:"name,omitempty"`
	Size int64  `json:"size"`
}

// Envelope is what an exec agent with agent.exec.input = "json" reads on
// stdin: one JSON object, then EOF.
//
//	{"text": "what is this?", "platform": "telegram", "chat_id": "42",
//	 "user_id": "42", "user_name": "ada",
//	 "files": [{"path": "/home/ada/.local/state/hermes/files/telegram/7/telegram-123",
//	            "kind": "photo", "mime": "image/jpeg", "name": "photo.jpg", "size": 48213}]}
//
// text is the message, or the caption of its files ("" when none); files
// is always an array, empty for a plain text message.
type Envelope struct {
	Text     string   `json:"text"`
	Platform string   `json:"platform"`
	ChatID   string   `json:"chat_id"`
	UserID   string   `json:"user_id"`
	UserName string   `json:"user_name"`
	Files    []InFile `json:"files"`
}

// envelope is t's Envelope, encoded.
func envelope(t Turn) ([]byte, error) {
	e := Envelope{Text: t.Text, Platform: t.Platform, ChatID: t.ChatID, UserID: t.UserID, UserName: t.UserName, Files: t.Files}
	if e.Files == nil {
		e.Files = []InFile{}
	}
	b, err := json.Marshal(e)
	return append(b, '\n'), err
}

// kindName is how a note names a file's kind.
func kindName(kind string) string {
	switch kind {
	case "voice":
		return "voice note"
	case "audio":
		return "audio file"
	case "":
		return "file"
	}
	return kind
}

// describe is a file in a few words: photo.jpg, image/jpeg, 47 KB.
func (f InFile) describe() string {
	var parts []string
	if f.Name != "" {
		parts = append(parts, f.Name)
	}
	if f.Mime != "" {
		parts = append(parts, f.Mime)
	}
	parts = append(parts, HumanSize(f.Size))
	return strings.Join(parts, ", ")
}

// HumanSize is n bytes for a person: 812 bytes, 47 KB, 20.0 MB.
func HumanSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// withNotes is t.Text followed by a line per file the agent is not given
// otherwise: with its path for an agent that can open it (exec), without
// for one that cannot (openai).
func withNotes(text string, files []InFile, paths bool) string {
	var b strings.Builder
	b.WriteString(text)
	for _, f := range files {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		if paths {
			fmt.Fprintf(&b, "[The person sent a %s (%s), saved at %s]", kindName(f.Kind), f.describe(), f.Path)
		} else {
			fmt.Fprintf(&b, "[The person sent a %s (%s), which you cannot see or hear]", kindName(f.Kind), f.describe())
		}
	}
	return b.String()
}

// visionMimes are the image types the OpenAI API accepts as image parts.
var visionMimes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// isImage reports whether f can be an image content part.
func (f InFile) isImage() bool {
	return f.Kind == "photo" || (f.Kind == "document" && visionMimes[f.Mime])
}

// contentPart is one part of a chat message's content, as the chat
// completions API spells it: {"type":"text","text":…} or
// {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,…"}}.
type contentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
}

type imageURL struct {
	URL string `json:"url"`
}

// userContent is the content of the person's message for the chat
// completions API: a string, or, with vision and at least one picture,
// parts: the text (with a note for each file that is not a picture), then
// each picture as a data URL.
func userContent(t Turn, vision bool) (any, error) {
	var images, others []InFile
	for _, f := range t.Files {
		if vision && f.isImage() {
			images = append(images, f)
		} else {
			others = append(others, f)
		}
	}
	text := withNotes(t.Text, others, false)
	if len(images) == 0 {
		return text, nil
	}
	var parts []contentPart
	if text != "" {
		parts = append(parts, contentPart{Type: "text", Text: text})
	}
	for _, f := range images {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("read the picture the person sent: %w", err)
		}
		mime := f.Mime
		if !visionMimes[mime] {
			mime = "image/jpeg" // Telegram's photos are JPEG
		}
		parts = append(parts, contentPart{Type: "image_url", ImageURL: &imageURL{URL: "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data)}})
	}
	return parts, nil
}
