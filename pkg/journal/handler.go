package journal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	sdjournal "github.com/coreos/go-systemd/v22/journal"
)

// NewLogger returns the gateway's logger: native journald entries (with
// PRIORITY and every attribute as a field) when stderr is the journal
// stream, text on w otherwise (a terminal, a test).
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	if ok, _ := sdjournal.StderrIsJournalStream(); ok && sdjournal.Enabled() {
		return slog.New(NewHandler(w, level))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// LastWords writes msg to w (the process's stderr) as an error line when
// stderr is the journal stream, and does nothing otherwise (on a terminal
// the logger already wrote it there). A process that is about to exit with
// an error calls it after logging msg: journald ties a native entry to its
// unit by reading the sender's /proc entry when it gets to the datagram,
// and a process already gone by then leaves the entry without its unit, so
// `hermes gateway logs` would not show why it failed. A stream's lines are
// tied to the unit when the stream is opened, so this copy always is. The
// reason is then in the journal twice; that is the price of never missing.
func LastWords(w io.Writer, msg string) {
	if ok, _ := sdjournal.StderrIsJournalStream(); !ok {
		return
	}
	fmt.Fprintf(w, "<3>%s\n", strings.ReplaceAll(msg, "\n", " "))
}

// Handler is a slog.Handler that writes to journald natively. Attributes
// become fields: upper-cased, with every character journald does not allow
// in a name replaced by '_' (so "update_id" is UPDATE_ID and a group "http"
// with "status" is HTTP_STATUS); the message is MESSAGE, the level PRIORITY.
// If journald cannot be reached the entry is written as text to the
// fallback writer instead, so no line is lost.
type Handler struct {
	level    slog.Leveler
	ident    string
	attrs    []slog.Attr
	groups   []string
	fallback slog.Handler
	send     func(msg string, p sdjournal.Priority, vars map[string]string) error
}

// NewHandler writes to journald, falling back to text on w.
func NewHandler(w io.Writer, level slog.Leveler) *Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &Handler{
		level:    level,
		ident:    filepath.Base(os.Args[0]),
		fallback: slog.NewTextHandler(&lockedWriter{w: w}, &slog.HandlerOptions{Level: level}),
		send:     sdjournal.Send,
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), qualify(h.groups, as)...)
	c.fallback = h.fallback.WithAttrs(as)
	return &c
}

func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.groups = append(append([]string(nil), h.groups...), name)
	c.fallback = h.fallback.WithGroup(name)
	return &c
}

// qualify prefixes attribute keys with the open groups.
func qualify(groups []string, as []slog.Attr) []slog.Attr {
	if len(groups) == 0 {
		return as
	}
	out := make([]slog.Attr, len(as))
	prefix := strings.Join(groups, "_") + "_"
	for i, a := range as {
		out[i] = slog.Attr{Key: prefix + a.Key, Value: a.Value}
	}
	return out
}

func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": h.ident}
	// MESSAGE keeps the details too (key=value, as the text handler writes
	// them), so a plain `journalctl` or `hermes gateway logs` shows them;
	// the fields are for filtering.
	msg := strings.Builder{}
	msg.WriteString(r.Message)
	add := func(a slog.Attr) {
		addField(vars, "", a)
		if a.Key == "HERMES_EVENT" || a.Key == "MESSAGE_ID" {
			return
		}
		appendText(&msg, "", a)
	}
	for _, a := range h.attrs {
		add(a)
	}
	var own []slog.Attr
	r.Attrs(func(a slog.Attr) bool { own = append(own, a); return true })
	for _, a := range qualify(h.groups, own) {
		add(a)
	}
	if err := h.send(msg.String(), Priority(r.Level), vars); err != nil {
		return h.fallback.Handle(ctx, r)
	}
	return nil
}

// appendText adds " key=value" (value quoted when it has spaces or quotes).
func appendText(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	key := a.Key
	if prefix != "" {
		key = prefix + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			appendText(b, key, g)
		}
		return
	}
	v := a.Value.String()
	if err, ok := a.Value.Any().(error); ok && a.Value.Kind() == slog.KindAny {
		v = err.Error()
	}
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		v = strconv.Quote(v)
	}
	b.WriteString(" " + key + "=" + v)
}

// Priority maps a slog level to a syslog priority.
func Priority(l slog.Level) sdjournal.Priority {
	switch {
	case l >= slog.LevelError:
		return sdjournal.PriErr
	case l >= slog.LevelWarn:
		return sdjournal.PriWarning
	case l >= slog.LevelInfo:
		return sdjournal.PriInfo
	default:
		return sdjournal.PriDebug
	}
}

func addField(vars map[string]string, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	key := a.Key
	if prefix != "" {
		key = prefix + "_" + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			addField(vars, key, g)
		}
		return
	}
	name := FieldName(key)
	if name == "" {
		return
	}
	var v string
	switch a.Value.Kind() {
	case slog.KindTime:
		v = a.Value.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			v = err.Error()
		} else {
			v = fmt.Sprint(a.Value.Any())
		}
	default:
		v = a.Value.String()
	}
	vars[name] = v
}

// FieldName turns an attribute key into a journald field name: upper case,
// only A-Z, 0-9 and '_', starting with a letter (a leading '_' would claim
// to be a trusted field, which journald refuses), at most 64 characters.
// Keys journald itself owns (MESSAGE, PRIORITY) are prefixed with ATTR_ so
// an attribute cannot overwrite them.
func FieldName(key string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(key) {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	name := strings.TrimLeft(b.String(), "_0123456789")
	if name == "" {
		return ""
	}
	switch name {
	case "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC":
		name = "ATTR_" + name
	}
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}
