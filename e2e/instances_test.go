//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/require"
)

// The second instance of these tests, beside the default one.
const team = instance.Name("team")

// cleanInstances takes every named instance's units out of the sandbox's
// user manager after a test (and before it, in case an earlier run died),
// so that no other test finds a second gateway running: `hermes update`
// and `hermes doctor` act on every instance they find.
func cleanInstances(t *testing.T, e *env) {
	t.Helper()
	clean := func() {
		unitDir, _, _ := paths()
		for _, n := range []instance.Name{team, "ops"} {
			e.systemctl("stop", n.Service(), n.Socket(), n.FailedService())
			e.systemctl("disable", n.Socket())
			e.systemctl("reset-failed", n.Service(), n.Socket(), n.FailedService())
			os.Remove(filepath.Join(unitDir, n.WebhookSocket()))
			os.RemoveAll(filepath.Join(unitDir, n.Service()+".d"))
			os.RemoveAll(n.StateDir())
			os.RemoveAll(n.ConfigDir())
		}
		for _, n := range units.Gateway {
			os.Remove(filepath.Join(unitDir, units.TemplateName(n)))
		}
		e.systemctl("daemon-reload")
	}
	clean()
	t.Cleanup(clean)
}

// setupInstance runs `hermes [--instance NAME] setup telegram` against fake
// with its token, as a person would.
func setupInstance(t *testing.T, hermesBin string, n instance.Name, fake *fakebot.Server, token string) (string, int) {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tok, []byte(token+"\n"), 0o600))
	args := []string{"setup", "telegram", "--token-file", tok, "--admin", strconv.Itoa(tgUser), "--api-url", fake.URL()}
	if !n.IsDefault() {
		args = append([]string{"--instance", string(n)}, args...)
	}
	return runBin(t, hermesBin, args...)
}

func runBin(t *testing.T, path string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := contextWithTimeout(3 * time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), instance.Env+"=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, ctx.Err(), "%s %v hung: %s", path, args, out)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return string(out), code
}

func (e *env) pidOf(n instance.Name) int {
	e.t.Helper()
	pid, err := strconv.Atoi(e.prop(n.Service(), "MainPID"))
	require.NoError(e.t, err)
	return pid
}

func statusOf(t *testing.T, n instance.Name) *control.Status {
	t.Helper()
	st, err := control.NewClient(n.ControlSocket()).Status(mustCtx(t))
	require.NoError(t, err, "%s's status", n)
	return st
}

func tokenFor(id int) string { return strconv.Itoa(id) + ":AAFakeTokenForTheInstanceTest-0123456789" }

