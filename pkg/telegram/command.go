package telegram

import "strings"

// ParseCommand reads a bot command as Telegram writes it: "/restart@MyBot
// now" is ("restart", "now"), the name lower-cased, the @bot suffix (which
// names the bot a group command is for) dropped. ok is false for text that
// is not a command.
func ParseCommand(text string) (name, args string, ok bool) {
	if !strings.HasPrefix(text, "/") {
		return "", "", false
	}
	first, rest, _ := strings.Cut(strings.TrimSpace(text[1:]), " ")
	name, _, _ = strings.Cut(first, "@")
	if name == "" {
		return "", "", false
	}
	return strings.ToLower(name), strings.TrimSpace(rest), true
}
