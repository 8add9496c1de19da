package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hermes-gateway/hermes/pkg/agent/openaifake"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
)

// Figure 9: answers streamed as the agent writes them.
//
// The openai backend talks to the OpenAI fake (in this process), which
// writes a streamWords-word answer at streamWordEvery a word, as a model
// does. Timed from the agent's first token (the fake writing its first
// chunk, on this process's clock) to the first visible text (the Bot API
// fake recording the first sendMessage of the answer). The baseline, in
// the same run, alternating: the same answer from the same fake given
// whole after the same writing time (what a person saw before streaming:
// nothing until the answer was complete), timed from the request's arrival,
// where a model starts writing. Then streamChats chats at once, each
// streaming an answer, for the edits and the memory, against the same
// chats answered whole.

const (
	streamWords     = 120
	streamWordEvery = 50 * time.Millisecond // 20 words a second
	streamChats     = 100
)

func streamAnswer() string {
	var b strings.Builder
	for i := 1; i <= streamWords; i++ {
		if i%10 == 0 {
			fmt.Fprintf(&b, "**word%d** ", i)
		} else {
			fmt.Fprintf(&b, "word%d ", i)
		}
	}
	return strings.TrimSpace(b.String())
}

// wholeAnswer is the fake's non-streamed answer body.
func wholeAnswer(text string) string {
	b, _ := json.Marshal(map[string]any{"id": "chatcmpl-bench", "object": "chat.completion",
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}}})
	return string(b)
}

