package router

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/agent"
	"github.com/hermes-gateway/hermes/pkg/events"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/store"
)

// filesAgent returns the agent's FileAgent side when answers with files
// can be asked for and delivered on p.
func (r *Router) filesAgent(p Platform) (agent.FileAgent, platform.FileSender, bool) {
	fa, ok := r.o.Agent.(agent.FileAgent)
	if !ok || !fa.AnswersWithFiles() {
		return nil, nil, false
	}
	fs, ok := p.(platform.FileSender)
	return fa, fs, ok
}

// filesAnswer is an answer with files, and where they go.
type filesAnswer struct {
	a  agent.Answer
	fs platform.FileSender
}

// historyText is what the conversation keeps of an answer with files.
func (f *filesAnswer) historyText() string {
	names := make([]string, len(f.a.Files))
	for i, x := range f.a.Files {
		names[i] = filepath.Base(x.Path)
	}
	note := "[sent: " + strings.Join(names, ", ") + "]"
	if f.a.Text == "" {
		return note
	}
	return f.a.Text + "\n\n" + note
}

// answerFiles sends an answer with files: the text, then each file, each
// part recorded durably once sent, so that the next process after a
// restart sends only what is left (a file on the wire at a SIGKILL may go
// twice, as a text may). A file the platform refuses is named in one line
// at the end; the others still go.
func (r *Router) answerFiles(log *slog.Logger, p Platform, fs platform.FileSender, m Message, a agent.Answer) {
	id := string(m.ID)
	sent, err := r.o.Store.PartsSent(m.Platform, id)
	if err != nil {
		log.Warn("could not read which parts of the answer were sent; sending all", "err", err)
	}
	record := func(part string) {
		sent = append(sent, part)
		if err := r.o.Store.PartSent(m.Platform, id, sent); err != nil {
			log.Warn("could not record a part of the answer as sent; a restart now would send it again", "part", part, "err", err)
		}
	}
	if a.Text != "" && !slices.Contains(sent, "text") {
		switch err := r.reply(log, p, m, a.Text); {
		case err == errAbandoned:
			return
		case err != nil:
			r.finish(m, store.Done, "undeliverable: "+err.Error())
			return
		}
		record("text")
	} else {
		// As reply does: a drain's notice must not follow the answer.
		r.mu.Lock()
		r.replying[msgKey{m.Platform, m.ID}] = struct{}{}
		r.mu.Unlock()
	}
	var failed []string
	for i, f := range a.Files {
		part := fmt.Sprintf("file %d", i)
		if slices.Contains(sent, part) {
			continue
		}
		ctx, cancel := context.WithTimeout(r.sendCtx, 10*time.Minute)
		_, err := fs.SendFile(ctx, platform.OutboundFile{Chat: m.ChatID, ReplyTo: m.ID, Key: "file-" + fmt.Sprint(i),
			Quote: string(m.MessageID), Path: f.Path, Kind: f.Kind, Caption: f.Caption})
		cancel()
		if err != nil {
			if r.sendCtx.Err() != nil {
				return // abandoned by the drain: the next process sends the rest
			}
			log.Error("delivery failed", events.DeliveryFailed.With("chat_id", m.ChatID, "file", f.Path, "err", err)...)
			failed = append(failed, filepath.Base(f.Path))
		}
		record(part)
	}
	note := fmt.Sprintf("answered with %d file(s)", len(a.Files))
	if len(failed) > 0 {
		ctx, cancel := context.WithTimeout(r.sendCtx, 2*time.Minute)
		_, err := p.Send(ctx, outbound(m, "files-failed", "⚠️ Could not send "+strings.Join(failed, ", ")+"; the gateway's journal has the details."))
		cancel()
		if err != nil {
			log.Warn("could not say which files failed", "err", err)
		}
		note += fmt.Sprintf(", %d undeliverable", len(failed))
	}
	if err := r.answered(m); err != nil {
		log.Warn("could not record the send", "err", err)
	}
	r.finish(m, store.Done, note)
	if err := r.o.Store.PartsDone(m.Platform, id); err != nil {
		log.Warn("could not forget the finished answer's parts", "err", err)
	}
}
