// Package markdown turns an agent's Markdown (CommonMark and the GFM parts
// agents use) into text with formatting spans, from a real parse
// (goldmark), for platforms that format with offsets rather than markup:
// Telegram's message entities. Sending MarkdownV2 or HTML strings instead
// breaks on one stray character ("can't parse entities"); spans computed
// from a syntax tree cannot.
//
// Offsets and lengths are in UTF-16 code units, as Telegram counts them.
package markdown

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Kind is a formatting span's kind, named as Telegram names its entity
// types, so an adapter maps them one to one.
type Kind string

const (
	Bold          Kind = "bold"
	Italic        Kind = "italic"
	Strikethrough Kind = "strikethrough"
	Code          Kind = "code"
	Pre           Kind = "pre"
	Link          Kind = "text_link"
	Blockquote    Kind = "blockquote"
)

// Span is one formatting span over Styled.Text.
type Span struct {
	Kind   Kind   `json:"type"`
	Offset int    `json:"offset"` // UTF-16 code units
	Length int    `json:"length"` // UTF-16 code units
	URL    string `json:"url,omitempty"`
	// Language is a fenced code block's info word ("go", "python").
	Language string `json:"language,omitempty"`
}

// Styled is plain text plus the spans that format it.
type Styled struct {
	Text  string
	Spans []Span
}

// Len is the text's length in UTF-16 code units.
func (s Styled) Len() int { return utf16Len(s.Text) }

var parser = goldmark.New(goldmark.WithExtensions(extension.Strikethrough, extension.Table, extension.TaskList)).Parser()

// Render parses md and returns its text and spans. Whatever the input, it
// returns text (never an error): Markdown has no syntax errors, only text
// that was not meant as markup.
func Render(md string) Styled {
	// Invalid UTF-8 cannot be sent; U+FFFD is what a reader would see.
	src := []byte(strings.ToValidUTF8(md, "\uFFFD"))
	doc := parser.Parse(text.NewReader(src))
	r := &renderer{src: src}
	r.blocks(doc, 0)
	out := strings.TrimRightFunc(string(r.buf), isSpaceRune)
	n := utf16Len(out)
	spans := r.spans[:0]
	for _, s := range r.spans {
		if s.Offset+s.Length > n {
			s.Length = n - s.Offset
		}
		if s.Length > 0 {
			spans = append(spans, s)
		}
	}
	return Styled{Text: out, Spans: spans}
}

type renderer struct {
	src   []byte
	buf   []byte
	n     int // UTF-16 length of buf
	spans []Span
}

func (r *renderer) write(s string) {
	r.buf = append(r.buf, s...)
	r.n += utf16Len(s)
}

// open starts a span at the current position; close ends it. Spans of zero
// length are dropped when the text is done (Telegram refuses them).
func (r *renderer) open(k Kind) int {
	r.spans = append(r.spans, Span{Kind: k, Offset: r.n})
	return len(r.spans) - 1
}

func (r *renderer) close(i int) {
	r.spans[i].Length = r.n - r.spans[i].Offset
}

// trimTrailingNewlines keeps block separation exact however blocks ended.
func (r *renderer) trimTrailingNewlines() {
	for len(r.buf) > 0 && r.buf[len(r.buf)-1] == '\n' {
		r.buf = r.buf[:len(r.buf)-1]
		r.n--
	}
}

// blocks renders the block children of n, separated by a blank line (a
// single newline in tight lists and between a list item's parts).
func (r *renderer) blocks(n ast.Node, depth int) {
	first := true
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if !first {
			r.trimTrailingNewlines()
			if tight(n) {
				r.write("\n")
			} else {
				r.write("\n\n")
			}
		}
		first = false
		r.block(c, depth)
	}
}

func tight(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.ListItem:
		if l, ok := n.Parent().(*ast.List); ok {
			return l.IsTight
		}
	case *ast.List:
		return n.IsTight
	}
	return false
}

func (r *renderer) block(n ast.Node, depth int) {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		r.inlines(n)
	case *ast.Heading:
		i := r.open(Bold)
		r.inlines(n)
		r.close(i)
	case *ast.ThematicBreak:
		r.write("———")
	case *ast.FencedCodeBlock:
		i := r.open(Pre)
		if n.Info != nil {
			lang, _, _ := strings.Cut(strings.TrimSpace(string(n.Info.Segment.Value(r.src))), " ")
			r.spans[i].Language = lang
		}
		r.write(strings.TrimRight(r.lines(n), "\n"))
		r.close(i)
	case *ast.CodeBlock:
		i := r.open(Pre)
		r.write(strings.TrimRight(r.lines(n), "\n"))
		r.close(i)
	case *ast.HTMLBlock:
		r.write(strings.TrimRight(r.lines(n), "\n"))
	case *ast.Blockquote:
		i := r.open(Blockquote)
		r.blocks(n, depth)
		r.trimTrailingNewlines()
		r.close(i)
	case *ast.List:
		r.list(n, depth)
	case *east.Table:
		r.table(n)
	default:
		if n.Type() == ast.TypeBlock {
			r.blocks(n, depth)
		} else {
			r.inline(n)
		}
	}
}

