package cli

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/platform"
	"github.com/spf13/cobra"
)

func newPairingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pairing",
		Short: "Let strangers who wrote to the bot in, or out again",
		Long: `A stranger who writes to the bot gets a pairing code (8 characters, valid
for an hour) and reaches nothing else. Approve them with the code they show
you; revoke them by their user id on their platform, as ` + "`hermes pairing list`" + `
shows it (a Telegram number, a Matrix @user:server).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var asJSON bool
	var revokeOn string
	list := &cobra.Command{
		Use:   "list",
		Short: "Pending pairing requests and approved users",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
			var l control.PairingList
			if err := controlClient().Do(ctx, http.MethodGet, "/v1/pairing", nil, &l, http.StatusOK); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), l)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "pending (%d):\n", len(l.Pending))
			for _, p := range l.Pending {
				fmt.Fprintf(out, "  %s  %s user %s (%s), expires in %s\n", p.Code, p.Platform, p.UserID, p.UserName, humanDuration(time.Until(p.Expires)))
			}
			fmt.Fprintf(out, "approved (%d):\n", len(l.Approved))
			for _, a := range l.Approved {
				fmt.Fprintf(out, "  %s user %s (%s), since %s\n", a.Platform, a.UserID, a.UserName, a.Approved.Local().Format(time.DateTime))
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	approve := &cobra.Command{
		Use:   "approve CODE",
		Short: "Let the stranger with this pairing code in",
		Args:  exactArgs(1, "the pairing code the stranger was given, e.g. hermes pairing approve ABCD2345"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
			var a control.ApprovedUser
			if err := controlClient().Do(ctx, http.MethodPost, "/v1/pairing/approve", control.ApproveRequest{Code: strings.ToUpper(args[0])}, &a, http.StatusOK); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "✓ approved %s user %s (%s)\n", a.Platform, a.UserID, a.UserName)
			return nil
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke USER_ID",
		Short: "Take an approved user's access away",
		Args:  exactArgs(1, "the user id, as `hermes pairing list` shows it (with --platform matrix for a Matrix user)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.TrimSpace(args[0])
			if id == "" {
				return usageError{fmt.Errorf("USER_ID is empty; give the id `hermes pairing list` shows")}
			}
			if revokeOn == "telegram" {
				if _, err := strconv.ParseInt(id, 10, 64); err != nil {
					return usageError{fmt.Errorf("a Telegram USER_ID is a number, not %q; for another platform add --platform (e.g. --platform matrix)", id)}
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
			if err := controlClient().Do(ctx, http.MethodPost, "/v1/pairing/revoke", control.RevokeRequest{Platform: revokeOn, UserID: platform.UserID(id)}, nil, http.StatusOK); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "✓ revoked %s user %s\n", revokeOn, id)
			return nil
		},
	}
	revoke.Flags().StringVar(&revokeOn, "platform", "telegram", "the platform the user is on (telegram, matrix)")
	cmd.AddCommand(list, approve, revoke)
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage error that says what is wanted.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %d argument(s): %s", cmd.CommandPath(), n, what)}
		}
		return nil
	}
}
