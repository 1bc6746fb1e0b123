package embedded

import (
	"net/url"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// RealTenants names the tenants of cfg whose API is not on this machine
// (XDR_BASE_URL, or the base_url of an enabled tenant of the tenants file),
// which are taken to be real: the simulated tenant of the demo and of
// `connector simulate` is on loopback. With a tenants file that does not load
// it is empty: run refuses the file before this matters.
func RealTenants(cfg *config.Config) []string {
	remote := func(base string) bool {
		u, err := url.Parse(base)
		return base != "" && err == nil && !config.IsLoopback(u.Hostname())
	}
	plans, err := cfg.Plans()
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range plans {
		if !p.Tenant.Disabled && remote(p.Tenant.BaseURL) {
			out = append(out, p.Tenant.ID)
		}
	}
	return out
}
