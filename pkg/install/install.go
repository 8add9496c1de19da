package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/units"
)

// Systemd is what install needs of the user manager (pkg/systemd.Manager).
type Systemd interface {
	Reload(ctx context.Context) error
	Enable(ctx context.Context, files ...string) error
	Disable(ctx context.Context, names ...string) error
	Start(ctx context.Context, unit string) (systemd.JobResult, error)
	Stop(ctx context.Context, unit string) (systemd.JobResult, error)
	ResetFailed(ctx context.Context, unit string) error
	Unit(ctx context.Context, name string) (systemd.UnitState, error)
}

// Options describe one install.
type Options struct {
	Params  units.Params
	UnitDir string // "" = DefaultUnitDir()
	Config  *config.Config
	NoStart bool
	Force   bool
	DryRun  bool
	Out     io.Writer
	// Linger enables lingering; nil runs loginctl.
	Linger func(ctx context.Context) (string, error)
	// AutoUpdate turns the update timer on ("daily", "weekly", or any
	// OnCalendar= expression) or off ("off"); "" leaves it as it is.
	AutoUpdate string
	// Sandbox is units.SandboxFull, units.SandboxMinimal, or "" (auto):
	// keep what is installed, else full, falling back to minimal when the
	// first start shows that this system cannot build the full sandbox.
	Sandbox string
	// ManagerLines returns the journal lines of one run (an invocation id)
	// of unit, the manager's own among them: a unit that failed to start
	// has no others; nil reads the user journal.
	ManagerLines func(ctx context.Context, unit, invocation string) []string
}

// SandboxAuto is Options.Sandbox's "decide for me", as the CLI spells it.
const SandboxAuto = "auto"

// InstalledParams reads back the per-install values of the units in unitDir,
// so that a check or a re-install compares like with like. It reads the
// units of the instance named by $HERMES_INSTANCE (pkg/instance): the
// default instance's own, or the template units of named ones.
func InstalledParams(unitDir string) units.Params {
	var p units.Params
	read := func(name, section, key string) string {
		b, err := os.ReadFile(filepath.Join(unitDir, fileFor(name)))
		if err != nil {
			return ""
		}
		return units.Directive(b, section, key)
	}
	p.Gateway = read(units.Service, "Service", "ExecStart")
	if f := strings.Fields(read(units.UpdateService, "Service", "ExecStart")); len(f) > 0 {
		p.Hermes = f[0]
	}
	p.AutoUpdate = read(units.UpdateTimer, "Timer", "OnCalendar")
	p.WebhookListen = read(units.WebhookSocket, "Socket", "ListenStream")
	p.Sandbox = read(units.Service, "Service", "X-Hermes-Sandbox")
	return p
}

// fileFor is the file under which the current instance installs the
// embedded unit name: the name itself for the default instance and for the
// shared update units; for a named instance the template
// (hermes-gateway@.service), except the webhook socket, whose address is
// the instance's own (hermes-gateway-webhook@team.socket: systemd prefers
// a file for one instance over the template).
func fileFor(name string) string {
	inst := instance.CurrentOrDefault()
	switch {
	case inst.IsDefault() || !units.PerInstance(name):
		return name
	case name == units.WebhookSocket:
		return inst.WebhookSocket()
	default:
		return units.TemplateName(name)
	}
}

// dropInName is the drop-in of a named instance (dropIn).
func dropInName(inst instance.Name) string { return inst.Service() + ".d/hermes-instance.conf" }

// dropIn is the drop-in a named instance gets where its config asks for
// more than the shared template allows (an exec agent, a state_dir of its
// own); nil when it needs none.
func dropIn(p units.Params, cfg *config.Config) []byte {
	inst := instance.CurrentOrDefault()
	if inst.IsDefault() || cfg == nil {
		return nil
	}
	var b strings.Builder
	b.WriteString("# " + inst.Service() + ": what this instance's config needs beyond the\n# template " + units.TemplateName(units.Service) + " (see the comments there).\n[Service]\n")
	need := false
	if cfg.Agent.Backend == config.BackendExec {
		b.WriteString("# agent.backend = \"exec\": the agent may be a JIT runtime.\nMemoryDenyWriteExecute=no\n")
		need = true
	}
	if dir := cfg.StateDir(); dir != inst.StateDir() && p.Sandbox != units.SandboxMinimal {
		b.WriteString("# gateway.state_dir is not the instance's default.\nReadWritePaths=-" + dir + "\n")
		need = true
	}
	if !need {
		return nil
	}
	return []byte(b.String())
}

// DefaultUnitDir is $XDG_CONFIG_HOME/systemd/user.
func DefaultUnitDir() string {
	base := os.Getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(base) {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".config")
	}
	return filepath.Join(base, "systemd", "user")
}

