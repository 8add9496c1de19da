package telegram

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		text, name, args string
		ok               bool
	}{
		{"/restart", "restart", "", true},
		{"/Restart@HermesBot now", "restart", "now", true},
		{"/new   please  ", "new", "please", true},
		{"hello /start", "", "", false},
		{"/", "", "", false},
		{"/@HermesBot", "", "", false},
	} {
		name, args, ok := ParseCommand(tc.text)
		require.Equal(t, tc.ok, ok, tc.text)
		require.Equal(t, tc.name, name, tc.text)
		require.Equal(t, tc.args, args, tc.text)
	}
}
