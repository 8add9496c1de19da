package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/units"
)

// Env is the sandbox user manager and the paths the benchmarks use.
type Env struct {
	Root    string // the checkout (the working directory of `make bench`)
	Gateway string // abs bin/hermes-gateway
	Hermes  string // abs bin/hermes

	Home, UnitDir, ConfigDir, StateDir, RuntimeDir string
	// Work holds what the benchmarks build and write: the floor binary,
	// baseline configs and stores, prebuilt versions. Inside $HOME, so the
	// units see it wherever they see the config.
	Work string

	M *systemd.Manager
}

func newEnv() (*Env, error) {
	if os.Getenv("HERMES_SANDBOX") == "" {
		return nil, fmt.Errorf("run me inside the sandbox: `make bench` (scripts/sandbox -- go run ./scripts/bench); I install units into the user manager and must never touch a real one")
	}
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return nil, fmt.Errorf("run me from the checkout's root (no go.mod in %s)", root)
	}
	e := &Env{
		Root:       root,
		Gateway:    filepath.Join(root, "bin", "hermes-gateway"),
		Hermes:     filepath.Join(root, "bin", "hermes"),
		Home:       os.Getenv("HOME"),
		RuntimeDir: os.Getenv("XDG_RUNTIME_DIR"),
	}
	for _, b := range []string{e.Gateway, e.Hermes} {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("%s is missing: run `make build` first (`make bench` does)", b)
		}
	}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	e.UnitDir = filepath.Join(cfg, "systemd", "user")
	e.ConfigDir = filepath.Join(cfg, "hermes")
	e.StateDir = filepath.Join(os.Getenv("XDG_STATE_HOME"), "hermes")
	e.Work = filepath.Join(e.Home, ".cache", "hermes-bench")
	for _, d := range []string{e.UnitDir, e.ConfigDir, e.StateDir, e.Work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e.M, err = systemd.Connect(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Env) Close() { e.M.Close() }

// ControlSocket is where hermes-gateway.socket listens.
func (e *Env) ControlSocket() string { return control.DefaultSocketPath() }

func systemctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", append([]string{"--user"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("systemctl --user %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func ctxT(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// writeUnit writes a unit file into the manager's unit directory.
func (e *Env) writeUnit(name string, body []byte) error {
	return os.WriteFile(filepath.Join(e.UnitDir, name), body, 0o644)
}

func (e *Env) reload() error {
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	return e.M.Reload(ctx)
}

// resetFailed clears a unit's failed state and its start-limit counter.
// Every start counts against StartLimitBurst= (30 a minute for
// hermes-gateway.service), manual ones too; the benchmarks start it
// hundreds of times, so they reset it before each restart instead of
// changing the unit.
func (e *Env) resetFailed(unit string) {
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	_ = e.M.ResetFailed(ctx, unit)
}

func (e *Env) unit(name string) (systemd.UnitState, error) {
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	return e.M.Unit(ctx, name)
}

func (e *Env) mainPID(name string) int {
	st, err := e.unit(name)
	if err != nil {
		return 0
	}
	return int(st.MainPID)
}

func (e *Env) start(unit string) error {
	e.resetFailed(unit)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	_, err := e.M.Start(ctx, unit)
	return err
}

func (e *Env) stop(units ...string) {
	for _, u := range units {
		ctx, cancel := ctxT(60 * time.Second)
		_, _ = e.M.Stop(ctx, u)
		cancel()
		e.resetFailed(u)
	}
}

// restartJob is one RestartUnit job, timed from the call to its result.
func (e *Env) restartJob(unit string) (time.Duration, error) {
	e.resetFailed(unit)
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	t := time.Now()
	_, err := e.M.Restart(ctx, unit)
	return time.Since(t), err
}

// installMain renders every unit of the project for bin/ and installs
// them the way the e2e tests do, then starts the control socket and the
// service.
func (e *Env) installMain(p units.Params) error {
	if p.Gateway == "" {
		p.Gateway, p.Hermes = e.Gateway, e.Hermes
	}
	all, err := units.RenderAll(p)
	if err != nil {
		return err
	}
	for name, body := range all {
		if err := e.writeUnit(name, body); err != nil {
			return err
		}
	}
	if err := e.reload(); err != nil {
		return err
	}
	if err := e.start(units.Socket); err != nil {
		return err
	}
	return e.start(units.Service)
}

// ensureMain installs the project's units unless they are installed, so
// that any phase can run alone (-only).
func (e *Env) ensureMain() error {
	if st, err := e.unit(units.Service); err == nil && st.LoadState == "loaded" {
		return nil
	}
	return e.installMain(units.Params{})
}

// writeConfig replaces the gateway's config file.
func (e *Env) writeConfig(body string) error {
	return os.WriteFile(filepath.Join(e.ConfigDir, "config.toml"), []byte(body), 0o600)
}

// writeSecret writes a token or secret file (mode 0600) next to the config.
func (e *Env) writeSecret(name, content string) (string, error) {
	p := filepath.Join(e.ConfigDir, name)
	return p, os.WriteFile(p, []byte(content+"\n"), 0o600)
}

// restartMain restarts hermes-gateway.service (after a config change) and
// waits until it answers on the control socket.
func (e *Env) restartMain() error {
	if _, err := e.restartJob(units.Service); err != nil {
		return err
	}
	return waitStatus(e.ControlSocket(), 0, 30*time.Second)
}

// waitStatus waits until the control socket at path answers /v1/status
// from a pid other than notPID.
func waitStatus(path string, notPID int, timeout time.Duration) error {
	c := control.NewClient(path)
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := ctxT(5 * time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil && st.PID != notPID && st.State == control.StateReady {
			return nil
		}
		last = err
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within %s: %v", path, timeout, last)
}

// unitEdit turns the rendered hermes-gateway.service into a benchmark
// unit with the same directives except those named here.
type unitEdit struct {
	execStart string
	// socket replaces hermes-gateway.socket in Requires=/After=; "" drops
	// the dependency (a unit without a socket).
	socket string
	// set replaces every assignment of a key, per section; the new value
	// goes at the end of the section.
	set map[string]map[string]string
	// drop removes every assignment of these keys.
	drop []string
}

func (u unitEdit) apply(src []byte) []byte {
	var out bytes.Buffer
	section := ""
	flush := func() {
		for k, v := range u.set[section] {
			fmt.Fprintf(&out, "%s=%s\n", k, v)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "[") {
			flush()
			section = strings.Trim(trim, "[]")
			out.WriteString(line + "\n")
			continue
		}
		key, val, isKV := strings.Cut(trim, "=")
		if !isKV || strings.HasPrefix(trim, "#") {
			out.WriteString(line + "\n")
			continue
		}
		key = strings.TrimSpace(key)
		switch {
		case containsStr(u.drop, key):
			continue
		case u.set[section] != nil && u.set[section][key] != "":
			continue
		case key == "ExecStart" && u.execStart != "":
			fmt.Fprintf(&out, "ExecStart=%s\n", u.execStart)
			continue
		case (key == "Requires" || key == "After") && strings.Contains(val, units.Socket):
			if u.socket != "" {
				fmt.Fprintf(&out, "%s=%s\n", key, strings.ReplaceAll(val, units.Socket, u.socket))
			}
			continue
		}
		out.WriteString(line + "\n")
	}
	flush()
	return out.Bytes()
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// copyDropIns copies the drop-ins of unit from (UNIT.d/*.conf) to unit to.
func (e *Env) copyDropIns(from, to string) error {
	src := filepath.Join(e.UnitDir, from+".d")
	files, _ := filepath.Glob(filepath.Join(src, "*.conf"))
	if len(files) == 0 {
		return nil
	}
	dst := filepath.Join(e.UnitDir, to+".d")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// gatewayService is the rendered hermes-gateway.service for bin/.
func (e *Env) gatewayService() ([]byte, error) {
	return units.Render(units.Service, units.Params{Gateway: e.Gateway, Hermes: e.Hermes})
}
