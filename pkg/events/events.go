// Package events names the gateway's lifecycle events in the journal. Each
// has a stable MESSAGE_ID (so journalctl MESSAGE_ID=… and catalog tools find
// it) and a HERMES_EVENT field (so people can filter by name):
//
//	journalctl --user-unit=hermes-gateway.service HERMES_EVENT=exit
//
// The ids never change; the README lists them.
package events

// Event is one kind of lifecycle event.
type Event struct {
	Name string // HERMES_EVENT
	ID   string // MESSAGE_ID: 128 bits, hex
	Doc  string
}

// The events.
var (
	Started           = Event{"started", "b1418a03d244c6e8a902b86845af11e0", "the process started (version, pid)"}
	Ready             = Event{"ready", "e233bf1e6e3ce7b9bea90e44250c8897", "READY=1 sent: sockets, config and store are up"}
	Reload            = Event{"reload", "c00d8f16d6950b9d5f6b221498c8f10f", "SIGHUP: the config was re-read (applied or rejected)"}
	DrainStarted      = Event{"drain_started", "5ba0776712873038042629834712ec05", "a drain began (in_flight, reason)"}
	DrainDone         = Event{"drain_done", "d3fb879571adb6774cd7ed69bdfc0df9", "the drain ended (finished, unfinished, took_ms)"}
	RestartRequested  = Event{"restart_requested", "ba3689b8c91977b9b719241863f70d9d", "a restart was asked for (reason, by)"}
	Exit              = Event{"exit", "3f109b85c1e2388b8981f3bf7b51b56a", "the process is exiting (code, reason); written before it exits"}
	PlatformConnected = Event{"platform_connected", "01518ec239844dc4d5d5fe698d2434d7", "a platform connected (platform, detail)"}
	PlatformConflict  = Event{"platform_conflict", "c9590a7568aaf79c1125d7703313d14a", "Telegram answered 409: another poller or a webhook"}
	DeliveryFailed    = Event{"delivery_failed", "7ee011250f929056b55876033e7e505e", "an answer could not be delivered (chat_id, err)"}
	UpdateStarted     = Event{"update_started", "811d97b596c220a3438d06bdd117dc24", "hermes update began (from, source)"}
	UpdateDone        = Event{"update_done", "91c61a33e435831f3ded6bc3421e952e", "hermes update confirmed the new version (from, to, took_ms)"}
	UpdateRolledBack  = Event{"update_rolled_back", "6d67cee35870a7fe781585ac3b575ac3", "the new version failed and the old one runs again (from, to, reason)"}
)

// All lists every event, for the README and doctor.
var All = []Event{Started, Ready, Reload, DrainStarted, DrainDone, RestartRequested, Exit, PlatformConnected, PlatformConflict, DeliveryFailed, UpdateStarted, UpdateDone, UpdateRolledBack}

// Attrs are the slog attributes that mark a log line as e, to pass to any
// slog call: log.Info("ready", events.Ready.Attrs()...).
func (e Event) Attrs() []any { return []any{"HERMES_EVENT", e.Name, "MESSAGE_ID", e.ID} }

// With returns e's attributes followed by more.
func (e Event) With(more ...any) []any { return append(e.Attrs(), more...) }
