package store

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// copyFixture copies a store written by an earlier release (testdata/vN:
// gateway.db and sent.log, as that release left them) to a temporary
// state directory.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{FileName, sentLogName} {
		b, err := os.ReadFile(filepath.Join("testdata", name, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o600))
	}
	return filepath.Join(dir, FileName)
}

// testdata/v1 was written by the release before schema versions (commit
// c54ea6a) through its own Store API: Telegram updates 9, 10, 11, 100 pending
// (10 with one attempt), 101 done, 102 dropped, 103 answered but only in
// the sent log; a local message 1 done with its replies; a conversation,
// an approval, a pairing code, a restart notice; offsets telegram 104,
// local 2.
func TestASchema1StoreOpensWithEverythingKept(t *testing.T) {
	path := copyFixture(t, "v1")
	s, err := Open(path)
	require.NoError(t, err)
	require.Equal(t, 1, s.Migrated)
	require.Equal(t, 1, s.Recovered, "the sent log's line finishes update 103")

	items, skipped, err := s.Unfinished()
	require.NoError(t, err)
	require.Empty(t, skipped)
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	require.Equal(t, []string{"9", "10", "11", "100"}, ids, "pending, in the order they arrived (numeric, not text, order)")
	require.Equal(t, "111", items[0].Chat)
	require.Equal(t, "-100123", items[3].Chat)
	require.Equal(t, 1, items[1].Attempts)
	var m struct {
		Text   string `json:"text"`
		ChatID string `json:"chat_id"`
	}
	require.NoError(t, json.Unmarshal(items[0].Msg, &m), "ids in messages are strings from schema 3 on")
	require.Equal(t, "nine", m.Text)
	require.Equal(t, "111", m.ChatID)

	for id, want := range map[string]string{"101": Done, "102": Dropped, "103": Done} {
		it, err := s.Get("telegram", id)
		require.NoError(t, err)
		require.NotNil(t, it, id)
		require.Equal(t, want, it.State, id)
	}
	it, err := s.Get("local", "1")
	require.NoError(t, err)
	require.Equal(t, Done, it.State)

	off, err := s.Offset("telegram")
	require.NoError(t, err)
	require.EqualValues(t, 104, off)
	off, err = s.Offset("local")
	require.NoError(t, err)
	require.EqualValues(t, 2, off)

	for _, c := range []struct{ coll, key string }{
		{"history", "telegram/111"}, {"approved", "telegram/333"}, {"pairing", "JKLMNPQR"},
		{"notices", "restart"}, {"local_replies", "1"},
	} {
		var v any
		ok, err := s.Load(c.coll, c.key, &v)
		require.NoError(t, err)
		require.True(t, ok, "%s/%s kept", c.coll, c.key)
	}
	last, err := s.Meta("last_restart")
	require.NoError(t, err)
	require.NotEmpty(t, last)

	// New messages arrive after the migrated ones; a redelivered old one
	// is still recognised.
	added, err := s.Deliver("telegram", []Item{{ID: "9"}, {ID: "104", Chat: "111"}}, "105")
	require.NoError(t, err)
	require.Len(t, added, 1)
	items, _, _ = s.Unfinished()
	require.Equal(t, "104", items[len(items)-1].ID)
	// A release before schema 2, rolled back to, still finds its offset.
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		require.EqualValues(t, 105, binary.BigEndian.Uint64(tx.Bucket(bucketOffsetsV1).Get([]byte("telegram"))))
		return nil
	}))

	// Once: the next Open finds the current schema.
	require.NoError(t, s.Close())
	s2, err := Open(path)
	require.NoError(t, err)
	defer s2.Close()
	require.Zero(t, s2.Migrated)
	v, err := s2.Meta(metaSchema)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(Schema), string(v))
}

func TestANewStoreIsCurrentAndANewerOneIsRefused(t *testing.T) {
	s, path := openTemp(t)
	require.Zero(t, s.Migrated)
	require.NoError(t, s.SetMeta(metaSchema, []byte("99")))
	require.NoError(t, s.Close())
	_, err := Open(path)
	require.ErrorContains(t, err, "newer hermes-gateway")
}

