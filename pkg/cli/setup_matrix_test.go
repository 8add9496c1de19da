//go:build matrix

package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hermes-gateway/hermes/internal/dendrite"
	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/matrix"
	"github.com/stretchr/testify/require"
)

// TestSetupMatrix checks the token against a real homeserver (Dendrite).
func TestSetupMatrix(t *testing.T) {
	hs := dendrite.Start(t)
	bot := hs.Register("hermes")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hermes", "config.toml")
	tokenIn := filepath.Join(dir, "token.in")
	require.NoError(t, os.WriteFile(tokenIn, []byte(bot.Token+"\n"), 0o600))

	// A rejected token changes nothing.
	bad := filepath.Join(dir, "bad.in")
	require.NoError(t, os.WriteFile(bad, []byte("syt_not_a_token\n"), 0o600))
	code, _, errOut := run("setup", "matrix", "--config", cfgPath, "--homeserver", hs.URL, "--token-file", bad, "--admin", "@you:localhost", "--no-restart")
	require.Equal(t, ExitFailed, code)
	require.Contains(t, errOut, "rejected that access token")
	require.NotContains(t, errOut, "syt_not_a_token")
	require.NoFileExists(t, cfgPath)

	// A token of another account than --user-id changes nothing.
	code, _, errOut = run("setup", "matrix", "--config", cfgPath, "--homeserver", hs.URL, "--token-file", tokenIn, "--user-id", "@other:localhost", "--admin", "@you:localhost", "--no-restart")
	require.Equal(t, ExitFailed, code)
	require.Contains(t, errOut, "belongs to "+bot.ID)
	require.NoFileExists(t, cfgPath)

	// Without an admin and no terminal to ask on: a usage error.
	code, _, errOut = run("setup", "matrix", "--config", cfgPath, "--homeserver", hs.URL, "--token-file", tokenIn, "--no-restart")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, errOut, "--admin @you:example.org")

	code, out, errOut := run("setup", "matrix", "--config", cfgPath, "--homeserver", hs.URL+"/", "--token-file", tokenIn, "--admin", "@you:localhost", "--no-restart")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, "✓ token accepted: "+bot.ID)
	require.Contains(t, out, "Invite "+bot.ID)

	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	require.Equal(t, config.Matrix{
		Enabled: true, Homeserver: hs.URL, UserID: bot.ID, AccessTokenFile: "matrix.token",
		Admins: []string{"@you:localhost"}, Users: []string{}, SyncTimeout: config.Default().Matrix.SyncTimeout,
	}, cfg.Matrix)
	tokenPath := cfg.ResolvePath(cfg.Matrix.AccessTokenFile)
	fi, err := os.Stat(tokenPath)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	tok, err := matrix.ReadTokenFile(tokenPath)
	require.NoError(t, err)
	require.Equal(t, bot.Token, tok)

	// Plain http to a homeserver elsewhere would hand the token out.
	code, _, errOut = run("setup", "matrix", "--config", cfgPath, "--homeserver", "http://matrix.example.org", "--token-file", tokenIn, "--no-restart")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, errOut, "must use https://")
}
