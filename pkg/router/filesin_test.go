package router

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/agent"
	"github.com/hermes-gateway/hermes/pkg/platform"
)

// fetchingPlatform is a platform whose files can be fetched: each is
// written into the turn's directory, as an adapter does.
type fetchingPlatform struct {
	*fakePlatform
	max     int64
	mu      sync.Mutex
	fetched []string // the file ids asked for
	refuse  error    // FetchFile's error, when set
}

func (f *fetchingPlatform) FetchFile(_ context.Context, in platform.InboundFile, dir string, limit int64) (string, error) {
	f.mu.Lock()
	f.fetched = append(f.fetched, in.ID)
	f.mu.Unlock()
	if f.refuse != nil {
		return "", f.refuse
	}
	out, err := os.CreateTemp(dir, "fetched-*")
	if err != nil {
		return "", err
	}
	defer out.Close()
	_, err = out.WriteString("content of " + in.ID)
	return out.Name(), err
}

func (f *fetchingPlatform) MaxFetchBytes() int64 { return f.max }

// filesAgent records the files of each turn and whether they were there.
type filesAgent struct {
	mu    sync.Mutex
	turns []agent.Turn
	data  []string
}

func (a *filesAgent) Name() string { return "files" }
func (a *filesAgent) Reply(_ context.Context, t agent.Turn) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.turns = append(a.turns, t)
	for _, f := range t.Files {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			return "", err
		}
		a.data = append(a.data, string(b))
	}
	return fmt.Sprintf("got %d file(s)", len(t.Files)), nil
}

func filesRig(t *testing.T, maxFile int64) (*rig, *fetchingPlatform, *filesAgent, string) {
	g := newRig(t, nil)
	dir := filepath.Join(t.TempDir(), "files")
	p := &fetchingPlatform{fakePlatform: newFakePlatform(), max: 20 << 20}
	a := &filesAgent{}
	g.r = New(Options{Store: g.st, Agent: a, Auth: g.auth, History: NewHistory(g.st, 20, 10000), Host: g.h,
		FilesDir: dir, MaxFileBytes: maxFile, Finished: func(m Message, _, _ string) { g.doneC <- m }})
	g.r.AddPlatform(p)
	g.p = p.fakePlatform
	t.Cleanup(g.r.Abandon)
	return g, p, a, dir
}

// The limit on a file is the smallest of the configured one, the
// platform's and the kind's.
func TestFileLimits(t *testing.T) {
	for _, c := range []struct {
		configured, platform int64
		kind                 string
		want                 int64
	}{
		{20 << 20, 20 << 20, platform.FileDocument, 20 << 20},
		{50 << 20, 20 << 20, platform.FileDocument, 20 << 20}, // Telegram's 20 MB wins
		{1 << 20, 20 << 20, platform.FileVoice, 1 << 20},
		{20 << 20, 20 << 20, platform.FilePhoto, 10 << 20}, // photos: 10 MB
		{5 << 20, 20 << 20, platform.FilePhoto, 5 << 20},
	} {
		r := New(Options{MaxFileBytes: c.configured})
		r.Abandon()
		require.Equal(t, c.want, r.fileLimit(&fetchingPlatform{max: c.platform}, c.kind), "%+v", c)
	}
}

// A message's files are fetched for its turn into the files directory,
// given to the agent, and removed when the turn ends.
func TestFilesAreFetchedForTheTurnAndRemovedAfter(t *testing.T) {
	g, p, a, dir := filesRig(t, 20<<20)
	m := msg(user, user, "look")
	m.Files = []platform.InboundFile{{ID: "F1", Kind: platform.FileDocument, Size: 9, Mime: "text/plain", Name: "a.txt"}}
	require.NoError(t, g.r.Receive(m, ""))
	g.finished(t, 1)
	require.Equal(t, []string{"got 1 file(s)"}, g.p.messages(user))
	require.Equal(t, []string{"content of F1"}, a.data)
	f := a.turns[0].Files[0]
	require.Equal(t, filepath.Join(dir, "telegram", string(m.ID)), filepath.Dir(f.Path))
	require.Equal(t, agent.InFile{Path: f.Path, Kind: "document", Mime: "text/plain", Name: "a.txt", Size: int64(len("content of F1"))}, f)
	require.Equal(t, "look", a.turns[0].Text)
	_, err := os.Stat(filepath.Dir(f.Path))
	require.ErrorIs(t, err, os.ErrNotExist, "removed after the turn")
	require.Equal(t, []string{"F1"}, p.fetched)
	conv, err := g.r.o.History.Load("telegram", user)
	require.NoError(t, err)
	require.Equal(t, "look\n[sent a file: a.txt]", conv.Messages[0].Content, "the conversation names the file")
}

