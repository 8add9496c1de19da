package telegram

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
)

func TestNewClientMakesNoNetworkCall(t *testing.T) {
	srv := newFake(t, fakebot.Options{})
	_, err := NewClient(srv.Token(), srv.URL(), ClientOptions{})
	require.NoError(t, err)
	require.Zero(t, srv.Stats().Calls["getMe"])

	_, err = NewClient("", DefaultAPIURL, ClientOptions{})
	require.Error(t, err)
	_, err = NewClient("123:a/b", DefaultAPIURL, ClientOptions{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "123:a/b")
	_, err = NewClient(srv.Token(), "ftp://x", ClientOptions{})
	require.Error(t, err)
}

func TestClientGetMe(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{BotUsername: "hermes_test_bot"})
	c := newTestClient(t, srv, ClientOptions{})
	me, err := c.GetMe(ctx)
	require.NoError(t, err)
	require.Equal(t, "hermes_test_bot", me.UserName)
	require.Equal(t, int64(123456789), me.ID)
	require.True(t, me.IsBot)
}

func TestClientUnauthorized(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	wrong := "111111111:AAWrongTokenWrongTokenWrongToken-xyz"
	c, err := NewClient(wrong, srv.URL(), ClientOptions{})
	require.NoError(t, err)
	_, err = c.GetMe(ctx)
	require.True(t, IsUnauthorized(err), "%v", err)
	require.False(t, IsConflict(err))
	require.Equal(t, "telegram: getMe: 401 Unauthorized", err.Error())

	// A network error is not a rejected token.
	c, err = NewClient(wrong, "http://"+closedAddr(t), ClientOptions{})
	require.NoError(t, err)
	_, err = c.GetMe(ctx)
	require.Error(t, err)
	require.False(t, IsUnauthorized(err))
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// requireRedacted asserts that token appears nowhere in err: not in its
// text, not in any error of its chain, not in %+v or %#v renderings of
// the chain's values.
func requireRedacted(t *testing.T, err error, token string) {
	t.Helper()
	require.Error(t, err)
	queue := []error{err}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		for _, text := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			require.NotContains(t, text, token)
			require.NotContains(t, text, url.PathEscape(token))
			require.NotContains(t, text, url.QueryEscape(token))
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if inner := u.Unwrap(); inner != nil {
				queue = append(queue, inner)
			}
		case interface{ Unwrap() []error }:
			queue = append(queue, u.Unwrap()...)
		}
	}
}

func TestClientErrorsNeverContainToken(t *testing.T) {
	token := fakebot.DefaultToken
	cases := []struct {
		name  string
		setup func(t *testing.T) (*Client, context.Context)
		check func(t *testing.T, err error)
	}{
		{"connection refused", func(t *testing.T) (*Client, context.Context) {
			c, err := NewClient(token, "http://"+closedAddr(t), ClientOptions{})
			require.NoError(t, err)
			return c, testContext(t)
		}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, syscall.ECONNREFUSED)
			var ue *url.Error
			require.ErrorAs(t, err, &ue)
			require.Contains(t, ue.URL, "/bot<redacted>/getMe")
		}},
		{"timeout", func(t *testing.T) (*Client, context.Context) {
			srv := newFake(t, fakebot.Options{})
			srv.SlowResponses("getMe", 1, time.Minute)
			return newTestClient(t, srv, ClientOptions{RequestTimeout: 50 * time.Millisecond}), testContext(t)
		}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			var ne net.Error
			require.ErrorAs(t, err, &ne)
			require.True(t, ne.Timeout())
		}},
		{"cancelled", func(t *testing.T) (*Client, context.Context) {
			srv := newFake(t, fakebot.Options{})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return newTestClient(t, srv, ClientOptions{}), ctx
		}, func(t *testing.T, err error) {
			require.ErrorIs(t, err, context.Canceled)
		}},
		{"401", func(t *testing.T) (*Client, context.Context) {
			srv := newFake(t, fakebot.Options{})
			c := newTestClient(t, srv, ClientOptions{})
			srv.RevokeToken("987654321:AAnotherTokenFromBotFather-0123456789")
			return c, testContext(t)
		}, func(t *testing.T, err error) {
			require.True(t, IsUnauthorized(err))
		}},
		{"500", func(t *testing.T) (*Client, context.Context) {
			srv := newFake(t, fakebot.Options{})
			srv.ServerErrors("getMe", 1, 500)
			return newTestClient(t, srv, ClientOptions{}), testContext(t)
		}, func(t *testing.T, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, 500, ae.Code)
			require.Equal(t, "Internal Server Error", ae.Description)
		}},
		{"502 html", func(t *testing.T) (*Client, context.Context) {
			srv := newFake(t, fakebot.Options{})
			srv.AddFault(fakebot.Fault{Kind: fakebot.FaultServerError, Method: "getMe", Status: 502, HTML: true})
			return newTestClient(t, srv, ClientOptions{}), testContext(t)
		}, func(t *testing.T, err error) {
			require.Equal(t, "telegram: getMe: 502 Bad Gateway", err.Error())
		}},
		{"dropped connection", func(t *testing.T) (*Client, context.Context) {
			srv := newFake(t, fakebot.Options{})
			srv.DropConnections("getMe", 1)
			return newTestClient(t, srv, ClientOptions{}), testContext(t)
		}, func(t *testing.T, err error) {
			var ue *url.Error
			require.ErrorAs(t, err, &ue)
			require.True(t, temporary(err))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, ctx := tc.setup(t)
			_, err := c.GetMe(ctx)
			requireRedacted(t, err, token)
			require.Contains(t, err.Error(), "getMe")
			tc.check(t, err)
		})
	}
}

