package cli

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/version"
	"github.com/stretchr/testify/require"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run("version")
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, "hermes "+version.Version)

	code, out, _ = run("version", "--json")
	require.Equal(t, ExitOK, code)
	var v version.Info
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.Equal(t, version.Version, v.Version)
	require.NotEmpty(t, v.Revision)
}

func TestBadUsageExits2WithAHint(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"version", "--nope"}, {"version", "extra"}} {
		code, _, errOut := run(args...)
		require.Equal(t, ExitUsage, code, args)
		require.Contains(t, errOut, "--help", args)
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond:         "850ms",
		42 * time.Second:               "42s",
		3*time.Minute + 12*time.Second: "3m12s",
		3 * time.Minute:                "3m",
		5*time.Hour + 3*time.Minute:    "5h3m",
		52 * time.Hour:                 "2d4h",
	} {
		require.Equal(t, want, humanDuration(d), d.String())
	}
}
