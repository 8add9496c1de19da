// Package doctor checks everything a running gateway depends on and says,
// for each problem, what to do: `hermes doctor`.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/install"
	"github.com/hermes-gateway/hermes/pkg/journal"
	"github.com/hermes-gateway/hermes/pkg/matrix"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/store"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/hermes-gateway/hermes/pkg/telegram"
	"golang.org/x/sys/unix"
)

// Outcomes of a check.
const (
	OK      = "ok"
	Warning = "warning"
	Failure = "failure"
	Skipped = "skipped"
)

// Check is one finding.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every check, in order.
type Report struct {
	Checks []Check `json:"checks"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == Failure {
			return true
		}
	}
	return false
}

func (r *Report) add(name, status, detail, fix string) {
	r.Checks = append(r.Checks, Check{Name: name, Status: status, Detail: detail, Fix: fix})
}

// Options say where to look.
type Options struct {
	ConfigPath string
	UnitDir    string
	// LayoutCurrent returns the installed version current points at, and
	// whether the gateway is installed as versions at all.
	LayoutCurrent func() (version string, installed bool, err error)
}

// unitSvc() is the service of the instance being checked ($HERMES_INSTANCE,
// which the CLI sets per instance).
func unitSvc() string { return instance.CurrentOrDefault().Service() }

// Run performs every check; it never stops early, so one report shows all
// that is wrong.
func Run(ctx context.Context, o Options) *Report {
	r := &Report{}
	if o.UnitDir == "" {
		o.UnitDir = install.DefaultUnitDir()
	}
	if o.ConfigPath == "" {
		o.ConfigPath = config.DefaultPath()
	}

	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	m, err := systemd.Connect(cctx)
	cancel()
	if err != nil {
		r.add("user manager", Failure, "not reachable", err.Error())
	} else {
		defer m.Close()
		r.add("user manager", OK, "reachable at "+m.Address, "")
	}
	lingerCheck(ctx, r)

	cfg, cfgErr := config.Load(o.ConfigPath)
	if cfgErr != nil {
		r.add("config", Failure, cfgErr.Error(), "fix the file; `hermes-gateway --check-config` checks it")
	} else if cfg.Source == "" {
		r.add("config", OK, "no file: the embedded defaults serve ("+o.ConfigPath+")", "")
	} else {
		r.add("config", OK, cfg.Source+" is valid", "")
	}
	if cfg == nil {
		cfg = config.Default()
	}

	unitsCheck(r, o.UnitDir, cfg)
	if c, ok := SandboxCheck(install.InstalledParams(o.UnitDir).Sandbox); ok {
		r.Checks = append(r.Checks, c)
	}
	var gw *control.Status
	if m != nil {
		f, err := ReadFacts(ctx, m)
		if err != nil {
			r.add("service", Failure, err.Error(), "check the user manager: `systemctl --user status`")
		} else {
			r.Checks = append(r.Checks, ServiceChecks(f)...)
			if f.Service.ActiveState == "active" {
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				var err error
				if gw, err = control.NewClient(control.DefaultSocketPath()).Status(sctx); err != nil {
					r.add("control API", Warning, "the gateway runs but did not answer: "+err.Error(), "see `hermes gateway logs`")
				}
				cancel()
			}
		}
	}
	secretsCheck(r, cfg, cfgErr == nil)
	telegramCheck(ctx, r, cfg, gw)
	matrixCheck(ctx, r, cfg, gw)
	stateDirCheck(r, cfg)
	storeCheck(r, cfg)
	if o.LayoutCurrent != nil {
		layoutCheck(r, o.LayoutCurrent)
	}
	return r
}

// Linger is whether the user manager outlives the login session
// (loginctl's Linger=): on, off, or unknown and why.
type Linger struct {
	State string `json:"state"` // LingerOn, LingerOff, LingerUnknown
	// Why says why it is unknown: "loginctl is not installed", "loginctl
	// said: …".
	Why string `json:"why,omitempty"`
}

// Linger states.
const (
	LingerOn      = "on"
	LingerOff     = "off"
	LingerUnknown = "unknown"
)

// Sentence says what the state means for the gateway, in words a person
// reads once and understands.
func (l Linger) Sentence() string {
	switch l.State {
	case LingerOn:
		return "lingering is on: your user manager runs without a login session, so the gateway starts at boot and keeps running after you log out"
	case LingerOff:
		return "lingering is off: the gateway stops when you log out and does not start at boot"
	default:
		return "whether lingering is on cannot be told (" + l.Why + "); if it is off, the gateway stops when you log out and does not start at boot"
	}
}

// Fix is what to run when lingering is not known to be on.
func (l Linger) Fix() string {
	switch l.State {
	case LingerOn:
		return ""
	case LingerOff:
		return "run `" + LingerFix() + "`, so the gateway survives logout and starts at boot"
	default:
		return "check with `loginctl show-user " + CurrentUser() + " --property=Linger`; if it says no, run `" + LingerFix() + "`"
	}
}

// ReadLinger asks logind through loginctl.
func ReadLinger(ctx context.Context) Linger {
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(lctx, "loginctl", "show-user", CurrentUser(), "--property=Linger", "--value").CombinedOutput()
	return lingerFrom(string(out), err, lctx.Err())
}

// lingerFrom reads loginctl's answer.
func lingerFrom(out string, err, ctxErr error) Linger {
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return Linger{State: LingerUnknown, Why: "loginctl is not installed: no systemd-logind here"}
	case ctxErr != nil:
		return Linger{State: LingerUnknown, Why: "loginctl did not answer within 2 seconds"}
	case err != nil:
		return Linger{State: LingerUnknown, Why: "loginctl said: " + firstLine(out, err.Error())}
	}
	switch strings.TrimSpace(out) {
	case "yes":
		return Linger{State: LingerOn}
	case "no":
		return Linger{State: LingerOff}
	}
	return Linger{State: LingerUnknown, Why: "loginctl answered " + strconv.Quote(firstLine(out, ""))}
}

// LingerFix is the command that turns lingering on.
func LingerFix() string { return "sudo loginctl enable-linger " + CurrentUser() }

// LingerCheck is doctor's verdict on l.
func LingerCheck(l Linger) Check {
	status := Warning
	if l.State == LingerOn {
		status = OK
	}
	return Check{Name: "linger", Status: status, Detail: l.Sentence(), Fix: l.Fix()}
}

func lingerCheck(ctx context.Context, r *Report) {
	r.Checks = append(r.Checks, LingerCheck(ReadLinger(ctx)))
}

func unitsCheck(r *Report, dir string, cfg *config.Config) {
	p := install.InstalledParams(dir)
	if p.Gateway == "" {
		r.add("units", Failure, "not installed in "+dir, "run `hermes install-unit`")
		return
	}
	files, err := install.Check(p, dir, cfg)
	if err != nil {
		r.add("units", Failure, err.Error(), "run `hermes install-unit`")
		return
	}
	var bad []string
	status := OK
	for _, f := range files {
		switch f.State {
		case install.Missing:
			bad = append(bad, f.Name+" missing")
			status = Failure
		case install.Outdated:
			bad = append(bad, f.Name+" outdated")
			if status == OK {
				status = Warning
			}
		case install.Modified:
			bad = append(bad, f.Name+" changed by hand")
			if status == OK {
				status = Warning
			}
		}
	}
	if status == OK {
		r.add("units", OK, fmt.Sprintf("%d unit files identical to this version's", len(files)), "")
		return
	}
	r.add("units", status, strings.Join(bad, "; "), "run `hermes install-unit` (it shows the diff; `--force` replaces hand edits)")
}

// ReadFacts reads what the service verdicts need: both units' properties,
// and the journal from the moment the socket came up (login, boot or
// install), so that an old incident that was dealt with does not haunt every
// later report.
func ReadFacts(ctx context.Context, m *systemd.Manager) (Facts, error) {
	f := Facts{Now: time.Now()}
	var err error
	if f.Socket, err = m.Unit(ctx, instance.CurrentOrDefault().Socket()); err != nil {
		return f, err
	}
	if f.Service, err = m.Unit(ctx, unitSvc()); err != nil {
		return f, err
	}
	f.History = ReadJournalHistory(ctx, f.Socket.ActiveEnterTimestamp)
	return f, nil
}

// ReadJournalHistory reads the gateway's runs from the journal since t
// (all of it when t is zero).
func ReadJournalHistory(ctx context.Context, t time.Time) History {
	jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	q := journal.Query{Unit: unitSvc(), Lines: 2000}
	if !t.IsZero() {
		q.Since = fmt.Sprintf("@%d.%06d", t.Unix(), t.Nanosecond()/1000)
	}
	es, err := journal.Read(jctx, q)
	if err != nil {
		return History{Unknown: err.Error()}
	}
	return ReadHistory(es)
}

func secretsCheck(r *Report, cfg *config.Config, valid bool) {
	if !valid {
		return
	}
	any := false
	if cfg.Telegram.Enabled {
		any = true
		if _, err := telegram.ReadTokenFile(cfg.ResolvePath(cfg.Telegram.TokenFile)); err != nil {
			r.add("token file", Failure, err.Error(), "`hermes setup telegram` writes it")
		} else {
			r.add("token file", OK, cfg.ResolvePath(cfg.Telegram.TokenFile)+", mode 0600", "")
		}
		if cfg.Telegram.Mode == config.ModeWebhook {
			if _, err := telegram.ReadSecretFile(cfg.ResolvePath(cfg.Telegram.Webhook.SecretFile)); err != nil {
				r.add("webhook secret", Failure, err.Error(), "`hermes setup telegram --mode webhook` writes it")
			} else {
				r.add("webhook secret", OK, "mode 0600", "")
			}
		}
	}
	if cfg.Matrix.Enabled {
		any = true
		if _, err := matrix.ReadTokenFile(cfg.ResolvePath(cfg.Matrix.AccessTokenFile)); err != nil {
			r.add("matrix token file", Failure, err.Error(), "`hermes setup matrix` writes it")
		} else {
			r.add("matrix token file", OK, cfg.ResolvePath(cfg.Matrix.AccessTokenFile)+", mode 0600", "")
		}
	}
	if cfg.Agent.Backend == config.BackendOpenAI && cfg.Agent.OpenAI.APIKeyFile != "" {
		any = true
		p := cfg.ResolvePath(cfg.Agent.OpenAI.APIKeyFile)
		if fi, err := os.Stat(p); err != nil {
			r.add("api key file", Failure, err.Error(), "write the key to "+p+" with mode 0600")
		} else if fi.Mode().Perm()&0o077 != 0 {
			r.add("api key file", Failure, fmt.Sprintf("%s is mode %04o: others can read the key", p, fi.Mode().Perm()), "run `chmod 600 "+p+"`")
		} else {
			r.add("api key file", OK, p+", mode 0600", "")
		}
	}
	if !any {
		r.add("secrets", OK, "none configured", "")
	}
}

func telegramCheck(ctx context.Context, r *Report, cfg *config.Config, gw *control.Status) {
	if !cfg.Telegram.Enabled {
		r.add("telegram", Skipped, "not enabled", "`hermes setup telegram` connects a bot")
		return
	}
	token, err := telegram.ReadTokenFile(cfg.ResolvePath(cfg.Telegram.TokenFile))
	if err != nil {
		return // reported by the token check
	}
	c, err := telegram.NewClient(token, cfg.Telegram.APIURL, telegram.ClientOptions{RequestTimeout: 10 * time.Second})
	if err != nil {
		r.add("telegram", Failure, err.Error(), "check telegram.api_url")
		return
	}
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	me, err := c.GetMe(tctx)
	switch {
	case telegram.IsUnauthorized(err):
		r.add("telegram", Failure, "the bot token is rejected (401)", "get the token again from @BotFather and run `hermes setup telegram`")
		return
	case err != nil:
		r.add("telegram", Failure, "Telegram not reachable: "+err.Error(), "check the network (and telegram.api_url); the gateway keeps retrying")
		return
	}
	r.add("telegram", OK, "reachable, token accepted: @"+me.UserName, "")
	info, err := c.WebhookInfo(tctx)
	if err != nil {
		r.add("webhook registration", Warning, "could not read it: "+err.Error(), "")
	} else if cfg.Telegram.Mode == config.ModeWebhook {
		if info.URL != cfg.Telegram.Webhook.PublicURL {
			r.add("webhook registration", Failure, fmt.Sprintf("Telegram posts to %q, the config says %q", info.URL, cfg.Telegram.Webhook.PublicURL), "`hermes gateway restart` registers it again")
		} else if info.LastErrorMessage != "" {
			r.add("webhook registration", Warning, "registered; Telegram's last delivery error: "+info.LastErrorMessage, "check the reverse proxy or TLS in front of telegram.webhook.listen")
		} else {
			r.add("webhook registration", OK, "registered at "+info.URL, "")
		}
	} else if info.URL != "" {
		r.add("webhook registration", Failure, "a webhook is set ("+info.URL+") but the config polls: getUpdates answers 409", "`hermes setup telegram --mode poll` removes it")
	} else {
		r.add("webhook registration", OK, "none, as polling needs", "")
	}
	if gw != nil {
		for _, p := range gw.Platforms {
			if p.Name != "telegram" {
				continue
			}
			if p.State == telegram.StateConflict {
				r.add("telegram conflict", Failure, "the gateway gets 409 Conflict: "+p.Detail, "stop the other bot instance using this token, or remove its webhook")
			} else {
				r.add("telegram conflict", OK, "the gateway's Telegram connection is "+p.State, "")
			}
		}
	}
}

// matrixCheck asks the homeserver whose the access token is, and what the
// running gateway says of its Matrix connection.
func matrixCheck(ctx context.Context, r *Report, cfg *config.Config, gw *control.Status) {
	mc := cfg.Matrix
	if !mc.Enabled {
		r.add("matrix", Skipped, "not enabled", "`hermes setup matrix` connects a Matrix account")
		return
	}
	token, err := matrix.ReadTokenFile(cfg.ResolvePath(mc.AccessTokenFile))
	if err != nil {
		return // the token file check said why
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	who, err := matrix.Account(cctx, mc.Homeserver, token)
	cancel()
	switch {
	case errors.Is(err, matrix.ErrTokenRejected):
		r.add("matrix", Failure, err.Error(), "log in as the bot again for a new token and run `hermes setup matrix`")
		return
	case err != nil:
		r.add("matrix", Failure, "the homeserver is not reachable: "+err.Error(), "check the network and matrix.homeserver; the gateway keeps retrying")
		return
	case string(who) != mc.UserID:
		r.add("matrix", Failure, fmt.Sprintf("the access token belongs to %s, but matrix.user_id is %s", who, mc.UserID), "run `hermes setup matrix` with the bot's own token")
		return
	}
	r.add("matrix", OK, "reachable, token accepted: "+string(who)+" on "+mc.Homeserver, "")
	if gw == nil {
		return
	}
	for _, p := range gw.Platforms {
		if p.Name != matrix.Name {
			continue
		}
		if p.State == string(platform.StateConnected) {
			r.add("matrix connection", OK, "the gateway's Matrix connection is "+p.State, "")
		} else {
			r.add("matrix connection", Warning, "the gateway's Matrix connection is "+p.State+": "+p.Detail, "see `hermes gateway logs`; it keeps retrying")
		}
	}
}

func stateDirCheck(r *Report, cfg *config.Config) {
	dir := cfg.StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		r.add("state directory", Failure, err.Error(), "make "+dir+" writable by you")
		return
	}
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		r.add("state directory", Failure, dir+" is not writable: "+err.Error(), "make "+dir+" writable by you")
		return
	}
	f.Close()
	os.Remove(f.Name())
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil {
		free := st.Bavail * uint64(st.Bsize)
		if free < 50<<20 {
			r.add("state directory", Failure, fmt.Sprintf("%s: only %d MiB free", dir, free>>20), "free some space: without it no message can be stored")
			return
		}
		r.add("state directory", OK, fmt.Sprintf("%s writable, %d MiB free", dir, free>>20), "")
		return
	}
	r.add("state directory", OK, dir+" writable", "")
}

// storeCheck opens the store when no gateway holds it: a damaged file is
// what keeps such a gateway down.
func storeCheck(r *Report, cfg *config.Config) {
	path := filepath.Join(cfg.StateDir(), store.FileName)
	if _, err := os.Stat(path); os.IsNotExist(err) {
		r.add("store", OK, "none yet ("+path+")", "")
		return
	}
	st, err := store.Open(path)
	var locked *store.LockedError
	var corrupt *store.CorruptError
	switch {
	case errors.As(err, &locked):
		r.add("store", OK, fmt.Sprintf("%s, in use by the gateway (pid %d)", path, locked.Pid), "")
	case errors.As(err, &corrupt):
		r.add("store", Failure, corrupt.Error(), "move the damaged file aside as shown, then `hermes gateway start`")
	case err != nil:
		r.add("store", Failure, err.Error(), "check the state directory's permissions")
	default:
		st.Close()
		r.add("store", OK, path+" readable", "")
	}
}

func layoutCheck(r *Report, current func() (string, bool, error)) {
	v, installed, err := current()
	switch {
	case !installed:
		r.add("installed version", Skipped, "not installed as versions (scripts/install.sh); the units run the binary install-unit was given", "")
	case err != nil:
		r.add("installed version", Failure, err.Error(), "`hermes update --rollback` or reinstall with `make install`")
	default:
		r.add("installed version", OK, "current → "+v, "")
	}
}

// CurrentUser is the login name of the user running hermes.
func CurrentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

func firstLine(s, fallback string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return fallback
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func nonEmpty(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
