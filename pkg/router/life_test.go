package router

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/store"
	"github.com/stretchr/testify/require"
)

// Every step of a message's life, allowed or not: what is not allowed
// would be a message answered twice, or run after its end.
func TestTheLifeOfAMessage(t *testing.T) {
	allowed := map[Stage]map[Event]Stage{
		Received:  {EvStore: Stored},
		Stored:    {EvAttempt: Attempted, EvFinish: Finished},
		Attempted: {EvAttempt: Attempted, EvAbandon: Stored, EvAnswer: Answered, EvFinish: Finished},
		Answered:  {EvFinish: Finished},
		Finished:  {},
	}
	for s := Received; s <= Finished; s++ {
		for e := EvStore; e <= EvFinish; e++ {
			got, err := next(s, e)
			want, ok := allowed[s][e]
			if ok {
				require.NoError(t, err, "%s + %s", s, e)
				require.Equal(t, want, got, "%s + %s", s, e)
				continue
			}
			require.ErrorIs(t, err, errLife, "%s + %s must be refused", s, e)
			require.Equal(t, s, got, "a refused step leaves the stage as it was")
			require.Contains(t, err.Error(), "a message "+s.String()+" cannot be ")
		}
	}
}

func TestAStoredRecordSaysItsStage(t *testing.T) {
	for _, c := range []struct {
		it   *store.Item
		want Stage
	}{
		{nil, Received},
		{&store.Item{State: store.Pending}, Stored},
		{&store.Item{State: store.Pending, Attempts: 2}, Attempted},
		{&store.Item{State: store.Done, Attempts: 1}, Finished},
		{&store.Item{State: store.Dropped, Attempts: 3}, Finished},
	} {
		require.Equal(t, c.want, stageOf(c.it), "%+v", c.it)
	}
}

// The router keeps to the life: a turn that would record its message's
// end twice, or answer it after the end, is refused and logged, and the
// store and the callers hear of one end only.
func TestTheRouterRefusesAStepOutsideTheLife(t *testing.T) {
	g := newRig(t, nil)
	logged := make(chan string, 100)
	g.r.log = slog.New(chanHandler(logged))
	m := msg(user, user, "hello")
	_, err := g.st.Receive(store.Item{Platform: "telegram", ID: string(m.ID), Chat: string(m.ChatID), Msg: mustJSON(m)}, "")
	require.NoError(t, err)
	release, ok := g.r.claim(m)
	require.True(t, ok)
	defer release()
	n, err := g.r.attempt(m)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, g.r.answered(m))
	require.ErrorIs(t, g.r.giveBack(m), errLife, "an answered turn cannot be given back to run again")
	g.r.finish(m, store.Done, "answered")
	g.finished(t, 1)
	g.r.finish(m, store.Dropped, "a second end")
	require.ErrorIs(t, g.r.answered(m), errLife)
	_, err = g.r.attempt(m)
	require.ErrorIs(t, err, errLife)
	it, err := g.st.Get("telegram", string(m.ID))
	require.NoError(t, err)
	require.Equal(t, store.Done, it.State, "the first end stands")
	require.Equal(t, 1, it.Attempts)
	select { // Finished is called within finish: it would be here by now
	case <-g.doneC:
		t.Fatal("the refused end was reported")
	default:
	}
	var refusals int
	for len(logged) > 0 {
		if strings.Contains(<-logged, "outside a message's life") {
			refusals++
		}
	}
	require.Equal(t, 4, refusals)
}

// An answered agent turn costs three store transactions, where it cost
// four: the message received (with the cursor), the attempt, the
// conversation; the finish rides with the next one (the sent log covers
// it meanwhile), and the message is finished for this process at once.
func TestAnAnsweredTurnCostsThreeTransactions(t *testing.T) {
	g := newRig(t, nil)
	at := make(chan int64, 1)
	g.r.o.Finished = func(Message, string, string) { at <- g.st.Commits() } // right after the finish, before deferFor can pass
	before := g.st.Commits()
	m := msg(user, user, "hello")
	require.NoError(t, g.r.Receive(m, ""))
	var commits int64
	select {
	case commits = <-at:
	case <-time.After(10 * time.Second):
		t.Fatal("not finished")
	}
	require.Equal(t, int64(3), commits-before, "received, attempted, history; the finish waits for the next commit")
	it, err := g.st.Get("telegram", string(m.ID))
	require.NoError(t, err)
	require.Equal(t, store.Done, it.State)

	// The next message's receipt carries the finish.
	m2 := msg(user, user, "again")
	require.NoError(t, g.r.Receive(m2, ""))
	<-at
	require.NoError(t, g.r.Receive(m, ""), "the first message delivered again")
	require.Equal(t, []string{"reply: hello", "reply: again"}, g.p.messages(user), "answered once")
}