// Two bots on one machine: the default instance and "team", each with its
// own Bot API (fake) and token, installed and set up through the CLI.
// Restarting, killing or breaking the config of one leaves the other's
// process and its chats untouched; the same bot token is refused for a
// third instance; `hermes instances` and `hermes doctor` see both.
func TestTwoInstancesLiveApart(t *testing.T) {
	e := freshManager(t)
	cleanInstances(t, e)
	hermesBin := filepath.Join(bin, "hermes")
	fakeA := fakebot.NewServer(t, fakebot.Options{Token: tokenFor(111111), BotUsername: "default_bot"})
	fakeB := fakebot.NewServer(t, fakebot.Options{Token: tokenFor(222222), BotUsername: "team_bot"})

	out, code := runBin(t, hermesBin, "install-unit")
	require.Zero(t, code, out)
	out, code = runBin(t, hermesBin, "--instance", "team", "install-unit")
	require.Zero(t, code, out)
	require.Contains(t, out, "hermes-gateway@.service", "the template is written")
	require.Contains(t, out, "start hermes-gateway@team.service")

	out, code = setupInstance(t, hermesBin, "", fakeA, fakeA.Token())
	require.Zero(t, code, out)
	require.Contains(t, out, "✓ Restarted hermes-gateway (pid")
	out, code = setupInstance(t, hermesBin, team, fakeB, fakeB.Token())
	require.Zero(t, code, out)
	require.Contains(t, out, "✓ Restarted hermes-gateway@team (pid")
	_, err := os.Stat(filepath.Join(team.ConfigDir(), "telegram.token"))
	require.NoError(t, err, "team's token lives in team's config directory")

	// One poller per bot: the default's token again, for a third instance.
	out, code = setupInstance(t, hermesBin, "ops", fakeA, fakeA.Token())
	require.Equal(t, 1, code, out)
	require.Contains(t, out, `instance "default" already uses this bot (bot id 111111)`)
	require.Contains(t, out, "409 Conflict")
	require.NoDirExists(t, instance.Name("ops").ConfigDir(), "nothing written for the refused instance")

	// Each bot answers in its own chat, through its own gateway.
	fakeA.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "to default"})
	fakeB.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "to team"})
	require.Equal(t, "echo: to default", waitSent(t, fakeA, tgUser, 1)[0].Text)
	require.Equal(t, "echo: to team", waitSent(t, fakeB, tgUser, 1)[0].Text)
	stA, stB := statusOf(t, ""), statusOf(t, team)
	require.NotEqual(t, stA.PID, stB.PID)
	require.Equal(t, filepath.Join(os.Getenv("XDG_STATE_HOME"), "hermes", "team"), stB.StateDir, "team's store is its own")
	require.Equal(t, team.ConfigPath(), stB.ConfigFile)
	require.Equal(t, filepath.Join(os.Getenv("XDG_STATE_HOME"), "hermes"), stA.StateDir, "the default's paths are unchanged")

	out, code = runBin(t, hermesBin, "instances")
	require.Zero(t, code, out)
	require.Regexp(t, regexp.MustCompile(`(?m)^default\s+hermes-gateway\.service\s+active \(running\)\s+`+strconv.Itoa(stA.PID)+`\s+v0\.0\.0-e2e\s+enabled\s`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^team\s+hermes-gateway@team\.service\s+active \(running\)\s+`+strconv.Itoa(stB.PID)+`\s+v0\.0\.0-e2e\s+enabled\s`), out)

	// status, chat and pairing reach the instance they are told to.
	out, code = runBin(t, hermesBin, "--instance", "team", "gateway", "status")
	require.Zero(t, code, out)
	require.Contains(t, out, "hermes-gateway@team.service: active (running)")
	require.Contains(t, out, "hermes-gateway@team.socket: active")
	out, code = runBin(t, hermesBin, "--instance", "team", "chat", "from the terminal")
	require.Zero(t, code, out)
	require.Contains(t, out, "from the terminal")
	fakeB.InjectMessage(fakebot.UserMessage{UserID: 777, Username: "zoe", Text: "let me in"})
	require.Contains(t, waitSent(t, fakeB, 777, 1)[0].Text, "pairing code")
	out, code = runBin(t, hermesBin, "--instance", "team", "pairing", "list")
	require.Zero(t, code, out)
	require.Contains(t, out, "777 (zoe)")
	out, code = runBin(t, hermesBin, "pairing", "list")
	require.Zero(t, code, out)
	require.NotContains(t, out, "zoe", "the default instance's pairing requests are its own")

	defaultPID, sentA := e.pidOf(""), 1
	untouched := func(what string) {
		t.Helper()
		require.Equal(t, defaultPID, e.pidOf(""), "%s: the default instance's process", what)
		require.Len(t, fakeA.Sent(tgUser), sentA, "%s: nothing more was said in the default bot's chat", what)
	}

	// Restart team.
	out, code = runBin(t, hermesBin, "--instance", "team", "gateway", "restart")
	require.Zero(t, code, out)
	require.Regexp(t, `✓ Restarted hermes-gateway@team \(pid \d+ → \d+, v0\.0\.0-e2e\) in \d+ ms`, out)
	untouched("team restarted")

	// Kill team: systemd brings it back, the default never notices.
	pid := e.pidOf(team)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool {
		n := e.pidOf(team)
		return e.prop(team.Service(), "ActiveState") == "active" && n > 1 && n != pid
	}, 30*time.Second, 10*time.Millisecond)
	fakeB.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "after the kill"})
	require.Contains(t, waitSent(t, fakeB, tgUser, 2)[1].Text, ": after the kill")
	untouched("team killed")

	// Break team's config: its restart fails (78, no loop), the default
	// goes on answering.
	require.NoError(t, os.WriteFile(team.ConfigPath(), []byte("[telegram\nbroken"), 0o600))
	out, code = runBin(t, hermesBin, "--instance", "team", "gateway", "restart")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "✗ restart of hermes-gateway@team failed")
	require.Contains(t, out, "hermes --instance team gateway logs")
	untouched("team's config broken")
	fakeA.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "still there?"})
	require.Contains(t, waitSent(t, fakeA, tgUser, 2)[1].Text, ": still there?")
	sentA = 2
	require.Equal(t, defaultPID, e.pidOf(""))

	// The journal is per instance: team's logs carry team's failure, the
	// default's do not.
	out, _ = runBin(t, hermesBin, "--instance", "team", "gateway", "logs", "-n", "200")
	require.Contains(t, out, team.ConfigPath())
	outDefault, _ := runBin(t, hermesBin, "gateway", "logs", "-n", "0")
	require.NotContains(t, outDefault, team.ConfigPath())
	require.Contains(t, outDefault, "@default_bot")

	// doctor without --instance checks both, and fails on team only.
	out, code = runBin(t, hermesBin, "doctor")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "== instance default (hermes-gateway.service)")
	require.Contains(t, out, "== instance team (hermes-gateway@team.service)")
	require.Contains(t, out, "2 instance(s) checked, 1 with failures")
	_, defaultPart, _ := strings.Cut(out, "== instance default")
	defaultPart, teamPart, _ := strings.Cut(defaultPart, "== instance team")
	require.NotRegexp(t, `(?m)^failure`, defaultPart, "the default instance is healthy")
	require.Regexp(t, `(?m)^failure\s+config`, teamPart)
}

// One installed version serves both instances: /update asked from team's
// chat restarts both, each confirmed, and team's chat hears it; a new
// version that comes up in the default instance but not in team's is
// rolled back in both, so they never run different versions.
func TestUpdateRestartsEveryInstanceOrNone(t *testing.T) {
	e := freshManager(t)
	cleanInstances(t, e)
	in := installFromGit(t)
	fakeA := withTelegram(t, e, "", "")
	e.systemctlOK("restart", svc)
	fakeB := fakebot.NewServer(t, fakebot.Options{Token: tokenFor(222222), BotUsername: "team_bot"})
	require.NoError(t, os.MkdirAll(team.ConfigDir(), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(team.ConfigDir(), "token"), []byte(fakeB.Token()+"\n"), 0o600))
	require.NoError(t, os.WriteFile(team.ConfigPath(), []byte(`[telegram]
enabled = true
token_file = "token"
api_url = "`+fakeB.URL()+`"
poll_timeout = "2s"
admins = [`+strconv.Itoa(tgAdmin)+`]
`), 0o600))
	home := filepath.Join(os.Getenv("HOME"), ".local", "lib", "hermes")
	out, code := in.run(t, "--instance", "team", "install-unit", "--gateway", filepath.Join(home, "current", "hermes-gateway"))
	require.Zero(t, code, out)
	oldA, oldB := statusOf(t, ""), statusOf(t, team)
	require.Equal(t, oldA.Version, oldB.Version)

	in.release(t, "0.2.0")
	fakeB.InjectMessage(fakebot.UserMessage{UserID: tgAdmin, Text: "/update"})
	ctx, cancel := contextWithTimeout(5 * time.Minute)
	defer cancel()
	var said []string
	for n := 1; ; n++ {
		msgs, err := fakeB.WaitForMessages(ctx, tgAdmin, n)
		require.NoError(t, err, "team's chat so far: %v", fakeB.Sent(tgAdmin))
		last := msgs[n-1].Text
		said = append(said, last)
		if strings.Contains(last, "✓ Restarted hermes-gateway@team") || strings.Contains(last, "✗") {
			break
		}
	}
	all := strings.Join(said, "\n")
	t.Logf("team's chat heard:\n%s", all)
	restarted := regexp.MustCompile(`✓ Restarted (hermes-gateway(?:@team)?) \((v0\.1\.0\+[0-9a-f]{7}) → (v0\.2\.0\+[0-9a-f]{7})\) in \d+ ms`)
	got := restarted.FindAllStringSubmatch(all, -1)
	require.Len(t, got, 2, "team's chat heard: %s", all)
	require.Equal(t, "hermes-gateway", got[0][1])
	require.Equal(t, "hermes-gateway@team", got[1][1])
	newA, newB := statusOf(t, ""), statusOf(t, team)
	require.Equal(t, got[0][3], newA.Version)
	require.Equal(t, got[0][3], newB.Version)
	require.NotEqual(t, oldA.PID, newA.PID)
	require.NotEqual(t, oldB.PID, newB.PID)
	require.Empty(t, fakeA.Sent(tgAdmin), "the default bot's admin did not ask and heard nothing")
	require.Eventually(t, func() bool { return e.prop(units.UpdateService, "ActiveState") == "inactive" }, 60*time.Second, 50*time.Millisecond)

	// A version that starts as the default instance but dies as team.
	root, _ := filepath.Abs("..")
	next := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(next, "hermes"), "-ldflags", "-X github.com/hermes-gateway/hermes/pkg/version.Version=v0.0.1-e2e-next", "./cmd/hermes")
	build.Dir = root
	b, err := build.CombinedOutput()
	require.NoError(t, err, string(b))
	require.NoError(t, os.WriteFile(filepath.Join(next, "hermes-gateway"), []byte(`#!/bin/sh
if [ "$HERMES_INSTANCE" = team ]; then
  echo "boom: this version cannot serve team" >&2
  exit 1
fi
exec `+filepath.Join(bin, "hermes-gateway-next")+` "$@"
`), 0o755))
	out, code = in.run(t, "update", "--from", next)
	t.Logf("hermes update --from %s:\n%s", next, out)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "✓ Restarted hermes-gateway ("+newA.Version+" → v0.0.1-e2e-next)")
	require.Contains(t, out, "v0.0.1-e2e-next did not come up in hermes-gateway@team")
	require.Contains(t, out, "boom: this version cannot serve team", "team's journal lines")
	require.Contains(t, out, "↩ Rolled back: hermes-gateway, hermes-gateway@team "+newA.Version+" is running again")
	require.Equal(t, newA.Version, statusOf(t, "").Version, "the default instance is back on the version team runs")
	require.Equal(t, newA.Version, statusOf(t, team).Version)

	// A version that refuses team's config is stopped before it switches:
	// no instance restarts.
	pidA, pidB := e.pidOf(""), e.pidOf(team)
	picky := t.TempDir()
	require.NoError(t, os.Symlink(filepath.Join(next, "hermes"), filepath.Join(picky, "hermes")))
	require.NoError(t, os.WriteFile(filepath.Join(picky, "hermes-gateway"), []byte(`#!/bin/sh
case "$*" in
  *--check-config*/team/*) echo "config: this version cannot read team's config" >&2; exit 78 ;;
esac
exec `+filepath.Join(bin, "hermes-gateway-next")+` "$@"
`), 0o755))
	out, code = in.run(t, "update", "--from", picky)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "checking "+team.ConfigPath()+" (instance team)")
	require.Contains(t, out, "✗ nothing switched, every gateway is untouched")
	require.Contains(t, out, "this version cannot read team's config")
	require.Equal(t, pidA, e.pidOf(""))
	require.Equal(t, pidB, e.pidOf(team))
	require.Equal(t, newA.Version, statusOf(t, team).Version)

	fakeA.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "both back?"})
	require.Contains(t, waitSent(t, fakeA, tgUser, 1)[0].Text, "both back?")
	fakeB.InjectMessage(fakebot.UserMessage{UserID: tgAdmin, Text: "team back?"})
	require.Eventually(t, func() bool {
		for _, m := range fakeB.Sent(tgAdmin) {
			if strings.Contains(m.Text, "team back?") {
				return true
			}
		}
		return false
	}, 60*time.Second, 50*time.Millisecond)
}
