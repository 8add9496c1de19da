package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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

func TestDeliverIsDurableIdempotentAndStoresTheCursor(t *testing.T) {
	s, path := openTemp(t)
	added, err := s.Deliver("telegram", []Item{
		{ID: "41", Chat: "7", Msg: json.RawMessage(`{"text":"hi"}`)},
		{ID: "42", Chat: "8", Msg: json.RawMessage(`{"text":"there"}`)},
	}, "43")
	require.NoError(t, err)
	require.Len(t, added, 2)
	c, err := s.Cursor("telegram")
	require.NoError(t, err)
	require.Equal(t, "43", c)

	// A redelivery changes nothing but may move the cursor on.
	added, err = s.Deliver("telegram", []Item{{ID: "41", Chat: "7", Msg: json.RawMessage(`{"text":"other"}`)}}, "")
	require.NoError(t, err)
	require.Empty(t, added)

	// A numeric cursor never goes back; an opaque one is taken as given.
	_, err = s.Deliver("telegram", []Item{{ID: "3", Chat: "7"}}, "4")
	require.NoError(t, err)
	off, _ := s.Offset("telegram")
	require.EqualValues(t, 43, off)
	_, err = s.Deliver("matrix", []Item{{ID: "$b:hs", Chat: "!r:hs"}}, "s72_1")
	require.NoError(t, err)
	_, err = s.Deliver("matrix", []Item{{ID: "$a:hs", Chat: "!r:hs"}}, "s70_9")
	require.NoError(t, err)
	c, _ = s.Cursor("matrix")
	require.Equal(t, "s70_9", c)

	// Survives a restart of the process, in the order of arrival.
	require.NoError(t, s.Close())
	s2, err := Open(path)
	require.NoError(t, err)
	defer s2.Close()
	items, skipped, err := s2.Unfinished()
	require.NoError(t, err)
	require.Empty(t, skipped)
	var ids []string
	for _, it := range items {
		ids = append(ids, it.Platform+"/"+it.ID)
	}
	require.Equal(t, []string{"telegram/41", "telegram/42", "telegram/3", "matrix/$b:hs", "matrix/$a:hs"}, ids)
	require.JSONEq(t, `{"text":"hi"}`, string(items[0].Msg))
	off, _ = s2.Offset("telegram")
	require.EqualValues(t, 43, off)
	off, _ = s2.Offset("local")
	require.Zero(t, off)
	_, err = s2.Offset("matrix")
	require.Error(t, err, "an opaque cursor is not an offset")
}

func TestAttemptsFinishAndPrune(t *testing.T) {
	s, _ := openTemp(t)
	_, err := s.Receive(Item{Platform: "local", ID: "1"}, "2")
	require.NoError(t, err)
	for want := 1; want <= 3; want++ {
		n, err := s.Attempt("local", "1")
		require.NoError(t, err)
		require.Equal(t, want, n)
	}
	require.NoError(t, s.ReleaseAttempt("local", "1"))
	n, _ := s.Attempt("local", "1")
	require.Equal(t, 3, n, "a released attempt is not counted")
	require.NoError(t, s.Finish("local", "1", Done, "answered"))
	it, err := s.Get("local", "1")
	require.NoError(t, err)
	require.Equal(t, Done, it.State)
	items, _, _ := s.Unfinished()
	require.Empty(t, items)

	require.ErrorIs(t, s.Finish("local", "99", Done, ""), ErrNoItem)

	n, err = s.Prune(time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "recent items are kept")
	n, err = s.Prune(-time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// Writes of many turns at once share transactions, and each still gets its
// own result: one failing write (an unknown id) fails alone.
func TestConcurrentWritesShareCommitsAndKeepTheirOwnErrors(t *testing.T) {
	s, path := openTemp(t)
	const n = 200
	var items []Item
	for i := range n {
		items = append(items, Item{ID: fmt.Sprint(i), Chat: fmt.Sprint(i % 10)})
	}
	_, err := s.Deliver("telegram", items, "")
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	for i := range n + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Attempt("telegram", fmt.Sprint(i)); err != nil {
				errs[i] = err
				return
			}
			errs[i] = s.Finish("telegram", fmt.Sprint(i), Done, "answered")
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "id %d", i)
	}
	require.ErrorIs(t, errs[n], ErrNoItem)
	require.NoError(t, s.Close())
	s2, err := Open(path)
	require.NoError(t, err)
	defer s2.Close()
	for i := range n {
		it, err := s2.Get("telegram", fmt.Sprint(i))
		require.NoError(t, err)
		require.Equal(t, Done, it.State)
		require.Equal(t, 1, it.Attempts)
	}
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
	_, err := s.Deliver("telegram", []Item{{ID: "1"}, {ID: "10"}, {ID: "$ev:hs"}}, "")
	require.NoError(t, err)
	require.NoError(t, s.MarkSent("telegram", "1"))
	require.NoError(t, s.MarkSent("telegram", "$ev:hs"))
	// The process dies here: no Finish. A torn line follows, cut from
	// "telegram 100": it must not finish message 10.
	f, err := os.OpenFile(filepath.Join(filepath.Dir(path), sentLogName), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("telegram 10")
	require.NoError(t, err)
	f.Close()
	require.NoError(t, s.Close())

	s2, err := Open(path)
	require.NoError(t, err)
	defer s2.Close()
	require.Equal(t, 2, s2.Recovered)
	items, _, err := s2.Unfinished()
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, "10", items[0].ID, "only what was not sent is left to do")
	data, err := os.ReadFile(filepath.Join(filepath.Dir(path), sentLogName))
	require.NoError(t, err)
	require.Empty(t, data, "folded and emptied")
}
