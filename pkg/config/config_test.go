package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

const testKey = "k3y-SHOULD-NEVER-BE-PRINTED-0123456789"

func TestDefaults(t *testing.T) {
	c, err := Load(context.Background(), envconfig.MapLookuper(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.PollInterval != 30*time.Second || c.EnrichRateLimit != 10 || c.EnrichRateWindow != time.Minute ||
		c.TopicOffsets != "xdr.connector.offsets" || c.XDRAuthMode != "standard" || c.AlertsLimit != 1000 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestEveryBadVariableIsNamed(t *testing.T) {
	cases := []struct {
		env  map[string]string
		vars []string
	}{
		{map[string]string{"POLL_INTERVAL": "often"}, []string{"POLL_INTERVAL"}},
		{map[string]string{"POLL_INTERVAL": "often", "ENRICH_RATE_LIMIT": "ten", "LOG_LEVEL": "loud"}, []string{"POLL_INTERVAL", "ENRICH_RATE_LIMIT", "LOG_LEVEL"}},
		{map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY": testKey}, []string{"XDR_API_KEY_ID"}},
		{map[string]string{"XDR_BASE_URL": "ftp://x", "XDR_API_KEY_ID": "1", "XDR_API_KEY": testKey}, []string{"XDR_BASE_URL"}},
		{map[string]string{"XDR_AUTH_MODE": "magic", "XDR_API_KEY": testKey}, []string{"XDR_AUTH_MODE"}},
		{map[string]string{"START_FROM": "yesterday"}, []string{"START_FROM"}},
		{map[string]string{"KAFKA_BROKERS": "nohost"}, []string{"KAFKA_BROKERS"}},
		{map[string]string{"KAFKA_TOPIC_ALERTS": "bad topic!"}, []string{"KAFKA_TOPIC_ALERTS"}},
		{map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "1", "XDR_API_KEY_FILE": "/nonexistent/key"}, []string{"XDR_API_KEY_FILE"}},
		{map[string]string{"ENRICH_RATE_WINDOW": "0s"}, []string{"ENRICH_RATE_WINDOW"}},
		{map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI"}, []string{"KAFKA_SASL_MECHANISM"}},
		{map[string]string{"KAFKA_COMPRESSION": "brotli"}, []string{"KAFKA_COMPRESSION"}},
		{map[string]string{"XDR_BASE_URL": "https://" + testKey + "@api-x.example", "XDR_API_KEY_ID": "1", "XDR_API_KEY": testKey}, []string{"XDR_BASE_URL"}},
		{map[string]string{"KAFKA_COMPRESSION": "ZSTD"}, []string{"KAFKA_COMPRESSION"}},
		{map[string]string{"OUTPUT_PROFILES": "native,splunk"}, []string{"OUTPUT_PROFILES"}},
		{map[string]string{"OUTPUT_PROFILES": ""}, []string{"OUTPUT_PROFILES"}},
		{map[string]string{"KAFKA_TOPIC_OCSF_ALERTS": "xdr.{tenant}.ocsf"}, []string{"KAFKA_TOPIC_OCSF_ALERTS"}}, // {tenant} needs TENANTS_FILE
	}
	for _, tc := range cases {
		_, err := Load(context.Background(), envconfig.MapLookuper(tc.env))
		if err == nil {
			t.Errorf("%v: no error", tc.env)
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%v: error %v has no FieldError", tc.env, err)
		}
		for _, v := range tc.vars {
			if !strings.Contains(err.Error(), v+":") {
				t.Errorf("%v: error %q does not name %s", tc.env, err, v)
			}
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("%v: error leaks the API key", tc.env)
		}
	}
}

func TestVarsCoverEveryField(t *testing.T) {
	vars := Vars()
	seen := map[string]bool{}
	for _, v := range vars {
		if v.Name == "" || seen[v.Name] {
			t.Errorf("bad or duplicate variable %q", v.Name)
		}
		seen[v.Name] = true
	}
	for _, want := range []string{"XDR_BASE_URL", "XDR_API_KEY_ID", "XDR_API_KEY", "XDR_API_KEY_FILE", "XDR_AUTH_MODE", "KAFKA_BROKERS",
		"KAFKA_TOPIC_INCIDENTS", "KAFKA_TOPIC_ALERTS", "KAFKA_TOPIC_ARTIFACTS", "KAFKA_TOPIC_OFFSETS", "KAFKA_TOPIC_DLQ", "CONNECTOR_NAME",
		"POLL_INTERVAL", "LOOKBACK", "START_FROM", "ENRICH_RATE_LIMIT", "ENRICH_RATE_WINDOW", "ALERTS_LIMIT", "LOG_LEVEL"} {
		if !seen[want] {
			t.Errorf("contract variable %s missing", want)
		}
	}
}

func TestParseStartFrom(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]int64{
		"now":                  now.UnixMilli(),
		"72h":                  now.Add(-72 * time.Hour).UnixMilli(),
		"2025-12-31T00:00:00Z": time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli(),
	} {
		got, err := ParseStartFrom(in, now)
		if err != nil || got != want {
			t.Errorf("ParseStartFrom(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1h", "soon"} {
		if _, err := ParseStartFrom(in, now); err == nil {
			t.Errorf("ParseStartFrom(%q): no error", in)
		}
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"xdr-connector": true, "acme.xdr.eu": true, "127.0.0.1:8089": true, "Tenant_01": true, "a": true,
		"": false, "R&D": false, "a b": false, "acme/eu": false, "-acme": false, ".acme": false, "é": false,
		strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestValidateReadsNoFiles: Validate is pure; Load is what reads the secret
// files, and a missing file is named once.
func TestValidateReadsNoFiles(t *testing.T) {
	env := map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "7", "XDR_API_KEY_FILE": "/nonexistent/key"}
	c, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	c.XDRBaseURL, c.XDRAPIKeyID, c.XDRAPIKeyFile = env["XDR_BASE_URL"], env["XDR_API_KEY_ID"], env["XDR_API_KEY_FILE"]
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate read the file: %v", err)
	}
	_, err = Load(context.Background(), envconfig.MapLookuper(env))
	if err == nil || !strings.Contains(err.Error(), "XDR_API_KEY_FILE") || !strings.Contains(err.Error(), "/nonexistent") && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Load: %v", err)
	}
	if strings.Contains(err.Error(), "XDR_API_KEY:") {
		t.Fatalf("a missing key file also reported a missing key: %v", err)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("  the-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env["XDR_API_KEY_FILE"] = key
	c, err = Load(context.Background(), envconfig.MapLookuper(env))
	if err != nil || c.XDRAPIKey.Reveal() != "the-key" {
		t.Fatalf("Load with a key file: %v", err)
	}
}

// TestGroupDefault: group membership is on by default whenever the connector
// writes to an external Kafka (KAFKA_BROKERS), off with the embedded broker,
// and KAFKA_GROUP_ENABLED forces it either way.
func TestGroupDefault(t *testing.T) {
	for _, tc := range []struct {
		env               map[string]string
		group, external   bool
		wantErrorMentions string
	}{
		{env: map[string]string{}},
		{env: map[string]string{"KAFKA_BROKERS": "k:9092"}, group: true, external: true},
		{env: map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_GROUP_ENABLED": "auto"}, group: true, external: true},
		{env: map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_GROUP_ENABLED": "false"}, external: true},
		{env: map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_GROUP_ENABLED": "0"}, external: true},
		{env: map[string]string{"KAFKA_GROUP_ENABLED": "true"}, group: true},
		{env: map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_GROUP_ENABLED": "maybe"}, wantErrorMentions: "KAFKA_GROUP_ENABLED: must be auto, true or false"},
		// The group's settings are checked once the default turns it on.
		{env: map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_GROUP_SESSION_TIMEOUT": "1s"}, wantErrorMentions: "KAFKA_GROUP_HEARTBEAT_INTERVAL"},
	} {
		c, err := Load(context.Background(), envconfig.MapLookuper(tc.env))
		if tc.wantErrorMentions != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErrorMentions) {
				t.Errorf("%v: error %v, want one mentioning %q", tc.env, err, tc.wantErrorMentions)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if c.GroupEnabled != tc.group || c.ExternalKafka != tc.external {
			t.Errorf("%v: group %v, external %v; want %v, %v", tc.env, c.GroupEnabled, c.ExternalKafka, tc.group, tc.external)
		}
	}
}
