package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/internal/vmtest"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

const (
	hermesHome = home + "/.local/lib/hermes"
	unitDir    = home + "/.config/systemd/user"
	tokenFile  = home + "/telegram.token"
	storeDB    = home + "/.local/state/hermes/gateway.db"
)

// The shipped service units, as install-unit writes them.
var shippedServices = []string{"hermes-gateway.service", "hermes-update.service", "hermes-gateway-failed.service"}

func (g *guest) bootInfo(c *check) {
	state, _ := cmdOut(5*time.Minute, "systemctl", "is-system-running", "--wait")
	c.fig("system", state)
	v, _ := cmdOut(10*time.Second, "systemctl", "--version")
	c.fig("systemd", strings.Fields(firstLine(v) + " ? ?")[1])
	k, _ := cmdOut(10*time.Second, "uname", "-r")
	c.fig("kernel", k)
	if t, code := cmdOut(30*time.Second, "systemd-analyze"); code == 0 {
		if m := regexp.MustCompile(`= ([0-9.]+m?s|[0-9]+min [0-9.]+s)`).FindStringSubmatch(firstLine(t)); m != nil {
			c.fig("boot", m[1])
		}
	}
	if state != "running" {
		failed, _ := cmdOut(10*time.Second, "systemctl", "--failed", "--no-legend", "--plain")
		c.note("failed units: %s", tail(failed, 10))
		c.expect(state == "degraded", "the system did not come up: %s", state)
	}
}

// installedVersion is the version the payload's binaries report.
func installedVersion() (string, error) {
	out, code := cmdOut(30*time.Second, payload+"/bin/hermes", "version", "--json")
	if code != 0 {
		return "", fmt.Errorf("hermes version --json: %s", out)
	}
	var v struct {
		Version  string `json:"version"`
		Revision string `json:"revision"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version == "" {
		return "", fmt.Errorf("hermes version --json: %q", out)
	}
	return v.Version, nil
}

// install does what the README tells a person: the `make install` layout
// (scripts/install.sh, minus the build: the guest has no Go), then
// install-unit, then `hermes setup telegram`; the user is logged in.
func (g *guest) install(c *check) {
	if err := g.startFake(); err != nil {
		c.fail("%v", err)
		return
	}
	if _, err := g.openSession("vmtest-login-1"); err != nil {
		c.fail("log in: %v", err)
		return
	}
	version, err := installedVersion()
	if err != nil {
		c.fail("%v", err)
		return
	}
	c.fig("version", version)
	// As scripts/install.sh lays it out; source.json names a git checkout
	// (a clone of the host's HEAD, from the bundle on the payload disk) as
	// install.sh records one, so hermes-update.service can check it.
	script := fmt.Sprintf(`
v=%[1]s; h=%[2]s
mkdir -p "$h/versions/$v" "$HOME/.local/bin" "$HOME/src"
cp %[3]s/bin/hermes %[3]s/bin/hermes-gateway "$h/versions/$v/"
printf '{"version":"%%s","revision":"","installed_at":"%%s","source":"vmtest payload"}\n' "$v" "$(date -u +%%FT%%TZ)" >"$h/versions/$v/version.json"
ln -sfn "versions/$v" "$h/.current.tmp" && mv -fT "$h/.current.tmp" "$h/current"
ln -sfn "$h/current/hermes" "$HOME/.local/bin/.hermes.tmp" && mv -fT "$HOME/.local/bin/.hermes.tmp" "$HOME/.local/bin/hermes"
git init -q --bare "$HOME/src/hermes.git"
git -C "$HOME/src/hermes.git" fetch -q %[3]s/hermes.bundle main:refs/heads/main
git clone -q -b main "$HOME/src/hermes.git" "$HOME/src/hermes"
printf '{"kind":"git","checkout":"%%s","remote":"origin","branch":"main","go":""}\n' "$HOME/src/hermes" >"$h/source.json"
`, version, hermesHome, payload)
	if out, code := g.asSh(2*time.Minute, script); code != 0 {
		c.fail("lay out the install: %s", tail(out, 8))
		return
	}

	t0 := time.Now()
	out, code := g.as(3*time.Minute, "hermes", "install-unit", "--gateway", hermesHome+"/current/hermes-gateway")
	c.fig("install_unit_ms", time.Since(t0).Milliseconds())
	c.expect(code == 0, "install-unit exit %d: %s", code, tail(out, 12))
	c.expect(strings.Contains(out, "linger: enabled"), "install-unit did not enable linger itself: %s", tail(out, 12))
	linger, _ := cmdOut(10*time.Second, "loginctl", "show-user", user, "-p", "Linger", "--value")
	c.fig("linger", linger)
	c.expect(linger == "yes", "logind says Linger=%s after install-unit", linger)

	if out, code := g.asSh(time.Minute, fmt.Sprintf("umask 077; printf '%%s\\n' %q >%s", g.fake.Token(), tokenFile)); code != 0 {
		c.fail("write the token: %s", out)
		return
	}
	t0 = time.Now()
	out, code = g.as(3*time.Minute, "hermes", "setup", "telegram", "--token-file", tokenFile,
		"--admin", strconv.Itoa(admin), "--api-url", g.fake.URL())
	c.fig("setup_ms", time.Since(t0).Milliseconds())
	if !c.expect(code == 0 && strings.Contains(out, "✓ Restarted"), "setup telegram exit %d: %s", code, tail(out, 12)) {
		return
	}

	// The admin talks to the bot first (Telegram lets a bot write only to
	// users who have), so alerts can reach them.
	g.fake.InjectMessage(fakebot.UserMessage{UserID: admin, Username: "ann", Text: "/start"})
	if _, err := g.waitSent(admin, 1, 2*time.Minute); err != nil {
		c.fail("the admin's /start was not answered: %v", err)
	}

	// A stranger pairs, as the README shows.
	g.fake.InjectMessage(fakebot.UserMessage{UserID: stranger, Username: "zoe", Text: "hello?"})
	msgs, err := g.waitSent(stranger, 1, 2*time.Minute)
	if err != nil || !strings.Contains(msgs[0].Text, "pairing code is ") {
		c.fail("no pairing code for a stranger: %v %v", err, msgs)
		return
	}
	code8 := strings.Fields(strings.SplitN(msgs[0].Text, "pairing code is ", 2)[1])[0]
	out, code = g.as(time.Minute, "hermes", "pairing", "approve", code8)
	c.expect(code == 0, "pairing approve: %s", out)
	if _, err := g.waitSent(stranger, 2, time.Minute); err != nil {
		c.fail("the stranger was not told they are in: %v", err)
	}

	g.doctorOK(c, "")
	g.st.Installed = len(c.fails) == 0
}

// doctorOK runs `hermes doctor --json` and fails c unless it exits 0 with
// every check ok (or skipped).
func (g *guest) doctorOK(c *check, when string) {
	t0 := time.Now()
	out, code := g.as(2*time.Minute, "hermes", "doctor", "--json")
	c.fig("doctor"+when+"_ms", time.Since(t0).Milliseconds())
	var rep struct {
		Checks []struct{ Name, Status, Detail, Fix string } `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		c.fail("doctor%s: exit %d, not JSON: %s", when, code, tail(out, 10))
		return
	}
	var bad []string
	for _, ch := range rep.Checks {
		if ch.Status != "ok" && ch.Status != "skipped" {
			bad = append(bad, fmt.Sprintf("%s %s: %s", ch.Status, ch.Name, ch.Detail))
		}
	}
	c.expect(code == 0 && len(bad) == 0, "doctor%s: exit %d, not all ok: %s", when, code, strings.Join(bad, " | "))
}

