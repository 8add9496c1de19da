package matrix

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"
)

// MaxEventBytes is Matrix's limit on a whole event as the homeserver
// stores and federates it (the spec's 65536 bytes), content and envelope
// (ids, hashes, signatures, auth and prev events) together.
const MaxEventBytes = 65536

// maxContentBytes is what an answer's content may take: the envelope a
// homeserver adds stays well under 4 KiB, so the rest is the budget.
const maxContentBytes = MaxEventBytes - 4096

// md renders CommonMark with GitHub's extensions (tables, strikethrough,
// autolinks, task lists), single newlines as line breaks (as chat clients
// show them), and what looks like HTML in the agent's text as the text it
// is: "use <T> here" shows "<T>", where goldmark's default would drop it
// and a client would strip the unknown tag.
var md = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithRendererOptions(
		html.WithHardWraps(),
		renderer.WithNodeRenderers(util.Prioritized(rawAsText{}, 0)),
	),
)

// rawAsText renders raw HTML nodes as escaped text.
type rawAsText struct{}

func (rawAsText) RegisterFuncs(r renderer.NodeRendererFuncRegisterer) {
	r.Register(ast.KindRawHTML, func(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			segs := n.(*ast.RawHTML).Segments
			for i := range segs.Len() {
				seg := segs.At(i)
				w.WriteString(escapeHTML(string(seg.Value(source))))
			}
		}
		return ast.WalkSkipChildren, nil
	})
	r.Register(ast.KindHTMLBlock, func(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		b := n.(*ast.HTMLBlock)
		if entering {
			w.WriteString("<p>")
			lines := b.Lines()
			for i := range lines.Len() {
				seg := lines.At(i)
				line := strings.TrimRight(string(seg.Value(source)), "\n")
				if i > 0 {
					w.WriteString("<br>\n")
				}
				w.WriteString(escapeHTML(line))
			}
			if b.HasClosure() {
				w.WriteString("<br>\n" + escapeHTML(strings.TrimRight(string(b.ClosureLine.Value(source)), "\n")))
			}
			w.WriteString("</p>\n")
		}
		return ast.WalkSkipChildren, nil
	})
}

// content is an m.room.message answer: the Markdown as body (what a
// client without HTML shows, and what a reply quotes) and its HTML as
// formatted_body.
type content struct {
	MsgType       string `json:"msgtype"`
	Body          string `json:"body"`
	Format        string `json:"format,omitempty"`
	FormattedBody string `json:"formatted_body,omitempty"`
	// Txn repeats the event's transaction id in its content, where
	// /messages shows it to any process: see findSent.
	Txn string `json:"org.hermes.txn,omitempty"`
}

// textContent renders one part of an answer.
func textContent(markdown string) content {
	return content{MsgType: "m.text", Body: markdown, Format: "org.matrix.custom.html", FormattedBody: renderHTML(markdown)}
}

// renderHTML renders Markdown as the HTML subset Matrix clients show. A
// lone paragraph loses its <p> wrapper, as Element's own composer sends
// it, so "hello" is not shown with paragraph margins.
func renderHTML(markdown string) string {
	var buf bytes.Buffer
	if err := md.Convert([]byte(markdown), &buf); err != nil {
		// goldmark fails only on a failing writer; keep the text.
		return escapeHTML(markdown)
	}
	out := strings.TrimSuffix(buf.String(), "\n")
	if inner, ok := strings.CutPrefix(out, "<p>"); ok {
		if inner, ok := strings.CutSuffix(inner, "</p>"); ok && !strings.Contains(inner, "<p>") {
			return inner
		}
	}
	return out
}

func escapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// size is the content's JSON size as the homeserver counts it (no HTML
// escaping of <, > and &, which would only inflate the count).
func (c content) size() int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(c)
	return buf.Len() - 1 // Encode's newline
}

