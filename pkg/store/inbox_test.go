package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestReceiveIsDurableIdempotentAndAdvancesTheOffset(t *testing.T) {
	s, path := openTemp(t)
	added, err := s.Receive(Item{Platform: "telegram", ID: 41, ChatID: 7, Msg: json.RawMessage(`{"text":"hi"}`)})
	require.NoError(t, err)
	require.True(t, added)
	off, err := s.Offset("telegram")
	require.NoError(t, err)
	require.EqualValues(t, 42, off)

	// A redelivery changes nothing.
	added, err = s.Receive(Item{Platform: "telegram", ID: 41, ChatID: 7, Msg: json.RawMessage(`{"text":"other"}`)})
	require.NoError(t, err)
	require.False(t, added)

	// The offset never goes back.
	_, err = s.Receive(Item{Platform: "telegram", ID: 3, ChatID: 7})
	require.NoError(t, err)
	off, _ = s.Offset("telegram")
	require.EqualValues(t, 42, off)

	// Survives a restart of the process.
	require.NoError(t, s.Close())
	s2, err := Open(path)
	require.NoError(t, err)
	defer s2.Close()
	items, skipped, err := s2.Unfinished()
	require.NoError(t, err)
	require.Empty(t, skipped)
	require.Len(t, items, 2)
	require.EqualValues(t, 3, items[0].ID, "oldest first")
	require.JSONEq(t, `{"text":"hi"}`, string(items[1].Msg))
	off, _ = s2.Offset("telegram")
	require.EqualValues(t, 42, off)
	off, _ = s2.Offset("local")
	require.Zero(t, off)
}

func TestAttemptsFinishAndPrune(t *testing.T) {
	s, _ := openTemp(t)
	_, err := s.Receive(Item{Platform: "local", ID: 1})
	require.NoError(t, err)
	for want := 1; want <= 3; want++ {
		n, err := s.Attempt("local", 1)
		require.NoError(t, err)
		require.Equal(t, want, n)
	}
	require.NoError(t, s.Finish("local", 1, Done, "answered"))
	it, err := s.Get("local", 1)
	require.NoError(t, err)
	require.Equal(t, Done, it.State)
	items, _, _ := s.Unfinished()
	require.Empty(t, items)

	require.ErrorIs(t, s.Finish("local", 99, Done, ""), ErrNoItem)

	n, err := s.Prune(time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "recent items are kept")
	n, err = s.Prune(-time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestNegativeAndLargeIDsSortNumerically(t *testing.T) {
	s, _ := openTemp(t)
	for _, id := range []int64{5, -2, 1 << 40, 0} {
		_, err := s.Receive(Item{Platform: "p", ID: id})
		require.NoError(t, err)
	}
	items, _, err := s.Unfinished()
	require.NoError(t, err)
	var ids []int64
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	require.Equal(t, []int64{-2, 0, 5, 1 << 40}, ids)
}

func TestKVCollections(t *testing.T) {
	s, _ := openTemp(t)
	type rec struct{ N int }
	require.NoError(t, s.Put("pairing", "ABCD", rec{1}))
	var r rec
	ok, err := s.Load("pairing", "ABCD", &r)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 1, r.N)
	ok, err = s.Load("pairing", "nope", &r)
	require.NoError(t, err)
	require.False(t, ok)
	var keys []string
	require.NoError(t, s.Each("pairing", func(k string, _ []byte) error { keys = append(keys, k); return nil }))
	require.Equal(t, []string{"ABCD"}, keys)
	require.NoError(t, s.Delete("pairing", "ABCD"))
	ok, _ = s.Load("pairing", "ABCD", &r)
	require.False(t, ok)
}

// A process that sent an answer and died before recording it: the next
// Open finds the line in the sent log and finishes the item, so it is not
// answered again.
func TestTheSentLogFinishesWhatAKilledProcessSent(t *testing.T) {
	s, path := openTemp(t)
	for _, id := range []int64{1, 2} {
		_, err := s.Receive(Item{Platform: "telegram", ID: id})
		require.NoError(t, err)
	}
	require.NoError(t, s.MarkSent("telegram", 1))
	// The process dies here: no Finish. A torn line follows.
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(path), sentLogName), []byte("telegram 1\ntelegr"), 0o600))
	require.NoError(t, s.Close())

	s2, err := Open(path)
	require.NoError(t, err)
	defer s2.Close()
	require.Equal(t, 1, s2.Recovered)
	items, _, err := s2.Unfinished()
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.EqualValues(t, 2, items[0].ID, "only what was not sent is left to do")
	data, err := os.ReadFile(filepath.Join(filepath.Dir(path), sentLogName))
	require.NoError(t, err)
	require.Empty(t, data, "folded and emptied")
}
