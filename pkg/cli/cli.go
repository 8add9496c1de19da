// Package cli is the hermes command line: one file per command group, all
// wired to a cobra tree here.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hermes-gateway/hermes/pkg/install"
	"github.com/hermes-gateway/hermes/pkg/instance"

	"github.com/spf13/cobra"
)

// Exit codes of every hermes command.
const (
	ExitOK     = 0
	ExitFailed = 1 // the operation failed
	ExitUsage  = 2 // bad usage
)

// usageError marks errors in how the command was called (exit 2).
type usageError struct{ error }

// Main runs the CLI with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	// --instance works by setting $HERMES_INSTANCE for this process (every
	// path and unit name follows it); put it back afterwards, so that a
	// test running several commands in one process sees each on its own.
	if was, ok := os.LookupEnv(instance.Env); ok {
		defer os.Setenv(instance.Env, was)
	} else {
		defer os.Unsetenv(instance.Env)
	}
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return ExitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "hermes: %v\nSee `%s --help`.\n", err, cmd.CommandPath())
		return ExitUsage
	}
	var silent silentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(stderr, "hermes: %v\n", err)
	}
	return ExitFailed
}

// silentError is a failure the command has already explained.
type silentError struct{ error }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "hermes",
		Short: "Run your agent's Telegram gateway as a systemd user service",
		Long: `hermes installs the Hermes gateway (hermes-gateway(1)) as a socket-activated
systemd user-unit set and manages it through systemd: start, stop and restart
as systemd jobs waited on until the gateway is ready, status and doctor with
what is wrong and how to fix it, the journal, updates with rollback, pairing,
and a chat with the agent from the terminal.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().String("config", "", "config file (default $XDG_CONFIG_HOME/hermes/config.toml; …/hermes/NAME/config.toml for --instance NAME)")
	root.PersistentFlags().String("instance", "", "the gateway instance to act on (default $HERMES_INSTANCE, else the default instance); see `hermes instances`")
	root.PersistentPreRunE = selectInstance
	root.RegisterFlagCompletionFunc("instance", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var names []string
		for _, n := range instance.List(install.DefaultUnitDir()) {
			names = append(names, n.String())
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	root.AddCommand(newVersionCmd(), newInstallCmd(), newUninstallCmd(), newGatewayCmd(), newChatCmd(), newPairingCmd(), newSetupCmd(), newDoctorCmd(), newNotifyFailureCmd(), newUpdateCmd(), newManCmd(), newInstancesCmd())
	return root
}

// selectInstance validates --instance (or $HERMES_INSTANCE) before any
// command runs and makes it the process's $HERMES_INSTANCE, which decides
// every unit name and path from here on (pkg/instance).
func selectInstance(cmd *cobra.Command, args []string) error {
	name, from := os.Getenv(instance.Env), "$"+instance.Env
	if f := cmd.Flags().Lookup("instance"); f != nil && f.Changed {
		name, from = f.Value.String(), "--instance"
	}
	n, err := instance.Parse(name)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", from, err)}
	}
	if n.IsDefault() {
		return os.Unsetenv(instance.Env)
	}
	return os.Setenv(instance.Env, string(n))
}

// noArgs is cobra.NoArgs with an error that counts as usage.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unknown command or argument %q for %q", args[0], cmd.CommandPath())}
	}
	return nil
}
