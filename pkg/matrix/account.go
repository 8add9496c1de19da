package matrix

import (
	"context"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"

	"github.com/hermes-gateway/hermes/pkg/platform"
)

// ErrTokenRejected: the homeserver does not take the access token (logged
// out, revoked, mistyped).
var ErrTokenRejected = errors.New("the homeserver rejected the access token (M_UNKNOWN_TOKEN: logged out, revoked or mistyped)")

// Account asks the homeserver whose token this is (/account/whoami), as
// `hermes doctor` checks it: ErrTokenRejected when it does not take it;
// any other error means it could not be asked (the network, the address).
func Account(ctx context.Context, homeserver, token string) (platform.UserID, error) {
	c, err := mautrix.NewClient(homeserver, "", token)
	if err != nil {
		return "", fmt.Errorf("homeserver %q: %w", homeserver, err)
	}
	me, err := c.Whoami(ctx)
	switch {
	case errors.Is(err, mautrix.MUnknownToken), errors.Is(err, mautrix.MMissingToken):
		return "", ErrTokenRejected
	case err != nil:
		return "", err
	}
	return platform.UserID(me.UserID), nil
}
