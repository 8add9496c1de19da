package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// Stream is Reply with "stream": true: the API answers with server-sent
// events, one "data: {json}" per piece of the answer
// (choices[0].delta.content), ended by "data: [DONE]"; each piece goes to
// part as it arrives. Retries are Reply's, as long as nothing was given to
// part yet; an error in the middle of the stream (an "error" event, the
// connection cut before [DONE] or a finish_reason) ends the answer with an
// *Error, the parts given so far standing. A server that ignores "stream"
// and answers with one JSON body is read as Reply reads it, and the whole
// answer is one part. agent.openai.timeout bounds each request, the whole
// stream included.
func (o *openAI) Stream(ctx context.Context, t Turn, part func(string)) (string, error) {
	return o.run(ctx, t, true, func(ctx context.Context, body []byte) (string, *attemptError, bool) {
		return o.streamAttempt(ctx, body, part)
	})
}

// maxSSELine bounds one line of the event stream (one chunk's JSON).
const maxSSELine = 1 << 20

func (o *openAI) streamAttempt(ctx context.Context, body []byte, part func(string)) (string, *attemptError, bool) {
	actx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	resp, aerr := o.post(ctx, actx, body, "text/event-stream")
	if aerr != nil {
		return "", aerr, false
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode < 200 || resp.StatusCode > 299 || mt != "text/event-stream" {
		// An error, or a server that ignores "stream": read whole.
		text, aerr := o.readWhole(ctx, actx, resp)
		if aerr != nil {
			return "", aerr, false
		}
		part(text)
		return text, nil, true
	}

	var (
		answer  strings.Builder
		emitted bool
		finish  string
		data    []string
	)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	// dispatch handles one event; done is true at [DONE].
	dispatch := func() (done bool, aerr *attemptError) {
		if len(data) == 0 {
			return false, nil
		}
		payload := strings.Join(data, "\n")
		data = data[:0]
		if strings.TrimSpace(payload) == "[DONE]" {
			return true, nil
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content json.RawMessage `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Error *apiError `json:"error"`
		}
		if err := json.Unmarshal([]byte(payload), &chunk); err != nil {
			return false, &attemptError{user: "⚠️ The agent returned an answer the gateway could not read.",
				err: fmt.Errorf("POST %s: malformed event in the stream (%v): %s", o.endpoint, err, o.excerpt([]byte(payload)))}
		}
		if chunk.Error != nil {
			return false, &attemptError{user: "⚠️ The agent's API failed in the middle of the answer; try again.",
				err: fmt.Errorf("POST %s: error in the stream after %d bytes of answer: %s", o.endpoint, answer.Len(), o.excerpt([]byte(payload)))}
		}
		if len(chunk.Choices) == 0 {
			return false, nil // a usage chunk, say
		}
		c := chunk.Choices[0]
		if c.FinishReason != nil && *c.FinishReason != "" {
			finish = *c.FinishReason
		}
		text, ok := contentText(c.Delta.Content)
		if !ok || text == "" {
			return false, nil
		}
		if answer.Len()+len(text) > maxResponseBytes {
			return false, &attemptError{user: UserGeneric, err: fmt.Errorf("POST %s: the answer is larger than %d bytes", o.endpoint, maxResponseBytes)}
		}
		answer.WriteString(text)
		emitted = true
		part(text)
		return false, nil
	}
	done := false
	for !done && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			var aerr *attemptError
			if done, aerr = dispatch(); aerr != nil {
				return "", aerr, emitted
			}
		case strings.HasPrefix(line, ":"): // a comment, a keep-alive
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if !done {
		if err := sc.Err(); err != nil {
			aerr := o.transportError(ctx, actx, fmt.Errorf("read the stream of POST %s: %w", o.endpoint, err))
			if errors.Is(err, bufio.ErrTooLong) {
				aerr = &attemptError{user: UserGeneric, err: fmt.Errorf("POST %s: an event of the stream is longer than %d bytes", o.endpoint, maxSSELine)}
			}
			return "", aerr, emitted
		}
		// A last event without its blank line.
		var aerr *attemptError
		if done, aerr = dispatch(); aerr != nil {
			return "", aerr, emitted
		}
	}
	if !done && finish == "" {
		return "", &attemptError{user: "⚠️ The agent's answer was cut off; try again.", retry: true,
			err: fmt.Errorf("POST %s: the stream ended before the answer was complete (no [DONE] after %d bytes)", o.endpoint, answer.Len())}, emitted
	}
	text := strings.TrimSpace(answer.String())
	if text == "" {
		if finish == "content_filter" {
			return "", &attemptError{user: "⚠️ The agent's API withheld the answer (content filter).",
				err: fmt.Errorf("POST %s: empty answer, finish_reason %q", o.endpoint, finish)}, emitted
		}
		return "", &attemptError{user: UserEmpty, err: fmt.Errorf("POST %s: empty streamed answer (finish_reason %q)", o.endpoint, finish)}, emitted
	}
	return text, nil, emitted
}
