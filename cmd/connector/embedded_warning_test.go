package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
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
