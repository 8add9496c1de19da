//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/require"
)

// git runs git in dir.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid"}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// installed is a gateway installed the way a person installs it: a clone of
// an origin repository, scripts/install.sh into ~/.local/lib/hermes.
type installed struct {
	origin, checkout string
	hermes           string // ~/.local/bin/hermes
}

// installFromGit makes an origin repository holding this project's source
// (as it is in the working tree), clones it, and runs scripts/install.sh.
func installFromGit(t *testing.T) *installed {
	t.Helper()
	home := os.Getenv("HOME")
	require.NoError(t, os.RemoveAll(filepath.Join(home, ".local", "lib", "hermes")))
	require.NoError(t, os.RemoveAll(filepath.Join(home, ".local", "bin", "hermes")))
	root, _ := filepath.Abs("..")
	dir := t.TempDir()
	origin := filepath.Join(dir, "origin")
	require.NoError(t, os.MkdirAll(origin, 0o755))
	git(t, origin, "init", "-q", "-b", "main")
	files := strings.Split(git(t, root, "ls-files", "--cached", "--others", "--exclude-standard"), "\n")
	for _, f := range files {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the working tree
		}
		fi, _ := os.Stat(filepath.Join(root, f))
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(origin, f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(origin, f), data, fi.Mode().Perm()))
	}
	require.NoError(t, os.WriteFile(filepath.Join(origin, "VERSION"), []byte("0.1.0\n"), 0o644))
	git(t, origin, "add", "-A")
	git(t, origin, "commit", "-q", "-m", "hermes 0.1.0")
	checkout := filepath.Join(dir, "checkout")
	git(t, dir, "clone", "-q", origin, checkout)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(checkout, "scripts", "install.sh"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "install.sh: %s", out)
	return &installed{origin: origin, checkout: checkout, hermes: filepath.Join(home, ".local", "bin", "hermes")}
}

// release commits a new version in the origin.
func (in *installed) release(t *testing.T, semver string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(in.origin, "VERSION"), []byte(semver+"\n"), 0o644))
	git(t, in.origin, "commit", "-q", "-am", "hermes "+semver)
}

func (in *installed) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, in.hermes, args...).CombinedOutput()
	require.NoError(t, ctx.Err(), "hermes %v hung: %s", args, out)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return string(out), code
}

var restartedVersionsRe = regexp.MustCompile(`✓ Restarted hermes-gateway \((v0\.1\.0\+[0-9a-f]{7}) → (v0\.2\.0\+[0-9a-f]{7})\) in \d+ ms`)

// The field scenario: installed from git, a new commit upstream, `hermes
// update` ends with ✓ Restarted and the new version within seconds, and a
// message sent during the update is answered exactly once.
func TestUpdateFromGitWhileMessagesArrive(t *testing.T) {
	e := freshManager(t)
	in := installFromGit(t)
	fake := withTelegram(t, e, "", "")
	e.systemctlOK("restart", svc)
	old := e.status()
	require.True(t, strings.HasPrefix(old.Version, "v0.1.0+"), old.Version)

	out, code := in.run(t, "update", "--check")
	require.Zero(t, code, out)
	require.Contains(t, out, "up to date")

	in.release(t, "0.2.0")
	out, code = in.run(t, "update", "--check")
	require.Zero(t, code, out)
	require.Contains(t, out, "update available")
	require.Contains(t, out, "hermes 0.2.0")

	var wg sync.WaitGroup
	stop := make(chan struct{})
	sent := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		// At most 40: the answers go out at Telegram's pace of one a
		// second per chat, and a slow build (a loaded machine) must not
		// turn into more answers than the wait below allows.
		for sent < 40 {
			select {
			case <-stop:
				return
			default:
			}
			fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: fmt.Sprintf("during-%d", sent)})
			sent++
			time.Sleep(50 * time.Millisecond) // a person typing; not a synchronisation
		}
	}()
	out, code = in.run(t, "update")
	close(stop)
	wg.Wait()
	require.Zero(t, code, out)
	m := restartedVersionsRe.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	require.Equal(t, old.Version, m[1])
	now := e.status()
	require.Equal(t, m[2], now.Version, "the running gateway is the new version")
	require.NotEqual(t, old.PID, now.PID)

	msgs := waitSent(t, fake, tgUser, sent)
	seen := map[string]int{}
	for _, msg := range msgs {
		_, text, _ := strings.Cut(msg.Text, ": ")
		seen[text]++
	}
	for i := 0; i < sent; i++ {
		require.Equal(t, 1, seen[fmt.Sprintf("during-%d", i)], "all: %v", msgs)
	}

	// Already current: nothing restarts.
	out, code = in.run(t, "update")
	require.Zero(t, code, out)
	require.Contains(t, out, "up to date; nothing restarted")
	require.Equal(t, now.PID, e.status().PID)

	// And back.
	out, code = in.run(t, "update", "--rollback")
	require.Zero(t, code, out)
	require.Equal(t, old.Version, e.status().Version)
}

