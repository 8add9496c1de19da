package platform

import (
	"encoding/json"
	"testing"
)

func TestIDsReadStringsAndNumbersAndWriteStrings(t *testing.T) {
	type rec struct {
		Chat ChatID    `json:"chat_id"`
		User UserID    `json:"user_id"`
		ID   MessageID `json:"id"`
	}
	for _, c := range []struct {
		in      string
		want    rec
		wantErr bool
	}{
		{in: `{"chat_id":-100123,"user_id":42,"id":9}`, want: rec{"-100123", "42", "9"}},
		{in: `{"chat_id":"!room:example.org","user_id":"@a:example.org","id":"$ev"}`, want: rec{"!room:example.org", "@a:example.org", "$ev"}},
		{in: `{"chat_id":"7","user_id":null}`, want: rec{Chat: "7"}},
		{in: `{"chat_id":1.5}`, wantErr: true},
		{in: `{"user_id":{"x":1}}`, wantErr: true},
		{in: `{"id":true}`, wantErr: true},
		{in: `{"chat_id":99999999999999999999}`, wantErr: true},
	} {
		var got rec
		err := json.Unmarshal([]byte(c.in), &got)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err = %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if !c.wantErr && got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.in, got, c.want)
		}
	}
	b, _ := json.Marshal(rec{"-100123", "42", "9"})
	if string(b) != `{"chat_id":"-100123","user_id":"42","id":"9"}` {
		t.Errorf("written as %s, want strings", b)
	}
}
