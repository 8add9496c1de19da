package fakebot

import (
	"fmt"
	"net/url"
	"strings"
)

// mdEntity is an entity opened but not yet closed. typ uses TDLib's type
// names because they appear in error texts ("Can't find end of Bold entity").
type mdEntity struct {
	typ       string
	argument  string
	utf16Off  int
	bytePos   int
	textStart int
}

var mdEntityTypes = map[string]string{
	"Bold": "bold", "Italic": "italic", "Underline": "underline", "Strikethrough": "strikethrough",
	"Spoiler": "spoiler", "Code": "code", "Pre": "pre", "PreCode": "pre", "TextUrl": "text_link",
	"CustomEmoji": "custom_emoji",
}

func reservedError(c byte) error {
	return fmt.Errorf("Character '%c' is reserved and must be escaped with the preceding '\\'", c)
}

func isCodeType(typ string) bool { return typ == "Code" || typ == "Pre" || typ == "PreCode" }

// parseMarkdownV2 implements parse_mode=MarkdownV2, including its strictest
// rule: every one of _*[]()~`>#+-=|{}.! outside an entity marker must be
// escaped with '\' (the classic failure of bots sending model output).
func parseMarkdownV2(s string) (string, []MessageEntity, error) {
	var (
		out      textBuilder
		nested   []mdEntity
		entities []MessageEntity
		// Block quotation state: a quote starts with '>' at the start of a
		// line and continues while following lines start with '>'.
		inQuote, quoteExpandable bool
		quoteStart, quoteDepth   int
	)
	topIsCode := func() bool { return len(nested) > 0 && isCodeType(nested[len(nested)-1].typ) }
	atLineStart := func() bool {
		b, ok := out.lastByte()
		return !ok || b == '\n' || b == '\r'
	}
	closeQuote := func() error {
		if len(nested) > quoteDepth {
			top := nested[len(nested)-1]
			return fmt.Errorf("Can't find end of %s entity at byte offset %d", top.typ, top.bytePos)
		}
		if out.utf16n > quoteStart {
			typ := "blockquote"
			if quoteExpandable {
				typ = "expandable_blockquote"
			}
			entities = append(entities, MessageEntity{Type: typ, Offset: quoteStart, Length: out.utf16n - quoteStart})
		}
		inQuote, quoteExpandable = false, false
		return nil
	}
	// quoteEndsAfterLine reports whether the line ending at j (a line break
	// or the end of text) is the last line of the quote.
	quoteEndsAfterLine := func(j int) bool {
		switch {
		case j >= len(s):
			return true
		case s[j] == '\n':
			return byteAt(s, j+1) != '>'
		case s[j] == '\r' && byteAt(s, j+1) == '\n':
			return byteAt(s, j+2) != '>'
		}
		return false
	}

	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && byteAt(s, i+1) > 0 && byteAt(s, i+1) <= 126 {
			i++
			out.addByte(s[i])
			continue
		}
		if c == '>' && !topIsCode() && atLineStart() {
			if !inQuote {
				inQuote, quoteStart, quoteDepth = true, out.utf16n, len(nested)
			}
			continue
		}
		reserved := "_*[]()~`>#+-=|{}.!"
		if topIsCode() {
			reserved = "`"
		}
		if !strings.ContainsRune(reserved, rune(c)) {
			out.addByte(c)
			if c == '\n' && inQuote && !topIsCode() {
				if byteAt(s, i+1) == '>' {
					i++ // the next line continues the quote
					continue
				}
				if err := closeQuote(); err != nil {
					return "", nil, err
				}
			}
			continue
		}

		isEnd := false
		if len(nested) > 0 {
			switch nested[len(nested)-1].typ {
			case "Bold":
				isEnd = c == '*'
			case "Italic":
				isEnd = c == '_' && byteAt(s, i+1) != '_'
			case "Code":
				isEnd = c == '`'
			case "Pre", "PreCode":
				isEnd = c == '`' && byteAt(s, i+1) == '`' && byteAt(s, i+2) == '`'
			case "TextUrl", "CustomEmoji":
				isEnd = c == ']'
			case "Underline":
				isEnd = c == '_' && byteAt(s, i+1) == '_'
			case "Strikethrough":
				isEnd = c == '~'
			case "Spoiler":
				isEnd = c == '|' && byteAt(s, i+1) == '|'
			}
		}

		if !isEnd {
			// "||" closing the last line of a quote marks it expandable.
			if c == '|' && byteAt(s, i+1) == '|' && inQuote && quoteEndsAfterLine(i+2) {
				quoteExpandable = true
				i++
				continue
			}
			e := mdEntity{bytePos: i}
			switch c {
			case '_':
				e.typ = "Italic"
				if byteAt(s, i+1) == '_' {
					e.typ = "Underline"
					i++
				}
			case '*':
				e.typ = "Bold"
			case '~':
				e.typ = "Strikethrough"
			case '|':
				if byteAt(s, i+1) != '|' {
					return "", nil, reservedError(c)
				}
				e.typ = "Spoiler"
				i++
			case '[':
				e.typ = "TextUrl"
			case '`':
				if byteAt(s, i+1) == '`' && byteAt(s, i+2) == '`' {
					i += 3
					e.typ = "Pre"
					langEnd := i
					for langEnd < len(s) && !isSpace(s[langEnd]) && s[langEnd] != '`' {
						langEnd++
					}
					if i != langEnd && langEnd < len(s) && s[langEnd] != '`' {
						e.typ, e.argument = "PreCode", s[i:langEnd]
						i = langEnd
					}
					// One line break right after the opening fence is not text.
					if b := byteAt(s, i); b == '\n' || b == '\r' {
						if b2 := byteAt(s, i+1); (b2 == '\n' || b2 == '\r') && b != b2 {
							i += 2
						} else {
							i++
						}
					}
					i--
				} else {
					e.typ = "Code"
				}
			case '!':
				if byteAt(s, i+1) != '[' {
					return "", nil, reservedError(c)
				}
				e.typ = "CustomEmoji"
				i++
			default:
				return "", nil, reservedError(c)
			}
			e.utf16Off, e.textStart = out.utf16n, len(out.buf)
			nested = append(nested, e)
			continue
		}

		// End of the innermost entity.
		top := nested[len(nested)-1]
		nested = nested[:len(nested)-1]
		length := out.utf16n - top.utf16Off
		ent := MessageEntity{Type: mdEntityTypes[top.typ], Offset: top.utf16Off, Length: length}
		keep := length > 0
		switch top.typ {
		case "Underline", "Spoiler":
			i++
		case "Pre", "PreCode":
			i += 2
			ent.Language = top.argument
		case "TextUrl":
			link := string(out.buf[top.textStart:])
			if byteAt(s, i+1) == '(' {
				var err error
				if link, i, err = markdownV2URL(s, i+2); err != nil {
					return "", nil, err
				}
			}
			ent, keep = linkEntity(top.utf16Off, length, link)
		case "CustomEmoji":
			if byteAt(s, i+1) != '(' {
				return "", nil, fmt.Errorf("The entity must contain a tg://emoji or tg://time URL")
			}
			link, end, err := markdownV2URL(s, i+2)
			if err != nil {
				return "", nil, err
			}
			i = end
			id, ok := customEmojiID(link)
			if !ok {
				return "", nil, fmt.Errorf("Invalid tg://emoji or tg://time URL specified")
			}
			ent.CustomEmojiID = id
		}
		if keep {
			entities = append(entities, ent)
		}
	}
	if inQuote {
		if err := closeQuote(); err != nil {
			return "", nil, err
		}
	}
	if len(nested) > 0 {
		top := nested[len(nested)-1]
		return "", nil, fmt.Errorf("Can't find end of %s entity at byte offset %d", top.typ, top.bytePos)
	}
	return string(out.buf), sortEntities(entities), nil
}

