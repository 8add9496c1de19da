package markdown

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spanText is the text a span covers, counted in UTF-16 as Telegram does.
func spanText(s Styled, sp Span) string {
	u := utf16.Encode([]rune(s.Text))
	return string(utf16.Decode(u[sp.Offset : sp.Offset+sp.Length]))
}

type want struct {
	kind Kind
	text string
	url  string
	lang string
}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name  string
		md    string
		text  string
		spans []want
	}{
		{"plain", "hello world", "hello world", nil},
		{"bold and italic", "a **b** _c_ *d*", "a b c d", []want{{Bold, "b", "", ""}, {Italic, "c", "", ""}, {Italic, "d", "", ""}}},
		{"nested", "**bold _both_**", "bold both", []want{{Bold, "bold both", "", ""}, {Italic, "both", "", ""}}},
		{"strikethrough", "~~gone~~ here", "gone here", []want{{Strikethrough, "gone", "", ""}}},
		{"inline code keeps markup characters", "run `a*b_c` now", "run a*b_c now", []want{{Code, "a*b_c", "", ""}}},
		{"fenced code with language", "```go\nfunc main() {}\n```", "func main() {}", []want{{Pre, "func main() {}", "", "go"}}},
		{"link", "see [the docs](https://example.org/x?a=1)", "see the docs", []want{{Link, "the docs", "https://example.org/x?a=1", ""}}},
		{"relative link is text", "see [x](/local)", "see x (/local)", nil},
		{"heading is bold", "# Title\n\ntext", "Title\n\ntext", []want{{Bold, "Title", "", ""}}},
		{"bullets", "- one\n- two\n  - deep", "• one\n• two\n  • deep", nil},
		{"ordered from 3", "3. c\n4. d", "3. c\n4. d", nil},
		{"quote", "> wise\n> words", "wise\nwords", []want{{Blockquote, "wise\nwords", "", ""}}},
		{"stray characters are text", "2 * 3 = 6, a_b_c, [not a link", "2 * 3 = 6, a_b_c, [not a link", nil},
		{"escapes", `\*not bold\*`, "*not bold*", nil},
		{"task list", "- [x] done\n- [ ] todo", "• ☑ done\n• ☐ todo", nil},
		{"utf16 offsets after an emoji", "😀 **b**", "😀 b", []want{{Bold, "b", "", ""}}},
		{"table", "| a | bb |\n|---|---|\n| ccc | d |", "a   | bb\n----+---\nccc | d", []want{{Pre, "a   | bb\n----+---\nccc | d", "", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Render(tc.md)
			assert.Equal(t, tc.text, s.Text)
			var got []want
			for _, sp := range s.Spans {
				require.GreaterOrEqual(t, sp.Offset, 0)
				require.LessOrEqual(t, sp.Offset+sp.Length, s.Len())
				got = append(got, want{sp.Kind, spanText(s, sp), sp.URL, sp.Language})
			}
			assert.Equal(t, tc.spans, got)
		})
	}
}

func TestSplitKeepsSpansWhole(t *testing.T) {
	code := strings.Repeat("x := 1\n", 100) // 700 units
	s := Render("intro\n\n```go\n" + code + "```\n\nend **bold**")
	parts := Split(s, 300)
	require.Greater(t, len(parts), 2)
	var pre int
	for _, p := range parts {
		require.LessOrEqual(t, p.Len(), 300)
		for _, sp := range p.Spans {
			require.LessOrEqual(t, sp.Offset+sp.Length, p.Len(), "a span never runs past its part")
			if sp.Kind == Pre {
				pre++
				assert.Equal(t, "go", sp.Language, "a code block split in two is reopened with its language")
			}
		}
	}
	assert.Greater(t, pre, 1, "the code block is closed and reopened across parts")
	last := parts[len(parts)-1]
	assert.Equal(t, "bold", spanText(last, last.Spans[len(last.Spans)-1]))

	// Nothing is lost but the whitespace at the cuts.
	var joined strings.Builder
	for _, p := range parts {
		joined.WriteString(p.Text)
	}
	assert.Equal(t, strip(s.Text), strip(joined.String()))
}

func TestSplitNeverCutsASurrogatePair(t *testing.T) {
	s := Render(strings.Repeat("😀", 10)) // 20 units, no spaces
	for _, limit := range []int{3, 5, 7} {
		for _, p := range Split(s, limit) {
			assert.LessOrEqual(t, p.Len(), limit)
			assert.NotContains(t, p.Text, "\uFFFD")
		}
	}
}

func strip(s string) string { return strings.Join(strings.Fields(s), "") }

func FuzzRender(f *testing.F) {
	for _, s := range []string{"**a**", "```\nx\n```", "> q\n- a\n  1. b", "| a |\n|---|\n| b |", "[a](https://x.y) ~~s~~ `c`", "😀*_~`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		s := Render(md)
		n := s.Len()
		for _, sp := range s.Spans {
			if sp.Offset < 0 || sp.Length <= 0 || sp.Offset+sp.Length > n {
				t.Fatalf("span %+v outside text of %d units", sp, n)
			}
		}
		// Split's contract: no part over the limit or empty, and the parts
		// in order are the text less the white space at the cuts.
		var joined strings.Builder
		for _, p := range Split(s, 64) {
			if p.Len() > 64 || strings.TrimSpace(p.Text) == "" {
				t.Fatalf("part of %d units: %q", p.Len(), p.Text)
			}
			for _, sp := range p.Spans {
				if sp.Offset < 0 || sp.Length <= 0 || sp.Offset+sp.Length > p.Len() {
					t.Fatalf("span %+v outside part of %d units", sp, p.Len())
				}
			}
			joined.WriteString(p.Text)
		}
		if strip(joined.String()) != strip(s.Text) {
			t.Fatalf("parts lost text: %q vs %q", joined.String(), s.Text)
		}
	})
}
