package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMatrixErrors(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		key     string
		line    int
		problem string
		fix     string
	}{
		{"homeserver required", "[matrix]\nenabled = true\n", "matrix.homeserver", 1, "required when matrix.enabled = true", `homeserver = "https://matrix.example.org"`},
		{"homeserver http", "[matrix]\nhomeserver = \"http://matrix.example.org\"\n", "matrix.homeserver", 2, "must use https://", "127.0.0.1"},
		{"homeserver api path", "[matrix]\nhomeserver = \"https://m.example.org/_matrix/client/v3\"\n", "matrix.homeserver", 2, "without /_matrix", "homeserver ="},
		{"homeserver scheme", "[matrix]\nhomeserver = \"matrix.example.org\"\n", "matrix.homeserver", 2, "must start with https://", "homeserver ="},
		{"homeserver query", "[matrix]\nhomeserver = \"https://m.example.org/?a=1\"\n", "matrix.homeserver", 2, "query", "homeserver ="},
		{"user id required", "[matrix]\nenabled = true\nhomeserver = \"https://m.example.org\"\n", "matrix.user_id", 1, "required when matrix.enabled = true", `user_id = "@hermes:example.org"`},
		{"user id shape", "[matrix]\nuser_id = \"hermes\"\n", "matrix.user_id", 2, `"hermes" is not a Matrix user id`, "user_id ="},
		{"token file required", "[matrix]\nenabled = true\nhomeserver = \"https://m.example.org\"\nuser_id = \"@b:example.org\"\n", "matrix.access_token_file", 1, "required when matrix.enabled = true", "hermes setup matrix"},
		{"admin shape", "[matrix]\nadmins = [\"@a:example.org\", \"bob\"]\n", "matrix.admins", 2, `element 2 ("bob") is not a Matrix user id`, "@localpart:server"},
		{"user without server", "[matrix]\nusers = [\"@carol\"]\n", "matrix.users", 2, "element 1", "@localpart:server"},
		{"telegram id in users", "[matrix]\nusers = [123]\n", "matrix.users", 2, "must be an array of strings", `set matrix.users = ["@friend:example.org"]`},
		{"sync timeout", "[matrix]\nsync_timeout = \"10m\"\n", "matrix.sync_timeout", 2, "between 1s and 5m0s", `sync_timeout = "30s"`},
		{"sync timeout number", "[matrix]\nsync_timeout = 30\n", "matrix.sync_timeout", 2, "duration", `"30s"`},
		{"typo", "[matrix]\nhomeserver_url = \"https://m.example.org\"\n", "matrix.homeserver_url", 2, "unknown key", "[matrix] takes enabled, homeserver, user_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), "config.toml")
			require.Nil(t, c)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.key, ce.Key)
			require.Equal(t, tt.line, ce.Line)
			require.Contains(t, ce.Problem, tt.problem)
			require.Contains(t, ce.Fix, tt.fix)
		})
	}
}

func TestMatrixValid(t *testing.T) {
	doc := `[matrix]
enabled = true
homeserver = "http://127.0.0.1:8008"
user_id = "@hermes:localhost"
access_token_file = "matrix.token"
admins = ["@you:example.org"]
users = ["@friend:[::1]:8448", "@x.y_z=1/2:10.0.0.1:443"]
sync_timeout = "45s"
`
	c, err := Parse([]byte(doc), "config.toml")
	require.NoError(t, err)
	require.Equal(t, Matrix{
		Enabled: true, Homeserver: "http://127.0.0.1:8008", UserID: "@hermes:localhost", AccessTokenFile: "matrix.token",
		Admins: []string{"@you:example.org"}, Users: []string{"@friend:[::1]:8448", "@x.y_z=1/2:10.0.0.1:443"},
		SyncTimeout: Duration{45 * time.Second},
	}, c.Matrix)

	// A disabled section may stay half filled in, as [telegram] may.
	_, err = Parse([]byte("[matrix]\nhomeserver = \"https://m.example.org\"\n"), "config.toml")
	require.NoError(t, err)

	// Written by setup, read back the same.
	data, err := c.Marshal()
	require.NoError(t, err)
	got, err := Parse(data, "config.toml")
	require.NoError(t, err, "%s", data)
	require.Equal(t, c.Matrix, got.Matrix)
}

func TestValidMatrixUserID(t *testing.T) {
	for id, want := range map[string]bool{
		"@alice:example.org":      true,
		"@alice:example.org:8448": true,
		"@a:localhost":            true,
		"@a:[::1]":                true,
		"@a:[::1]:8448":           true,
		"@a:1.2.3.4":              true,
		"@Alice=_-./:m.org":       true,
		"alice:example.org":       false,
		"@alice":                  false,
		"@:example.org":           false,
		"@alice:":                 false,
		"@al ice:example.org":     false,
		"@alice:exa mple.org":     false,
		"@alice:example.org:":     false,
		"@alice:example.org:port": false,
		"@alice:[nothost]":        false,
		"@alice:[::1":             false,
		"@ålice:example.org":      false,
		"!room:example.org":       false,
	} {
		require.Equal(t, want, ValidMatrixUserID(id), id)
	}
}
