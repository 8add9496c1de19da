package fakebot

import (
	"cmp"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds what the parse_mode parsers share. The parsers follow
// TDLib's (which the Bot API server uses): the same accepted syntax, the same
// error texts and byte offsets, so a gateway that produces markup Telegram
// rejects is rejected here too.

// utf16Len counts UTF-16 code units, the unit of entity offsets.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// textBuilder accumulates parsed text and tracks its UTF-16 length.
type textBuilder struct {
	buf    []byte
	utf16n int
}

// addByte appends one byte of UTF-8; the UTF-16 length grows on each leading
// byte (by two for 4-byte sequences, which become surrogate pairs).
func (b *textBuilder) addByte(c byte) {
	if c&0xC0 != 0x80 {
		b.utf16n++
		if c >= 0xF0 {
			b.utf16n++
		}
	}
	b.buf = append(b.buf, c)
}

func (b *textBuilder) addRune(r rune) {
	b.buf = utf8.AppendRune(b.buf, r)
	b.utf16n += utf16.RuneLen(r)
}

func (b *textBuilder) lastByte() (byte, bool) {
	if len(b.buf) == 0 {
		return 0, false
	}
	return b.buf[len(b.buf)-1], true
}

// sortEntities orders entities like Telegram: by offset, longer (outer)
// first, then by TDLib's type priority.
func sortEntities(es []MessageEntity) []MessageEntity {
	slices.SortStableFunc(es, func(a, b MessageEntity) int {
		return cmp.Or(cmp.Compare(a.Offset, b.Offset), cmp.Compare(b.Length, a.Length),
			cmp.Compare(entityPriority(a), entityPriority(b)))
	})
	return es
}

func entityPriority(e MessageEntity) int {
	switch e.Type {
	case "blockquote", "expandable_blockquote":
		return 0
	case "pre":
		if e.Language != "" {
			return 10
		}
		return 11
	case "code":
		return 20
	case "text_link", "text_mention":
		return 49
	case "bold":
		return 90
	case "italic":
		return 91
	case "underline":
		return 92
	case "strikethrough":
		return 93
	case "spoiler":
		return 94
	case "custom_emoji":
		return 99
	}
	return 50
}

// byteAt returns s[i], or 0 past the end, mirroring the NUL-terminated
// string TDLib's parsers walk.
func byteAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// linkEntity builds the entity of a link with url, or reports false when
// Telegram would drop it (an empty or unusable URL keeps the text only).
func linkEntity(offset, length int, url string) (MessageEntity, bool) {
	if url == "" || length == 0 {
		return MessageEntity{}, false
	}
	if id, ok := tgUserLink(url); ok {
		return MessageEntity{Type: "text_mention", Offset: offset, Length: length, User: &User{ID: id}}, true
	}
	if !plausibleURL(url) {
		return MessageEntity{}, false
	}
	return MessageEntity{Type: "text_link", Offset: offset, Length: length, URL: url}, true
}

func tgUserLink(url string) (int64, bool) {
	for _, prefix := range []string{"tg://user?id=", "tg:user?id="} {
		if len(url) > len(prefix) && equalFoldASCII(url[:len(prefix)], prefix) {
			if id := leadingInt(url[len(prefix):]); id > 0 {
				return id, true
			}
		}
	}
	return 0, false
}

// plausibleURL approximates TDLib's check: a scheme-less link needs a dot in
// its host ("asdasd" is not a link, "telegram.org" is).
func plausibleURL(url string) bool {
	for i := 0; i+2 < len(url); i++ {
		if url[i] == ':' {
			return i > 0
		}
		if !isAlnum(url[i]) && url[i] != '+' && url[i] != '-' && url[i] != '.' {
			break
		}
	}
	host := url
	for i := range len(url) {
		if url[i] == '/' || url[i] == '?' || url[i] == '#' {
			host = url[:i]
			break
		}
	}
	for i := 1; i < len(host)-1; i++ {
		if host[i] == '.' {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
