package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/config"
)

func TestUserMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"an Error's User text", &Error{User: "⚠️ x", Err: errors.New("detail")}, "⚠️ x"},
		{"a wrapped Error", fmt.Errorf("gateway: %w", &Error{User: "⚠️ y", Err: errors.New("detail")}), "⚠️ y"},
		{"an Error without User text, deadline", &Error{Err: fmt.Errorf("x: %w", context.DeadlineExceeded)}, UserTimeout},
		{"a deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), UserTimeout},
		{"a cancellation", context.Canceled, UserCanceled},
		{"anything else", errors.New("boom"), UserGeneric},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, UserMessage(tt.err))
		})
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{User: "⚠️ short", Err: fmt.Errorf("openai: HTTP 500: %w", context.DeadlineExceeded)}
	require.Equal(t, "openai: HTTP 500: context deadline exceeded", e.Error())
	require.ErrorIs(t, e, context.DeadlineExceeded)
	require.Equal(t, "agent: ⚠️ short", (&Error{User: "⚠️ short"}).Error())
}

func TestNewBackends(t *testing.T) {
	cfg := config.Default().Agent
	ag, err := New(cfg, nil, nil)
	require.NoError(t, err)
	require.Equal(t, "echo", ag.Name())

	cfg.Backend = "gpt"
	_, err = New(cfg, nil, nil)
	require.ErrorContains(t, err, `agent.backend: unknown backend "gpt"; set agent.backend = "echo", "openai" or "exec"`)

	cfg.Backend = config.BackendOpenAI
	_, err = New(cfg, nil, nil)
	require.ErrorContains(t, err, "agent.openai.base_url: required")

	cfg.OpenAI.BaseURL = "http://127.0.0.1:1/v1"
	_, err = New(cfg, nil, nil)
	require.ErrorContains(t, err, "agent.openai.model: required")

	cfg.Backend = config.BackendExec
	_, err = New(cfg, nil, nil)
	require.ErrorContains(t, err, "agent.exec.command: required")
}

func TestEcho(t *testing.T) {
	ag, err := New(config.Default().Agent, nil, nil)
	require.NoError(t, err)
	ctx := context.Background()

	got, err := ag.Reply(ctx, Turn{Text: "hi"})
	require.NoError(t, err)
	require.Equal(t, "echo: hi", got)

	h := []Message{u("one"), a("echo: one"), u("two"), a("echo #2: two")}
	for range 3 { // deterministic
		got, err = ag.Reply(ctx, Turn{Text: "three", History: h})
		require.NoError(t, err)
		require.Equal(t, "echo #3: three", got)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = ag.Reply(cctx, Turn{Text: "late"})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, UserCanceled, UserMessage(err))
}
