package instance

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hermes-gateway/hermes/units"
)

// List finds every instance on this machine: the default one (always: it
// needs nothing to exist), and each named one that has a config
// ($XDG_CONFIG_HOME/hermes/NAME/config.toml) or an enabled socket in
// unitDir (sockets.target.wants/hermes-gateway@NAME.socket). Directories
// and units whose names are not valid instance names are not instances
// (the default config directory may hold other things).
func List(unitDir string) []Name {
	seen := map[Name]bool{"": true}
	if entries, err := os.ReadDir(ConfigRoot()); err == nil {
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			n, err := Parse(e.Name())
			if err != nil || n.IsDefault() {
				continue
			}
			if _, err := os.Stat(n.ConfigPath()); err == nil {
				seen[n] = true
			}
		}
	}
	prefix, suffix := splitTemplate(units.Socket)
	if entries, err := os.ReadDir(filepath.Join(unitDir, "sockets.target.wants")); err == nil {
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), prefix)
			if !ok {
				continue
			}
			name, ok = strings.CutSuffix(name, suffix)
			if !ok {
				continue
			}
			if n, err := Parse(name); err == nil && !n.IsDefault() {
				seen[n] = true
			}
		}
	}
	out := make([]Name, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	// The default first, then by name.
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// splitTemplate cuts a template unit name around its instance:
// hermes-gateway.socket -> "hermes-gateway@", ".socket".
func splitTemplate(base string) (prefix, suffix string) {
	t := units.TemplateName(base)
	i := strings.IndexByte(t, '@')
	return t[:i+1], t[i+1:]
}
