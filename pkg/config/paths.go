package config

import (
	"path/filepath"

	"github.com/hermes-gateway/hermes/pkg/instance"
)

// DefaultPath is where the configuration file lives unless told otherwise:
// $XDG_CONFIG_HOME/hermes/config.toml, XDG_CONFIG_HOME defaulting to
// $HOME/.config; for a named instance ($HERMES_INSTANCE, see pkg/instance)
// $XDG_CONFIG_HOME/hermes/NAME/config.toml.
func DefaultPath() string { return instance.CurrentOrDefault().ConfigPath() }

// StateDir is the directory holding gateway.db:
//
//  1. gateway.state_dir when set;
//  2. $XDG_STATE_HOME/hermes (…/hermes/NAME for a named instance);
//  3. $HOME/.local/state/hermes (likewise).
//
// $STATE_DIRECTORY is deliberately not used: for user units, systemd before
// v254 points StateDirectory= at $XDG_CONFIG_HOME, so the daemon under
// systemd and a gateway run by hand would open different stores, and the
// store lock would no longer keep a second gateway out.
func (c *Config) StateDir() string {
	if c.Gateway.StateDir != "" {
		return c.Gateway.StateDir
	}
	return instance.CurrentOrDefault().StateDir()
}

// ControlSocket is the control socket's path for a gateway that was not
// socket-activated (with socket activation the unit's .socket decides):
// gateway.control_socket when set, else $XDG_RUNTIME_DIR/hermes/gateway.sock,
// else /run/user/UID/hermes/gateway.sock (what logind would have set); for a
// named instance …/hermes/NAME/gateway.sock.
func (c *Config) ControlSocket() string {
	if c.Gateway.ControlSocket != "" {
		return c.Gateway.ControlSocket
	}
	return instance.CurrentOrDefault().ControlSocket()
}

// ResolvePath makes a path from the config file (token_file, secret_file,
// tls_cert, ...) usable: absolute paths and "" are returned unchanged,
// relative ones are taken relative to the config file's directory, or to
// DefaultPath's directory when the embedded defaults serve. Relative to the
// file rather than the working directory because the daemon's working
// directory is whatever systemd gives it.
func (c *Config) ResolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	src := c.Source
	if src == "" {
		src = DefaultPath()
	}
	dir := filepath.Dir(src)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return filepath.Join(dir, p)
}
