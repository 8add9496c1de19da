package cli

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hermes-gateway/hermes/pkg/exitstatus"
	"github.com/hermes-gateway/hermes/pkg/gateway/cmdline"
	"github.com/hermes-gateway/hermes/pkg/manpage"
	"github.com/hermes-gateway/hermes/pkg/version"
	"github.com/spf13/cobra"
)

// newManCmd writes the manual pages: `make man` and scripts/install.sh run
// it. Hidden: it is for packaging, not for people.
func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the manual pages hermes(1) and hermes-gateway(1) into DIR/man1",
		Hidden: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("man takes the directory to write into, e.g. hermes man ~/.local/share/man")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, err := WriteManPages(args[0])
			for _, p := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return err
		},
	}
}

// ManPages are the manual pages of both programs.
func ManPages() []manpage.Page {
	date := time.Now().UTC()
	// Reproducible builds set SOURCE_DATE_EPOCH.
	if s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		date = time.Unix(s, 0).UTC()
	}
	src := "hermes " + version.Get().Version
	exits := manpage.Section{Title: "Exit status"}
	for _, code := range []int{0, 1, 75, 78} {
		s := exitstatus.Explain(code)
		exits.Items = append(exits.Items, manpage.Item{Tag: s.String(), Text: []string{s.Cause}})
	}
	exits.Items = append(exits.Items,
		manpage.Item{Tag: "other", Text: []string{"a crash: systemd restarts it, bounded by the unit's start limit"}},
		manpage.Item{Tag: "200 to 244", Text: []string{"systemd's own statuses: it could not even run the gateway (226/NAMESPACE: it could not build the unit's sandbox). hermes gateway status and hermes doctor name them and say what to do."}})
	gw := manpage.FromFlagSet("hermes-gateway", cmdline.Title, cmdline.Description, cmdline.FlagSet(&cmdline.Args{}), src, date,
		manpage.Section{Title: "Signals", Items: []manpage.Item{
			{Tag: "SIGTERM, SIGINT", Text: []string{"Drain (stop taking new work, let work in flight finish up to gateway.drain_timeout, answer every control request already accepted) and exit 0."}},
			{Tag: "SIGHUP", Text: []string{"Re-read the config (RELOADING=1, then READY=1). A rejected file is logged and the running config kept. gateway.drain_timeout and who may talk (telegram.admins, users, groups) apply at once; every other key needs hermes gateway restart, and the reload names the ones that changed."}},
		}},
		exits,
		manpage.Section{Title: "Files", Items: []manpage.Item{
			{Tag: "~/.config/hermes/config.toml", Text: []string{"the config ($XDG_CONFIG_HOME/hermes); check it with hermes-gateway --check-config"}},
			{Tag: "~/.local/state/hermes/", Text: []string{"the store gateway.db and sent.log ($XDG_STATE_HOME/hermes, or gateway.state_dir)"}},
			{Tag: "$XDG_RUNTIME_DIR/hermes/gateway.sock", Text: []string{"the control socket, owned by hermes-gateway.socket"}},
			{Tag: "$HERMES_INSTANCE", Text: []string{"a named instance (set by hermes-gateway@NAME.service): the config, state directory and control socket are then one directory deeper, in NAME/"}},
		}},
		manpage.Section{Title: "See also", Text: []string{"hermes(1), systemd.service(5), systemd.socket(5), sd_notify(3), journalctl(1)"}},
	)
	root := newRoot(os.Stdout, os.Stderr)
	cli := manpage.FromCobra(root, src, date,
		manpage.Section{Title: "Exit status", Items: []manpage.Item{
			{Tag: strconv.Itoa(ExitOK), Text: []string{"success"}},
			{Tag: strconv.Itoa(ExitFailed), Text: []string{"the operation failed (hermes doctor: a check failed)"}},
			{Tag: strconv.Itoa(ExitUsage), Text: []string{"bad usage"}},
		}},
		manpage.Section{Title: "Files", Items: []manpage.Item{
			{Tag: "~/.config/systemd/user/", Text: []string{"the units hermes install-unit writes"}},
			{Tag: "~/.config/hermes/config.toml", Text: []string{"the config"}},
			{Tag: "~/.config/hermes/NAME/config.toml", Text: []string{"the config of instance NAME (hermes --instance NAME, or $HERMES_INSTANCE); its state is in ~/.local/state/hermes/NAME/, its control socket in $XDG_RUNTIME_DIR/hermes/NAME/"}},
			{Tag: "~/.local/lib/hermes/", Text: []string{"the installed versions and the current link (hermes update)"}},
		}},
		manpage.Section{Title: "See also", Text: []string{"hermes-gateway(1), systemctl(1), journalctl(1), loginctl(1)"}},
	)
	return []manpage.Page{cli, gw}
}

// WriteManPages writes ManPages into dir/man1 and returns their paths.
func WriteManPages(dir string) ([]string, error) {
	var paths []string
	for _, p := range ManPages() {
		path, err := p.WriteFile(dir)
		if err != nil {
			return paths, fmt.Errorf("writing %s: %w; check that %s is writable", p.FileName(), err, dir)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
