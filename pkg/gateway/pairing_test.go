package gateway

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/hermes-gateway/hermes/pkg/router"
	"github.com/hermes-gateway/hermes/pkg/store"
	"github.com/stretchr/testify/require"
)

// `hermes pairing revoke` of the earlier release sends the user id as a
// JSON number, this one as a string (a Matrix id is no number): both
// revoke; a request without an id says what to send.
func TestRevokeTakesANumberOrAString(t *testing.T) {
	g, _, hc := serveControl(t)
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	g.auth = router.NewAuth(st, nil)
	for _, ap := range []router.Approval{{Platform: "telegram", UserID: "333"}, {Platform: "matrix", UserID: "@zoe:example.org"}} {
		require.NoError(t, st.Put("approved", ap.Platform+"/"+string(ap.UserID), ap))
	}
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{"user_id":333}`, http.StatusOK, `"user_id": "333"`},
		{`{"user_id":333}`, http.StatusNotFound, "hermes pairing list"},
		{`{"platform":"matrix","user_id":"@zoe:example.org"}`, http.StatusOK, `"user_id": "@zoe:example.org"`},
		{`{"platform":"matrix"}`, http.StatusBadRequest, "user_id is required"},
		{`{"user_id":1.5}`, http.StatusBadRequest, "user_id"},
	} {
		resp, body := do(t, hc, http.MethodPost, "/v1/pairing/revoke", c.body)
		require.Equal(t, c.code, resp.StatusCode, "%s: %s", c.body, body)
		require.Contains(t, body, c.want, c.body)
	}
	left, err := g.auth.Approved()
	require.NoError(t, err)
	require.Empty(t, left)
}