// statusOK runs `hermes gateway status --json` and fails c on any problem.
func (g *guest) statusOK(c *check) {
	out, code := g.as(time.Minute, "hermes", "gateway", "status", "--json")
	var rep struct {
		Problems []struct{ Severity, What string } `json:"problems"`
		Service  struct{ Active string }           `json:"service"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		c.fail("gateway status: exit %d, not JSON: %s", code, tail(out, 10))
		return
	}
	var bad []string
	for _, p := range rep.Problems {
		bad = append(bad, p.Severity+": "+p.What)
	}
	c.expect(code == 0 && len(bad) == 0 && rep.Service.Active == "active",
		"gateway status: exit %d, service %s, problems: %s", code, rep.Service.Active, strings.Join(bad, " | "))
}

// hardening proves issue 12: every shipped unit runs as this user with its
// sandbox in force. The gateway is checked in its running process; the
// oneshot units through copies whose ExecStart prints their own status.
func (g *guest) hardening(c *check) {
	mgr, _ := strconv.Atoi(rootProp("user@"+uid+".service", "MainPID"))
	mgrNS, err := namespaces(mgr)
	if err != nil || mgr == 0 {
		c.fail("the user manager (pid %d): %v", mgr, err)
		return
	}
	unit, _ := os.ReadFile(unitDir + "/hermes-gateway.service")
	c.fig("PrivateUsers", directive(string(unit), "PrivateUsers"))

	pid, _ := strconv.Atoi(g.prop(svc, "MainPID"))
	if !c.expect(pid > 0, "%s is not running (%s, %s)", svc, g.prop(svc, "ActiveState"), g.prop(svc, "Result")) {
		return
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		c.fail("read the gateway's status: %v", err)
		return
	}
	ns, err := namespaces(pid)
	if err != nil {
		c.fail("%v", err)
	}
	g.judgeSandbox(c, "gateway", string(status), ns, mgrNS)

	for _, u := range []string{"hermes-update.service", "hermes-gateway-failed.service"} {
		name := strings.TrimSuffix(strings.TrimPrefix(u, "hermes-"), ".service")
		status, ns, err := g.probeCopy(u)
		if err != nil {
			c.fail("%s: %v", u, err)
			continue
		}
		g.judgeSandbox(c, name, status, ns, mgrNS)
	}
}

// judgeSandbox checks one process's /proc status and namespaces against
// the user manager's.
func (g *guest) judgeSandbox(c *check, name, status string, ns, mgrNS [2]string) {
	sb, err := vmtest.ParseStatus(strings.NewReader(status))
	if err != nil {
		c.fail("%s: %v", name, err)
		return
	}
	c.fig(name, strings.ReplaceAll(sb.String(), " ", ","))
	for _, p := range sb.Problems(true) {
		c.fail("%s: %s", name, p)
	}
	c.expect(ns[0] != "" && ns[0] != mgrNS[0], "%s: mount namespace %s is the user manager's", name, ns[0])
	c.expect(ns[1] != "" && ns[1] != mgrNS[1], "%s: user namespace %s is the user manager's (no PrivateUsers=)", name, ns[1])
}

// namespaces is a process's mount and user namespace.
func namespaces(pid int) ([2]string, error) {
	var ns [2]string
	for i, n := range []string{"mnt", "user"} {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, n))
		if err != nil {
			return ns, err
		}
		ns[i] = l
	}
	return ns, nil
}

// directive is the value of the last KEY= line of a unit file, or "unset".
func directive(unit, key string) string {
	v := "unset"
	for _, l := range strings.Split(unit, "\n") {
		if k, val, ok := strings.Cut(strings.TrimSpace(l), "="); ok && k == key {
			v = val
		}
	}
	return v
}

// probeCopy runs a copy of an installed unit (every directive as
// install-unit wrote it) whose ExecStart prints its own /proc status and
// namespaces, and returns what it printed.
func (g *guest) probeCopy(unit string) (string, [2]string, error) {
	var ns [2]string
	b, err := os.ReadFile(unitDir + "/" + unit)
	if err != nil {
		return "", ns, err
	}
	name := "vmtest-probe-" + unit
	out := runtime + "/" + name + ".out"
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "ExecStart="):
			l = `ExecStart=/bin/sh -c 'cat /proc/self/status; readlink /proc/self/ns/mnt /proc/self/ns/user'`
		case strings.HasPrefix(l, "StandardOutput="), strings.HasPrefix(l, "OnFailure="):
			continue
		case l == "[Service]":
			l += "\nStandardOutput=truncate:" + out
		}
		lines = append(lines, l)
	}
	path := unitDir + "/" + name
	script := fmt.Sprintf("cat >%s <<'EOF'\n%s\nEOF\nsystemctl --user daemon-reload\nsystemctl --user start %s",
		path, strings.Join(lines, "\n"), name)
	res, code := g.asSh(2*time.Minute, script)
	defer g.asSh(time.Minute, fmt.Sprintf("rm -f %s %s; systemctl --user daemon-reload", path, out))
	if code != 0 {
		return "", ns, fmt.Errorf("start a copy with ExecStart printing /proc/self/status: %s", tail(res, 8))
	}
	printed, err := os.ReadFile(out)
	if err != nil {
		return "", ns, err
	}
	text := strings.TrimSpace(string(printed))
	ls := strings.Split(text, "\n")
	if len(ls) < 3 {
		return "", ns, fmt.Errorf("the copy printed %q", text)
	}
	ns[0], ns[1] = ls[len(ls)-2], ls[len(ls)-1]
	return strings.Join(ls[:len(ls)-2], "\n"), ns, nil
}

var exposure = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`)

// security scores every shipped unit on the real user manager.
func (g *guest) security(c *check) {
	for _, u := range shippedServices {
		out, code := g.as(2*time.Minute, "systemd-analyze", "--user", "security", "--no-pager", u)
		m := exposure.FindStringSubmatch(out)
		if m == nil {
			c.fail("systemd-analyze --user security %s: exit %d: %s", u, code, tail(out, 5))
			continue
		}
		c.fig(strings.TrimSuffix(u, ".service"), m[1])
	}
}

// restarts: ten `hermes gateway restart` and three POST /v1/restart while
// a client loops on the control socket; nothing refused, and status and
// doctor see no problem afterwards.
func (g *guest) restarts(c *check) {
	ready := runtime + "/vmtest-probe.ready"
	os.Remove(ready)
	// Started as the user directly (not through runuser), so the signal
	// that ends it reaches it.
	probe := exec.Command(payload+"/bin/hermes-probe", "--json", "--ready-file", ready)
	probe.Env = []string{"XDG_RUNTIME_DIR=" + runtime, "HOME=" + home}
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
	var probeOut strings.Builder
	probe.Stdout = &probeOut
	if err := probe.Start(); err != nil {
		c.fail("start the probe: %v", err)
		return
	}
	defer probe.Process.Kill() // a no-op once it has been waited for
	if !eventually(time.Minute, func() bool { _, err := os.Stat(ready); return err == nil }) {
		c.fail("the probe got no first answer within a minute")
		return
	}
	n0 := g.prop(svc, "NRestarts")
	var cli, api []int64
	for i := 0; i < 10; i++ {
		t0 := time.Now()
		out, code := g.as(2*time.Minute, "hermes", "gateway", "restart")
		cli = append(cli, time.Since(t0).Milliseconds())
		c.expect(code == 0, "gateway restart %d: exit %d: %s", i+1, code, tail(out, 6))
	}
	for i := 0; i < 3; i++ {
		out, code := g.as(2*time.Minute, payload+"/runner", "ctl", "restart")
		var r struct{ MS int64 }
		json.Unmarshal([]byte(out), &r)
		api = append(api, r.MS)
		c.expect(code == 0, "POST /v1/restart %d: %s", i+1, tail(out, 6))
	}
	probe.Process.Signal(syscall.SIGTERM)
	probe.Wait()
	var s struct {
		Requests, Answered, Refused, Failed int
		FirstError                          string  `json:"first_error"`
		LongestStall                        float64 `json:"longest_stall_ms"`
		PIDs                                []int   `json:"pids"`
	}
	if err := json.Unmarshal([]byte(lastLine(probeOut.String())), &s); err != nil {
		c.fail("probe summary: %v: %q", err, probeOut.String())
	}
	c.fig("cli_restart_ms", spread(cli))
	c.fig("api_restart_ms", spread(api))
	c.fig("requests", s.Requests)
	c.fig("refused", s.Refused)
	c.fig("failed", s.Failed)
	c.fig("longest_stall_ms", int(s.LongestStall))
	c.fig("pids", len(s.PIDs))
	c.expect(s.Requests > 0 && s.Refused == 0 && s.Failed == 0, "the client saw %d refused, %d failed of %d (%s)", s.Refused, s.Failed, s.Requests, s.FirstError)
	c.expect(len(s.PIDs) >= 14, "the client saw %d gateway pids over 13 restarts", len(s.PIDs))
	c.fig("NRestarts", n0+"→"+g.prop(svc, "NRestarts"))
	g.statusOK(c)
	g.doctorOK(c, "")
}

func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return ls[len(ls)-1]
}

