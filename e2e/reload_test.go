//go:build e2e

package e2e

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A reload applies the live keys at once, names the keys that need a
// restart, and keeps the process (and those keys' running values).
func TestReloadAppliesLiveKeysAndNamesTheRest(t *testing.T) {
	e := newEnv(t)
	st := e.status()
	e.writeConfig("[gateway]\ndrain_timeout = \"7s\"\n[agent]\nmax_concurrent_chats = 3\n")
	e.systemctlOK("reload", svc)
	j := e.waitJournal("reload: config applied")
	require.Contains(t, j, "agent.max_concurrent_chats changed: they apply only at start; run `hermes gateway restart` for them")
	require.NotContains(t, j, "drain_timeout changed", "the drain timeout applies live")
	require.Equal(t, "active", e.prop(svc, "ActiveState"))
	require.Equal(t, st.PID, e.status().PID, "a reload is not a restart")

	// A rejected file keeps the running config.
	e.writeConfig("[gateway]\nbogus = 1\n")
	e.systemctlOK("reload", svc)
	e.waitJournal("reload: config rejected, keeping the running one")
	require.Equal(t, st.PID, e.status().PID)
}
