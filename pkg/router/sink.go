package router

import (
	"context"

	"github.com/hermes-gateway/hermes/pkg/platform"
)

// Sink is where an adapter of the named platform hands what it received:
// each batch is stored with its cursor in one transaction (the store's
// batch delivery), then what is new is queued. Deliver returns only once
// the batch is durable, so the adapter may then confirm it upstream.
func (r *Router) Sink(name string) platform.Sink { return sink{r: r, name: name} }

type sink struct {
	r    *Router
	name string
}

func (s sink) Deliver(_ context.Context, b platform.Batch) error {
	ms := make([]Message, 0, len(b.Messages))
	for _, in := range b.Messages {
		m := FromInbound(in)
		m.Platform = s.name // the store's key is the adapter's name, whatever it wrote
		ms = append(ms, m)
	}
	return s.r.ReceiveBatch(s.name, ms, b.Cursor)
}

func (s sink) Cursor(context.Context) (string, error) { return s.r.o.Store.Cursor(s.name) }

// FromInbound is an adapter's message as the inbox stores it.
func FromInbound(in platform.Inbound) Message {
	m := Message{Platform: in.Platform, ID: in.ID, ChatID: in.Chat, ChatType: "group", UserID: in.User, UserName: in.UserName,
		MessageID: platform.MessageID(in.Quote), Text: in.Text, Command: in.Command, Args: in.Args, Parsed: true, Files: in.Files}
	if in.Direct {
		m.ChatType = "private"
	}
	switch in.Kind {
	case platform.KindSkip:
		m.Skip = in.Note
		if m.Skip == "" {
			m.Skip = "nothing to answer"
		}
	case platform.KindUnsupported:
		m.Text, m.Command, m.Args, m.Files = "", "", "", nil
		m.Unsupported = in.Note
		if m.Unsupported == "" {
			m.Unsupported = "not text"
		}
	case platform.KindEncrypted:
		m.Encrypted = true
		m.Text, m.Command, m.Args = "", "", ""
	}
	return m
}
