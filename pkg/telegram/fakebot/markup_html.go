package fakebot

import (
	"fmt"
	"strings"
)

// htmlEntityTypes maps the tags Telegram's HTML mode supports to entity
// types; any other tag is an error ("Unsupported start tag").
var htmlEntityTypes = map[string]string{
	"a": "text_link", "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
	"u": "underline", "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
	"del": "strikethrough", "span": "spoiler", "tg-spoiler": "spoiler", "code": "code",
	"pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}

type htmlOpenTag struct {
	name      string
	bytePos   int // offset of '<' in the input, for error messages
	utf16Off  int
	textStart int // byte offset in the output, for <a> without href
	attr      map[string]string
}

// decodeHTMLEntity decodes a character reference at s[pos] ('&'). Only
// &lt; &gt; &amp; &quot; and numeric references are recognised; anything
// else stays literal text, as in Telegram. The semicolon is optional.
func decodeHTMLEntity(s string, pos int) (r rune, next int, ok bool) {
	end := pos + 1
	var res int64
	if byteAt(s, end) == '#' {
		end++
		if byteAt(s, end) == 'x' || byteAt(s, end) == 'X' {
			end++
			for ; end < len(s) && isHexDigit(s[end]); end++ {
				res = res*16 + int64(hexValue(s[end]))
				if res > 0x10FFFF {
					res = 0x110000
				}
			}
		} else {
			for ; end < len(s) && s[end] >= '0' && s[end] <= '9'; end++ {
				res = res*10 + int64(s[end]-'0')
				if res > 0x10FFFF {
					res = 0x110000
				}
			}
		}
		if res == 0 || res >= 0x10FFFF || end-pos >= 10 {
			return 0, 0, false
		}
	} else {
		for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z') {
			end++
		}
		switch s[pos+1 : end] {
		case "lt":
			res = '<'
		case "gt":
			res = '>'
		case "amp":
			res = '&'
		case "quot":
			res = '"'
		default:
			return 0, 0, false
		}
	}
	if byteAt(s, end) == ';' {
		end++
	}
	return rune(res), end, true
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexValue(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

// parseHTML implements parse_mode=HTML. Errors carry TDLib's wording (the
// caller adds "Bad Request: can't parse entities: ").
func parseHTML(s string) (string, []MessageEntity, error) {
	var (
		out      textBuilder
		stack    []htmlOpenTag
		entities []MessageEntity
	)
	for i := 0; i < len(s); {
		c := s[i]
		if c == '&' {
			if r, next, ok := decodeHTMLEntity(s, i); ok {
				if r >= 0xD800 && r <= 0xDFFF {
					return "", nil, fmt.Errorf("Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units")
				}
				out.addRune(r)
				i = next
				continue
			}
		}
		if c != '<' {
			out.addByte(c)
			i++
			continue
		}
		begin := i
		i++
		if byteAt(s, i) == '/' {
			// An end tag closes the innermost open tag.
			if len(stack) == 0 {
				return "", nil, fmt.Errorf("Unexpected end tag at byte offset %d", begin)
			}
			i++
			nameStart := i
			for i < len(s) && !isSpace(s[i]) && s[i] != '>' {
				i++
			}
			endName := strings.ToLower(s[nameStart:i])
			for i < len(s) && isSpace(s[i]) {
				i++
			}
			if byteAt(s, i) != '>' {
				return "", nil, fmt.Errorf("Unclosed end tag at byte offset %d", begin)
			}
			i++
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if endName != "" && endName != top.name {
				return "", nil, fmt.Errorf("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", begin, top.name, endName)
			}
			entities = appendHTMLEntity(entities, top, stack, &out)
			continue
		}

		for i < len(s) && !isSpace(s[i]) && s[i] != '>' {
			i++
		}
		if i >= len(s) {
			return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
		}
		name := strings.ToLower(s[begin+1 : i])
		if _, ok := htmlEntityTypes[name]; !ok {
			return "", nil, fmt.Errorf("Unsupported start tag \"%s\" at byte offset %d", name, begin)
		}
		attr := map[string]string{}
		for byteAt(s, i) != '>' {
			for i < len(s) && isSpace(s[i]) {
				i++
			}
			if byteAt(s, i) == '>' {
				break
			}
			attrStart := i
			for i < len(s) && !isSpace(s[i]) && s[i] != '=' && s[i] != '>' {
				i++
			}
			attrName := strings.ToLower(s[attrStart:i])
			if attrName == "" {
				return "", nil, fmt.Errorf("Empty attribute name in the tag \"%s\" at byte offset %d", name, begin)
			}
			for i < len(s) && isSpace(s[i]) {
				i++
			}
			if byteAt(s, i) != '=' {
				attr[attrName] = "" // an attribute without value, like "expandable"
				continue
			}
			i++
			for i < len(s) && isSpace(s[i]) {
				i++
			}
			if i >= len(s) {
				return "", nil, fmt.Errorf("Unclosed start tag \"%s\" at byte offset %d", name, begin)
			}
			var value strings.Builder
			if q := s[i]; q != '\'' && q != '"' {
				// A name token: letters, digits, periods and hyphens.
				tokenStart := i
				for i < len(s) && (isAlnum(s[i]) || s[i] == '.' || s[i] == '-') {
					i++
				}
				value.WriteString(strings.ToLower(s[tokenStart:i]))
				if c := byteAt(s, i); !isSpace(c) && c != '>' {
					return "", nil, fmt.Errorf("Unexpected end of name token at byte offset %d", tokenStart)
				}
			} else {
				i++
				for i < len(s) && s[i] != q {
					if s[i] == '&' {
						if r, next, ok := decodeHTMLEntity(s, i); ok {
							value.WriteRune(r)
							i = next
							continue
						}
					}
					value.WriteByte(s[i])
					i++
				}
				if i < len(s) {
					i++
				}
			}
			if i >= len(s) {
				return "", nil, fmt.Errorf("Unclosed start tag at byte offset %d", begin)
			}
			attr[attrName] = value.String()
		}
		i++ // '>'
		if name == "span" && attr["class"] != "tg-spoiler" {
			return "", nil, fmt.Errorf("Tag \"span\" must have class \"tg-spoiler\" at byte offset %d", begin)
		}
		stack = append(stack, htmlOpenTag{name: name, bytePos: begin, utf16Off: out.utf16n, textStart: len(out.buf), attr: attr})
	}
	if len(stack) > 0 {
		return "", nil, fmt.Errorf("Can't find end tag corresponding to start tag \"%s\"", stack[len(stack)-1].name)
	}
	return string(out.buf), sortEntities(entities), nil
}

// appendHTMLEntity turns a closed tag into its entity; empty tags make none.
func appendHTMLEntity(entities []MessageEntity, tag htmlOpenTag, parents []htmlOpenTag, out *textBuilder) []MessageEntity {
	length := out.utf16n - tag.utf16Off
	if length == 0 {
		return entities
	}
	e := MessageEntity{Type: htmlEntityTypes[tag.name], Offset: tag.utf16Off, Length: length}
	switch tag.name {
	case "a":
		url, ok := tag.attr["href"]
		if !ok || url == "" {
			url = string(out.buf[tag.textStart:])
		}
		link, ok := linkEntity(e.Offset, e.Length, url)
		if !ok {
			return entities
		}
		return append(entities, link)
	case "blockquote":
		if _, ok := tag.attr["expandable"]; ok {
			e.Type = "expandable_blockquote"
		}
	case "tg-emoji":
		e.CustomEmojiID = tag.attr["emoji-id"]
	case "code":
		// <pre><code class="language-x">...</code></pre> is one pre entity
		// with a language; mark the code entity so the closing pre can merge.
		if lang, ok := strings.CutPrefix(tag.attr["class"], "language-"); ok && len(parents) > 0 && parents[len(parents)-1].name == "pre" {
			e.Language = lang
		}
	case "pre":
		for j := len(entities) - 1; j >= 0; j-- {
			ce := &entities[j]
			if ce.Type != "code" || ce.Language == "" || ce.Offset < e.Offset {
				continue
			}
			if ce.Offset == e.Offset && ce.Length == e.Length {
				e.Language = ce.Language
				entities = append(entities[:j], entities[j+1:]...)
				continue
			}
			ce.Language = ""
		}
	}
	return append(entities, e)
}
