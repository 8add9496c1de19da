// Package dendrite runs a real Matrix homeserver (Dendrite, Apache-2.0) on
// loopback for tests: built once from the Go module proxy into a cache
// directory, configured with SQLite in a temporary directory, and ended by
// its pid when the test ends. There is no fake Matrix server: the adapter is
// tested against what clients meet in the field.
//
// Only github.com/matrix-org/dendrite is used; its later fork under
// element-hq is AGPL and not for this project.
package dendrite

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Version is the Dendrite release the tests run.
const Version = "v0.13.8"

// ServerName is the homeserver's name: user ids are @name:localhost.
const ServerName = "localhost"

// commands are the binaries the harness needs from the module.
var commands = []string{"dendrite", "generate-keys"}

// BinDir returns the directory holding Dendrite's binaries, building them
// first when they are not there. The build (about as long as building a
// large Go program, with cgo for SQLite) happens once per machine: later
// runs find the binaries in $HERMES_DENDRITE_BIN, else in the user cache
// directory (~/.cache/hermes/dendrite-v0.13.8). A lock file keeps two test
// processes from building at the same time.
func BinDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("HERMES_DENDRITE_BIN")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("dendrite: no cache directory for the build (%v); set HERMES_DENDRITE_BIN", err)
		}
		dir = filepath.Join(cache, "hermes", "dendrite-"+Version)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("dendrite: %v", err)
	}
	if built(dir) {
		return dir
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("dendrite: %v", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("dendrite: lock %s: %v", lock.Name(), err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if built(dir) { // another process built it while we waited
		return dir
	}
	args := []string{"install"}
	for _, c := range commands {
		args = append(args, "github.com/matrix-org/dendrite/cmd/"+c+"@"+Version)
	}
	start := time.Now()
	t.Logf("dendrite: building %s into %s (once per machine; minutes on 2 cores)", Version, dir)
	cmd := exec.Command(goBinary(), args...)
	// cgo for mattn/go-sqlite3; GOFLAGS from the caller (-mod=vendor,
	// -tags) must not leak into a build of another module.
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=1", "GOFLAGS=-buildvcs=false")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dendrite: go %s failed after %s: %v\n%s", strings.Join(args, " "), time.Since(start).Round(time.Second), err, out)
	}
	t.Logf("dendrite: built in %s", time.Since(start).Round(time.Second))
	return dir
}

func built(dir string) bool {
	for _, c := range commands {
		fi, err := os.Stat(filepath.Join(dir, c))
		if err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// goBinary is the go command that runs the tests, so the build uses the
// same toolchain.
func goBinary() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// Server is one running homeserver.
type Server struct {
	// URL is the client-server API root, http://127.0.0.1:PORT.
	URL string

	t      testing.TB
	bin    string
	dir    string
	addr   string
	secret string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// User is a registered account.
type User struct {
	ID    string // @name:localhost
	Token string // access token
}

// Start runs a fresh homeserver on a free loopback port, with its
// databases in a temporary directory, and ends it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: BinDir(t), dir: t.TempDir(), secret: randomHex(16)}
	s.addr = freeAddr(t)
	s.URL = "http://" + s.addr
	key := filepath.Join(s.dir, "matrix_key.pem")
	if out, err := exec.Command(filepath.Join(s.bin, "generate-keys"), "--private-key", key).CombinedOutput(); err != nil {
		t.Fatalf("dendrite: generate-keys: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "dendrite.yaml"), []byte(s.config(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("dendrite's log (end):\n%s", s.LogTail())
		}
	})
	s.Restart()
	return s
}

// config is a monolith on SQLite with federation off (loopback only),
// rate limiting off (the tests send hundreds of messages) and shared-secret
// registration on. JetStream is on disk so that a restart keeps what was
// in flight.
func (s *Server) config(key string) string {
	db := func(name string) string {
		return fmt.Sprintf("  database:\n    connection_string: file:%s\n", filepath.Join(s.dir, "dendrite_"+name+".db"))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `version: 2
global:
  server_name: %s
  private_key: %s
  disable_federation: true
  key_validity_period: 168h0m0s
  trusted_third_party_id_servers: []
  jetstream:
    storage_path: %s
    in_memory: false
  presence:
    enable_inbound: false
    enable_outbound: false
  report_stats:
    enabled: false
  dns_cache:
    enabled: false
client_api:
  registration_disabled: true
  registration_shared_secret: %q
  rate_limiting:
    enabled: false
federation_api:
  key_perspectives: []
%skey_server:
%smscs:
%smedia_api:
  base_path: %s
%sroom_server:
%ssync_api:
  search:
    enabled: false
%suser_api:
  bcrypt_cost: 4
  account_database:
    connection_string: file:%s
relay_api:
%slogging:
  - type: std
    level: warn
`, ServerName, key, filepath.Join(s.dir, "jetstream"), s.secret,
		db("federationapi"), db("keyserver"), db("mscs"), filepath.Join(s.dir, "media"), db("mediaapi"),
		db("roomserver"), db("syncapi"), filepath.Join(s.dir, "dendrite_userapi.db"), db("relayapi"))
	return b.String()
}

// Restart starts the homeserver again after Stop, on the same port and
// with the same databases; it returns once the client API answers.
func (s *Server) Restart() {
	t := s.t
	t.Helper()
	if s.cmd != nil {
		t.Fatal("dendrite: Restart while running; call Stop first")
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "dendrite.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(s.bin, "dendrite"),
		"--config", filepath.Join(s.dir, "dendrite.yaml"),
		"--http-bind-address", s.addr)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test binary that dies (a timeout's panic) takes the server with
	// it instead of leaving it running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("dendrite: start: %v", err)
	}
	s.cmd, s.log, s.exited = cmd, logf, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(s.exited)

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-s.exited:
			s.cmd = nil
			t.Fatalf("dendrite exited while starting: %s\n%s", cmd.ProcessState, s.LogTail())
		default:
		}
		resp, err := http.Get(s.URL + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dendrite did not answer on %s within 90s (last: %v)\n%s", s.URL, err, s.LogTail())
		}
		time.Sleep(100 * time.Millisecond) // no readiness signal but the API itself
	}
}

