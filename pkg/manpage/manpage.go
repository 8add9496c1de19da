// Package manpage writes manual pages (roff, man(7) macros) for the two
// programs: hermes(1) from the CLI's cobra command tree, every command on
// one page as systemctl(1) does, and hermes-gateway(1) from the daemon's
// flag set. The units' Documentation=man:… lines point at them.
//
// Not cobra/doc's GenManTree: it names a page per command after the
// command path, so `hermes gateway` would get hermes-gateway(1), the
// daemon's page.
package manpage

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Page is one manual page.
type Page struct {
	Name     string // "hermes"
	Section  int    // 1
	Title    string // one line for NAME
	Date     time.Time
	Source   string // "hermes v0.1.0"
	Synopsis []string
	Sections []Section
}

// Section is a titled part of a page: paragraphs, then items.
type Section struct {
	Title string
	Text  []string // paragraphs
	Items []Item
}

// Item is a tagged paragraph: a command or flag and what it does, and
// the flags of a command, indented under it.
type Item struct {
	Tag   string
	Text  []string
	Flags []Item
}

// FileName is "hermes.1".
func (p Page) FileName() string { return fmt.Sprintf("%s.%d", p.Name, p.Section) }

// Write writes p as roff.
func (p Page) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s %d %s %s %s\n", quote(strings.ToUpper(p.Name)), p.Section, quote(p.Date.Format("2006-01-02")), quote(p.Source), quote("User Commands"))
	b.WriteString(".SH NAME\n")
	b.WriteString(escape(p.Name) + " \\- " + escape(p.Title) + "\n")
	if len(p.Synopsis) > 0 {
		b.WriteString(".SH SYNOPSIS\n")
		for i, s := range p.Synopsis {
			if i > 0 {
				b.WriteString(".br\n")
			}
			b.WriteString(".B " + escape(s) + "\n")
		}
	}
	for _, s := range p.Sections {
		b.WriteString(".SH " + quote(strings.ToUpper(s.Title)) + "\n")
		for i, t := range s.Text {
			if i > 0 {
				b.WriteString(".PP\n")
			}
			b.WriteString(paragraph(t, ".PP"))
		}
		for _, it := range s.Items {
			writeItem(&b, it)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFile writes p into dir/man<section>/<name>.<section>.
func (p Page) WriteFile(dir string) (string, error) {
	d := filepath.Join(dir, fmt.Sprintf("man%d", p.Section))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(d, p.FileName())
	f, err := os.CreateTemp(d, ".page-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if err := p.Write(f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(f.Name(), path)
}

func writeItem(b *strings.Builder, it Item) {
	b.WriteString(".TP\n.B " + escape(it.Tag) + "\n")
	for i, t := range it.Text {
		if i > 0 {
			b.WriteString(".IP\n")
		}
		b.WriteString(paragraph(t, ".IP"))
	}
	if len(it.Flags) > 0 {
		b.WriteString(".RS\n")
		for _, f := range it.Flags {
			writeItem(b, f)
		}
		b.WriteString(".RE\n")
	}
}

// paragraph is text as roff lines: a line of its own for each line of the
// text, none starting with a control character; a blank line starts a new
// paragraph with brk (.PP at the margin, .IP inside an item).
func paragraph(t, brk string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(t), "\n") {
		line = strings.TrimRight(line, " ")
		if line == "" {
			b.WriteString(brk + "\n")
			continue
		}
		b.WriteString(escape(line) + "\n")
	}
	return b.String()
}

// escape makes text safe as roff input: backslashes and hyphens escaped
// (a plain - may be set as a hyphen, and copying a flag from the page must
// give a minus), a leading . or ' kept from being read as a request, and
// characters beyond ASCII given by code point.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	// groff reads its input as Latin-1: anything else by its code point.
	var b strings.Builder
	for _, r := range s {
		if r > 127 {
			fmt.Fprintf(&b, `\[u%04X]`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func quote(s string) string { return `"` + strings.ReplaceAll(escape(s), `"`, `\(dq`) + `"` }

// FromCobra makes one page for root and every command under it that is
// not hidden: the synopsis of each, its long description and its flags,
// then the flags every command takes.
func FromCobra(root *cobra.Command, source string, date time.Time, extra ...Section) Page {
	p := Page{Name: root.Name(), Section: 1, Title: root.Short, Date: date, Source: source,
		Synopsis: []string{root.Name() + " COMMAND [FLAGS]"}}
	desc := Section{Title: "Description", Text: []string{nonEmpty(root.Long, root.Short)}}
	cmds := Section{Title: "Commands"}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || !sub.IsAvailableCommand() || sub.Name() == "help" {
				continue
			}
			if sub.Runnable() && (len(sub.Commands()) == 0 || sub.Long != "") {
				cmds.Items = append(cmds.Items, commandItem(sub))
			}
			walk(sub)
		}
	}
	walk(root)
	p.Sections = append(p.Sections, desc, cmds)
	if g := flagItems(root.PersistentFlags()); len(g) > 0 {
		p.Sections = append(p.Sections, Section{Title: "Options", Text: []string{"Every command takes:"}, Items: g})
	}
	p.Sections = append(p.Sections, extra...)
	return p
}

func commandItem(c *cobra.Command) Item {
	it := Item{Tag: strings.TrimSuffix(c.UseLine(), " [flags]"), Text: []string{nonEmpty(c.Long, c.Short)}}
	it.Flags = flagItems(c.NonInheritedFlags())
	return it
}

func flagItems(fs *pflag.FlagSet) []Item {
	var out []Item
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		arg, usage := pflag.UnquoteUsage(f)
		tag := "--" + f.Name
		if f.Shorthand != "" {
			tag = "-" + f.Shorthand + ", " + tag
		}
		if arg != "" {
			tag += " " + strings.ToUpper(argName(arg))
		}
		out = append(out, Item{Tag: tag, Text: []string{usage + defaultNote(f.Value.Type(), f.DefValue)}})
	})
	return out
}

// argName names a flag's value after its type where the usage gives no
// name: "duration" is DURATION, "stringArray" VALUE.
func argName(arg string) string {
	switch arg {
	case "int", "int64", "uint", "int32":
		return "n"
	case "strings", "stringArray", "int64Slice", "ints":
		return "value"
	}
	return arg
}

func defaultNote(typ, def string) string {
	if def == "" || def == "[]" || (typ == "bool" && def == "false") || def == "0" {
		return ""
	}
	return " (default " + def + ")"
}

// FromFlagSet makes the page of a program with a standard library flag
// set: the synopsis, a description, each flag, and more sections.
func FromFlagSet(name, title, description string, fs *flag.FlagSet, source string, date time.Time, extra ...Section) Page {
	p := Page{Name: name, Section: 1, Title: title, Date: date, Source: source, Synopsis: []string{name + " [FLAGS]"}}
	opts := Section{Title: "Options"}
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		tag := "--" + f.Name
		if arg != "" {
			tag += " " + strings.ToUpper(arg)
		}
		// A default that depends on where the page was made (a home
		// directory) is said in the usage instead.
		if f.DefValue != "" && f.DefValue != "false" && !strings.HasPrefix(f.DefValue, "/") {
			usage += " (default " + f.DefValue + ")"
		}
		opts.Items = append(opts.Items, Item{Tag: tag, Text: []string{usage}})
	})
	p.Sections = append(p.Sections, Section{Title: "Description", Text: []string{description}}, opts)
	p.Sections = append(p.Sections, extra...)
	return p
}

func nonEmpty(s, alt string) string {
	if strings.TrimSpace(s) == "" {
		return alt
	}
	return s
}
