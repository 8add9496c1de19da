// Package instance is the identity of one gateway among several on one
// machine: its name, and what the name decides (unit names, config
// directory, state directory, control socket). The default instance keeps
// the names and paths hermes had before instances existed, so an existing
// install needs no migration; a named instance ("team") runs as the
// template units hermes-gateway@team.service and friends, with every path
// one directory deeper:
//
//	                 default                          team
//	service          hermes-gateway.service           hermes-gateway@team.service
//	config           $XDG_CONFIG_HOME/hermes/         $XDG_CONFIG_HOME/hermes/team/
//	state            $XDG_STATE_HOME/hermes/          $XDG_STATE_HOME/hermes/team/
//	control socket   $XDG_RUNTIME_DIR/hermes/         $XDG_RUNTIME_DIR/hermes/team/
//
// The CLI's --instance flag and the template units both set $HERMES_INSTANCE,
// which is how every process (the CLI, the gateway, the failure alert) finds
// out which instance it serves.
package instance

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/hermes-gateway/hermes/units"
)

// Env is the environment variable that names the instance.
const Env = "HERMES_INSTANCE"

// DefaultName is how the default instance is shown and may be addressed
// (`--instance default` is the same as no flag).
const DefaultName = "default"

// MaxLen bounds a name: the control socket's path
// ($XDG_RUNTIME_DIR/hermes/NAME/gateway.sock) must fit the 108 bytes of a
// unix socket address.
const MaxLen = 32

// Name is a validated instance name; "" is the default instance.
type Name string

// Rules says which names are allowed and why, for error messages and help.
const Rules = "an instance name is 1 to 32 characters of a-z, 0-9, '-' and '_', starting with a letter or digit " +
	"(it becomes part of unit names, directory names and the control socket's path, so it must need no escaping and stay short)"

// Parse validates s. "" and "default" are the default instance.
func Parse(s string) (Name, error) {
	if s == "" || s == DefaultName {
		return "", nil
	}
	if len(s) > MaxLen {
		return "", fmt.Errorf("instance name %q is %d characters long: %s", s, len(s), Rules)
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '_') && i > 0:
		case r >= 'A' && r <= 'Z':
			return "", fmt.Errorf("instance name %q has an upper-case letter: %s; try %q", s, Rules, lower(s))
		default:
			return "", fmt.Errorf("instance name %q has %q at position %d: %s", s, r, i+1, Rules)
		}
	}
	return Name(s), nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Current is the instance named by $HERMES_INSTANCE.
func Current() (Name, error) {
	n, err := Parse(os.Getenv(Env))
	if err != nil {
		return "", fmt.Errorf("$%s: %w", Env, err)
	}
	return n, nil
}

// CurrentOrDefault is Current, with an invalid $HERMES_INSTANCE read as the
// default instance. For path helpers that cannot return an error: every
// entry point (the CLI's flag, the gateway's start) calls Current first and
// refuses a bad name, so this fallback is never what a user runs with.
func CurrentOrDefault() Name {
	n, _ := Current()
	return n
}

// IsDefault reports whether n is the default instance.
func (n Name) IsDefault() bool { return n == "" }

// String is the name as shown to people ("default" for the default).
func (n Name) String() string {
	if n == "" {
		return DefaultName
	}
	return string(n)
}

// Unit is the name under which instance n runs the per-instance unit base
// (units.Service, units.Socket, ...); shared units are returned unchanged.
func (n Name) Unit(base string) string {
	if n == "" || !units.PerInstance(base) {
		return base
	}
	return units.InstanceName(base, string(n))
}

// Service is the instance's gateway service.
func (n Name) Service() string { return n.Unit(units.Service) }

// Socket is the instance's control socket unit.
func (n Name) Socket() string { return n.Unit(units.Socket) }

// WebhookSocket is the instance's webhook socket unit.
func (n Name) WebhookSocket() string { return n.Unit(units.WebhookSocket) }

// FailedService is the instance's failure alert.
func (n Name) FailedService() string { return n.Unit(units.FailedService) }

// Flag is how to address the instance on the command line: "" for the
// default, "--instance NAME " otherwise (ready to paste into a hint).
func (n Name) Flag() string {
	if n == "" {
		return ""
	}
	return "--instance " + string(n) + " "
}

// Hermes is the command line that runs hermes sub for the current
// instance ("hermes setup telegram", "hermes --instance team setup
// telegram"): every hint a gateway or the CLI prints goes through it, or a
// named instance's admin would be told to fix the default instance.
func Hermes(sub string) string { return "hermes " + CurrentOrDefault().Flag() + sub }

// sub appends the instance's directory to a hermes root directory.
func (n Name) sub(root string) string {
	if n == "" {
		return root
	}
	return filepath.Join(root, string(n))
}

// ConfigRoot is $XDG_CONFIG_HOME/hermes: the default instance's config
// directory and the parent of every named one's.
func ConfigRoot() string { return filepath.Join(XDGDir("XDG_CONFIG_HOME", ".config"), "hermes") }

// StateRoot is $XDG_STATE_HOME/hermes, likewise.
func StateRoot() string {
	return filepath.Join(XDGDir("XDG_STATE_HOME", filepath.Join(".local", "state")), "hermes")
}

// RuntimeRoot is $XDG_RUNTIME_DIR/hermes (/run/user/UID/hermes when unset,
// what logind would have set), likewise.
func RuntimeRoot() string {
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if !filepath.IsAbs(rt) {
		rt = filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	}
	return filepath.Join(rt, "hermes")
}

// ConfigDir is the directory of the instance's config.toml.
func (n Name) ConfigDir() string { return n.sub(ConfigRoot()) }

// ConfigPath is the instance's config file.
func (n Name) ConfigPath() string { return filepath.Join(n.ConfigDir(), "config.toml") }

// StateDir is the instance's state directory (unless its config sets
// gateway.state_dir).
func (n Name) StateDir() string { return n.sub(StateRoot()) }

// ControlSocket is where the instance's socket unit listens.
func (n Name) ControlSocket() string { return filepath.Join(n.sub(RuntimeRoot()), "gateway.sock") }

// XDGDir returns $env when it holds an absolute path (the XDG spec says
// relative values are to be ignored), else $HOME/fallback.
func XDGDir(env, fallback string) string {
	if d := os.Getenv(env); filepath.IsAbs(d) {
		return d
	}
	return filepath.Join(HomeDir(), fallback)
}

// HomeDir is $HOME, or the passwd entry's home when HOME is unset (as in
// some minimal service environments), or "/" as a last resort so that the
// result stays an absolute path.
func HomeDir() string {
	if h := os.Getenv("HOME"); h != "" {
		return h
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return "/"
}
