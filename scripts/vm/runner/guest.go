package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/internal/vmtest"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

// The guest's fixed facts (scripts/vm/image makes them so).
const (
	user      = "alice"
	uid       = "1000"
	home      = "/home/alice"
	runtime   = "/run/user/1000"
	payload   = "/vmtest"
	stateFile = "/var/lib/hermes-vmtest/state.json"
	// The Bot API fake listens here, inside the guest, on loopback; a fixed
	// port so the config written before the reboot still points at it.
	fakeAddr = "127.0.0.1:8081"
	admin    = 100 // the admin the setup names
	stranger = 777 // paired in scenario 1
	svc      = "hermes-gateway.service"
)

// state is what the guest remembers across its reboots.
type state struct {
	Boot int `json:"boot"`
	// NextUpdateID continues the Bot API fake's update ids after a reboot:
	// the gateway's stored offset would skip ids it has seen.
	NextUpdateID int `json:"next_update_id"`
	// Turns is the stranger's conversation length before the reboot.
	Turns   int    `json:"turns"`
	Version string `json:"version"` // the version running before the reboot
	// Installed: scenario 1 passed; the others build on it and are not
	// run (but reported failed) without it.
	Installed bool `json:"installed"`
}

type guest struct {
	suite   string
	st      state
	results *os.File
	fake    *fakebot.Server
}

func runGuest() error {
	g := &guest{}
	b, _ := os.ReadFile(filepath.Join(payload, "suite"))
	g.suite = strings.TrimSpace(string(b))
	if b, err := os.ReadFile(stateFile); err == nil {
		if err := json.Unmarshal(b, &g.st); err != nil {
			return fmt.Errorf("%s: %w", stateFile, err)
		}
	}
	g.st.Boot++
	if err := g.save(); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(payload, "results.jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	g.results = f
	g.log("boot %d of %s", g.st.Boot, g.suite)

	switch g.st.Boot {
	case 1:
		g.run("0 boot", g.bootInfo)
		g.run("1 install", g.install)
		g.run("12 hardening", g.hardening)
		g.run("8 security", g.security)
		g.run("2 restarts", g.restarts)
		g.run("6 logs", g.logs)
		g.run("7 alerts", g.alerts)
		g.run("5 update", g.update)
		g.run("9 namespace", g.namespace)
		g.prepareReboot()
		g.mark(vmtest.MarkReboot)
		return exec.Command("systemctl", "reboot").Run()
	case 2:
		g.run("0 boot", g.bootInfo)
		g.run("4 reboot", g.afterReboot)
		g.run("3 logout", g.logout)
		g.run("4 history", g.historyKept)
	default:
		g.emit(vmtest.Result{Scenario: "boot", Detail: fmt.Sprintf("boot %d: the suite has two boots; the guest rebooted unexpectedly", g.st.Boot)})
	}
	g.mark(vmtest.MarkDone)
	return exec.Command("systemctl", "poweroff").Run()
}

func (g *guest) save() error {
	b, _ := json.Marshal(g.st)
	if err := os.MkdirAll(filepath.Dir(stateFile), 0o755); err != nil {
		return err
	}
	return os.WriteFile(stateFile, b, 0o644)
}

// check is one scenario's findings: figures to report and failures.
type check struct {
	figures []string
	fails   []string
	notes   []string
}

func (c *check) fig(name string, v any)  { c.figures = append(c.figures, fmt.Sprintf("%s=%v", name, v)) }
func (c *check) fail(f string, a ...any) { c.fails = append(c.fails, fmt.Sprintf(f, a...)) }
func (c *check) note(f string, a ...any) { c.notes = append(c.notes, fmt.Sprintf(f, a...)) }
func (c *check) expect(ok bool, f string, a ...any) bool {
	if !ok {
		c.fail(f, a...)
	}
	return ok
}

// run runs one scenario and reports it; a panic is a failure of that
// scenario, not the end of the suite.
func (g *guest) run(name string, fn func(c *check)) {
	g.log("%s: running", name)
	c := &check{}
	t0 := time.Now()
	if !g.st.Installed && name != "0 boot" && name != "1 install" {
		g.emit(vmtest.Result{Scenario: name, Detail: "not run: it needs scenario 1 (install) to pass"})
		return
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				c.fail("panic: %v\n%s", r, debug.Stack())
			}
		}()
		fn(c)
	}()
	detail := strings.Join(append(c.fails, c.notes...), "; ")
	g.emit(vmtest.Result{Scenario: name, OK: len(c.fails) == 0, Figures: c.figures, Detail: detail,
		Seconds: time.Since(t0).Seconds()})
}

func (g *guest) mark(m string) { g.emit(vmtest.Result{Marker: m}) }

func (g *guest) emit(r vmtest.Result) {
	r.Suite, r.Boot = g.suite, g.st.Boot
	line := r.Line() + "\n"
	os.Stdout.WriteString(line)
	g.results.WriteString(line)
	g.results.Sync()
}

