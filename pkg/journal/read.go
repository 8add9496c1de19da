// Package journal reads (and, elsewhere in the package, writes) the
// gateway's journal entries.
//
// Reading goes through journalctl --user-unit=UNIT -o json, not the C
// library (sdjournal needs cgo and libsystemd's headers); that form works
// for root and ordinary users alike.
//
// # Invocations
//
// Every start of a unit is an invocation with an id of its own, and an
// Entry carries the id of the invocation it belongs to:
//
//   - the user manager's own messages about the unit ("Starting…",
//     "Main process exited, code=exited, status=1/FAILURE", "Stopped…")
//     carry it as USER_INVOCATION_ID, next to USER_UNIT;
//   - lines of the unit's processes (stdout, stderr, native protocol)
//     carry it as _SYSTEMD_INVOCATION_ID, next to _SYSTEMD_USER_UNIT.
//     journald (systemd ≥ 245) finds it through the symlink the user
//     manager keeps at /run/user/UID/systemd/units/invocation:UNIT, so it
//     is missing where XDG_RUNTIME_DIR is elsewhere (as in scripts/sandbox)
//     or systemd is older. Such lines are given the invocation of their
//     stdout stream (_STREAM_ID) or process (_PID) when an earlier line
//     told it, else that of the manager's messages around them: the run
//     in progress, or, once the manager said it is over ("Stopped",
//     "Failed with result", …), the next one. That is right but for a
//     line racing a restart in journald's queue.
//
// Never use _SYSTEMD_INVOCATION_ID of the manager's messages: it is the
// invocation of user@UID.service, the manager itself.
package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Entry is one journal entry.
type Entry struct {
	// Time is when the entry was made: _SOURCE_REALTIME_TIMESTAMP when the
	// sender gave it, else when journald received it.
	Time time.Time
	// Message is MESSAGE, with any invalid UTF-8 replaced by U+FFFD; the
	// bytes as logged are in Fields["MESSAGE"].
	Message string
	// Priority is the syslog priority, 0 (emerg) to 7 (debug); 6 (info)
	// when the entry has none.
	Priority int
	PID      int
	// InvocationID is the id of the run of the unit this entry belongs to
	// (see the package documentation), "" when it cannot be told.
	InvocationID string
	// Fields has every field of the entry, including journald's own
	// (__CURSOR, _PID, _SYSTEMD_USER_UNIT, …). A field logged more than
	// once keeps its first value; binary values are given as their bytes.
	Fields map[string]string
}

// Query says which entries of a unit to read.
type Query struct {
	// Unit is the user unit, e.g. "hermes-gateway.service" (".service" is
	// assumed without a suffix). Required.
	Unit string
	// Lines > 0 keeps the last Lines entries; 0 keeps all; < 0 none (for
	// Follow: only entries to come).
	Lines int
	// Since is passed to journalctl --since ("-1h", "today",
	// "2025-01-02 15:04:05", …).
	Since string
	// Invocation restricts the entries to one run of the unit: "" means
	// all; "current" the last invocation in the journal; "previous" the
	// one before it; anything else is an invocation id (32 hex digits).
	// "current" and "previous" are counted among the invocations since
	// Since when Since is set.
	Invocation string
	// Follow must be false for Read; Follow follows whatever it says.
	Follow bool
	// Match keeps only entries whose fields have these exact values, e.g.
	// {"HERMES_EVENT": "exit"}.
	Match map[string]string
}

// Errors Read, Follow and Invocations wrap.
var (
	// ErrNoJournalctl: journalctl is not installed (or not in PATH).
	ErrNoJournalctl = errors.New("journalctl not found in PATH: reading the gateway's logs needs systemd's journalctl (Debian/Ubuntu package systemd)")
	// ErrNoInvocation: the invocation asked for is not in the journal.
	ErrNoInvocation = errors.New("no such invocation in the journal")
	// ErrNoAccess: journalctl found nothing and said the user cannot read
	// all of the journal.
	ErrNoAccess = errors.New("cannot read the journal files holding these entries")
)