// spread is "min/median/max" of ms.
func spread(ms []int64) string {
	if len(ms) == 0 {
		return "-"
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	return fmt.Sprintf("%d/%d/%d", s[0], s[len(s)/2], s[len(s)-1])
}

// logs: the user reads the gateway's journal through hermes and journalctl,
// with its structured fields.
func (g *guest) logs(c *check) {
	out, code := g.as(time.Minute, "hermes", "gateway", "logs", "-n", "20")
	n := len(strings.Split(strings.TrimSpace(out), "\n"))
	c.fig("logs_lines", n)
	c.expect(code == 0 && strings.TrimSpace(out) != "", "gateway logs: exit %d: %s", code, tail(out, 5))
	out, code = g.as(time.Minute, "hermes", "gateway", "logs", "--invocation", "previous", "-n", "0")
	c.fig("previous_lines", len(strings.Split(strings.TrimSpace(out), "\n")))
	c.expect(code == 0 && strings.Contains(out, "hermes-gateway"), "gateway logs --invocation previous: exit %d: %s", code, tail(out, 5))
	// The fields, as the README's journalctl lines query them.
	events := map[string]int{}
	out, code = g.as(time.Minute, "journalctl", "--user", "-o", "json", "--no-pager",
		"HERMES_EVENT=started", "HERMES_EVENT=ready", "HERMES_EVENT=exit", "HERMES_EVENT=restart_requested")
	for _, l := range strings.Split(out, "\n") {
		var e struct {
			Event string `json:"HERMES_EVENT"`
			ID    string `json:"MESSAGE_ID"`
		}
		if json.Unmarshal([]byte(l), &e) == nil && e.Event != "" && e.ID != "" {
			events[e.Event]++
		}
	}
	for _, e := range []string{"started", "ready", "exit", "restart_requested"} {
		c.fig(e, events[e])
		c.expect(events[e] > 0, "journalctl --user: no HERMES_EVENT=%s entry with a MESSAGE_ID (exit %d)", e, code)
	}
	out, code = g.as(time.Minute, "hermes", "gateway", "logs", "--json", "-n", "200")
	c.expect(code == 0 && strings.Contains(out, "HERMES_EVENT"), "gateway logs --json has no HERMES_EVENT field: exit %d: %s", code, tail(out, 3))
}

// alertRuns counts the starts of hermes-gateway-failed.service in the
// user's journal (systemd's "unit starting" message).
func (g *guest) alertRuns() int {
	out, _ := g.as(time.Minute, "journalctl", "--user", "-o", "cat", "--no-pager",
		"USER_UNIT=hermes-gateway-failed.service", "MESSAGE_ID=7d4958e842da4a758f6c1cdc7b36dcc5")
	if strings.TrimSpace(out) == "" || strings.HasPrefix(out, "-- No entries") {
		return 0
	}
	return len(strings.Split(strings.TrimSpace(out), "\n"))
}

// alerts: planned restarts never start hermes-gateway-failed.service; a
// crash loop systemd keeps restarting alerts nobody; when systemd gives up
// (the start limit, or exit 78) the admin gets one alert.
func (g *guest) alerts(c *check) {
	runs0 := g.alertRuns()
	c.fig("runs_after_planned_restarts", runs0)
	c.expect(runs0 == 0, "hermes-gateway-failed.service ran %d time(s) after planned restarts only", runs0)

	// A version whose gateway crashes at once (exit 1); the unit is as shipped.
	alerts0 := len(g.fake.Sent(admin))
	n0, _ := strconv.Atoi(g.prop(svc, "NRestarts"))
	t0 := time.Now()
	if out, code := g.asSh(2*time.Minute, switchTo("v0.0.0-vmcrash", 1)); code != 0 {
		c.fail("crash version: %s", tail(out, 5))
		return
	}
	// Under emulation a start of the sandboxed unit takes seconds, so the
	// start limit (30 starts in 60 s) may be out of reach: wait for it up
	// to its interval (and a little more).
	// systemd 252 and 254 keep the previous failure's Result (exit-code)
	// when a restart is refused by the start limit, which also counts the
	// starts the socket triggers: their own line says it.
	since := t0.Format("2006-01-02 15:04:05")
	burst, _ := strconv.Atoi(g.prop(svc, "StartLimitBurst"))
	// systemd shows it as "1min", "1min 30s".
	interval, _ := time.ParseDuration(strings.NewReplacer("min", "m", " ", "").Replace(g.prop(svc, "StartLimitIntervalUSec")))
	if burst <= 0 || interval <= 0 {
		c.fail("cannot read the unit's start limit: StartLimitBurst=%q StartLimitIntervalUSec=%q",
			g.prop(svc, "StartLimitBurst"), g.prop(svc, "StartLimitIntervalUSec"))
		return
	}
	// Polled once a second: journalctl under emulation is slow, and
	// polling it faster slows the very restarts being counted. Once the
	// rate measured over a third of the interval cannot reach the burst
	// within the interval, waiting the rest of it proves nothing more.
	hit := false
	for deadline := t0.Add(interval + 10*time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		if g.prop(svc, "Result") == "start-limit-hit" {
			hit = true
			break
		}
		out, _ := g.as(time.Minute, "journalctl", "--user", "-u", svc, "--since", since, "--no-pager", "-o", "cat")
		if strings.Contains(out, "Start request repeated too quickly") {
			hit = true
			break
		}
		if el := time.Since(t0); el > interval/3 {
			n, _ := strconv.Atoi(g.prop(svc, "NRestarts"))
			if float64(n-n0)*float64(interval)/float64(el) < 0.75*float64(burst) {
				break // out of reach
			}
		}
	}
	n1, _ := strconv.Atoi(g.prop(svc, "NRestarts"))
	secs := time.Since(t0).Seconds()
	c.fig("crash_restarts", n1-n0)
	c.fig("starts_per_min", int(float64(n1-n0)*60/secs))
	c.expect(n1-n0 >= 3, "systemd restarted the crashing gateway %d times in %.0f s", n1-n0, secs)
	if hit {
		c.fig("start_limit_after_ms", time.Since(t0).Milliseconds())
		msgs, err := g.waitSent(admin, alerts0+1, 2*time.Minute)
		if c.expect(err == nil, "start limit hit, but no alert reached the admin: %v", err) {
			c.note("alert: %q", firstLine(msgs[alerts0].Text))
		}
	} else {
		c.fig("start_limit", "out-of-reach")
		c.note("the start limit was not reached in %.0f s (%d restarts; at that rate %d starts in %s cannot come): this machine starts the unit too slowly; the alert is checked with exit 78 below",
			secs, n1-n0, burst, interval)
	}
	g.settleFailedUnit()
	want := 0
	if hit {
		want = 1
	}
	alerts := len(g.fake.Sent(admin)) - alerts0
	c.fig("crash_loop_alerts", alerts)
	if !c.expect(alerts == want, "%d alerts for a crash loop (start limit hit: %v), want %d", alerts, hit, want) {
		c.note("hermes-gateway-failed.service's journal: %s", g.journal("hermes-gateway-failed.service", 12))
	}
	runs := g.alertRuns() - runs0
	c.fig("failed_unit_runs", runs)
	g.failedUnitOK(c)

	// A gateway that exits 78 (its config cannot work): systemd does not
	// restart it, the unit fails for good, the admin hears once.
	runs0, alerts0 = g.alertRuns(), len(g.fake.Sent(admin))
	if out, code := g.asSh(2*time.Minute, "systemctl --user reset-failed hermes-gateway.service hermes-gateway.socket; systemctl --user start hermes-gateway.socket\n"+switchTo("v0.0.0-vmconfig", 78)); code != 0 {
		c.fail("exit-78 version: %s", tail(out, 5))
	}
	failed := eventually(time.Minute, func() bool { return g.prop(svc, "ActiveState") == "failed" })
	c.expect(failed, "exit 78 did not leave the unit failed: %s/%s", g.prop(svc, "ActiveState"), g.prop(svc, "Result"))
	msgs, err := g.waitSent(admin, alerts0+1, 2*time.Minute)
	if c.expect(err == nil, "exit 78: no alert reached the admin: %v", err) {
		c.note("alert: %q", firstLine(msgs[alerts0].Text))
	}
	g.settleFailedUnit()
	c.fig("exit78_alerts", len(g.fake.Sent(admin))-alerts0)
	c.fig("exit78_failed_unit_runs", g.alertRuns()-runs0)
	c.expect(len(g.fake.Sent(admin))-alerts0 == 1, "%d alerts for one failure, want 1", len(g.fake.Sent(admin))-alerts0)
	g.failedUnitOK(c)

	restore := `h=` + hermesHome + `; ln -sfn "$(cat "$h/.vmtest-good")" "$h/.c.tmp" && mv -fT "$h/.c.tmp" "$h/current"; rm -rf "$h"/versions/v0.0.0-vm* "$h/.vmtest-good"`
	if out, code := g.asSh(time.Minute, restore); code != 0 {
		c.fail("restore current: %s", out)
	}
	out, code := g.as(2*time.Minute, "hermes", "gateway", "start")
	c.expect(code == 0 && g.prop(svc, "ActiveState") == "active", "gateway start after the failures: exit %d: %s", code, tail(out, 6))
}

// switchTo is a script that points current at a new version whose gateway
// exits with code at once, remembering the good version, and restarts.
func switchTo(version string, code int) string {
	return fmt.Sprintf(`h=%s; d="$h/versions/%s"; mkdir -p "$d"; cp "$h/current/hermes" "$d/"
printf '#!/bin/sh\necho "vmtest: exiting %d on purpose" >&2\nexit %d\n' >"$d/hermes-gateway"; chmod 755 "$d/hermes-gateway"
[ -e "$h/.vmtest-good" ] || readlink "$h/current" >"$h/.vmtest-good"
ln -sfn versions/%s "$h/.c.tmp" && mv -fT "$h/.c.tmp" "$h/current"
systemctl --user restart hermes-gateway.service || true`, hermesHome, version, code, code, version)
}

// settleFailedUnit waits for a running hermes-gateway-failed.service to end.
func (g *guest) settleFailedUnit() {
	eventually(2*time.Minute, func() bool {
		s := g.prop("hermes-gateway-failed.service", "ActiveState")
		return s != "activating" && s != "active"
	})
}

// failedUnitOK: hermes-gateway-failed.service, as shipped, succeeded.
func (g *guest) failedUnitOK(c *check) {
	res, st := g.prop("hermes-gateway-failed.service", "Result"), g.prop("hermes-gateway-failed.service", "ExecMainStatus")
	c.expect(res == "success", "hermes-gateway-failed.service as shipped: %s, exit %s; its journal: %s", res, st,
		g.journal("hermes-gateway-failed.service", 8))
}

// journal is the last n lines of a user unit's journal, for a failure's detail.
func (g *guest) journal(unit string, n int) string {
	out, _ := g.as(time.Minute, "journalctl", "--user", "-u", unit, "-n", strconv.Itoa(n), "--no-pager", "-o", "cat")
	return tail(out, n)
}

// update: messages flow while `hermes update --from DIR` replaces the
// version, and while a chat /update runs hermes-update.service as shipped
// (from the git checkout); every message is answered once.
func (g *guest) update(c *check) {
	// /update from the chat, first: the checkout is at the revision the
	// payload was built from, so the unit fetches, finds nothing newer and
	// succeeds. (After --from below it would find a newer build, and the
	// guest has no Go to build it.)
	sent0 := len(g.fake.Sent(admin))
	var final string
	var ok bool
	var took time.Duration
	injected := g.talk(func() {
		t0 := time.Now()
		g.fake.InjectMessage(fakebot.UserMessage{UserID: admin, Text: "/update"})
		ok = eventually(5*time.Minute, func() bool {
			for _, m := range g.fake.Sent(admin)[sent0:] {
				if strings.Contains(m.Text, "up to date") || strings.HasPrefix(m.Text, "✗") || strings.Contains(m.Text, "Restarted") {
					final = m.Text
					return true
				}
			}
			return false
		})
		took = time.Since(t0)
	})
	c.fig("chat_update_ms", took.Milliseconds())
	eventually(time.Minute, func() bool {
		s := g.prop("hermes-update.service", "ActiveState")
		return s != "activating" && s != "active"
	})
	res, st := g.prop("hermes-update.service", "Result"), g.prop("hermes-update.service", "ExecMainStatus")
	c.fig("update_unit", res+"/"+st)
	if !c.expect(ok && strings.Contains(final, "up to date"), "chat /update: the chat saw %q", texts(g.fake.Sent(admin)[sent0:])) ||
		!c.expect(res == "success" && st == "0", "hermes-update.service as shipped: %s, exit %s", res, st) {
		c.note("hermes-update.service journal: %s", g.journal("hermes-update.service", 15))
	}
	g.answeredOnce(c, "during the chat /update", injected)

	n0 := g.prop(svc, "NRestarts")
	var out string
	var code int
	var wall time.Duration
	injected = g.talk(func() {
		t0 := time.Now()
		out, code = g.as(5*time.Minute, "hermes", "update", "--from", payload+"/next")
		wall = time.Since(t0)
	})
	c.fig("update_wall_ms", wall.Milliseconds())
	m := regexp.MustCompile(`✓ Restarted hermes-gateway \((\S+) → (\S+)\) in (\d+) ms`).FindStringSubmatch(out)
	if c.expect(code == 0 && m != nil, "hermes update --from: exit %d: %s", code, tail(out, 12)) {
		c.fig("restarted_in_ms", m[3])
		c.fig("to", m[2])
		restartMS, _ := strconv.Atoi(m[3])
		c.expect(restartMS < 15000, "✓ Restarted after %d ms, not within seconds", restartMS)
		st, code := g.as(time.Minute, payload+"/runner", "ctl", "status")
		c.expect(code == 0 && strings.Contains(st, `"version":"`+m[2]+`"`), "the gateway does not report %s: %s", m[2], st)
	}
	g.answeredOnce(c, "during hermes update --from", injected)
	c.expect(g.prop(svc, "NRestarts") == n0 && g.prop(svc, "ActiveState") == "active",
		"after the update: NRestarts %s → %s, %s (an exit-75 loop?)", n0, g.prop(svc, "NRestarts"), g.prop(svc, "ActiveState"))
}

// talk has the admin and the paired user send numbered messages, a few a
// second, from a second before during runs until a second after it ends,
// and returns them as "chat:text".
func (g *guest) talk(during func()) []string {
	stop := make(chan struct{})
	done := make(chan []string)
	base := g.fake.Stats().NextUpdateID
	go func() {
		var sent []string
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- sent
				return
			case <-time.After(300 * time.Millisecond): // people typing
			}
			chat := int64(admin)
			if i%2 == 1 {
				chat = stranger
			}
			t := fmt.Sprintf("m-%d-%d", base, i)
			g.fake.InjectMessage(fakebot.UserMessage{UserID: chat, Text: t})
			sent = append(sent, fmt.Sprintf("%d:%s", chat, t))
		}
	}()
	time.Sleep(time.Second) // messages before, too
	during()
	time.Sleep(time.Second) // and after
	close(stop)
	return <-done
}

