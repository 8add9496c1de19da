package router

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hermes-gateway/hermes/pkg/agent"
	"github.com/hermes-gateway/hermes/pkg/events"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/store"
)

// streamed is an answer being shown as the agent writes it.
type streamed struct {
	s      platform.Stream
	cancel context.CancelFunc // releases its context once it has ended
	mu     sync.Mutex
	text   string // the answer written so far
}

func (s *streamed) written() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text
}

// runAgent asks the agent for m's answer. When the agent can stream
// (agent.Streamer) and the platform can show an answer growing
// (platform.Streamer), the answer is shown as it is written, and the
// stream is returned for the final text (st is nil when nothing was
// streamed). A stream a previous process began for m is taken up: its
// messages are edited, never sent a second time; so even an agent that no
// longer streams finishes the answer there.
func (r *Router) runAgent(ctx context.Context, log *slog.Logger, p Platform, m Message, t agent.Turn) (reply string, st *streamed, fa *filesAnswer, err error) {
	if agentFiles, fs, ok := r.filesAgent(p); ok {
		a, err := agentFiles.ReplyFiles(ctx, t)
		if err != nil || len(a.Files) == 0 {
			return a.Text, nil, nil, err
		}
		return a.Text, nil, &filesAnswer{a: a, fs: fs}, nil
	}
	ps, canShow := p.(platform.Streamer)
	as, canStream := r.o.Agent.(agent.Streamer)
	var resume []string
	if canShow {
		if resume, err = r.o.Store.StreamResume(m.Platform, string(m.ID)); err != nil {
			log.Warn("could not read whether a previous process began this answer; a restart may show it twice", "err", err)
		}
	}
	if !canShow || (!canStream && len(resume) == 0) {
		reply, err = r.o.Agent.Reply(ctx, t)
		return reply, nil, nil, err
	}
	start := func() *streamed {
		r.answering(m)
		sctx, cancel := context.WithCancel(r.sendCtx)
		replyTo := string(m.MessageID)
		s, err := ps.StartStream(sctx, platform.StreamStart{
			Chat: m.ChatID, ReplyTo: replyTo, Resume: resume,
			Begun: func(ids []string) error { return r.o.Store.StreamBegun(m.Platform, string(m.ID), ids) },
		})
		if err != nil {
			cancel()
			log.Warn("could not stream the answer; it is sent whole", "err", err)
			return nil
		}
		return &streamed{s: s, cancel: cancel}
	}
	if !canStream {
		reply, err = r.o.Agent.Reply(ctx, t)
		return reply, start(), nil, err
	}
	failed := false
	reply, err = as.Stream(ctx, t, func(delta string) {
		if failed {
			return
		}
		if st == nil {
			if st = start(); st == nil {
				failed = true
				return
			}
		}
		st.mu.Lock()
		st.text += delta
		text := st.text
		st.mu.Unlock()
		st.s.Update(text)
	})
	if st == nil && len(resume) > 0 {
		st = start()
	}
	return reply, st, nil, err
}

// answerStream ends a streamed answer with text and records the outcome,
// as answer does for a sent one.
func (r *Router) answerStream(log *slog.Logger, m Message, st *streamed, text, note string) {
	defer st.cancel()
	r.answering(m)
	ctx, cancel := context.WithTimeout(r.sendCtx, 2*time.Minute)
	defer cancel()
	if _, err := st.s.Finish(ctx, text); err != nil {
		if r.sendCtx.Err() != nil {
			return // abandoned by the drain: the next process finishes it in the same messages
		}
		log.Error("delivery failed", events.DeliveryFailed.With("chat_id", m.ChatID, "err", err)...)
		r.finish(m, store.Done, "undeliverable: "+err.Error())
	} else {
		if err := r.answered(m); err != nil {
			log.Warn("could not record the send", "err", err)
		}
		r.finish(m, store.Done, note)
	}
	if err := r.o.Store.StreamDone(m.Platform, string(m.ID)); err != nil {
		log.Warn("could not forget the finished stream", "err", err)
	}
}

// endAgentTurn handles a turn whose agent failed or was stopped after
// part of its answer was shown: the part stays, completed with what
// happened.
func (r *Router) endAgentTurn(log *slog.Logger, m Message, st *streamed, err error, stopped bool) {
	partial := strings.TrimSpace(st.written())
	switch {
	case stopped && partial == "":
		st.s.Abandon()
		st.cancel()
		r.finish(m, store.Done, "stopped by /stop")
	case stopped:
		r.answerStream(log, m, st, partial+"\n\n⏹ Stopped.", "stopped by /stop")
	case partial == "":
		r.answerStream(log, m, st, agent.UserMessage(err), "agent error: "+err.Error())
	default:
		r.answerStream(log, m, st, partial+"\n\n"+agent.UserMessage(err), "agent error: "+err.Error())
	}
}

// stopHandle is a running agent turn that /stop can end.
type stopHandle struct {
	cancel  context.CancelFunc
	stopped bool
}

// stoppable registers the agent turn of m's chat as the one /stop ends;
// done unregisters it and says whether /stop ended it.
func (r *Router) stoppable(ctx context.Context, m Message) (context.Context, func() (stopped bool)) {
	ctx, cancel := context.WithCancel(ctx)
	h := &stopHandle{cancel: cancel}
	k := chatKey{m.Platform, m.ChatID}
	r.mu.Lock()
	if r.stops == nil {
		r.stops = map[chatKey]*stopHandle{}
	}
	r.stops[k] = h
	r.mu.Unlock()
	return ctx, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.stops[k] == h {
			delete(r.stops, k)
		}
		cancel()
		return h.stopped
	}
}

// stopChat ends the running agent turn of m's chat at once, if m (a
// /stop) is from someone who may talk there. It runs when the /stop
// arrives, ahead of the chat's queue (the turn it stops is what the queue
// waits for); the /stop's own turn then says what happened.
func (r *Router) stopChat(m Message) {
	role, err := r.o.Auth.Role(m)
	if err != nil || (role == RoleNone && (m.Private() || !r.o.Auth.GroupAllowed(m.Platform, m.ChatID))) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.stops[chatKey{m.Platform, m.ChatID}]
	if h == nil || h.stopped {
		return
	}
	h.stopped = true
	h.cancel()
	if r.stopAnswers == nil {
		r.stopAnswers = map[msgKey]bool{}
	}
	r.stopAnswers[msgKey{m.Platform, m.ID}] = true
}

// stopCommand answers a /stop.
func (r *Router) stopCommand(log *slog.Logger, p Platform, m Message) {
	k := msgKey{m.Platform, m.ID}
	r.mu.Lock()
	stopped := r.stopAnswers[k]
	delete(r.stopAnswers, k)
	r.mu.Unlock()
	if stopped {
		r.answer(log, p, m, "⏹ Stopped: the agent's answer was cut short.", "command /stop")
		return
	}
	r.answer(log, p, m, "Nothing to stop: no answer is being written.", "command /stop: nothing running")
}
