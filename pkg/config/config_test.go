package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/stretchr/testify/require"
)

func TestLoadMissingFileGivesDefaults(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "nope", "config.toml"))
	require.NoError(t, err)
	require.Equal(t, "", c.Source)
	require.Equal(t, Default(), c)
	require.False(t, c.Telegram.Enabled)
	require.Equal(t, BackendEcho, c.Agent.Backend)
}

func TestDefaultIsValid(t *testing.T) {
	require.NoError(t, Default().Validate())
	require.Equal(t, 20*time.Second, Default().Gateway.DrainTimeout.Duration)
	require.Less(t, Default().Gateway.DrainTimeout.Duration, MaxDrainTimeout)
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	require.NoError(t, os.WriteFile(path, []byte(`
[gateway]
drain_timeout = "10s"

[telegram]
enabled = true
token_file = "bot.token"
admins = [42]
groups = [-1001]

[agent]
backend = "exec"
exec.command = ["/bin/cat"]
`), 0o600))

	c, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, path, c.Source)
	require.Equal(t, 10*time.Second, c.Gateway.DrainTimeout.Duration)
	require.Equal(t, 3, c.Gateway.KeepVersions, "absent keys keep their default")
	require.True(t, c.Telegram.Enabled)
	require.Equal(t, []int64{42}, c.Telegram.Admins)
	require.Equal(t, []int64{-1001}, c.Telegram.Groups)
	require.Equal(t, []string{"/bin/cat"}, c.Agent.Exec.Command)
	require.Equal(t, filepath.Join(dir, "bot.token"), c.ResolvePath(c.Telegram.TokenFile))
}

func TestLoadEmptyPathUsesDefaultPath(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	path := filepath.Join(xdg, "hermes", "config.toml")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, []byte("[agent]\nhistory_turns = 5\n"), 0o600))

	c, err := Load("")
	require.NoError(t, err)
	require.Equal(t, path, c.Source)
	require.Equal(t, 5, c.Agent.HistoryTurns)
}

func TestLoadRelativePathRecordsAbsoluteSource(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, os.WriteFile("c.toml", nil, 0o600))
	c, err := Load("c.toml")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "c.toml"), c.Source)
}

func TestLoadUnreadableIsNotConfigError(t *testing.T) {
	_, err := Load(t.TempDir()) // a directory
	require.Error(t, err)
	var ce *Error
	require.False(t, errors.As(err, &ce))
}

func TestLoadErrorNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	require.NoError(t, os.WriteFile(path, []byte("[telegram]\nmode = \"push\"\n"), 0o600))
	_, err := Load(path)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, path, ce.File)
	require.Equal(t, 2, ce.Line)
	require.Equal(t, path+`:2: telegram.mode: must be "poll" or "webhook", got "push"; set telegram.mode = "poll" (or "webhook" with [telegram.webhook] filled in)`, err.Error())
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		key     string
		line    int
		problem string // substring
		fix     string // substring
	}{
		// Syntax.
		{"syntax", "[gateway\n", "", 1, "expected ']'", "fix the TOML syntax at line 1"},
		{"duplicate key", "[agent]\nbackend = 'echo'\nbackend = 'echo'\n", "", 3, "already", "fix the TOML syntax at line 3"},
		{"duplicate table", "[gateway]\n[gateway]\n", "gateway", 2, "already exists", "define gateway only once"},
		{"unterminated string", "[telegram]\nmode = \"poll\n", "", 2, "new lines", "column 13"},

		// Unknown keys.
		{"unknown key", "[gateway]\nfoo = 1\n", "gateway.foo", 2, "unknown key", "[gateway] takes drain_timeout, state_dir, control_socket, keep_versions"},
		{"typo", "\n[gateway]\ndrain_timout = \"1s\"\n", "gateway.drain_timout", 3, "unknown key", "did you mean drain_timeout?"},
		{"unknown table", "[telegarm]\nenabled = true\n", "telegarm", 1, "unknown key", "did you mean telegram?"},
		{"unknown top-level", "x = 1\n", "x", 1, "unknown key", "the file takes [gateway], [telegram], [matrix], [agent]"},
		{"unknown nested", "[telegram.webhook]\nport = 1\nfoo = 2\n", "telegram.webhook.port", 2, "unknown key (and 1 more)", "[telegram.webhook] takes public_url"},
		{"unknown dotted", "a.b.c = 1\n", "a", 1, "unknown key", "the file takes [gateway], [telegram], [matrix], [agent]"},
		{"unknown sub-table", "[gateway.x]\n", "gateway.x", 1, "unknown key", "[gateway] takes drain_timeout"},
		{"unknown in inline table", "[agent]\nopenai = { modle = 'x' }\n", "agent.openai.modle", 2, "unknown key", "did you mean model?"},

		// Wrong types.
		{"string for int", "[gateway]\nkeep_versions = \"3\"\n", "gateway.keep_versions", 2, "must be an integer, not a string", "set gateway.keep_versions = 3"},
		{"float for int", "gateway.keep_versions = 3.5\n", "gateway.keep_versions", 1, "must be an integer, not a float", "set gateway.keep_versions = 3"},
		{"int for string", "[telegram]\n\nmode = 1\n", "telegram.mode", 3, "must be a string, not an integer", `set telegram.mode = "poll"`},
		{"string for bool", "[telegram]\nenabled = \"yes\"\n", "telegram.enabled", 2, "must be true or false, not a string", "set telegram.enabled = true"},
		{"scalar for list", "[telegram]\nadmins = 42\n", "telegram.admins", 2, "must be an array of integers, not an integer", "set telegram.admins = [123456789]"},
		{"bad element", "[telegram]\nadmins = [42, \"43\"]\n", "telegram.admins", 2, "must be an array of integers", "set telegram.admins = [123456789]"},
		{"scalar for table", "gateway = 1\n", "gateway", 1, "must be a table, not an integer", "[gateway]"},
		{"table for scalar", "[gateway.keep_versions]\n", "gateway.keep_versions", 1, "must be an integer, not a table", "set gateway.keep_versions = 3"},
		{"dotted through scalar", "gateway.keep_versions.x = 1\n", "gateway.keep_versions", 1, "must be an integer, not a table", "set gateway.keep_versions = 3"},
		{"array table", "[[agent]]\n", "agent", 1, "must be a table, not an array of tables", "[agent]"},
		{"overflow", "[agent]\nhistory_chars = 99999999999999999999\n", "agent.history_chars", 2, "too large", "set agent.history_chars = 16000"},
		{"duration garbage", "[gateway]\ndrain_timeout = \"soon\"\n", "gateway.drain_timeout", 2, `"soon" is not a duration`, `(ms, s, m, h): set gateway.drain_timeout = "20s"`},
		{"duration int", "[gateway]\ndrain_timeout = 20\n", "gateway.drain_timeout", 2, `must be a duration string such as "20s", not an integer`, `set gateway.drain_timeout = "20s"`},
		{"duration zero int", "[agent.openai]\ntimeout = 0\n", "agent.openai.timeout", 2, "not an integer", `set agent.openai.timeout = "60s"`},
		{"duration bool", "[agent.exec]\ntimeout = true\n", "agent.exec.timeout", 2, "not a boolean", `set agent.exec.timeout = "60s"`},

		// Impossible values.
		{"drain too long", "[gateway]\ndrain_timeout = \"25s\"\n", "gateway.drain_timeout", 2,
			"drain_timeout must be below 25s (the unit's TimeoutStopSec is 30s)", `set gateway.drain_timeout = "20s"`},
		{"drain zero", "[gateway]\ndrain_timeout = \"0s\"\n", "gateway.drain_timeout", 2, "must be more than 0", `set gateway.drain_timeout = "20s"`},
		{"drain negative", "[gateway]\ndrain_timeout = \"-1s\"\n", "gateway.drain_timeout", 2, "must be more than 0", `set gateway.drain_timeout = "20s"`},
		{"relative state dir", "[gateway]\nstate_dir = \"state\"\n", "gateway.state_dir", 2, "must be an absolute path", "remove the key"},
		{"relative socket", "[gateway]\ncontrol_socket = \"g.sock\"\n", "gateway.control_socket", 2, "must be an absolute path", "$XDG_RUNTIME_DIR"},
		{"long socket", "[gateway]\ncontrol_socket = \"/" + strings.Repeat("s", 120) + "\"\n", "gateway.control_socket", 2, "at most 107", "shorter path"},
		{"keep 0", "[gateway]\nkeep_versions = 0\n", "gateway.keep_versions", 2, "between 1 and 20, got 0", "set gateway.keep_versions = 3"},
		{"keep 21", "[gateway]\nkeep_versions = 21\n", "gateway.keep_versions", 2, "between 1 and 20, got 21", "set gateway.keep_versions = 3"},
		{"token required", "[telegram]\nenabled = true\n", "telegram.token_file", 1, "required when telegram.enabled = true", `telegram.token_file = "telegram.token"`},
		{"api url scheme", "[telegram]\napi_url = \"ftp://x\"\n", "telegram.api_url", 2, "https://", `set telegram.api_url = "https://api.telegram.org"`},
		{"api url token", "[telegram]\napi_url = \"https://api.telegram.org/bot123:abc\"\n", "telegram.api_url", 2, "/bot<token>", "token_file"},
		{"api url query", "[telegram]\napi_url = \"https://h/?a=1\"\n", "telegram.api_url", 2, "query", "api_url"},
		{"api url empty", "[telegram]\napi_url = \"\"\n", "telegram.api_url", 2, "must not be empty", "api_url"},
		{"mode", "[telegram]\nmode = \"push\"\n", "telegram.mode", 2, `must be "poll" or "webhook", got "push"`, `set telegram.mode = "poll"`},
		{"poll timeout", "[telegram]\npoll_timeout = \"1m\"\n", "telegram.poll_timeout", 2, "between 1s and 50s", `set telegram.poll_timeout = "30s"`},
		{"poll timeout small", "[telegram]\npoll_timeout = \"500ms\"\n", "telegram.poll_timeout", 2, "between 1s and 50s", `"30s"`},
		{"negative admin", "[telegram]\nadmins = [1, -5]\n", "telegram.admins", 2, "element 2 (-5) is not a user id", "telegram.groups"},
		{"zero user", "[telegram]\nusers = [0]\n", "telegram.users", 2, "is not a user id", "remove 0 from telegram.users"},
		{"positive group", "[telegram]\ngroups = [5]\n", "telegram.groups", 2, "group ids are negative", "telegram.users"},
		{"webhook url required", "[telegram]\nenabled = true\ntoken_file = \"t\"\nmode = \"webhook\"\n", "telegram.webhook.public_url", 1, `required when telegram.mode = "webhook"`, "public_url = "},
		{"webhook http", "[telegram.webhook]\npublic_url = \"http://bot.example.org/x\"\n", "telegram.webhook.public_url", 2, "must use https://", "127.0.0.1"},
		{"webhook secret required", "[telegram]\nenabled = true\ntoken_file = \"t\"\nmode = \"webhook\"\n[telegram.webhook]\npublic_url = \"https://b.example.org/\"\n",
			"telegram.webhook.secret_file", 5, `required when telegram.mode = "webhook"`, "secret_file = "},
		{"listen host name", "[telegram.webhook]\nlisten = \"localhost:8443\"\n", "telegram.webhook.listen", 2, "host must be an IP address", `"127.0.0.1:8443"`},
		{"listen no port", "[telegram.webhook]\nlisten = \"127.0.0.1\"\n", "telegram.webhook.listen", 2, "is not IP:port", `"127.0.0.1:8443"`},
		{"listen bad port", "[telegram.webhook]\nlisten = \"127.0.0.1:99999\"\n", "telegram.webhook.listen", 2, "port must be 1..65535", `"127.0.0.1:8443"`},
		{"listen in inline table", "[telegram]\nwebhook = { listen = \"::1\" }\n", "telegram.webhook.listen", 2, "is not IP:port", `"127.0.0.1:8443"`},
		{"tls half", "[telegram.webhook]\ntls_cert = \"/c.pem\"\n", "telegram.webhook.tls_key", 1, "tls_cert is set but tls_key is not", "or neither"},
		{"body size", "[telegram.webhook]\nmax_body_bytes = 0\n", "telegram.webhook.max_body_bytes", 2, "between 1 and", "1048576"},
		{"backend", "[agent]\nbackend = \"gpt\"\n", "agent.backend", 2, `must be "echo", "openai" or "exec", got "gpt"`, `agent.backend = "echo"`},
		{"chats", "[agent]\nmax_concurrent_chats = 300\n", "agent.max_concurrent_chats", 2, "between 1 and 256, got 300", "set agent.max_concurrent_chats = 8"},
		{"turns", "[agent]\nhistory_turns = 0\n", "agent.history_turns", 2, "between 1 and 1000", "set agent.history_turns = 20"},
		{"chars", "[agent]\nhistory_chars = 99\n", "agent.history_chars", 2, "between 100 and 10000000", "set agent.history_chars = 16000"},
		{"openai base url", "[agent]\nbackend = \"openai\"\n", "agent.openai.base_url", 1, `required when agent.backend = "openai"`, "base_url = "},
		{"openai model", "[agent]\nbackend = \"openai\"\n[agent.openai]\nbase_url = \"http://127.0.0.1:8080/v1\"\n", "agent.openai.model", 3, `required when agent.backend = "openai"`, "model = "},
		{"openai bad url", "[agent.openai]\nbase_url = \"localhost:8080\"\n", "agent.openai.base_url", 2, "must be an http:// or https:// URL", "base_url = "},
		{"openai retries", "[agent.openai]\nmax_retries = 11\n", "agent.openai.max_retries", 2, "between 0 and 10", "max_retries = 3"},
		{"openai timeout", "[agent.openai]\ntimeout = \"0s\"\n", "agent.openai.timeout", 2, "more than 0", `timeout = "60s"`},
		{"exec command", "[agent]\nbackend = \"exec\"\n", "agent.exec.command", 1, `required when agent.backend = "exec"`, "command = ["},
		{"exec empty program", "[agent.exec]\ncommand = [\"\"]\n", "agent.exec.command", 2, "must not be empty", "command = ["},
		{"exec output", "[agent.exec]\nmax_output_bytes = -1\n", "agent.exec.max_output_bytes", 2, "between 1 and", "65536"},
		{"exec timeout", "[agent.exec]\ntimeout = \"-5s\"\n", "agent.exec.timeout", 2, "more than 0", `timeout = "60s"`},
		{"exec input", "[agent.exec]\ninput = \"yaml\"\n", "agent.exec.input", 2, `must be "text" or "json", got "yaml"`, `input = "text"`},
		{"file limit", "[agent]\nmax_file_bytes = 0\n", "agent.max_file_bytes", 2, "between 1024 and", "max_file_bytes = 20971520"},
		{"vision type", "[agent.openai]\nvision = \"yes\"\n", "agent.openai.vision", 2, "", "vision = true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const name = "/home/u/.config/hermes/config.toml"
			c, err := Parse([]byte(tt.doc), name)
			require.Nil(t, c)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, name, ce.File)
			require.Equal(t, tt.key, ce.Key)
			require.Equal(t, tt.line, ce.Line)
			require.Contains(t, ce.Problem, tt.problem)
			require.Contains(t, ce.Fix, tt.fix)

			msg := err.Error()
			require.NotContains(t, msg, "\n")
			prefix := name + ":" + itoa(tt.line) + ": "
			if tt.key != "" {
				prefix += tt.key + ": "
			}
			require.True(t, strings.HasPrefix(msg, prefix), "%q should start with %q", msg, prefix)
			require.True(t, strings.HasSuffix(msg, "; "+ce.Fix), msg)
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestValidModes(t *testing.T) {
	tests := []struct{ name, doc string }{
		{"empty", ""},
		{"comments only", "# nothing here\n"},
		{"poll", "[telegram]\nenabled = true\ntoken_file = \"/etc/hermes/token\"\nadmins = [1]\nusers = [2, 3]\ngroups = [-100123]\n"},
		{"webhook", `
[telegram]
enabled = true
token_file = "token"
mode = "webhook"
[telegram.webhook]
public_url = "https://bot.example.org/hook"
listen = "[::1]:8443"
secret_file = "secret"
tls_cert = "cert.pem"
tls_key = "key.pem"
`},
		{"webhook loopback http", "[telegram.webhook]\npublic_url = \"http://127.0.0.1:9999/hook\"\n"},
		{"webhook localhost http", "[telegram.webhook]\npublic_url = \"http://localhost:9999/hook\"\n"},
		{"disabled webhook may be half filled", "[telegram]\nmode = \"webhook\"\n"},
		{"openai", "[agent]\nbackend = \"openai\"\n[agent.openai]\nbase_url = \"http://127.0.0.1:8080/v1\"\nmodel = \"m\"\nmax_retries = 0\n"},
		{"exec", "[agent]\nbackend = \"exec\"\nexec = { command = [\"my-agent\", \"--x\"], timeout = \"1m30s\" }\n"},
		{"limits", "[gateway]\ndrain_timeout = \"24.9s\"\nkeep_versions = 20\n[agent]\nmax_concurrent_chats = 256\nhistory_turns = 1000\nhistory_chars = 10_000_000\n"},
		{"api url with path prefix", "[telegram]\napi_url = \"http://127.0.0.1:8081/\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), "c.toml")
			require.NoError(t, err)
			require.Equal(t, "c.toml", c.Source)
		})
	}
}

