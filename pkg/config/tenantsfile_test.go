package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestYAMLString: a scalar is written plain when it reads back as the same
// string, quoted otherwise.
func TestYAMLString(t *testing.T) {
	for in, want := range map[string]string{
		"t01":                         "t01",
		"http://127.0.0.1:8089/t/t01": "http://127.0.0.1:8089/t/t01",
		"/abs/tenants.yaml.keys/t01":  "/abs/tenants.yaml.keys/t01",
		"/a b/c":                      `"/a b/c"`,
		`C:\keys\t1`:                  `"C:\\keys\\t1"`,
		"123":                         `"123"`,
		"true":                        `"true"`,
		"-x":                          `"-x"`,
		"a#b":                         `"a#b"`,
	} {
		if got := yamlString(in); got != want {
			t.Errorf("yamlString(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestTenantsFileRoundTrip: what FormatTenantsFile writes, LoadTenants
// reads back as written, defaults included; the entry of an inline key is
// the one the tests' fleets write.
func TestTenantsFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "a b.key")
	if err := os.WriteFile(key, []byte("secret-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	entries := []TenantsFileEntry{
		{ID: "t01", BaseURL: "http://127.0.0.1:8089/t/t01", APIKeyID: "7", APIKeyFile: key, AuthMode: "standard"},
		{ID: "123", BaseURL: "https://api-x.example", APIKeyID: "8", APIKey: "secret-b"},
	}
	b := FormatTenantsFile("written by a test\nsecond line", TenantsFileDefaults{EnrichRateLimit: 4, EnrichRateWindow: 3 * time.Second}, entries)
	file := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(file, []byte(b), 0o600); err != nil {
		t.Fatal(err)
	}
	ts, err := LoadTenants(file, envDefaults(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(ts) != 2 {
		t.Fatalf("%d tenants\n%s", len(ts), b)
	}
	for i, e := range entries {
		got := ts[i]
		if got.ID != e.ID || got.BaseURL != e.BaseURL || got.APIKeyID != e.APIKeyID || got.EnrichRateLimit != 4 || got.EnrichRateWindow != 3*time.Second {
			t.Errorf("tenant %d: %+v\n%s", i, got, b)
		}
	}
	if ts[0].APIKey.Reveal() != "secret-a" || ts[1].APIKey.Reveal() != "secret-b" {
		t.Errorf("keys not read back\n%s", b)
	}
	if want := "  - id: t9\n    base_url: http://h/t/t9\n    api_key_id: \"3\"\n    api_key: k\n"; (TenantsFileEntry{ID: "t9", BaseURL: "http://h/t/t9", APIKeyID: "3", APIKey: "k"}).Format() != want {
		t.Errorf("inline entry:\n%s", TenantsFileEntry{ID: "t9", BaseURL: "http://h/t/t9", APIKeyID: "3", APIKey: "k"}.Format())
	}
}
