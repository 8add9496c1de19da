// Package config loads, validates and writes the Hermes gateway's single TOML
// configuration file.
//
// The file is optional: without it the embedded defaults serve (no platform
// enabled, echo agent), so a fresh install starts and answers `hermes status`
// before anyone has run `hermes setup`. When the file exists it is parsed
// strictly: an unknown key, a value of the wrong type or an impossible value
// is an *Error that names the file, the dotted key, the line and the fix, so
// that a typo never silently falls back to a default.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// MaxDrainTimeout bounds gateway.drain_timeout. The systemd unit stops the
// gateway with TimeoutStopSec=30s and then kills it; draining must finish
// (and the store must be closed) well before that, hence 30s minus a margin.
const MaxDrainTimeout = 25 * time.Second

// unitStopTimeout is the unit's TimeoutStopSec, quoted in error messages.
const unitStopTimeout = 30 * time.Second

// Agent backends and Telegram modes accepted by the validator.
const (
	BackendEcho   = "echo"
	BackendOpenAI = "openai"
	BackendExec   = "exec"

	ModePoll    = "poll"
	ModeWebhook = "webhook"
)

// Config is the whole configuration file. Zero values are not defaults: start
// from Default() (Load and Parse do) so that keys absent from the file keep
// their default.
type Config struct {
	Gateway  Gateway  `toml:"gateway"`
	Telegram Telegram `toml:"telegram"`
	Matrix   Matrix   `toml:"matrix"`
	Agent    Agent    `toml:"agent"`

	// Source is the file the configuration was read from, or "" when the
	// embedded defaults serve. Relative paths in the file resolve against
	// its directory (see ResolvePath).
	Source string `toml:"-"`

	// lines maps dotted keys (and table names) to the line that set them,
	// so that Validate can point at the offending line. Nil for a Config
	// built in code.
	lines map[string]int
}

// Gateway is the [gateway] table: the daemon itself.
type Gateway struct {
	DrainTimeout  Duration `toml:"drain_timeout" comment:"How long a stop waits for replies in flight; must stay below 25s (the unit's TimeoutStopSec is 30s)."`
	StateDir      string   `toml:"state_dir" comment:"Where gateway.db lives. Empty: $XDG_STATE_HOME/hermes, else ~/.local/state/hermes."`
	ControlSocket string   `toml:"control_socket" comment:"Control socket when not socket-activated. Empty: $XDG_RUNTIME_DIR/hermes/gateway.sock."`
	KeepVersions  int      `toml:"keep_versions" comment:"How many old versions 'hermes update' keeps (1..20)."`
}

// Telegram is the [telegram] table.
type Telegram struct {
	Enabled     bool     `toml:"enabled"`
	TokenFile   string   `toml:"token_file" comment:"File holding the bot token; relative to this file's directory."`
	APIURL      string   `toml:"api_url"`
	Mode        string   `toml:"mode" comment:"poll or webhook"`
	PollTimeout Duration `toml:"poll_timeout" comment:"Long-polling timeout, 1s..50s."`
	Admins      []int64  `toml:"admins" comment:"Telegram user ids allowed to administer the bot."`
	Users       []int64  `toml:"users" comment:"Telegram user ids allowed to chat."`
	Groups      []int64  `toml:"groups" comment:"Group chat ids (negative) the bot answers in."`
	Webhook     Webhook  `toml:"webhook"`
}

// Webhook is the [telegram.webhook] table, used when telegram.mode is
// "webhook".
type Webhook struct {
	PublicURL    string `toml:"public_url" comment:"https:// URL Telegram posts updates to."`
	Listen       string `toml:"listen" comment:"IP:port of hermes-gateway-webhook.socket."`
	SecretFile   string `toml:"secret_file" comment:"File holding the webhook secret token."`
	TLSCert      string `toml:"tls_cert"`
	TLSKey       string `toml:"tls_key"`
	MaxBodyBytes int64  `toml:"max_body_bytes"`
}

// Matrix is the [matrix] table: a bot account on a Matrix homeserver.
type Matrix struct {
	Enabled         bool     `toml:"enabled"`
	Homeserver      string   `toml:"homeserver" comment:"The homeserver's client API root, https://matrix.example.org."`
	UserID          string   `toml:"user_id" comment:"The bot's account, @bot:example.org."`
	AccessTokenFile string   `toml:"access_token_file" comment:"File holding the bot's access token (mode 0600); relative to this file's directory."`
	Admins          []string `toml:"admins" comment:"Matrix user ids allowed to administer the bot, such as @you:example.org."`
	Users           []string `toml:"users" comment:"Matrix user ids allowed to chat; their invites are joined."`
	SyncTimeout     Duration `toml:"sync_timeout" comment:"/sync long-polling timeout, 1s..5m."`
}

