package router

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/hermes-gateway/hermes/pkg/store"
)

// Roles a sender can have.
const (
	RoleNone  = ""
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Store collections.
const (
	collPairing  = "pairing"  // code → Pairing
	collApproved = "approved" // platform/user id → Approval
)

// Pairing is an outstanding request from a stranger.
type Pairing struct {
	Code     string          `json:"code"`
	Platform string          `json:"platform"`
	UserID   platform.UserID `json:"user_id"`
	UserName string          `json:"user_name"`
	ChatID   platform.ChatID `json:"chat_id"`
	Created  time.Time       `json:"created"`
	Expires  time.Time       `json:"expires"`
}

// Approval is a stranger an admin let in.
type Approval struct {
	Platform string          `json:"platform"`
	UserID   platform.UserID `json:"user_id"`
	UserName string          `json:"user_name"`
	// ChatID is the one-to-one chat they asked in, where they are told
	// they are in; "" in approvals an earlier release stored (on
	// Telegram, that chat's id is the user's: see Chat).
	ChatID   platform.ChatID `json:"chat_id,omitempty"`
	Approved time.Time       `json:"approved"`
	Code     string          `json:"code"`
}

// Chat is where to tell the approved user they are in.
func (ap Approval) Chat() platform.ChatID {
	if ap.ChatID != "" {
		return ap.ChatID
	}
	return platform.ChatID(ap.UserID)
}

// Pairing rules: a code is 8 characters from an alphabet without look-alikes,
// lives an hour, and only a few may be pending at once, so a flood of
// strangers cannot fill the store or guess their way in.
const (
	codeLen      = 8
	codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	CodeTTL      = time.Hour
	MaxPending   = 5
)

// Auth decides who may talk to the agent. Default deny: only the admins,
// users and groups the config lists for the platform a message came on,
// and strangers an admin approved. A Telegram admin's number means nothing
// on Matrix.
type Auth struct {
	mu     sync.Mutex
	access map[string]platform.Access
	store  *store.Store
	now    func() time.Time
}

// NewAuth builds the rules from the config's lists, per platform name.
func NewAuth(st *store.Store, access map[string]platform.Access) *Auth {
	return &Auth{store: st, access: access, now: time.Now}
}

// Update replaces the config's lists (SIGHUP reload).
func (a *Auth) Update(access map[string]platform.Access) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.access = access
}

func (a *Auth) accessOf(name string) platform.Access {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.access[name]
}

// Role is the sender's role; the local platform (the machine's owner, who
// passed the control socket's uid check) is an admin.
//
// An error means the store could not say whether an admin approved the
// sender: the caller must try again later, never treat them as a stranger
// (an approved user would be sent a pairing code, and their message
// dropped).
func (a *Auth) Role(m Message) (string, error) {
	if m.Platform == "local" {
		return RoleAdmin, nil
	}
	switch allowed, admin := a.accessOf(m.Platform).Allowed(m.UserID); {
	case admin:
		return RoleAdmin, nil
	case allowed:
		return RoleUser, nil
	}
	var ap Approval
	ok, err := a.store.Load(collApproved, approvalKey(m.Platform, m.UserID), &ap)
	switch {
	case err != nil:
		return RoleNone, fmt.Errorf("reading whether user %s on %s was approved: %w", m.UserID, m.Platform, err)
	case ok:
		return RoleUser, nil
	}
	return RoleNone, nil
}

// GroupAllowed reports whether a group chat is listed for its platform.
func (a *Auth) GroupAllowed(name string, chatID platform.ChatID) bool {
	return a.accessOf(name).GroupAllowed(chatID)
}

// AnyRoom reports whether the platform's allowed users are answered in
// group chats that are not listed (platform.Access.AnyRoom).
func (a *Auth) AnyRoom(name string) bool { return a.accessOf(name).AnyRoom }

func approvalKey(name string, userID platform.UserID) string {
	return name + "/" + string(userID)
}

// ErrTooManyPending means MaxPending codes are outstanding.
var ErrTooManyPending = errors.New("too many pairing requests are pending")

// Pair returns the stranger's pairing code, creating one when they have none
// that is still valid; fresh is true when the code is new (and so worth
// telling them).
func (a *Auth) Pair(m Message) (p Pairing, fresh bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	pending, err := a.pendingLocked(now)
	if err != nil {
		return p, false, err
	}
	for _, q := range pending {
		if q.Platform == m.Platform && q.UserID == m.UserID {
			return q, false, nil
		}
	}
	if len(pending) >= MaxPending {
		return p, false, ErrTooManyPending
	}
	code, err := newCode()
	if err != nil {
		return p, false, err
	}
	p = Pairing{Code: code, Platform: m.Platform, UserID: m.UserID, UserName: m.UserName, ChatID: m.ChatID, Created: now.UTC(), Expires: now.Add(CodeTTL).UTC()}
	if err := a.store.Put(collPairing, code, p); err != nil {
		return p, false, err
	}
	return p, true, nil
}

// Pending lists valid pairing requests, dropping expired ones.
func (a *Auth) Pending() ([]Pairing, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pendingLocked(a.now())
}

func (a *Auth) pendingLocked(now time.Time) ([]Pairing, error) {
	var out []Pairing
	var expired []string
	err := a.store.Each(collPairing, func(k string, raw []byte) error {
		var p Pairing
		if err := jsonUnmarshal(raw, &p); err != nil || now.After(p.Expires) {
			expired = append(expired, k)
			return nil
		}
		out = append(out, p)
		return nil
	})
	// Expired codes are filtered out above whether or not their records
	// can be deleted now (a full disk): a failed delete only leaves a
	// record that the next call tries to delete again, so it is not an
	// error of the listing.
	for _, k := range expired {
		if derr := a.store.Delete(collPairing, k); derr != nil {
			break
		}
	}
	return out, err
}

// ErrUnknownCode means no valid pairing request has that code.
var ErrUnknownCode = errors.New("no pending pairing request has that code (codes expire after an hour)")

// Approve lets the stranger behind code in.
func (a *Auth) Approve(code string) (Approval, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var p Pairing
	ok, err := a.store.Load(collPairing, code, &p)
	if err != nil {
		return Approval{}, err
	}
	if !ok || a.now().After(p.Expires) {
		return Approval{}, fmt.Errorf("%w: %q; see `"+instance.Hermes("pairing list")+"`", ErrUnknownCode, code)
	}
	ap := Approval{Platform: p.Platform, UserID: p.UserID, UserName: p.UserName, ChatID: p.ChatID, Approved: a.now().UTC(), Code: code}
	if err := a.store.Put(collApproved, approvalKey(p.Platform, p.UserID), ap); err != nil {
		return Approval{}, err
	}
	return ap, a.store.Delete(collPairing, code)
}

// Revoke removes an approved user; false when there was none.
func (a *Auth) Revoke(name string, userID platform.UserID) (bool, error) {
	var ap Approval
	ok, err := a.store.Load(collApproved, approvalKey(name, userID), &ap)
	if err != nil || !ok {
		return false, err
	}
	return true, a.store.Delete(collApproved, approvalKey(name, userID))
}

// Approved lists the approved strangers.
func (a *Auth) Approved() ([]Approval, error) {
	var out []Approval
	err := a.store.Each(collApproved, func(_ string, raw []byte) error {
		var ap Approval
		if err := jsonUnmarshal(raw, &ap); err == nil {
			out = append(out, ap)
		}
		return nil
	})
	return out, err
}

func newCode() (string, error) {
	b := make([]byte, codeLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b), nil
}
