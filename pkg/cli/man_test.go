package cli

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hermes-gateway/hermes/pkg/gateway/cmdline"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// Every Documentation=man:… line of the units names a page `hermes man`
// writes, so `man hermes-gateway` shows what systemctl status points at.
func TestEveryManReferenceOfTheUnitsIsAGeneratedPage(t *testing.T) {
	dir := t.TempDir()
	_, err := WriteManPages(dir)
	require.NoError(t, err)
	var files []string
	for _, glob := range []string{"*.service", "*.socket", "*.timer"} {
		more, err := filepath.Glob(filepath.Join("../../units", glob))
		require.NoError(t, err)
		files = append(files, more...)
	}
	require.NotEmpty(t, files)
	refs := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`man:([A-Za-z0-9._-]+)\((\d)\)`).FindAllStringSubmatch(string(b), -1) {
			if !strings.HasPrefix(m[1], "hermes") {
				continue // systemd's own pages, e.g. systemd.socket(5)
			}
			refs++
			page := filepath.Join(dir, "man"+m[2], m[1]+"."+m[2])
			_, err := os.Stat(page)
			require.NoError(t, err, "%s points at %s(%s), which `hermes man` does not write", filepath.Base(f), m[1], m[2])
		}
	}
	require.NotZero(t, refs, "the units have Documentation=man:… lines")
}

// The pages say what the programs take: every command of the tree and
// every flag of the daemon.
func TestThePagesCoverEveryCommandAndFlag(t *testing.T) {
	dir := t.TempDir()
	paths, err := WriteManPages(dir)
	require.NoError(t, err)
	require.Len(t, paths, 2)
	page := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, "man1", name))
		require.NoError(t, err)
		return strings.ReplaceAll(string(b), `\-`, "-")
	}
	cli, gw := page("hermes.1"), page("hermes-gateway.1")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			require.Contains(t, cli, sub.CommandPath(), "hermes(1) names every command")
			walk(sub)
		}
	}
	walk(newRoot(nil, nil))
	cmdline.FlagSet(&cmdline.Args{}).VisitAll(func(f *flag.Flag) {
		require.Contains(t, gw, "--"+f.Name, "hermes-gateway(1) names every flag")
	})
	require.Contains(t, gw, "75/TEMPFAIL")
	require.NotContains(t, gw, os.Getenv("HOME")+"/", "no path of the machine that made the page")
}

// groff finds nothing to warn about in either page.
func TestThePagesAreCleanRoff(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff is not installed")
	}
	dir := t.TempDir()
	paths, err := WriteManPages(dir)
	require.NoError(t, err)
	for _, p := range paths {
		var stderr bytes.Buffer
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", p)
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Run(), stderr.String())
		require.Empty(t, stderr.String(), filepath.Base(p))
	}
}
