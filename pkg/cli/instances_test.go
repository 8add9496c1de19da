package cli

import (
	"bytes"
	"os"
	"testing"

	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/stretchr/testify/require"
)

func TestInstanceFlagIsValidatedAndDoesNotOutliveTheCommand(t *testing.T) {
	t.Setenv(instance.Env, "")
	os.Unsetenv(instance.Env)
	for _, tc := range []struct {
		args []string
		env  string
		code int
		say  string
	}{
		{[]string{"--instance", "Team", "version"}, "", ExitUsage, `--instance: instance name "Team" has an upper-case letter`},
		{[]string{"version"}, "a/b", ExitUsage, `$HERMES_INSTANCE: instance name "a/b"`},
		{[]string{"--instance", "team", "version"}, "", ExitOK, ""},
		{[]string{"--instance", "default", "version"}, "team", ExitOK, ""},
	} {
		if tc.env != "" {
			os.Setenv(instance.Env, tc.env)
		}
		var out, errOut bytes.Buffer
		require.Equal(t, tc.code, Main(tc.args, &out, &errOut), errOut.String())
		require.Contains(t, errOut.String(), tc.say)
		got, set := os.LookupEnv(instance.Env)
		if tc.env == "" {
			require.False(t, set, "$HERMES_INSTANCE=%q left behind by %v", got, tc.args)
		} else {
			require.Equal(t, tc.env, got)
		}
		os.Unsetenv(instance.Env)
	}
}

func TestHintsNameTheInstance(t *testing.T) {
	t.Setenv(instance.Env, "")
	require.Equal(t, "run `hermes install-unit`", forInstance("run `hermes install-unit`"))
	t.Setenv(instance.Env, "team")
	require.Equal(t, "read `hermes --instance team gateway logs`, then `hermes --instance team gateway start`",
		forInstance("read `hermes gateway logs`, then `hermes gateway start`"))
	require.Equal(t, "run `hermes --instance team install-unit`", forInstance("run `hermes --instance team install-unit`"), "never twice")
	require.Equal(t, "hermes --instance team doctor", hermesCmd("doctor"))
	require.Equal(t, "hermes-gateway@team", gw())
}

func TestBotIDNamesTheBot(t *testing.T) {
	require.Equal(t, "123456", botID("123456:AAbbCC\n"))
	require.Equal(t, botID("123456:old"), botID("123456:new"), "a reissued token is the same bot")
}

func TestInstanceFlagCompletesTheInstancesFound(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home+"/config")
	t.Setenv(instance.Env, "")
	require.NoError(t, os.MkdirAll(instance.Name("team").ConfigDir(), 0o700))
	require.NoError(t, os.WriteFile(instance.Name("team").ConfigPath(), nil, 0o600))
	var out, errOut bytes.Buffer
	require.Equal(t, ExitOK, Main([]string{"__complete", "--instance", ""}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "default\nteam\n")
}
