package markdown

import (
	"strings"
	"unicode"
	"unicode/utf16"
)

// Split cuts s into parts of at most limit UTF-16 code units (Telegram's
// 4096), at a paragraph break where it can, else a line break, else a
// space, else anywhere but inside a surrogate pair. A span that crosses a
// cut is closed at the end of one part and reopened at the start of the
// next, so a code block split in two is two code blocks, not a broken one.
//
// Text with nothing but white space gives no parts.
func Split(s Styled, limit int) []Styled {
	if strings.TrimSpace(s.Text) == "" {
		return nil
	}
	if limit <= 0 || s.Len() <= limit {
		return []Styled{s}
	}
	units := utf16.Encode([]rune(s.Text))
	var parts []Styled
	start := 0
	for start < len(units) {
		// Leading whitespace of a part is dropped (the cut was there).
		for start < len(units) && isSpaceUnit(units[start]) {
			start++
		}
		if start >= len(units) {
			break
		}
		end := len(units)
		if end-start > limit {
			end = cut(units, start, start+limit)
			if end <= start { // a limit of 1 cannot hold a surrogate pair
				end = start + 2
			}
		}
		// Telegram trims every kind of white space (a form feed too) and
		// refuses a text left empty: such a part is no part.
		text := strings.TrimRightFunc(string(utf16.Decode(units[start:end])), unicode.IsSpace)
		if text == "" {
			start = end
			continue
		}
		n := utf16Len(text)
		var spans []Span
		for _, sp := range s.Spans {
			a, b := max(sp.Offset, start), min(sp.Offset+sp.Length, start+n)
			if a >= b {
				continue
			}
			sp.Offset, sp.Length = a-start, b-a
			spans = append(spans, sp)
		}
		parts = append(parts, Styled{Text: text, Spans: spans})
		start = end
	}
	return parts
}

// cut picks where a part that may not reach max ends: the last paragraph
// break, line break or space in its second half, else max itself.
func cut(u []uint16, start, max int) int {
	half := start + (max-start)/2
	for _, sep := range [][]uint16{{'\n', '\n'}, {'\n'}, {' '}} {
		for i := max - len(sep); i >= half; i-- {
			if match(u[i:], sep) {
				return i + len(sep)
			}
		}
	}
	// No break: never between the two halves of a surrogate pair.
	if utf16.IsSurrogate(rune(u[max-1])) && u[max-1] < 0xDC00 {
		return max - 1
	}
	return max
}

func match(u, sep []uint16) bool {
	if len(u) < len(sep) {
		return false
	}
	for i := range sep {
		if u[i] != sep[i] {
			return false
		}
	}
	return true
}

func isSpaceUnit(c uint16) bool { return !utf16.IsSurrogate(rune(c)) && unicode.IsSpace(rune(c)) }
