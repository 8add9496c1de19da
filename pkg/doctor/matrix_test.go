package doctor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/stretchr/testify/require"
)

// What `hermes doctor` says of a Matrix account, for each answer the
// homeserver can give to /account/whoami, and of the running gateway's
// connection.
func TestMatrixCheck(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		gw     *control.Status
		want   []Check
	}{
		{"the bot's token, connected", 200, `{"user_id":"@bot:example.org"}`,
			&control.Status{Platforms: []control.Platform{{Name: "telegram", State: "connected"}, {Name: "matrix", State: "connected"}}},
			[]Check{{Name: "matrix", Status: OK}, {Name: "matrix connection", Status: OK}}},
		{"the bot's token, the gateway still connecting", 200, `{"user_id":"@bot:example.org"}`,
			&control.Status{Platforms: []control.Platform{{Name: "matrix", State: "connecting", Detail: "cannot reach the homeserver"}}},
			[]Check{{Name: "matrix", Status: OK}, {Name: "matrix connection", Status: Warning}}},
		{"another account's token", 200, `{"user_id":"@someone:example.org"}`, nil,
			[]Check{{Name: "matrix", Status: Failure, Fix: "run `hermes setup matrix` with the bot's own token"}}},
		{"a revoked token", 401, `{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown token"}`, nil,
			[]Check{{Name: "matrix", Status: Failure, Fix: "log in as the bot again for a new token and run `hermes setup matrix`"}}},
		{"a homeserver in trouble", 502, `bad gateway`, nil,
			[]Check{{Name: "matrix", Status: Failure, Fix: "check the network and matrix.homeserver; the gateway keeps retrying"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, "/_matrix/client/v3/account/whoami", r.URL.Path)
				require.Equal(t, "Bearer syt_token", r.Header.Get("Authorization"))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				w.Write([]byte(c.body))
			}))
			defer hs.Close()
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "matrix.token"), []byte("syt_token\n"), 0o600))
			cfg := config.Default()
			cfg.Matrix = config.Matrix{Enabled: true, Homeserver: hs.URL, UserID: "@bot:example.org", AccessTokenFile: filepath.Join(dir, "matrix.token")}
			var r Report
			matrixCheck(context.Background(), &r, cfg, c.gw)
			require.Len(t, r.Checks, len(c.want), "%+v", r.Checks)
			for i, w := range c.want {
				require.Equal(t, w.Name, r.Checks[i].Name)
				require.Equal(t, w.Status, r.Checks[i].Status, r.Checks[i].Detail)
				if w.Fix != "" {
					require.Equal(t, w.Fix, r.Checks[i].Fix)
				}
				require.NotEmpty(t, r.Checks[i].Detail)
			}
		})
	}
	var r Report
	matrixCheck(context.Background(), &r, config.Default(), nil)
	require.Equal(t, []Check{{Name: "matrix", Status: Skipped, Detail: "not enabled", Fix: "`hermes setup matrix` connects a Matrix account"}}, r.Checks)
}
