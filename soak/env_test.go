//go:build soak

package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/units"
)

const (
	svc = units.Service
	sck = units.Socket
)

// paths are where the sandbox user manager's units, config and state live.
func paths() (unitDir, cfgDir, stateDir string) {
	cfg := os.Getenv("XDG_CONFIG_HOME")
	return filepath.Join(cfg, "systemd", "user"), filepath.Join(cfg, "hermes"), filepath.Join(os.Getenv("XDG_STATE_HOME"), "hermes")
}

// systemctl runs `systemctl --user ARGS` with a deadline.
func systemctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", append([]string{"--user"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("systemctl --user %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// unitState is the part of systemd's view of the service the campaign reads.
type unitState struct {
	Active, Sub, Result string
	MainPID             int
	NRestarts           int
}

func showService() (unitState, error) {
	out, err := systemctl("show", "-p", "ActiveState", "-p", "SubState", "-p", "Result", "-p", "MainPID", "-p", "NRestarts", svc)
	if err != nil {
		return unitState{}, err
	}
	var st unitState
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "ActiveState":
			st.Active = v
		case "SubState":
			st.Sub = v
		case "Result":
			st.Result = v
		case "MainPID":
			st.MainPID, _ = strconv.Atoi(v)
		case "NRestarts":
			st.NRestarts, _ = strconv.Atoi(v)
		}
	}
	return st, nil
}

func controlClient() *control.Client { return control.NewClient(control.DefaultSocketPath()) }

func gatewayStatus(d time.Duration) (*control.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return controlClient().Status(ctx)
}

func journalCursor() string {
	out, err := exec.Command("journalctl", "-n", "0", "--show-cursor", "--no-pager").CombinedOutput()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if c, ok := strings.CutPrefix(line, "-- cursor: "); ok {
			return strings.TrimSpace(c)
		}
	}
	return ""
}

// jentry is one journal entry of the service (the gateway's own lines and
// the manager's lines about the unit).
type jentry struct {
	At       time.Time
	PID      string
	Ident    string
	Priority int
	Message  string
	Fields   map[string]string // UPDATE_ID, CHAT_ID, ERR, HERMES_EVENT, ...
}

// interesting are the structured fields worth showing next to a line.
var interesting = []string{"HERMES_EVENT", "UPDATE_ID", "CHAT_ID", "ATTEMPTS", "IN_FLIGHT", "UNFINISHED", "COUNT", "CODE", "REASON", "ERR", "DETAIL"}

func (e jentry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s[%s]: %s", e.At.Format("15:04:05.000000"), e.Ident, e.PID, e.Message)
	var extra []string
	for _, k := range interesting {
		if v, ok := e.Fields[k]; ok && v != "" && !strings.Contains(e.Message, v) {
			extra = append(extra, strings.ToLower(k)+"="+v)
		}
	}
	if len(extra) > 0 {
		b.WriteString("  {" + strings.Join(extra, " ") + "}")
	}
	return b.String()
}

// readJournal returns the service's journal since cursor, oldest first.
// journald writes asynchronously and has no completion signal: callers that
// need a line to be there must wait for it (the campaign reads the journal
// only after the quiet period, seconds after the last event).
func readJournal(cursor string) ([]jentry, error) {
	args := []string{"--user-unit=" + svc, "--user-unit=" + units.FailedService, "--no-pager", "-o", "json"}
	if cursor != "" {
		args = append(args, "--after-cursor="+cursor)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "journalctl", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("journalctl: %w", err)
	}
	var es []jentry
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 4<<20), 4<<20)
	for sc.Scan() {
		var raw map[string]json.RawMessage
		if json.Unmarshal(sc.Bytes(), &raw) != nil {
			continue
		}
		str := func(k string) string {
			v, ok := raw[k]
			if !ok {
				return ""
			}
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s
			}
			var bs []byte // journald gives non-UTF-8 values as byte arrays
			var ints []int
			if json.Unmarshal(v, &ints) == nil {
				for _, i := range ints {
					bs = append(bs, byte(i))
				}
				return string(bs)
			}
			return string(v)
		}
		us, _ := strconv.ParseInt(str("__REALTIME_TIMESTAMP"), 10, 64)
		prio, _ := strconv.Atoi(str("PRIORITY"))
		e := jentry{At: time.UnixMicro(us), PID: str("_PID"), Ident: str("SYSLOG_IDENTIFIER"), Priority: prio, Message: str("MESSAGE"), Fields: map[string]string{}}
		for _, k := range interesting {
			if v := str(k); v != "" {
				e.Fields[k] = v
			}
		}
		es = append(es, e)
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].At.Before(es[j].At) })
	return es, nil
}