// answeredOnce: every message of talk is answered, none twice.
func (g *guest) answeredOnce(c *check, when string, injected []string) {
	want := map[int64][]string{}
	for _, s := range injected {
		chat, t, _ := strings.Cut(s, ":")
		id, _ := strconv.ParseInt(chat, 10, 64)
		want[id] = append(want[id], t)
	}
	c.fig("messages", len(injected))
	for chat, ts := range want {
		ok := eventually(2*time.Minute, func() bool { return countIn(g.fake.Sent(chat), ts, 1) == len(ts) })
		sent := g.fake.Sent(chat)
		for _, t := range ts {
			if n := countOf(sent, t); n > 1 {
				c.fail("%s: chat %d: %q answered %d times", when, chat, t, n)
			}
		}
		if !c.expect(ok, "%s: chat %d: %d of %d messages answered within two minutes", when, chat, countIn(sent, ts, 1), len(ts)) {
			last := texts(sent)
			if len(last) > 6 {
				last = last[len(last)-6:]
			}
			st := g.fake.Stats()
			c.note("chat %d's last answers %q; the fake: %d updates pending, next id %d, confirmed offset %d; the gateway's journal: %s",
				chat, last, g.fake.PendingUpdates(), st.NextUpdateID, g.fake.ConfirmedOffset(), g.journal(svc, 25))
		}
	}
}

