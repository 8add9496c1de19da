package matrix

import (
	"context"
	"testing"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/stretchr/testify/require"
)

func TestNewRefusesWhatCannotWork(t *testing.T) {
	for _, o := range []Options{
		{Homeserver: "http://127.0.0.1:1", UserID: "@bot:example.org", Token: ""},
		{Homeserver: "http://127.0.0.1:1", UserID: "@bot:example.org", Token: "two words"},
		{Homeserver: "http://127.0.0.1:1", UserID: "bot", Token: "tok"},
		{Homeserver: "http://127.0.0.1:1", UserID: "", Token: "tok"},
	} {
		_, err := New(o)
		require.ErrorIs(t, err, platform.ErrConfig, "%+v", o)
	}
}

func TestEmptyAnswerIsUndeliverable(t *testing.T) {
	// Refused before any request: the homeserver address goes nowhere.
	a, err := New(Options{Homeserver: "http://127.0.0.1:1", UserID: "@bot:example.org", Token: "tok"})
	require.NoError(t, err)
	_, err = a.Send(context.Background(), platform.Outbound{Chat: "!r:example.org", ReplyTo: "$e", Key: "answer", Text: " \n"})
	require.ErrorIs(t, err, platform.ErrUndeliverable)
	require.Equal(t, platform.StateConnecting, a.Status().State)
}
