package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A finish the sent log covers costs no transaction of its own: it is seen
// at once, and written by the next commit another write pays for.
func TestFinishSentRidesWithTheNextCommit(t *testing.T) {
	s, path := openTemp(t)
	_, err := s.Deliver("telegram", []Item{{ID: "1"}, {ID: "2"}}, "")
	require.NoError(t, err)
	require.NoError(t, s.MarkSent("telegram", "1"))
	before := s.Commits()
	require.NoError(t, s.FinishSent("telegram", "1", "answered"))
	require.Equal(t, before, s.Commits(), "no transaction of its own")

	it, err := s.Get("telegram", "1")
	require.NoError(t, err)
	require.Equal(t, Done, it.State, "finished for this process's reads at once: a redelivery is not answered again")
	items, _, err := s.Unfinished()
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, "2", items[0].ID)

	_, err = s.Attempt("telegram", "2")
	require.NoError(t, err)
	require.Equal(t, before+1, s.Commits(), "the attempt's transaction carried the finish")
	s.fmu.Lock()
	require.Empty(t, s.finishing, "committed")
	s.fmu.Unlock()

	// Written to the file, not only seen: a fresh Open reads it, with its
	// note, and the sent log has nothing to recover.
	s.sent.f.Close()
	require.NoError(t, s.db.Close())
	s2, err := Open(path)
	require.NoError(t, err)
	defer s2.Close()
	it, err = s2.Get("telegram", "1")
	require.NoError(t, err)
	require.Equal(t, Done, it.State)
	require.Equal(t, "answered", it.Note)
}

// With no other write to ride with, the finish is committed alone, soon.
func TestFinishSentIsCommittedAloneWhenNothingElseIsWritten(t *testing.T) {
	s, _ := openTemp(t)
	_, err := s.Deliver("telegram", []Item{{ID: "1"}}, "")
	require.NoError(t, err)
	require.NoError(t, s.MarkSent("telegram", "1"))
	before := s.Commits()
	require.NoError(t, s.FinishSent("telegram", "1", "answered"))
	deadline := time.Now().Add(deferFor + 10*time.Second)
	for s.Commits() == before {
		require.True(t, time.Now().Before(deadline), "the finish was never committed")
		time.Sleep(10 * time.Millisecond) // the counter has no signal of its own
	}
}

// A process killed before the finish was committed: the sent log finishes
// the message at the next Open, so it is not answered again.
func TestFinishSentThenAKillLeavesTheSentLogToFinishIt(t *testing.T) {
	s, path := openTemp(t)
	_, err := s.Deliver("matrix", []Item{{ID: "$a:hs"}, {ID: "$b:hs"}}, "")
	require.NoError(t, err)
	require.NoError(t, s.MarkSent("matrix", "$a:hs"))
	require.NoError(t, s.FinishSent("matrix", "$a:hs", "answered"))
	// SIGKILL: nothing is flushed.
	s.committer.mu.Lock()
	s.committer.timer.Stop()
	s.committer.deferred = nil
	s.committer.mu.Unlock()
	s.sent.f.Close()
	require.NoError(t, s.db.Close())

	s2, err := Open(path)
	require.NoError(t, err)
	defer s2.Close()
	require.Equal(t, 1, s2.Recovered)
	items, _, err := s2.Unfinished()
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, "$b:hs", items[0].ID)
}

// A clean Close commits the finishes still waiting.
func TestCloseCommitsTheFinishesWaiting(t *testing.T) {
	s, path := openTemp(t)
	_, err := s.Deliver("telegram", []Item{{ID: "1"}}, "")
	require.NoError(t, err)
	require.NoError(t, s.MarkSent("telegram", "1"))
	require.NoError(t, s.FinishSent("telegram", "1", "answered"))
	require.NoError(t, s.Close())

	s2, err := Open(path)
	require.NoError(t, err)
	defer s2.Close()
	require.Equal(t, 0, s2.Recovered, "nothing left for the sent log")
	it, err := s2.Get("telegram", "1")
	require.NoError(t, err)
	require.Equal(t, Done, it.State)
	require.Equal(t, "answered", it.Note)
}

// Deliver shares the group commit: several platforms' batches received at
// the same moment, and the finishes waiting, cost one transaction.
func TestDeliverCarriesTheFinishesWaiting(t *testing.T) {
	s, _ := openTemp(t)
	_, err := s.Deliver("telegram", []Item{{ID: "1"}}, "5")
	require.NoError(t, err)
	require.NoError(t, s.MarkSent("telegram", "1"))
	require.NoError(t, s.FinishSent("telegram", "1", "answered"))
	before := s.Commits()
	added, err := s.Deliver("telegram", []Item{{ID: "2"}}, "6")
	require.NoError(t, err)
	require.Len(t, added, 1)
	require.Equal(t, before+1, s.Commits())
	s.fmu.Lock()
	require.Empty(t, s.finishing)
	s.fmu.Unlock()
	_, err = s.Deliver("telegram", []Item{{ID: ""}}, "7")
	require.Error(t, err, "an id is checked before the shared transaction")
	c, err := s.Cursor("telegram")
	require.NoError(t, err)
	require.Equal(t, "6", c, "the failed batch wrote nothing")
}
