package install

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/units"
)

// UninstallOptions describe one uninstall.
type UninstallOptions struct {
	UnitDir    string
	Purge      bool
	Config     *config.Config
	ConfigPath string
	Out        io.Writer
}

// Uninstall stops and disables the units, removes their files and reloads
// the manager. Config and state stay unless Purge.
func Uninstall(ctx context.Context, sd Systemd, o UninstallOptions) error {
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
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	inst := instance.CurrentOrDefault()
	names := units.Names()
	// What to remove: every file for the default instance; for a named one
	// only its own (its webhook socket, its drop-in): the templates and the
	// update units serve the other instances too.
	files := names
	named := 0
	for _, n := range instance.List(o.UnitDir) {
		if !n.IsDefault() {
			named++
		}
	}
	if inst.IsDefault() && named > 0 {
		// The update units serve the named instances too.
		names, files = nil, nil
		for _, n := range units.Names() {
			if units.PerInstance(n) {
				names = append(names, n)
			}
		}
		files = names
		say("%d named instance(s) remain: %s and %s stay for them", named, units.UpdateService, units.UpdateTimer)
	}
	if !inst.IsDefault() {
		names = []string{inst.Service(), inst.Socket(), inst.WebhookSocket(), inst.FailedService()}
		files = []string{inst.WebhookSocket(), dropInName(inst)}
	}
	// The service first, so its drain runs while the sockets still queue.
	order := append([]string{inst.Service()}, names...)
	seen := map[string]bool{}
	for _, n := range order {
		if seen[n] {
			continue
		}
		seen[n] = true
		st, err := sd.Unit(ctx, n)
		if err != nil {
			return err
		}
		if st.LoadState == "not-found" && st.ActiveState == "inactive" {
			continue
		}
		if st.ActiveState != "inactive" && st.ActiveState != "failed" {
			say("→ stop %s", n)
			if _, err := sd.Stop(ctx, n); err != nil {
				return err
			}
		}
		if st.UnitFileState == "enabled" {
			say("→ disable %s", n)
			if err := sd.Disable(ctx, n); err != nil {
				return err
			}
		}
		_ = sd.ResetFailed(ctx, n) // nothing to reset is not an error worth showing
	}
	removed := 0
	for _, n := range files {
		p := filepath.Join(o.UnitDir, n)
		if err := os.Remove(p); err == nil {
			say("- %s removed", p)
			removed++
		} else if !os.IsNotExist(err) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	say("→ daemon-reload")
	if err := sd.Reload(ctx); err != nil {
		return err
	}
	if o.Purge {
		cfgPath := o.ConfigPath
		if cfgPath == "" {
			cfgPath = config.DefaultPath()
		}
		// The default instance's directories hold the named instances'
		// (NAME/): purge the default's own files, never theirs.
		others := map[string]bool{}
		if inst.IsDefault() {
			for _, n := range instance.List(o.UnitDir) {
				if !n.IsDefault() {
					others[string(n)] = true
				}
			}
		}
		for _, dir := range []string{filepath.Dir(cfgPath), o.Config.StateDir()} {
			if err := purge(dir, others); err != nil {
				return fmt.Errorf("purge %s: %w", dir, err)
			}
			if len(others) > 0 {
				say("- %s purged, except the other instances' directories in it", dir)
			} else {
				say("- %s purged", dir)
			}
		}
	} else {
		say("Config (%s) and state (%s) kept; `hermes %suninstall-unit --purge` deletes them.", filepath.Dir(orDefault(o.ConfigPath)), o.Config.StateDir(), inst.Flag())
	}
	if !inst.IsDefault() {
		say("The template units (%s, %s, %s) stay in %s for the other instances.", units.TemplateName(units.Service), units.TemplateName(units.Socket), units.TemplateName(units.FailedService), o.UnitDir)
	}
	say("✓ uninstalled (%d unit files removed)", removed)
	return nil
}

func orDefault(p string) string {
	if p == "" {
		return config.DefaultPath()
	}
	return p
}

// purge removes dir, or, when keep names subdirectories (other instances),
// everything in dir but those.
func purge(dir string, keep map[string]bool) error {
	if len(keep) == 0 {
		return os.RemoveAll(dir)
	}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() && keep[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
