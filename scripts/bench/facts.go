package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/units"
)

// The benchmark's own settings, quoted by the report from here so that the
// text says what the code did.
const (
	settleMin    = 150 * time.Millisecond // pause between two runs: settleMin
	settleSpread = 250 * time.Millisecond // plus up to settleSpread, random
	// probeMargin is how long a client loops before a restart is asked
	// for, and after the first answer of the new process.
	probeMargin = 30 * time.Millisecond
	// fieldRestartSec is RestartSec= of baseline (b), the field's unit.
	fieldRestartSec = 5 * time.Second
	// idleAfter is how long after its start a gateway's idle RSS is read.
	idleAfter = 2 * time.Second
	// rssSampleEvery is our own RSS sampling under load.
	rssSampleEvery = 5 * time.Millisecond
)

// Facts is the configuration the figures were taken under, read at run
// time from what was installed and built, never typed into the report.
type Facts struct {
	RestartSec         string // hermes-gateway.service RestartSec=
	RestartSecDur      time.Duration
	StartLimitBurst    string
	StartLimitInterval string
	WebhookBacklog     string
	// SandboxOff are the assignments of the drop-in that scripts/sandbox
	// adds to hermes-gateway.service.
	SandboxOff []string
	// Binaries are the sizes of bin/hermes-gateway and bin/hermes.
	Binaries string
}

func readFacts(e *Env) Facts {
	var f Facts
	if svc, err := e.gatewayService(); err == nil {
		f.RestartSec = units.Directive(svc, "Service", "RestartSec")
		f.RestartSecDur, _ = units.ParseTimespan(f.RestartSec)
		f.StartLimitBurst = units.Directive(svc, "Unit", "StartLimitBurst")
		f.StartLimitInterval = units.Directive(svc, "Unit", "StartLimitIntervalSec")
	}
	if sock, err := units.Render(units.WebhookSocket, units.Params{Gateway: e.Gateway, Hermes: e.Hermes}); err == nil {
		f.WebhookBacklog = units.Directive(sock, "Socket", "Backlog")
	}
	files, _ := filepath.Glob(filepath.Join(e.UnitDir, units.Service+".d", "*.conf"))
	for _, file := range files {
		fh, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "[") && strings.Contains(l, "=") {
				f.SandboxOff = append(f.SandboxOff, l)
			}
		}
		fh.Close()
	}
	var sizes []string
	for _, b := range []string{e.Gateway, e.Hermes} {
		if fi, err := os.Stat(b); err == nil {
			sizes = append(sizes, fmt.Sprintf("`%s` %.1f MiB", filepath.Base(b), float64(fi.Size())/(1<<20)))
		}
	}
	f.Binaries = strings.Join(sizes, " and ")
	return f
}

// or is s, or alt when s is empty (a fact that could not be read).
func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
