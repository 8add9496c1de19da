package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/matrix"
	"github.com/spf13/cobra"
	"maunium.net/go/mautrix"
)

type matrixSetup struct {
	homeserver string
	userID     string
	tokenFile  string
	admins     []string
	noRestart  bool
}

func newSetupMatrixCmd() *cobra.Command {
	var s matrixSetup
	cmd := &cobra.Command{
		Use:   "matrix",
		Short: "Check a Matrix access token, save it (mode 0600) and the config, and restart the gateway",
		Long: `Checks the bot account's access token with /account/whoami on the homeserver,
writes it to ~/.config/hermes/matrix.token (mode 0600), enables Matrix in the
config with you as admin, and restarts the gateway through systemd. On a
terminal it asks for what the flags do not give: the homeserver, the token
(not echoed) and your own Matrix user id.

Get a token for the bot's account by logging in once as the bot: Element
shows the session's access token under Settings → Help & About (then close
that session without logging out, which would revoke the token), or
POST /_matrix/client/v3/login returns one.
Encrypted rooms are not supported: invite the bot to an unencrypted room.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return setupMatrix(cmd, s) },
	}
	cmd.Flags().StringVar(&s.homeserver, "homeserver", "", "the homeserver's client API root, such as https://matrix.example.org (default: the config's, else ask)")
	cmd.Flags().StringVar(&s.userID, "user-id", "", "the bot's account, such as @hermes:example.org (default: whoever the token belongs to)")
	cmd.Flags().StringVar(&s.tokenFile, "token-file", "", "read the access token from this file (default: ask on the terminal)")
	cmd.Flags().StringSliceVar(&s.admins, "admin", nil, "Matrix user id of an admin, such as @you:example.org (repeatable; default: ask)")
	cmd.Flags().BoolVar(&s.noRestart, "no-restart", false, "write the files but do not restart the gateway")
	return cmd
}

func setupMatrix(cmd *cobra.Command, s matrixSetup) error {
	out := cmd.OutOrStdout()
	cfgPath, cfg, in, tty, err := setupInputs(cmd)
	if err != nil {
		return err
	}

	for _, a := range s.admins {
		if !config.ValidMatrixUserID(a) {
			return usageError{fmt.Errorf("--admin %q is not a Matrix user id (@you:example.org)", a)}
		}
	}
	if s.userID != "" && !config.ValidMatrixUserID(s.userID) {
		return usageError{fmt.Errorf("--user-id %q is not a Matrix user id (@hermes:example.org)", s.userID)}
	}
	hs := s.homeserver
	if hs == "" {
		hs = cfg.Matrix.Homeserver
	}
	if hs == "" {
		if !tty {
			return usageError{errors.New("give the homeserver with --homeserver https://matrix.example.org")}
		}
		if hs, err = ask(in, out, "Homeserver (such as https://matrix.example.org): "); err != nil {
			return err
		}
	}
	hs = strings.TrimRight(hs, "/")
	// The config's rule (https but on loopback), checked before the token
	// travels there.
	probe := config.Default()
	probe.Matrix.Homeserver = hs
	if err := probe.Validate(); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return usageError{fmt.Errorf("--homeserver: %s; %s", ce.Problem, ce.Fix)}
		}
		return usageError{err}
	}

	token, err := readMatrixToken(s.tokenFile, out, tty)
	if err != nil {
		return err
	}
	client, err := mautrix.NewClient(hs, "", token)
	if err != nil {
		return usageError{fmt.Errorf("--homeserver %q: %v", hs, err)}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
	defer cancel()
	me, err := client.Whoami(ctx)
	switch {
	case errors.Is(err, mautrix.MUnknownToken), errors.Is(err, mautrix.MMissingToken):
		return errors.New("the homeserver rejected that access token (M_UNKNOWN_TOKEN: logged out, revoked or mistyped); log in as the bot again for a new one; nothing was changed")
	case err != nil:
		return fmt.Errorf("could not check the token with %s: %v; check the address (--homeserver) and the network; nothing was changed", hs, err)
	}
	if s.userID != "" && string(me.UserID) != s.userID {
		return fmt.Errorf("that access token belongs to %s, not %s; give the bot's own token; nothing was changed", me.UserID, s.userID)
	}
	fmt.Fprintf(out, "✓ token accepted: %s on %s\n", me.UserID, hs)

	admins := s.admins
	if len(admins) == 0 && len(cfg.Matrix.Admins) == 0 {
		if !tty {
			return usageError{errors.New("give your own Matrix user id with --admin @you:example.org (the bot joins rooms its admins and users invite it to)")}
		}
		a, err := ask(in, out, "Your own Matrix user id (such as @you:example.org): ")
		if err != nil {
			return err
		}
		if !config.ValidMatrixUserID(a) {
			return usageError{fmt.Errorf("%q is not a Matrix user id (@you:example.org)", a)}
		}
		admins = []string{a}
	}

	dir := filepath.Dir(cfgPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if cfg.Matrix.AccessTokenFile == "" {
		cfg.Matrix.AccessTokenFile = "matrix.token"
	}
	tokenPath := cfg.ResolvePath(cfg.Matrix.AccessTokenFile)
	if cfg.Source == "" { // no config file yet: paths resolve against where it will be
		tokenPath = filepath.Join(dir, cfg.Matrix.AccessTokenFile)
	}
	if err := writePrivate(tokenPath, []byte(token+"\n")); err != nil {
		return err
	}
	cfg.Matrix.Enabled = true
	cfg.Matrix.Homeserver = hs
	cfg.Matrix.UserID = string(me.UserID)
	for _, a := range admins {
		if !slices.Contains(cfg.Matrix.Admins, a) {
			cfg.Matrix.Admins = append(cfg.Matrix.Admins, a)
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("the new config would not be valid: %w", err)
	}
	data, err := cfg.Marshal()
	if err != nil {
		return err
	}
	if err := writePrivate(cfgPath, data); err != nil {
		return err
	}
	fmt.Fprintf(out, "✓ wrote %s and %s (mode 0600)\n", cfgPath, tokenPath)

	if !s.noRestart {
		if err := applyToGateway(cmd, cfg, out); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "Invite %s to a direct chat from %s: it joins rooms its admins and users invite it to (unencrypted rooms only).\n",
		me.UserID, strings.Join(cfg.Matrix.Admins, ", "))
	return nil
}

// readMatrixToken reads the access token from a file or, on a terminal,
// without echo. Never from an argument: arguments show in ps.
func readMatrixToken(file string, out io.Writer, tty bool) (string, error) {
	token, err := readSecret(file, "The bot's access token", "access token", out, tty)
	if err != nil {
		return "", err
	}
	if err := matrix.CheckToken(token); err != nil {
		return "", usageError{err}
	}
	return token, nil
}
