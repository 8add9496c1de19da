package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hermes-gateway/hermes/pkg/agent"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/router"
	"github.com/hermes-gateway/hermes/pkg/store"
	bolt "go.etcd.io/bbolt"
)

// Figure 4: start-up, exec to READY=1. hermes-gateway runs here directly,
// not under systemd: NOTIFY_SOCKET is a unixgram socket of ours, and the
// time is from cmd.Start to the READY=1 datagram. Variants, alternating:
// a first start (no store yet), an empty store, 10,000 stored
// conversations, and the same with an inbox record per chat (what a busy
// week leaves: finished records are kept 7 days to recognise
// redeliveries). The page cache is warm after the first run, as on a
// restart.

const (
	convs         = 10000
	convTurns     = 10
	convUserChars = 100
	convBotChars  = 300
)

type startVariant struct {
	key, name string
	dir       string
	fresh     bool // remove the state directory before each start
}

func startup(e *Env, r *Results, n int, say func(string)) error {
	base := filepath.Join(e.Work, "startup")
	os.RemoveAll(base)
	if err := os.MkdirAll(base, 0o700); err != nil {
		return err
	}
	vs := []startVariant{
		{"startup.fresh", "first start (no store file)", filepath.Join(base, "fresh"), true},
		{"startup.empty", "empty store", filepath.Join(base, "empty"), false},
		{"startup.conv", thousands(convs) + " conversations", filepath.Join(base, "conv"), false},
		{"startup.inbox", thousands(convs) + " conversations + " + thousands(convs) + " inbox records", filepath.Join(base, "inbox"), false},
	}
	for _, v := range vs[1:] {
		st, err := store.Open(filepath.Join(v.dir, store.FileName))
		if err != nil {
			return err
		}
		st.Close()
	}
	t := time.Now()
	if err := populate(filepath.Join(vs[2].dir, store.FileName), false); err != nil {
		return err
	}
	if err := populate(filepath.Join(vs[3].dir, store.FileName), true); err != nil {
		return err
	}
	for _, v := range vs[2:] {
		fi, _ := os.Stat(filepath.Join(v.dir, store.FileName))
		r.SetInfo(v.key+".size", "%.0f MiB", float64(fi.Size())/(1<<20))
	}
	say(fmt.Sprintf("stores populated in %.1f s", time.Since(t).Seconds()))

	notifyPath := filepath.Join(base, "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer ln.Close()

	for i := 0; i < n; i++ {
		for j := range vs {
			v := vs[(i+j)%len(vs)]
			d, mem, err := execToReady(e, v, ln, notifyPath)
			if err != nil {
				r.Note("startup", "%s, run %d: %v", v.name, i+1, err)
				continue
			}
			r.S(v.key, v.name, "ms").AddDur(d)
			r.S(v.key+".rss", v.name+": VmRSS at READY=1", "MiB").Add(mem["VmRSS"])
			r.S(v.key+".rssfile", v.name+": of which file pages (RssFile: the executable, the mapped store)", "MiB").Add(mem["RssFile"])
		}
		if (i+1)%10 == 0 {
			say(fmt.Sprintf("start-up round %d/%d", i+1, n))
		}
	}

	// Where the start with the inbox goes: a CPU profile of the daemon's
	// own code, run in this process.
	prof, top, err := profileStartup(e.Work, vs[3].dir, n)
	if err != nil {
		r.Note("startup", "profile: %v", err)
		return nil
	}
	r.SetInfo("startup.profile", "%s", top)
	r.SetInfo("startup.profile.runs", "%d", n)
	say("start-up profile: " + prof)
	return nil
}

// execToReady starts the gateway on v's state directory and times it until
// READY=1, reads its memory then, and stops it (SIGTERM, a drain, exit 0).
func execToReady(e *Env, v startVariant, ln *net.UnixConn, notifyPath string) (time.Duration, map[string]float64, error) {
	if v.fresh {
		os.RemoveAll(v.dir)
	}
	cfg := filepath.Join(v.dir + ".toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[gateway]\nstate_dir = %q\n", v.dir)), 0o600); err != nil {
		return 0, nil, err
	}
	// Stale datagrams of an earlier run.
	buf := make([]byte, 4096)
	for {
		ln.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := ln.Read(buf); err != nil {
			break
		}
	}
	cmd := exec.Command(e.Gateway, "--config", cfg, "--control", v.dir+".sock")
	cmd.Env = append(cleanEnv(), "NOTIFY_SOCKET="+notifyPath)
	runtime.GC()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	deadline := t0.Add(30 * time.Second)
	for {
		ln.SetReadDeadline(deadline)
		k, err := ln.Read(buf)
		if err != nil {
			return 0, nil, fmt.Errorf("no READY=1 within 30 s: %w", err)
		}
		for _, line := range strings.Split(string(buf[:k]), "\n") {
			if line == "READY=1" {
				d := time.Since(t0)
				mem, err := procStatus(cmd.Process.Pid)
				return d, mem, err
			}
		}
	}
}

