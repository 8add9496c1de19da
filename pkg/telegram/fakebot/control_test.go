package fakebot

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func control(t *testing.T, s *Server, method, path, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func TestControlInjectSendWait(t *testing.T) {
	s := newTestServer(t, Options{})
	var inj struct {
		UpdateID int `json:"update_id"`
	}
	control(t, s, "POST", "/_fake/inject", `{"chat_id":42,"user_id":42,"first_name":"Ann","text":"/start"}`).result(t, &inj)
	require.Equal(t, []int{inj.UpdateID}, updateIDs(getUpdates(t, s, nil)))

	ctx := testContext(t)
	waited := make(chan reply, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL()+"/_fake/wait?chat_id=42&count=2&timeout=10s", nil)
		r, err := rawDo(req)
		if err != nil {
			r = reply{Status: -1, Body: err.Error()}
		}
		waited <- r
	}()
	call(t, s, "sendMessage", vals("chat_id", "42", "text", "one"))
	call(t, s, "sendMessage", vals("chat_id", "42", "text", "two"))
	var msgs []SentMessage
	(<-waited).result(t, &msgs)
	require.Len(t, msgs, 2)
	require.Equal(t, "two", msgs[1].Text)

	control(t, s, "GET", "/_fake/sent?chat_id=42", "").result(t, &msgs)
	require.Len(t, msgs, 2)
	control(t, s, "GET", "/_fake/sent", "").result(t, &msgs)
	require.Len(t, msgs, 2)

	// A wait that cannot be satisfied answers 408.
	r := control(t, s, "POST", "/_fake/wait?chat_id=42&count=3&timeout=1ms", "")
	require.Equal(t, http.StatusRequestTimeout, r.Status)

	call(t, s, "sendChatAction", vals("chat_id", "42", "action", "typing"))
	var acts []ChatAction
	control(t, s, "GET", "/_fake/actions?chat_id=42", "").result(t, &acts)
	require.Equal(t, "typing", acts[0].Action)
}

func TestControlFaultsTokenFloodStats(t *testing.T) {
	s := newTestServer(t, Options{})
	control(t, s, "POST", "/_fake/chat", `{"id":-5,"type":"group","title":"g"}`).result(t, new(bool))

	control(t, s, "POST", "/_fake/fault", `{"kind":"429","method":"sendMessage","retry_after":4}`).result(t, new(bool))
	r := call(t, s, "sendMessage", vals("chat_id", "-5", "text", "x"))
	require.Equal(t, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 4","parameters":{"retry_after":4}}`, r.Body)

	control(t, s, "POST", "/_fake/fault", `{"kind":"delay","count":1,"delay":"1ms"}`).result(t, new(bool))
	control(t, s, "POST", "/_fake/fault", `{"kind":"server_error","count":3,"status":502}`).result(t, new(bool))
	call(t, s, "getMe", nil).result(t, new(User)) // the delay fault: slow but fine
	require.Equal(t, 502, call(t, s, "getMe", nil).Status)
	control(t, s, "DELETE", "/_fake/fault", "").result(t, new(bool))
	require.Equal(t, 200, call(t, s, "getMe", nil).Status)

	require.Equal(t, 400, control(t, s, "POST", "/_fake/fault", `{"kind":"explode"}`).Status)

	control(t, s, "POST", "/_fake/flood", `{"enabled":true,"per_group":{"burst":1,"every":"1h"}}`).result(t, new(bool))
	require.Equal(t, 200, call(t, s, "sendMessage", vals("chat_id", "-5", "text", "a")).Status)
	require.Equal(t, 429, call(t, s, "sendMessage", vals("chat_id", "-5", "text", "b")).Status)
	control(t, s, "POST", "/_fake/flood", `{"enabled":false}`).result(t, new(bool))
	require.Equal(t, 200, call(t, s, "sendMessage", vals("chat_id", "-5", "text", "c")).Status)

	old := s.Token()
	control(t, s, "POST", "/_fake/token", `{"token":"77:fresh"}`).result(t, new(bool))
	r, err := rawCall(context.Background(), s, old, "getMe", nil)
	require.NoError(t, err)
	r.requireError(t, 401, "Unauthorized")

	var st Stats
	control(t, s, "GET", "/_fake/stats", "").result(t, &st)
	require.Equal(t, 4, st.Calls["sendMessage"])
	require.Equal(t, 1, st.Unauthorized)
	require.Equal(t, 1, st.FloodRejections)
	require.Equal(t, 2, st.SentMessages)
	require.Equal(t, 3, st.Faults) // 429, delay, one 502 (the rest were cleared)
}

func TestControlRawUpdateAndWaits(t *testing.T) {
	s := newTestServer(t, Options{})
	var inj struct {
		UpdateID int `json:"update_id"`
	}
	control(t, s, "POST", "/_fake/update", `{"callback_query":{"id":"9","from":{"id":1,"is_bot":false,"first_name":"A"},"chat_instance":"c","data":"yes"}}`).result(t, &inj)
	var ups []map[string]json.RawMessage
	call(t, s, "getUpdates", nil).result(t, &ups)
	require.Contains(t, ups[0], "callback_query")

	call(t, s, "getUpdates", vals("offset", "-1"))
	control(t, s, "POST", "/_fake/wait?method=getUpdates&count=2&timeout=1s", "").result(t, new(int))
	call(t, s, "getUpdates", vals("offset", "999999999"))
	control(t, s, "POST", "/_fake/wait?confirmed="+jsonInt(inj.UpdateID), "").result(t, new(bool))

	require.Equal(t, 400, control(t, s, "POST", "/_fake/update", `not json`).Status)
	require.Equal(t, 400, control(t, s, "POST", "/_fake/wait", "").Status)
	require.Equal(t, 404, control(t, s, "GET", "/_fake/nope", "").Status)
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestControlTimedFaults(t *testing.T) {
	clock := &manualClock{now: time.Unix(1_700_000_000, 0)}
	s := newTestServer(t, Options{Now: clock.Now, PollTimeUnit: testTimeout})
	control(t, s, "POST", "/_fake/fault", `{"kind":"409","duration":"5s"}`).result(t, new(bool))
	call(t, s, "getUpdates", vals("timeout", "0")).requireError(t, 409, DescPollConflict)
	clock.Advance(5 * time.Second)
	require.Equal(t, 200, call(t, s, "getUpdates", vals("timeout", "0")).Status)

	control(t, s, "POST", "/_fake/fault", `{"kind":"no_hold","method":"getUpdates","duration":"1s"}`).result(t, new(bool))
	require.Equal(t, `{"ok":true,"result":[]}`, call(t, s, "getUpdates", vals("timeout", "50")).Body)
	require.Equal(t, 400, control(t, s, "POST", "/_fake/fault", `{"kind":"409","duration":"soon"}`).Status)
}
