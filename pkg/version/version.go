// Package version says which build of hermes is running: a semantic version
// and the VCS revision it was built from.
package version

import (
	"fmt"
	"runtime/debug"
)

// Version is the semantic version, set at build time with
//
//	-ldflags "-X github.com/hermes-gateway/hermes/pkg/version.Version=v0.3.0"
//
// A plain `go build` leaves the development default.
var Version = "v0.1.0-dev"

// Revision is the VCS revision, set at build time by the Makefile (GOFLAGS may
// carry -buildvcs=false, and binaries built from a tarball have no VCS
// stamp). When empty, the revision recorded by the Go toolchain is used.
var Revision = ""

// Modified is "true" when the tree had uncommitted changes at build time.
var Modified = ""

// Info is the version as the CLI and the control API report it.
type Info struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// Get returns the build's version information.
func Get() Info {
	info := Info{Version: Version, Revision: Revision, Modified: Modified == "true"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.Go = bi.GoVersion
		if info.Revision == "" {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					info.Revision = s.Value
				case "vcs.modified":
					info.Modified = s.Value == "true"
				}
			}
		}
	}
	if info.Revision == "" {
		info.Revision = "unknown"
	}
	return info
}

// String is the one-line form: "v0.1.0 (rev 1a2b3c4d5e6f, go1.26.8)".
func (i Info) String() string {
	rev := i.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if i.Modified {
		rev += "+dirty"
	}
	return fmt.Sprintf("%s (rev %s, %s)", i.Version, rev, i.Go)
}
