package app

import (
	"context"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// TestTenantsTakeTheProcessSettings: the env-only tenant and a file's tenant
// are built by one mapping, and a file's tenant takes ENRICH_MAX_ATTEMPTS,
// which the file does not set, from the environment.
func TestTenantsTakeTheProcessSettings(t *testing.T) {
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "7", "XDR_API_KEY": "k", "XDR_TENANT": "x",
		"ENRICH_MAX_ATTEMPTS": "9", "POLL_INTERVAL": "45s", "FILTER_STATUSES": "new"}))
	if err != nil {
		t.Fatal(err)
	}
	env := TenantOf(cfg)
	if env.ID != "x" || env.API.BaseURL != "https://api-x.example" || env.API.KeyID != "7" || env.API.Key.Reveal() != "k" ||
		env.PollInterval != 45*time.Second || env.EnrichMaxAttempts != 9 || len(env.Filters()) != 1 || env.API.Timeout != 30*time.Second {
		t.Fatalf("env tenant %+v", env)
	}
	file := TenantFrom(cfg, config.Tenant{ID: "acme", BaseURL: "https://api-acme.example", StartFrom: "now", EnrichWorkers: 3})
	if file.ID != "acme" || file.EnrichMaxAttempts != 9 || file.EnrichWorkers != 3 {
		t.Fatalf("file tenant %+v", file)
	}
}
