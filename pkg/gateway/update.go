package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/router"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/units"
)

// StartUpdate implements router.Host: it leaves the request where the
// updater finds it and starts hermes-update.service over D-Bus without
// waiting for it, because the updater restarts this very process. As a unit
// of its own, the updater survives that restart; a child process would not.
func (g *Gateway) StartUpdate(m router.Message, by string) error {
	req := control.UpdateRequest{Platform: m.Platform, ChatID: m.ChatID, MessageID: m.MessageID, RequestedBy: by, At: time.Now().UTC()}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	p := control.UpdateRequestPath()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return fmt.Errorf("leave the update request: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m2, err := systemd.Connect(ctx)
	if err != nil {
		return fmt.Errorf("reach the user manager: %w", err)
	}
	defer m2.Close()
	if _, err := m2.Enqueue(ctx, units.UpdateService); err != nil {
		return fmt.Errorf("%w (is it installed? `"+instance.Hermes("install-unit")+"`)", err)
	}
	g.log.Info("update requested", "by", by, "unit", units.UpdateService)
	return nil
}

// announceHandler serves POST /v1/announce: a line for a chat, on behalf of
// the updater (whose lines sent while this process restarts wait in the
// control socket for the next one).
func (g *Gateway) announceHandler(srv *control.Server) {
	srv.Handle("POST /v1/announce", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req control.AnnounceRequest
		if err := control.DecodeJSON(r, &req); err != nil {
			control.WriteDecodeError(w, err, `send {"platform":"telegram","chat_id":"123","text":"..."}`)
			return
		}
		if strings.TrimSpace(req.Text) == "" || req.Platform == "" || req.ChatID == "" || req.ChatID == "0" {
			control.WriteError(w, http.StatusBadRequest, "platform, chat_id and text are required", `send {"platform":"telegram","chat_id":"123","text":"..."}`)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		if err := g.router.Announce(ctx, req.Platform, platform.Outbound{Chat: req.ChatID, Quote: string(req.ReplyTo), Text: req.Text}); err != nil {
			control.WriteError(w, http.StatusBadGateway, err.Error(), "see `"+instance.Hermes("gateway logs")+"`")
			return
		}
		control.WriteJSON(w, http.StatusOK, map[string]bool{"sent": true})
	}))
}
