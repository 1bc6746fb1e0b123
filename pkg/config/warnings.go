package config

import (
	"fmt"
	"time"
)

// The limits the API documents, which a valid setting may still exceed.
const (
	// DocumentedRateLimit calls of get_incident_extra_data are allowed in
	// any DocumentedRateWindow.
	DocumentedRateLimit  = 10
	DocumentedRateWindow = 60 * time.Second
)

// Warning is a setting that is valid but outside what the API documents:
// the connector runs with it, and says so at start and in `connector check`.
// Its text never holds a secret.
type Warning struct {
	Tenant  string // the tenant of a tenants file; "" for the environment's
	Setting string // the variable (ENRICH_RATE_LIMIT) or, with Tenant, the file's key (lookback)
	Message string
}

// String reads "LOOKBACK: is 0: ...", or "tenant acme: lookback: is 0: ...".
func (w Warning) String() string {
	if w.Tenant != "" {
		return "tenant " + w.Tenant + ": " + w.Setting + ": " + w.Message
	}
	return w.Setting + ": " + w.Message
}

// Warnings lists the settings of the environment's one tenant that are valid
// but outside what the API documents. With TENANTS_FILE it is empty: each
// Tenant's Warnings cover the settings the environment gives them.
func (c *Config) Warnings() []Warning {
	if c.TenantsFile != "" {
		return nil
	}
	names := settingNames{rateLimit: "ENRICH_RATE_LIMIT", rateWindow: "ENRICH_RATE_WINDOW", lookback: "LOOKBACK", keyID: "XDR_API_KEY_ID"}
	return warnings(names, "", c.XDRBaseURL, c.XDRAPIKeyID, c.EnrichRateLimit, c.EnrichRateWindow, c.Lookback)
}

// Warnings lists the tenant's settings that are valid but outside what the
// API documents, each with its tenant and the file's key.
func (t Tenant) Warnings() []Warning {
	names := settingNames{rateLimit: "enrich_rate_limit", rateWindow: "enrich_rate_window", lookback: "lookback", keyID: "api_key_id"}
	return warnings(names, t.ID, t.BaseURL, t.APIKeyID, t.EnrichRateLimit, t.EnrichRateWindow, t.Lookback)
}

type settingNames struct{ rateLimit, rateWindow, lookback, keyID string }

// warnings checks one tenant's settings, named by names (tenant is "" for
// the environment's). Without a base URL (the demo's simulated tenant, whose budget is its
// own) the rate budget is not checked. A loopback base URL is: it may be a
// proxy to a real tenant.
func warnings(names settingNames, tenant, baseURL, keyID string, limit int, window, lookback time.Duration) []Warning {
	var out []Warning
	add := func(setting, format string, a ...any) {
		out = append(out, Warning{Tenant: tenant, Setting: setting, Message: fmt.Sprintf(format, a...)})
	}
	if baseURL != "" && window > 0 && float64(limit)/window.Seconds() > float64(DocumentedRateLimit)/DocumentedRateWindow.Seconds() {
		add(names.rateLimit, "%d calls per %s (%s) is more than the %d per %s that get_incident_extra_data allows: expect 429s, which pause every enrichment",
			limit, window, names.rateWindow, DocumentedRateLimit, DocumentedRateWindow)
	}
	if lookback == 0 {
		add(names.lookback, "is 0: a change the API shows a few seconds late (it indexes changes with a delay) is never read; the default is 2m")
	}
	if keyID != "" && !numeric(keyID) {
		// Never echo the value: a key pasted into the id's place is a secret.
		add(names.keyID, "is not a number (%d characters): the key id (the ID column of the API keys page, sent as x-xdr-auth-id) is numeric; check that the key and its id were not swapped", len(keyID))
	}
	return out
}

func numeric(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// FileWarnings lists the secret files of the environment (XDR_API_KEY_FILE,
// KAFKA_SASL_PASSWORD_FILE, HTTP_TOKEN_FILE) that users other than the
// process's own can read, as Load found them. The connector runs with them,
// and says so at start and in `connector check`.
func (c *Config) FileWarnings() []Warning { return c.fileWarnings }

// FileWarnings lists the tenant's key file when users other than the
// process's own can read it, as the tenants file's loader found it.
func (t Tenant) FileWarnings() []Warning {
	if t.keyFileWarning == "" {
		return nil
	}
	return []Warning{{Tenant: t.ID, Setting: "api_key_file", Message: t.keyFileWarning}}
}