func TestValidateCodeBuiltConfig(t *testing.T) {
	c := Default()
	c.Gateway.KeepVersions = 0
	err := c.Validate()
	var ce *Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, 0, ce.Line)
	require.Equal(t, "config: gateway.keep_versions: must be between 1 and 20, got 0; set gateway.keep_versions = 3", err.Error())
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "f.toml", Key: "a.b", Line: 3, Problem: "bad", Fix: "do x"}, "f.toml:3: a.b: bad; do x"},
		{Error{File: "f.toml", Key: "a.b", Problem: "bad", Fix: "do x"}, "f.toml: a.b: bad; do x"},
		{Error{File: "f.toml", Line: 1, Problem: "bad"}, "f.toml:1: bad"},
		{Error{Key: "a", Problem: "two\nlines"}, `config: a: two\nlines`},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.err.Error())
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_CONFIG_HOME", "")
	require.Equal(t, "/home/u/.config/hermes/config.toml", DefaultPath())
	t.Setenv("XDG_CONFIG_HOME", "relative/ignored")
	require.Equal(t, "/home/u/.config/hermes/config.toml", DefaultPath())
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	require.Equal(t, "/xdg/hermes/config.toml", DefaultPath())
}

func TestStateDir(t *testing.T) {
	tests := []struct {
		name                   string
		setting, stateDir, xdg string
		want                   string
	}{
		{"explicit wins", "/srv/hermes", "/var/lib/x", "/xdg", "/srv/hermes"},
		// systemd 252 points a user unit's StateDirectory= at
		// ~/.config; the daemon and a hand-run gateway must agree.
		{"STATE_DIRECTORY is ignored", "", "/home/u/.config/hermes", "/xdg", "/xdg/hermes"},
		{"XDG_STATE_HOME", "", "", "/xdg", "/xdg/hermes"},
		{"HOME", "", "", "", "/home/u/.local/state/hermes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", "/home/u")
			t.Setenv("STATE_DIRECTORY", tt.stateDir)
			t.Setenv("XDG_STATE_HOME", tt.xdg)
			c := Default()
			c.Gateway.StateDir = tt.setting
			require.Equal(t, tt.want, c.StateDir())
		})
	}
}

