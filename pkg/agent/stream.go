package agent

import "context"

// Streamer is an Agent that can give its answer in parts as it is written,
// so a chat can show it growing instead of after many seconds of
// "typing…". It is optional: the router uses Stream when the backend has
// it and Reply otherwise, so a backend that does not stream keeps working.
//
// The openai backend streams (stream: true, server-sent events), and so
// does exec (each line the command writes and flushes is a part); echo
// does not.
type Streamer interface {
	Agent
	// Stream is Reply, also calling part with each piece of the answer as
	// it arrives, in order and never concurrently (not necessarily from
	// the calling goroutine; part must not block for long); the pieces joined
	// are the answer as written so far (before the final trimming). It
	// returns the whole answer, exactly as Reply would, and any error is
	// an *Error as Reply's. After an error, the parts already given
	// stand: the caller decides what to show of them.
	Stream(ctx context.Context, t Turn, part func(delta string)) (string, error)
}