// A new version that exits at once: rolled back, the old one answering, a
// non-zero exit and the reason printed.
func TestABrokenNewVersionIsRolledBack(t *testing.T) {
	e := freshManager(t)
	in := installFromGit(t)
	fake := withTelegram(t, e, "", "")
	e.systemctlOK("restart", svc)
	old := e.status()

	broken := t.TempDir()
	require.NoError(t, os.Symlink(filepath.Join(bin, "hermes-broken"), filepath.Join(broken, "hermes")))
	require.NoError(t, os.WriteFile(filepath.Join(broken, "hermes-gateway"), []byte(`#!/bin/sh
case "$1" in
  --version) echo "hermes-gateway v9.9.9-broken (rev 0, go)"; exit 0 ;;
  --check-config) exit 0 ;;
esac
echo "boom: the new version cannot start" >&2
exit 1
`), 0o755))

	out, code := in.run(t, "update", "--from", broken)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "v9.9.9-broken did not come up")
	require.Contains(t, out, "boom: the new version cannot start", "the new version's journal lines")
	require.Contains(t, out, "↩ Rolled back: hermes-gateway "+old.Version+" is running again")

	st := e.status()
	require.Equal(t, old.Version, st.Version)
	require.Equal(t, "active", e.prop(svc, "ActiveState"))
	fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "still answering?"})
	require.Equal(t, "echo: still answering?", waitSent(t, fake, tgUser, 1)[0].Text)
}

// Two updates at once: the second refuses, saying who holds the lock.
func TestASecondUpdateRefuses(t *testing.T) {
	freshManager(t)
	in := installFromGit(t)
	lock := filepath.Join(os.Getenv("HOME"), ".local", "lib", "hermes", "update.lock")
	holder := exec.Command("flock", lock, "sleep", "300")
	require.NoError(t, holder.Start())
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	require.Eventually(t, func() bool {
		out, _ := exec.Command("flock", "-n", lock, "true").CombinedOutput()
		return exec.Command("flock", "-n", lock, "true").Run() != nil && len(out) == 0
	}, 10*time.Second, 10*time.Millisecond)

	out, code := in.run(t, "update")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "another hermes update is running")
	require.Contains(t, out, "--wait")
}

// /update from an admin: the updater runs as its own unit, survives the
// gateway's restart, and the chat hears the result from the new gateway.
func TestUpdateFromTheChat(t *testing.T) {
	e := freshManager(t)
	in := installFromGit(t)
	fake := withTelegram(t, e, "", "")
	e.systemctlOK("restart", svc)
	old := e.status()
	in.release(t, "0.2.0")

	fake.InjectMessage(fakebot.UserMessage{UserID: tgAdmin, Text: "/update"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var done string
	for n := 1; done == ""; n++ {
		msgs, err := fake.WaitForMessages(ctx, tgAdmin, n)
		require.NoError(t, err, "messages so far: %v", fake.Sent(tgAdmin))
		if last := msgs[n-1].Text; strings.Contains(last, "✓ Restarted") || strings.Contains(last, "✗") {
			done = last
		}
	}
	require.Regexp(t, restartedVersionsRe, done)
	msgs := fake.Sent(tgAdmin)
	require.Contains(t, msgs[0].Text, "Updating")
	require.NotEqual(t, old.PID, e.status().PID)
	require.True(t, strings.HasPrefix(e.status().Version, "v0.2.0+"))
	require.Eventually(t, func() bool { return e.prop(units.UpdateService, "ActiveState") == "inactive" }, 60*time.Second, 50*time.Millisecond)
	require.Equal(t, "success", e.prop(units.UpdateService, "Result"), "the updater outlived the gateway's restart")
}
