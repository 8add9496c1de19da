// Package control is the gateway's control API: HTTP with JSON bodies over
// the control socket (hermes-gateway.socket). The server lives in the
// gateway, the client in the hermes CLI.
package control

import "time"

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
