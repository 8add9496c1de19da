// Package units holds the systemd unit files of the gateway and renders them
// for one install. The files beside this one are the source of truth; they
// are templated only where a value differs per install (the binary paths)
// and where the default instance's units differ from the template units of
// named instances (hermes-gateway@.service and friends): both are rendered
// from the same file, so each directive and its comment live in one place.
package units

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"text/template"
	"time"
)

//go:embed *.service *.socket *.timer
var files embed.FS

// Unit names.
const (
	Service       = "hermes-gateway.service"
	Socket        = "hermes-gateway.socket"
	WebhookSocket = "hermes-gateway-webhook.socket"
	UpdateService = "hermes-update.service"
	FailedService = "hermes-gateway-failed.service"
	UpdateTimer   = "hermes-update.timer"
)

// Gateway lists the units that exist once per instance: the default
// instance installs them under these names, named instances through their
// template (TemplateName). The update units are shared: one installed
// version serves every instance.
var Gateway = []string{Service, Socket, WebhookSocket, FailedService}

// PerInstance reports whether name is one of Gateway.
func PerInstance(name string) bool {
	for _, g := range Gateway {
		if g == name {
			return true
		}
	}
	return false
}

// TemplateName is the template unit of a per-instance unit:
// hermes-gateway.service -> hermes-gateway@.service.
func TemplateName(name string) string { return InstanceName(name, "") }

// InstanceName is name as instance inst runs it ("" gives the template):
// hermes-gateway.service, "team" -> hermes-gateway@team.service. inst must
// be a valid instance name (pkg/instance), which needs no escaping in a
// unit name.
func InstanceName(name, inst string) string {
	i := strings.LastIndexByte(name, '.')
	return name[:i] + "@" + inst + name[i:]
}

// Params are the per-install values of the templates.
type Params struct {
	// Gateway is the absolute path of the hermes-gateway binary.
	Gateway string
	// Hermes is the absolute path of the hermes CLI.
	Hermes string
	// WebhookListen is the webhook socket's address (host:port) in
	// Telegram webhook mode; default 127.0.0.1:8443.
	WebhookListen string
	// AutoUpdate is the update timer's OnCalendar= (daily, weekly);
	// default daily. The timer is enabled only when asked for.
	AutoUpdate string
	// StateDir is the one directory the gateway writes (ReadWritePaths=);
	// default ~/.local/state/hermes (%h/.local/state/hermes).
	StateDir string
	// ExecAgent loosens what an exec agent backend needs (JIT runtimes).
	ExecAgent bool
	// Sandbox is SandboxFull (the default) or SandboxMinimal: the
	// hardening without the directives that need namespaces, for a system
	// whose user manager cannot create them.
	Sandbox string
	// Template renders a per-instance unit as the template of named
	// instances (%i is the instance) instead of the default instance's unit.
	Template bool
}

// data is what the unit files see: Params plus the spelling of the
// instance in names (At: "" or "@%i"), paths (Sub: "" or "/%i") and the
// CLI (Flag: "" or "--instance %i ").
type data struct {
	Params
	At, Sub, Flag string
}

// Sandbox levels (Params.Sandbox).
const (
	SandboxFull    = "full"
	SandboxMinimal = "minimal"
)

// NamespaceDirectives are what SandboxMinimal leaves out of the services:
// everything that needs a user, mount or UTS namespace, or capabilities the
// user manager has only inside a user namespace.
var NamespaceDirectives = []string{
	"PrivateUsers", "ProtectSystem", "ProtectHome", "ReadWritePaths", "PrivateTmp", "PrivateDevices",
	"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
	"ProtectClock", "ProtectHostname", "CapabilityBoundingSet", "AmbientCapabilities",
}

