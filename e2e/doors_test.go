//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-gateway/hermes/pkg/agent/openaifake"
	"github.com/hermes-gateway/hermes/pkg/telegram/fakebot"
	"github.com/stretchr/testify/require"
)

// A client running as another user is refused by the real, socket-activated
// gateway, even with the socket's mode loosened by hand.
func TestAnotherUserIsRefusedByTheRunningGateway(t *testing.T) {
	e := newEnv(t)
	e.status()
	sockPath := filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "hermes", "gateway.sock")
	require.NoError(t, os.Chmod(filepath.Dir(sockPath), 0o755))
	require.NoError(t, os.Chmod(os.Getenv("XDG_RUNTIME_DIR"), 0o755))
	require.NoError(t, os.Chmod(sockPath, 0o777))

	dir, err := os.MkdirTemp("", "hermes-nobody-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	data, err := os.ReadFile(filepath.Join(bin, "hermes"))
	require.NoError(t, err)
	cli := filepath.Join(dir, "hermes")
	require.NoError(t, os.WriteFile(cli, data, 0o755))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", cli, "chat", "let me in")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, string(out))
	require.Contains(t, string(out), "403")
	require.Contains(t, string(out), "uid 65534 is not the gateway's owner")
	require.Contains(t, e.waitJournal("refused a connection"), "peer_uid=65534")
}

// A truncated store: exit 78 without a restart loop, the command that moves
// it aside in the journal, and doctor says the same.
func TestACorruptStoreIsExplainedNotLooped(t *testing.T) {
	e := freshManager(t)
	out, code := hermes(t, nil, "install-unit")
	require.Zero(t, code, out)
	e.status()
	e.systemctlOK("stop", svc)
	_, _, stateDir := paths()
	db := filepath.Join(stateDir, "gateway.db")
	fi, err := os.Stat(db)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(db, fi.Size()/3))

	_, err = e.systemctl("start", svc)
	require.Error(t, err)
	require.Equal(t, "failed", e.prop(svc, "ActiveState"))
	require.Equal(t, "78", e.prop(svc, "ExecMainStatus"))
	require.Equal(t, "0", e.prop(svc, "NRestarts"))
	j := e.waitJournal("is damaged")
	require.Contains(t, j, "mv "+db+" "+db+".broken-")

	rep, code := runDoctor(t, loginctlSays(t, "yes"))
	require.Equal(t, 1, code)
	c := check(t, rep, "store")
	require.Equal(t, "failure", c.Status)
	require.Contains(t, c.Detail, "mv "+db)

	// Following the advice brings it back.
	require.NoError(t, os.Rename(db, db+".broken"))
	out, code = hermes(t, nil, "gateway", "start")
	require.Zero(t, code, out)
}

// The bot token and the API key never reach the journal, status or doctor
// output, whatever goes wrong: a run that provokes 401, 409, 429, 5xx,
// timeouts and dropped connections, from Telegram and from the agent's API.
func TestSecretsNeverLeak(t *testing.T) {
	e := newEnv(t)
	ai := openaifake.New(t)
	_, cfgDir, _ := paths()
	require.NoError(t, os.MkdirAll(cfgDir, 0o700))
	const apiKey = "sk-e2e-SECRET-KEY-0123456789abcdefghij"
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "openai.key"), []byte(apiKey+"\n"), 0o600))
	fake := withTelegram(t, e, "", fmt.Sprintf(`[agent]
backend = "openai"
[agent.openai]
base_url = %q
model = "test-model"
api_key_file = "openai.key"
timeout = "2s"
max_retries = 1
`, ai.URL()))
	token := fake.Token()
	e.status()

	// Telegram misbehaves.
	fake.TooManyRequests("getUpdates", 2, 1)
	fake.ServerErrors("getUpdates", 2, 502)
	fake.DropConnections("sendMessage", 1)
	fake.TooManyRequests("sendMessage", 1, 1)
	// The agent's API misbehaves.
	ai.Unauthorized(1)
	ai.RateLimit(1, "1")
	ai.ServerError(2, 502)
	ai.Slow(1, 3*time.Second) // past agent.openai.timeout
	for i := 0; i < 4; i++ {
		fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: fmt.Sprintf("q%d", i)})
	}
	waitSent(t, fake, tgUser, 4)
	// A 409: a webhook set behind the gateway's back.
	resp, err := http.Post(fake.URL()+"/bot"+token+"/setWebhook?url=http://127.0.0.1:9/x", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Eventually(t, func() bool {
		st := e.status()
		return len(st.Platforms) == 1 && st.Platforms[0].State == "conflict"
	}, 60*time.Second, 50*time.Millisecond)
	statusOut, _ := hermes(t, nil, "gateway", "status", "--json")
	doctorOut, _ := hermes(t, loginctlSays(t, "yes"), "doctor")
	// Finally the token is revoked: 401, exit 78.
	resp, err = http.Post(fake.URL()+"/_fake/token", "application/json", strings.NewReader(`{"token":"999:new-token-not-the-old-one-xxxxxxxxxxxxxxx"}`))
	require.NoError(t, err)
	resp.Body.Close()
	e.systemctlOK("restart", svc)
	require.Eventually(t, func() bool { return e.prop(svc, "ActiveState") == "failed" }, 60*time.Second, 50*time.Millisecond)

	all, err := exec.Command("journalctl", "--no-pager", "-o", "export").CombinedOutput()
	require.NoError(t, err)
	require.Contains(t, string(all), "401", "the run did reach the error paths")
	for name, secret := range map[string]string{"bot token": token, "token secret part": strings.SplitN(token, ":", 2)[1], "API key": apiKey} {
		require.NotContains(t, string(all), secret, "the %s is in the journal", name)
		require.NotContains(t, statusOut, secret, "the %s is in status", name)
		require.NotContains(t, doctorOut, secret, "the %s is in doctor's output", name)
	}
}

// Webhook mode with TLS terminated by the gateway itself.
func TestWebhookOverTLS(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	_, cfgDir, _ := paths()
	require.NoError(t, os.MkdirAll(cfgDir, 0o700))
	certPEM, keyPEM := selfSigned(t)
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "webhook.crt"), certPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "webhook.key"), keyPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "secret"), []byte("tls-secret_1\n"), 0o600))
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(certPEM))
	fake := fakebot.NewServer(t, fakebot.Options{
		WebhookRetryBase: 50 * time.Millisecond, WebhookRetryMax: 500 * time.Millisecond,
		WebhookClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "token"), []byte(fake.Token()+"\n"), 0o600))
	e.writeConfig(fmt.Sprintf(`[telegram]
enabled = true
token_file = "token"
api_url = %q
mode = "webhook"
users = [%d]
[telegram.webhook]
public_url = "https://%s/telegram"
listen = %q
secret_file = "secret"
tls_cert = "webhook.crt"
tls_key = "webhook.key"
`, fake.URL(), tgUser, listen, listen))
	e.installWebhookSocket(listen)
	e.status()
	require.Eventually(t, func() bool { return fake.WebhookInfo().URL != "" }, 30*time.Second, 20*time.Millisecond)
	fake.InjectMessage(fakebot.UserMessage{UserID: tgUser, Text: "over tls"})
	require.Equal(t, "echo: over tls", waitSent(t, fake, tgUser, 1)[0].Text)

	// Plain HTTP to the TLS port, and a request without the secret: refused.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Post("https://"+listen+"/telegram", "application/json", strings.NewReader(`{"update_id":1,"message":{"message_id":1,"text":"forged","chat":{"id":5,"type":"private"},"from":{"id":5}}}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Empty(t, fake.Sent(5))
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
