// Package agent holds what answers the messages: the backends behind one
// interface, Agent.
//
//   - echo (the embedded default) answers "echo: <text>", or "echo #N: <text>"
//     when the chat has history, N being the turn number within the history
//     it was given. It needs no account, so a fresh install answers at once.
//   - openai talks to any OpenAI-compatible POST {base_url}/chat/completions
//     (OpenAI, llama.cpp, vLLM, Ollama, ...), with retries on 429, 5xx and
//     network errors.
//   - exec runs a local command once per message: the message on stdin, the
//     reply on stdout.
//
// openai and exec also stream (Streamer): the answer in parts as it is
// written, so the chat can show it growing.
//
// Every failure of Reply is an *Error: Error() is the whole story for the
// journal, User a short honest sentence for the person, which UserMessage
// picks out of any error.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/hermes-gateway/hermes/pkg/config"
)

// Roles of a Message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one message of a conversation, as the OpenAI chat API spells
// it. Role is "system", "user" or "assistant".
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Turn is what the agent is asked to answer: the person's new message and
// the earlier turns of the chat.
type Turn struct {
	Platform string // "telegram"
	// ChatID and UserID are the platform's ids as text ("-1001234" on
	// Telegram, "!room:example.org" and "@ada:example.org" on Matrix).
	ChatID   string
	UserID   string
	UserName string
	// Text is the person's new message.
	Text string
	// History holds the earlier turns of this chat, oldest first, already
	// trimmed by the caller with Trim. It does not include Text.
	History []Message
	// Files are the files the person sent with Text (its caption then),
	// fetched for this turn: see InFile.
	Files []InFile
}

// Agent answers messages. Reply may be called concurrently, for different
// chats, from many goroutines.
type Agent interface {
	// Name says which backend answers, for status output and logs, e.g.
	// "echo", "openai (gpt-4o-mini at https://api.openai.com/v1)" or
	// "exec (/usr/local/bin/my-agent)". It holds no secret.
	Name() string
	// Reply returns the answer to t.Text. Any error is an *Error; give the
	// person UserMessage(err) and log err itself.
	Reply(ctx context.Context, t Turn) (string, error)
}

// Texts sent to the person, see Error.User and UserMessage.
const (
	UserGeneric   = "⚠️ The agent failed to answer; the gateway's journal has the details."
	UserTimeout   = "⚠️ The agent took too long to answer."
	UserCanceled  = "⚠️ The gateway stopped before the agent answered; please send your message again."
	UserEmpty     = "⚠️ The agent returned an empty answer."
	UserRateLimit = "⚠️ The agent is rate-limited; try again in a minute."
)

// Error is the error of a failed Reply. Error() is the full detail for the
// journal (status, body excerpt, stderr; never a secret); User is the short,
// honest text to send the person.
type Error struct {
	User string
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e == nil:
		return "<nil>"
	case e.Err != nil:
		return e.Err.Error()
	case e.User != "":
		return "agent: " + e.User
	default:
		return "agent: failed"
	}
}

// Unwrap returns Err, so that errors.Is(err, context.DeadlineExceeded) and
// the like see through an *Error.
func (e *Error) Unwrap() error { return e.Err }

// UserMessage returns the text to send the person for err, an error returned
// by Reply: the User text of an *Error in its chain; otherwise UserTimeout
// when a deadline ran out, UserCanceled when the context was canceled (the
// gateway is stopping), and UserGeneric for anything else. It returns "" for
// a nil err.
func UserMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.User != "" {
		return e.User
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return UserTimeout
	case errors.Is(err, context.Canceled):
		return UserCanceled
	}
	return UserGeneric
}

// ctxError is the *Error for a Reply whose context (the caller's) ended.
func ctxError(backend string, err error) *Error {
	user := UserCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		user = UserTimeout
	}
	return &Error{User: user, Err: fmt.Errorf("%s: %w", backend, err)}
}

// New returns the backend cfg.Backend names. resolve turns a path from the
// configuration file into a usable one ((*config.Config).ResolvePath); nil
// leaves paths as they are. log receives retries and warnings; nil discards
// them. Errors name the key to fix and how.
func New(cfg config.Agent, resolve func(string) string, log *slog.Logger) (Agent, error) {
	if resolve == nil {
		resolve = func(p string) string { return p }
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch cfg.Backend {
	case config.BackendEcho, "":
		return Echo{}, nil
	case config.BackendOpenAI:
		return newOpenAI(cfg.OpenAI, resolve, log)
	case config.BackendExec:
		return newExec(cfg.Exec, resolve, log)
	default:
		return nil, fmt.Errorf("agent.backend: unknown backend %q; set agent.backend = %q, %q or %q",
			cfg.Backend, config.BackendEcho, config.BackendOpenAI, config.BackendExec)
	}
}
