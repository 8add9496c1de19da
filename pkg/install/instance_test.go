package install

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/units"
	"github.com/stretchr/testify/require"
)

func unitFiles(t *testing.T, dir string) []string {
	var names []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return err
	}))
	sort.Strings(names)
	return names
}

// A named instance installs the shared templates and starts its own
// instance of them; the default instance's files are neither written nor
// needed, and a second named instance reuses the same templates.
func TestNamedInstanceInstallsTemplatesAndStartsItsInstance(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv(instance.Env, "team")
	f := newFake(t, always(0))
	var out bytes.Buffer
	_, err := Install(context.Background(), f, f.options("", &out))
	require.NoError(t, err, out.String())
	require.Equal(t, []string{"hermes-gateway-failed@.service", "hermes-gateway@.service", "hermes-gateway@.socket",
		"hermes-update.service", "hermes-update.timer"}, unitFiles(t, f.unitDir))
	require.Contains(t, f.calls, "enable hermes-gateway@team.socket")
	require.Contains(t, f.calls, "start hermes-gateway@team.service")
	require.DirExists(t, filepath.Join(home, "state", "hermes", "team"), "the hardened service needs its state directory")
	b, err := os.ReadFile(filepath.Join(f.unitDir, "hermes-gateway@.service"))
	require.NoError(t, err)
	require.Equal(t, "-"+filepath.Join(home, "state", "hermes")+"/%i -%t/hermes/%i", units.Directive(b, "Service", "ReadWritePaths"))

	// The same templates serve a second instance: nothing to rewrite.
	t.Setenv(instance.Env, "ops")
	out.Reset()
	f.calls = nil
	res, err := Install(context.Background(), f, f.options("", &out))
	require.NoError(t, err, out.String())
	require.NotContains(t, res.Actions, "daemon-reload", out.String())
	require.Contains(t, f.calls, "start hermes-gateway@ops.service")
}

// What a shared template cannot say for one instance goes into that
// instance's drop-in; its webhook socket (its own address) is a file of
// its own.
func TestNamedInstanceDropInAndWebhookSocket(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv(instance.Env, "team")
	cfg := config.Default()
	cfg.Agent.Backend = config.BackendExec
	cfg.Telegram.Mode = config.ModeWebhook
	cfg.Telegram.Webhook.Listen = "127.0.0.1:9444"
	files, err := Check(units.Params{Gateway: "/g"}, t.TempDir(), cfg)
	require.NoError(t, err)
	byName := map[string]File{}
	for _, f := range files {
		byName[f.Name] = f
	}
	hook, ok := byName["hermes-gateway-webhook@team.socket"]
	require.True(t, ok, "files: %v", byName)
	require.Equal(t, "127.0.0.1:9444", units.Directive(hook.want, "Socket", "ListenStream"))
	require.Equal(t, "hermes-gateway@%i.service", units.Directive(hook.want, "Socket", "Service"))
	drop, ok := byName["hermes-gateway@team.service.d/hermes-instance.conf"]
	require.True(t, ok)
	require.Equal(t, "no", units.Directive(drop.want, "Service", "MemoryDenyWriteExecute"))
	tmpl := byName["hermes-gateway@.service"]
	require.Equal(t, "yes", units.Directive(tmpl.want, "Service", "MemoryDenyWriteExecute"), "the template keeps the hardening for the other instances")

	t.Setenv(instance.Env, "")
	files, err = Check(units.Params{Gateway: "/g"}, t.TempDir(), cfg)
	require.NoError(t, err)
	for _, f := range files {
		require.NotContains(t, f.Name, "@", "the default instance installs no template")
	}
}

// Purging the default instance must not take the named instances' config
// and state with it: theirs live one directory below the default's.
func TestPurgingTheDefaultKeepsTheOtherInstances(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	t.Setenv(instance.Env, "")
	for _, p := range []string{
		instance.Name("").ConfigPath(), filepath.Join(instance.ConfigRoot(), "telegram.token"),
		instance.Name("team").ConfigPath(), filepath.Join(instance.Name("team").StateDir(), "gateway.db"),
		filepath.Join(instance.StateRoot(), "gateway.db"),
	} {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, nil, 0o600))
	}
	f := newFake(t, always(0))
	require.NoError(t, Uninstall(context.Background(), f, UninstallOptions{UnitDir: f.unitDir, Purge: true}))
	require.NoFileExists(t, instance.Name("").ConfigPath())
	require.NoFileExists(t, filepath.Join(instance.StateRoot(), "gateway.db"))
	require.FileExists(t, instance.Name("team").ConfigPath())
	require.FileExists(t, filepath.Join(instance.Name("team").StateDir(), "gateway.db"))
}

// Uninstalling the default instance while named ones remain leaves the
// update units they need; a named instance's uninstall leaves the templates.
func TestUninstallLeavesWhatOtherInstancesNeed(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	f := newFake(t, always(0))
	t.Setenv(instance.Env, "team")
	require.NoError(t, os.MkdirAll(instance.Name("team").ConfigDir(), 0o700))
	require.NoError(t, os.WriteFile(instance.Name("team").ConfigPath(), nil, 0o600))
	_, err := Install(context.Background(), f, f.options("", &bytes.Buffer{}))
	require.NoError(t, err)
	t.Setenv(instance.Env, "")
	_, err = Install(context.Background(), f, f.options("", &bytes.Buffer{}))
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, Uninstall(context.Background(), f, UninstallOptions{UnitDir: f.unitDir, Out: &out}))
	require.Contains(t, out.String(), "1 named instance(s) remain")
	require.Equal(t, []string{"hermes-gateway-failed@.service", "hermes-gateway@.service", "hermes-gateway@.socket",
		"hermes-update.service", "hermes-update.timer"}, unitFiles(t, f.unitDir))

	t.Setenv(instance.Env, "team")
	f.calls = nil
	require.NoError(t, Uninstall(context.Background(), f, UninstallOptions{UnitDir: f.unitDir, Out: &out}))
	require.Contains(t, f.calls, "stop hermes-gateway@team.service")
	require.Contains(t, unitFiles(t, f.unitDir), "hermes-gateway@.service")
}
