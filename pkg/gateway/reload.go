package gateway

import (
	"reflect"
	"slices"
	"strings"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/events"
	"github.com/hermes-gateway/hermes/pkg/instance"
)

// LiveKeys are the config keys a SIGHUP applies to the running process:
// how long a drain may take, and who may talk to the bot.
// gateway.keep_versions is here too: only `hermes update` reads it, each
// time it runs. Every other key shapes something built once at start (the
// sockets, the store, the platforms, the agent) and needs a restart; the
// README's SIGHUP section lists them (a test compares).
var LiveKeys = []string{"gateway.drain_timeout", "gateway.keep_versions", "telegram.admins", "telegram.users", "telegram.groups"}

// RestartKeys lists every config key a SIGHUP does not apply, in the
// config file's order.
func RestartKeys() []string {
	var out []string
	for _, k := range leafKeys(reflect.TypeFor[config.Config](), "") {
		if !slices.Contains(LiveKeys, k) {
			out = append(out, k)
		}
	}
	return out
}

// changedRestartKeys names the keys that differ between a and b and need a
// restart to take effect.
func changedRestartKeys(a, b *config.Config) []string {
	va, vb := leafValues(reflect.ValueOf(*a), ""), leafValues(reflect.ValueOf(*b), "")
	var out []string
	for _, k := range RestartKeys() {
		if !reflect.DeepEqual(va[k], vb[k]) {
			out = append(out, k)
		}
	}
	return out
}

// applyLive returns the running config with only the live keys taken from
// next: what needs a restart keeps its running value, so that /v1/status
// and the drain describe the process as it is.
func applyLive(running, next *config.Config) *config.Config {
	c := *running
	c.Gateway.DrainTimeout = next.Gateway.DrainTimeout
	c.Gateway.KeepVersions = next.Gateway.KeepVersions
	c.Telegram.Admins = next.Telegram.Admins
	c.Telegram.Users = next.Telegram.Users
	c.Telegram.Groups = next.Telegram.Groups
	return &c
}

// leafKeys lists the dotted keys of t's toml fields that are not tables.
func leafKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, ok := tomlKey(f, prefix)
		if !ok {
			continue
		}
		if isTable(f.Type) {
			out = append(out, leafKeys(f.Type, key)...)
			continue
		}
		out = append(out, key)
	}
	return out
}

func leafValues(v reflect.Value, prefix string) map[string]any {
	out := map[string]any{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, ok := tomlKey(f, prefix)
		if !ok {
			continue
		}
		if isTable(f.Type) {
			for k, x := range leafValues(v.Field(i), key) {
				out[k] = x
			}
			continue
		}
		out[key] = v.Field(i).Interface()
	}
	return out
}

func tomlKey(f reflect.StructField, prefix string) (string, bool) {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if !f.IsExported() || name == "" || name == "-" {
		return "", false
	}
	if prefix != "" {
		name = prefix + "." + name
	}
	return name, true
}

func isTable(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != reflect.TypeFor[config.Duration]()
}

// reload re-reads the config on SIGHUP. A bad file is reported and the
// running config kept; the live keys apply at once, and the keys that
// need a restart are named (and keep their running value until then).
func (g *Gateway) reload() {
	if err := g.notify.Reloading(); err != nil {
		g.log.Warn("sd_notify RELOADING failed; systemd may not know a reload is in progress", "err", err)
	}
	defer func() {
		if err := g.notify.Ready(); err != nil {
			g.log.Warn("sd_notify READY after the reload failed; `systemctl --user reload` may wait for its timeout", "err", err)
		}
		g.updateStatus()
	}()
	cfg, err := config.Load(g.cfgPath)
	if err != nil {
		g.log.Error("reload: config rejected, keeping the running one", events.Reload.With("err", err)...)
		return
	}
	old := g.config()
	if changed := changedRestartKeys(old, cfg); len(changed) > 0 {
		g.log.Warn("reload: "+strings.Join(changed, ", ")+" changed: they apply only at start; run `"+instance.Hermes("gateway restart")+"` for them",
			events.Reload.With("restart_needed", strings.Join(changed, ","))...)
	}
	g.mu.Lock()
	g.cfg = applyLive(old, cfg)
	g.mu.Unlock()
	g.auth.Update(g.access(cfg))
	g.log.Info("reload: config applied", events.Reload.With("config", g.cfgPath)...)
}