func (r *renderer) list(l *ast.List, depth int) {
	num := l.Start
	if num == 0 {
		num = 1
	}
	indent := strings.Repeat("  ", depth)
	first := true
	for item := l.FirstChild(); item != nil; item = item.NextSibling() {
		if !first {
			r.trimTrailingNewlines()
			if l.IsTight {
				r.write("\n")
			} else {
				r.write("\n\n")
			}
		}
		first = false
		r.write(indent)
		if l.IsOrdered() {
			r.write(itoa(num) + ". ")
			num++
		} else {
			r.write("• ")
		}
		// A nested list starts on its own line, one level deeper.
		firstChild := true
		for c := item.FirstChild(); c != nil; c = c.NextSibling() {
			if !firstChild {
				r.trimTrailingNewlines()
				r.write("\n")
				if _, nested := c.(*ast.List); !nested {
					r.write(indent + "  ")
				}
			}
			firstChild = false
			if sub, ok := c.(*ast.List); ok {
				r.list(sub, depth+1)
				continue
			}
			r.block(c, depth+1)
		}
	}
}

// table renders a GFM table as aligned monospace text: Telegram has no
// tables, and columns only line up in a fixed-width font.
func (r *renderer) table(t *east.Table) {
	var rows [][]string
	for row := t.FirstChild(); row != nil; row = row.NextSibling() {
		var cells []string
		for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
			cells = append(cells, strings.TrimSpace(plain(cell, r.src)))
		}
		rows = append(rows, cells)
	}
	width := map[int]int{}
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for ri, row := range rows {
		for i, c := range row {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteString("\n")
		if ri == 0 && len(rows) > 1 {
			for i := range row {
				if i > 0 {
					b.WriteString("-+-")
				}
				b.WriteString(strings.Repeat("-", width[i]))
			}
			b.WriteString("\n")
		}
	}
	i := r.open(Pre)
	r.write(strings.TrimRight(b.String(), "\n"))
	r.close(i)
}

func (r *renderer) lines(n ast.Node) string {
	var b bytes.Buffer
	ls := n.Lines()
	for i := 0; i < ls.Len(); i++ {
		seg := ls.At(i)
		b.Write(seg.Value(r.src))
	}
	return b.String()
}

func (r *renderer) inlines(n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		r.inline(c)
	}
}

func (r *renderer) inline(n ast.Node) {
	switch n := n.(type) {
	case *ast.Text:
		r.write(unescape(n.Segment.Value(r.src), n.IsRaw()))
		if n.HardLineBreak() || n.SoftLineBreak() {
			r.write("\n")
		}
	case *ast.String:
		r.write(string(n.Value))
	case *ast.Emphasis:
		k := Italic
		if n.Level >= 2 {
			k = Bold
		}
		i := r.open(k)
		r.inlines(n)
		r.close(i)
	case *east.Strikethrough:
		i := r.open(Strikethrough)
		r.inlines(n)
		r.close(i)
	case *ast.CodeSpan:
		i := r.open(Code)
		r.write(plain(n, r.src))
		r.close(i)
	case *ast.Link:
		r.link(n, string(n.Destination))
	case *ast.Image:
		r.link(n, string(n.Destination))
	case *ast.AutoLink:
		r.write(string(n.URL(r.src)))
	case *ast.RawHTML:
		for i := 0; i < n.Segments.Len(); i++ {
			seg := n.Segments.At(i)
			r.write(string(seg.Value(r.src)))
		}
	case *east.TaskCheckBox:
		if n.IsChecked {
			r.write("☑ ")
		} else {
			r.write("☐ ")
		}
	default:
		r.inlines(n)
	}
}

// link makes a text link of a link with an absolute http(s) URL; any other
// destination (relative, javascript:, mailto:) would be refused by
// Telegram, so it is shown as text after the label.
func (r *renderer) link(n ast.Node, dest string) {
	if webURL(dest) {
		i := r.open(Link)
		r.spans[i].URL = dest
		r.inlines(n)
		if r.n == r.spans[i].Offset {
			r.write(dest) // an image without alt text: its address
		}
		r.close(i)
		return
	}
	r.inlines(n)
	if dest != "" {
		r.write(" (" + dest + ")")
	}
}

func webURL(u string) bool {
	l := strings.ToLower(u)
	return (strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")) && len(u) > len("https://") && !strings.ContainsAny(u, " \n\t")
}

// plain is the text of n's inline content without formatting.
func plain(n ast.Node, src []byte) string {
	var b strings.Builder
	var walk func(ast.Node)
	walk = func(n ast.Node) {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.Text:
				b.WriteString(unescape(c.Segment.Value(src), c.IsRaw() || isCode(n)))
				if c.SoftLineBreak() || c.HardLineBreak() {
					b.WriteByte(' ')
				}
			case *ast.String:
				b.Write(c.Value)
			default:
				walk(c)
			}
		}
	}
	walk(n)
	return b.String()
}

// unescape resolves backslash escapes and character references in text,
// as an HTML renderer would (`\*` is a literal star); raw text (inside a
// code span) is literal.
func unescape(v []byte, raw bool) string {
	if raw {
		return string(v)
	}
	return string(util.UnescapePunctuations(util.ResolveEntityNames(util.ResolveNumericReferences(v))))
}

func isCode(n ast.Node) bool {
	_, ok := n.(*ast.CodeSpan)
	return ok
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s { // an invalid byte ranges as U+FFFD: one unit
		n += utf16.RuneLen(r)
	}
	return n
}

func isSpaceRune(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
