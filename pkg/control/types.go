// Package control is the gateway's control API: HTTP with JSON bodies over
// the control socket (hermes-gateway.socket). The server lives in the
// gateway, the client in the hermes CLI.
package control

import (
	"path/filepath"
	"time"

	"github.com/hermes-gateway/hermes/pkg/platform"
)

// Gateway states, in the order a process goes through them.
const (
	StateStarting = "starting"
	StateReady    = "ready"
	StateDraining = "draining"
)

// Status is GET /v1/status.
type Status struct {
	Version      string         `json:"version"`
	Revision     string         `json:"revision"`
	PID          int            `json:"pid"`
	StartedAt    time.Time      `json:"started_at"`
	InvocationID string         `json:"invocation_id,omitempty"`
	State        string         `json:"state"`
	Platforms    []Platform     `json:"platforms"`
	InFlight     int            `json:"in_flight"`
	LastRestart  *RestartRecord `json:"last_restart,omitempty"`
	ConfigFile   string         `json:"config_file"`
	StateDir     string         `json:"state_dir"`
	Activated    bool           `json:"socket_activated"`
}

// Platform is one messaging platform's connection as the gateway sees it.
type Platform struct {
	Name   string `json:"name"`
	State  string `json:"state"` // connecting | connected | conflict | error | disabled
	Detail string `json:"detail,omitempty"`
}

// RestartRecord says why the previous process went away, as it recorded
// before exiting 75.
type RestartRecord struct {
	Reason      string    `json:"reason"`
	RequestedBy string    `json:"requested_by"`
	At          time.Time `json:"at"`
	PID         int       `json:"pid"`
}

// Health is GET /v1/health: 200 when ready, 503 otherwise.
type Health struct {
	OK    bool   `json:"ok"`
	State string `json:"state"`
}

// RestartRequest is the optional body of POST /v1/restart.
type RestartRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Accepted is the 202 answer to POST /v1/restart.
type Accepted struct {
	Accepted bool   `json:"accepted"`
	Message  string `json:"message"`
}

// Error is the body of every 4xx/5xx answer.
type Error struct {
	Error string `json:"error"`
	Fix   string `json:"fix,omitempty"`
}

// ChatRequest is POST /v1/chat: a message from the machine's owner
// (platform "local"), answered like any chat message.
type ChatRequest struct {
	Text string `json:"text"`
	// WaitSeconds bounds how long the request waits for the answer
	// (default 120); past it the answer is 202 with the message's id.
	WaitSeconds int `json:"wait_seconds,omitempty"`
}

// ChatAnswer is the answer to POST /v1/chat and GET /v1/chat/{id}.
type ChatAnswer struct {
	ID      int64    `json:"id"`
	State   string   `json:"state"` // pending | done | dropped
	Replies []string `json:"replies"`
	Note    string   `json:"note,omitempty"`
}

// PairingList is GET /v1/pairing.
type PairingList struct {
	Pending  []PairingRequest `json:"pending"`
	Approved []ApprovedUser   `json:"approved"`
}

// Ids in requests and answers are the platform's ids as JSON strings
// ("-1001234", "@ada:example.org"); a JSON number is read too, as clients
// of an earlier release send Telegram's ids.

// PairingRequest is a stranger waiting for approval.
type PairingRequest struct {
	Code     string          `json:"code"`
	Platform string          `json:"platform"`
	UserID   platform.UserID `json:"user_id"`
	UserName string          `json:"user_name"`
	Expires  time.Time       `json:"expires"`
}

// ApprovedUser is a stranger an admin let in.
type ApprovedUser struct {
	Platform string          `json:"platform"`
	UserID   platform.UserID `json:"user_id"`
	UserName string          `json:"user_name"`
	Approved time.Time       `json:"approved"`
}

// ApproveRequest is POST /v1/pairing/approve.
type ApproveRequest struct {
	Code string `json:"code"`
}

// RevokeRequest is POST /v1/pairing/revoke.
type RevokeRequest struct {
	Platform string          `json:"platform,omitempty"` // default telegram
	UserID   platform.UserID `json:"user_id"`
}

// AnnounceRequest is POST /v1/announce: a line for a chat, sent by the
// gateway on behalf of another program (the updater's progress and result).
type AnnounceRequest struct {
	Platform string          `json:"platform"`
	ChatID   platform.ChatID `json:"chat_id"`
	// ReplyTo is the message quoted (UpdateRequest.MessageID).
	ReplyTo platform.MessageID `json:"reply_to,omitempty"`
	Text    string             `json:"text"`
}

// UpdateRequest is what /update leaves for hermes-update.service: where to
// report progress and the result.
type UpdateRequest struct {
	Platform    string             `json:"platform"`
	ChatID      platform.ChatID    `json:"chat_id"`
	MessageID   platform.MessageID `json:"message_id"`
	RequestedBy string             `json:"requested_by"`
	At          time.Time          `json:"at"`
}

// UpdateRequestPath is where /update leaves its UpdateRequest, next to the
// control socket (the runtime directory: gone at reboot, like the request).
func UpdateRequestPath() string {
	return filepath.Join(filepath.Dir(DefaultSocketPath()), "update-request.json")
}
