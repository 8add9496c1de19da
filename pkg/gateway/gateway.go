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
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/pkg/activation"
	"github.com/hermes-gateway/hermes/pkg/agent"
	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/events"
	"github.com/hermes-gateway/hermes/pkg/httpserve"
	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/hermes-gateway/hermes/pkg/matrix"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/router"
	"github.com/hermes-gateway/hermes/pkg/sdnotify"
	"github.com/hermes-gateway/hermes/pkg/store"
	tgadapter "github.com/hermes-gateway/hermes/pkg/telegram/adapter"
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
	// Notify tells the service manager how the gateway is; nil means
	// sdnotify.New() (a no-op outside systemd). Tests inject their own.
	Notify Notifier
	// Signals delivers SIGTERM/SIGINT/SIGHUP; nil means the process's own.
	Signals <-chan os.Signal
	// Activation returns the sockets systemd passed; nil means
	// activation.Adopt. Tests pass an empty set, and the gateway listens
	// on ControlPath by itself, as when run by hand.
	Activation func() (*activation.Set, error)
	// Adapters, if set, adds adapters to those the config enables, each
	// built with the function that reports its status; Access says who
	// may talk on them. Tests inject fakes here.
	Adapters func(onStatus func(name string, st platform.Status)) []platform.Adapter
	Access   map[string]platform.Access
}

// Notifier is what the gateway tells the service manager (*sdnotify.Notifier
// under systemd).
type Notifier interface {
	Ready() error
	Reloading() error
	Stopping() error
	Status(format string, args ...any) error
	Watchdog() error
}

// Gateway is one running gateway process.
type Gateway struct {
	log     *slog.Logger
	notify  Notifier
	cfgPath string

	mu          sync.Mutex
	cfg         *config.Config
	state       string
	lastRestart *control.RestartRecord
	activated   bool

	started time.Time
	readyAt time.Time
	// prevStoppedAt is when the previous process stopped serving.
	prevStoppedAt time.Time
	store         *store.Store
	restart       chan restartRequest
	fatal         chan fatalError

	agent  agent.Agent
	auth   *router.Auth
	router *router.Router
	// local is the control socket's door (`hermes chat`): answered like
	// any platform, received by the control API rather than by a Run.
	local    *localPlatform
	adapters *adapters
	// extraAccess is who may talk on injected adapters (Options.Access).
	extraAccess map[string]platform.Access
	// platformCtx ends at the drain: it stops the adapters' receiving and
	// any ✓ Back still on its way.
	platformCtx    context.Context
	platformCancel context.CancelFunc
}

