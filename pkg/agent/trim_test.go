package agent

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func u(s string) Message { return Message{Role: RoleUser, Content: s} }
func a(s string) Message { return Message{Role: RoleAssistant, Content: s} }
func sys(s string) Message {
	return Message{Role: RoleSystem, Content: s}
}

func TestTrim(t *testing.T) {
	long := strings.Repeat("x", 50)
	tests := []struct {
		name     string
		h        []Message
		turns    int
		chars    int
		expected []Message
	}{
		{"empty", nil, 10, 100, nil},
		{"only system", []Message{sys("be nice")}, 10, 100, nil},
		{"everything fits", []Message{u("a"), a("b"), u("c"), a("d")}, 10, 100,
			[]Message{u("a"), a("b"), u("c"), a("d")}},
		{"system messages are dropped and not counted", []Message{sys(long), u("a"), a("b"), sys(long)}, 1, 2,
			[]Message{u("a"), a("b")}},
		{"turn limit keeps the newest turns", []Message{u("1"), a("1"), u("2"), a("2"), u("3"), a("3")}, 2, 100,
			[]Message{u("2"), a("2"), u("3"), a("3")}},
		{"char limit keeps whole turns", []Message{u("aaaa"), a("bbbb"), u("cc"), a("dd"), u("ee"), a("ff")}, 10, 10,
			[]Message{u("cc"), a("dd"), u("ee"), a("ff")}},
		{"char limit exactly reached", []Message{u("aaaa"), a("bbbb"), u("cc"), a("dd")}, 10, 12,
			[]Message{u("aaaa"), a("bbbb"), u("cc"), a("dd")}},
		{"an older turn is not split", []Message{u("aaaa"), a("b"), u("cc"), a("dd")}, 10, 6,
			[]Message{u("cc"), a("dd")}},
		{"newest turn too long: its newest messages that fit", []Message{u("old"), a("old"), u(long), a("short")}, 10, 20,
			[]Message{a("short")}},
		{"newest message too long: its tail", []Message{u("a"), a("b"), u("c"), a("0123456789")}, 10, 4,
			[]Message{a("6789")}},
		{"tail counts runes", []Message{u("héllo wörld")}, 10, 5,
			[]Message{u("wörld")}},
		{"chars are runes, not bytes", []Message{u("éé"), a("éé")}, 10, 4,
			[]Message{u("éé"), a("éé")}},
		{"leading assistant messages are one turn", []Message{a("orphan"), u("q"), a("r")}, 2, 100,
			[]Message{a("orphan"), u("q"), a("r")}},
		{"an unanswered message is a turn", []Message{u("1"), a("1"), u("lost"), u("3"), a("3")}, 2, 100,
			[]Message{u("lost"), u("3"), a("3")}},
		{"history ending with a user message", []Message{u("1"), a("1"), u("2")}, 1, 100,
			[]Message{u("2")}},
		{"several replies to one message stay with it", []Message{u("1"), a("1"), u("2"), a("2a"), a("2b")}, 1, 100,
			[]Message{u("2"), a("2a"), a("2b")}},
		{"no limits", []Message{u("1"), a("1"), u(long), a(long)}, 0, 0,
			[]Message{u("1"), a("1"), u(long), a(long)}},
		{"one turn", []Message{u("1"), a("1"), u("2"), a("2")}, 1, 0,
			[]Message{u("2"), a("2")}},
		{"empty contents count nothing", []Message{u(""), a(""), u("abc"), a("")}, 10, 3,
			[]Message{u(""), a(""), u("abc"), a("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.expected, Trim(tt.h, tt.turns, tt.chars))
		})
	}
}

func TestTrimDoesNotAlias(t *testing.T) {
	h := []Message{u("1"), a("1"), u("2"), a("2")}
	got := Trim(h, 1, 100)
	got[0].Content = "changed"
	_ = append(got, u("3"))
	require.Equal(t, []Message{u("1"), a("1"), u("2"), a("2")}, h)
}

func TestTrimResultRespectsLimits(t *testing.T) {
	// Whatever the history, the result fits both limits.
	var h []Message
	for i := range 40 {
		h = append(h, u(strings.Repeat("q", i*7%23)), a(strings.Repeat("r", i*13%31)))
	}
	for turns := 1; turns <= 12; turns++ {
		for chars := 1; chars <= 200; chars += 7 {
			got := Trim(h, turns, chars)
			n, users := 0, 0
			for _, m := range got {
				n += len(m.Content)
				if m.Role == RoleUser {
					users++
				}
			}
			require.LessOrEqual(t, n, chars, "turns=%d chars=%d", turns, chars)
			require.LessOrEqual(t, users, turns, "turns=%d chars=%d", turns, chars)
			require.NotEmpty(t, got, "turns=%d chars=%d", turns, chars)
			require.Equal(t, h[len(h)-1].Role, got[len(got)-1].Role, "the newest message is kept")
		}
	}
}
