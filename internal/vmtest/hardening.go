package vmtest

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Sandbox is what /proc/PID/status says about a process's confinement.
type Sandbox struct {
	NoNewPrivs string // "1" when NoNewPrivileges= is in force
	Seccomp    string // "2": a filter (SystemCallFilter=, or the Restrict*/Protect* filters systemd adds)
	CapBnd     string // the bounding set, hex
	CapEff     string // the effective set, hex
	CapPrm     string
}

// ParseStatus reads the fields of /proc/PID/status that Sandbox holds.
func ParseStatus(r io.Reader) (Sandbox, error) {
	var s Sandbox
	fields := map[string]*string{"NoNewPrivs": &s.NoNewPrivs, "Seccomp": &s.Seccomp,
		"CapBnd": &s.CapBnd, "CapEff": &s.CapEff, "CapPrm": &s.CapPrm}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if p := fields[k]; ok && p != nil {
			*p = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if s.NoNewPrivs == "" || s.CapBnd == "" {
		return s, fmt.Errorf("not a /proc/PID/status (no NoNewPrivs or CapBnd line)")
	}
	return s, nil
}

// Problems lists what falls short of the shipped units' hardening:
// NoNewPrivileges=yes, a seccomp filter, and no capabilities at all
// (CapabilityBoundingSet= empty). wantSeccomp is false for a unit without
// any directive that installs a filter.
func (s Sandbox) Problems(wantSeccomp bool) []string {
	var p []string
	if s.NoNewPrivs != "1" {
		p = append(p, "NoNewPrivs: "+s.NoNewPrivs+" (want 1)")
	}
	if wantSeccomp && s.Seccomp != "2" {
		p = append(p, "Seccomp: "+s.Seccomp+" (want 2, a filter)")
	}
	for _, c := range []struct{ name, v string }{{"CapBnd", s.CapBnd}, {"CapEff", s.CapEff}, {"CapPrm", s.CapPrm}} {
		if strings.Trim(c.v, "0") != "" {
			p = append(p, c.name+": "+c.v+" (want all zero)")
		}
	}
	return p
}

// String is the figures a report shows.
func (s Sandbox) String() string {
	return fmt.Sprintf("NoNewPrivs=%s Seccomp=%s CapBnd=%s CapEff=%s", s.NoNewPrivs, s.Seccomp, s.CapBnd, s.CapEff)
}
