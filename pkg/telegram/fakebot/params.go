package fakebot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxBodyBytes bounds a request body; Telegram accepts uploads up to 50 MB.
const maxBodyBytes = 50 << 20

// params holds the parameters of one Bot API call. The Bot API accepts them
// in the query string, as application/x-www-form-urlencoded, as
// multipart/form-data or as a JSON object, so all four are folded into one
// map of strings. Structured values (arrays, objects) are kept as their JSON
// text, which is also how form-encoding clients send them.
type params map[string]string

func parseParams(r *http.Request) (params, error) {
	p := params{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			p[k] = v[0]
		}
	}
	if r.Body == nil {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(nil, r.Body, maxBodyBytes)
	switch ct {
	case "application/json":
		raw, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("read json body: %w", err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			return p, nil
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("decode json body: %w", err)
		}
		for k, v := range obj {
			v = bytes.TrimSpace(v)
			switch {
			case string(v) == "null":
				// JSON null means "not given", like an absent field.
			case len(v) > 0 && v[0] == '"':
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					return nil, fmt.Errorf("decode json field %q: %w", k, err)
				}
				p[k] = s
			default:
				p[k] = string(v)
			}
		}
	case "application/x-www-form-urlencoded":
		raw, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("read form body: %w", err)
		}
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, fmt.Errorf("decode form body: %w", err)
		}
		for k, v := range vals {
			if len(v) > 0 {
				p[k] = v[0]
			}
		}
	case "multipart/form-data":
		r.Body = body
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			return nil, fmt.Errorf("decode multipart body: %w", err)
		}
		for k, v := range r.MultipartForm.Value {
			if len(v) > 0 {
				p[k] = v[0]
			}
		}
		for k := range r.MultipartForm.File {
			p[k] = "attach://" + k
		}
	}
	return p, nil
}

// get returns a parameter; "null" counts as absent because form-encoding
// clients (telegram-bot-api v5 among them) serialise nil slices as null.
func (p params) get(name string) (string, bool) {
	v, ok := p[name]
	if !ok || v == "null" {
		return "", false
	}
	return v, true
}

func (p params) str(name string) string {
	v, _ := p.get(name)
	return v
}

// int parses an integer parameter the lenient way the Bot API server does:
// an absent or empty value gives def, and a value with trailing garbage is
// read up to its first non-digit (so "abc" reads as 0).
func (p params) int(name string, def int) int {
	v, ok := p.get(name)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	return int(leadingInt(v))
}

func (p params) int64(name string) int64 {
	v, _ := p.get(name)
	return leadingInt(v)
}

func leadingInt(s string) int64 {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, _ := strconv.ParseInt(s[:end], 10, 64)
	return n
}

// bool follows the Bot API: "true" and "1" are true, anything else false.
func (p params) bool(name string) bool {
	v, _ := p.get(name)
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "true" || v == "1"
}

// list parses a JSON-serialised array of strings (allowed_updates). set is
// false when the parameter was not given, which Telegram treats as "keep the
// previous setting".
func (p params) list(name string) (vals []string, set bool, err error) {
	v, ok := p.get(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, false, nil
	}
	if err := json.Unmarshal([]byte(v), &vals); err != nil {
		return nil, false, fmt.Errorf("parameter %s: %w", name, err)
	}
	return vals, true, nil
}

// object parses a JSON-serialised object parameter (reply_parameters).
func (p params) object(name string, into any) (bool, error) {
	v, ok := p.get(name)
	if !ok || strings.TrimSpace(v) == "" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(v), into); err != nil {
		return false, fmt.Errorf("parameter %s: %w", name, err)
	}
	return true, nil
}
