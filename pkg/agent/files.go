package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File kinds of an OutFile.
const (
	FileDocument = "document" // any file, shown with its name
	FilePhoto    = "photo"    // shown as a picture
)

// Size limits of files in an answer: Telegram's for what a bot sends.
const (
	MaxFileBytes  = 50 << 20
	MaxPhotoBytes = 10 << 20
)

// OutFile is a file an answer carries.
type OutFile struct {
	// Path is the file's absolute path; the gateway reads it when it
	// sends it (the agent must not remove it before).
	Path string `json:"path"`
	// Kind is FileDocument (the default) or FilePhoto.
	Kind string `json:"kind,omitempty"`
	// Caption is shown with the file (plain text).
	Caption string `json:"caption,omitempty"`
}

// Answer is an answer that may carry files.
type Answer struct {
	Text  string    `json:"text"`
	Files []OutFile `json:"files"`
}

// textOnly is the answer for where files cannot go (the local chat): the
// text, and a line saying which files were left out.
func (a Answer) textOnly() string {
	if len(a.Files) == 0 {
		return a.Text
	}
	names := make([]string, len(a.Files))
	for i, f := range a.Files {
		names[i] = filepath.Base(f.Path)
	}
	note := fmt.Sprintf("(%d file(s) not shown here: %s)", len(a.Files), strings.Join(names, ", "))
	if a.Text == "" {
		return note
	}
	return a.Text + "\n\n" + note
}

// FileAgent is an Agent whose answers may carry files. It is optional: the
// router asks for files only where the agent says it may give them and the
// platform can send them.
type FileAgent interface {
	Agent
	// AnswersWithFiles reports whether answers may carry files (exec:
	// agent.exec.output = "json").
	AnswersWithFiles() bool
	// ReplyFiles is Reply with the files of the answer.
	ReplyFiles(ctx context.Context, t Turn) (Answer, error)
}

// AnswersWithFiles reports whether agent.exec.output = "json".
func (x *execAgent) AnswersWithFiles() bool { return x.json }

// ReplyFiles runs the command for t. With agent.exec.output = "json" its
// stdout is one JSON object,
//
//	{"text": "Markdown, may be empty when there are files",
//	 "files": [{"path": "/abs/path/report.pdf", "kind": "document", "caption": "…"},
//	           {"path": "/abs/path/chart.png", "kind": "photo"}]}
//
// each file an absolute path to a regular file of at most 50 MB (a photo:
// 10 MB), kind "document" (the default) or "photo". Anything else is
// refused as a whole with an *Error saying what is wrong. With "text", the
// answer is stdout as Reply gives it, without files.
func (x *execAgent) ReplyFiles(ctx context.Context, t Turn) (Answer, error) {
	out, err := x.run(ctx, t, nil)
	if err != nil || !x.json {
		return Answer{Text: out}, err
	}
	bad := func(format string, args ...any) (Answer, error) {
		return Answer{}, &Error{User: "⚠️ The agent's answer could not be read; the gateway's journal has the details.",
			Err: fmt.Errorf("exec: %s (agent.exec.output = \"json\"): "+format, append([]any{x.path}, args...)...)}
	}
	var a Answer
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&a); err != nil {
		return bad("stdout is not a JSON object {\"text\":…,\"files\":[…]}: %v", err)
	}
	a.Text = strings.TrimSpace(a.Text)
	if a.Text == "" && len(a.Files) == 0 {
		return Answer{}, &Error{User: UserEmpty, Err: fmt.Errorf("exec: %s answered neither text nor files", x.path)}
	}
	for i := range a.Files {
		f := &a.Files[i]
		if f.Kind == "" {
			f.Kind = FileDocument
		}
		if f.Kind != FileDocument && f.Kind != FilePhoto {
			return bad("files[%d].kind %q: use %q or %q", i, f.Kind, FileDocument, FilePhoto)
		}
		if !filepath.IsAbs(f.Path) {
			return bad("files[%d].path %q: give an absolute path", i, f.Path)
		}
		st, err := os.Stat(f.Path)
		if err != nil {
			return bad("files[%d]: %v", i, err)
		}
		limit := int64(MaxFileBytes)
		if f.Kind == FilePhoto {
			limit = MaxPhotoBytes
		}
		switch {
		case !st.Mode().IsRegular():
			return bad("files[%d].path %s is not a regular file", i, f.Path)
		case st.Size() > limit:
			return bad("files[%d] %s is %d bytes; a %s may have at most %d", i, f.Path, st.Size(), f.Kind, limit)
		case st.Size() == 0:
			return bad("files[%d] %s is empty", i, f.Path)
		}
	}
	return a, nil
}
