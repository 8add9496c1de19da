package update

import (
	"context"
	"fmt"
	"path/filepath"
)

// CheckConfig runs `hermes-gateway --check-config --config configPath` of
// an installed version: Stage checks the config of the instance the update
// runs for; with several instances on one machine, each config must be
// accepted before current switches, or one instance would be restarted
// into a version that refuses it.
func (l Layout) CheckConfig(ctx context.Context, version, configPath string) error {
	gateway := filepath.Join(l.VersionDir(version), "hermes-gateway")
	if _, err := run(ctx, probeTimeout, "", nil, gateway, "--check-config", "--config", configPath); err != nil {
		return fmt.Errorf("the new hermes-gateway %s rejects %s: %w\nfix the config (check it with `%s --check-config --config %s`), or wait for a version that accepts it", version, configPath, err, gateway, configPath)
	}
	return nil
}
