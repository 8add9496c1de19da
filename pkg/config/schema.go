package config

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// examples gives, for every key, a valid value to quote in fixes ("set
// KEY = EXAMPLE"). TestSchemaExamples keeps it in step with the structs.
var examples = map[string]string{
	"gateway.drain_timeout":  `"20s"`,
	"gateway.state_dir":      `"/home/you/.local/state/hermes"`,
	"gateway.control_socket": `"/run/user/1000/hermes/gateway.sock"`,
	"gateway.keep_versions":  `3`,

	"telegram.enabled":      `true`,
	"telegram.token_file":   `"telegram.token"`,
	"telegram.api_url":      `"https://api.telegram.org"`,
	"telegram.mode":         `"poll"`,
	"telegram.poll_timeout": `"30s"`,
	"telegram.admins":       `[123456789]`,
	"telegram.users":        `[123456789]`,
	"telegram.groups":       `[-1001234567890]`,

	"telegram.webhook.public_url":     `"https://bot.example.org/telegram"`,
	"telegram.webhook.listen":         `"127.0.0.1:8443"`,
	"telegram.webhook.secret_file":    `"webhook.secret"`,
	"telegram.webhook.tls_cert":       `"/etc/ssl/hermes/cert.pem"`,
	"telegram.webhook.tls_key":        `"/etc/ssl/hermes/key.pem"`,
	"telegram.webhook.max_body_bytes": `1048576`,

	"matrix.enabled":           `true`,
	"matrix.homeserver":        `"https://matrix.example.org"`,
	"matrix.user_id":           `"@hermes:example.org"`,
	"matrix.access_token_file": `"matrix.token"`,
	"matrix.admins":            `["@you:example.org"]`,
	"matrix.users":             `["@friend:example.org"]`,
	"matrix.sync_timeout":      `"30s"`,

	"agent.backend":              `"echo"`,
	"agent.max_concurrent_chats": `8`,
	"agent.history_turns":        `20`,
	"agent.history_chars":        `16000`,
	"agent.max_file_bytes":       `20971520`,

	"agent.openai.base_url":      `"https://api.openai.com/v1"`,
	"agent.openai.model":         `"gpt-4o-mini"`,
	"agent.openai.system_prompt": `"You are a helpful assistant."`,
	"agent.openai.api_key_file":  `"openai.key"`,
	"agent.openai.timeout":       `"60s"`,
	"agent.openai.max_retries":   `3`,
	"agent.openai.vision":        `true`,

	"agent.exec.command":          `["/usr/local/bin/my-agent", "--once"]`,
	"agent.exec.timeout":          `"60s"`,
	"agent.exec.max_output_bytes": `65536`,
	"agent.exec.output":           `"json"`,
	"agent.exec.input":            `"json"`,
}

// exampleFix is the generic fix for a key holding a value of the wrong type.
func exampleFix(key string) string {
	if ex, ok := examples[key]; ok {
		return fmt.Sprintf("set %s = %s", key, ex)
	}
	if _, ok := schemaTypes()[key]; ok {
		return fmt.Sprintf("make it a table: a line [%s] followed by its keys", key)
	}
	return ""
}

type schemaInfo struct {
	types    map[string]reflect.Type // dotted key -> Go type, tables included
	children map[string][]string     // table ("" for the root) -> its keys in file order
}

// schema derives the set of keys from Config's toml tags, so that it cannot
// drift from what the decoder accepts.
var schema = sync.OnceValue(func() schemaInfo {
	s := schemaInfo{types: map[string]reflect.Type{}, children: map[string][]string{}}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || name == "-" || name == "" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			s.types[key] = f.Type
			s.children[prefix] = append(s.children[prefix], name)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
				walk(f.Type, key)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return s
})

func schemaTypes() map[string]reflect.Type { return schema().types }

func schemaChildren(table string) []string { return schema().children[table] }