// A file above the limit is answered, not fetched; one the platform
// refuses is answered too; neither reaches the agent.
func TestRefusedFilesAreAnswered(t *testing.T) {
	for _, c := range []struct {
		name   string
		file   platform.InboundFile
		refuse error
		want   string
	}{
		{"announced too big", platform.InboundFile{ID: "F", Kind: platform.FileVoice, Size: 3 << 20}, nil,
			"📎 The voice note you sent is 3.0 MB; I can take files up to 2.0 MB. Send a smaller one."},
		{"too big on the way", platform.InboundFile{ID: "F", Kind: platform.FilePhoto}, fmt.Errorf("x: %w", platform.ErrFileTooBig),
			"📎 The photo you sent is larger than 2.0 MB, more than I can take. Send a smaller one."},
		{"refused", platform.InboundFile{ID: "F", Kind: platform.FileAudio, Size: 10}, fmt.Errorf("400 Bad Request: invalid file_id"),
			"⚠️ I could not fetch the audio file you sent; please send it again."},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, p, a, _ := filesRig(t, 2<<20)
			p.refuse = c.refuse
			m := msg(user, user, "")
			m.Files = []platform.InboundFile{c.file}
			require.NoError(t, g.r.Receive(m, ""))
			g.finished(t, 1)
			require.Equal(t, []string{c.want}, g.p.messages(user))
			require.Empty(t, a.turns)
		})
	}
}

// Files left by a process killed during a turn are removed at start.
func TestSweepFilesRemovesWhatWasLeft(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "files")
	left := filepath.Join(dir, "telegram", "7", "telegram-1")
	require.NoError(t, os.MkdirAll(filepath.Dir(left), 0o700))
	require.NoError(t, os.WriteFile(left, []byte("x"), 0o600))
	r := New(Options{FilesDir: dir})
	defer r.Abandon()
	require.NoError(t, r.SweepFiles())
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// The inbox records a message's files; a record stored before files were
// recorded still decodes, without any.
func TestInboxRecordsOfFiles(t *testing.T) {
	var old Message
	require.NoError(t, json.Unmarshal([]byte(`{"platform":"telegram","id":"9","chat_id":"42","chat_type":"private","user_id":"42","message_id":"7","text":"hi","parsed":true}`), &old))
	require.Equal(t, Message{Platform: "telegram", ID: "9", ChatID: "42", ChatType: "private", UserID: "42", MessageID: "7", Text: "hi", Parsed: true}, old)
	raw, err := json.Marshal(old)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "files", "a text message's record is as before")

	g, _, _, _ := filesRig(t, 20<<20)
	m := msg(user, user, "caption")
	m.Files = []platform.InboundFile{{ID: "AgAC", Kind: platform.FilePhoto, Size: 5, Mime: "image/jpeg", Name: "photo.jpg"}}
	require.NoError(t, g.r.Receive(m, ""))
	g.finished(t, 1)
	it, err := g.st.Get("telegram", string(m.ID))
	require.NoError(t, err)
	var stored Message
	require.NoError(t, json.Unmarshal(it.Msg, &stored))
	require.Equal(t, m.Files, stored.Files)
}

// A sticker gets the one short answer naming it where files are read;
// on a platform whose files are not fetched, the answer says text only.
func TestUnsupportedAnswers(t *testing.T) {
	g, _, a, _ := filesRig(t, 20<<20)
	m := msg(user, user, "")
	m.Unsupported = "a sticker"
	require.NoError(t, g.r.Receive(m, ""))
	g.finished(t, 1)
	require.Equal(t, []string{"🤷 I cannot handle a sticker; send me text, a photo, a document, a voice note or an audio file."}, g.p.messages(user))
	require.Empty(t, a.turns)

	plain := newRig(t, nil)
	m = msg(user, user, "")
	m.Files = []platform.InboundFile{{ID: "F", Kind: platform.FilePhoto}}
	require.NoError(t, plain.r.Receive(m, ""))
	plain.finished(t, 1)
	require.Equal(t, []string{"📎 I can only read text messages for now."}, plain.p.messages(user))
}
