// Package vmtest holds what the VM test suite's two sides share: the result
// lines the guest runner writes (scripts/vm/runner) and the table the host
// prints from them (scripts/vm/run), and the reading of a process's
// hardening from /proc, so both sides and their unit tests agree on them.
package vmtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Prefix starts every result line on the serial console, so the host can
// pick them out of kernel and systemd messages.
const Prefix = "VMTEST "

// Result is one scenario's outcome on one release.
type Result struct {
	Suite    string `json:"suite"`    // bookworm, bookworm-bp, trixie
	Scenario string `json:"scenario"` // e.g. "1 install"
	OK       bool   `json:"ok"`
	// Figures are what was measured, "name=value" each, in order.
	Figures []string `json:"figures,omitempty"`
	// Detail says what failed (or, for a pass, anything worth recording).
	Detail  string  `json:"detail,omitempty"`
	Seconds float64 `json:"seconds"`
	Boot    int     `json:"boot"` // which boot of the guest ran it (1, 2, …)
	// Marker is set on lines that are not scenarios: MarkReboot (the guest
	// reboots and continues), MarkDone (the guest finished its suite).
	Marker string `json:"marker,omitempty"`
}

// The markers.
const (
	MarkReboot = "reboot"
	MarkDone   = "done"
)

// Line is r as one result line, without a newline.
func (r Result) Line() string {
	b, _ := json.Marshal(r)
	return Prefix + string(b)
}

// Parse reads the result lines in r (a serial console log or a results
// file), ignoring everything else. A line that starts like a result but
// does not decode is an error: a runner that printed garbage must not pass.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		i := strings.Index(line, Prefix+"{")
		if i < 0 {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(line[i+len(Prefix):]), &res); err != nil {
			return out, fmt.Errorf("line %d: %w: %q", n, err, line)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// Table prints results as a table, releases side by side per scenario in
// the order they ran, and returns how many failed.
func Table(w io.Writer, results []Result) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "release\tscenario\tresult\ttime\tfigures / detail")
	failed := 0
	// Stable: by release in the order first seen, then as they ran.
	order := map[string]int{}
	for _, r := range results {
		if _, ok := order[r.Suite]; !ok {
			order[r.Suite] = len(order)
		}
	}
	sorted := append([]Result(nil), results...)
	sort.SliceStable(sorted, func(i, j int) bool { return order[sorted[i].Suite] < order[sorted[j].Suite] })
	for _, r := range sorted {
		if r.Marker != "" {
			continue
		}
		verdict := "pass"
		if !r.OK {
			verdict = "FAIL"
			failed++
		}
		info := strings.Join(r.Figures, " ")
		if r.Detail != "" {
			if info != "" {
				info += "; "
			}
			info += oneLine(r.Detail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fs\t%s\n", r.Suite, r.Scenario, verdict, r.Seconds, info)
	}
	tw.Flush()
	return failed
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
