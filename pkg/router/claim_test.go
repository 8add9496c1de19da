package router

import (
	"testing"

	"github.com/hermes-gateway/hermes/pkg/store"
	"github.com/stretchr/testify/require"
)

// An update left unfinished by a killed process is resumed by the next one;
// the same update can reach the router again while that resumed turn waits
// in its chat's queue, while it runs, or after it was answered: redelivered
// by the platform, or submitted once more (Resume's snapshot of the inbox is
// stale if the webhook or the control socket, which serve before Resume,
// delivered it and it was answered meanwhile). Whatever the order, the
// person gets one answer and the agent runs one turn. The agent blocks on a
// channel, so each interleaving is reached without timing luck; a later
// message of the same chat, answered in order after the second arrival,
// proves that nothing else ran in between.
func TestAResumedUpdateArrivingAgainIsAnsweredOnce(t *testing.T) {
	doors := []struct {
		name  string
		again func(t *testing.T, g *rig, m Message)
	}{
		{"redelivered by the platform", func(t *testing.T, g *rig, m Message) { require.NoError(t, g.r.Receive(m, "")) }},
		{"submitted again", func(_ *testing.T, g *rig, m Message) { g.r.Submit(m) }},
	}
	const (
		queued   = "while its resumed turn waits in the chat's queue"
		running  = "while its resumed turn runs"
		answered = "after its resumed turn answered it"
	)
	for _, door := range doors {
		for _, when := range []string{queued, running, answered} {
			t.Run(door.name+" "+when, func(t *testing.T) {
				g := newRig(t, nil)
				g.a.gate = make(chan struct{})
				g.a.started = make(chan string, 10)
				earlier, m, later := msg(user, user, "earlier"), msg(user, user, "once"), msg(user, user, "later")
				// A killed process left both pending in the inbox.
				for _, pm := range []Message{earlier, m} {
					_, err := g.st.Receive(store.Item{Platform: pm.Platform, ID: string(pm.ID), Chat: string(pm.ChatID), Msg: mustJSON(pm)}, "")
					require.NoError(t, err)
				}
				n, err := g.r.Resume()
				require.NoError(t, err)
				require.Equal(t, 2, n)
				require.Equal(t, "earlier", <-g.a.started)

				switch when {
				case queued: // "once" waits behind "earlier"
					door.again(t, g, m)
					g.a.gate <- struct{}{}
					require.Equal(t, "once", <-g.a.started)
					g.a.gate <- struct{}{}
				case running:
					g.a.gate <- struct{}{}
					require.Equal(t, "once", <-g.a.started)
					door.again(t, g, m)
					g.a.gate <- struct{}{}
				case answered:
					g.a.gate <- struct{}{}
					require.Equal(t, "once", <-g.a.started)
					g.a.gate <- struct{}{}
					g.finished(t, 2)
					door.again(t, g, m)
				}

				require.NoError(t, g.r.Receive(later, ""))
				require.Equal(t, "later", <-g.a.started, "the chat's next turn, not a second one of %q", m.Text)
				g.a.gate <- struct{}{}
				require.Equal(t, []string{"reply: earlier", "reply: once", "reply: later"}, g.p.wait(t, user, 3))
				require.Equal(t, []string{"earlier", "once", "later"}, g.a.texts())
				it, err := g.st.Get(m.Platform, string(m.ID))
				require.NoError(t, err)
				require.Equal(t, store.Done, it.State)
				require.Equal(t, 1, it.Attempts, "one turn started")
			})
		}
	}
}
