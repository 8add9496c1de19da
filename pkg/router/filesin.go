package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hermes-gateway/hermes/pkg/agent"
	"github.com/hermes-gateway/hermes/pkg/platform"
)

// kindLimits are the limits per kind of file a person sends, under
// Options.MaxFileBytes: Telegram takes photos up to 10 MB.
var kindLimits = map[string]int64{platform.FilePhoto: 10 << 20}

// fileLimit is the largest f the gateway fetches from fetcher.
func (r *Router) fileLimit(fetcher platform.FileFetcher, kind string) int64 {
	limit := min(r.o.MaxFileBytes, fetcher.MaxFetchBytes())
	if k, ok := kindLimits[kind]; ok {
		limit = min(limit, k)
	}
	return limit
}

// fileFetcher is p's FileFetcher when files can be fetched from it.
func (r *Router) fileFetcher(p Platform) (platform.FileFetcher, bool) {
	f, ok := p.(platform.FileFetcher)
	return f, ok && r.o.FilesDir != ""
}

// filesDir is where m's files are fetched to for its turn.
func (r *Router) filesDir(m Message) string {
	return filepath.Join(r.o.FilesDir, safeName(m.Platform), safeName(string(m.ID)))
}

// safeName makes an id one path element (a Matrix event id has "$" and
// ":"; none may have "/" or be "..").
func safeName(s string) string {
	s = strings.Map(func(c rune) rune {
		if c == '/' || c == 0 {
			return '_'
		}
		return c
	}, s)
	if s == "" || s == "." || s == ".." {
		s = "_" + s
	}
	return s
}

// fetchFiles fetches m's files for its turn into filesDir(m) (0700, each
// file 0600). remove deletes them, and is to be called once the agent is
// done (a crash leaves them to the sweep at start, SweepFiles). refusal, when
// not "", is the answer to give instead of a turn: a file too big, or one
// the platform would not hand over. err is the turn's context ending.
func (r *Router) fetchFiles(ctx context.Context, log *slog.Logger, fetcher platform.FileFetcher, m Message) (files []agent.InFile, remove func(), refusal string, err error) {
	dir := r.filesDir(m)
	remove = func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("could not remove the files the person sent; they are removed at the next start", "dir", dir, "err", err)
		}
	}
	for _, f := range m.Files {
		limit := r.fileLimit(fetcher, f.Kind)
		if f.Size > limit {
			return nil, remove, tooBig(f, limit), nil
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			log.Error("could not make the directory for the files the person sent", "dir", dir, "err", err)
			return nil, remove, "⚠️ I could not save the file you sent; the gateway's journal has the details.", nil
		}
		path, err := fetcher.FetchFile(ctx, f, dir, limit)
		switch {
		case errors.Is(err, platform.ErrFileTooBig):
			log.Info("a file the person sent is too big", "kind", f.Kind, "size", f.Size, "limit", limit, "err", err)
			return nil, remove, tooBig(f, limit), nil
		case err != nil && ctx.Err() != nil:
			return nil, remove, "", ctx.Err()
		case err != nil:
			log.Error("could not fetch a file the person sent", "kind", f.Kind, "err", err)
			return nil, remove, fmt.Sprintf("⚠️ I could not fetch the %s you sent; please send it again.", kindWord(f.Kind)), nil
		}
		size := f.Size
		if st, err := os.Stat(path); err == nil {
			size = st.Size()
		}
		files = append(files, agent.InFile{Path: path, Kind: f.Kind, Mime: f.Mime, Name: f.Name, Size: size})
	}
	return files, remove, "", nil
}

// tooBig is the answer to a file above limit.
func tooBig(f platform.InboundFile, limit int64) string {
	if f.Size > 0 {
		return fmt.Sprintf("📎 The %s you sent is %s; I can take files up to %s. Send a smaller one.", kindWord(f.Kind), agent.HumanSize(f.Size), agent.HumanSize(limit))
	}
	return fmt.Sprintf("📎 The %s you sent is larger than %s, more than I can take. Send a smaller one.", kindWord(f.Kind), agent.HumanSize(limit))
}

func kindWord(kind string) string {
	switch kind {
	case platform.FileVoice:
		return "voice note"
	case platform.FileAudio:
		return "audio file"
	case platform.FilePhoto:
		return "photo"
	}
	return "file"
}

// unsupportedAnswer is the one short answer to a message the gateway does
// not handle, on p.
func (r *Router) unsupportedAnswer(p Platform, m Message) string {
	if _, ok := r.fileFetcher(p); !ok {
		return "📎 I can only read text messages for now."
	}
	what := m.Unsupported
	if what == "" || what == "not text" {
		what = "this kind of message"
	}
	return "🤷 I cannot handle " + what + "; send me text, a photo, a document, a voice note or an audio file."
}

// historyText is what the conversation keeps of m's message: its text and
// a line per file it carried (the files themselves are gone after the
// turn).
func historyText(m Message) string {
	var b strings.Builder
	b.WriteString(m.Text)
	for _, f := range m.Files {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		name := f.Name
		if name == "" {
			name = f.Kind
		}
		fmt.Fprintf(&b, "[sent a %s: %s]", kindWord(f.Kind), name)
	}
	return b.String()
}

// SweepFiles removes what a previous process fetched and did not remove
// (it was killed during a turn): a turn run again fetches its files again.
func (r *Router) SweepFiles() error {
	if r.o.FilesDir == "" {
		return nil
	}
	return os.RemoveAll(r.o.FilesDir)
}
