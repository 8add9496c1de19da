package telegram

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/hermes-gateway/hermes/pkg/markdown"
)

// StreamOptions configures a Stream.
type StreamOptions struct {
	// ReplyTo is the message the answer's first message replies to (0:
	// none).
	ReplyTo int
	// Resume holds the ids of the messages a previous process began for
	// this answer, in order: they are edited, not sent again, so a restart
	// during a stream never shows the answer twice.
	Resume []int
	// Begun, if set, is called with the ids of the answer's messages each
	// time one more was sent, before the stream goes on: the caller stores
	// them durably and gives them as Resume after a restart. An error is
	// logged; the stream goes on.
	Begun func(ids []int) error
}

// Stream shows an answer in a chat as it is written: the first words as
// soon as the chat's pacing allows (at once for a chat that was quiet for
// a second), then one message grown by editMessageText, at most one send
// or edit per chat per PerChatInterval (1 s) and within the global rate,
// like every other message of the Sender. Updates that come faster are
// merged: only the latest text is shown. An edit never repeats the text the
// message already shows. Past MaxMessageLength the answer goes on in a new
// message. Finish shows the whole answer, formatted, and ends the stream.
//
// Intermediate texts are rendered from the Markdown written so far, so the
// formatting appears as it is written; a refused formatting is shown plain.
// An intermediate edit that fails is not retried (the next one carries
// newer text); the final one is, as Send retries.
type Stream struct {
	s      *Sender
	chatID int64
	opts   StreamOptions

	wake chan struct{} // a new text is waiting (capacity 1)
	stop chan struct{} // Finish: the loop ends
	done chan struct{} // the loop has ended

	mu     sync.Mutex
	latest string
	shown  string // the latest text handed to flush
	msgs   []streamMsg
	edits  int // editMessageText calls made
	sends  int // sendMessage calls made
	failed error
}

type streamMsg struct {
	id       int
	text     string // as last sent, trimmed; "" when unknown (resumed)
	entities string
}