// testdata/v2 was written by the release before schema 3 (commit 9bf1ca0)
// through its own router and store: a stranger 333 approved (chat 333),
// one pairing code pending for 444, a conversation of chat 111 whose last
// turn is update 9, a restart notice for chat -100123 quoting message 55;
// Telegram updates 60 (chat 111) and 61 (chat -100123) pending, 62 done;
// the offset 63. Every id in those records is a JSON number.
func TestASchema2StoreHasItsIdsAsStringsOnce(t *testing.T) {
	path := copyFixture(t, "v2")
	s, err := Open(path)
	require.NoError(t, err)
	require.Equal(t, 2, s.Migrated)

	items, skipped, err := s.Unfinished()
	require.NoError(t, err)
	require.Empty(t, skipped)
	require.Len(t, items, 2)
	type ids struct {
		ID        string `json:"id"`
		ChatID    string `json:"chat_id"`
		UserID    string `json:"user_id"`
		MessageID string `json:"message_id"`
		LastID    string `json:"last_id"`
		Text      string `json:"text"`
		Code      string `json:"code"`
		Command   string `json:"command"`
	}
	var m ids
	require.NoError(t, json.Unmarshal(items[0].Msg, &m))
	require.Equal(t, ids{ID: "60", ChatID: "111", UserID: "111", MessageID: "7", Text: "pending one"}, m)
	m = ids{}
	require.NoError(t, json.Unmarshal(items[1].Msg, &m))
	require.Equal(t, ids{ID: "61", ChatID: "-100123", UserID: "111", MessageID: "8", Text: "/restart", Command: "restart"}, m, "the other fields are kept")
	it, err := s.Get("telegram", "62")
	require.NoError(t, err)
	require.Equal(t, Done, it.State)
	off, err := s.Offset("telegram")
	require.NoError(t, err)
	require.EqualValues(t, 63, off)

	load := func(coll, key string) ids {
		t.Helper()
		var v ids
		ok, err := s.Load(coll, key, &v)
		require.NoError(t, err)
		require.True(t, ok, "%s/%s kept", coll, key)
		return v
	}
	require.Equal(t, ids{UserID: "333"}, func() ids { v := load("approved", "telegram/333"); v.Code = ""; return v }())
	require.Equal(t, ids{LastID: "9"}, load("history", "telegram/111"))
	require.Equal(t, ids{ChatID: "-100123", MessageID: "55"}, load("notices", "restart"))
	var pending []ids
	require.NoError(t, s.Each("pairing", func(_ string, raw []byte) error {
		var v ids
		require.NoError(t, json.Unmarshal(raw, &v))
		v.Code = ""
		pending = append(pending, v)
		return nil
	}))
	require.Equal(t, []ids{{UserID: "444", ChatID: "444"}}, pending)

	// Once: the next Open finds nothing to migrate.
	require.NoError(t, s.Close())
	s2, err := Open(path)
	require.NoError(t, err)
	defer s2.Close()
	require.Zero(t, s2.Migrated)
}

func TestIdsAsStrings(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"id":9,"chat_id":-100123,"user_id":42,"text":"7"}`, `{"chat_id":"-100123","id":"9","text":"7","user_id":"42"}`},
		{`{"id":"$ev","chat_id":"!r:x"}`, ""}, // already strings: unchanged
		{`{"pid":12,"turns":3}`, ""},          // not ids: unchanged
		{`{"id":1.5}`, ""},                    // not an integer: left for its reader to report
		{`["a reply","another"]`, ""},         // not an object (local replies)
		{`not json`, ""},                      // unreadable: left as it was
		{`{"last_id":9,"messages":[{"id":3}]}`, `{"last_id":"9","messages":[{"id":3}]}`}, // top level only
	} {
		got, ok := idsAsStrings([]byte(c.in))
		if c.want == "" {
			require.False(t, ok, c.in)
			continue
		}
		require.True(t, ok, c.in)
		require.JSONEq(t, c.want, string(got), c.in)
	}
}
