// Package gateway is the daemon's lifecycle: start, ready, serve, drain,
// and the exit code that tells systemd what to do next.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/pkg/activation"
	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/sdnotify"
	"github.com/hermes-gateway/hermes/pkg/store"
	"github.com/hermes-gateway/hermes/pkg/version"
)

// Exit codes, as DESIGN.md's table gives them; the unit's Restart*=
// directives are written against these.
const (
	ExitStopped = 0  // stopped on request after draining: stays stopped
	ExitFailure = 1  // could not run (another instance, unusable state dir)
	ExitRestart = 75 // EX_TEMPFAIL: planned restart after draining
	ExitConfig  = 78 // EX_CONFIG: the configuration cannot work; do not loop
)

// metaLastRestart is the store key under which a process that exits 75
// records why, for the next process to report.
const metaLastRestart = "last_restart"

// Options wire one gateway process.
type Options struct {
	// ConfigPath is the config file; "" means config.DefaultPath().
	ConfigPath string
	// ControlPath overrides where a hand-run gateway listens (--control);
	// ignored when systemd passes the control socket.
	ControlPath string
	Log         *slog.Logger
	Notify      *sdnotify.Notifier
	// Signals delivers SIGTERM/SIGINT/SIGHUP; nil means the process's own.
	Signals <-chan os.Signal
}

// Gateway is one running gateway process.
type Gateway struct {
	log     *slog.Logger
	notify  *sdnotify.Notifier
	cfgPath string

	mu          sync.Mutex
	cfg         *config.Config
	state       string
	lastRestart *control.RestartRecord
	activated   bool

	started time.Time
	store   *store.Store
	work    Tracker
	restart chan restartRequest
}

type restartRequest struct{ reason, by string }

// Run runs a gateway until it is told to stop or restart, and returns the
// process exit code. Every fatal problem is logged in one line that says
// what to do.
func Run(ctx context.Context, o Options) int {
	g := &Gateway{
		log:     o.Log,
		notify:  o.Notify,
		cfgPath: o.ConfigPath,
		state:   control.StateStarting,
		started: time.Now(),
		restart: make(chan restartRequest, 1),
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.cfgPath == "" {
		g.cfgPath = config.DefaultPath()
	}
	g.log.Info("starting", "version", version.Get().String(), "pid", os.Getpid(), "config", g.cfgPath)

	// The config is read first: it names the state directory, and reading
	// it touches nothing.
	cfg, err := config.Load(g.cfgPath)
	if err != nil {
		return g.exit(ExitConfig, fmt.Sprintf("config: %v", err))
	}
	g.cfg = cfg

	// The store's file lock is the single-instance guard, taken before any
	// socket path is touched: a second gateway run by hand must never unlink
	// the socket systemd owns.
	st, err := store.Open(filepath.Join(cfg.StateDir(), store.FileName))
	if err != nil {
		var locked *store.LockedError
		var corrupt *store.CorruptError
		switch {
		case errors.As(err, &locked):
			return g.exit(ExitFailure, locked.Error()+"; stop it first (`hermes gateway stop`, or kill that pid if it runs by hand)")
		case errors.As(err, &corrupt):
			return g.exit(ExitConfig, corrupt.Error())
		default:
			return g.exit(ExitFailure, fmt.Sprintf("open the store: %v; check that %s is writable by you", err, cfg.StateDir()))
		}
	}
	g.store = st
	defer st.Close()
	g.lastRestart = g.readLastRestart()

	l, err := g.listen(o.ControlPath)
	if err != nil {
		return g.exit(ExitFailure, err.Error())
	}

	sigs := o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		// SIGTERM: systemd's stop. SIGINT: Ctrl-C when run by hand. SIGHUP:
		// reload (ExecReload=). SIGPIPE is left to Go, which ignores it on
		// sockets that are not stdout.
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		defer signal.Stop(ch)
		sigs = ch
	}

	// Serve once ready: until then, connections wait in the socket's
	// backlog, and the first answer a client gets is from a ready gateway.
	g.setState(control.StateReady)
	srv := control.NewServer(g, g.log)
	srv.Serve(l)
	if err := g.notify.Ready(); err != nil {
		g.log.Warn("sd_notify READY failed; systemd will time the start out", "err", err)
	}
	g.updateStatus()
	g.log.Info("ready", "control", l.Addr().String(), "socket_activated", g.activated, "state_dir", cfg.StateDir())

	code, reason := g.loop(ctx, sigs)
	g.drain(srv, code, reason)
	return g.exit(code, reason)
}

// listen adopts the control socket from systemd, or opens it by hand.
func (g *Gateway) listen(override string) (net.Listener, error) {
	set, err := activation.Adopt()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, name := range set.Unclaimed() {
			g.log.Warn("systemd passed a socket this gateway does not use; check FileDescriptorName= in the socket units", "name", name)
		}
	}()
	if l, ok := set.Take(activation.Control); ok {
		g.activated = true
		return l, nil
	}
	path := override
	if path == "" {
		path = g.cfg.ControlSocket()
	}
	l, err := activation.ListenUnix(path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return l, nil
}

