//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/doctor"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/require"
)

// loginctlSays puts a stand-in loginctl first in PATH: the sandbox has no
// logind, so the real one cannot answer about lingering.
func loginctlSays(t *testing.T, linger string) []string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "loginctl"), []byte("#!/bin/sh\necho "+linger+"\n"), 0o755))
	return []string{"PATH=" + dir + ":" + os.Getenv("PATH")}
}

func runDoctor(t *testing.T, env []string) (*doctor.Report, int) {
	t.Helper()
	out, code := hermes(t, env, "doctor", "--json")
	var rep doctor.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return &rep, code
}

func check(t *testing.T, rep *doctor.Report, name string) doctor.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, rep.Checks)
	return doctor.Check{}
}

func TestDoctorOnAHealthyInstallAndOnEachProblem(t *testing.T) {
	e := freshManager(t)
	fake := fakebot.NewServer(t, fakebot.Options{})
	withTelegram(t, e, "", "")
	out, code := hermes(t, nil, "install-unit")
	require.Zero(t, code, out)
	e.status()
	lingerOn := loginctlSays(t, "yes")
	_ = fake

	rep, code := runDoctor(t, lingerOn)
	require.Zero(t, code)
	for _, c := range rep.Checks {
		require.Contains(t, []string{doctor.OK, doctor.Skipped}, c.Status, "%s: %s", c.Name, c.Detail)
	}
	require.Equal(t, doctor.OK, check(t, rep, "telegram").Status)

	// Linger off.
	rep, _ = runDoctor(t, loginctlSays(t, "no"))
	c := check(t, rep, "linger")
	require.Equal(t, doctor.Warning, c.Status)
	require.Contains(t, c.Fix, "loginctl enable-linger")

	// A stale unit.
	unitDir, _, _ := paths()
	p := filepath.Join(unitDir, units.Service)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), "RestartSec=100ms", "RestartSec=5s", 1)), 0o644))
	rep, _ = runDoctor(t, lingerOn)
	c = check(t, rep, "units")
	require.Equal(t, doctor.Warning, c.Status)
	require.Contains(t, c.Detail, "changed by hand")
	require.Contains(t, c.Fix, "hermes install-unit")
	require.NoError(t, os.WriteFile(p, b, 0o644))

	// A 409: a webhook is set while the config polls.
	tokenB, err := os.ReadFile(filepath.Join(filepath.Dir(e.configPath()), "token"))
	require.NoError(t, err)
	apiURL := configAPIURL(t, e)
	resp, err := http.PostForm(apiURL+"/bot"+strings.TrimSpace(string(tokenB))+"/setWebhook", url.Values{"url": {"http://127.0.0.1:9/hook"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Eventually(t, func() bool {
		st := e.status()
		return len(st.Platforms) == 1 && st.Platforms[0].State == "conflict"
	}, 60*time.Second, 50*time.Millisecond)
	rep, code = runDoctor(t, lingerOn)
	require.Equal(t, 1, code)
	require.Equal(t, doctor.Failure, check(t, rep, "webhook registration").Status)
	c = check(t, rep, "telegram conflict")
	require.Equal(t, doctor.Failure, c.Status)
	require.Contains(t, c.Fix, "stop the other bot instance")

	// A broken config.
	e.writeConfig("[gateway]\nbogus = 1\n")
	rep, code = runDoctor(t, lingerOn)
	require.Equal(t, 1, code)
	c = check(t, rep, "config")
	require.Equal(t, doctor.Failure, c.Status)
	require.Contains(t, c.Detail, "bogus")

	// A crash loop.
	e.writeConfig("")
	e.systemctlOK("restart", svc)
	for i := 0; i < 4; i++ {
		pid := e.mainPID()
		sigkill(t, pid)
		require.Eventually(t, func() bool { n := e.mainPID(); return e.prop(svc, "ActiveState") == "active" && n > 1 && n != pid }, 30*time.Second, 10*time.Millisecond)
	}
	rep, code = runDoctor(t, lingerOn)
	require.Equal(t, 1, code)
	c = check(t, rep, "crash loop")
	require.Equal(t, doctor.Failure, c.Status)
	require.Contains(t, c.Fix, "--invocation previous")
	c = check(t, rep, "last exit")
	require.Equal(t, doctor.Warning, c.Status)
	require.Contains(t, c.Detail, "killed")
}

// A SIGKILL storm that reaches the start limit sends exactly one alert; a
// planned restart sends none.
func TestOneAlertWhenTheGatewayDiesForGoodNoneForAPlannedRestart(t *testing.T) {
	e := newEnv(t)
	fake := withTelegram(t, e, "", "")
	st := e.status()
	// The admin has talked to the bot (Telegram lets a bot write only to
	// people who did).
	fake.InjectMessage(fakebot.UserMessage{UserID: tgAdmin, Text: "/help"})
	waitSent(t, fake, tgAdmin, 1)

	// A planned restart: no alert.
	alerts := e.prop(units.FailedService, "InvocationID")
	require.NoError(t, e.client().Restart(mustCtx(t), "planned"))
	require.Eventually(t, func() bool { s := e.status(); return s.PID != st.PID }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, alerts, e.prop(units.FailedService, "InvocationID"), "OnFailure did not fire for exit 75")

	// The storm: kill every new process until systemd gives up.
	for i := 0; i < 100 && e.prop(svc, "ActiveState") != "failed"; i++ {
		if pid, _ := strconv.Atoi(e.prop(svc, "MainPID")); pid > 1 {
			// It may have died between the read and the kill: ESRCH is fine.
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		require.Eventually(t, func() bool {
			s := e.prop(svc, "ActiveState")
			pid, _ := strconv.Atoi(e.prop(svc, "MainPID"))
			return s == "failed" || (s == "active" && pid > 0)
		}, 30*time.Second, 5*time.Millisecond)
	}
	require.Equal(t, "failed", e.prop(svc, "ActiveState"))
	msgs := waitSent(t, fake, tgAdmin, 2)
	require.Contains(t, msgs[1].Text, "🚨 hermes-gateway.service failed")
	require.Contains(t, msgs[1].Text, "hermes gateway logs")
	require.Eventually(t, func() bool { return e.prop(units.FailedService, "ActiveState") == "inactive" }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "0", e.prop(units.FailedService, "ExecMainStatus"))
	require.Len(t, fake.Sent(tgAdmin), 2, "exactly one alert")
	e.systemctl("reset-failed", svc, sock, units.FailedService)
}

func configAPIURL(t *testing.T, e *env) string {
	b, err := os.ReadFile(e.configPath())
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "api_url = "); ok {
			s, err := strconv.Unquote(v)
			require.NoError(t, err)
			return s
		}
	}
	t.Fatal("no api_url in the config")
	return ""
}
