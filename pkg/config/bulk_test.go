package config

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestBulkSettings(t *testing.T) {
	c, err := Load(context.Background(), envconfig.MapLookuper(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.EnrichBulk != "auto" || c.EnrichBulkSize != 100 || c.EnrichBulkRateLimit != 10 || c.EnrichBulkRateWindow != time.Minute {
		t.Errorf("defaults %q %d %d %s", c.EnrichBulk, c.EnrichBulkSize, c.EnrichBulkRateLimit, c.EnrichBulkRateWindow)
	}
	for env, want := range map[string]string{
		"ENRICH_BULK=yes":            `ENRICH_BULK: must be auto, on or off, not "yes"`,
		"ENRICH_BULK_SIZE=101":       "ENRICH_BULK_SIZE: must be between 1 and 100",
		"ENRICH_BULK_SIZE=0":         "ENRICH_BULK_SIZE: must be between 1 and 100",
		"ENRICH_BULK_RATE_LIMIT=0":   "ENRICH_BULK_RATE_LIMIT: must be at least 1",
		"ENRICH_BULK_RATE_WINDOW=0s": "ENRICH_BULK_RATE_WINDOW: must be a positive duration",
	} {
		k, v, _ := strings.Cut(env, "=")
		_, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{k: v}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", env, err, want)
		}
	}
	file := `
defaults:
  enrich_bulk: "off"
tenants:
  - id: acme
    base_url: https://api-acme.example
    api_key_id: "1"
    api_key: k
    enrich_bulk: "on"
    enrich_bulk_size: 50
    enrich_bulk_rate_limit: 20
    enrich_bulk_rate_window: 30s
  - id: beta
    base_url: https://api-beta.example
    api_key_id: "1"
    api_key: k
`
	ts, err := ParseTenants([]byte(file), envDefaults(t))
	if err != nil {
		t.Fatal(err)
	}
	if a := ts[0]; a.EnrichBulk != "on" || a.EnrichBulkSize != 50 || a.EnrichBulkRateLimit != 20 || a.EnrichBulkRateWindow != 30*time.Second {
		t.Errorf("acme %+v", a)
	}
	if b := ts[1]; b.EnrichBulk != "off" || b.EnrichBulkSize != 100 || b.EnrichBulkRateLimit != 10 {
		t.Errorf("beta %+v", b)
	}
	if ts[0].Equal(ts[1]) {
		t.Error("Equal ignores the bulk settings")
	}
	bad := strings.ReplaceAll(strings.ReplaceAll(file, `"on"`, "sometimes"), "enrich_bulk_size: 50", "enrich_bulk_size: 500")
	_, err = ParseTenants([]byte(bad), envDefaults(t))
	for _, want := range []string{`tenant acme: enrich_bulk: must be auto, on or off, not "sometimes"`, "tenant acme: enrich_bulk_size: must be between 1 and 100"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