func (p Params) validate() error {
	for name, v := range map[string]string{"Gateway": p.Gateway, "Hermes": p.Hermes} {
		if v != "" && !path.IsAbs(v) {
			return fmt.Errorf("units: %s path %q must be absolute (systemd resolves nothing against a working directory)", name, v)
		}
	}
	if p.Gateway == "" {
		return fmt.Errorf("units: the hermes-gateway path is required")
	}
	switch p.Sandbox {
	case "", SandboxFull, SandboxMinimal:
	default:
		return fmt.Errorf("units: sandbox %q: want %q or %q", p.Sandbox, SandboxFull, SandboxMinimal)
	}
	return nil
}

// Names lists the embedded units, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// Render returns one unit with p filled in.
func Render(name string, p Params) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	src, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("units: no embedded unit %q (have %s)", name, strings.Join(Names(), ", "))
	}
	if p.WebhookListen == "" {
		p.WebhookListen = "127.0.0.1:8443"
	}
	if p.AutoUpdate == "" {
		p.AutoUpdate = "daily"
	}
	if p.StateDir == "" {
		p.StateDir = "%h/.local/state/hermes"
		if p.Template {
			p.StateDir += "/%i"
		}
	}
	if p.Sandbox == "" {
		p.Sandbox = SandboxFull
	}
	if p.Hermes == "" {
		// The CLI sits next to the gateway in an installed version.
		p.Hermes = path.Join(path.Dir(p.Gateway), "hermes")
	}
	d := data{Params: p}
	if p.Template {
		if !PerInstance(name) {
			return nil, fmt.Errorf("units: %s is shared by every instance; it has no template", name)
		}
		d.At, d.Sub, d.Flag = "@%i", "/%i", "--instance %i "
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("units: parse %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("units: render %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// RenderAll renders every embedded unit.
func RenderAll(p Params) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, n := range Names() {
		b, err := Render(n, p)
		if err != nil {
			return nil, err
		}
		out[n] = b
	}
	return out, nil
}

// Directive returns the last value of key in section of a unit file (later
// assignments win in systemd), or "" when absent.
func Directive(unit []byte, section, key string) string {
	var cur, val string
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			cur = strings.Trim(line, "[]")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok && cur == section && strings.TrimSpace(k) == key {
			val = strings.TrimSpace(v)
		}
	}
	return val
}

// TimeoutStop is the service's TimeoutStopSec: the drain must end before it.
func TimeoutStop() time.Duration {
	b, _ := Render(Service, Params{Gateway: "/bin/true"})
	d, err := ParseTimespan(Directive(b, "Service", "TimeoutStopSec"))
	if err != nil {
		panic(fmt.Sprintf("units: the embedded %s has an unreadable TimeoutStopSec: %v", Service, err))
	}
	return d
}

// ParseTimespan reads a systemd time span ("30s", "100ms", "1min 30s", "5").
func ParseTimespan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty time span")
	}
	units := []struct {
		suffix string
		d      time.Duration
	}{
		{"usec", time.Microsecond}, {"us", time.Microsecond}, {"msec", time.Millisecond}, {"ms", time.Millisecond},
		{"seconds", time.Second}, {"second", time.Second}, {"sec", time.Second}, {"s", time.Second},
		{"minutes", time.Minute}, {"minute", time.Minute}, {"min", time.Minute}, {"m", time.Minute},
		{"hours", time.Hour}, {"hour", time.Hour}, {"hr", time.Hour}, {"h", time.Hour},
	}
	var total time.Duration
	rest := strings.ReplaceAll(s, " ", "")
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("bad time span %q", s)
		}
		var n float64
		if _, err := fmt.Sscanf(rest[:i], "%g", &n); err != nil {
			return 0, fmt.Errorf("bad time span %q: %w", s, err)
		}
		rest = rest[i:]
		unit := time.Second // a bare number is seconds
		matched := false
		for _, u := range units {
			if strings.HasPrefix(rest, u.suffix) {
				unit, rest, matched = u.d, rest[len(u.suffix):], true
				break
			}
		}
		if !matched && rest != "" && !(rest[0] >= '0' && rest[0] <= '9') {
			return 0, fmt.Errorf("bad time span %q: unknown unit at %q", s, rest)
		}
		total += time.Duration(n * float64(unit))
	}
	return total, nil
}
