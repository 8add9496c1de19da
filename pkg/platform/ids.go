package platform

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Ids are written as JSON strings. They are read from a string or from a
// number: records an earlier release stored (pairings, approvals, inbox
// messages) and requests from its clients (`hermes pairing revoke`, the
// updater's announcements) carry Telegram's numeric ids as JSON numbers.

// UnmarshalJSON reads a chat id from a string or a number.
func (c *ChatID) UnmarshalJSON(b []byte) error {
	s, err := idFromJSON(b, "chat id")
	*c = ChatID(s)
	return err
}

// UnmarshalJSON reads a user id from a string or a number.
func (u *UserID) UnmarshalJSON(b []byte) error {
	s, err := idFromJSON(b, "user id")
	*u = UserID(s)
	return err
}

// UnmarshalJSON reads a message id from a string or a number.
func (m *MessageID) UnmarshalJSON(b []byte) error {
	s, err := idFromJSON(b, "message id")
	*m = MessageID(s)
	return err
}

// idFromJSON is an id as text: a JSON string as it is, a JSON integer in
// its decimal digits; null is "". Anything else (a fraction, an object)
// is an error that says what to send.
func idFromJSON(b []byte, what string) (string, error) {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return "", nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return "", fmt.Errorf("%s must be a string or an integer, not %.40s", what, b)
	}
	if _, err := n.Int64(); err != nil {
		return "", fmt.Errorf("%s must be a string or an integer, not %s", what, n)
	}
	return n.String(), nil
}
