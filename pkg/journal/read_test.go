package journal

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	unit  = "hermes-gateway.service"
	invA  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	invB  = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	invC  = "cccccccccccccccccccccccccccccccc"
	invMg = "99999999999999999999999999999999" // user@UID.service's own
)

var seq int

// mgr is a message of the user manager about the unit.
func mgr(inv, msg string) map[string]any {
	e := map[string]any{
		"MESSAGE": msg, "USER_UNIT": unit, "USER_INVOCATION_ID": inv,
		"_SYSTEMD_UNIT": "user@1000.service", "_SYSTEMD_USER_UNIT": "init.scope",
		"_SYSTEMD_INVOCATION_ID": invMg, "_PID": "900", "PRIORITY": "6",
	}
	for prefix, id := range map[string]string{
		"Starting":              "7d4958e842da4a758f6c1cdc7b36dcc5",
		"Started":               "39f53479d3a045ac8e11786248231fbf",
		"Stopping":              "de5b426a63be47a7b6ac3eaac82e2f6f",
		"Stopped":               "9d1aaa27d60140bd96365438aad20286",
		unit + ": Main process": "98e322203f7a4ed290d09fe03c09fe15",
		unit + ": Failed with":  "d9b373ed55a64feb8242e02dbe79a49c",
		unit + ": Deactivated":  "7ad2d189f7e94e70a38c781354912448",
		"Failed to start":       "be02cf6855d2428ba40df7e9d022f03d",
	} {
		if strings.HasPrefix(msg, prefix) {
			e["MESSAGE_ID"] = id
		}
	}
	return stamp(e)
}

// proc is a line of one of the unit's processes; inv "" leaves out
// _SYSTEMD_INVOCATION_ID (as where journald cannot find it), stream ""
// makes it a native-protocol line.
func proc(inv, pid, stream string, msg any) map[string]any {
	e := map[string]any{"MESSAGE": msg, "_SYSTEMD_USER_UNIT": unit, "_SYSTEMD_UNIT": "user@1000.service", "_PID": pid, "PRIORITY": "6"}
	if inv != "" {
		e["_SYSTEMD_INVOCATION_ID"] = inv
	}
	if stream != "" {
		e["_STREAM_ID"] = stream
		e["_TRANSPORT"] = "stdout"
	}
	return stamp(e)
}

func stamp(e map[string]any) map[string]any {
	seq++
	e["__CURSOR"] = "s=1;i=" + string(rune('a'+seq%26)) + strings.Repeat("x", seq/26)
	e["__REALTIME_TIMESTAMP"] = "1700000000" + pad6(seq)
	return e
}

func pad6(n int) string {
	s := strings.Repeat("0", 6) + itoa(n)
	return s[len(s)-6:]
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func jsonLines(t *testing.T, entries ...map[string]any) string {
	t.Helper()
	var b strings.Builder
	for _, e := range entries {
		j, err := json.Marshal(e)
		require.NoError(t, err)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// fake puts a journalctl in PATH that writes its arguments to a file, one
// call a line, and stderr to its stderr; then prints out and exits with rc,
// but with --follow prints out and follow and waits to be killed, and with
// --after-cursor prints only follow and waits.
type fake struct {
	dir, args string
}

func newFake(t *testing.T, out, follow, stderr string, rc int) *fake {
	t.Helper()
	dir := t.TempDir()
	f := &fake{dir: dir, args: filepath.Join(dir, "args")}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "out"), []byte(out), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "follow"), []byte(follow), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stderr"), []byte(stderr), 0o644))
	script := `#!/bin/sh
echo "$*" >> "` + f.args + `"
cat "` + dir + `/stderr" >&2
case " $* " in *" --follow "*) follow=1;; esac
case " $* " in *" --after-cursor="*) cat "` + dir + `/follow"; exec sleep 3600;; esac
cat "` + dir + `/out"
[ "` + itoa(rc) + `" = 0 ] || exit ` + itoa(rc) + `
if [ -n "$follow" ]; then cat "` + dir + `/follow"; exec sleep 3600; fi
`
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.Mkdir(bin, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "journalctl"), []byte(script), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+"/usr/bin:/bin")
	return f
}

