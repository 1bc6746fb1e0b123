package embedded

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// TestRealTenants: a tenant whose API is beyond loopback is real; the
// simulated ones (loopback) and disabled ones are not.
func TestRealTenants(t *testing.T) {
	if got := RealTenants(&config.Config{XDRBaseURL: "https://api-acme.xdr.us.paloaltonetworks.com"}); !slices.Equal(got, []string{"api-acme.xdr.us.paloaltonetworks.com"}) {
		t.Errorf("XDR_BASE_URL of a real tenant: %v", got)
	}
	for _, base := range []string{"", "http://127.0.0.1:8089", "http://localhost:1", "http://[::1]:2"} {
		if got := RealTenants(&config.Config{XDRBaseURL: base}); got != nil {
			t.Errorf("XDR_BASE_URL %q: %v, want none", base, got)
		}
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tenants.yaml")
	entry := func(id, base string) string {
		return "  - id: " + id + "\n    base_url: " + base + "\n    api_key_id: \"1\"\n    api_key_file: " + key + "\n"
	}
	content := "tenants:\n" + entry("sim", "http://127.0.0.1:8089") + entry("acme", "https://api-acme.example") +
		entry("off", "https://api-off.example") + "    disabled: true\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// The environment's defaults, as run has them: every per-tenant setting a
	// tenant inherits must be set, or LoadTenants refuses the file.
	cfg, err := config.Load(t.Context(), envconfig.MapLookuper(map[string]string{"TENANTS_FILE": file}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadTenants(file, cfg); err != nil {
		t.Fatalf("the tenants file is refused: %v", err)
	}
	if got := RealTenants(cfg); !slices.Equal(got, []string{"acme"}) {
		t.Errorf("tenants file: %v, want [acme]", got)
	}
}
