// Command hermes is the Hermes gateway's CLI: it installs the units, and
// starts, stops, restarts, updates and inspects the gateway through systemd.
package main

import (
	"os"

	"github.com/hermes-gateway/hermes/pkg/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