// Agent is the [agent] table: what answers the messages.
type Agent struct {
	Backend            string `toml:"backend" comment:"echo, openai or exec"`
	MaxConcurrentChats int    `toml:"max_concurrent_chats"`
	HistoryTurns       int    `toml:"history_turns"`
	HistoryChars       int    `toml:"history_chars"`
	MaxFileBytes       int64  `toml:"max_file_bytes" comment:"Largest file people may send the agent, in bytes (Telegram lets a bot fetch up to 20 MB; photos up to 10 MB)."`
	OpenAI             OpenAI `toml:"openai"`
	Exec               Exec   `toml:"exec"`
}

// OpenAI is the [agent.openai] table, for any OpenAI-compatible chat API.
type OpenAI struct {
	BaseURL      string   `toml:"base_url"`
	Model        string   `toml:"model"`
	SystemPrompt string   `toml:"system_prompt" multiline:"true"`
	APIKeyFile   string   `toml:"api_key_file"`
	Timeout      Duration `toml:"timeout"`
	MaxRetries   int      `toml:"max_retries"`
	// Vision: pictures people send go to the model as image content
	// parts (the model must accept images); false: as a note.
	Vision bool `toml:"vision" comment:"Send pictures people send to the model as images (it must accept images); false: as a note."`
}

// Exec is the [agent.exec] table: a command run once per message.
// agent.exec.output and agent.exec.input values.
const (
	ExecOutputText = "text"
	ExecOutputJSON = "json"
	ExecInputText  = "text"
	ExecInputJSON  = "json"
)

type Exec struct {
	Command        []string `toml:"command" comment:"argv; the first element is the program."`
	Timeout        Duration `toml:"timeout"`
	MaxOutputBytes int64    `toml:"max_output_bytes"`
	// Output is "text" (stdout is the answer, streamed line by line) or
	// "json" (stdout is {"text": …, "files": [...]}: an answer with files).
	Output string `toml:"output"`
	// Input is "text" (stdin is the message, files as a note with their
	// paths) or "json" (stdin is {"text": …, "files": [...], …}).
	Input string `toml:"input" comment:"text (the message on stdin) or json (a JSON object with the text and the files sent)."`
}

// DefaultMaxFileBytes is agent.max_file_bytes' default: what Telegram
// lets a bot fetch (20 MB).
const DefaultMaxFileBytes = 20 << 20

// MaxMaxFileBytes bounds agent.max_file_bytes: a file is held whole in
// memory on its way to an openai agent.
const MaxMaxFileBytes = 1 << 30

// Default returns the embedded defaults: no platform enabled, echo agent.
// Each call returns a fresh value the caller may modify.
func Default() *Config {
	return &Config{
		Gateway: Gateway{
			DrainTimeout: Duration{20 * time.Second},
			KeepVersions: 3,
		},
		Telegram: Telegram{
			APIURL:      "https://api.telegram.org",
			Mode:        ModePoll,
			PollTimeout: Duration{30 * time.Second},
			Admins:      []int64{},
			Users:       []int64{},
			Groups:      []int64{},
			Webhook: Webhook{
				Listen:       "127.0.0.1:8443",
				MaxBodyBytes: 1 << 20,
			},
		},
		Matrix: Matrix{
			Admins:      []string{},
			Users:       []string{},
			SyncTimeout: Duration{30 * time.Second},
		},
		Agent: Agent{
			Backend:            BackendEcho,
			MaxConcurrentChats: 8,
			HistoryTurns:       20,
			HistoryChars:       16000,
			MaxFileBytes:       DefaultMaxFileBytes,
			OpenAI: OpenAI{
				Timeout:    Duration{60 * time.Second},
				MaxRetries: 3,
			},
			Exec: Exec{
				Command:        []string{},
				Timeout:        Duration{60 * time.Second},
				MaxOutputBytes: 64 << 10,
				Output:         ExecOutputText,
				Input:          ExecInputText,
			},
		},
	}
}

// Load reads and validates the file at path ("" means DefaultPath()). A
// missing file is not an error: it yields Default() with Source "". Any other
// problem (unreadable file, syntax, unknown key, bad value) is returned, as an
// *Error where it concerns the content.
func Load(path string) (*Config, error) {
	if path == "" {
		path = DefaultPath()
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	// Relative paths inside the file resolve against its directory, so
	// record where it is independently of the working directory.
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return Parse(data, path)
}

// Parse decodes data on top of Default() and validates the result. name is
// used in error messages and recorded as Config.Source.
func Parse(data []byte, name string) (*Config, error) {
	c := Default()
	c.Source = name
	// Positions are gathered by a separate, best-effort pass: the decoder
	// only reports positions for its own errors, and Validate needs them
	// for impossible values that decode fine.
	lines, kinds := scanKeys(data)
	c.lines = lines

	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, decodeError(err, name, lines, kinds)
	}
	// The decoder hands any scalar's text to Duration.UnmarshalText, so
	// `timeout = 0` decodes; insist on the string form all the same.
	if err := kindError(name, lines, kinds); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Marshal encodes the configuration as TOML with short comments, for
// `hermes setup`. Every key is written, so the result documents the
// defaults; Parse(Marshal(c)) yields an equal configuration.
func (c *Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}