// Wanted lists the units this config needs installed.
func Wanted(cfg *config.Config) []string {
	var names []string
	for _, n := range units.Names() {
		if n == units.WebhookSocket && (cfg == nil || cfg.Telegram.Mode != config.ModeWebhook) {
			continue
		}
		names = append(names, n)
	}
	return names
}

// Check compares the installed unit files with the ones install would write.
func Check(p units.Params, unitDir string, cfg *config.Config) ([]File, error) {
	if unitDir == "" {
		unitDir = DefaultUnitDir()
	}
	if cfg != nil {
		if p.WebhookListen == "" {
			p.WebhookListen = cfg.Telegram.Webhook.Listen
		}
		// What the config decides, the config decides: a changed state_dir
		// or agent backend makes the installed units outdated.
		p.StateDir = cfg.StateDir()
		p.ExecAgent = cfg.Agent.Backend == config.BackendExec
	}
	named := !instance.CurrentOrDefault().IsDefault()
	var files []File
	for _, name := range Wanted(cfg) {
		q := p
		if named && units.PerInstance(name) {
			// The template serves every named instance: what differs per
			// instance goes into its drop-in (dropIn), not here.
			q.Template, q.ExecAgent, q.StateDir = true, false, filepath.Join(instance.StateRoot(), "%i")
		}
		body, err := units.Render(name, q)
		if err != nil {
			return nil, err
		}
		file := fileFor(name)
		f, err := compare(file, filepath.Join(unitDir, file), body)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if body := dropIn(p, cfg); body != nil {
		name := dropInName(instance.CurrentOrDefault())
		f, err := compare(name, filepath.Join(unitDir, name), body)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// Result says what an install did.
type Result struct {
	Files   []File   `json:"files"`
	Actions []string `json:"actions"`
	Linger  string   `json:"linger"`
	// UpToDate is true when nothing had to change.
	UpToDate bool `json:"up_to_date"`
	// Sandbox is the sandbox level the units were installed with.
	Sandbox string `json:"sandbox"`
}

// Install writes the units, reloads the manager, enables and starts the
// socket (and the service unless NoStart), and enables lingering. It is
// idempotent: a second run changes and restarts nothing.
func Install(ctx context.Context, sd Systemd, o Options) (*Result, error) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	if o.UnitDir == "" {
		o.UnitDir = DefaultUnitDir()
	}
	if o.Config == nil {
		o.Config = config.Default()
	}
	if drain, stop := o.Config.Gateway.DrainTimeout.Duration, units.TimeoutStop(); drain >= stop {
		return nil, fmt.Errorf("gateway.drain_timeout (%s) must stay below the unit's TimeoutStopSec (%s), or systemd kills a drain midway; lower it in %s", drain, stop, o.Config.Source)
	}
	have := InstalledParams(o.UnitDir)
	autoSandbox := o.Sandbox == "" || o.Sandbox == SandboxAuto
	switch {
	case !autoSandbox:
		o.Params.Sandbox = o.Sandbox
	case have.Sandbox != "":
		o.Params.Sandbox = have.Sandbox
	default:
		o.Params.Sandbox = units.SandboxFull
	}
	if o.AutoUpdate != "" && o.AutoUpdate != "off" {
		o.Params.AutoUpdate = o.AutoUpdate
	} else if o.Params.AutoUpdate == "" {
		o.Params.AutoUpdate = have.AutoUpdate
	}
	files, err := Check(o.Params, o.UnitDir, o.Config)
	if err != nil {
		return nil, err
	}
	res := &Result{Files: files, Sandbox: o.Params.Sandbox}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	act := func(a string) { res.Actions = append(res.Actions, a) }
	prefix := ""
	if o.DryRun {
		prefix = "would "
	}

	wrote := false
	var kept []string
	for _, f := range files {
		switch f.State {
		case Current:
			say("= %s: up to date", f.Name)
			continue
		case Modified:
			if !o.Force {
				say("! %s: changed by hand since install-unit wrote it; left alone (rerun with --force to replace it):\n%s", f.Name, indent(f.Diff))
				kept = append(kept, f.Name)
				continue
			}
			say("! %s: changed by hand; --force replaces it:\n%s", f.Name, indent(f.Diff))
		case Outdated:
			say("~ %s: refreshing from this version of hermes:\n%s", f.Name, indent(f.Diff))
		case Missing:
			say("+ %s: %swrite %s", f.Name, prefix, f.Path)
		}
		if o.DryRun {
			if f.State == Missing {
				say("%s", indent(string(f.want)))
			}
		} else if err := WriteAtomic(f.Path, f.want, 0o644); err != nil {
			return res, fmt.Errorf("write %s: %w; check that %s is writable", f.Path, err, o.UnitDir)
		}
		act("write " + f.Path)
		wrote = true
	}

	// The hardened service may write only its state directory, which must
	// exist before it starts.
	if dir := o.Config.StateDir(); !o.DryRun {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return res, fmt.Errorf("create the state directory %s: %w", dir, err)
		}
	}

	inst := instance.CurrentOrDefault()
	if !inst.IsDefault() && dropIn(o.Params, o.Config) == nil && !o.DryRun {
		// A drop-in an earlier config needed, which this one does not.
		stale := filepath.Join(o.UnitDir, dropInName(inst))
		if err := os.Remove(stale); err == nil {
			say("- %s removed (the config no longer needs it)", stale)
			act("remove " + stale)
			wrote = true
		}
	}
	if wrote {
		say("→ %sdaemon-reload", prefix)
		act("daemon-reload")
		if !o.DryRun {
			if err := sd.Reload(ctx); err != nil {
				return res, err
			}
		}
	}

	// Enable and start only what is not already so: a second install must
	// restart nothing.
	toEnable := []string{inst.Socket()}
	if containsName(Wanted(o.Config), units.WebhookSocket) {
		toEnable = append(toEnable, inst.WebhookSocket())
	}
	toStart := append([]string(nil), toEnable...)
	switch o.AutoUpdate {
	case "":
	case "off":
		if st, err := sd.Unit(ctx, units.UpdateTimer); err == nil && st.UnitFileState == "enabled" {
			say("→ %sdisable %s", prefix, units.UpdateTimer)
			act("disable " + units.UpdateTimer)
			if !o.DryRun {
				if _, err := sd.Stop(ctx, units.UpdateTimer); err != nil {
					return res, err
				}
				if err := sd.Disable(ctx, units.UpdateTimer); err != nil {
					return res, err
				}
			}
		}
	default:
		toEnable = append(toEnable, units.UpdateTimer)
		toStart = append(toStart, units.UpdateTimer)
	}
	if !o.NoStart {
		toStart = append(toStart, inst.Service())
	}
	for _, name := range toEnable {
		st, err := sd.Unit(ctx, name)
		if err != nil {
			return res, err
		}
		if st.UnitFileState == "enabled" {
			continue
		}
		say("→ %senable %s", prefix, name)
		act("enable " + name)
		if !o.DryRun {
			if err := sd.Enable(ctx, name); err != nil {
				return res, err
			}
		}
	}
	for _, name := range toStart {
		st, err := sd.Unit(ctx, name)
		if err != nil {
			return res, err
		}
		if st.ActiveState == "active" || st.ActiveState == "reloading" {
			continue
		}
		say("→ %sstart %s", prefix, name)
		act("start " + name)
		if o.DryRun {
			continue
		}
		if systemd.StartLimitHit(st) || (name == inst.Service() && st.ActiveState == "failed") {
			if err := sd.ResetFailed(ctx, name); err != nil {
				return res, err
			}
		}
		if name == inst.Service() {
			if err := startChecked(ctx, sd, &o, res, say, autoSandbox); err != nil {
				return res, err
			}
			continue
		}
		if _, err := sd.Start(ctx, name); err != nil {
			return res, fmt.Errorf("%w; see `hermes gateway logs --invocation current`", err)
		}
	}

	if o.DryRun {
		say("→ would enable lingering (loginctl enable-linger)")
	} else {
		res.Linger = enableLinger(ctx, o.Linger)
		say("%s", res.Linger)
	}

	res.UpToDate = !wrote && len(res.Actions) == 0
	switch {
	case len(kept) > 0:
		say("Installed, except %s (changed by hand; see the diff above).", strings.Join(kept, ", "))
	case res.UpToDate:
		say("✓ up to date: nothing changed, nothing restarted")
	case o.DryRun:
		say("Dry run: nothing was written or started.")
	default:
		say("✓ installed in %s", o.UnitDir)
	}
	return res, nil
}

func containsName(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// enableLinger makes the user manager outlive the login session, so the
// gateway survives logout and starts at boot. Where it cannot, it says why
// and what to run; the install goes on either way.
func enableLinger(ctx context.Context, linger func(context.Context) (string, error)) string {
	if linger == nil {
		linger = loginctlLinger
	}
	msg, err := linger(ctx)
	if err != nil {
		name := "$USER"
		if u, uerr := user.Current(); uerr == nil {
			name = u.Username
		}
		return fmt.Sprintf("! linger: not enabled (%v): the gateway stops when you log out and does not start at boot; fix: `sudo loginctl enable-linger %s`", err, name)
	}
	return msg
}

func loginctlLinger(ctx context.Context) (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, "loginctl", "show-user", u.Username, "--property=Linger", "--value").Output(); err == nil && strings.TrimSpace(string(out)) == "yes" {
		return "= linger: already enabled", nil
	}
	out, err := exec.CommandContext(ctx, "loginctl", "enable-linger", u.Username).CombinedOutput()
	if err != nil {
		why := strings.TrimSpace(string(out))
		if why == "" {
			why = err.Error()
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			why = "loginctl not found"
		}
		return "", errors.New(why)
	}
	return "✓ linger: enabled (the gateway survives logout and starts at boot)", nil
}
