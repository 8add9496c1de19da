package platform

import "context"

// Streamer is an Adapter that can show an answer growing as the agent
// writes it (Telegram: one message grown by edits). It is optional: the
// core streams only through adapters that implement it, and sends the
// whole answer with Send through the others.
type Streamer interface {
	// StartStream begins an answer in s.Chat. It sends nothing until the
	// first Update with text.
	StartStream(ctx context.Context, s StreamStart) (Stream, error)
}

// StreamStart says where a streamed answer goes and what a previous
// process began of it.
type StreamStart struct {
	Chat ChatID
	// ReplyTo is the platform's id of the message the answer replies to
	// ("" for none).
	ReplyTo string
	// Resume holds the ids (as in Sent.IDs) of the messages a previous
	// process began for this answer before it was stopped: the adapter
	// edits them rather than sending the answer again, so a restart during
	// a stream never shows a second full copy.
	Resume []string
	// Begun, if set, is called with the ids of the answer's messages each
	// time one more was sent, before the stream goes on: the core stores
	// them durably and gives them as Resume after a restart.
	Begun func(ids []string) error
}

// Stream is an answer being shown as it is written.
type Stream interface {
	// Update shows text (Markdown), the whole answer written so far. It
	// never blocks: the adapter shows the latest text at its platform's
	// pace, skipping texts overtaken meanwhile.
	Update(text string)
	// Finish shows text, the whole answer, formatted, and ends the stream.
	// An error wrapping ErrUndeliverable means the platform refused it for
	// good.
	Finish(ctx context.Context, text string) (Sent, error)
	// Abandon ends the stream without a last text (the gateway is
	// stopping): it returns once a send or edit under way has finished, so
	// that every message the platform shows was reported to Begun, and the
	// next process takes them up.
	Abandon()
}