// log is progress on the console (not a result).
func (g *guest) log(f string, a ...any) {
	fmt.Printf("vmtest %s [%s]: %s\n", g.suite, time.Now().Format("15:04:05"), fmt.Sprintf(f, a...))
}

// as runs a command as the user, in the environment a login shell of hers
// has: her runtime dir and user bus, ~/.local/bin on PATH.
func (g *guest) as(timeout time.Duration, args ...string) (string, int) {
	env := []string{"-u", user, "--", "env", "-i", "HOME=" + home, "USER=" + user, "LOGNAME=" + user,
		"XDG_RUNTIME_DIR=" + runtime, "DBUS_SESSION_BUS_ADDRESS=unix:path=" + runtime + "/bus",
		"PATH=" + home + "/.local/bin:/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "TERM=dumb"}
	return cmdOut(timeout, "runuser", append(env, args...)...)
}

// asSh runs a shell script as the user.
func (g *guest) asSh(timeout time.Duration, script string) (string, int) {
	return g.as(timeout, "/bin/sh", "-ec", script)
}

// prop reads a property of one of the user's units.
func (g *guest) prop(unit, name string) string {
	out, _ := g.as(30*time.Second, "systemctl", "--user", "show", "-p", name, "--value", unit)
	return strings.TrimSpace(out)
}

// rootProp reads a property of a system unit.
func rootProp(unit, name string) string {
	out, _ := cmdOut(30*time.Second, "systemctl", "show", "-p", name, "--value", unit)
	return strings.TrimSpace(out)
}

// eventually polls cond until it holds or d passes. Only for states systemd
// and logind announce on no channel we could wait on from here (a unit
// reaching failed, a session going away); every wait has a deadline.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startFake starts the Bot API fake on loopback (first boot: fresh; after a
// reboot: continuing the update ids).
func (g *guest) startFake() error {
	if g.fake != nil {
		return nil
	}
	f := fakebot.New(fakebot.Options{FirstUpdateID: g.st.NextUpdateID})
	if _, err := f.Listen(fakeAddr); err != nil {
		return fmt.Errorf("Bot API fake on %s: %w", fakeAddr, err)
	}
	g.fake = f
	return nil
}

// waitSent waits for chat to have n messages.
func (g *guest) waitSent(chat int64, n int, d time.Duration) ([]fakebot.SentMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return g.fake.WaitForMessages(ctx, chat, n)
}

// openSession logs the user in: a PAM "login" session through logind, as
// a console or ssh login makes, held by a process that lives until the
// session is terminated. It returns the session id.
func (g *guest) openSession(name string) (string, error) {
	// Type=simple: on systemd 252 and 254 such a service never gets past
	// PAM to its exec (the session exists, the start job times out), and
	// the session is all this needs.
	out, code := cmdOut(time.Minute, "systemd-run", "--unit="+name, "--uid="+user, "-p", "PAMName=login",
		"-p", "Type=simple", "--setenv=HOME="+home, "/bin/sleep", "infinity")
	if code != 0 {
		return "", fmt.Errorf("systemd-run a login session: %s", out)
	}
	// The session is the one whose leader is that unit's process.
	var id string
	ok := eventually(3*time.Minute, func() bool {
		pid := rootProp(name+".service", "MainPID")
		out, _ := cmdOut(10*time.Second, "loginctl", "list-sessions", "--no-legend")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[2] == user && sessionProp(f[0], "Leader") == pid {
				id = f[0]
			}
		}
		return id != ""
	})
	if !ok {
		ls, _ := cmdOut(10*time.Second, "loginctl", "list-sessions", "--no-legend")
		return "", fmt.Errorf("no logind session for %s after %s started: %s", user, name, ls)
	}
	// pam_systemd has the user manager started; wait for its start job,
	// then for the manager to finish starting its own units, as a login
	// shell's first command would find it.
	if out, code := cmdOut(3*time.Minute, "systemctl", "start", "user@"+uid+".service"); code != 0 {
		return id, fmt.Errorf("user@%s.service: %s", uid, out)
	}
	if out, code := g.as(3*time.Minute, "systemctl", "--user", "is-system-running", "--wait"); code != 0 && out != "degraded" {
		return id, fmt.Errorf("the user manager: %s", out)
	}
	return id, nil
}

// sessionOf is the id of one of user's sessions, or "": not the user
// manager's own (class manager, systemd 256 and later).
func sessionOf(u string) string {
	out, _ := cmdOut(10*time.Second, "loginctl", "list-sessions", "--no-legend")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != u {
			continue
		}
		if class := sessionProp(f[0], "Class"); !strings.HasPrefix(class, "manager") {
			return f[0]
		}
	}
	return ""
}

// sessionProp is a property of a logind session ("" when it is gone).
func sessionProp(id, name string) string {
	out, code := cmdOut(10*time.Second, "loginctl", "show-session", id, "-p", name, "--value")
	if code != 0 {
		return ""
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// tail is the last n lines of s, for failure details.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
