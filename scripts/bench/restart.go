package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/units"
)

// Figure 1: restarts of an idle gateway, against three baselines, all in
// the same rounds, each round in a rotated order.

const (
	floorSvc  = "hermes-bench-floor.service"
	floorSock = "hermes-bench-floor.socket"
	plainSvc  = "hermes-bench-floor-plain.service"
	plainSock = "hermes-bench-floor-plain.socket"
	ownSvc    = "hermes-bench-ownsock.service"
	rs0Svc    = "hermes-bench-restartsec0.service"
	rs0Sock   = "hermes-bench-restartsec0.socket"
	fieldSvc  = "hermes-bench-field.service"
	// benchStartLimit replaces StartLimitBurst= in the benchmark's own
	// units: they are restarted hundreds of times a minute.
	benchStartLimit = "100000"
)

type restartBench struct {
	e *Env
	r *Results

	floorPath, plainPath, ownPath, fieldPath, rs0Path string
	// runs keeps the probed restarts by variant, for the timelines.
	runs map[string][]*probeRun
}

// probeRun is one restart with a client looping on the socket.
type probeRun struct {
	variant string
	probe   *Probe
	trigger time.Time     // when the restart was asked for
	at      time.Duration // trigger on the probe's clock
	end     time.Duration // probe stopped
	answer  time.Duration // first answer of the new process, probe clock
	reqs    []Request
	seen    Seen
	oldPID  int
	newPID  int
	// newExec and ready are the new process's exec and READY=1 as
	// systemd recorded them (zero when unknown).
	newExec, ready time.Time
}

