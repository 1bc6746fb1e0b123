package embedded

import (
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// TestApplyDemo: a demo configuration gets the demo's tenant name, rate
// windows and poll interval where the environment leaves them, and keeps
// what it sets; a configuration with a tenant is left as it is. run, status
// and redrive read the demo tenant through it.
func TestApplyDemo(t *testing.T) {
	env := func(set ...string) func(string) (string, bool) {
		return func(name string) (string, bool) {
			for _, s := range set {
				if s == name {
					return "x", true
				}
			}
			return "", false
		}
	}
	cfg := &config.Config{EnrichRateWindow: time.Minute, EnrichBulkRateWindow: time.Minute, PollInterval: 30 * time.Second}
	ApplyDemo(cfg, env())
	if cfg.Tenant != DemoTenantName || cfg.EnrichRateWindow != DemoRateWindow || cfg.EnrichBulkRateWindow != DemoRateWindow || cfg.PollInterval != demoPoll {
		t.Errorf("demo: %+v", cfg)
	}
	cfg = &config.Config{Tenant: "lab", EnrichRateWindow: time.Minute, EnrichBulkRateWindow: time.Minute, PollInterval: 30 * time.Second}
	ApplyDemo(cfg, env("ENRICH_RATE_WINDOW", "POLL_INTERVAL"))
	if cfg.Tenant != "lab" || cfg.EnrichRateWindow != time.Minute || cfg.EnrichBulkRateWindow != DemoRateWindow || cfg.PollInterval != 30*time.Second {
		t.Errorf("demo with settings of its own: %+v", cfg)
	}
	for _, c := range []*config.Config{{XDRBaseURL: "https://api-x.example"}, {TenantsFile: "t.yaml"}} {
		c.EnrichRateWindow = time.Minute
		ApplyDemo(c, env())
		if c.Tenant != "" || c.EnrichRateWindow != time.Minute {
			t.Errorf("not a demo (%s%s), changed: %+v", c.XDRBaseURL, c.TenantsFile, c)
		}
	}
}