func TestRedact(t *testing.T) {
	token := fakebot.DefaultToken
	c, err := NewClient(token, DefaultAPIURL, ClientOptions{})
	require.NoError(t, err)
	in := "a " + token + " b " + url.PathEscape(token) + " c " + url.QueryEscape(token)
	out := c.Redact(in)
	require.NotContains(t, out, token)
	require.NotContains(t, out, url.QueryEscape(token))
	require.Equal(t, 3, strings.Count(out, "<redacted>"))

	// An error of unknown type that quotes the token is replaced, but
	// errors.Is still sees through it.
	e := c.sanitize(fmt.Errorf("boom %s: %w", token, context.Canceled))
	requireRedacted(t, e, token)
	require.ErrorIs(t, e, context.Canceled)
	require.Nil(t, errors.Unwrap(e))
	// An APIError description quoting the token is rewritten.
	e = c.sanitize(&APIError{Code: 400, Description: "Bad Request: " + token})
	requireRedacted(t, e, token)
	require.Equal(t, 400, apiCode(e))
}

func TestClientWebhookMethods(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	srv.InjectMessage(fakebot.UserMessage{UserID: 42, Text: "sent while down"})

	info, err := c.WebhookInfo(ctx)
	require.NoError(t, err)
	require.Empty(t, info.URL)

	hook := "http://" + closedAddr(t) + "/telegram"
	require.NoError(t, c.SetWebhook(ctx, hook, "s3cret_-X", []string{"message"}))
	info, err = c.WebhookInfo(ctx)
	require.NoError(t, err)
	require.Equal(t, hook, info.URL)
	require.Equal(t, 1, info.MaxConnections)
	require.Equal(t, []string{"message"}, info.AllowedUpdates)
	require.Equal(t, 1, info.PendingUpdateCount, "pending updates are kept")

	require.NoError(t, c.DeleteWebhook(ctx))
	info, err = c.WebhookInfo(ctx)
	require.NoError(t, err)
	require.Empty(t, info.URL)
	require.Equal(t, 1, info.PendingUpdateCount, "pending updates are kept")

	// A secret Telegram would refuse is refused here, without a call.
	calls := srv.Calls("setWebhook")
	err = c.SetWebhook(ctx, hook, "not allowed!", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "not allowed!")
	require.Equal(t, calls, srv.Calls("setWebhook"))
}

func TestClientCall(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{})
	c := newTestClient(t, srv, ClientOptions{})
	require.NoError(t, c.Call(ctx, "setMyCommands", url.Values{"commands": {`[{"command":"status","description":"Show status"}]`}}, nil))
	var cmds []struct{ Command string }
	require.NoError(t, c.Call(ctx, "getMyCommands", nil, &cmds))
	require.Equal(t, "status", cmds[0].Command)

	err := c.Call(ctx, "noSuchMethod", nil, nil)
	require.Equal(t, 404, apiCode(err))
}

// A long poll may outlast RequestTimeout: its deadline is RequestTimeout
// plus the poll timeout.
func TestClientLongPollDeadline(t *testing.T) {
	ctx := testContext(t)
	srv := newFake(t, fakebot.Options{PollTimeUnit: 300 * time.Millisecond})
	c := newTestClient(t, srv, ClientOptions{RequestTimeout: 100 * time.Millisecond})
	ups, err := c.getUpdates(ctx, 0, 100, time.Second, nil)
	require.NoError(t, err)
	require.Empty(t, ups)
}
