package vmtest

import (
	"bytes"
	"strings"
	"testing"
)

// A real /proc/PID/status of a process under the shipped gateway unit
// (trimmed), and variations that each break one directive.
const hardened = `Name:	hermes-gateway
Umask:	0077
State:	S (sleeping)
NoNewPrivs:	1
Seccomp:	2
Seccomp_filters:	11
CapInh:	0000000000000000
CapPrm:	0000000000000000
CapEff:	0000000000000000
CapBnd:	0000000000000000
CapAmb:	0000000000000000
`

func TestSandboxProblems(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		seccomp      bool
		want         []string // substrings, one per problem
	}{
		{"as shipped", hardened, true, nil},
		{"NoNewPrivileges off", strings.Replace(hardened, "NoNewPrivs:	1", "NoNewPrivs:	0", 1), true, []string{"NoNewPrivs: 0"}},
		{"no seccomp filter", strings.Replace(hardened, "Seccomp:	2", "Seccomp:	0", 1), true, []string{"Seccomp: 0"}},
		{"no filter, none wanted", strings.Replace(hardened, "Seccomp:	2", "Seccomp:	0", 1), false, nil},
		{"a full bounding set", strings.Replace(hardened, "CapBnd:	0000000000000000", "CapBnd:	000001ffffffffff", 1), true, []string{"CapBnd: 000001ffffffffff"}},
		{"root's capabilities", strings.NewReplacer("CapEff:	0000000000000000", "CapEff:	000001ffffffffff", "CapPrm:	0000000000000000", "CapPrm:	000001ffffffffff").Replace(hardened), true,
			[]string{"CapEff", "CapPrm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseStatus(strings.NewReader(tc.status))
			if err != nil {
				t.Fatal(err)
			}
			got := s.Problems(tc.seccomp)
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %d like %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d: %q, want it to name %q", i, got[i], w)
				}
			}
		})
	}
}

func TestParseStatusRefusesOtherFiles(t *testing.T) {
	if _, err := ParseStatus(strings.NewReader("MemTotal: 1 kB\n")); err == nil {
		t.Fatal("a file without NoNewPrivs and CapBnd was taken for a process status")
	}
}

func TestParseFindsResultsAmongConsoleNoise(t *testing.T) {
	a := Result{Suite: "trixie", Scenario: "1 install", OK: true, Figures: []string{"linger=yes"}, Seconds: 3.5, Boot: 1}
	b := Result{Suite: "trixie", Scenario: "2 restarts", Detail: "the client saw 1 refused", Boot: 1}
	log := "[   12.3] systemd[1]: Started foo.\r\n" + a.Line() + "\r\n" +
		"\x1b[0m vmtest trixie [00:01:02]: 2 restarts: running\n" +
		"[ 13.0] kernel noise " + b.Line() + "\n" + Result{Marker: MarkDone}.Line() + "\n"
	got, err := Parse(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Scenario != a.Scenario || !got[0].OK || got[1].Detail != b.Detail || got[2].Marker != MarkDone {
		t.Fatalf("parsed %+v", got)
	}
}

func TestParseRefusesAGarbledResult(t *testing.T) {
	if _, err := Parse(strings.NewReader(Prefix + `{"suite":"trixie","ok":tru` + "\n")); err == nil {
		t.Fatal("a cut result line was ignored; a garbled run must not pass")
	}
}

func TestTableCountsFailuresAndSkipsMarkers(t *testing.T) {
	var buf bytes.Buffer
	n := Table(&buf, []Result{
		{Suite: "bookworm", Scenario: "1 install", OK: true, Figures: []string{"linger=yes"}},
		{Suite: "trixie", Scenario: "1 install", OK: true},
		{Suite: "bookworm", Scenario: "2 restarts", Detail: "refused\n3"},
		{Suite: "bookworm", Marker: MarkDone},
	})
	if n != 1 {
		t.Fatalf("%d failures, want 1", n)
	}
	out := buf.String()
	if strings.Contains(out, MarkDone) || !strings.Contains(out, "FAIL") || !strings.Contains(out, "refused 3") {
		t.Fatalf("table:\n%s", out)
	}
	// Releases stay together: both bookworm rows before trixie's.
	if strings.Index(out, "2 restarts") > strings.Index(out, "trixie") {
		t.Fatalf("rows of one release are split:\n%s", out)
	}
}
