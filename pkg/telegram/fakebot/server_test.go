package fakebot

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGetMe(t *testing.T) {
	s := newTestServer(t, Options{BotUsername: "hermes_test_bot", Token: "4242:secret"})
	var me struct {
		ID       int64  `json:"id"`
		IsBot    bool   `json:"is_bot"`
		Username string `json:"username"`
	}
	call(t, s, "getMe", nil).result(t, &me)
	require.Equal(t, int64(4242), me.ID, "bot id comes from the token prefix")
	require.True(t, me.IsBot)
	require.Equal(t, "hermes_test_bot", me.Username)
}

func TestAuthAndRouting(t *testing.T) {
	s := newTestServer(t, Options{})
	tests := []struct {
		name   string
		path   string
		status int
		desc   string
	}{
		{"wrong token", "/bot1:wrong/getMe", 401, "Unauthorized"},
		{"unknown method", "/bot" + s.Token() + "/fooBar", 404, "Not Found"},
		{"no method", "/bot" + s.Token() + "/", 404, "Not Found"},
		{"not a bot path", "/getMe", 404, "Not Found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, s.URL()+tc.path, nil)
			require.NoError(t, err)
			do(t, req).requireError(t, tc.status, tc.desc)
		})
	}
	require.Equal(t, 1, s.Stats().Unauthorized)
}

func TestMethodNamesAreCaseInsensitive(t *testing.T) {
	s := newTestServer(t, Options{})
	for _, m := range []string{"getMe", "getme", "GETME", "GetMe"} {
		var me User
		call(t, s, m, nil).result(t, &me)
		require.True(t, me.IsBot)
	}
	require.Equal(t, 4, s.Calls("getMe"))
}

func TestParameterEncodings(t *testing.T) {
	s := newTestServer(t, Options{})
	s.InjectMessage(UserMessage{UserID: 7, Text: "hi"})

	t.Run("query string GET", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, s.URL()+"/bot"+s.Token()+"/sendMessage?"+vals("chat_id", "7", "text", "q").Encode(), nil)
		require.NoError(t, err)
		var m Message
		do(t, req).result(t, &m)
		require.Equal(t, "q", m.Text)
	})
	t.Run("form", func(t *testing.T) {
		var m Message
		call(t, s, "sendMessage", vals("chat_id", "7", "text", "f")).result(t, &m)
		require.Equal(t, "f", m.Text)
	})
	t.Run("json", func(t *testing.T) {
		var m Message
		callJSON(t, s, "sendMessage", map[string]any{"chat_id": 7, "text": "j", "entities": nil}).result(t, &m)
		require.Equal(t, "j", m.Text)
	})
	t.Run("multipart", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		require.NoError(t, mw.WriteField("chat_id", "7"))
		require.NoError(t, mw.WriteField("text", "m"))
		require.NoError(t, mw.Close())
		req, err := http.NewRequest(http.MethodPost, s.URL()+"/bot"+s.Token()+"/sendMessage", &buf)
		require.NoError(t, err)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		var m Message
		do(t, req).result(t, &m)
		require.Equal(t, "m", m.Text)
	})
	texts := []string{}
	for _, m := range s.Sent(7) {
		texts = append(texts, m.Text)
	}
	require.Equal(t, []string{"q", "f", "j", "m"}, texts)
}

func TestHandlerWithoutListener(t *testing.T) {
	s := New(Options{})
	t.Cleanup(s.Close)
	req := httptest.NewRequest(http.MethodGet, "/bot"+s.Token()+"/getMe", nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"is_bot":true`)
}
