package version

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStringShortensRevisionAndMarksDirtyTrees(t *testing.T) {
	i := Info{Version: "v1.2.3", Revision: "0123456789abcdef0123", Modified: true, Go: "go1.26.8"}
	require.Equal(t, "v1.2.3 (rev 0123456789ab+dirty, go1.26.8)", i.String())
}

func TestGetPrefersTheRevisionSetAtBuildTime(t *testing.T) {
	old := Revision
	t.Cleanup(func() { Revision = old })
	Revision = "feedface"
	require.Equal(t, "feedface", Get().Revision)
	Revision = ""
	require.NotEmpty(t, Get().Revision, "falls back to build info or 'unknown'")
}
