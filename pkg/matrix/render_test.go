package matrix

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/stretchr/testify/require"
)

func TestRenderHTML(t *testing.T) {
	for _, tt := range []struct{ md, html string }{
		{"hello", "hello"},
		{"**bold** _it_ ~~gone~~ `code`", "<strong>bold</strong> <em>it</em> <del>gone</del> <code>code</code>"},
		{"line one\nline two", "line one<br>\nline two"},
		{"one\n\ntwo", "<p>one</p>\n<p>two</p>"},
		{"[site](https://example.org)", `<a href="https://example.org">site</a>`},
		{"```go\nx := 1 < 2\n```", "<pre><code class=\"language-go\">x := 1 &lt; 2\n</code></pre>"},
		{"| a | b |\n|---|---|\n| 1 | 2 |", "<table>\n<thead>\n<tr>\n<th>a</th>\n<th>b</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>1</td>\n<td>2</td>\n</tr>\n</tbody>\n</table>"},
		// What looks like HTML is the agent's text, shown as written.
		{"use <T> here & x < y", "use &lt;T&gt; here &amp; x &lt; y"},
		{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
	} {
		require.Equal(t, tt.html, renderHTML(tt.md), tt.md)
	}
}

func TestSplit(t *testing.T) {
	const limit = 2000
	para := func(n int) string { return strings.Repeat("word ", n/5)[:n-1] + "." }
	fence := "```\n" + strings.Repeat("code line\n\n", 60) + "```"
	bigFence := "```go\n" + strings.Repeat("x := 1 // a line of code\n", 300) + "```"
	tests := []struct {
		name  string
		text  string
		parts int
		dense bool // every part but the last more than half full
	}{
		{"short", "hello", 1, true},
		{"paragraphs", strings.Repeat(para(300)+"\n\n", 20), 0, true},
		{"one long line", strings.Repeat("x", 5*limit), 0, true},
		{"one long line of multibyte characters", strings.Repeat("é€😀", limit), 0, true},
		{"fenced block kept whole", para(800) + "\n\n" + fence + "\n\n" + para(800), 3, false},
		{"fenced block too long for one part", bigFence, 0, true},
		{"fence with an opening line longer than a part", "```" + strings.Repeat("x", 3*limit) + "\n", 0, false},
		{"fence with a long opening line and a body", "```" + strings.Repeat("é€😀 ", 300) + "\ncode\n```", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := split(tt.text, limit)
			require.NotEmpty(t, parts)
			if tt.parts > 0 {
				require.Len(t, parts, tt.parts)
			}
			for i, p := range parts {
				require.LessOrEqual(t, textContent(p).size(), limit, "part %d", i)
				require.True(t, utf8.ValidString(p), "part %d cut inside a character", i)
				require.NotEmpty(t, strings.TrimSpace(p), "part %d", i)
			}
			if len(parts) > 1 && tt.dense {
				// Not a part more than needed: each but the last is more
				// than half full.
				for _, p := range parts[:len(parts)-1] {
					require.Greater(t, textContent(p).size(), limit/2)
				}
			}
			if tt.text == bigFence {
				// Each part is a code block of its own, in the language.
				var code []string
				for _, p := range parts {
					require.True(t, strings.HasPrefix(p, "```go\n") && strings.HasSuffix(p, "\n```"), p)
					require.Equal(t, 1, strings.Count(renderHTML(p), "<pre><code class=\"language-go\">"))
					code = append(code, strings.TrimSuffix(strings.TrimPrefix(p, "```go\n"), "\n```"))
				}
				require.Equal(t, strings.Repeat("x := 1 // a line of code\n", 300), strings.Join(code, "\n")+"\n")
				return
			}
			joined := strings.Join(parts, "")
			require.Equal(t, strings.Join(strings.Fields(tt.text), ""), strings.Join(strings.Fields(joined), ""), "no text lost or added")
		})
	}
}

func TestTxnID(t *testing.T) {
	m := platform.Outbound{Chat: "!room:x", ReplyTo: "$event", Key: "answer", Text: "a"}
	id := txnID(m, 0)
	require.Equal(t, "hermes-", id[:7])
	// The same in every process: derived, not random, and not from the text
	// (a regenerated answer to the same message is still the same send).
	m2 := m
	m2.Text = "b"
	require.Equal(t, id, txnID(m2, 0))
	// Pinned: a send repeated by the next version after an update must
	// carry the same id.
	require.Equal(t, "hermes-3da4d9b23db47736c81a4944cf751d41", id)
	for _, other := range []string{txnID(m, 1), txnID(platform.Outbound{Chat: m.Chat, ReplyTo: m.ReplyTo, Key: "notice"}, 0),
		txnID(platform.Outbound{Chat: m.Chat, ReplyTo: "$other", Key: m.Key}, 0)} {
		require.NotEqual(t, id, other)
	}
	require.Empty(t, txnID(platform.Outbound{Chat: m.Chat, Key: "back"}, 0), "nothing to derive from: the client picks a random id")
}

// FuzzSplit: whatever the agent writes, every part fits and no part is
// cut inside a character.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"hello", "a\n\nb", "```go\nx\n```", strings.Repeat("é€😀 ", 300), "<b>&amp;</b>\n~~~\n" + strings.Repeat("y", 2000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.TrimSpace(s) == "" || !utf8.ValidString(s) {
			return
		}
		const limit = 700
		parts := split(s, limit)
		if len(parts) == 0 {
			t.Fatal("nothing to send for a text with something in it")
		}
		for i, p := range parts {
			if size := textContent(p).size(); size > limit {
				t.Fatalf("part %d is %d bytes, over %d", i, size, limit)
			}
			if !utf8.ValidString(p) {
				t.Fatalf("part %d cut inside a character: %q", i, p)
			}
		}
	})
}
