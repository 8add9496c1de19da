package config

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// DefaultPath is where the configuration file lives unless told otherwise:
// $XDG_CONFIG_HOME/hermes/config.toml, XDG_CONFIG_HOME defaulting to
// $HOME/.config.
func DefaultPath() string {
	return filepath.Join(xdgDir("XDG_CONFIG_HOME", ".config"), "hermes", "config.toml")
}

// StateDir is the directory holding gateway.db:
//
//  1. gateway.state_dir when set;
//  2. $XDG_STATE_HOME/hermes;
//  3. $HOME/.local/state/hermes.
//
// $STATE_DIRECTORY is deliberately not used: for user units, systemd before
// v254 points StateDirectory= at $XDG_CONFIG_HOME, so the daemon under
// systemd and a gateway run by hand would open different stores, and the
// store lock would no longer keep a second gateway out.
func (c *Config) StateDir() string {
	if c.Gateway.StateDir != "" {
		return c.Gateway.StateDir
	}
	return filepath.Join(xdgDir("XDG_STATE_HOME", filepath.Join(".local", "state")), "hermes")
}

// ControlSocket is the control socket's path for a gateway that was not
// socket-activated (with socket activation the unit's .socket decides):
// gateway.control_socket when set, else $XDG_RUNTIME_DIR/hermes/gateway.sock,
// else /run/user/UID/hermes/gateway.sock (what logind would have set).
func (c *Config) ControlSocket() string {
	if c.Gateway.ControlSocket != "" {
		return c.Gateway.ControlSocket
	}
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if !filepath.IsAbs(rt) {
		rt = filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	}
	return filepath.Join(rt, "hermes", "gateway.sock")
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

// xdgDir returns $env when it holds an absolute path (the XDG spec says
// relative values are to be ignored), else $HOME/fallback.
func xdgDir(env, fallback string) string {
	if d := os.Getenv(env); filepath.IsAbs(d) {
		return d
	}
	return filepath.Join(homeDir(), fallback)
}

// homeDir is $HOME, or the passwd entry's home when HOME is unset (as in
// some minimal service environments), or "/" as a last resort so that the
// result stays an absolute path.
func homeDir() string {
	if h := os.Getenv("HOME"); h != "" {
		return h
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return "/"
}