func (f *fake) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(f.args)
	require.NoError(t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func messages(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Message
	}
	return out
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestParseEntry(t *testing.T) {
	line := `{"MESSAGE":[98,97,100,32,255,32,98,121,116,101],"PRIORITY":"3","_PID":"4242",` +
		`"__REALTIME_TIMESTAMP":"1700000000000002","_SOURCE_REALTIME_TIMESTAMP":"1700000000000001",` +
		`"TWICE":["first","second"],"BIN_TWICE":[[1,2],[3]],"BIG":null,"HERMES_EVENT":"exit"}`
	e, err := parseEntry([]byte(line))
	require.NoError(t, err)
	require.Equal(t, "bad \uFFFD byte", e.Message)
	require.Equal(t, "bad \xff byte", e.Fields["MESSAGE"])
	require.Equal(t, 3, e.Priority)
	require.Equal(t, 4242, e.PID)
	require.True(t, time.UnixMicro(1700000000000001).Equal(e.Time), "the sender's time wins")
	require.Equal(t, "first", e.Fields["TWICE"])
	require.Equal(t, "\x01\x02", e.Fields["BIN_TWICE"])
	require.Equal(t, "", e.Fields["BIG"])
	require.Equal(t, "exit", e.Fields["HERMES_EVENT"])

	e, err = parseEntry([]byte(`{"MESSAGE":"plain","__REALTIME_TIMESTAMP":"1700000000000002"}`))
	require.NoError(t, err)
	require.Equal(t, "plain", e.Message)
	require.Equal(t, 6, e.Priority, "no PRIORITY: info")
	require.Zero(t, e.PID)
	require.True(t, time.UnixMicro(1700000000000002).Equal(e.Time))

	_, err = parseEntry([]byte(`{"MESSAGE":`))
	require.Error(t, err)
	_, err = parseEntry([]byte(`{"MESSAGE":[300]}`))
	require.Error(t, err)
}

// As on a real machine: journald tags the processes' lines.
func taggedJournal(t *testing.T) string {
	return jsonLines(t,
		mgr(invA, "Starting hermes-gateway.service..."),
		proc(invA, "1001", "s1", "hello from A"),
		mgr(invA, "Started hermes-gateway.service."),
		mgr(invA, "Stopping hermes-gateway.service..."),
		mgr(invA, "hermes-gateway.service: Main process exited, code=exited, status=75/TEMPFAIL"),
		mgr(invA, "Stopped hermes-gateway.service."),
		mgr(invB, "Starting hermes-gateway.service..."),
		proc(invA, "1001", "s1", "late line from A"),
		proc(invB, "1002", "s2", "hello from B"),
		proc(invB, "1002", "", "native line from B"),
		mgr(invB, "Started hermes-gateway.service."),
	)
}

// As in the sandbox (XDG_RUNTIME_DIR not under /run/user): no
// _SYSTEMD_INVOCATION_ID on the processes' lines.
func untaggedJournal(t *testing.T) string {
	return jsonLines(t,
		proc("", "1000", "s0", "A's line before the manager's first"),
		mgr(invA, "Starting hermes-gateway.service..."),
		proc("", "1001", "s1", "hello from A"),
		mgr(invA, "Started hermes-gateway.service."),
		proc("", "1001", "", "native line from A"),
		mgr(invA, "Stopping hermes-gateway.service..."),
		mgr(invA, "Stopped hermes-gateway.service."),
		mgr(invB, "Starting hermes-gateway.service..."),
		proc("", "1001", "s1", "late line from A"),
		proc("", "1001", "", "late native line from A"),
		proc("", "1002", "s2", "hello from B"),
		mgr(invB, "Started hermes-gateway.service."),
		proc("", "1002", "", "native line from B"),
	)
}

func TestReadInvocations(t *testing.T) {
	for name, journal := range map[string]func(*testing.T) string{"tagged": taggedJournal, "untagged": untaggedJournal} {
		t.Run(name, func(t *testing.T) {
			newFake(t, journal(t), "", "", 0)
			ids, err := Invocations(ctx(t), "hermes-gateway")
			require.NoError(t, err)
			require.Equal(t, []string{invA, invB}, ids)

			prev, err := Read(ctx(t), Query{Unit: unit, Invocation: "previous"})
			require.NoError(t, err)
			require.NotEmpty(t, prev)
			for _, e := range prev {
				require.Equal(t, invA, e.InvocationID, e.Message)
			}
			msgs := messages(prev)
			require.Contains(t, msgs, "hello from A")
			require.Contains(t, msgs, "late line from A")
			require.Contains(t, msgs, "Stopped hermes-gateway.service.")
			if name == "untagged" {
				// At the start of the journal: the first invocation's.
				require.Contains(t, msgs, "A's line before the manager's first")
				// With --since, the window may begin in any run: unplaced.
				es, err := Read(ctx(t), Query{Unit: unit, Since: "-1h"})
				require.NoError(t, err)
				require.Equal(t, "A's line before the manager's first", es[0].Message)
				require.Equal(t, "", es[0].InvocationID)
				require.Equal(t, invA, es[2].InvocationID, es[2].Message)
			}

			cur, err := Read(ctx(t), Query{Unit: unit, Invocation: "current"})
			require.NoError(t, err)
			msgs = messages(cur)
			require.Contains(t, msgs, "hello from B")
			require.Contains(t, msgs, "native line from B")
			require.NotContains(t, msgs, "hello from A")
			require.NotContains(t, msgs, "late line from A")

			byID, err := Read(ctx(t), Query{Unit: unit, Invocation: strings.ToUpper(invA)})
			require.NoError(t, err)
			require.Equal(t, messages(prev), messages(byID))

			last, err := Read(ctx(t), Query{Unit: unit, Invocation: "previous", Lines: 2})
			require.NoError(t, err)
			require.Equal(t, messages(prev)[len(prev)-2:], messages(last))

			exits, err := Read(ctx(t), Query{Unit: unit, Invocation: "current", Match: map[string]string{"USER_UNIT": unit}})
			require.NoError(t, err)
			require.Equal(t, []string{"Starting hermes-gateway.service...", "Started hermes-gateway.service."}, messages(exits))
		})
	}
}

func TestReadNoSuchInvocation(t *testing.T) {
	newFake(t, jsonLines(t, mgr(invA, "Starting hermes-gateway.service...")), "", "", 0)
	_, err := Read(ctx(t), Query{Unit: unit, Invocation: "previous"})
	require.ErrorIs(t, err, ErrNoInvocation)
	_, err = Read(ctx(t), Query{Unit: unit, Invocation: invC})
	require.ErrorIs(t, err, ErrNoInvocation)
	es, err := Read(ctx(t), Query{Unit: unit, Invocation: "current"})
	require.NoError(t, err)
	require.Len(t, es, 1)
}

func TestReadArgs(t *testing.T) {
	f := newFake(t, "", "", "", 0)
	_, err := Read(ctx(t), Query{Unit: "hermes-gateway", Lines: 5, Since: "-1h", Match: map[string]string{"HERMES_EVENT": "exit", "A": "b"}})
	require.NoError(t, err)
	require.Equal(t, []string{"--user-unit=hermes-gateway.service --output=json --all --no-pager --since=-1h --lines=5 A=b HERMES_EVENT=exit"}, f.calls(t))
}

func TestReadBadQueries(t *testing.T) {
	newFake(t, "", "", "", 0)
	for _, q := range []Query{
		{},
		{Unit: unit, Follow: true},
		{Unit: unit, Invocation: "last"},
		{Unit: unit, Invocation: "abc"},
		{Unit: "hermes-*"},
		{Unit: unit, Match: map[string]string{"A=B": "c"}},
	} {
		_, err := Read(ctx(t), q)
		require.Error(t, err, "%+v", q)
	}
}

func TestNoJournalctl(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Read(ctx(t), Query{Unit: unit})
	require.ErrorIs(t, err, ErrNoJournalctl)
	require.Contains(t, err.Error(), "journalctl not found")
	_, err = Invocations(ctx(t), unit)
	require.ErrorIs(t, err, ErrNoJournalctl)
	err = Follow(ctx(t), Query{Unit: unit}, func(Entry) error { return nil })
	require.ErrorIs(t, err, ErrNoJournalctl)
}

func TestJournalctlFails(t *testing.T) {
	newFake(t, "", "", "Failed to parse timestamp: garbage", 1)
	_, err := Read(ctx(t), Query{Unit: unit, Since: "garbage"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "journalctl")
	require.Contains(t, err.Error(), "Failed to parse timestamp: garbage")
}

func TestJournalctlPrintsGarbage(t *testing.T) {
	newFake(t, "not json\n", "", "", 0)
	_, err := Read(ctx(t), Query{Unit: unit})
	require.ErrorContains(t, err, "unreadable entry")
}

func TestNoAccess(t *testing.T) {
	hint := "Hint: You are currently not seeing messages from other users and the system.\n" +
		"      Users in groups 'adm', 'systemd-journal' can see all messages.\n" +
		"      Pass -q to turn off this notice."
	newFake(t, "", "", hint, 0)
	_, err := Read(ctx(t), Query{Unit: unit})
	require.ErrorIs(t, err, ErrNoAccess)
	require.Contains(t, err.Error(), "systemd-journal")

	// With entries, the same hint is only a hint.
	newFake(t, jsonLines(t, mgr(invA, "Starting")), "", hint, 0)
	es, err := Read(ctx(t), Query{Unit: unit})
	require.NoError(t, err)
	require.Len(t, es, 1)
}

func TestFollow(t *testing.T) {
	f := newFake(t, taggedJournal(t), jsonLines(t, proc(invB, "1002", "s2", "new line")), "", 0)
	errStop := errors.New("stop")
	var got []Entry
	err := Follow(ctx(t), Query{Unit: unit, Lines: 3}, func(e Entry) error {
		got = append(got, e)
		if e.Message == "new line" {
			return errStop
		}
		return nil
	})
	require.ErrorIs(t, err, errStop)
	require.Equal(t, "new line", got[len(got)-1].Message)
	require.Equal(t, invB, got[len(got)-1].InvocationID)
	require.Equal(t, []string{"--user-unit=hermes-gateway.service --output=json --all --no-pager --follow --lines=3"}, f.calls(t))
}

func TestFollowCancelled(t *testing.T) {
	newFake(t, taggedJournal(t), "", "", 0)
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err := Follow(c, Query{Unit: unit, Lines: -1}, func(e Entry) error {
		n++
		if n == 2 {
			cancel()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
}

func TestFollowCurrentInvocation(t *testing.T) {
	// After the backlog of the current invocation, the following goes on
	// after the last entry read, and into the next invocation.
	follow := jsonLines(t,
		proc(invB, "1002", "s2", "more from B"),
		mgr(invB, "Stopped hermes-gateway.service."),
		mgr(invC, "Starting hermes-gateway.service..."),
		proc(invC, "1003", "s3", "hello from C"),
	)
	f := newFake(t, taggedJournal(t), follow, "", 0)
	var got []string
	err := Follow(ctx(t), Query{Unit: unit, Invocation: "current"}, func(e Entry) error {
		got = append(got, e.Message)
		if e.Message == "hello from C" {
			return errors.New("done")
		}
		return nil
	})
	require.EqualError(t, err, "done")
	require.Equal(t, []string{
		"Starting hermes-gateway.service...", "hello from B", "native line from B", "Started hermes-gateway.service.",
		"more from B", "Stopped hermes-gateway.service.", "Starting hermes-gateway.service...", "hello from C",
	}, got)
	calls := f.calls(t)
	require.Len(t, calls, 2)
	require.Contains(t, calls[1], "--follow --lines=all --after-cursor=")

	// "previous" keeps to its invocation.
	f = newFake(t, taggedJournal(t), jsonLines(t, proc(invA, "1001", "s1", "very late A"), proc(invB, "1002", "s2", "more from B")), "", 0)
	got = nil
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	err = Follow(c, Query{Unit: unit, Invocation: "previous", Lines: -1}, func(e Entry) error {
		got = append(got, e.Message)
		cancel()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []string{"very late A"}, got)
}

// Untagged lines around the end of a run: a new process's line that
// journald took before the manager's "Starting" of its run belongs to that
// run; an ExecStopPost's line before the "Stopped" to the run ending.
func TestUntaggedRace(t *testing.T) {
	newFake(t, jsonLines(t,
		mgr(invA, "Starting hermes-gateway.service..."),
		proc("", "1001", "s1", "hello from A"),
		mgr(invA, "Started hermes-gateway.service."),
		mgr(invA, unit+": Main process exited, code=exited, status=1/FAILURE"),
		proc("", "1005", "s5", "stop-post of A"),
		mgr(invA, unit+": Failed with result 'exit-code'."),
		proc("", "1002", "s2", "hello from B, early"),
		proc("", "1002", "s2", "more from B, early"),
		proc("", "1002", "", "native from B, early"),
		mgr(invB, "Starting hermes-gateway.service..."),
		proc("", "1002", "s2", "hello again from B"),
		mgr(invB, "Started hermes-gateway.service."),
	), "", "", 0)
	es, err := Read(ctx(t), Query{Unit: unit})
	require.NoError(t, err)
	got := map[string]string{}
	for _, e := range es {
		got[e.Message] = e.InvocationID
	}
	require.Equal(t, invA, got["hello from A"])
	require.Equal(t, invA, got["stop-post of A"])
	require.Equal(t, invB, got["hello from B, early"])
	require.Equal(t, invB, got["more from B, early"])
	require.Equal(t, invB, got["native from B, early"])
	require.Equal(t, invB, got["hello again from B"])

	cur, err := Read(ctx(t), Query{Unit: unit, Invocation: "current"})
	require.NoError(t, err)
	require.Equal(t, "hello from B, early", cur[0].Message)
}

func TestFromSystemd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]string
		want   bool
	}{
		{"the manager about the unit", map[string]string{"_COMM": "systemd", "USER_UNIT": "hermes-gateway.service", "_SYSTEMD_USER_UNIT": "init.scope"}, true},
		{"the forked child setting up the sandbox", map[string]string{"_COMM": "(-gateway)", "_SYSTEMD_USER_UNIT": "hermes-gateway.service"}, true},
		{"systemd-executor (systemd 255 and later)", map[string]string{"_COMM": "systemd-executor", "_SYSTEMD_USER_UNIT": "hermes-gateway.service"}, true},
		{"the gateway", map[string]string{"_COMM": "hermes-gateway", "_SYSTEMD_USER_UNIT": "hermes-gateway.service", "HERMES_EVENT": "exit"}, false},
		{"an exec agent", map[string]string{"_COMM": "my-agent", "_SYSTEMD_USER_UNIT": "hermes-gateway.service"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Entry{Fields: tc.fields}.FromSystemd())
		})
	}
}

func TestDecodePlacesEntriesInInvocations(t *testing.T) {
	in := `{"MESSAGE":"Starting x...","USER_UNIT":"x.service","USER_INVOCATION_ID":"0123456789abcdef0123456789abcdef","_COMM":"systemd","__REALTIME_TIMESTAMP":"1000"}
{"MESSAGE":"hello","_SYSTEMD_USER_UNIT":"x.service","_COMM":"x","_PID":"7","__REALTIME_TIMESTAMP":"2000"}
`
	es, err := Decode(strings.NewReader(in), "x.service", true)
	require.NoError(t, err)
	require.Len(t, es, 2)
	require.Equal(t, "0123456789abcdef0123456789abcdef", es[1].InvocationID)
	require.True(t, es[0].FromSystemd())
	require.False(t, es[1].FromSystemd())
}

func TestEndsRun(t *testing.T) {
	end := Entry{Fields: map[string]string{"USER_UNIT": "x.service", "MESSAGE_ID": "d9b373ed55a64feb8242e02dbe79a49c"}}
	require.True(t, end.EndsRun("x.service"))
	require.True(t, end.EndsRun("x"))
	require.False(t, end.EndsRun("y.service"))
	require.False(t, Entry{Fields: map[string]string{"USER_UNIT": "x.service", "MESSAGE_ID": "7d4958e842da4a758f6c1cdc7b36dcc5"}}.EndsRun("x.service"), "Starting… ends nothing")
}