// cleanEnv is this process's environment without what systemd would have
// passed (sockets, watchdog, invocation).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// populate writes the conversations (and, with inbox, one finished inbox
// record per chat) in the store's own format: what router.History.Record
// puts in collection "history" (store.Put: bucket kv, nested bucket per
// collection, JSON values) and what store.Receive/Finish put in the inbox.
// One transaction instead of 20,000, so it takes seconds, not minutes; a
// read back through pkg/store checks the format.
func populate(path string, inbox bool) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	user := strings.Repeat("What would you say about this question of mine? ", 3)[:convUserChars]
	bot := strings.Repeat("Here is a considered answer, long enough to look like one from a model. ", 5)[:convBotChars]
	err = db.Update(func(tx *bolt.Tx) error {
		kv := tx.Bucket([]byte("kv"))
		if kv == nil {
			return fmt.Errorf("no kv bucket: has the store's format changed?")
		}
		hist, err := kv.CreateBucketIfNotExists([]byte("history"))
		if err != nil {
			return err
		}
		in := tx.Bucket([]byte("inbox"))
		for i := 0; i < convs; i++ {
			chat := int64(5000000 + i)
			id := int64(700000000 + i)
			c := router.Conversation{Turns: convTurns, Updated: now, LastID: platform.MessageID(strconv.FormatInt(id, 10))}
			for t := 0; t < convTurns; t++ {
				c.Messages = append(c.Messages, agent.Message{Role: "user", Content: user}, agent.Message{Role: "assistant", Content: bot})
			}
			b, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if err := hist.Put([]byte(fmt.Sprintf("telegram/%d", chat)), b); err != nil {
				return err
			}
			if !inbox {
				continue
			}
			msg, _ := json.Marshal(router.Message{Platform: "telegram", ID: platform.MessageID(strconv.FormatInt(id, 10)), ChatID: platform.ChatID(strconv.FormatInt(chat, 10)), ChatType: "private", UserID: platform.UserID(strconv.FormatInt(chat, 10)), UserName: "bench", MessageID: "42", Text: user})
			it := store.Item{Platform: "telegram", ID: strconv.FormatInt(id, 10), Chat: strconv.FormatInt(chat, 10), Seq: uint64(i + 1), Msg: msg, State: store.Done, Attempts: 1,
				Received: now.Add(-time.Hour), Finished: now.Add(-time.Hour), Note: "answered"}
			ib, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := in.Put(inboxKey("telegram", id), ib); err != nil {
				return err
			}
		}
		if inbox {
			return in.SetSequence(convs)
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Read back through the product's code.
	st, err := store.Open(path)
	if err != nil {
		return err
	}
	defer st.Close()
	h := router.NewHistory(st, 20, 16000)
	c, err := h.Load("telegram", platform.ChatID(strconv.Itoa(5000000+convs-1)))
	if err != nil || c.Turns != convTurns {
		return fmt.Errorf("populated conversations do not read back (%v, %d turns): has the format changed?", err, c.Turns)
	}
	if inbox {
		it, err := st.Get("telegram", strconv.Itoa(700000000+convs-1))
		if err != nil || it == nil || it.State != store.Done {
			return fmt.Errorf("populated inbox records do not read back (%v): has the key format changed?", err)
		}
	}
	return nil
}

// inboxKey is pkg/store's inbox key (schema 2): platform, NUL, the id as
// text.
func inboxKey(platform string, id int64) []byte {
	k := append([]byte(platform), 0)
	return strconv.AppendInt(k, id, 10)
}
