package control

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Peer is who is on the other end of a control connection (SO_PEERCRED).
type Peer struct {
	PID int32
	UID uint32
}

// String names the peer for logs: "pid 1234 (hermes)".
func (p Peer) String() string {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.PID))
	if err != nil {
		return fmt.Sprintf("pid %d", p.PID)
	}
	return fmt.Sprintf("pid %d (%s)", p.PID, strings.TrimSpace(string(comm)))
}

type peerKey struct{}

// PeerFrom returns the peer of the request's connection.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

func peerOf(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("control connection is %T, not a unix socket", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, err
	}
	if credErr != nil {
		return Peer{}, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return Peer{PID: cred.Pid, UID: cred.Uid}, nil
}

// ownerOnly accepts connections only from processes running as the
// gateway's own user. The socket unit already sets SocketMode=0600; this
// holds even if someone loosens the mode by hand.
type ownerOnly struct {
	net.Listener
	uid      uint32
	rejected func(Peer, error)
}

// OwnerOnly wraps a unix listener so that connections from other users are
// answered 403 and closed, and never reach a handler.
func OwnerOnly(l net.Listener, rejected func(Peer, error)) net.Listener {
	return &ownerOnly{Listener: l, uid: uint32(os.Getuid()), rejected: rejected}
}

func (o *ownerOnly) Accept() (net.Conn, error) {
	for {
		c, err := o.Listener.Accept()
		if err != nil {
			return nil, err
		}
		p, err := peerOf(c)
		if err == nil && p.UID == o.uid {
			return &peerConn{Conn: c, peer: p}, nil
		}
		if err == nil {
			err = fmt.Errorf("uid %d is not the gateway's owner (uid %d)", p.UID, o.uid)
		}
		if o.rejected != nil {
			o.rejected(p, err)
		}
		go refuse(c, err)
	}
}

// refuse answers a refused connection in HTTP, so the client's error says
// why, without letting a slow peer hold up Accept. The request is read
// first (bounded in size and time): closing on a client still writing it
// would hand that client a broken pipe instead of the answer.
func refuse(c net.Conn, why error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 0, 1024)
	tmp := make([]byte, 1024)
	for len(buf) < 16<<10 && !strings.Contains(string(buf), "\r\n\r\n") {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			break
		}
	}
	body := fmt.Sprintf(`{"error":%q,"fix":"run hermes as the user that owns the gateway"}`+"\n", "forbidden: "+why.Error())
	fmt.Fprintf(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

type peerConn struct {
	net.Conn
	peer Peer
}

// connContext puts the peer into every request's context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*peerConn); ok {
		return context.WithValue(ctx, peerKey{}, pc.peer)
	}
	return ctx
}
