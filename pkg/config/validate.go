package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Limits enforced by Validate.
const (
	MinPollTimeout = 1 * time.Second
	// MaxPollTimeout is Telegram's cap on getUpdates long polling.
	MaxPollTimeout = 50 * time.Second

	// maxSocketPath is sun_path's size (108) minus the terminating NUL.
	maxSocketPath = 107
)

// Validate checks every value and returns the first problem as an *Error, in
// file order. Requirements that depend on other keys (token_file when
// telegram is enabled, webhook settings in webhook mode, base_url for the
// openai backend) are checked only where they apply, so a disabled section
// may stay half filled in.
func (c *Config) Validate() error {
	for _, check := range []func() *Error{c.validateGateway, c.validateTelegram, c.validateWebhook, c.validateMatrix, c.validateAgent} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateGateway() *Error {
	g := &c.Gateway
	fixDrain := fmt.Sprintf("set gateway.drain_timeout = %q", Default().Gateway.DrainTimeout.String())
	if g.DrainTimeout.Duration <= 0 {
		return c.errf("gateway.drain_timeout", fixDrain, "drain_timeout must be more than 0, got %s", g.DrainTimeout)
	}
	if g.DrainTimeout.Duration >= MaxDrainTimeout {
		return c.errf("gateway.drain_timeout", fixDrain,
			"drain_timeout must be below %s (the unit's TimeoutStopSec is %s)", MaxDrainTimeout, unitStopTimeout)
	}
	if g.StateDir != "" && !filepath.IsAbs(g.StateDir) {
		return c.errf("gateway.state_dir",
			`give an absolute path such as "/home/you/.local/state/hermes", or remove the key to use ~/.local/state/hermes`,
			"must be an absolute path, got %q", g.StateDir)
	}
	if g.ControlSocket != "" {
		fix := "give an absolute path, or remove the key to use $XDG_RUNTIME_DIR/hermes/gateway.sock"
		if !filepath.IsAbs(g.ControlSocket) {
			return c.errf("gateway.control_socket", fix, "must be an absolute path, got %q", g.ControlSocket)
		}
		if len(g.ControlSocket) > maxSocketPath {
			return c.errf("gateway.control_socket", "choose a shorter path, or remove the key to use $XDG_RUNTIME_DIR/hermes/gateway.sock",
				"is %d bytes long but a unix socket path holds at most %d", len(g.ControlSocket), maxSocketPath)
		}
	}
	if g.KeepVersions < 1 || g.KeepVersions > 20 {
		return c.errf("gateway.keep_versions", "set gateway.keep_versions = 3", "must be between 1 and 20, got %d", g.KeepVersions)
	}
	return nil
}

func (c *Config) validateTelegram() *Error {
	t := &c.Telegram
	if t.Enabled && t.TokenFile == "" {
		return c.errf("telegram.token_file",
			`put the bot token in a file only you can read and set telegram.token_file = "telegram.token" (relative to the config file's directory)`,
			"required when telegram.enabled = true")
	}
	if problem := checkAPIURL(t.APIURL); problem != "" {
		return c.errf("telegram.api_url",
			`set telegram.api_url = "https://api.telegram.org" (the server root; the token comes from token_file)`, "%s", problem)
	}
	if t.Mode != ModePoll && t.Mode != ModeWebhook {
		return c.errf("telegram.mode", `set telegram.mode = "poll" (or "webhook" with [telegram.webhook] filled in)`,
			"must be %q or %q, got %q", ModePoll, ModeWebhook, t.Mode)
	}
	if d := t.PollTimeout.Duration; d < MinPollTimeout || d > MaxPollTimeout {
		return c.errf("telegram.poll_timeout", `set telegram.poll_timeout = "30s"`,
			"must be between %s and %s (Telegram caps long polling at 50s), got %s", MinPollTimeout, MaxPollTimeout, t.PollTimeout)
	}
	for _, list := range []struct {
		key string
		ids []int64
	}{{"telegram.admins", t.Admins}, {"telegram.users", t.Users}} {
		for i, id := range list.ids {
			if id <= 0 {
				return c.errf(list.key, fmt.Sprintf("remove %d from %s; group chat ids (negative) belong in telegram.groups", id, list.key),
					"element %d (%d) is not a user id: user ids are positive", i+1, id)
			}
		}
	}
	for i, id := range t.Groups {
		if id >= 0 {
			return c.errf("telegram.groups", fmt.Sprintf("remove %d from telegram.groups; user ids belong in telegram.users", id),
				"element %d (%d) is not a group chat id: group ids are negative, such as -1001234567890", i+1, id)
		}
	}
	return nil
}

// checkAPIURL accepts the root of a Bot API server: http(s), a host, and no
// query, fragment, credentials or /bot<token> path (the client appends
// /bot<token>/<method> itself).
// baseURLProblem is what any API root must not be: without a host, with
// credentials, a query or a fragment.
func baseURLProblem(s string, u *url.URL) string {
	switch {
	case u.Host == "":
		return fmt.Sprintf("%q has no host", s)
	case u.User != nil:
		return fmt.Sprintf("%q must not contain credentials", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Sprintf("%q must not have a query or fragment", s)
	}
	return ""
}

func checkAPIURL(s string) string {
	if s == "" {
		return "must not be empty"
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", s)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must start with https:// or http://", s)
	case baseURLProblem(s, u) != "":
		return baseURLProblem(s, u)
	case strings.Contains(u.Path, "/bot"):
		return fmt.Sprintf("%q must not contain a /bot<token> path", s)
	}
	return ""
}

func (c *Config) validateWebhook() *Error {
	t := &c.Telegram
	w := &t.Webhook
	webhook := t.Enabled && t.Mode == ModeWebhook
	if webhook && w.PublicURL == "" {
		return c.errf("telegram.webhook.public_url", `set telegram.webhook.public_url = "https://bot.example.org/telegram" (the URL Telegram will post to)`,
			`required when telegram.mode = "webhook"`)
	}
	if w.PublicURL != "" {
		if problem := checkPublicURL(w.PublicURL); problem != "" {
			return c.errf("telegram.webhook.public_url",
				`set telegram.webhook.public_url = "https://bot.example.org/telegram" (plain http:// only for 127.0.0.1, ::1 or localhost)`, "%s", problem)
		}
	}
	if problem := checkListen(w.Listen); problem != "" {
		return c.errf("telegram.webhook.listen",
			`set telegram.webhook.listen = "127.0.0.1:8443" (or "0.0.0.0:8443" for all interfaces)`, "%s", problem)
	}
	if webhook && w.SecretFile == "" {
		return c.errf("telegram.webhook.secret_file",
			`put a random token (1-256 of A-Z a-z 0-9 _ -) in a file only you can read and set telegram.webhook.secret_file = "webhook.secret"`,
			`required when telegram.mode = "webhook"`)
	}
	if (w.TLSCert == "") != (w.TLSKey == "") {
		set, missing := "tls_cert", "tls_key"
		if w.TLSCert == "" {
			set, missing = "tls_key", "tls_cert"
		}
		return c.errf("telegram.webhook."+missing,
			"set both telegram.webhook.tls_cert and telegram.webhook.tls_key, or neither (TLS then ends at a reverse proxy)",
			"%s is set but %s is not", set, missing)
	}
	if w.MaxBodyBytes < 1 || w.MaxBodyBytes > 1<<30 {
		return c.errf("telegram.webhook.max_body_bytes", "set telegram.webhook.max_body_bytes = 1048576",
			"must be between 1 and 1073741824, got %d", w.MaxBodyBytes)
	}
	return nil
}

// checkPublicURL wants https, except for loopback hosts so that tests can run
// a plain-HTTP fake Telegram.
func checkPublicURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", s)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Sprintf("%q must be an https:// URL", s)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Sprintf("%q must use https:// (Telegram only posts to https)", s)
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkListen wants IP:port, the form systemd's ListenStream= takes for the
// webhook socket unit (it does not resolve host names).
func checkListen(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not IP:port", s)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Sprintf("%q: host must be an IP address, not %q", s, host)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Sprintf("%q: port must be 1..65535", s)
	}
	return ""
}

