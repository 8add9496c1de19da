package fakebot

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// entityTypes are the types sendMessage accepts in its entities parameter.
var entityTypes = map[string]bool{
	"mention": true, "hashtag": true, "cashtag": true, "bot_command": true, "url": true, "email": true,
	"phone_number": true, "bold": true, "italic": true, "underline": true, "strikethrough": true,
	"spoiler": true, "blockquote": true, "expandable_blockquote": true, "code": true, "pre": true,
	"text_link": true, "text_mention": true, "custom_emoji": true,
}

// explicitEntities reads the entities parameter as the Bot API server does
// (a JSON array of MessageEntity objects, each checked field by field), then
// fixes them as TDLib does: entities past the end of the text are cut to
// it, empty ones dropped, and nothing is kept inside code or pre.
func explicitEntities(v, text string) ([]MessageEntity, *APIError) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, apiErr(400, "Bad Request: can't parse entities JSON object")
	}
	n := utf16Len(text)
	var out []MessageEntity
	for _, r := range raw {
		var obj map[string]json.RawMessage
		if json.Unmarshal(r, &obj) != nil || obj == nil {
			return nil, apiErr(400, "Bad Request: can't parse MessageEntity: expected an Object")
		}
		var e MessageEntity
		typ, ok := obj["type"]
		if !ok {
			return nil, apiErr(400, `Bad Request: can't parse MessageEntity: Can't find field "type"`)
		}
		if json.Unmarshal(typ, &e.Type) != nil {
			return nil, apiErr(400, `Bad Request: can't parse MessageEntity: Field "type" must be of type String`)
		}
		if !entityTypes[e.Type] {
			return nil, apiErr(400, "Bad Request: can't parse MessageEntity: Unsupported type specified")
		}
		for _, f := range []struct {
			name string
			dst  *int
		}{{"offset", &e.Offset}, {"length", &e.Length}} {
			fv, ok := obj[f.name]
			if !ok {
				return nil, apiErr(400, fmt.Sprintf(`Bad Request: can't parse MessageEntity: Can't find field "%s"`, f.name))
			}
			if json.Unmarshal(fv, f.dst) != nil {
				return nil, apiErr(400, fmt.Sprintf(`Bad Request: can't parse MessageEntity: Field "%s" must be of type Number`, f.name))
			}
		}
		if lang, ok := obj["language"]; ok && e.Type == "pre" {
			_ = json.Unmarshal(lang, &e.Language)
		}
		if e.Type == "text_link" {
			u, ok := obj["url"]
			if !ok {
				return nil, apiErr(400, `Bad Request: can't parse MessageEntity: Can't find field "url"`)
			}
			if json.Unmarshal(u, &e.URL) != nil {
				return nil, apiErr(400, `Bad Request: can't parse MessageEntity: Field "url" must be of type String`)
			}
			if why := badEntityURL(e.URL); why != "" {
				return nil, apiErr(400, fmt.Sprintf("Bad Request: Entity URL '%s' is invalid: %s", e.URL, why))
			}
		}
		if e.Offset < 0 || e.Length <= 0 || e.Offset >= n {
			continue
		}
		e.Length = min(e.Length, n-e.Offset)
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Offset != out[j].Offset {
			return out[i].Offset < out[j].Offset
		}
		return out[i].Length > out[j].Length
	})
	// Nothing is formatted inside code or pre.
	kept := out[:0]
	for _, e := range out {
		inside := false
		for _, c := range kept {
			if (c.Type == "code" || c.Type == "pre") && e.Offset >= c.Offset && e.Offset+e.Length <= c.Offset+c.Length {
				inside = true
				break
			}
		}
		if !inside {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

// badEntityURL says why TDLib refuses a text_link's URL, or "".
func badEntityURL(u string) string {
	if scheme, _, ok := strings.Cut(u, "://"); ok {
		switch strings.ToLower(scheme) {
		case "http", "https", "tg", "ton":
			return ""
		}
		return "Unsupported URL protocol"
	}
	if !plausibleURL(u) {
		return "Wrong HTTP URL"
	}
	return ""
}