func TestControlSocket(t *testing.T) {
	c := Default()
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1234")
	require.Equal(t, "/run/user/1234/hermes/gateway.sock", c.ControlSocket())

	t.Setenv("XDG_RUNTIME_DIR", "")
	require.Equal(t, filepath.Join("/run/user", itoa(os.Getuid()), "hermes", "gateway.sock"), c.ControlSocket())

	c.Gateway.ControlSocket = "/tmp/g.sock"
	require.Equal(t, "/tmp/g.sock", c.ControlSocket())
}

func TestResolvePath(t *testing.T) {
	c := &Config{Source: "/etc/hermes/config.toml"}
	require.Equal(t, "/etc/hermes/token", c.ResolvePath("token"))
	require.Equal(t, "/etc/hermes/sub/token", c.ResolvePath("sub/token"))
	require.Equal(t, "/abs/token", c.ResolvePath("/abs/token"))
	require.Equal(t, "", c.ResolvePath(""))

	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	require.Equal(t, "/xdg/hermes/token", Default().ResolvePath("token"), "embedded defaults resolve against the default config dir")
}

func TestMarshalRoundTrip(t *testing.T) {
	custom := Default()
	custom.Gateway.DrainTimeout = Duration{1500 * time.Millisecond}
	custom.Gateway.StateDir = "/var/lib/hermes"
	custom.Gateway.KeepVersions = 7
	custom.Telegram.Enabled = true
	custom.Telegram.TokenFile = "token with 'quotes' and \"double\""
	custom.Telegram.Mode = ModeWebhook
	custom.Telegram.PollTimeout = Duration{45 * time.Second}
	custom.Telegram.Admins = []int64{1, 9007199254740993}
	custom.Telegram.Users = []int64{2}
	custom.Telegram.Groups = []int64{-1001234567890}
	custom.Telegram.Webhook.PublicURL = "https://bot.example.org/hook"
	custom.Telegram.Webhook.SecretFile = "secret"
	custom.Telegram.Webhook.Listen = "[::]:443"
	custom.Agent.Backend = BackendOpenAI
	custom.Agent.OpenAI.BaseURL = "http://127.0.0.1:1/v1"
	custom.Agent.OpenAI.Model = "m"
	custom.Agent.OpenAI.SystemPrompt = "line one\nline two\ttabbed ''' \"\"\" \\"
	custom.Agent.OpenAI.Timeout = Duration{2 * time.Hour}
	custom.Agent.Exec.Command = []string{"/bin/agent", "--flag=a b"}

	for name, c := range map[string]*Config{"default": Default(), "custom": custom} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, c.Validate())
			data, err := c.Marshal()
			require.NoError(t, err)
			got, err := Parse(data, "rt.toml")
			require.NoError(t, err, "%s", data)
			got.Source, got.lines = c.Source, c.lines
			require.Equal(t, c, got)
		})
	}
}

