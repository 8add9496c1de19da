package exitstatus

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		code    int
		str     string
		sandbox bool
		planned bool
		fixHas  string
	}{
		{0, "0/SUCCESS", false, true, ""},
		{75, "75/TEMPFAIL", false, true, ""},
		{78, "78/CONFIG", false, false, "hermes gateway logs"},
		{1, "1/FAILURE", false, false, "hermes gateway logs"},
		{203, "203/EXEC", false, false, "rollback"},
		{218, "218/CAPABILITIES", true, false, "--sandbox=minimal"},
		{226, "226/NAMESPACE", true, false, "unprivileged_userns_clone"},
		{228, "228/SECCOMP", true, false, "apparmor_restrict_unprivileged_userns"},
		{238, "238/STATE_DIRECTORY", false, false, "XDG_STATE_HOME"},
		{242, "242/NUMA_POLICY", false, false, "journalctl --user -u hermes-gateway"},
		{3, "3", false, false, "hermes gateway logs"},
	} {
		t.Run(tc.str, func(t *testing.T) {
			s := Explain(tc.code)
			assert.Equal(t, tc.str, s.String())
			assert.Equal(t, tc.sandbox, s.Sandbox, "sandbox")
			assert.Equal(t, tc.planned, s.Planned, "planned")
			assert.NotEmpty(t, s.Cause)
			assert.Contains(t, s.Fix, tc.fixHas)
			if !tc.planned {
				assert.NotEmpty(t, s.Fix, "every failure says what to do")
			}
		})
	}
}

// The names are systemd's: compare with the table of the systemd on this
// machine, so a typo or a renumbering is caught.
func TestNamesMatchSystemd(t *testing.T) {
	out, err := exec.Command("systemd-analyze", "exit-status").Output()
	if err != nil {
		t.Skipf("systemd-analyze exit-status: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "systemd" {
			continue
		}
		code, err := strconv.Atoi(f[1])
		require.NoError(t, err)
		assert.Equal(t, f[0], Explain(code).Name, "exit status %d", code)
		assert.True(t, Systemd(code))
		seen++
	}
	assert.Greater(t, seen, 40)
}
