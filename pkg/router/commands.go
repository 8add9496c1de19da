package router

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/store"
)

// Notice collection: what a restarting process leaves for the next one.
const (
	collNotices   = "notices"
	noticeRestart = "restart"
)

// RestartNotice is left by /restart so the next process can tell the chat
// it is back.
type RestartNotice struct {
	Platform string          `json:"platform"`
	ChatID   platform.ChatID `json:"chat_id"`
	// ID is the /restart's inbox id, which ✓ Back answers (so a platform
	// with idempotent sends says it once); "" in a notice an earlier
	// release left.
	ID          platform.MessageID `json:"id,omitempty"`
	MessageID   platform.MessageID `json:"message_id"`
	RequestedAt time.Time          `json:"requested_at"`
}

// Back is the ✓ Back line, answering the /restart that left n.
func (n RestartNotice) Back(text string) platform.Outbound {
	return platform.Outbound{Chat: n.ChatID, ReplyTo: n.ID, Key: keyBack, Quote: string(n.MessageID), Text: text}
}

const helpText = `Commands:
/new – start a fresh conversation
/stop – stop the answer being written
/status – version, uptime, last restart
/restart – restart the gateway (admins)
/update – update the gateway to the newest version (admins)
/help – this list
Anything else goes to the agent.`

func (r *Router) command(log *slog.Logger, p Platform, m Message, role, name, args string) {
	switch name {
	case "start":
		who := m.UserName
		if who == "" {
			who = "there"
		}
		r.answer(log, p, m, fmt.Sprintf("👋 Hi %s! Write to me and your agent answers.\n\n%s", who, helpText), "command /start")
	case "help":
		r.answer(log, p, m, helpText, "command /help")
	case "status":
		r.answer(log, p, m, r.o.Host.StatusText(), "command /status")
	case "stop":
		r.stopCommand(log, p, m)
	case "new":
		if err := r.o.History.Reset(m.Platform, m.ChatID); err != nil {
			log.Error("could not reset the conversation", "err", err)
			r.answer(log, p, m, "⚠️ Could not start a fresh conversation; the gateway's journal has the details.", "command /new failed")
			return
		}
		r.answer(log, p, m, "🆕 Fresh conversation: I have forgotten what we said before.", "command /new")
	case "restart":
		if role != RoleAdmin {
			r.answer(log, p, m, "⛔ Only the bot's admins can restart the gateway.", "command /restart refused")
			return
		}
		r.restart(log, p, m)
	case "update":
		if role != RoleAdmin {
			r.answer(log, p, m, "⛔ Only the bot's admins can update the gateway.", "command /update refused")
			return
		}
		if err := r.o.Host.StartUpdate(m, fmt.Sprintf("%s user %s (%s)", m.Platform, m.UserName, m.UserID)); err != nil {
			log.Error("could not start the update", "err", err)
			r.answer(log, p, m, "⚠️ Could not start the update: "+err.Error(), "command /update failed")
			return
		}
		r.answer(log, p, m, "⬆️ Updating: hermes-update.service started. Progress follows here; the result comes from the new gateway.", "command /update")
	default:
		r.answer(log, p, m, fmt.Sprintf("Unknown command /%s.\n\n%s", name, helpText), "unknown command")
	}
}

// restart answers, makes sure this update can never restart anything again
// (finished in the store and confirmed to the platform), leaves a notice for
// the next process, then asks the gateway to drain and exit 75.
func (r *Router) restart(log *slog.Logger, p Platform, m Message) {
	if err := r.reply(log, p, m, "Restarting…"); err != nil && err == errAbandoned {
		return
	}
	r.finish(m, store.Done, "command /restart")
	if c, ok := p.(Confirmer); ok {
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		err := c.Confirm(ctx, m.ID)
		cancel()
		if err != nil {
			// The store already records the update as done, so a
			// redelivery is ignored; the confirmation only saves a fetch.
			log.Warn("could not confirm the /restart update to the platform", "err", err)
		}
	}
	n := RestartNotice{Platform: m.Platform, ChatID: m.ChatID, ID: m.ID, MessageID: m.MessageID, RequestedAt: time.Now().UTC()}
	if err := r.o.Store.Put(collNotices, noticeRestart, n); err != nil {
		log.Warn("could not leave the restart notice; the chat will not hear back", "err", err)
	}
	who := m.UserName
	if who == "" {
		who = string(m.UserID)
	}
	if err := r.o.Host.RequestRestart("/restart from "+m.Platform+" chat "+string(m.ChatID), fmt.Sprintf("%s user %s (%s)", m.Platform, who, m.UserID)); err != nil {
		log.Warn("restart request refused", "err", err)
	}
}

// TakeRestartNotice returns and clears the notice a /restart on the named
// platform left, if any: each platform takes its own once it can send, so
// the chat that asked hears back where it asked.
func (r *Router) TakeRestartNotice(platform string) (*RestartNotice, error) {
	var n RestartNotice
	ok, err := r.o.Store.Load(collNotices, noticeRestart, &n)
	if err != nil || !ok || n.Platform != platform {
		return nil, err
	}
	return &n, r.o.Store.Delete(collNotices, noticeRestart)
}

// Announce sends a line outside any turn (✓ Back, "you're in", the
// updater's progress) on the named platform.
func (r *Router) Announce(ctx context.Context, name string, m platform.Outbound) error {
	p := r.platform(name)
	if p == nil {
		return fmt.Errorf("no platform %q is configured in this gateway; check the config's [%s] section", name, name)
	}
	_, err := p.Send(ctx, m)
	return err
}
