package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse. It must never panic; every
// failure must be a one-line *Error; and whatever it accepts must survive a
// Marshal/Parse round trip unchanged (what `hermes setup` writes must load).
func FuzzParse(f *testing.F) {
	if data, err := Default().Marshal(); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error is %T, not *Error: %v", err, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error spans lines: %q", err.Error())
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal of accepted config: %v", err)
		}
		back, err := Parse(out, "fuzz.toml")
		if err != nil {
			t.Fatalf("re-Parse of marshalled config: %v\n%s", err, out)
		}
		back.lines = c.lines
		out2, _ := back.Marshal()
		if string(out) != string(out2) {
			t.Fatalf("round trip changed the config:\n%s\n---\n%s", out, out2)
		}
	})
}
