package journal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	sdjournal "github.com/coreos/go-systemd/v22/journal"
	"github.com/stretchr/testify/require"
)

func TestFieldNames(t *testing.T) {
	for in, want := range map[string]string{
		"update_id":    "UPDATE_ID",
		"chat-id":      "CHAT_ID",
		"HERMES_EVENT": "HERMES_EVENT",
		"_secret":      "SECRET",
		"9lives":       "LIVES",
		"message":      "ATTR_MESSAGE",
		"priority":     "ATTR_PRIORITY",
		"ümlaut":       "MLAUT",
		"":             "",
		"__":           "",
	} {
		require.Equal(t, want, FieldName(in), in)
	}
}

type sent struct {
	msg  string
	pri  sdjournal.Priority
	vars map[string]string
}

func TestHandlerMapsLevelsAndAttributes(t *testing.T) {
	var got []sent
	h := NewHandler(&bytes.Buffer{}, slog.LevelDebug)
	h.send = func(msg string, p sdjournal.Priority, vars map[string]string) error {
		got = append(got, sent{msg, p, vars})
		return nil
	}
	log := slog.New(h).With("component", "router").WithGroup("tg")
	log.Error("delivery failed", "chat_id", int64(42), "err", errors.New("chat not found"), slog.Group("retry", "n", 3))
	log.Warn("w")
	log.Info("i")
	log.Debug("d")

	require.Len(t, got, 4)
	require.Equal(t, `delivery failed component=router tg_chat_id=42 tg_err="chat not found" tg_retry.n=3`, got[0].msg)
	require.Equal(t, sdjournal.PriErr, got[0].pri)
	require.Equal(t, "router", got[0].vars["COMPONENT"])
	require.Equal(t, "42", got[0].vars["TG_CHAT_ID"])
	require.Equal(t, "chat not found", got[0].vars["TG_ERR"])
	require.Equal(t, "3", got[0].vars["TG_RETRY_N"])
	require.NotEmpty(t, got[0].vars["SYSLOG_IDENTIFIER"])
	require.Equal(t, []sdjournal.Priority{sdjournal.PriErr, sdjournal.PriWarning, sdjournal.PriInfo, sdjournal.PriDebug},
		[]sdjournal.Priority{got[0].pri, got[1].pri, got[2].pri, got[3].pri})
}

func TestHandlerFallsBackToTextWhenJournaldIsGone(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&buf, slog.LevelInfo)
	h.send = func(string, sdjournal.Priority, map[string]string) error { return errors.New("no journald") }
	require.NoError(t, h.Handle(context.Background(), slog.NewRecord(timeZero, slog.LevelInfo, "still logged", 0)))
	require.Contains(t, buf.String(), "still logged")
}

var timeZero = time.Time{}