func streamPhase(e *Env, r *Results, runs int, say func(string)) error {
	ai := openaifake.Start()
	defer ai.Close()
	answer := streamAnswer()
	last := fmt.Sprintf("word%d", streamWords)
	ai.SetReply(func(openaifake.ChatRequest) string { return answer })

	// When each request's answer began: its first chunk (streamed), or
	// its arrival (whole), keyed by the message it answers.
	var mu sync.Mutex
	began := map[string]time.Time{}
	mark := func(text string) {
		mu.Lock()
		if _, ok := began[text]; !ok {
			began[text] = time.Now()
		}
		mu.Unlock()
	}
	ai.SetChunkGate(func(req openaifake.ChatRequest, i int) {
		if i == 0 {
			mark(req.LastUser())
			return
		}
		time.Sleep(streamWordEvery)
	})
	wholeTexts := sync.Map{}
	go func() {
		for req := range ai.Arrived() {
			if _, ok := wholeTexts.Load(req.Body.LastUser()); ok {
				mark(req.Body.LastUser())
			}
		}
	}()

	singles := userIDs(4001, 2*runs)
	load := userIDs(5001, streamChats)
	extra := fmt.Sprintf("\n[agent]\nbackend = \"openai\"\nmax_concurrent_chats = %d\n\n[agent.openai]\nbase_url = %q\nmodel = \"bench\"\ntimeout = \"120s\"\n",
		streamChats, ai.URL())
	fake, err := telegramSetup(e, fakebot.Options{}, nil, append(append([]int64(nil), singles...), load...), extra)
	if err != nil {
		return err
	}
	defer fake.Close()

	first := r.S("stream.first", "first token → first visible text, streamed", "ms")
	base := r.S("stream.base", "first token → first visible text, answer sent whole (baseline)", "ms")
	edits := r.S("stream.edits", fmt.Sprintf("edits per streamed answer (%d words, %.1f s of writing)", streamWords, (streamWords*streamWordEvery).Seconds()), "")
	rate := r.S("stream.rate", "edits a second within one streamed answer", "/s")
	whole := func(text string) {
		wholeTexts.Store(text, true)
		ai.Fail(openaifake.Fault{Delay: streamWords * streamWordEvery, Status: 200, Body: wholeAnswer(answer)})
	}
	// one asks chat u for an answer and returns the first visible text's
	// latency and the finished message.
	one := func(u int64, text string) (time.Duration, fakebot.SentMessage, error) {
		fake.InjectMessage(fakebot.UserMessage{UserID: u, Text: text})
		ctx, cancel := ctxT(120 * time.Second)
		defer cancel()
		msgs, err := fake.WaitForMessages(ctx, u, 1)
		if err != nil {
			return 0, fakebot.SentMessage{}, err
		}
		m, err := fake.WaitForMessage(ctx, u, 0, func(m fakebot.SentMessage) bool { return strings.HasSuffix(m.Text, last) })
		if err != nil {
			return 0, m, err
		}
		mu.Lock()
		t0, ok := began[text]
		mu.Unlock()
		if !ok {
			return 0, m, fmt.Errorf("the agent never began answering %q", text)
		}
		return msgs[0].Time.Sub(t0), m, nil
	}
	before := fake.Stats()
	for i := 0; i < runs; i++ {
		for k, streamed := range []bool{i%2 == 0, i%2 != 0} {
			u := singles[2*i+k]
			text := fmt.Sprintf("stream %d/%d from %d", i, k, u)
			if !streamed {
				whole(text)
			}
			d, m, err := one(u, text)
			if err != nil {
				r.Note("stream", "run %d: %v", i+1, err)
				continue
			}
			if !streamed {
				base.AddDur(d)
				continue
			}
			first.AddDur(d)
			edits.Add(float64(len(m.Edits)))
			if span := m.EditTime.Sub(m.Time).Seconds(); span > 0 && len(m.Edits) > 1 {
				rate.Add(float64(len(m.Edits)-1) / span)
			}
		}
		say(fmt.Sprintf("stream run %d/%d", i+1, runs))
	}

	// 100 chats at once, streamed then whole, each from a fresh start.
	loadFirst := r.S("stream.load.first", fmt.Sprintf("first token → first visible text, %d chats streaming at once", streamChats), "ms")
	loadEdits := r.S("stream.load.edits", fmt.Sprintf("edits per answer, %d chats streaming at once", streamChats), "")
	memStream := r.S("stream.mem.streamed", fmt.Sprintf("peak RSS, %d chats streaming at once", streamChats), "MiB")
	memWhole := r.S("stream.mem.whole", fmt.Sprintf("peak RSS, %d chats answered whole (baseline)", streamChats), "MiB")
	for round, streamed := range []bool{true, false} {
		if err := e.restartMain(); err != nil {
			return err
		}
		if err := waitLongPoll(fake); err != nil {
			return err
		}
		pid := e.mainPID(units.Service)
		stopSampling := sampleRSS(pid)
		texts := make([]string, len(load))
		for j, u := range load {
			texts[j] = fmt.Sprintf("load %d from %d", round, u)
			if !streamed {
				whole(texts[j])
			}
		}
		for j, u := range load {
			fake.InjectMessage(fakebot.UserMessage{UserID: u, Text: texts[j]})
		}
		ctx, cancel := ctxT(180 * time.Second)
		for j, u := range load {
			m, err := fake.WaitForMessage(ctx, u, round, func(m fakebot.SentMessage) bool { return strings.HasSuffix(m.Text, last) })
			if err != nil {
				r.Note("stream", "%d chats at once: chat %d not answered within 180 s: %v", streamChats, u, err)
				break
			}
			if streamed {
				mu.Lock()
				t0, ok := began[texts[j]]
				mu.Unlock()
				if ok {
					loadFirst.AddDur(m.Time.Sub(t0))
				}
				loadEdits.Add(float64(len(m.Edits)))
			}
		}
		cancel()
		peak := stopSampling()
		if _, hwm, err := procMem(pid); err == nil && hwm > peak {
			peak = hwm
		}
		if streamed {
			memStream.Add(peak)
		} else {
			memWhole.Add(peak)
		}
		say(fmt.Sprintf("stream: %d chats at once, streamed=%v: peak %.1f MiB", streamChats, streamed, peak))
	}
	after := fake.Stats()
	var refused []string
	for k, n := range after.Refusals {
		if d := n - before.Refusals[k]; d > 0 && (strings.HasPrefix(k, "sendMessage ") || strings.HasPrefix(k, "editMessageText ")) {
			refused = append(refused, fmt.Sprintf("%d × %s", d, k))
		}
	}
	sort.Strings(refused)
	if len(refused) == 0 {
		refused = []string{"none"}
	}
	r.SetInfo("stream.errors", "%s", strings.Join(refused, "; "))
	e.stop(units.Service)
	return nil
}
