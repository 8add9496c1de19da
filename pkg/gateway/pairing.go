package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/router"
)

// pairingHandlers serve `hermes pairing list|approve|revoke`.
func (g *Gateway) pairingHandlers(srv *control.Server) {
	srv.Handle("GET /v1/pairing", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pending, err := g.auth.Pending()
		if err != nil {
			control.WriteError(w, http.StatusInternalServerError, err.Error(), "see `"+instance.Hermes("gateway logs")+"`")
			return
		}
		approved, err := g.auth.Approved()
		if err != nil {
			control.WriteError(w, http.StatusInternalServerError, err.Error(), "see `"+instance.Hermes("gateway logs")+"`")
			return
		}
		out := control.PairingList{Pending: []control.PairingRequest{}, Approved: []control.ApprovedUser{}}
		for _, p := range pending {
			out.Pending = append(out.Pending, control.PairingRequest{Code: p.Code, Platform: p.Platform, UserID: p.UserID, UserName: p.UserName, Expires: p.Expires})
		}
		for _, a := range approved {
			out.Approved = append(out.Approved, control.ApprovedUser{Platform: a.Platform, UserID: a.UserID, UserName: a.UserName, Approved: a.Approved})
		}
		control.WriteJSON(w, http.StatusOK, out)
	}))
	srv.Handle("POST /v1/pairing/approve", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req control.ApproveRequest
		if err := control.DecodeJSON(r, &req); err != nil {
			control.WriteDecodeError(w, err, `send {"code":"ABCD2345"}`)
			return
		}
		ap, err := g.auth.Approve(strings.ToUpper(strings.TrimSpace(req.Code)))
		switch {
		case errors.Is(err, router.ErrUnknownCode):
			control.WriteError(w, http.StatusNotFound, err.Error(), "check the code with `"+instance.Hermes("pairing list")+"`; ask them to write to the bot again for a new one")
			return
		case err != nil:
			control.WriteError(w, http.StatusInternalServerError, err.Error(), "see `"+instance.Hermes("gateway logs")+"`")
			return
		}
		g.log.Info("pairing approved", "platform", ap.Platform, "user_id", ap.UserID, "user_name", ap.UserName)
		// Tell them, best effort: the approval stands either way.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		if err := g.router.Announce(ctx, ap.Platform, platform.Outbound{Chat: ap.Chat(), Text: "✅ You're in: the bot's owner approved you. Write to me any time."}); err != nil {
			g.log.Warn("could not tell the approved user", "user_id", ap.UserID, "err", err)
		}
		control.WriteJSON(w, http.StatusOK, control.ApprovedUser{Platform: ap.Platform, UserID: ap.UserID, UserName: ap.UserName, Approved: ap.Approved})
	}))
	srv.Handle("POST /v1/pairing/revoke", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req control.RevokeRequest
		if err := control.DecodeJSON(r, &req); err != nil {
			control.WriteDecodeError(w, err, `send {"platform":"telegram","user_id":"123456"}`)
			return
		}
		if req.Platform == "" {
			req.Platform = "telegram"
		}
		if req.UserID == "" {
			control.WriteError(w, http.StatusBadRequest, "user_id is required", `send {"platform":"telegram","user_id":"123456"}; see `+"`"+instance.Hermes("pairing list")+"`")
			return
		}
		ok, err := g.auth.Revoke(req.Platform, req.UserID)
		switch {
		case err != nil:
			control.WriteError(w, http.StatusInternalServerError, err.Error(), "see `"+instance.Hermes("gateway logs")+"`")
		case !ok:
			control.WriteError(w, http.StatusNotFound, "no approved user with that id", "see `"+instance.Hermes("pairing list")+"`; users listed in the config are removed there")
		default:
			g.log.Info("pairing revoked", "platform", req.Platform, "user_id", req.UserID)
			control.WriteJSON(w, http.StatusOK, map[string]any{"revoked": true, "user_id": req.UserID})
		}
	}))
}