// markdownV2URL reads a link target starting at begin (just after '(') up to
// the unescaped ')'. It returns the URL and the index of the ')'.
func markdownV2URL(s string, begin int) (string, int, error) {
	var b strings.Builder
	i := begin
	for i < len(s) && s[i] != ')' {
		if s[i] == '\\' && byteAt(s, i+1) > 0 && byteAt(s, i+1) <= 126 {
			b.WriteByte(s[i+1])
			i += 2
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	if i >= len(s) {
		return "", 0, fmt.Errorf("Can't find end of a URL at byte offset %d", begin)
	}
	return b.String(), i, nil
}

// customEmojiID validates tg://emoji?id=N (scheme and host case-insensitive,
// the id a positive decimal without leading zeros, outside the fragment).
func customEmojiID(link string) (string, bool) {
	rest, ok := "", false
	for _, prefix := range []string{"tg://emoji/?", "tg://emoji?"} {
		if len(link) >= len(prefix) && equalFoldASCII(link[:len(prefix)], prefix) {
			rest, ok = link[len(prefix):], true
			break
		}
	}
	if !ok {
		return "", false
	}
	rest, _, _ = strings.Cut(rest, "#")
	q, err := url.ParseQuery(rest)
	if err != nil {
		return "", false
	}
	id := q.Get("id")
	if id == "" || id[0] == '0' || strings.Trim(id, "0123456789") != "" {
		return "", false
	}
	return id, true
}

// parseMarkdown implements the legacy parse_mode=Markdown: *bold*,
// _italic_, `code`, ```pre```, [text](url), no nesting, and only _*`[ can be
// escaped.
func parseMarkdown(s string) (string, []MessageEntity, error) {
	var (
		out      textBuilder
		entities []MessageEntity
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && strings.IndexByte("_*`[", byteAt(s, i+1)) >= 0 && byteAt(s, i+1) != 0 {
			i++
			out.addByte(s[i])
			continue
		}
		if c != '_' && c != '*' && c != '`' && c != '[' {
			out.addByte(c)
			continue
		}
		begin := i
		endChar := c
		if c == '[' {
			endChar = ']'
		}
		i++
		isPre, language := false, ""
		if c == '`' && byteAt(s, i) == '`' && byteAt(s, i+1) == '`' {
			i += 2
			isPre = true
			langEnd := i
			for langEnd < len(s) && !isSpace(s[langEnd]) && s[langEnd] != '`' {
				langEnd++
			}
			if i != langEnd && langEnd < len(s) && s[langEnd] != '`' {
				language = s[i:langEnd]
				i = langEnd
			}
			if b := byteAt(s, i); b == '\n' || b == '\r' {
				if b2 := byteAt(s, i+1); (b2 == '\n' || b2 == '\r') && b != b2 {
					i += 2
				} else {
					i++
				}
			}
		}
		off, start := out.utf16n, len(out.buf)
		for i < len(s) && (s[i] != endChar || isPre && !(byteAt(s, i+1) == '`' && byteAt(s, i+2) == '`')) {
			out.addByte(s[i])
			i++
		}
		if i >= len(s) {
			return "", nil, fmt.Errorf("Can't find end of the entity starting at byte offset %d", begin)
		}
		if length := out.utf16n - off; length > 0 {
			switch c {
			case '_':
				entities = append(entities, MessageEntity{Type: "italic", Offset: off, Length: length})
			case '*':
				entities = append(entities, MessageEntity{Type: "bold", Offset: off, Length: length})
			case '[':
				link := string(out.buf[start:])
				if byteAt(s, i+1) == '(' {
					i += 2
					var b strings.Builder
					for i < len(s) && s[i] != ')' {
						b.WriteByte(s[i])
						i++
					}
					link = b.String()
				}
				if e, ok := linkEntity(off, length, link); ok {
					entities = append(entities, e)
				}
			case '`':
				typ := "code"
				if isPre {
					typ = "pre"
				}
				entities = append(entities, MessageEntity{Type: typ, Offset: off, Length: length, Language: language})
			}
		}
		if isPre {
			i += 2
		}
	}
	return string(out.buf), sortEntities(entities), nil
}