func (c *Config) validateAgent() *Error {
	a := &c.Agent
	switch a.Backend {
	case BackendEcho, BackendOpenAI, BackendExec:
	default:
		return c.errf("agent.backend", `set agent.backend = "echo", "openai" (with [agent.openai]) or "exec" (with [agent.exec])`,
			"must be %q, %q or %q, got %q", BackendEcho, BackendOpenAI, BackendExec, a.Backend)
	}
	for _, r := range []struct {
		key      string
		v        int
		min, max int
	}{
		{"agent.max_concurrent_chats", a.MaxConcurrentChats, 1, 256},
		{"agent.history_turns", a.HistoryTurns, 1, 1000},
		{"agent.history_chars", a.HistoryChars, 100, 10_000_000},
	} {
		if r.v < r.min || r.v > r.max {
			return c.errf(r.key, exampleFix(r.key), "must be between %d and %d, got %d", r.min, r.max, r.v)
		}
	}

	if a.MaxFileBytes < 1024 || a.MaxFileBytes > MaxMaxFileBytes {
		return c.errf("agent.max_file_bytes", "set agent.max_file_bytes = 20971520 (20 MB, what Telegram lets a bot fetch)",
			"must be between 1024 and %d, got %d", int64(MaxMaxFileBytes), a.MaxFileBytes)
	}

	o := &a.OpenAI
	if a.Backend == BackendOpenAI && o.BaseURL == "" {
		return c.errf("agent.openai.base_url", `set agent.openai.base_url = "https://api.openai.com/v1" (or your OpenAI-compatible server)`,
			`required when agent.backend = "openai"`)
	}
	if o.BaseURL != "" {
		if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c.errf("agent.openai.base_url", `set agent.openai.base_url = "https://api.openai.com/v1"`,
				"%q must be an http:// or https:// URL", o.BaseURL)
		}
	}
	if a.Backend == BackendOpenAI && o.Model == "" {
		return c.errf("agent.openai.model", `set agent.openai.model = "gpt-4o-mini" (a model your server offers)`,
			`required when agent.backend = "openai"`)
	}
	if o.Timeout.Duration <= 0 {
		return c.errf("agent.openai.timeout", `set agent.openai.timeout = "60s"`, "must be more than 0, got %s", o.Timeout)
	}
	if o.MaxRetries < 0 || o.MaxRetries > 10 {
		return c.errf("agent.openai.max_retries", "set agent.openai.max_retries = 3", "must be between 0 and 10, got %d", o.MaxRetries)
	}

	x := &a.Exec
	if a.Backend == BackendExec && len(x.Command) == 0 {
		return c.errf("agent.exec.command", `set agent.exec.command = ["/usr/local/bin/my-agent"] (argv: the program and its arguments)`,
			`required when agent.backend = "exec"`)
	}
	if len(x.Command) > 0 && x.Command[0] == "" {
		return c.errf("agent.exec.command", `set agent.exec.command = ["/usr/local/bin/my-agent"]`, "the program (first element) must not be empty")
	}
	if x.Timeout.Duration <= 0 {
		return c.errf("agent.exec.timeout", `set agent.exec.timeout = "60s"`, "must be more than 0, got %s", x.Timeout)
	}
	if x.MaxOutputBytes < 1 || x.MaxOutputBytes > 1<<30 {
		return c.errf("agent.exec.max_output_bytes", "set agent.exec.max_output_bytes = 65536",
			"must be between 1 and 1073741824, got %d", x.MaxOutputBytes)
	}
	if x.Output != ExecOutputText && x.Output != ExecOutputJSON {
		return c.errf("agent.exec.output", `set agent.exec.output = "text" (or "json" for answers with files)`,
			`must be "text" or "json", got %q`, x.Output)
	}
	if x.Input != ExecInputText && x.Input != ExecInputJSON {
		return c.errf("agent.exec.input", `set agent.exec.input = "text" (or "json" for the message and the files sent as a JSON object)`,
			`must be "text" or "json", got %q`, x.Input)
	}
	return nil
}