func (b *restartBench) setup() error {
	e := b.e
	b.runs = map[string][]*probeRun{}
	if err := e.writeConfig("# benchmarks: the embedded defaults\n"); err != nil {
		return err
	}
	if err := e.installMain(units.Params{}); err != nil {
		return fmt.Errorf("install the units: %w", err)
	}

	// The floor: a minimal service, under hermes-gateway.service's
	// directives with its own socket.
	floorBin := filepath.Join(e.Work, "floor")
	build := exec.Command("go", "build", "-trimpath", "-o", floorBin, "./scripts/bench/floor")
	build.Dir = e.Root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the floor: %v: %s", err, out)
	}
	sock, err := units.Render(units.Socket, units.Params{Gateway: e.Gateway, Hermes: e.Hermes})
	if err != nil {
		return err
	}
	sock = unitEdit{set: map[string]map[string]string{
		"Unit":   {"Description": "hermes bench: the floor's socket"},
		"Socket": {"ListenStream": "%t/hermes-bench/floor.sock", "Service": floorSvc},
	}}.apply(sock)
	svc, err := e.gatewayService()
	if err != nil {
		return err
	}
	floor := unitEdit{execStart: floorBin, socket: floorSock,
		set:  map[string]map[string]string{"Unit": {"Description": "hermes bench: the floor (a minimal socket-activated Go service)", "StartLimitBurst": benchStartLimit}},
		drop: []string{"OnFailure", "Also", "Documentation"}}.apply(svc)
	b.floorPath = filepath.Join(e.RuntimeDir, "hermes-bench", "floor.sock")

	// The floor without the unit's sandboxing directives: what they cost.
	plainSocket := unitEdit{set: map[string]map[string]string{
		"Unit":   {"Description": "hermes bench: the unhardened floor's socket"},
		"Socket": {"ListenStream": "%t/hermes-bench/floor-plain.sock", "Service": plainSvc},
	}}.apply(sock)
	plain := unitEdit{execStart: floorBin, socket: plainSock,
		set:  map[string]map[string]string{"Unit": {"Description": "hermes bench: the floor without the sandboxing directives", "StartLimitBurst": benchStartLimit}},
		drop: append([]string{"OnFailure", "Also", "Documentation"}, hardening...)}.apply(svc)
	b.plainPath = filepath.Join(e.RuntimeDir, "hermes-bench", "floor-plain.sock")

	// Baseline (a): the same gateway and directives, listening on its own
	// socket (no .socket unit).
	ownDir := filepath.Join(e.StateDir, "bench-ownsock")
	ownCfg := filepath.Join(e.Work, "ownsock.toml")
	b.ownPath = filepath.Join(e.RuntimeDir, "hermes", "bench-ownsock.sock")
	if err := os.WriteFile(ownCfg, []byte(fmt.Sprintf("[gateway]\nstate_dir = %q\n", ownDir)), 0o600); err != nil {
		return err
	}
	own := unitEdit{execStart: fmt.Sprintf("%s --config %s --control %s", e.Gateway, ownCfg, b.ownPath),
		set:  map[string]map[string]string{"Unit": {"Description": "hermes bench: baseline (a), the gateway on its own socket", "StartLimitBurst": benchStartLimit}},
		drop: []string{"OnFailure", "Also", "Documentation"}}.apply(svc)

	// A variant of hermes itself: the same units with RestartSec=0, on a
	// socket and a store of their own.
	rs0Dir := filepath.Join(e.StateDir, "bench-restartsec0")
	rs0Cfg := filepath.Join(e.Work, "restartsec0.toml")
	if err := os.WriteFile(rs0Cfg, []byte(fmt.Sprintf("[gateway]\nstate_dir = %q\n", rs0Dir)), 0o600); err != nil {
		return err
	}
	rs0Socket := unitEdit{set: map[string]map[string]string{
		"Unit":   {"Description": "hermes bench: the RestartSec=0 variant's socket"},
		"Socket": {"ListenStream": "%t/hermes-bench/restartsec0.sock", "Service": rs0Svc},
	}}.apply(sock)
	rs0 := unitEdit{execStart: fmt.Sprintf("%s --config %s", e.Gateway, rs0Cfg), socket: rs0Sock,
		set: map[string]map[string]string{
			"Unit":    {"Description": "hermes bench: hermes-gateway.service with RestartSec=0", "StartLimitBurst": benchStartLimit},
			"Service": {"RestartSec": "0"},
		},
		drop: []string{"OnFailure", "Also", "Documentation"}}.apply(svc)
	b.rs0Path = filepath.Join(e.RuntimeDir, "hermes-bench", "restartsec0.sock")

	// Baseline (b): the field's unit. Type=simple, Restart=always,
	// RestartSec=5, no socket unit; a restart is the gateway exiting 75.
	fieldDir := filepath.Join(e.StateDir, "bench-field")
	fieldCfg := filepath.Join(e.Work, "field.toml")
	b.fieldPath = filepath.Join(e.RuntimeDir, "hermes", "bench-field.sock")
	if err := os.WriteFile(fieldCfg, []byte(fmt.Sprintf("[gateway]\nstate_dir = %q\n", fieldDir)), 0o600); err != nil {
		return err
	}
	field := fmt.Sprintf(`# hermes bench: baseline (b), a unit shaped like the field's
[Unit]
Description=hermes bench: baseline (b), the field's unit
StartLimitIntervalSec=60s
StartLimitBurst=%s

[Service]
Type=simple
ExecStart=%s --config %s --control %s
Restart=always
RestartSec=%s
`, benchStartLimit, e.Gateway, fieldCfg, b.fieldPath, fieldRestartSec)

	for name, body := range map[string][]byte{floorSock: sock, floorSvc: floor, plainSock: plainSocket, plainSvc: plain, ownSvc: own, rs0Sock: rs0Socket, rs0Svc: rs0, fieldSvc: []byte(field)} {
		if err := e.writeUnit(name, body); err != nil {
			return err
		}
	}
	// Drop-ins of hermes-gateway.service (scripts/sandbox adds one that
	// turns off what its namespaces cannot do) apply to the units that
	// share its directives.
	for _, u := range []string{floorSvc, ownSvc, rs0Svc} {
		if err := e.copyDropIns(units.Service, u); err != nil {
			return err
		}
	}
	if err := e.reload(); err != nil {
		return err
	}
	for _, u := range []string{floorSock, floorSvc, plainSock, plainSvc, ownSvc, rs0Sock, rs0Svc, fieldSvc} {
		if err := e.start(u); err != nil {
			return fmt.Errorf("start %s: %w", u, err)
		}
	}
	for _, p := range []string{e.ControlSocket(), b.floorPath, b.plainPath, b.ownPath, b.rs0Path, b.fieldPath} {
		if err := waitStatus(p, 0, 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func (b *restartBench) teardown() {
	b.e.stop(floorSvc, floorSock, plainSvc, plainSock, ownSvc, rs0Svc, rs0Sock, fieldSvc)
}

// hardening lists the sandboxing directives of hermes-gateway.service, which
// the unhardened floor goes without.
var hardening = []string{"ReadWritePaths", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
	"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
	"ProtectHostname", "NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "RestrictAddressFamilies",
	"RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute",
	"SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber", "RemoveIPC", "KeyringMode", "UMask",
	"PrivateUsers", "PrivateNetwork", "PrivateIPC", "ProtectProc", "ProcSubset", "InaccessiblePaths", "ReadOnlyPaths",
	"TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths", "DevicePolicy", "DeviceAllow", "IPAddressDeny", "IPAddressAllow"}

type variant struct {
	name string
	run  func() error
}

func (b *restartBench) run(rounds int, progress func(string)) error {
	if err := b.setup(); err != nil {
		return err
	}
	defer b.teardown()
	vs := []variant{
		{"hermes gateway restart", b.cli},
		{"hermes job", func() error { return b.job(units.Service, "restart.hermes") }},
		{"floor job", func() error { return b.job(floorSvc, "restart.floor") }},
		{"unhardened floor job", func() error { return b.job(plainSvc, "restart.floorplain") }},
		{"(a) job", func() error { return b.job(ownSvc, "restart.ownsock") }},
		{"hermes gateway restart + client", b.cliProbe},
		{"floor job + client", func() error { return b.jobProbe(floorSvc, b.floorPath, "restart.floor.probe") }},
		{"(a) job + client", func() error { return b.jobProbe(ownSvc, b.ownPath, "restart.ownsock.probe") }},
		{"hermes POST /v1/restart + client", func() error { return b.selfProbe(units.Service, b.e.ControlSocket(), "restart.self") }},
		{"RestartSec=0 POST /v1/restart + client", func() error { return b.selfProbe(rs0Svc, b.rs0Path, "restart.rs0") }},
		{"(b) POST /v1/restart + client", func() error { return b.selfProbe(fieldSvc, b.fieldPath, "restart.field") }},
	}
	began := time.Now()
	for i := 0; i < rounds; i++ {
		for j := range vs {
			v := vs[(i+j)%len(vs)]
			if err := v.run(); err != nil {
				b.r.Note("restart", "round %d, %s: %v", i+1, v.name, err)
				progress(fmt.Sprintf("round %d, %s: %v", i+1, v.name, err))
			}
			settle()
		}
		progress(fmt.Sprintf("restart round %d/%d", i+1, rounds))
	}
	b.timelines()
	for _, u := range []struct{ unit, key string }{{units.Service, "restart.self"}, {rs0Svc, "restart.rs0"}, {fieldSvc, "restart.field"}} {
		ds, err := restartDelays(u.unit, began)
		if err != nil {
			b.r.Note("restart", "journal of %s: %v", u.unit, err)
		}
		for _, d := range ds {
			b.r.S(u.key+".timer", "", "ms").AddDur(d)
		}
	}
	for _, u := range []struct{ unit, key string }{{units.Service, "restart.hermes"}, {floorSvc, "restart.floor"}, {plainSvc, "restart.floorplain"}, {ownSvc, "restart.ownsock"}} {
		if err := b.breakdown(u.unit, u.key, began); err != nil {
			b.r.Note("restart", "journal of %s: %v", u.unit, err)
		}
	}
	return nil
}

// breakdown splits every restart job of unit into its parts, from the
// manager's own journal lines: Stopping → Stopped (SIGTERM, the drain,
// the exit, reaping), Stopped → Starting (the manager between the two
// halves of the job), Starting → Started (fork, exec, READY=1).
func (b *restartBench) breakdown(unit, key string, since time.Time) error {
	js, err := readJournal(unit, since)
	if err != nil {
		return err
	}
	var stopping, stopped, starting time.Time
	for _, e := range js {
		switch {
		case strings.HasPrefix(e.Msg, "Stopping "+unit):
			stopping, stopped, starting = e.T, time.Time{}, time.Time{}
		case strings.HasPrefix(e.Msg, "Stopped "+unit) && !stopping.IsZero():
			stopped = e.T
		case strings.HasPrefix(e.Msg, "Starting "+unit) && !stopped.IsZero():
			starting = e.T
		case strings.HasPrefix(e.Msg, "Started "+unit) && !starting.IsZero():
			b.r.S(key+".sd.stop", "", "ms").AddDur(stopped.Sub(stopping))
			b.r.S(key+".sd.between", "", "ms").AddDur(starting.Sub(stopped))
			b.r.S(key+".sd.start", "", "ms").AddDur(e.T.Sub(starting))
			stopping, stopped, starting = time.Time{}, time.Time{}, time.Time{}
		}
	}
	return nil
}

// settle lets the new process finish what follows READY (its platforms,
// the first STATUS=), and collects this process's garbage, so that the
// next measurement starts from quiet. The random part keeps the runs from
// locking onto the manager's 250 ms timer grid (see the self restart):
// without it every run would hit the same point of it.
func settle() {
	runtime.GC()
	time.Sleep(settleMin + rand.N(settleSpread))
}

// failRE strips what differs between otherwise equal errors.
var failRE = regexp.MustCompile(`@[^ ]*->`)

var cliTookRE = regexp.MustCompile(`in (\d+) ms`)

// cli times `hermes gateway restart` as a person runs it: from exec to
// exit, and from exec to the new process's READY=1 as systemd recorded it
// (ActiveEnterTimestamp, the moment the job's wait for READY ended).
func (b *restartBench) cli() error {
	b.e.resetFailed(units.Service)
	t0 := time.Now()
	out, err := exec.Command(b.e.Hermes, "gateway", "restart").CombinedOutput()
	wall := time.Since(t0)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	st, err := b.e.unit(units.Service)
	if err != nil {
		return err
	}
	b.r.S("restart.cli.wall", "`hermes gateway restart`: exec → exit", "ms").AddDur(wall)
	if !st.ActiveEnterTimestamp.IsZero() {
		b.r.S("restart.cli.ready", "`hermes gateway restart`: exec → new process READY=1", "ms").AddDur(st.ActiveEnterTimestamp.Sub(t0))
	}
	if m := cliTookRE.FindSubmatch(out); m != nil {
		v, _ := strconv.Atoi(string(m[1]))
		b.r.S("restart.cli.reported", "what the command reports (\"in N ms\": its job)", "ms").Add(float64(v))
	}
	return nil
}

// job times one RestartUnit job through pkg/systemd, from the call to its
// result (for Type=notify: the new process's READY=1).
func (b *restartBench) job(unit, key string) error {
	d, err := b.e.restartJob(unit)
	if err != nil {
		return err
	}
	b.r.S(key+".job", unit+": RestartUnit job", "ms").AddDur(d)
	if st, err := b.e.unit(unit); err == nil && !st.ExecMainStartTimestamp.IsZero() && !st.ActiveEnterTimestamp.IsZero() {
		b.r.S(key+".execready", unit+": new process fork → READY=1 (systemd's timestamps)", "ms").AddDur(st.ActiveEnterTimestamp.Sub(st.ExecMainStartTimestamp))
	}
	return nil
}

// probed runs trigger while a client loops on path, and waits until a
// process other than oldPID answers.
func (b *restartBench) probed(name, path string, oldPID int, trigger func() error) (*probeRun, error) {
	p, err := StartProbe(path)
	if err != nil {
		return nil, err
	}
	time.Sleep(probeMargin)
	run := &probeRun{variant: name, probe: p, oldPID: oldPID}
	run.trigger = time.Now()
	run.at = p.At(run.trigger)
	if err := trigger(); err != nil {
		p.Stop()
		return nil, err
	}
	at, ok := p.WaitPID(oldPID, run.at, 30*time.Second)
	time.Sleep(probeMargin)
	run.reqs = p.Stop()
	run.end = p.Now()
	if !ok {
		return nil, fmt.Errorf("no answer from a new process within 30 s")
	}
	run.answer = at
	run.seen = summarize(run.reqs, run.at, run.end)
	if n := len(run.seen.PIDs); n > 0 {
		run.newPID = run.seen.PIDs[n-1]
	}
	b.runs[name] = append(b.runs[name], run)
	return run, nil
}

func (b *restartBench) recordSeen(key string, s Seen) {
	if s.FirstFailure != "" {
		what := "a request failed"
		if strings.Contains(key, "ownsock") || strings.Contains(key, "field") {
			what = "a request failed (a baseline without the socket unit: expected)"
		}
		b.r.Note("restart", "%s: %s: %s", key, what, failRE.ReplaceAllString(s.FirstFailure, "@"))
	}
	b.r.S(key+".stall", "longest single request", "ms").AddDur(s.LongestStall)
	b.r.S(key+".gap", "longest time without an answer", "ms").AddDur(s.LongestGap)
	b.r.S(key+".refused", "refused connections", "").Add(float64(s.Refused))
	b.r.S(key+".failed", "failed requests", "").Add(float64(s.Failed))
	b.r.S(key+".requests", "requests", "").Add(float64(s.Requests))
}

func (b *restartBench) cliProbe() error {
	old := b.e.mainPID(units.Service)
	var wall time.Duration
	run, err := b.probed("cli", b.e.ControlSocket(), old, func() error {
		b.e.resetFailed(units.Service)
		t0 := time.Now()
		out, err := exec.Command(b.e.Hermes, "gateway", "restart").CombinedOutput()
		wall = time.Since(t0)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if st, err := b.e.unit(units.Service); err == nil {
		run.newExec, run.ready = st.ExecMainStartTimestamp, st.ActiveEnterTimestamp
	}
	b.r.S("restart.cli.probe.wall", "`hermes gateway restart` with a client looping: exec → exit", "ms").AddDur(wall)
	b.recordSeen("restart.cli.probe", run.seen)
	return nil
}

func (b *restartBench) jobProbe(unit, path, key string) error {
	old := b.e.mainPID(unit)
	var d time.Duration
	run, err := b.probed(key, path, old, func() error {
		var err error
		d, err = b.e.restartJob(unit)
		return err
	})
	if err != nil {
		return err
	}
	if st, err := b.e.unit(unit); err == nil {
		run.newExec, run.ready = st.ExecMainStartTimestamp, st.ActiveEnterTimestamp
	}
	b.r.S(key+".job", unit+": RestartUnit job with a client looping", "ms").AddDur(d)
	b.recordSeen(key, run.seen)
	return nil
}

// selfProbe asks the gateway itself to restart (POST /v1/restart: drain,
// exit 75, systemd starts it again after RestartSec=) and times until a
// new process answers.
func (b *restartBench) selfProbe(unit, path, key string) error {
	b.e.resetFailed(unit)
	old := b.e.mainPID(unit)
	run, err := b.probed(key, path, old, func() error {
		ctx, cancel := ctxT(10 * time.Second)
		defer cancel()
		return control.NewClient(path).Restart(ctx, "benchmark")
	})
	if err != nil {
		return err
	}
	if st, err := b.e.unit(unit); err == nil {
		run.newExec, run.ready = st.ExecMainStartTimestamp, st.ActiveEnterTimestamp
	}
	b.r.S(key+".serve", unit+": POST /v1/restart → a new process answers", "ms").AddDur(run.answer - run.at)
	b.recordSeen(key, run.seen)
	return nil
}

// timelines draws the median restart (by the client's longest time
// without an answer) of hermes gateway restart and of baseline (b).
func (b *restartBench) timelines() {
	for _, v := range []struct{ key, unit, file, title string }{
		{"cli", units.Service, "restart-timeline.svg", "hermes gateway restart: a restart job (socket-activated, Type=notify)"},
		{"restart.self", units.Service, "restart-timeline-self.svg", "hermes, POST /v1/restart: drain, exit 75, RestartSec=" + or(readFacts(b.e).RestartSec, "?")},
		{"restart.field", fieldSvc, "restart-timeline-field.svg", "baseline (b): the field's unit (Type=simple, Restart=always, RestartSec=" + fieldRestartSec.String() + "), POST /v1/restart"},
	} {
		runs := b.runs[v.key]
		if len(runs) == 0 {
			continue
		}
		sorted := append([]*probeRun(nil), runs...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].seen.LongestGap < sorted[j].seen.LongestGap })
		run := sorted[len(sorted)/2]
		js, err := readJournal(v.unit, run.trigger.Add(-2*time.Second))
		if err != nil {
			b.r.Note("restart", "timeline %s: journal: %v", v.key, err)
		}
		b.r.Timelines[v.file] = buildTimeline(v.title, run, js)
	}
}
