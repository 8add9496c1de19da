package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/control"
	"github.com/hermes-gateway/hermes/pkg/systemd"
	"github.com/spf13/cobra"
)

// connectTimeout bounds finding the user manager: a missing bus must be
// reported within a second or two, never waited on.
const connectTimeout = 2 * time.Second

// connect reaches the user manager or returns the one-paragraph explanation.
func connect(ctx context.Context) (*systemd.Manager, error) {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return systemd.Connect(cctx)
}

// loadConfig reads the config named by --config (or the default path).
func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	return config.Load(path)
}

func controlClient() *control.Client { return control.NewClient(control.DefaultSocketPath()) }

// gatewayStatus asks a running gateway for its status, briefly.
func gatewayStatus(ctx context.Context) (*control.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return controlClient().Status(ctx)
}

func writeJSONCompact(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// siblingBinary finds name next to the running hermes binary.
func siblingBinary(name string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(exe), name)
	if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s not found next to hermes (%s); install both with `make install`, or pass its path with --gateway", name, filepath.Dir(exe))
	}
	return p, nil
}

func ms(d time.Duration) int64 { return d.Milliseconds() }
