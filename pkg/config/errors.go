package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Error is a problem with the content of the configuration. It says where
// (file, dotted key, line), what is wrong and how to fix it, on one line, so
// that it reads well in `hermes status`, in the journal and in a test
// failure.
type Error struct {
	File    string // path of the file, "" for a Config built in code
	Key     string // dotted key such as "telegram.mode"; "" for a syntax error
	Line    int    // 1-based; 0 when unknown (key absent from the file)
	Problem string // what is wrong
	Fix     string // what to do about it
}

// Error returns "FILE:LINE: KEY: PROBLEM; FIX", leaving out the parts that
// are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("config")
	}
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(oneLine(e.Problem))
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(oneLine(e.Fix))
	}
	return b.String()
}

// oneLine keeps Error() on a single line whatever a value in the file held.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// errf builds an Error about key, pointing at the line that set it or, when
// the key is absent from the file, at its table's header.
func (c *Config) errf(key, fix, problem string, args ...any) *Error {
	return &Error{File: c.Source, Key: key, Line: c.lineOf(key), Problem: fmt.Sprintf(problem, args...), Fix: fix}
}

func (c *Config) lineOf(key string) int {
	for k := key; k != ""; {
		if l, ok := c.lines[k]; ok {
			return l
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// decodeError turns what the TOML decoder returned into an *Error.
func decodeError(err error, file string, lines map[string]int, kinds map[string]unstable.Kind) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		return unknownKeyError(strict, file, lines)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		parts := de.Key()
		key := strings.Join(parts, ".")
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		t, known := schemaTypes()[key]
		if !known {
			// A dotted key through a scalar (gateway.keep_versions.x = 1)
			// is a type error on the scalar.
			for i := len(parts) - 1; i > 0; i-- {
				p := strings.Join(parts[:i], ".")
				if pt, ok := schemaTypes()[p]; ok && pt.Kind() != reflect.Struct {
					return &Error{File: file, Key: p, Line: line,
						Problem: "must be " + describeType(pt) + ", not a table", Fix: exampleFix(p)}
				}
			}
			return &Error{File: file, Line: line, Problem: msg,
				Fix: fmt.Sprintf("fix the TOML syntax at line %d, column %d", line, col)}
		}
		e := &Error{File: file, Key: key, Line: line, Problem: msg, Fix: exampleFix(key)}
		if strings.Contains(msg, "already") { // duplicate key or table
			e.Fix = fmt.Sprintf("define %s only once: merge this with its earlier definition", key)
			return e
		}
		if strings.HasPrefix(msg, "cannot ") { // type mismatch: go-toml's wording names Go types
			e.Problem = "must be " + describeType(t)
			if k, ok := kinds[key]; ok && !kindFits(t, k) {
				e.Problem += ", not " + describeKind(k)
			}
		}
		if t == reflect.TypeFor[Duration]() && e.Fix != "" {
			e.Fix = "write a number with a unit (ms, s, m, h): " + e.Fix
		}
		return e
	}
	// Errors from Duration.UnmarshalText on a non-string value arrive
	// without a position; find the culprit ourselves.
	if ke := kindError(file, lines, kinds); ke != nil {
		return ke
	}
	return &Error{File: file, Problem: err.Error(), Fix: "fix the file's TOML syntax"}
}

// kindError reports the first duration key whose value is not a string. The
// decoder hands such values' raw text to Duration.UnmarshalText, so that
// `drain_timeout = 0` would otherwise decode as a duration.
func kindError(file string, lines map[string]int, kinds map[string]unstable.Kind) *Error {
	var bad []string
	for key, t := range schemaTypes() {
		if k, ok := kinds[key]; ok && t == reflect.TypeFor[Duration]() && k != unstable.String {
			bad = append(bad, key)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Slice(bad, func(i, j int) bool {
		if lines[bad[i]] != lines[bad[j]] {
			return lines[bad[i]] < lines[bad[j]]
		}
		return bad[i] < bad[j]
	})
	key := bad[0]
	return &Error{File: file, Key: key, Line: lines[key],
		Problem: "must be " + describeType(reflect.TypeFor[Duration]()) + ", not " + describeKind(kinds[key]),
		Fix:     "quote it and give a unit: " + exampleFix(key)}
}

func unknownKeyError(strict *toml.StrictMissingError, file string, lines map[string]int) *Error {
	first := strict.Errors[0]
	line, _ := first.Position()
	parts := fullKey(first.Key(), line, lines)
	// go-toml names the whole dotted key (a.b.c = 1); what is unknown is
	// its first part that the schema lacks.
	for i := 1; i < len(parts); i++ {
		if _, ok := schemaTypes()[strings.Join(parts[:i], ".")]; !ok {
			parts = parts[:i]
			break
		}
	}
	key := strings.Join(parts, ".")
	parent := strings.Join(parts[:max(len(parts)-1, 0)], ".")
	name := ""
	if len(parts) > 0 {
		name = parts[len(parts)-1]
	}
	e := &Error{File: file, Key: key, Line: line, Problem: "unknown key"}
	if n := len(strict.Errors) - 1; n == 1 {
		e.Problem += " (and 1 more)"
	} else if n > 1 {
		e.Problem += fmt.Sprintf(" (and %d more)", n)
	}
	siblings := schemaChildren(parent)
	if len(siblings) == 0 {
		// The parent itself is a known leaf or an unknown table; the
		// decoder reports the outermost unknown name, so this is rare.
		e.Fix = "remove it"
		return e
	}
	where, known := "["+parent+"]", strings.Join(siblings, ", ")
	if parent == "" {
		where, known = "the file", "["+strings.Join(siblings, "], [")+"]"
	}
	e.Fix = fmt.Sprintf("remove it; %s takes %s", where, known)
	if s := closest(name, siblings); s != "" {
		e.Fix = fmt.Sprintf("did you mean %s? (%s takes %s)", s, where, known)
	}
	return e
}

// fullKey works around go-toml reporting an unknown key inside an inline
// table without the inline table's own name (agent.modle for
// `[agent] openai = { modle = "x" }`): when the scan saw no such key, it
// takes the scanned key on the same line with the same last part.
func fullKey(parts []string, line int, lines map[string]int) []string {
	if len(parts) == 0 {
		return parts
	}
	if _, ok := lines[strings.Join(parts, ".")]; ok {
		return parts
	}
	last := "." + parts[len(parts)-1]
	var found []string
	for k, l := range lines {
		if l == line && strings.HasSuffix(k, last) && strings.HasPrefix(k, parts[0]+".") {
			found = append(found, k)
		}
	}
	if len(found) == 0 {
		return parts
	}
	sort.Strings(found) // several on one line: any will do, but the same each time
	return strings.Split(found[0], ".")
}

// closest returns the sibling within a small edit distance of name, for
// "did you mean" hints on typos.
func closest(name string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describeType(t reflect.Type) string {
	if t == reflect.TypeFor[Duration]() {
		return `a duration string such as "20s"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct:
		return "a table"
	}
	return t.String()
}

func describeKind(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.Table, unstable.InlineTable:
		return "a table"
	case unstable.ArrayTable:
		return "an array of tables"
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		return "a date or time"
	}
	return k.String()
}

// kindFits says whether a TOML value of kind k can decode into t at all.
func kindFits(t reflect.Type, k unstable.Kind) bool {
	if t == reflect.TypeFor[Duration]() {
		return k == unstable.String
	}
	switch t.Kind() {
	case reflect.String:
		return k == unstable.String
	case reflect.Bool:
		return k == unstable.Bool
	case reflect.Int, reflect.Int64:
		return k == unstable.Integer
	case reflect.Slice:
		return k == unstable.Array
	case reflect.Struct:
		return k == unstable.Table || k == unstable.InlineTable
	}
	return true
}

// scanKeys records, for every key and table the document sets, the line that
// sets it and the kind of its value. It is best effort: positions only make
// messages better, so a document the parser rejects (the decoder then
// reports it) or a panic in go-toml's unstable AST API yields what was
// gathered so far.
func scanKeys(data []byte) (lines map[string]int, kinds map[string]unstable.Kind) {
	lines = map[string]int{}
	kinds = map[string]unstable.Kind{}
	defer func() { _ = recover() }()

	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			var line int
			table, line = keyParts(&p, e.Key())
			recordPrefixes(table, line, lines, kinds)
			k := strings.Join(table, ".")
			lines[k] = line
			kinds[k] = e.Kind
		case unstable.KeyValue:
			recordKeyValue(&p, table, e, lines, kinds)
		}
	}
	return lines, kinds
}

func recordKeyValue(p *unstable.Parser, prefix []string, kv *unstable.Node, lines map[string]int, kinds map[string]unstable.Kind) {
	parts, line := keyParts(p, kv.Key())
	full := append(append([]string{}, prefix...), parts...)
	recordPrefixes(full, line, lines, kinds)
	k := strings.Join(full, ".")
	if _, seen := lines[k]; !seen {
		lines[k] = line
		kinds[k] = kv.Value().Kind
	}
	if kv.Value().Kind == unstable.InlineTable {
		it := kv.Value().Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				recordKeyValue(p, full, n, lines, kinds)
			}
		}
	}
}

// recordPrefixes notes the implicit tables a dotted key or header creates
// (telegram for [telegram.webhook]), so that a key absent from the file can
// point at the nearest table that is present.
func recordPrefixes(parts []string, line int, lines map[string]int, kinds map[string]unstable.Kind) {
	for i := 1; i < len(parts); i++ {
		k := strings.Join(parts[:i], ".")
		if _, seen := lines[k]; !seen {
			lines[k] = line
			kinds[k] = unstable.Table
		}
	}
}

func keyParts(p *unstable.Parser, it unstable.Iterator) (parts []string, line int) {
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = p.Shape(n.Raw).Start.Line
		}
		parts = append(parts, string(n.Data))
	}
	return parts, line
}
