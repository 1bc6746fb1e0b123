package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// TestEmbeddedBrokerListensOnLoopbackOnly: the embedded broker's listener
// refuses any address beyond this machine, and port 0 gets a fresh port.
func TestEmbeddedBrokerListensOnLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:9092"} {
		if ln, err := embedded.ListenLoopback("tcp", addr); err == nil {
			_ = ln.Close()
			t.Errorf("embedded.ListenLoopback(%s) listened", addr)
		}
	}
	ln, err := embedded.ListenLoopback("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	if a := ln.Addr().String(); !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":0") {
		t.Errorf("listening on %s, want 127.0.0.1 and a picked port", a)
	}
}

// TestRealTenants: a tenant whose API is beyond loopback is real; the
// simulated ones (loopback) and disabled ones are not.
func TestRealTenants(t *testing.T) {
	if got := realTenants(&config.Config{XDRBaseURL: "https://api-acme.xdr.us.paloaltonetworks.com"}); !slices.Equal(got, []string{"api-acme.xdr.us.paloaltonetworks.com"}) {
		t.Errorf("XDR_BASE_URL of a real tenant: %v", got)
	}
	for _, base := range []string{"", "http://127.0.0.1:8089", "http://localhost:1", "http://[::1]:2"} {
		if got := realTenants(&config.Config{XDRBaseURL: base}); got != nil {
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
	if got := realTenants(cfg); !slices.Equal(got, []string{"acme"}) {
		t.Errorf("tenants file: %v, want [acme]", got)
	}
}

// TestRunWarnsWhenARealTenantFeedsTheEmbeddedBroker: without KAFKA_BROKERS,
// a real tenant makes run say, in its log and on stdout, that the embedded
// broker has no authentication; the broker listens on loopback.
func TestRunWarnsWhenARealTenantFeedsTheEmbeddedBroker(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("k3y"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(file, []byte("tenants:\n  - id: acme\n    base_url: https://api-acme.invalid\n    api_key_id: \"1\"\n    api_key_file: "+key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, map[string]string{"TENANTS_FILE": file, "DATA_DIR": filepath.Join(dir, "data")}, "run")
	testkit.WaitFor(t, 30*time.Second, "the warning and the broker's address", func() bool {
		out := p.out.String()
		return strings.Contains(out, `level=WARN msg="KAFKA_BROKERS is not set: REAL tenants feed an EMBEDDED test broker that has NO AUTHENTICATION`) &&
			strings.Contains(out, "WARNING: real tenant data (acme) goes to an embedded TEST broker without authentication") &&
			brokerLine.MatchString(out)
	})
	if code := p.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Fatalf("SIGINT: exit %d, want 0; output:\n%s", code, p.out.String())
	}
}