// Stop ends the homeserver by its pid (SIGTERM, then SIGKILL after 15 s)
// and waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Process.Signal(syscall.SIGCONT) // a paused server takes the SIGTERM only once resumed
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
	s.log.Close()
}

// Pause stops the running homeserver with SIGSTOP, by its pid: it keeps
// its sockets and its memory (the transaction ids it remembers, which a
// restart forgets) but answers nothing until Continue. Fault campaigns use
// it for an outage that keeps the exactly-once promise checkable.
func (s *Server) Pause() error {
	if s.cmd == nil {
		return fmt.Errorf("dendrite: Pause while stopped")
	}
	return s.cmd.Process.Signal(syscall.SIGSTOP)
}

// Continue resumes a paused homeserver (SIGCONT, by its pid).
func (s *Server) Continue() error {
	if s.cmd == nil {
		return fmt.Errorf("dendrite: Continue while stopped")
	}
	return s.cmd.Process.Signal(syscall.SIGCONT)
}

// LogTail returns the end of the homeserver's log, for failure messages.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "dendrite.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Register creates an account through shared-secret registration (the
// /_synapse/admin/v1/register endpoint Dendrite implements) and returns
// its id and an access token.
func (s *Server) Register(localpart string) User {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := s.do(ctx, http.MethodGet, "/_synapse/admin/v1/register", nil, &nonce); err != nil {
		t.Fatalf("dendrite: registration nonce: %v", err)
	}
	password := randomHex(12)
	mac := hmac.New(sha1.New, []byte(s.secret))
	mac.Write([]byte(strings.Join([]string{nonce.Nonce, localpart, password, "notadmin"}, "\x00")))
	req := map[string]any{
		"nonce": nonce.Nonce, "username": localpart, "password": password,
		"admin": false, "mac": hex.EncodeToString(mac.Sum(nil)),
	}
	var out struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	if err := s.do(ctx, http.MethodPost, "/_synapse/admin/v1/register", req, &out); err != nil {
		t.Fatalf("dendrite: register %s: %v", localpart, err)
	}
	return User{ID: out.UserID, Token: out.AccessToken}
}

func (s *Server) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}

// freeAddr finds a free loopback port. Dendrite binds it itself a moment
// later; on a busy machine another process could take it in between, which
// shows as a start failure naming the address.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed"))
	}
	return hex.EncodeToString(b)
}