func texts(ms []fakebot.SentMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

// countOf is how many of ms answer the message text: the echo agent says
// "echo: TEXT", or "echo #N: TEXT" for the Nth turn of a conversation.
func countOf(ms []fakebot.SentMessage, text string) int {
	n := 0
	for _, m := range ms {
		if turnOf(m.Text, text) > 0 {
			n++
		}
	}
	return n
}

// turnOf is the turn number of an echo answer to text (1 without history),
// or 0 when answer does not answer text.
func turnOf(answer, text string) int {
	if answer == "echo: "+text {
		return 1
	}
	var n int
	if rest, ok := strings.CutSuffix(answer, ": "+text); ok {
		if _, err := fmt.Sscanf(rest, "echo #%d", &n); err == nil && rest == fmt.Sprintf("echo #%d", n) {
			return n
		}
	}
	return 0
}

// countIn is how many of texts were sent at least min times.
func countIn(ms []fakebot.SentMessage, texts []string, min int) int {
	n := 0
	for _, t := range texts {
		if countOf(ms, t) >= min {
			n++
		}
	}
	return n
}

// namespace: a drop-in that makes the sandbox impossible (226/NAMESPACE);
// install-unit, status and doctor must say so.
func (g *guest) namespace(c *check) {
	dropin := unitDir + "/hermes-gateway.service.d/vmtest-namespace.conf"
	if out, code := g.asSh(time.Minute, fmt.Sprintf(`mkdir -p "$(dirname %[1]s)"; printf '[Service]\nReadWritePaths=/does-not-exist\n' >%[1]s; systemctl --user daemon-reload`, dropin)); code != 0 {
		c.fail("drop-in: %s", out)
		return
	}
	defer func() {
		// As the user would: remove the drop-in, install the units with
		// the full sandbox again, and the gateway runs hardened.
		g.asSh(time.Minute, fmt.Sprintf(`rm -rf "$(dirname %s)"; systemctl --user daemon-reload`, dropin))
		out, code := g.as(3*time.Minute, "hermes", "install-unit", "--sandbox=full", "--gateway", hermesHome+"/current/hermes-gateway")
		c.expect(code == 0 && g.prop(svc, "ActiveState") == "active", "install-unit --sandbox=full after removing the drop-in: exit %d: %s", code, tail(out, 6))
		unit, _ := os.ReadFile(unitDir + "/hermes-gateway.service")
		c.expect(directive(string(unit), "PrivateUsers") == "yes", "after install-unit --sandbox=full the unit has PrivateUsers=%s", directive(string(unit), "PrivateUsers"))
	}()
	out, code := g.as(2*time.Minute, "hermes", "gateway", "restart")
	c.fig("restart_exit", code)
	status := g.prop(svc, "ExecMainStatus")
	c.fig("ExecMainStatus", status)
	if !c.expect(status == "226", "the drop-in did not make systemd fail with 226/NAMESPACE (exit status %s): %s", status, tail(out, 6)) {
		return
	}
	says := func(s string) bool {
		return strings.Contains(s, "226") || strings.Contains(strings.ToLower(s), "namespace")
	}
	c.expect(code != 0 && says(out), "gateway restart (exit %d) does not say 226/NAMESPACE: %s", code, tail(out, 8))
	out, code = g.as(time.Minute, "hermes", "gateway", "status")
	c.expect(says(out), "gateway status (exit %d) does not say 226/NAMESPACE: %s", code, tail(out, 10))
	out, code = g.as(2*time.Minute, "hermes", "doctor")
	c.expect(code != 0 && says(out), "doctor (exit %d) does not say 226/NAMESPACE: %s", code, tail(out, 12))
	out, code = g.as(3*time.Minute, "hermes", "install-unit", "--gateway", hermesHome+"/current/hermes-gateway")
	c.fig("install_unit_exit", code)
	c.expect(says(out), "install-unit (exit %d) does not say 226/NAMESPACE: %s", code, tail(out, 12))
	if strings.Contains(out, "--sandbox=minimal") {
		c.note("install-unit fell back to --sandbox=minimal: %s", firstLine(out[strings.Index(out, "!"):]))
	}
}

// prepareReboot stops the gateway (as shutdown would), records its
// conversation and the fake's update ids, then the guest reboots.
func (g *guest) prepareReboot() {
	if out, code := g.as(time.Minute, payload+"/runner", "ctl", "status"); code == 0 {
		var st struct{ Version string }
		json.Unmarshal([]byte(out), &st)
		g.st.Version = st.Version
	}
	g.as(2*time.Minute, "hermes", "gateway", "stop")
	if out, code := g.as(time.Minute, payload+"/runner", "history", storeDB, strconv.Itoa(stranger)); code == 0 {
		g.st.Turns, _ = strconv.Atoi(strings.TrimSpace(out))
	} else {
		g.log("history before the reboot: %s", out)
	}
	if g.fake != nil {
		g.st.NextUpdateID = g.fake.Stats().NextUpdateID
	}
	if err := g.save(); err != nil {
		g.log("save state: %v", err)
	}
	exec.Command("sync").Run()
}

// afterReboot: nobody has logged in; linger started the user manager, the
// socket listens, and the first request starts the gateway, which still
// knows its pairings.
func (g *guest) afterReboot(c *check) {
	up := eventually(2*time.Minute, func() bool { return rootProp("user@"+uid+".service", "ActiveState") == "active" })
	if !c.expect(up, "linger did not start user@%s.service at boot: %s", uid, rootProp("user@"+uid+".service", "ActiveState")) {
		return
	}
	c.expect(sessionOf(user) == "", "%s is logged in already (session %s): the test would not show linger", user, sessionOf(user))
	sock := g.prop("hermes-gateway.socket", "ActiveState")
	before := g.prop(svc, "ActiveState")
	c.fig("socket", sock)
	c.fig("service_before", before)
	c.expect(sock == "active", "hermes-gateway.socket is %s after the reboot", sock)
	c.expect(before == "inactive", "the gateway is %s before any request (socket activation expected)", before)
	if err := g.startFake(); err != nil {
		c.fail("%v", err)
		return
	}
	t0 := time.Now()
	out, code := g.as(2*time.Minute, payload+"/runner", "ctl", "status")
	c.fig("first_request_ms", time.Since(t0).Milliseconds())
	var st struct {
		PID       int
		Version   string
		Activated bool `json:"socket_activated"`
	}
	json.Unmarshal([]byte(out), &st)
	c.expect(code == 0 && st.PID > 0 && st.Activated, "first request: exit %d: %s", code, tail(out, 5))
	c.expect(st.Version == g.st.Version, "version %q after the reboot, %q before", st.Version, g.st.Version)
	out, code = g.as(time.Minute, "hermes", "pairing", "list", "--json")
	var pl struct {
		Approved []struct {
			UserID platform.UserID `json:"user_id"`
		} `json:"approved"`
	}
	json.Unmarshal([]byte(out), &pl)
	c.expect(code == 0 && slices.ContainsFunc(pl.Approved, func(a struct {
		UserID platform.UserID `json:"user_id"`
	}) bool {
		return string(a.UserID) == strconv.FormatInt(stranger, 10)
	}), "the pairing of %d is gone: %s", stranger, tail(out, 5))
	n := len(g.fake.Sent(stranger))
	g.fake.InjectMessage(fakebot.UserMessage{UserID: stranger, Text: "after the reboot"})
	msgs, err := g.waitSent(stranger, n+1, 2*time.Minute)
	if c.expect(err == nil && turnOf(msgs[n].Text, "after the reboot") > 0, "no answer after the reboot: %v %q", err, texts(msgs[n:])) {
		// The echo agent numbers the turns of the conversation it was given:
		// the stored one, capped at history_turns (20 by default).
		turn := turnOf(msgs[n].Text, "after the reboot")
		c.fig("turn", turn)
		c.expect(turn == min(g.st.Turns, 20)+1, "the answer after the reboot is turn %d; the conversation had %d turns before it", turn, g.st.Turns)
	}
}

// logout: with linger the gateway outlives the session; without it, what
// doctor warned about happens.
func (g *guest) logout(c *check) {
	sid, err := g.openSession("vmtest-login-2")
	if err != nil {
		c.fail("log in: %v", err)
		return
	}
	pid := g.prop(svc, "MainPID")
	if out, code := cmdOut(time.Minute, "loginctl", "terminate-session", sid); code != 0 {
		c.fail("terminate-session %s: %s", sid, out)
		return
	}
	gone := eventually(time.Minute, func() bool { return sessionProp(sid, "Id") == "" })
	c.expect(gone, "session %s still there after terminate-session", sid)
	c.fig("linger_pid", pid+"→"+g.prop(svc, "MainPID"))
	c.expect(g.prop(svc, "MainPID") == pid && g.prop(svc, "ActiveState") == "active", "with linger, the logout changed the gateway: pid %s → %s, %s", pid, g.prop(svc, "MainPID"), g.prop(svc, "ActiveState"))
	if out, code := g.as(time.Minute, payload+"/runner", "ctl", "status"); code != 0 || !strings.Contains(out, `"pid":`+pid+",") {
		c.fail("with linger, after the logout the gateway answers: exit %d: %s", code, tail(out, 3))
	}

	// Without linger: doctor says the gateway stops at logout; it does.
	sid, err = g.openSession("vmtest-login-3")
	if err != nil {
		c.fail("log in again: %v", err)
		return
	}
	if out, code := g.as(time.Minute, "loginctl", "disable-linger", user); code != 0 {
		c.fail("loginctl disable-linger (as %s): %s", user, out)
		return
	}
	out, _ := g.as(2*time.Minute, "hermes", "doctor")
	var said string
	// The linger check's own line ("warning  linger  …"), not a fix
	// elsewhere that mentions lingering.
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[1] == "linger" {
			said = strings.Join(f, " ")
			break
		}
	}
	c.note("doctor: %q", said)
	if !c.expect(strings.Contains(said, "stops when you log out"), "doctor does not warn that the gateway stops at logout: %s", tail(out, 20)) {
		return
	}
	pid = g.prop(svc, "MainPID")
	t0 := time.Now()
	if out, code := cmdOut(time.Minute, "loginctl", "terminate-session", sid); code != 0 {
		c.fail("terminate-session %s: %s", sid, out)
		return
	}
	stopped := eventually(2*time.Minute, func() bool { return rootProp("user@"+uid+".service", "ActiveState") == "inactive" })
	c.fig("manager_stopped_after_ms", time.Since(t0).Milliseconds())
	_, err = os.Stat("/proc/" + pid)
	c.expect(stopped && os.IsNotExist(err), "without linger the logout left the gateway (pid %s) running: user manager %s", pid, rootProp("user@"+uid+".service", "ActiveState"))
	_, err = os.Stat(runtime + "/hermes/gateway.sock")
	c.expect(os.IsNotExist(err), "the control socket is still there after the logout without linger")
}

// historyKept: the conversation from before the reboot is still in the
// store, with the turn after it (the gateway is stopped by now).
func (g *guest) historyKept(c *check) {
	out, code := g.as(time.Minute, payload+"/runner", "history", storeDB, strconv.Itoa(stranger))
	turns, _ := strconv.Atoi(strings.TrimSpace(out))
	c.fig("turns", fmt.Sprintf("%d→%d", g.st.Turns, turns))
	c.expect(code == 0 && g.st.Turns > 0 && turns == g.st.Turns+1, "conversation of %d: %d turns before the reboot, %d after one more message (%s)", stranger, g.st.Turns, turns, out)
}
