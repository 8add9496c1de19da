package store

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeItem: whatever bytes a record holds (a torn write, another
// version's format), decoding returns an error or an item, never panics.
func FuzzDecodeItem(f *testing.F) {
	f.Add([]byte(`{"platform":"telegram","id":5,"chat_id":7,"msg":{"text":"hi"},"state":"pending","attempts":1}`))
	f.Add([]byte(`{"platform":"telegram","id":"5","chat":"-7","seq":3}`))
	f.Add([]byte(`{`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var it Item
		if err := decodeItem(data, &it); err == nil {
			if _, err := json.Marshal(it); err != nil {
				t.Fatalf("a decoded item does not encode again: %v", err)
			}
		}
	})
}
