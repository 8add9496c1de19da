package telegram

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// utf16Units counts like Split does (invalid bytes count as one unit each).
func utf16Units(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}

// checkSplit asserts Split's contract: parts non-empty, within limit, and,
// in order, the text minus white space at the cuts and ends.
func checkSplit(t testing.TB, text string, limit int, parts []string) {
	t.Helper()
	rest := text
	for i, p := range parts {
		if p == "" {
			t.Fatalf("part %d is empty", i)
		}
		if n := utf16Units(p); n > limit {
			t.Fatalf("part %d has %d units, limit %d", i, n, limit)
		}
		if strings.TrimFunc(p, unicode.IsSpace) != p {
			t.Fatalf("part %d not trimmed: %q", i, p)
		}
		trimmed := strings.TrimLeftFunc(rest, unicode.IsSpace)
		if !strings.HasPrefix(trimmed, p) {
			t.Fatalf("part %d %q does not continue the text at %q", i, p, trimmed[:min(len(trimmed), 40)])
		}
		rest = trimmed[len(p):]
	}
	if strings.TrimFunc(rest, unicode.IsSpace) != "" {
		t.Fatalf("text left over after the parts: %q", rest)
	}
}

func TestSplit(t *testing.T) {
	cases := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"fits", "hello world", 20, []string{"hello world"}},
		{"exactly", "0123456789", 10, []string{"0123456789"}},
		{"trimmed", "  \n hello \n\n", 20, []string{"hello"}},
		{"blank", " \n\t ", 20, nil},
		{"empty", "", 20, nil},
		{"paragraph before line", "aaaa aaaa\nbbbb\n\ncccc dddd", 20, []string{"aaaa aaaa\nbbbb", "cccc dddd"}},
		{"line before word", "aaaa aaaa\nbbbb bbbb cccc", 16, []string{"aaaa aaaa", "bbbb bbbb cccc"}},
		{"word", "aaaa bbbb cccc dddd", 12, []string{"aaaa bbbb", "cccc dddd"}},
		{"separator right after limit", "aaaa bbbb", 4, []string{"aaaa", "bbbb"}},
		{"paragraph right after limit", "aaaa\n\nbbbb", 4, []string{"aaaa", "bbbb"}},
		{"early paragraph loses to late line", "aa\n\nbbbbbbbbb\ncc", 14, []string{"aa\n\nbbbbbbbbb", "cc"}},
		{"hard cut of one long word", "abcdefghijkl", 5, []string{"abcde", "fghij", "kl"}},
		{"long word after a short one", "a bcdefghij", 5, []string{"a", "bcdef", "ghij"}},
		{"emoji count double", "😀😀😀😀", 4, []string{"😀😀", "😀😀"}},
		{"emoji never cut in half", "😀😀😀", 3, []string{"😀", "😀", "😀"}},
		{"limit below one emoji", "😀😀", 1, []string{"😀", "😀"}},
		{"cyrillic counts once", "привет мир", 10, []string{"привет мир"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Split(tc.text, tc.limit)
			require.Equal(t, tc.want, got)
			if tc.limit > 1 {
				checkSplit(t, tc.text, tc.limit, got)
			}
		})
	}
}

func TestSplitTelegramLimit(t *testing.T) {
	// One character over: two parts, cut at the last word.
	text := strings.Repeat("word ", 819) + "words" // 4095 + 5 = 4100
	parts := Split(text, 0)
	require.Len(t, parts, 2)
	checkSplit(t, text, MaxMessageLength, parts)
	require.Equal(t, "words", parts[1])

	// 4096 emoji are 4096 code points but 8192 UTF-16 units.
	emoji := strings.Repeat("🦊", MaxMessageLength)
	parts = Split(emoji, MaxMessageLength)
	require.Len(t, parts, 2)
	require.Equal(t, MaxMessageLength/2, utf8.RuneCountInString(parts[0]))
	checkSplit(t, emoji, MaxMessageLength, parts)

	// A long reply of lines: every part but the last is nearly full.
	var b strings.Builder
	for i := range 500 {
		b.WriteString(strings.Repeat("x", i%70))
		b.WriteString(" line\n")
	}
	parts = Split(b.String(), MaxMessageLength)
	checkSplit(t, b.String(), MaxMessageLength, parts)
	for _, p := range parts[:len(parts)-1] {
		require.Greater(t, utf16Units(p), MaxMessageLength/2)
		require.False(t, strings.HasSuffix(p, "lin"), "cut at a line break")
	}
}