// Stream starts showing an answer in chatID. ctx bounds the intermediate
// sends and edits; Finish has its own.
func (s *Sender) Stream(ctx context.Context, chatID int64, opts StreamOptions) *Stream {
	st := &Stream{s: s, chatID: chatID, opts: opts,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	for _, id := range opts.Resume {
		st.msgs = append(st.msgs, streamMsg{id: id})
	}
	go st.loop(ctx)
	return st
}

// Update sets the answer as written so far (Markdown). It never blocks:
// the text is shown at the chat's pace, and a newer one replaces a text not
// shown yet.
func (st *Stream) Update(text string) {
	st.mu.Lock()
	st.latest = text
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// Counts returns the sendMessage and editMessageText calls made so far.
func (st *Stream) Counts() (sends, edits int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sends, st.edits
}

// IDs returns the ids of the answer's messages so far.
func (st *Stream) IDs() []int {
	st.mu.Lock()
	defer st.mu.Unlock()
	ids := make([]int, len(st.msgs))
	for i, m := range st.msgs {
		ids[i] = m.id
	}
	return ids
}

func (st *Stream) loop(ctx context.Context) {
	defer close(st.done)
	for {
		select {
		case <-st.stop:
			return
		case <-ctx.Done():
			return
		case <-st.wake:
		}
		st.mu.Lock()
		text := st.latest
		st.mu.Unlock()
		if text == st.shown || strings.TrimSpace(text) == "" {
			continue
		}
		st.shown = text
		if err := st.flush(ctx, text, false); err != nil && ctx.Err() == nil {
			st.s.log.Info("telegram: streaming an answer: an intermediate update failed; the next one carries on", "chat_id", st.chatID, "err", err)
		}
	}
}

// Abandon ends the stream without a last text: it returns once a send or
// edit under way has finished (bounded by the Stream's context), so every
// message sent was reported to Begun. Finish must not follow it.
func (st *Stream) Abandon() {
	close(st.stop)
	<-st.done
}

// Finish shows text, the whole answer, formatted and split as Send splits
// it, in the messages begun (editing them) and new ones past them; a
// message begun by a previous process beyond what the answer needs is
// deleted. It returns the ids of the answer's messages. On failure the
// error names the chat and the reason.
func (st *Stream) Finish(ctx context.Context, text string) ([]int, error) {
	close(st.stop)
	<-st.done
	if strings.TrimSpace(markdown.Render(text).Text) == "" {
		return st.IDs(), fmt.Errorf("telegram: cannot deliver message to chat %d: the text is empty", st.chatID)
	}
	if err := st.flush(ctx, text, true); err != nil {
		return st.IDs(), &chatError{fmt.Sprintf("telegram: cannot deliver message to chat %d", st.chatID), err}
	}
	return st.IDs(), nil
}

// flush makes the chat show text: each part of it in its message, edited
// where it differs from what the message shows, sent where the message
// does not exist yet.
func (st *Stream) flush(ctx context.Context, text string, final bool) error {
	parts := markdown.Split(markdown.Render(text), MaxMessageLength)
	for i, part := range parts {
		if err := st.show(ctx, i, part, final); err != nil {
			return err
		}
	}
	if final {
		// Messages a previous process began past what this answer needs.
		st.mu.Lock()
		extra := append([]streamMsg(nil), st.msgs[min(len(parts), len(st.msgs)):]...)
		st.msgs = st.msgs[:min(len(parts), len(st.msgs))]
		st.mu.Unlock()
		for _, m := range extra {
			if err := st.s.c.deleteMessage(ctx, st.chatID, m.id); err != nil {
				st.s.log.Info("telegram: could not delete a message left over from a restarted stream", "chat_id", st.chatID, "message_id", m.id, "err", err)
			}
		}
	}
	return nil
}

// show makes message i show part.
func (st *Stream) show(ctx context.Context, i int, part markdown.Styled, final bool) error {
	text := strings.TrimSpace(part.Text)
	entities := entitiesJSON(part.Spans)
	st.mu.Lock()
	var cur *streamMsg
	if i < len(st.msgs) {
		cur = &st.msgs[i]
		if cur.text == text && cur.entities == entities {
			st.mu.Unlock()
			return nil // never an edit that changes nothing
		}
	}
	st.mu.Unlock()

	cp, err := st.s.acquire(ctx, st.chatID)
	if err != nil {
		return err
	}
	defer st.s.release(st.chatID, cp)
	for attempt := 0; ; attempt++ {
		if err := st.s.pace(ctx, cp); err != nil {
			return err
		}
		if cur != nil {
			err = st.s.c.editMessageText(ctx, st.chatID, cur.id, part.Text, entities)
			st.mu.Lock()
			st.edits++
			st.mu.Unlock()
			if err == nil || notModified(err) {
				st.mu.Lock()
				cur.text, cur.entities = text, entities
				st.mu.Unlock()
				return nil
			}
			if editGone(err) {
				// Deleted by the person, say: the text goes anew.
				st.s.log.Info("telegram: streaming an answer: its message cannot be edited; sending the text anew", "chat_id", st.chatID, "message_id", cur.id, "err", err)
				st.mu.Lock()
				st.msgs = st.msgs[:i]
				st.mu.Unlock()
				cur = nil
				continue
			}
		} else {
			replyTo := 0
			if i == 0 {
				replyTo = st.opts.ReplyTo
			}
			var id int
			m, serr := st.s.c.sendMessage(ctx, st.chatID, part.Text, entities, replyTo)
			err, id = serr, m.MessageID
			st.mu.Lock()
			st.sends++
			st.mu.Unlock()
			if err == nil {
				st.mu.Lock()
				st.msgs = append(st.msgs, streamMsg{id: id, text: text, entities: entities})
				ids := make([]int, len(st.msgs))
				for j, m := range st.msgs {
					ids[j] = m.id
				}
				cur = &st.msgs[len(st.msgs)-1]
				st.mu.Unlock()
				if st.opts.Begun != nil {
					if berr := st.opts.Begun(ids); berr != nil {
						st.s.log.Warn("telegram: could not record a streamed message; a restart now would send the answer again", "chat_id", st.chatID, "err", berr)
					}
				}
				return nil
			}
		}
		if entities != "" && refusedEntities(err) {
			st.s.log.Warn("telegram: formatting refused; showing this part as plain text", "chat_id", st.chatID, "err", err)
			entities = ""
			continue
		}
		if wait, ok := retryAfter(err); ok {
			st.s.mu.Lock()
			cp.next = later(cp.next, st.s.clock.Now().Add(wait))
			st.s.mu.Unlock()
			st.s.log.Info("telegram: flood control; waiting", "chat_id", st.chatID, "retry_after", wait)
			if !final {
				return err // the next update carries newer text anyway
			}
			if attempt < st.s.maxRetries {
				continue
			}
		}
		if !final || ctx.Err() != nil || !temporary(err) || attempt >= st.s.maxRetries {
			return err
		}
		wait := st.s.backoff.delay(attempt + 1)
		if err := st.s.clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}