// Read returns the entries of the unit that q selects, oldest first.
func Read(ctx context.Context, q Query) ([]Entry, error) {
	if q.Follow {
		return nil, errors.New("journal.Read: Query.Follow is set; use journal.Follow")
	}
	if err := checkQuery(q); err != nil {
		return nil, err
	}
	if q.Lines < 0 {
		return nil, nil
	}
	if q.Invocation == "" {
		args := append(baseArgs(q.Unit), sinceArgs(q.Since)...)
		if q.Lines > 0 {
			args = append(args, linesArg(q.Lines))
		}
		args = append(args, matchArgs(q.Match)...)
		var out []Entry
		err := runJournalctl(ctx, args, true, func(e Entry) error {
			out = append(out, e)
			return nil
		})
		if err != nil {
			return nil, err
		}
		newAttributor(q.Unit, q.Lines == 0 && q.Since == "").assignAll(out)
		return out, nil
	}
	r, err := readInvocation(ctx, q)
	if err != nil {
		return nil, err
	}
	return r.entries, nil
}

// Follow calls fn with the entries q selects, oldest first, then with each
// new one as journald gets it, until ctx ends (it returns ctx's error) or
// fn returns an error (it returns that error).
//
// With Invocation "current", following goes on into later invocations
// (a restart's lines keep coming); with "previous" or an id it keeps to
// that invocation.
func Follow(ctx context.Context, q Query, fn func(Entry) error) error {
	if err := checkQuery(q); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if q.Invocation == "" {
		args := append(baseArgs(q.Unit), "--follow")
		args = append(args, sinceArgs(q.Since)...)
		switch {
		case q.Lines > 0:
			args = append(args, linesArg(q.Lines))
		case q.Lines == 0:
			args = append(args, linesArg(-1))
		default:
			args = append(args, linesArg(0)) // nothing from before
		}
		args = append(args, matchArgs(q.Match)...)
		a := newAttributor(q.Unit, q.Lines == 0 && q.Since == "")
		err := runJournalctl(ctx, args, false, func(e Entry) error {
			a.assign(&e)
			return fn(e)
		})
		return followEnd(ctx, err)
	}

	r, err := readInvocation(ctx, q)
	if err != nil {
		return err
	}
	if q.Lines >= 0 {
		for _, e := range r.entries {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	args := append(baseArgs(q.Unit), "--follow", linesArg(-1), "--after-cursor="+r.cursor)
	targetIdx := slices.Index(r.attr.order, r.target)
	err = runJournalctl(ctx, args, false, func(e Entry) error {
		r.attr.assign(&e)
		keep := e.InvocationID == r.target
		if q.Invocation == "current" && !keep {
			// A later invocation (a restart), or a line that cannot be
			// placed: show it rather than hide it.
			keep = e.InvocationID == "" || slices.Index(r.attr.order, e.InvocationID) > targetIdx
		}
		if keep && matches(e, q.Match) {
			return fn(e)
		}
		return nil
	})
	return followEnd(ctx, err)
}

func followEnd(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		return errors.New("journalctl --follow stopped unexpectedly")
	}
	return err
}

// Invocations returns the ids of the unit's invocations found in the
// journal, oldest first.
func Invocations(ctx context.Context, unit string) ([]string, error) {
	if err := checkQuery(Query{Unit: unit}); err != nil {
		return nil, err
	}
	args := append(baseArgs(unit), "--output-fields="+strings.Join(attributionFields, ","))
	var all []Entry
	err := runJournalctl(ctx, args, true, func(e Entry) error {
		all = append(all, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	a := newAttributor(unit, true)
	a.assignAll(all)
	return a.order, nil
}

type invocationRead struct {
	entries []Entry
	target  string
	cursor  string // of the last entry journalctl gave, whichever invocation
	attr    *attributor
}

// readInvocation reads all of the unit's entries (since q.Since), places
// them, and keeps those of the invocation q asks for.
func readInvocation(ctx context.Context, q Query) (*invocationRead, error) {
	r := &invocationRead{attr: newAttributor(q.Unit, q.Since == "")}
	var all []Entry
	args := append(baseArgs(q.Unit), sinceArgs(q.Since)...)
	err := runJournalctl(ctx, args, true, func(e Entry) error {
		r.cursor = e.Fields["__CURSOR"]
		all = append(all, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.attr.assignAll(all)
	unit := r.attr.unit
	order := r.attr.order
	switch q.Invocation {
	case "current":
		if len(order) == 0 {
			return nil, fmt.Errorf("%w: %s has no invocation in the journal", ErrNoInvocation, unit)
		}
		r.target = order[len(order)-1]
	case "previous":
		if len(order) < 2 {
			return nil, fmt.Errorf("%w: %s has no previous invocation in the journal (%d found)", ErrNoInvocation, unit, len(order))
		}
		r.target = order[len(order)-2]
	default:
		r.target = normalizeID(q.Invocation)
		if !slices.Contains(order, r.target) {
			return nil, fmt.Errorf("%w: invocation %s of %s not found", ErrNoInvocation, q.Invocation, unit)
		}
	}
	for _, e := range all {
		if e.InvocationID == r.target && matches(e, q.Match) {
			r.entries = append(r.entries, e)
		}
	}
	if q.Lines > 0 && len(r.entries) > q.Lines {
		r.entries = r.entries[len(r.entries)-q.Lines:]
	}
	return r, nil
}

func checkQuery(q Query) error {
	if q.Unit == "" {
		return errors.New("journal: Query.Unit is empty")
	}
	if strings.ContainsAny(q.Unit, "*?[") {
		return fmt.Errorf("journal: %q: unit patterns are not supported, name one unit", q.Unit)
	}
	switch q.Invocation {
	case "", "current", "previous":
	default:
		if len(normalizeID(q.Invocation)) != 32 {
			return fmt.Errorf("journal: invocation %q is neither current, previous nor a 32-hex-digit id", q.Invocation)
		}
		if _, err := hex.DecodeString(normalizeID(q.Invocation)); err != nil {
			return fmt.Errorf("journal: invocation %q is neither current, previous nor a 32-hex-digit id", q.Invocation)
		}
	}
	for k := range q.Match {
		if k == "" || strings.ContainsAny(k, "=+ ") {
			return fmt.Errorf("journal: bad match field name %q", k)
		}
	}
	return nil
}

// normalizeID accepts ids with dashes or upper case (UUID style).
func normalizeID(id string) string {
	return strings.ToLower(strings.ReplaceAll(id, "-", ""))
}

// unitName completes a unit name as journalctl does: no suffix means
// .service.
func unitName(u string) string {
	if i := strings.LastIndexByte(u, '.'); i > 0 {
		switch u[i+1:] {
		case "service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope":
			return u
		}
	}
	return u + ".service"
}

func baseArgs(unit string) []string {
	return []string{"--user-unit=" + unitName(unit), "--output=json", "--all", "--no-pager"}
}

func sinceArgs(since string) []string {
	if since == "" {
		return nil
	}
	return []string{"--since=" + since}
}

// linesArg: n >= 0 the last n entries, n < 0 all of them.
func linesArg(n int) string {
	if n < 0 {
		return "--lines=all"
	}
	return "--lines=" + strconv.Itoa(n)
}

func matchArgs(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out
}

func matches(e Entry, m map[string]string) bool {
	for k, v := range m {
		got, ok := e.Fields[k]
		if !ok || got != v {
			return false
		}
	}
	return true
}

// runJournalctl runs journalctl with args and calls fn with each entry.
// With readAll, journalctl is expected to end by itself; a run that shows
// nothing and complains about access gives ErrNoAccess.
func runJournalctl(ctx context.Context, args []string, readAll bool, fn func(Entry) error) error {
	path, err := exec.LookPath("journalctl")
	if err != nil {
		return ErrNoJournalctl
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Should anything journalctl started hold its output open after it is
	// killed, do not wait for it.
	cmd.WaitDelay = time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting journalctl: %w", err)
	}
	n := 0
	var fnErr error
	r := bufio.NewReaderSize(stdout, 64*1024)
	for {
		line, rerr := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			e, perr := parseEntry(line)
			if perr != nil {
				fnErr = fmt.Errorf("journalctl %s: %w", strings.Join(args, " "), perr)
				break
			}
			n++
			if fnErr = fn(e); fnErr != nil {
				break
			}
		}
		if rerr != nil {
			break
		}
	}
	if fnErr != nil {
		cancel()
		_ = cmd.Wait()
		return fnErr
	}
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if werr != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = "no message"
		}
		return fmt.Errorf("journalctl %s failed (%v): %s", strings.Join(args, " "), werr, msg)
	}
	if readAll && n == 0 && strings.Contains(stderr.String(), "not seeing messages") {
		return fmt.Errorf("%w: journalctl found nothing for %s and said: %s. "+
			"Without a persistent journal (/var/log/journal) user units' lines go to the system journal, "+
			"which only root and the groups systemd-journal and adm may read: add the user to systemd-journal, "+
			"or create /var/log/journal and restart systemd-journald",
			ErrNoAccess, args[0][len("--user-unit="):], strings.Join(strings.Fields(stderr.String()), " "))
	}
	return nil
}

// Decode reads journalctl -o json output of unit (one entry a line, in
// journal order) and places each entry in its invocation as Read does:
// for tests and tools that keep a journal's output in a file.
func Decode(r io.Reader, unit string, fromStart bool) ([]Entry, error) {
	var out []Entry
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			e, perr := parseEntry(line)
			if perr != nil {
				return nil, perr
			}
			out = append(out, e)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	newAttributor(unit, fromStart).assignAll(out)
	return out, nil
}

// FromSystemd reports whether systemd wrote the entry rather than the
// unit's own program: the manager's lines about the unit ("Main process
// exited…", "Failed with result…") and those of the process systemd forks
// to set up the unit's sandbox before it runs the program ("Failed at step
// NAMESPACE spawning…"), which are all a unit that never ran has.
func (e Entry) FromSystemd() bool {
	comm := e.Fields["_COMM"]
	return e.Fields["USER_UNIT"] != "" || comm == "systemd" || comm == "systemd-executor" || strings.HasPrefix(comm, "(")
}

// ReadRun reads the lines of one run of a unit that has ended (q names the
// run: an invocation, or Since). The job that ran it can report before
// journald has stored the run's last lines (systemd's "Failed with
// result…" among them): it reads again, for up to two seconds, until the
// line that ends the run is there, and returns what it has either way.
func ReadRun(ctx context.Context, q Query) []Entry {
	var es []Entry
	for i := 0; i < 20; i++ {
		var err error
		es, err = Read(ctx, q)
		if err == nil && slices.ContainsFunc(es, func(e Entry) bool { return e.EndsRun(q.Unit) }) {
			return es
		}
		select {
		case <-ctx.Done():
			return es
		case <-time.After(100 * time.Millisecond): // journald has no signal for "stored"
		}
	}
	return es
}

// EndsRun reports whether the entry is the manager saying a run of unit is
// over ("Stopped", "Deactivated successfully", "Failed with result…",
// "Failed to start…"): after it, the run's lines are all in the journal.
func (e Entry) EndsRun(unit string) bool {
	return e.Fields["USER_UNIT"] == unitName(unit) && endMessageIDs[e.Fields["MESSAGE_ID"]]
}

// parseEntry decodes one line of journalctl -o json.
func parseEntry(line []byte) (Entry, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return Entry{}, fmt.Errorf("unreadable entry %.80q: %w", line, err)
	}
	e := Entry{Fields: make(map[string]string, len(raw)), Priority: 6}
	for k, v := range raw {
		s, err := fieldValue(v)
		if err != nil {
			return Entry{}, fmt.Errorf("field %s of entry %.80q: %w", k, line, err)
		}
		e.Fields[k] = s
	}
	msg := e.Fields["MESSAGE"]
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	e.Message = msg
	if p, err := strconv.Atoi(e.Fields["PRIORITY"]); err == nil && p >= 0 && p <= 7 {
		e.Priority = p
	}
	e.PID, _ = strconv.Atoi(e.Fields["_PID"])
	ts := e.Fields["_SOURCE_REALTIME_TIMESTAMP"]
	if ts == "" {
		ts = e.Fields["__REALTIME_TIMESTAMP"]
	}
	if us, err := strconv.ParseInt(ts, 10, 64); err == nil {
		e.Time = time.UnixMicro(us)
	}
	return e, nil
}

// fieldValue decodes a field as journalctl writes it: a string; an array
// of byte values (not valid UTF-8, or binary); null (too large, not with
// --all); or, for a field logged more than once, an array of those.
func fieldValue(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || string(v) == "null":
		return "", nil
	case v[0] == '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case v[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return "", err
		}
		if len(items) == 0 {
			return "", nil
		}
		if c := bytes.TrimSpace(items[0]); len(c) > 0 && (c[0] == '-' || c[0] >= '0' && c[0] <= '9') {
			var bs []int
			if err := json.Unmarshal(v, &bs); err != nil {
				return "", err
			}
			b := make([]byte, len(bs))
			for i, x := range bs {
				if x < 0 || x > 255 {
					return "", fmt.Errorf("byte value %d out of range", x)
				}
				b[i] = byte(x)
			}
			return string(b), nil
		}
		// Several values: the first.
		return fieldValue(items[0])
	default:
		return "", fmt.Errorf("unexpected value %.40s", v)
	}
}

// attributionFields are the fields the attributor looks at.
var attributionFields = []string{
	"USER_UNIT", "USER_INVOCATION_ID", "MESSAGE_ID",
	"_SYSTEMD_USER_UNIT", "_SYSTEMD_INVOCATION_ID",
	"OBJECT_SYSTEMD_USER_UNIT", "OBJECT_SYSTEMD_INVOCATION_ID",
	"_STREAM_ID", "_PID",
}

// The manager's messages that say a run of a unit is over (systemd's
// catalog ids): "Stopped X.", "Deactivated successfully.", "Failed with
// result …", "Failed to start X.".
var endMessageIDs = map[string]bool{
	"9d1aaa27d60140bd96365438aad20286": true,
	"7ad2d189f7e94e70a38c781354912448": true,
	"d9b373ed55a64feb8242e02dbe79a49c": true,
	"be02cf6855d2428ba40df7e9d022f03d": true,
}

// maxPending bounds the lines a follow keeps waiting for an invocation.
const maxPending = 1000

// attributor places entries of one unit, given in journal order, in the
// unit's invocations (see the package documentation).
//
// For the processes' lines journald did not tag, in that order: the
// invocation of their stdout stream, or of their process, if an earlier
// line told it; else, while the current invocation runs, that one; else
// (it has ended: the line of a new process racing the manager's first
// message about the next run) the next invocation to appear. Until that
// appears, such a line has no invocation; assignAll fills it in, assign
// (for following) cannot.
type attributor struct {
	unit    string
	current string            // the invocation of the last entry that said
	ended   bool              // the manager said current is over (or there is none yet)
	streams map[string]string // _STREAM_ID → invocation
	pids    map[string]string // _PID → invocation, for the unit's processes
	order   []string          // invocations by first appearance
	pending []*Entry          // waiting for the next invocation
}

// newAttributor: fromStart says the entries begin at the start of the
// unit's journal (no --since, no --lines), so that untagged lines before
// the first invocation appears are that invocation's; otherwise they may
// be of one whose messages fell outside the window, and stay unplaced.
func newAttributor(unit string, fromStart bool) *attributor {
	return &attributor{unit: unitName(unit), ended: fromStart, streams: map[string]string{}, pids: map[string]string{}}
}

// assignAll places entries given in journal order, all of them known.
func (a *attributor) assignAll(es []Entry) {
	for i := range es {
		a.assign(&es[i])
	}
	a.pending = nil
}

func (a *attributor) assign(e *Entry) {
	f := e.Fields
	fromUnit := f["_SYSTEMD_USER_UNIT"] == a.unit
	id := ""
	switch {
	case f["USER_UNIT"] == a.unit && f["USER_INVOCATION_ID"] != "":
		id = f["USER_INVOCATION_ID"]
	case fromUnit && f["_SYSTEMD_INVOCATION_ID"] != "":
		id = f["_SYSTEMD_INVOCATION_ID"]
	case f["OBJECT_SYSTEMD_USER_UNIT"] == a.unit && f["OBJECT_SYSTEMD_INVOCATION_ID"] != "":
		id = f["OBJECT_SYSTEMD_INVOCATION_ID"]
	}
	if id != "" {
		id = normalizeID(id)
		if id != a.current {
			a.current, a.ended = id, false
			if !slices.Contains(a.order, id) {
				a.order = append(a.order, id)
			}
			for _, p := range a.pending {
				p.InvocationID = id
				a.remember(p.Fields, id)
			}
			a.pending = nil
		}
		if f["USER_UNIT"] == a.unit && endMessageIDs[f["MESSAGE_ID"]] {
			a.ended = true
		}
	} else if fromUnit {
		// A line of the unit's processes that journald did not tag.
		if s := f["_STREAM_ID"]; s != "" && a.streams[s] != "" {
			id = a.streams[s]
		} else if p := f["_PID"]; p != "" && a.recent(a.pids[p]) {
			id = a.pids[p]
		} else if !a.ended {
			id = a.current
		} else {
			if len(a.pending) == maxPending {
				a.pending = a.pending[1:]
			}
			a.pending = append(a.pending, e)
		}
	}
	if fromUnit && id != "" {
		a.remember(f, id)
	}
	e.InvocationID = id
}

// remember maps the stream and process of a line of the unit's processes
// to its invocation.
func (a *attributor) remember(f map[string]string, id string) {
	if s := f["_STREAM_ID"]; s != "" {
		a.streams[s] = id
	}
	if p := f["_PID"]; p != "" {
		a.pids[p] = id
	}
}

// recent: a process's invocation is only trusted while it is the last or
// the one before (a PID can be reused much later).
func (a *attributor) recent(id string) bool {
	if id == "" {
		return false
	}
	i := slices.Index(a.order, id)
	return i >= 0 && i >= len(a.order)-2
}
