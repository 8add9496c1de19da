package gateway

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The local door, not the router, says what is a command (Telegram's
// adapter has its own test).
func TestLocalMessagesCarryTheirCommand(t *testing.T) {
	for text, want := range map[string][2]string{"/new": {"new", ""}, "/Status please": {"status", "please"}, "hi /new": {"", ""}} {
		name, args := localCommand(text)
		require.Equal(t, want, [2]string{name, args}, text)
	}
}
