package manpage

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"--config":       `\-\-config`,
		`C:\path`:        `C:\epath`,
		".hidden":        `\&.hidden`,
		"'quoted":        `\&'quoted`,
		"wait…":          `wait\[u2026]`,
		"🚨 failed":       `\[u1F6A8] failed`,
		"plain text (1)": "plain text (1)",
	} {
		require.Equal(t, want, escape(in), in)
	}
}

func TestWrite(t *testing.T) {
	p := Page{Name: "tool", Section: 1, Title: "does things", Date: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Source: "tool v1",
		Synopsis: []string{"tool [FLAGS]"},
		Sections: []Section{{Title: "Options", Items: []Item{{Tag: "--x", Text: []string{"first\n\nsecond"}, Flags: []Item{{Tag: "--y", Text: []string{"why"}}}}}}}}
	var b bytes.Buffer
	require.NoError(t, p.Write(&b))
	out := b.String()
	require.True(t, strings.HasPrefix(out, `.TH "TOOL" 1 "2026\-01\-02" "tool v1" "User Commands"`+"\n"), out)
	require.Contains(t, out, ".SH NAME\ntool \\- does things\n")
	require.Contains(t, out, ".TP\n.B \\-\\-x\nfirst\n.IP\nsecond\n.RS\n.TP\n.B \\-\\-y\nwhy\n.RE\n", "a blank line inside an item stays indented; flags nest")
	require.Equal(t, "tool.1", p.FileName())
}
