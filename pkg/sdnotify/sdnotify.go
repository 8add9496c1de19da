// Package sdnotify tells systemd the truth about the gateway's state:
// READY, RELOADING, STOPPING, STATUS, the watchdog and timeout extensions.
//
// Outside systemd (NOTIFY_SOCKET unset) every verb is a no-op, so callers
// never branch on "am I under systemd".
package sdnotify

import (
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// Notifier sends sd_notify datagrams. The zero value is ready to use; a nil
// *Notifier is a valid no-op.
type Notifier struct {
	// send is daemon.SdNotify; a field so tests of callers can record states.
	send func(state string) (bool, error)
}

// New returns a notifier for the socket named by $NOTIFY_SOCKET.
func New() *Notifier {
	return &Notifier{send: func(state string) (bool, error) { return daemon.SdNotify(false, state) }}
}

func (n *Notifier) notify(states ...string) error {
	if n == nil || n.send == nil {
		return nil
	}
	if _, err := n.send(strings.Join(states, "\n")); err != nil {
		return fmt.Errorf("sd_notify %q: %w", states[0], err)
	}
	return nil
}

// Ready says the gateway can do its work: listeners adopted, config valid,
// store open.
func (n *Notifier) Ready() error { return n.notify(daemon.SdNotifyReady) }

// Reloading says a config reload began; Ready ends it. MONOTONIC_USEC lets
// systemd ≥253 (Type=notify-reload) match the pair; older ones ignore it.
func (n *Notifier) Reloading() error {
	return n.notify(daemon.SdNotifyReloading, fmt.Sprintf("MONOTONIC_USEC=%d", monotonicUsec()))
}

// Stopping says a drain began: systemd shows "deactivating" and the CLI can
// tell a planned stop from a hang.
func (n *Notifier) Stopping() error { return n.notify(daemon.SdNotifyStopping) }

// Status sets the one-line human status `systemctl status` shows.
func (n *Notifier) Status(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	// A newline would start a new assignment in the datagram.
	msg = strings.ReplaceAll(msg, "\n", " ")
	return n.notify("STATUS=" + msg)
}

// Watchdog proves liveness; send it from the loop that does the work.
func (n *Notifier) Watchdog() error { return n.notify(daemon.SdNotifyWatchdog) }

// ExtendTimeout asks systemd for d more before the current start or stop
// timeout fires (EXTEND_TIMEOUT_USEC), for a drain that needs longer.
func (n *Notifier) ExtendTimeout(d time.Duration) error {
	return n.notify(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", d.Microseconds()))
}

// WatchdogInterval is how often to send Watchdog: half of WATCHDOG_USEC as
// sd_watchdog_enabled(3) advises, or 0 when systemd expects no keep-alives
// (or expects them from another pid).
func WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}
