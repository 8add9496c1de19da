package instance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSaysWhichNamesAreAllowed(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Name
		errHas  string // "" = valid
		because string
	}{
		{"", "", "", "no name is the default instance"},
		{"default", "", "", "`--instance default` is the default instance, as `hermes instances` shows it"},
		{"team", "team", "", ""},
		{"bot-2", "bot-2", "", "a hyphen needs no escaping with %i"},
		{"my_bot", "my_bot", "", ""},
		{"0ps", "0ps", "", ""},
		{strings.Repeat("a", 32), Name(strings.Repeat("a", 32)), "", "the longest name"},
		{strings.Repeat("a", 33), "", "33 characters long", "the socket path must fit sun_path"},
		{"Team", "", `try "team"`, "one spelling per instance in paths and unit names"},
		{"-team", "", "position 1", "systemd-escape and option parsers read a leading '-' otherwise"},
		{"_team", "", "position 1", ""},
		{"a.b", "", `'.'`, "a dot would read as a unit suffix"},
		{"a/b", "", `'/'`, "a slash would leave the config directory"},
		{"a@b", "", `'@'`, "unit names take one @"},
		{"a b", "", `' '`, ""},
		{"..", "", `'.'`, ""},
		{"tëam", "", `'ë'`, "unit names are ASCII"},
		{"a\\x2db", "", `'\\'`, "no pre-escaped names"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.errHas == "" {
				require.NoError(t, err, tc.because)
				require.Equal(t, tc.want, got)
				return
			}
			require.Error(t, err, tc.because)
			require.Contains(t, err.Error(), tc.errHas)
			require.Contains(t, err.Error(), "a-z, 0-9", "the error says which names are allowed")
		})
	}
}

func TestCurrentReadsAndValidatesTheEnvironment(t *testing.T) {
	t.Setenv(Env, "team")
	n, err := Current()
	require.NoError(t, err)
	require.Equal(t, Name("team"), n)

	t.Setenv(Env, "Bad/Name")
	_, err = Current()
	require.ErrorContains(t, err, "$HERMES_INSTANCE")
	require.Equal(t, Name(""), CurrentOrDefault())

	t.Setenv(Env, "")
	n, err = Current()
	require.NoError(t, err)
	require.True(t, n.IsDefault())
}

// The default instance keeps the names and paths of an install made before
// instances existed; a named one is one directory deeper everywhere and
// runs the template units.
func TestNamesAndPathsPerInstance(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_CONFIG_HOME", "/home/u/.config")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	for _, tc := range []struct {
		n                                       Name
		name, service, socket, webhook, failed  string
		configPath, stateDir, controlSock, flag string
	}{
		{"", "default", "hermes-gateway.service", "hermes-gateway.socket", "hermes-gateway-webhook.socket", "hermes-gateway-failed.service",
			"/home/u/.config/hermes/config.toml", "/home/u/.local/state/hermes", "/run/user/1000/hermes/gateway.sock", ""},
		{"team", "team", "hermes-gateway@team.service", "hermes-gateway@team.socket", "hermes-gateway-webhook@team.socket", "hermes-gateway-failed@team.service",
			"/home/u/.config/hermes/team/config.toml", "/home/u/.local/state/hermes/team", "/run/user/1000/hermes/team/gateway.sock", "--instance team "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.name, tc.n.String())
			require.Equal(t, tc.service, tc.n.Service())
			require.Equal(t, tc.socket, tc.n.Socket())
			require.Equal(t, tc.webhook, tc.n.WebhookSocket())
			require.Equal(t, tc.failed, tc.n.FailedService())
			require.Equal(t, "hermes-update.service", tc.n.Unit("hermes-update.service"), "the updater is shared")
			require.Equal(t, tc.configPath, tc.n.ConfigPath())
			require.Equal(t, tc.stateDir, tc.n.StateDir())
			require.Equal(t, tc.controlSock, tc.n.ControlSocket())
			require.Equal(t, tc.flag, tc.n.Flag())
		})
	}
	// The longest name still fits a unix socket address (108 bytes with
	// its NUL) under a typical runtime directory.
	long := Name(strings.Repeat("z", MaxLen))
	require.Less(t, len(long.ControlSocket()), 108)
}

func TestListFindsConfigsAndEnabledSocketsNotOtherFiles(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	root := ConfigRoot()
	write := func(p string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, nil, 0o600))
	}
	write(filepath.Join(root, "config.toml"))                            // the default's own
	write(filepath.Join(root, "team", "config.toml"))                    // a named instance
	write(filepath.Join(root, "telegram.token"))                         // a file, not an instance
	require.NoError(t, os.MkdirAll(filepath.Join(root, "empty"), 0o700)) // no config: not one
	write(filepath.Join(root, "Bad", "config.toml"))                     // not a valid name
	unitDir := filepath.Join(home, ".config", "systemd", "user")
	write(filepath.Join(unitDir, "sockets.target.wants", "hermes-gateway@ops.socket"))
	write(filepath.Join(unitDir, "sockets.target.wants", "hermes-gateway.socket"))
	write(filepath.Join(unitDir, "sockets.target.wants", "hermes-gateway-webhook@web.socket"))

	require.Equal(t, []Name{"", "ops", "team"}, List(unitDir))
}