// fatalError is a problem found after start that no restart can fix (a
// rejected bot token): the gateway drains and exits with code.
type fatalError struct {
	code   int
	reason string
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
		fatal:   make(chan fatalError, 1),
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.notify == nil {
		g.notify = sdnotify.New()
	}
	adopt := o.Activation
	if adopt == nil {
		adopt = activation.Adopt
	}
	if g.cfgPath == "" {
		g.cfgPath = config.DefaultPath()
	}
	g.log.Info(fmt.Sprintf("starting hermes-gateway %s (pid %d)", version.Get().Version, os.Getpid()), events.Started.With("version", version.Get().String(), "pid", os.Getpid(), "config", g.cfgPath)...)

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
	if b, err := st.Meta(metaStoppedAt); err != nil {
		g.log.Warn("could not read when the previous process stopped; /status will not say how long the bot was down", "err", err)
	} else if b != nil {
		if g.prevStoppedAt, err = time.Parse(time.RFC3339Nano, string(b)); err != nil {
			g.log.Warn("ignoring an unreadable stop time", "value", string(b), "err", err)
		}
	}

	g.agent, err = agent.New(cfg.Agent, cfg.ResolvePath, g.log)
	if err != nil {
		return g.exit(ExitConfig, fmt.Sprintf("agent: %v", err))
	}
	g.extraAccess = o.Access
	g.auth = router.NewAuth(st, g.access(cfg))
	g.local = newLocalPlatform(st)
	g.router = router.New(router.Options{
		Store: st, Agent: g.agent, Auth: g.auth, Host: g, Log: g.log,
		History:       router.NewHistory(st, cfg.Agent.HistoryTurns, cfg.Agent.HistoryChars),
		MaxConcurrent: cfg.Agent.MaxConcurrentChats,
		FilesDir:      filepath.Join(cfg.StateDir(), "files"),
		MaxFileBytes:  cfg.Agent.MaxFileBytes,
		Finished: func(m router.Message, state, note string) {
			if m.Platform == platformLocal {
				g.local.finished(m)
			}
		},
	})
	g.router.AddPlatform(g.local)
	// Files a killed process fetched for a turn: the turn, run again,
	// fetches them again.
	if err := g.router.SweepFiles(); err != nil {
		g.log.Warn("could not remove the files left by the previous run", "err", err)
	}
	as, err := buildAdapters(cfg, g)
	if err != nil {
		return g.exit(ExitConfig, err.Error())
	}
	if o.Adapters != nil {
		as.list = append(as.list, o.Adapters(g.adapterStatus)...)
	}
	for _, a := range as.list {
		g.router.AddPlatform(a)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	g.mu.Lock()
	g.adapters, g.platformCtx, g.platformCancel = as, pctx, pcancel
	g.mu.Unlock()

	set, err := adopt()
	if err != nil {
		return g.exit(ExitFailure, err.Error())
	}
	l, err := g.listen(set, o.ControlPath)
	if err != nil {
		return g.exit(ExitFailure, err.Error())
	}
	var webhook net.Listener
	if as.webhook != nil {
		if webhook, err = g.listenWebhook(set, cfg); err != nil {
			return g.exit(ExitFailure, err.Error())
		}
	}
	for _, name := range set.Unclaimed() {
		g.log.Warn("systemd passed a socket this gateway does not use; check FileDescriptorName= in the socket units", "name", name)
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
	// Platforms start here too; one that cannot connect yet is reported in
	// STATUS= and /v1/status, not by withholding READY: a network outage
	// must not become a restart loop.
	g.setState(control.StateReady)
	srv := g.controlServer()
	srv.Serve(l)
	var webhookSrv *httpserve.Server
	if webhook != nil {
		webhookSrv = httpserve.Serve(webhook, as.webhook, httpserve.Options{Log: g.log})
	}
	// Unfinished work first, so it keeps its place before anything new.
	if n, err := g.router.Resume(); err != nil {
		g.log.Error("could not resume unfinished work", "err", err)
	} else if n > 0 {
		g.log.Info("resuming work a previous process left unfinished", "count", n)
	}
	if st.Recovered > 0 {
		g.log.Info("answers sent by the previous process just before it ended, now recorded", "count", st.Recovered)
	}
	// Set before the platforms start: their ✓ Back says how long no
	// gateway served.
	g.readyAt = time.Now()
	as.run(pctx, g)
	go g.announceBack(pctx, platformLocal)
	if err := g.notify.Ready(); err != nil {
		g.log.Warn("sd_notify READY failed; systemd will time the start out", "err", err)
	}
	g.updateStatus()
	g.log.Info(fmt.Sprintf("ready (socket-activated: %v, agent: %s, telegram: %v, matrix: %v)", g.activated, g.agent.Name(), cfg.Telegram.Enabled, cfg.Matrix.Enabled), events.Ready.With("control", l.Addr().String(), "socket_activated", g.activated, "state_dir", cfg.StateDir(),
		"agent", g.agent.Name(), "telegram", cfg.Telegram.Enabled, "matrix", cfg.Matrix.Enabled)...)
	// Pruning reads every inbox record: after READY, not before it (the
	// benchmark measured 100+ ms of start-up for 10,000 records).
	go func() {
		n, err := st.Prune(keepFinished)
		switch {
		case err != nil:
			// Nothing is lost: the records stay, and the next start prunes.
			g.log.Warn("could not prune old inbox records; the store keeps them until the next start", "err", err)
		case n > 0:
			g.log.Info("pruned old inbox records", "count", n)
		}
	}()

	code, reason := g.loop(ctx, sigs)
	g.drain(srv, webhookSrv, code, reason)
	return g.exit(code, reason)
}

// announceBack tells the chat that asked for a restart, on the platform it
// asked on, that the gateway is back and how long it was gone. It runs for
// each platform once it can send (an adapter when it first connects).
func (g *Gateway) announceBack(ctx context.Context, platform string) {
	n, err := g.router.TakeRestartNotice(platform)
	if err != nil {
		g.log.Warn("could not read the restart notice; the chat that asked will not hear back", "platform", platform, "err", err)
		return
	}
	if n == nil {
		return
	}
	msg := fmt.Sprintf("✓ Back: %s", version.Get().Version)
	if gap := g.downGap(); gap > 0 {
		msg += fmt.Sprintf(", down %d ms", gap.Milliseconds())
	}
	if err := g.router.Announce(ctx, platform, n.Back(msg)); err != nil {
		g.log.Warn("could not say we are back", "platform", platform, "chat_id", n.ChatID, "err", err)
	}
}

// platformAccess is who may talk, per platform, from the config: the file
// keeps Telegram's numeric lists; the router sees opaque ids.
func platformAccess(cfg *config.Config) map[string]platform.Access {
	acc := map[string]platform.Access{}
	if cfg.Telegram.Enabled {
		var a platform.Access
		for _, id := range cfg.Telegram.Admins {
			a.Admins = append(a.Admins, platform.UserID(strconv.FormatInt(id, 10)))
		}
		for _, id := range cfg.Telegram.Users {
			a.Users = append(a.Users, platform.UserID(strconv.FormatInt(id, 10)))
		}
		for _, id := range cfg.Telegram.Groups {
			a.Groups = append(a.Groups, platform.ChatID(strconv.FormatInt(id, 10)))
		}
		acc[tgadapter.Name] = a
	}
	if cfg.Matrix.Enabled {
		// The adapter joins only rooms an allowed user invited it to.
		a := platform.Access{AnyRoom: true}
		for _, id := range cfg.Matrix.Admins {
			a.Admins = append(a.Admins, platform.UserID(id))
		}
		for _, id := range cfg.Matrix.Users {
			a.Users = append(a.Users, platform.UserID(id))
		}
		acc[matrix.Name] = a
	}
	return acc
}

// access is who may talk, per platform: the config's lists, and those of
// injected adapters.
func (g *Gateway) access(cfg *config.Config) map[string]platform.Access {
	acc := platformAccess(cfg)
	for name, a := range g.extraAccess {
		acc[name] = a
	}
	return acc
}

// controlServer is the whole control API: every endpoint is added here,
// so the tests that walk its route table see them all.
func (g *Gateway) controlServer() *control.Server {
	srv := control.NewServer(g, g.log)
	g.chatHandlers(srv)
	g.pairingHandlers(srv)
	g.announceHandler(srv)
	return srv
}

// keepFinished is how long answered updates stay in the inbox, long
// enough to recognise any redelivery.
const keepFinished = 7 * 24 * time.Hour

// listen adopts the control socket from systemd, or opens it by hand.
func (g *Gateway) listen(set *activation.Set, override string) (net.Listener, error) {
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
		case f := <-g.fatal:
			return f.code, f.reason
		case r := <-g.restart:
			rec := control.RestartRecord{Reason: r.reason, RequestedBy: r.by, At: time.Now().UTC(), PID: os.Getpid()}
			g.log.Info("restart requested by "+r.by+": "+r.reason, events.RestartRequested.With("reason", r.reason, "by", r.by)...)
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

// drain stops new work, waits for work in flight up to the drain timeout
// (what does not finish stays in the store and runs after the restart),
// stops the platforms and closes the servers.
func (g *Gateway) drain(srv *control.Server, webhook *httpserve.Server, code int, reason string) {
	g.setState(control.StateDraining)
	if err := g.notify.Stopping(); err != nil {
		g.log.Warn("sd_notify STOPPING failed", "err", err)
	}
	timeout := g.config().Gateway.DrainTimeout.Duration
	inFlight := g.router.InFlight()
	g.log.Info(fmt.Sprintf("drain started: %d in flight (%s)", inFlight, reason), events.DrainStarted.With("in_flight", inFlight, "timeout", timeout.String(), "reason", reason)...)
	g.updateStatus()
	start := time.Now()
	g.local.release()
	// A send already on its way gets sendGrace to finish (bounded:
	// drain_timeout is at most 25 s, this 2 s and the servers' 2 s stay
	// under TimeoutStopSec): cut short, its answer would be sent again by
	// the next process.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	left := g.router.Drain(ctx, sendGrace)
	cancel()
	if left > 0 {
		g.log.Warn("drain timed out; unfinished turns stay in the store and run after the restart", "unfinished", left)
	}
	// The adapters stop receiving; each confirms upstream what it stored
	// (Telegram's offset) before its Run returns.
	g.platformCancel()
	g.adapters.wait()
	// Requests already accepted (a status, the 202 of a restart, a webhook
	// delivery) are answered; nothing new is accepted, and new connections
	// wait in systemd's sockets for the next process.
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := srv.Shutdown(sctx); err != nil {
		g.log.Warn("control server did not shut down cleanly", "err", err)
	}
	if webhook != nil {
		if err := webhook.Shutdown(sctx); err != nil {
			g.log.Warn("webhook server did not shut down cleanly", "err", err)
		}
	}
	scancel()
	if err := g.store.SetMeta(metaStoppedAt, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		g.log.Warn("could not record the stop time", "err", err)
	}
	g.log.Info(fmt.Sprintf("drain done: %d finished, %d unfinished, in %d ms", inFlight-left, left, time.Since(start).Milliseconds()), events.DrainDone.With("finished", inFlight-left, "unfinished", left, "took_ms", time.Since(start).Milliseconds())...)
}

// sendGrace is how long a drain that timed out still lets sends on their
// way finish.
const sendGrace = 2 * time.Second

// metaStoppedAt records when the last process stopped serving, so the next
// one can say how long the bot was down.
const metaStoppedAt = "stopped_at"

// exit logs the exit in one line and returns code.
func (g *Gateway) exit(code int, reason string) int {
	switch code {
	case ExitStopped, ExitRestart:
		g.log.Info(fmt.Sprintf("exit %d: %s", code, reason), events.Exit.With("code", code, "reason", reason)...)
	default:
		msg := fmt.Sprintf("exit %d: %s", code, reason)
		g.log.Error(msg, events.Exit.With("code", code, "reason", reason)...)
		journal.LastWords(os.Stderr, msg)
	}
	return code
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
	if err := g.notify.Status("%s · platforms: %s · in flight: %d", st.State, platformSummary(st.Platforms), st.InFlight); err != nil {
		g.log.Warn("sd_notify STATUS failed; `systemctl --user status` shows an old status line", "err", err)
	}
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
		Platforms:    g.platformsLocked(),
		InFlight:     g.inFlightLocked(),
		LastRestart:  g.lastRestart,
		ConfigFile:   g.cfg.Source,
		StateDir:     g.cfg.StateDir(),
		Activated:    g.activated,
	}
}

func (g *Gateway) inFlightLocked() int {
	if g.router == nil {
		return 0
	}
	return g.router.InFlight()
}

func (g *Gateway) platformsLocked() []control.Platform {
	return g.adapters.statuses()
}

// downGap is how long no gateway served between the previous process and
// this one (0 when unknown).
func (g *Gateway) downGap() time.Duration {
	if g.prevStoppedAt.IsZero() || g.readyAt.IsZero() || g.readyAt.Before(g.prevStoppedAt) {
		return 0
	}
	return g.readyAt.Sub(g.prevStoppedAt)
}

// StatusText is the /status answer in a chat.
func (g *Gateway) StatusText() string {
	st := g.Status()
	v := version.Get()
	s := fmt.Sprintf("hermes-gateway %s (rev %.12s)\nup %s, %s, %d in flight", v.Version, v.Revision, time.Since(g.started).Round(time.Second), st.State, st.InFlight)
	for _, p := range st.Platforms {
		s += fmt.Sprintf("\n%s: %s", p.Name, p.State)
	}
	if lr := st.LastRestart; lr != nil {
		s += fmt.Sprintf("\nlast restart: %s (%s), %s ago", lr.Reason, lr.RequestedBy, time.Since(lr.At).Round(time.Second))
		if gap := g.downGap(); gap > 0 {
			s += fmt.Sprintf(", down %d ms", gap.Milliseconds())
		}
	}
	return s
}

// RequestRestart implements control.Backend.
func (g *Gateway) RequestRestart(reason, by string) error {
	if g.router.Draining() {
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
