package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"os"

	"github.com/hermes-gateway/hermes/pkg/doctor"
	"github.com/hermes-gateway/hermes/pkg/install"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/update"
	"github.com/spf13/cobra"
)

func newDoctorCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check everything the gateway depends on, and say how to fix what is wrong",
		Long: `Checks the user manager and bus, lingering, the unit files and their sandbox
level, the socket and the service, the last exit (its status by name, what it
means, and the gateway's or systemd's own reason), crash loops (unplanned
exits only: planned restarts never count) and the start limit, the config,
the token and key files, Telegram (reachable, token accepted, no 409,
webhook registration), the state directory, and the installed version.
Exit status 1 when any check fails.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			cfgPath, _ := cmd.Flags().GetString("config")
			// Without --instance, every instance: one bad gateway among
			// several is what a doctor run is for.
			names := []instance.Name{instance.CurrentOrDefault()}
			if !instanceChosen(cmd) && cfgPath == "" {
				names = instance.List(install.DefaultUnitDir())
			}
			out := cmd.OutOrStdout()
			reports := map[string]*doctor.Report{}
			failed := 0
			for i, n := range names {
				var rep *doctor.Report
				withInstance(n, func() {
					rep = doctor.Run(ctx, doctor.Options{ConfigPath: cfgPath, LayoutCurrent: layoutCurrent})
					for j := range rep.Checks {
						rep.Checks[j].Fix = forInstance(rep.Checks[j].Fix)
					}
				})
				reports[n.String()] = rep
				if rep.Failed() {
					failed++
				}
				if asJSON {
					continue
				}
				if len(names) > 1 {
					if i > 0 {
						fmt.Fprintln(out)
					}
					fmt.Fprintf(out, "== instance %s (%s)\n", n, n.Service())
				}
				lastFix := ""
				for _, c := range rep.Checks {
					if i > 0 && machineWide[c.Name] {
						continue // said under the first instance
					}
					fmt.Fprintf(out, "%-8s %-20s %s\n", c.Status, c.Name, c.Detail)
					if c.Fix != "" && c.Status != doctor.OK {
						fmt.Fprintf(out, "         %-20s fix: %s\n", "", sameFix(c.Fix, &lastFix))
					}
				}
			}
			if asJSON {
				var err error
				if len(names) == 1 {
					err = writeJSON(out, reports[names[0].String()])
				} else {
					err = writeJSON(out, reports)
				}
				if err != nil {
					return err
				}
			} else if len(names) > 1 {
				fmt.Fprintf(out, "\n%d instance(s) checked, %d with failures\n", len(names), failed)
			}
			if failed > 0 {
				return silentError{errors.New("doctor found failures")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// machineWide are the checks whose answer is the same for every instance
// (one user manager, one linger setting, one installed version): printed
// once, under the first instance.
var machineWide = map[string]bool{"user manager": true, "linger": true, "installed version": true}

// layoutCurrent reports the version current points at, and whether the
// gateway is installed as versions at all (scripts/install.sh).
func layoutCurrent() (string, bool, error) {
	l := update.DefaultLayout()
	if _, err := os.Lstat(l.CurrentLink()); os.IsNotExist(err) {
		return "", false, nil
	}
	v, err := l.Current()
	return v, true, err
}