func TestMarshalWritesEveryKey(t *testing.T) {
	data, err := Default().Marshal()
	require.NoError(t, err)
	_, kinds := scanKeys(data)
	for key := range schemaTypes() {
		require.Contains(t, kinds, key)
	}
	require.Contains(t, string(data), `drain_timeout = '20s'`)
	require.Contains(t, string(data), `timeout = '1m'`)
}

// TestSchemaExamples keeps the examples quoted in fixes in step with the
// structs: one per leaf key, each of the right type.
func TestSchemaExamples(t *testing.T) {
	for key, typ := range schemaTypes() {
		if typ.Kind() == reflect.Struct && typ.Name() != "Duration" {
			require.NotContains(t, examples, key)
			continue
		}
		ex, ok := examples[key]
		require.True(t, ok, "no example for %s", key)
		i := strings.LastIndexByte(key, '.')
		doc := "[" + key[:i] + "]\n" + key[i+1:] + " = " + ex + "\n"
		var c Config
		require.NoError(t, toml.NewDecoder(bytes.NewReader([]byte(doc))).DisallowUnknownFields().Decode(&c), doc)
	}
	for key := range examples {
		require.Contains(t, schemaTypes(), key)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"20s", 20 * time.Second, "20s"},
		{"1m30s", 90 * time.Second, "1m30s"},
		{"1m", time.Minute, "1m"},
		{"2h", 2 * time.Hour, "2h"},
		{"1h0m5s", time.Hour + 5*time.Second, "1h0m5s"},
		{"1h10m", 70 * time.Minute, "1h10m"},
		{"250ms", 250 * time.Millisecond, "250ms"},
		{"10s", 10 * time.Second, "10s"},
		{"0", 0, "0s"},
	}
	for _, tt := range tests {
		var d Duration
		require.NoError(t, d.UnmarshalText([]byte(tt.in)))
		require.Equal(t, tt.want, d.Duration)
		out, err := d.MarshalText()
		require.NoError(t, err)
		require.Equal(t, tt.out, string(out))
		var back Duration
		require.NoError(t, back.UnmarshalText(out))
		require.Equal(t, d, back)
	}
	var d Duration
	require.EqualError(t, d.UnmarshalText([]byte("5")), `"5" is not a duration`)
}
