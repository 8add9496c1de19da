package agent

import "unicode/utf8"

// Trim returns the newest part of the history h that holds at most maxTurns
// turns and maxChars characters (runes) of content, oldest first, in a new
// slice (h is not modified). A value <= 0 means no limit.
//
// A turn is a user message and the messages after it up to the next user
// message (normally the assistant's reply); messages before the first user
// message count as one turn. Whole turns are kept, newest first, while they
// fit, so the result starts with a user message. Only when the newest turn
// alone does not fit are its newest messages kept one by one, and only when
// the newest message alone exceeds maxChars is a message cut: then the
// result is that message alone, holding the tail (the last maxChars runes)
// of its content.
//
// System messages are dropped: they are neither counted nor kept (the
// backend adds its own system prompt).
func Trim(h []Message, maxTurns, maxChars int) []Message {
	msgs := make([]Message, 0, len(h))
	for _, m := range h {
		if m.Role != RoleSystem {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	// starts[g] is the index of turn g's first message.
	var starts []int
	for i, m := range msgs {
		if i == 0 || m.Role == RoleUser {
			starts = append(starts, i)
		}
	}

	keep := len(msgs) // msgs[keep:] is kept
	total, turns := 0, 0
	for g := len(starts) - 1; g >= 0; g-- {
		if maxTurns > 0 && turns >= maxTurns {
			break
		}
		turn := msgs[starts[g]:keep]
		n := 0
		for _, m := range turn {
			n += utf8.RuneCountInString(m.Content)
		}
		if maxChars <= 0 || total+n <= maxChars {
			total += n
			turns++
			keep = starts[g]
			continue
		}
		if turns == 0 {
			// The newest turn alone is too long: keep its newest
			// messages that fit.
			for keep > starts[g] {
				n := utf8.RuneCountInString(msgs[keep-1].Content)
				if total+n > maxChars {
					break
				}
				total += n
				keep--
			}
			if keep == len(msgs) {
				// The newest message alone is too long: keep its tail.
				m := msgs[len(msgs)-1]
				m.Content = tail(m.Content, maxChars)
				return []Message{m}
			}
		}
		break
	}
	if keep == len(msgs) {
		return nil
	}
	return append([]Message(nil), msgs[keep:]...)
}

// tail returns the last n runes of s.
func tail(s string, n int) string {
	count := utf8.RuneCountInString(s)
	if count <= n {
		return s
	}
	i := 0
	for skip := count - n; skip > 0; skip-- {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[i:]
}
