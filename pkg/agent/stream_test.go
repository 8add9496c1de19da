package agent

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/agent/openaifake"
)

// collect records the parts a stream gives, safely from any goroutine.
type collect struct {
	mu    sync.Mutex
	parts []string
}

func (c *collect) add(p string) { c.mu.Lock(); c.parts = append(c.parts, p); c.mu.Unlock() }
func (c *collect) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.parts...)
}

func TestOpenAIStreamGivesTheAnswerAsItIsWritten(t *testing.T) {
	s := openaifake.New(t)
	s.SetReply(func(openaifake.ChatRequest) string { return "The answer is forty two." })
	ag, _ := newTestOpenAI(t, s, openAIOpts{})
	// The first words must reach the caller while the model still writes:
	// the fake holds the third chunk until the caller has seen two.
	var c collect
	seen := make(chan struct{})
	s.SetChunkGate(func(_ openaifake.ChatRequest, i int) {
		if i == 2 {
			<-seen
		}
	})
	got, err := ag.Stream(context.Background(), Turn{Text: "q"}, func(p string) {
		c.add(p)
		if len(c.get()) == 2 {
			close(seen)
		}
	})
	require.NoError(t, err)
	require.Equal(t, "The answer is forty two.", got)
	require.Equal(t, []string{"The ", "answer ", "is ", "forty ", "two."}, c.get())
	require.True(t, s.Requests()[0].Body.Stream, `the request asks for "stream": true`)
}

func TestOpenAIStreamErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault openaifake.Fault
		parts int
		user  string
		inErr string
		tries int
	}{
		{"error event mid-stream", openaifake.Fault{ErrorAfter: 2}, 2, "failed in the middle of the answer", "error in the stream", 1},
		{"connection cut mid-stream", openaifake.Fault{CutAfter: 3}, 3, "", "", 1},
		{"429 before any word is retried", openaifake.Fault{Status: 429, RetryAfter: "1"}, 5, "", "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openaifake.New(t)
			s.SetReply(func(openaifake.ChatRequest) string { return "one two three four five" })
			ag, _ := newTestOpenAI(t, s, openAIOpts{retries: 2})
			s.Fail(tc.fault)
			var c collect
			got, err := ag.Stream(context.Background(), Turn{Text: "q"}, c.add)
			require.Len(t, c.get(), tc.parts, "the parts shown before the failure stand")
			require.Len(t, s.Requests(), tc.tries, "an answer partly shown is never asked for again")
			if tc.parts == 5 {
				require.NoError(t, err)
				require.Equal(t, "one two three four five", got)
				return
			}
			require.Error(t, err)
			require.Empty(t, got)
			require.Contains(t, err.Error(), "not retrying: part of the answer was already shown")
			if tc.user != "" {
				require.Contains(t, UserMessage(err), tc.user)
				require.Contains(t, err.Error(), tc.inErr)
			}
		})
	}
}

func TestOpenAIStreamFromAServerThatDoesNotStream(t *testing.T) {
	s := openaifake.New(t)
	ag, _ := newTestOpenAI(t, s, openAIOpts{})
	// A fault body is a plain JSON answer: what a server ignoring "stream"
	// sends.
	s.Fail(openaifake.Fault{Status: 200, Body: `{"choices":[{"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}]}`})
	var c collect
	got, err := ag.Stream(context.Background(), Turn{Text: "q"}, c.add)
	require.NoError(t, err)
	require.Equal(t, "whole", got)
	require.Equal(t, []string{"whole"}, c.get())
}

func TestExecStreamGivesEachFlushedLine(t *testing.T) {
	// The script waits for a file the test creates only after it has seen
	// the first line: the line must arrive while the command still runs.
	dir := t.TempDir()
	ag := newTestExec(t, script(t, `echo "first line"
while [ ! -e "$1/go" ]; do sleep 0.01; done
printf 'second\nthird'
`, dir), nil)
	var c collect
	got, err := ag.(Streamer).Stream(context.Background(), Turn{Text: "q"}, func(p string) {
		c.add(p)
		if p == "first line\n" {
			require.NoError(t, writeFile(dir+"/go"))
		}
	})
	require.NoError(t, err)
	require.Equal(t, "first line\nsecond\nthird", got)
	require.Equal(t, []string{"first line\n", "second\n"}, c.get(), "a last line without newline is in the answer only")
}

func TestEchoDoesNotStream(t *testing.T) {
	var a Agent = Echo{}
	_, ok := a.(Streamer)
	require.False(t, ok)
	require.True(t, strings.HasPrefix((&openAI{model: "m"}).Name(), "openai"))
}

func writeFile(p string) error { return os.WriteFile(p, nil, 0o600) }
