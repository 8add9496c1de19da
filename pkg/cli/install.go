package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/install"
	"github.com/hermes-gateway/hermes/units"
	"github.com/spf13/cobra"
)

func newInstallCmd() *cobra.Command {
	var o install.Options
	var gateway string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "install-unit",
		Short: "Install the systemd user units and start the gateway's socket",
		Long: `Renders the embedded units with the path of hermes-gateway, writes them to
$XDG_CONFIG_HOME/systemd/user/, reloads the user manager, enables and starts
hermes-gateway.socket (and the service, unless --no-start), and enables
lingering so the gateway survives logout and starts at boot.

Idempotent: a second run changes and restarts nothing. A unit file changed by
hand is reported with a diff and left alone unless --force.

The service is started once and checked before success is reported. If
systemd cannot build the unit's sandbox on this system (exit status
218/CAPABILITIES, 226/NAMESPACE, …), it says which step failed and shows the
manager's lines; with --sandbox=auto (the default) it then installs the units
without the namespace-based directives (--sandbox=minimal) and says so.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return fmt.Errorf("config: %w", err)
			}
			if gateway == "" {
				if gateway, err = siblingBinary("hermes-gateway"); err != nil {
					return err
				}
			}
			if gateway, err = filepath.Abs(gateway); err != nil {
				return err
			}
			if _, err := os.Stat(gateway); err != nil {
				return fmt.Errorf("--gateway %s: %w", gateway, err)
			}
			// The units run the CLI that sits next to the gateway (an
			// installed version's), else this one.
			hermes := filepath.Join(filepath.Dir(gateway), "hermes")
			if _, err := os.Stat(hermes); err != nil {
				hermes, _ = os.Executable()
			}
			switch o.Sandbox {
			case install.SandboxAuto, units.SandboxFull, units.SandboxMinimal:
			default:
				return usageError{fmt.Errorf("--sandbox is auto, full or minimal, not %q", o.Sandbox)}
			}
			switch o.AutoUpdate {
			case "", "off", "daily", "weekly":
			default:
				return usageError{fmt.Errorf("--auto-update is daily, weekly or off, not %q", o.AutoUpdate)}
			}
			o.Params = units.Params{Gateway: gateway, Hermes: hermes}
			o.Config = cfg
			o.Out = cmd.OutOrStdout()
			if asJSON {
				o.Out = nil
			}
			m, err := connect(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			res, err := install.Install(cmd.Context(), m, o)
			if asJSON && res != nil {
				writeJSON(cmd.OutOrStdout(), res)
			}
			var se *install.SandboxError
			if !asJSON && errors.As(err, &se) {
				// The step, the cause, the fix and the manager's lines are
				// printed above; the exit status says it failed.
				return silentError{err}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&gateway, "gateway", "", "path of the hermes-gateway binary the units run (default: next to hermes)")
	cmd.Flags().BoolVar(&o.NoStart, "no-start", false, "enable and start the socket only; the first request starts the service")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace unit files that were changed by hand")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print what would be written and run, change nothing")
	cmd.Flags().StringVar(&o.UnitDir, "unit-dir", "", "where to write the units (default $XDG_CONFIG_HOME/systemd/user)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&o.AutoUpdate, "auto-update", "", "enable the update timer (daily or weekly), or turn it off (off)")
	cmd.Flags().StringVar(&o.Sandbox, "sandbox", install.SandboxAuto, "full: every hardening directive; minimal: without the ones that need namespaces (for systems whose user manager cannot create them); auto: keep what is installed, else full, falling back to minimal when the first start shows this system cannot build it")
	return cmd
}

func newUninstallCmd() *cobra.Command {
	var purge bool
	var unitDir string
	cmd := &cobra.Command{
		Use:   "uninstall-unit",
		Short: "Stop and remove the systemd user units (config and state stay unless --purge)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				// A broken config must not block removing the units.
				fmt.Fprintf(cmd.ErrOrStderr(), "! config: %v (continuing)\n", err)
				cfg = config.Default()
			}
			m, err := connect(cmd.Context())
			if err != nil {
				return err
			}
			defer m.Close()
			cfgPath, _ := cmd.Flags().GetString("config")
			return install.Uninstall(cmd.Context(), m, install.UninstallOptions{
				UnitDir: unitDir, Purge: purge, Config: cfg, ConfigPath: cfgPath, Out: cmd.OutOrStdout(),
			})
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "also delete the config directory and the state directory (the store)")
	cmd.Flags().StringVar(&unitDir, "unit-dir", "", "where the units are (default $XDG_CONFIG_HOME/systemd/user)")
	return cmd
}