// split cuts markdown into parts whose rendered content fits in limit
// bytes: at paragraph boundaries first (a fenced code block counts as one
// paragraph), then at line boundaries, then, for a line longer than the
// limit, between characters. Each part is sent as its own event.
func split(markdown string, limit int) []string {
	fits := func(s string) bool { return textContent(s).size() <= limit }
	if fits(markdown) {
		return []string{markdown}
	}
	parts := pack(paragraphs(markdown), "\n\n", limit, fits, func(p string) []string {
		// (An opening line longer than a language name is not worth
		// repeating in every part; such a block is cut as plain lines.)
		if open, body, ok := fenced(p); ok && len(open) <= 100 {
			// A code block cut in two is two code blocks: each part
			// gets the opening fence (with its language) and a closing
			// one, so the second half is not read as Markdown.
			close := open[:3]
			wrapped := func(s string) string { return open + "\n" + s + "\n" + close }
			fitsFenced := func(s string) bool { return fits(wrapped(s)) }
			parts := pack(strings.Split(body, "\n"), "\n", limit, fitsFenced, func(line string) []string {
				return cutLine(line, fitsFenced)
			})
			for i := range parts {
				parts[i] = wrapped(parts[i])
			}
			return parts
		}
		return pack(strings.Split(p, "\n"), "\n", limit, fits, func(line string) []string {
			return cutLine(line, fits)
		})
	})
	// A blank line left alone between two cuts is not worth an event.
	return slices.DeleteFunc(parts, func(p string) bool { return strings.TrimSpace(p) == "" })
}

// fenced recognises a paragraph that is one fenced code block: its
// opening fence line (``` or ~~~ with the language) and its content
// without the closing fence.
func fenced(p string) (open, body string, ok bool) {
	open, rest, found := strings.Cut(p, "\n")
	open = strings.TrimLeft(open, " ")
	if !found || !(strings.HasPrefix(open, "```") || strings.HasPrefix(open, "~~~")) {
		return "", "", false
	}
	if i := strings.LastIndexByte(rest, '\n'); i >= 0 && strings.HasPrefix(strings.TrimSpace(rest[i+1:]), open[:3]) {
		rest = rest[:i]
	} else if strings.HasPrefix(strings.TrimSpace(rest), open[:3]) {
		rest = ""
	}
	return open, rest, true
}

// pack joins consecutive units with sep into as few parts as fit; a unit
// that does not fit alone is cut by smaller.
func pack(units []string, sep string, limit int, fits func(string) bool, smaller func(string) []string) []string {
	var parts []string
	for i := 0; i < len(units); {
		if !fits(units[i]) {
			parts = append(parts, smaller(units[i])...)
			i++
			continue
		}
		// The longest run units[i:j] that fits. Content is never smaller
		// than its Markdown, so only runs of at most limit bytes are
		// candidates; among them, search for the longest that fits.
		hi := i + 1
		for n := len(units[i]); hi < len(units) && n+len(sep)+len(units[hi]) <= limit; hi++ {
			n += len(sep) + len(units[hi])
		}
		lo := i + 1 // fits
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if fits(strings.Join(units[i:mid], sep)) {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		parts = append(parts, strings.Join(units[i:lo], sep))
		i = lo
	}
	return parts
}

// cutLine cuts one over-long line at character boundaries, preferring a
// space near the end of each piece.
func cutLine(line string, fits func(string) bool) []string {
	var parts []string
	for line != "" {
		if fits(line) {
			return append(parts, line)
		}
		lo, hi := 0, len(line)-1 // the longest prefix that fits is in [lo, hi]
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if fits(line[:mid]) {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		for lo > 0 && !utf8.RuneStart(line[lo]) {
			lo--
		}
		if lo == 0 { // cannot happen with a sane limit; never loop forever
			_, lo = utf8.DecodeRuneInString(line)
		}
		if sp := strings.LastIndexByte(line[:lo], ' '); sp > lo*3/4 {
			lo = sp + 1
		}
		parts = append(parts, line[:lo])
		line = line[lo:]
	}
	return parts
}

// paragraphs splits at blank lines, keeping fenced code blocks (``` or
// ~~~) whole so a split never lands inside one when it can be avoided.
func paragraphs(markdown string) []string {
	var out []string
	var cur []string
	fence := ""
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	for _, line := range strings.Split(markdown, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence != "":
			if strings.HasPrefix(trimmed, fence) && strings.TrimSpace(strings.TrimLeft(trimmed, fence[:1])) == "" {
				fence = ""
			}
		case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
			fence = trimmed[:3]
		case strings.TrimSpace(line) == "":
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return out
}
