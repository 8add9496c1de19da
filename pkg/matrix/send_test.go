package matrix

import (
	"context"
	"fmt"
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

func TestSentIndex(t *testing.T) {
	x := sentIndex{ids: map[string]string{}}
	_, ok := x.get("")
	require.False(t, ok, "a random transaction id is never looked up")
	x.add("t1", "$first")
	x.add("t1", "$second") // the first event with an id stays its event
	id, ok := x.get("t1")
	require.True(t, ok)
	require.Equal(t, "$first", id)
	for i := range maxSentIndex {
		x.add(fmt.Sprint("t", i+2), "$e")
	}
	_, ok = x.get("t1")
	require.False(t, ok, "the oldest goes first")
	_, ok = x.get(fmt.Sprint("t", maxSentIndex+1))
	require.True(t, ok)
	require.Len(t, x.ids, maxSentIndex)
}
