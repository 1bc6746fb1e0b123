package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func envDefaults(t *testing.T) *Config {
	t.Helper()
	c, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"TENANTS_FILE": "x", "POLL_INTERVAL": "45s"}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseTenantsResolvesEachLayer(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "acme-key")
	if err := os.WriteFile(key, []byte("acme-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := `
defaults:
  lookback: 5m
  enrich_rate_limit: 8
tenants:
  - id: acme
    base_url: https://api-acme.xdr.us.paloaltonetworks.com
    api_key_id: 42
    api_key_file: ` + key + `
    auth_mode: advanced
    filter_statuses: [new, under_investigation]
    filter_starred: true
  - id: globex.eu
    base_url: https://api-globex.xdr.eu.paloaltonetworks.com
    api_key_id: "7"
    api_key: inline-secret
    poll_interval: 10s
    enrich_rate_limit: 10
    disabled: true
`
	ts, err := ParseTenants([]byte(file), envDefaults(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Fatalf("%d tenants", len(ts))
	}
	a, g := ts[0], ts[1]
	if a.ID != "acme" || a.APIKeyID != "42" || a.APIKey.Reveal() != "acme-secret" || a.AuthMode != "advanced" || a.KeySource != key {
		t.Errorf("acme: %+v", a)
	}
	if a.PollInterval != 45*time.Second || a.Lookback != 5*time.Minute || a.EnrichRateLimit != 8 || a.EnrichRateWindow != time.Minute {
		t.Errorf("acme layers: poll %s (env 45s), lookback %s (defaults 5m), rate %d per %s", a.PollInterval, a.Lookback, a.EnrichRateLimit, a.EnrichRateWindow)
	}
	if strings.Join(a.FilterStatuses, ",") != "new,under_investigation" || a.FilterStarred != "true" {
		t.Errorf("acme filters: %v %q", a.FilterStatuses, a.FilterStarred)
	}
	if g.PollInterval != 10*time.Second || g.EnrichRateLimit != 10 || !g.Disabled || g.AuthMode != "standard" || g.KeySource != "inline" {
		t.Errorf("globex: %+v", g)
	}
	if a.Equal(g) || !a.Equal(ts[0]) {
		t.Error("Equal")
	}
	a2 := a
	a2.APIKey = g.APIKey
	if a.Equal(a2) {
		t.Error("a changed key does not change the tenant")
	}
}

// TestParseTenantsRefusesWithTenantAndKey: each problem is named with its
// tenant and key, all at once, and no secret is printed.
func TestParseTenantsRefusesWithTenantAndKey(t *testing.T) {
	const secret = "do-not-print-this-key"
	file := `
defaults:
  pol_interval: 30s
tenants:
  - id: acme
    base_url: https://api-acme.example
    api_key_id: "1"
    api_key: ` + secret + `
    poll_interval: soon
    colour: blue
  - id: acme
    base_url: https://api-acme2.example
    api_key_id: "2"
    api_key_file: /nonexistent/key
  - id: Bad_ID
    base_url: ftp://x
    api_key: ` + secret + `
    auth_mode: hmac
    enrich_rate_limit: many
  - base_url: https://x.example
    api_key_id: "3"
    api_key: [` + secret + `]
`
	_, err := ParseTenants([]byte(file), envDefaults(t))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"defaults: pol_interval: unknown key",
		`tenant acme: poll_interval: "soon" is not a duration`,
		"tenant acme: colour: unknown key",
		"tenant acme: id: is used twice",
		"tenant acme: api_key_file: cannot be read (no such file or directory); the value is not shown, in case it is the secret itself: 16 characters, an absolute path",
		`tenant Bad_ID: id: "Bad_ID" is not a valid tenant id`,
		"tenant Bad_ID: base_url: is required",
		"tenant Bad_ID: api_key_id: is required",
		`tenant Bad_ID: auth_mode: must be standard or advanced, not "hmac"`,
		`tenant Bad_ID: enrich_rate_limit: "many" is not a whole number`,
		"tenant #4 (line 20): id: is required",
		"tenant #4 (line 20): api_key: must be a non-empty string",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, secret) {
		t.Errorf("the error prints a key:\n%s", msg)
	}
	for _, bad := range []string{"", "tenants: []", "[1, 2]", "tenants: {a: 1}", "nope: 1\ntenants:\n  - id: a"} {
		if _, err := ParseTenants([]byte(bad), envDefaults(t)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTenantsFileExcludesXDRBaseURL(t *testing.T) {
	_, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"TENANTS_FILE": "t.yaml", "XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "1", "XDR_API_KEY": "k"}))
	if err == nil || !strings.Contains(err.Error(), "TENANTS_FILE") {
		t.Fatalf("Load: %v", err)
	}
	// {tenant} is allowed in data topics with a tenants file, not without.
	if _, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"TENANTS_FILE": "t.yaml", "KAFKA_TOPIC_ALERTS": "xdr.{tenant}.alerts"})); err != nil {
		t.Fatalf("{tenant} refused with TENANTS_FILE: %v", err)
	}
	if _, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"TENANTS_FILE": "t.yaml", "KAFKA_TOPIC_ECS_INCIDENTS": "xdr.{tenant}.ecs.incidents"})); err != nil {
		t.Fatalf("{tenant} refused in a profile topic with TENANTS_FILE: %v", err)
	}
	if _, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"KAFKA_TOPIC_ALERTS": "xdr.{tenant}.alerts"})); err == nil {
		t.Fatal("{tenant} accepted without TENANTS_FILE")
	}
}
