package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// The limits the API documents, which a valid setting may still exceed.
const (
	// DocumentedRateLimit calls of get_incident_extra_data are allowed in
	// any DocumentedRateWindow.
	DocumentedRateLimit  = 10
	DocumentedRateWindow = 60 * time.Second
)

// Warning is a setting that is valid but outside what the API documents,
// or that exposes a credential or the records (Insecure): the connector runs
// with it, and says so at start and in `connector check`. Its text never
// holds a secret.
type Warning struct {
	Tenant   string // the tenant of a tenants file; "" for the environment's
	Setting  string // the variable (ENRICH_RATE_LIMIT) or, with Tenant, the file's key (lookback)
	Message  string
	Insecure bool // the setting exposes the API key, the SASL credentials or the records on the network
}

// Summary is the message a log line about w carries: "a setting is
// insecure" or "a setting is outside what the API documents".
func (w Warning) Summary() string {
	if w.Insecure {
		return "a setting is insecure"
	}
	return "a setting is outside what the API documents"
}

// String reads "LOOKBACK: is 0: ...", or "tenant acme: lookback: is 0: ...".
func (w Warning) String() string {
	if w.Tenant != "" {
		return "tenant " + w.Tenant + ": " + w.Setting + ": " + w.Message
	}
	return w.Setting + ": " + w.Message
}

// Warnings lists the settings of the environment's one tenant that are valid
// but outside what the API documents, then the insecure settings of the
// process (see Warning.Insecure). With TENANTS_FILE only the process's
// (Kafka's) are listed: each Tenant's Warnings cover the settings the
// environment gives them.
func (c *Config) Warnings() []Warning {
	var out []Warning
	if c.TenantsFile == "" {
		names := settingNames{rateLimit: "ENRICH_RATE_LIMIT", rateWindow: "ENRICH_RATE_WINDOW", lookback: "LOOKBACK", keyID: "XDR_API_KEY_ID"}
		out = warnings(names, "", c.XDRBaseURL, c.XDRAPIKeyID, c.EnrichRateLimit, c.EnrichRateWindow, c.Lookback)
		out = append(out, urlWarnings("XDR_BASE_URL", "", c.XDRBaseURL, "XDR_ALLOW_INSECURE_HTTP", c.proxy)...)
	}
	return append(out, c.kafkaWarnings()...)
}

// Warnings lists the tenant's settings that are valid but outside what the
// API documents, then its insecure ones, each with its tenant and the
// file's key.
func (t Tenant) Warnings() []Warning {
	names := settingNames{rateLimit: "enrich_rate_limit", rateWindow: "enrich_rate_window", lookback: "lookback", keyID: "api_key_id"}
	out := warnings(names, t.ID, t.BaseURL, t.APIKeyID, t.EnrichRateLimit, t.EnrichRateWindow, t.Lookback)
	return append(out, urlWarnings("base_url", t.ID, t.BaseURL, "XDR_ALLOW_INSECURE_HTTP in the environment", t.proxy)...)
}

// kafkaWarnings lists the Kafka settings that Validate accepts but that
// expose the SASL credentials or the records: TLS without verification;
// KAFKA_TLS_INSECURE_SKIP_VERIFY without TLS, which does nothing (the
// connections are not encrypted at all, whatever it suggests); and brokers
// other than loopback reached without TLS, named by their hosts, with SASL
// (allowed by KAFKA_ALLOW_INSECURE_SASL) in one warning about both the
// credentials and the records. Loopback brokers and the embedded broker are
// not warned about: their connections stay on this machine.
func (c *Config) kafkaWarnings() []Warning {
	var out []Warning
	add := func(setting, format string, a ...any) {
		out = append(out, Warning{Setting: setting, Insecure: true, Message: fmt.Sprintf(format, a...)})
	}
	switch {
	case c.KafkaTLSSkipVerify && c.KafkaTLS():
		what := "the records"
		if c.KafkaSASLMechanism != "" {
			what = "the records and the SASL credentials"
		}
		add("KAFKA_TLS_INSECURE_SKIP_VERIFY",
			"the brokers' certificates are not verified: anyone on the network path can pose as a broker and receive %s; set KAFKA_TLS_CA_FILE to the brokers' CA instead", what)
	case c.KafkaTLSSkipVerify:
		add("KAFKA_TLS_INSECURE_SKIP_VERIFY",
			"is true, but TLS to Kafka is off (KAFKA_TLS_ENABLED is not true and KAFKA_TLS_CA_FILE is not set), so it has no effect: the connections to the brokers are not encrypted at all; to encrypt them set KAFKA_TLS_ENABLED=true (with KAFKA_TLS_CA_FILE set to the brokers' CA rather than skipping verification), or else unset KAFKA_TLS_INSECURE_SKIP_VERIFY")
	}
	hosts := c.plaintextBrokers()
	switch {
	case len(hosts) == 0:
	case c.KafkaSASLMechanism == "":
		add("KAFKA_BROKERS",
			"%s reached without TLS: the records (incident data) cross the network unencrypted, readable and alterable by anyone on the path; set KAFKA_TLS_ENABLED=true (and KAFKA_TLS_CA_FILE for a private CA) to encrypt them", strings.Join(hosts, ", "))
	case c.KafkaAllowInsecureSASL:
		add("KAFKA_ALLOW_INSECURE_SASL",
			"%s without TLS to %s: the connection will %s; set KAFKA_TLS_ENABLED=true", strings.ToUpper(c.KafkaSASLMechanism), strings.Join(hosts, ", "), saslExposure(c.KafkaSASLMechanism))
	}
	return out
}

// urlWarnings lists what a base URL that Validate accepted exposes: the API
// key in clear text over http:// to another host (allowed by optOut), and
// to the HTTP proxy that proxy says the request would go through. The
// proxy is named by its host only: its URL may carry a password.
func urlWarnings(setting, tenant, baseURL, optOut string, proxy func(*url.URL) (*url.URL, error)) []Warning {
	u, err := url.Parse(baseURL)
	if baseURL == "" || err != nil || !strings.EqualFold(u.Scheme, "http") {
		return nil
	}
	var out []Warning
	add := func(format string, a ...any) {
		out = append(out, Warning{Tenant: tenant, Setting: setting, Insecure: true, Message: fmt.Sprintf(format, a...)})
	}
	if InsecureHTTP(u) {
		add("http:// to %s sends the API key in clear text over the network (allowed by %s); use https://", u.Hostname(), optOut)
	}
	if proxy != nil {
		if p, err := proxy(u); err == nil && p != nil {
			add("http:// goes through the HTTP proxy %s (HTTP_PROXY), which receives the API key in clear text; use https:// (a proxy then sees only the host), or name %s in NO_PROXY", p.Host, u.Hostname())
		}
	}
	return out
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
	return []Warning{{Tenant: t.ID, Setting: "api_key_file", Message: t.keyFileWarning, Insecure: true}}
}