// loop serves until a signal, a restart request or ctx ends it, proving
// liveness to the watchdog as it goes.
func (g *Gateway) loop(ctx context.Context, sigs <-chan os.Signal) (code int, reason string) {
	var tick <-chan time.Time
	if every := sdnotify.WatchdogInterval(); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ExitStopped, "context ended"
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				g.reload()
			default:
				return ExitStopped, "stop requested (" + sig.String() + ")"
			}
		case r := <-g.restart:
			rec := control.RestartRecord{Reason: r.reason, RequestedBy: r.by, At: time.Now().UTC(), PID: os.Getpid()}
			g.log.Info("restart requested", "reason", r.reason, "by", r.by)
			if err := g.writeLastRestart(rec); err != nil {
				g.log.Warn("could not record the restart reason; the next process will not report it", "err", err)
			}
			return ExitRestart, "planned restart: " + r.reason
		case <-tick:
			// The watchdog is fed from this loop, and only after the store
			// answers: a wedged loop or store stops the keep-alives and
			// systemd restarts the process.
			if _, err := g.store.Meta(metaLastRestart); err != nil {
				g.log.Error("store check failed; withholding the watchdog keep-alive", "err", err)
				continue
			}
			if err := g.notify.Watchdog(); err != nil {
				g.log.Warn("sd_notify WATCHDOG failed", "err", err)
			}
		}
	}
}

// drain stops new work, waits for work in flight up to the drain timeout,
// and closes the control server.
func (g *Gateway) drain(srv *control.Server, code int, reason string) {
	g.setState(control.StateDraining)
	if err := g.notify.Stopping(); err != nil {
		g.log.Warn("sd_notify STOPPING failed", "err", err)
	}
	timeout := g.config().Gateway.DrainTimeout.Duration
	inFlight := g.work.Count()
	g.log.Info("drain started", "in_flight", inFlight, "timeout", timeout.String(), "reason", reason)
	g.updateStatus()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	left := g.work.Drain(ctx)
	cancel()
	// Requests already accepted (a status, the 202 of a restart) finish;
	// nothing new is accepted, and new connections wait in systemd's socket.
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := srv.Shutdown(sctx); err != nil {
		g.log.Warn("control server did not shut down cleanly", "err", err)
	}
	scancel()
	g.log.Info("drain done", "finished", inFlight-left, "unfinished", left, "took_ms", time.Since(start).Milliseconds())
}

// exit logs the exit in one line and returns code.
func (g *Gateway) exit(code int, reason string) int {
	switch code {
	case ExitStopped, ExitRestart:
		g.log.Info("exit", "code", code, "reason", reason)
	default:
		g.log.Error("exit: "+reason, "code", code)
	}
	return code
}

// reload re-reads the config on SIGHUP. A bad file is reported and the
// running config kept; settings that only apply at start are named.
func (g *Gateway) reload() {
	_ = g.notify.Reloading()
	defer func() {
		_ = g.notify.Ready()
		g.updateStatus()
	}()
	cfg, err := config.Load(g.cfgPath)
	if err != nil {
		g.log.Error("reload: config rejected, keeping the running one", "err", err)
		return
	}
	old := g.config()
	if cfg.StateDir() != old.StateDir() || cfg.ControlSocket() != old.ControlSocket() {
		g.log.Warn("reload: state_dir and control_socket apply at start; run `hermes gateway restart` for them")
	}
	g.mu.Lock()
	g.cfg = cfg
	g.mu.Unlock()
	g.log.Info("reload: config applied", "config", g.cfgPath)
}

func (g *Gateway) config() *config.Config {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg
}

func (g *Gateway) setState(s string) {
	g.mu.Lock()
	g.state = s
	g.mu.Unlock()
}

// updateStatus sends systemd's STATUS= line.
func (g *Gateway) updateStatus() {
	st := g.Status()
	_ = g.notify.Status("%s · platforms: %s · in flight: %d", st.State, platformSummary(st.Platforms), st.InFlight)
}

func platformSummary(ps []control.Platform) string {
	if len(ps) == 0 {
		return "none"
	}
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p.Name + " " + p.State
	}
	return s
}

// Status implements control.Backend.
func (g *Gateway) Status() control.Status {
	v := version.Get()
	g.mu.Lock()
	defer g.mu.Unlock()
	return control.Status{
		Version:      v.Version,
		Revision:     v.Revision,
		PID:          os.Getpid(),
		StartedAt:    g.started.UTC(),
		InvocationID: os.Getenv("INVOCATION_ID"),
		State:        g.state,
		Platforms:    []control.Platform{},
		InFlight:     g.work.Count(),
		LastRestart:  g.lastRestart,
		ConfigFile:   g.cfg.Source,
		StateDir:     g.cfg.StateDir(),
		Activated:    g.activated,
	}
}

// RequestRestart implements control.Backend.
func (g *Gateway) RequestRestart(reason, by string) error {
	if g.work.Draining() {
		return errors.New("the gateway is already draining")
	}
	select {
	case g.restart <- restartRequest{reason: reason, by: by}:
		return nil
	default:
		return errors.New("a restart is already pending")
	}
}

func (g *Gateway) readLastRestart() *control.RestartRecord {
	b, err := g.store.Meta(metaLastRestart)
	if err != nil || b == nil {
		return nil
	}
	var rec control.RestartRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		g.log.Warn("ignoring an unreadable last-restart record", "err", err)
		return nil
	}
	return &rec
}

func (g *Gateway) writeLastRestart(rec control.RestartRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return g.store.SetMeta(metaLastRestart, b)
}
