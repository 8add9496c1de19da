package fakebot

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testTimeout bounds every wait in the tests; it is a safety net against
// hangs, not a timing assertion.
const testTimeout = 10 * time.Second

func newTestServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.PollTimeUnit == 0 {
		// Long polls in tests must not take real seconds to time out.
		opts.PollTimeUnit = time.Millisecond
	}
	return NewServer(t, opts)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// reply is a raw Bot API answer.
type reply struct {
	Status int
	Body   string
}

// envelope decodes the Bot API envelope of r.
func (r reply) envelope(t *testing.T) (ok bool, result json.RawMessage, code int, desc string, retryAfter int) {
	t.Helper()
	var env struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		ErrorCode   int             `json:"error_code"`
		Description string          `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Body), &env), "body: %s", r.Body)
	return env.OK, env.Result, env.ErrorCode, env.Description, env.Parameters.RetryAfter
}

// result decodes a successful answer's result into v.
func (r reply) result(t *testing.T, v any) {
	t.Helper()
	ok, res, _, desc, _ := r.envelope(t)
	require.True(t, ok, "want ok answer, got %d %s", r.Status, desc)
	require.Equal(t, http.StatusOK, r.Status)
	require.NoError(t, json.Unmarshal(res, v))
}

// requireError asserts an error answer with the exact Telegram body.
func (r reply) requireError(t *testing.T, code int, desc string) {
	t.Helper()
	require.Equal(t, code, r.Status, "body: %s", r.Body)
	body, err := marshal(apiResponse{OK: false, ErrorCode: code, Description: desc})
	require.NoError(t, err)
	require.JSONEq(t, string(body), r.Body)
}

// call POSTs form-encoded parameters, as telegram-bot-api v5 does.
func call(t *testing.T, s *Server, method string, form url.Values) reply {
	t.Helper()
	r, err := rawCall(context.Background(), s, s.Token(), method, form)
	require.NoError(t, err)
	return r
}

// rawCall is call without assertions, for goroutines and for calls that are
// expected to fail at the transport level.
func rawCall(ctx context.Context, s *Server, token, method string, form url.Values) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/bot"+token+"/"+method, strings.NewReader(form.Encode()))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return rawDo(req)
}

func rawDo(req *http.Request) (reply, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Body: string(body)}, err
}

// asyncCall runs rawCall in a goroutine; the answer arrives on the channel.
func asyncCall(ctx context.Context, s *Server, method string, form url.Values) <-chan reply {
	ch := make(chan reply, 1)
	go func() {
		r, err := rawCall(ctx, s, s.Token(), method, form)
		if err != nil {
			r = reply{Status: -1, Body: err.Error()}
		}
		ch <- r
	}()
	return ch
}

// callJSON POSTs a JSON body.
func callJSON(t *testing.T, s *Server, method string, body any) reply {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/bot"+s.Token()+"/"+method, strings.NewReader(string(b)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	r, err := rawDo(req)
	require.NoError(t, err)
	return r
}

type testUpdate struct {
	UpdateID int      `json:"update_id"`
	Message  *Message `json:"message"`
}

func getUpdates(t *testing.T, s *Server, form url.Values) []testUpdate {
	t.Helper()
	var ups []testUpdate
	call(t, s, "getUpdates", form).result(t, &ups)
	return ups
}

func updateIDs(ups []testUpdate) []int {
	ids := []int{}
	for _, u := range ups {
		ids = append(ids, u.UpdateID)
	}
	return ids
}

func injectN(s *Server, chatID int64, n int) []int {
	var ids []int
	for i := range n {
		ids = append(ids, s.InjectMessage(UserMessage{UserID: chatID, Text: "msg " + string(rune('a'+i%26))}))
	}
	return ids
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}
