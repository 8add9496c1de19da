package shell

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/home/u/.config/hermes/token": "/home/u/.config/hermes/token",
		"/tmp/with space":              "'/tmp/with space'",
		"it's":                         `'it'\''s'`,
		"":                             "''",
	} {
		require.Equal(t, want, Quote(in), in)
	}
}
