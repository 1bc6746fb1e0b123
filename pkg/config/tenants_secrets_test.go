package config

import (
	"strings"
	"testing"
)

// TestTenantsFileErrorsNeverQuoteTheKey: keys whose first character
// YAML reads as syntax, or a file that YAML cannot parse around the key,
// must not have the key quoted by the error.
func TestTenantsFileErrorsNeverQuoteTheKey(t *testing.T) {
	const key = "Zq8nVx3LkP0rT7yWb2HcJ5mDf9GsAe4U"
	for _, tc := range []struct{ name, value string }{
		{"a key starting with *", "*" + key},
		{"a key starting with & and a space", "&" + key + " x"},
		{"a key starting with !", "!" + key},
		{"a key starting with %", "%" + key},
		{"a key starting with @", "@" + key},
		{"a key with ': '", key[:10] + ": " + key[10:]},
		{"a key with a tab", key[:10] + "\t" + key[10:]},
		{"an unterminated quote", `"` + key},
		{"a bad escape", `"` + key + `\q"`},
		{"a flow mapping", "{" + key + "}"},
		{"the key as a mapping key", "\n      " + key + ": 1"},
	} {
		file := "tenants:\n  - id: acme\n    base_url: https://api-acme.example\n    api_key_id: \"1\"\n    api_key: " + tc.value + "\n"
		_, err := ParseTenants([]byte(file), envDefaults(t))
		if err == nil {
			continue
		}
		msg := err.Error()
		for i := 0; i+8 <= len(key); i++ {
			if strings.Contains(msg, key[i:i+8]) {
				t.Errorf("%s: the error quotes the key: %s", tc.name, msg)
				break
			}
		}
	}
}
