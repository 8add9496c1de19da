//go:build e2e

package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests use the sandbox's private systemd --user and journald
// (scripts/sandbox), next to other packages' e2e tests: their units have
// names of their own.

func requireSandbox(t *testing.T) {
	t.Helper()
	if os.Getenv("HERMES_SANDBOX") == "" {
		t.Fatal("pkg/journal e2e: these tests drive a real systemd --user and journald; run them inside the sandbox: scripts/sandbox -- go test -tags e2e ./pkg/journal/")
	}
}

func systemctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("systemctl", append([]string{"--user"}, args...)...).CombinedOutput()
	require.NoError(t, err, "systemctl --user %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// installUnit writes a unit file and reloads; the unit goes when the test
// ends.
func installUnit(t *testing.T, name, content string) {
	t.Helper()
	dir := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	systemctl(t, "daemon-reload")
	t.Cleanup(func() {
		_ = exec.Command("systemctl", "--user", "stop", name).Run()
		_ = os.Remove(path)
		_ = exec.Command("systemctl", "--user", "daemon-reload").Run()
		_ = exec.Command("systemctl", "--user", "reset-failed", name).Run()
	})
}

var unitSeq atomic.Int32

// e2eUnitName is a name no other test (nor -count run) uses.
func e2eUnitName(what string) string {
	return fmt.Sprintf("hermes-e2e-journal-%s-%d-%d.service", what, os.Getpid(), unitSeq.Add(1))
}

func invocationID(t *testing.T, name string) string {
	id := systemctl(t, "show", "--property=InvocationID", "--value", name)
	require.Len(t, id, 32)
	return id
}

var errSeen = errors.New("seen")

// waitForLine follows the unit's journal until a line with exactly msg
// arrives (journald writes asynchronously to the job's end).
func waitForLine(t *testing.T, name, msg string) Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var seen Entry
	err := Follow(ctx, Query{Unit: name}, func(e Entry) error {
		if e.Message == msg {
			seen = e
			return errSeen
		}
		return nil
	})
	require.ErrorIs(t, err, errSeen, "waiting for %q in the journal of %s", msg, name)
	return seen
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// journaldTagsUserUnits: journald finds a user unit's invocation under
// /run/user/UID, so it tags the unit's lines only when the user manager's
// runtime directory is there.
func journaldTagsUserUnits() bool {
	return os.Getenv("XDG_RUNTIME_DIR") == "/run/user/"+strconv.Itoa(os.Getuid())
}

func TestE2EPreviousInvocation(t *testing.T) {
	requireSandbox(t)
	name := e2eUnitName("prev")
	// $$ is a literal $ in unit files; \\377 becomes \377 for printf, a
	// byte that is not UTF-8.
	installUnit(t, name, `[Unit]
Description=hermes e2e: prints its invocation
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=all
ExecStart=/bin/sh -c 'echo "hello from $$INVOCATION_ID"; printf "bad \\377 byte\\n"; systemd-notify --ready; exec sleep infinity'
`)
	if journaldTagsUserUnits() {
		t.Log("XDG_RUNTIME_DIR is under /run/user: journald tags the unit's lines with _SYSTEMD_INVOCATION_ID")
	} else {
		t.Log("XDG_RUNTIME_DIR is not under /run/user: journald cannot tag the unit's lines, invocations are inferred")
	}

	systemctl(t, "start", name)
	first := invocationID(t, name)
	hello1 := waitForLine(t, name, "hello from "+first)
	systemctl(t, "restart", name)
	second := invocationID(t, name)
	require.NotEqual(t, first, second)
	hello2 := waitForLine(t, name, "hello from "+second)
	if journaldTagsUserUnits() {
		require.Equal(t, first, hello1.Fields["_SYSTEMD_INVOCATION_ID"])
		require.Equal(t, second, hello2.Fields["_SYSTEMD_INVOCATION_ID"])
		require.Equal(t, first, hello1.InvocationID)
		require.Equal(t, second, hello2.InvocationID)
	} else {
		// Following, an untagged line that journald took before the
		// manager's first message of its run cannot be placed yet.
		require.Contains(t, []string{first, ""}, hello1.InvocationID)
		require.Contains(t, []string{second, ""}, hello2.InvocationID)
	}

	ids, err := Invocations(testCtx(t), name)
	require.NoError(t, err)
	require.Equal(t, []string{first, second}, ids)

	prev, err := Read(testCtx(t), Query{Unit: name, Invocation: "previous"})
	require.NoError(t, err)
	var sawHello, sawBad, sawManager bool
	for _, e := range prev {
		require.Equal(t, first, e.InvocationID, "%q", e.Message)
		require.NotContains(t, e.Message, second)
		switch {
		case e.Message == "hello from "+first:
			sawHello = true
			require.Equal(t, name, e.Fields["_SYSTEMD_USER_UNIT"])
			require.NotZero(t, e.PID)
		case e.Fields["MESSAGE"] == "bad \xff byte":
			sawBad = true
			require.Equal(t, "bad \uFFFD byte", e.Message)
		case e.Fields["USER_UNIT"] == name:
			sawManager = true
			require.Equal(t, first, e.Fields["USER_INVOCATION_ID"])
		}
	}
	require.True(t, sawHello, "the first run's line")
	require.True(t, sawBad, "the first run's non-UTF-8 line")
	require.True(t, sawManager, "the manager's messages about the first run")
	stopped := false
	for _, e := range prev {
		stopped = stopped || e.Fields["MESSAGE_ID"] == "9d1aaa27d60140bd96365438aad20286" // "Stopped UNIT."
	}
	require.True(t, stopped, "the manager's message that the first run stopped")

	byID, err := Read(testCtx(t), Query{Unit: name, Invocation: first})
	require.NoError(t, err)
	require.Equal(t, messages(prev), messages(byID))

	cur, err := Read(testCtx(t), Query{Unit: name, Invocation: "current"})
	require.NoError(t, err)
	require.Contains(t, messages(cur), "hello from "+second)
	for _, e := range cur {
		require.Equal(t, second, e.InvocationID, "%q", e.Message)
	}

	// Field matches and line counts go to journalctl.
	one, err := Read(testCtx(t), Query{Unit: name, Match: map[string]string{"MESSAGE": "hello from " + second}})
	require.NoError(t, err)
	require.Len(t, one, 1)
	last, err := Read(testCtx(t), Query{Unit: name, Lines: 2})
	require.NoError(t, err)
	require.Len(t, last, 2)
	all, err := Read(testCtx(t), Query{Unit: name})
	require.NoError(t, err)
	require.Equal(t, messages(all)[len(all)-2:], messages(last))
}

// Following the current invocation shows its lines, then a restart's.
func TestE2EFollowCurrent(t *testing.T) {
	requireSandbox(t)
	name := e2eUnitName("follow")
	installUnit(t, name, `[Unit]
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=all
ExecStart=/bin/sh -c 'echo "hello from $$INVOCATION_ID"; systemd-notify --ready; exec sleep infinity'
`)
	systemctl(t, "start", name)
	first := invocationID(t, name)
	waitForLine(t, name, "hello from "+first)
	systemctl(t, "restart", name)
	second := invocationID(t, name)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var third string
	var got []Entry
	err := Follow(ctx, Query{Unit: name, Invocation: "current"}, func(e Entry) error {
		got = append(got, e)
		switch e.Message {
		case "hello from " + second:
			// Now a restart: its lines come on the same follow.
			systemctl(t, "restart", name)
			third = invocationID(t, name)
		case "hello from " + third:
			return errSeen
		}
		return nil
	})
	require.ErrorIs(t, err, errSeen)
	for _, e := range got {
		require.NotEqual(t, first, e.InvocationID, "%q", e.Message)
		require.NotEqual(t, "hello from "+first, e.Message)
	}
	require.Equal(t, second, got[0].InvocationID)
	msgs := messages(got)
	require.Contains(t, msgs, "hello from "+second)
}

func TestE2EJournalctlError(t *testing.T) {
	requireSandbox(t)
	_, err := Read(testCtx(t), Query{Unit: "hermes-e2e-none.service", Since: "not a time"})
	require.ErrorContains(t, err, "journalctl")
	require.ErrorContains(t, err, "not a time")
}
