package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Limits of matrix.sync_timeout: how long the homeserver holds a /sync
// open when nothing happens.
const (
	MinSyncTimeout = 1 * time.Second
	MaxSyncTimeout = 5 * time.Minute
)

func (c *Config) validateMatrix() *Error {
	m := &c.Matrix
	if m.Enabled && m.Homeserver == "" {
		return c.errf("matrix.homeserver", `set matrix.homeserver = "https://matrix.example.org" (the server's client API root)`,
			"required when matrix.enabled = true")
	}
	if m.Homeserver != "" {
		if problem := checkHomeserver(m.Homeserver); problem != "" {
			return c.errf("matrix.homeserver",
				`set matrix.homeserver = "https://matrix.example.org" (plain http:// only for 127.0.0.1, ::1 or localhost)`, "%s", problem)
		}
	}
	if m.Enabled && m.UserID == "" {
		return c.errf("matrix.user_id", `set matrix.user_id = "@hermes:example.org" (the bot's account)`, "required when matrix.enabled = true")
	}
	if m.UserID != "" && !ValidMatrixUserID(m.UserID) {
		return c.errf("matrix.user_id", `set matrix.user_id = "@hermes:example.org" (the bot's account)`,
			"%q is not a Matrix user id (@localpart:server)", m.UserID)
	}
	if m.Enabled && m.AccessTokenFile == "" {
		return c.errf("matrix.access_token_file",
			"run `hermes setup matrix`, or put the bot's access token in a file only you can read and set matrix.access_token_file = \"matrix.token\"",
			"required when matrix.enabled = true")
	}
	for _, list := range []struct {
		key string
		ids []string
	}{{"matrix.admins", m.Admins}, {"matrix.users", m.Users}} {
		for i, id := range list.ids {
			if !ValidMatrixUserID(id) {
				return c.errf(list.key, fmt.Sprintf("write each user as @localpart:server, such as %s", examples[list.key]),
					"element %d (%q) is not a Matrix user id (@localpart:server)", i+1, id)
			}
		}
	}
	if d := m.SyncTimeout.Duration; d < MinSyncTimeout || d > MaxSyncTimeout {
		return c.errf("matrix.sync_timeout", `set matrix.sync_timeout = "30s"`,
			"must be between %s and %s, got %s", MinSyncTimeout, MaxSyncTimeout, m.SyncTimeout)
	}
	return nil
}

// checkHomeserver accepts the root of a homeserver's client API: https
// (http only on loopback, where nothing crosses a network), a host, and
// no credentials, query or fragment. The access token travels in every
// request, so plain http elsewhere would hand it out.
func checkHomeserver(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", s)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must start with https://", s)
	case baseURLProblem(s, u) != "":
		return baseURLProblem(s, u)
	case strings.Contains(u.Path, "/_matrix"):
		return fmt.Sprintf("%q must be the server's root, without /_matrix/…", s)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Sprintf("%q must use https:// (the access token goes with every request)", s)
	}
	return ""
}

// ValidMatrixUserID reports whether s is a Matrix user id: @localpart:server,
// the localpart printable ASCII without ':' (the spec's historical
// grammar, which servers still accept), the server a DNS name, an IPv4
// address or a bracketed IPv6 address, with an optional port.
func ValidMatrixUserID(s string) bool {
	rest, ok := strings.CutPrefix(s, "@")
	local, server, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || local == "" || server == "" || len(s) > 255 {
		return false
	}
	for _, r := range local {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	host, port := server, ""
	if strings.HasPrefix(server, "[") {
		end := strings.IndexByte(server, ']')
		if end < 0 {
			return false
		}
		host, port = server[1:end], server[end+1:]
		if _, err := netip.ParseAddr(host); err != nil || !strings.Contains(host, ":") {
			return false
		}
	} else {
		if i := strings.IndexByte(server, ':'); i >= 0 {
			host, port = server[:i], server[i:]
		}
		if host == "" || strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != "" {
			return false
		}
	}
	if port != "" {
		p, ok := strings.CutPrefix(port, ":")
		if !ok || p == "" || len(p) > 5 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}
