// Package config declares the connector's configuration: the environment
// variables of `connector run`, their defaults and their validation. It reads
// nothing itself; cmd/connector fills it with go-envconfig. The `env` tag names
// are a contract that the Helm chart and users rely on.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Config is the whole configuration of `connector run`. Zero values are
// replaced by the defaults in the env tags.
type Config struct {
	// XDR API.
	XDRBaseURL           string        `env:"XDR_BASE_URL"`                           // https://api-<tenant-fqdn>; empty runs the simulated tenant
	XDRAllowInsecureHTTP bool          `env:"XDR_ALLOW_INSECURE_HTTP, default=false"` // allow http:// to a host other than loopback
	XDRAPIKeyID          string        `env:"XDR_API_KEY_ID"`                         // the key's numeric id (x-xdr-auth-id)
	XDRAPIKey            xdr.Secret    `env:"XDR_API_KEY"`                            // the API key; prefer XDR_API_KEY_FILE
	XDRAPIKeyFile        string        `env:"XDR_API_KEY_FILE"`                       // file holding the API key (trailing newline ignored)
	XDRAuthMode          string        `env:"XDR_AUTH_MODE, default=standard"`        // standard | advanced
	XDRTimeout           time.Duration `env:"XDR_REQUEST_TIMEOUT, default=30s"`       // per HTTP request
	XDRMaxRetryAfter     time.Duration `env:"XDR_MAX_RETRY_AFTER, default=5m"`        // cap on the pause one 429's Retry-After imposes
	XDRRequestsPerSecond int           `env:"XDR_REQUESTS_PER_SECOND, default=10"`    // calls of every endpoint in any one second, per tenant
	TenantsFile          string        `env:"TENANTS_FILE"`                           // YAML file of tenants; set, it replaces the XDR_* tenant of the environment

	// XDRReplyBudget bounds the reply bytes (decompressed) that every
	// tenant's API calls hold at once: the process's xdr.ReplyBudget.
	XDRReplyBudget int64 `env:"XDR_REPLY_BUDGET_BYTES, default=33554432"`

	// Kafka.
	KafkaBrokers           []string   `env:"KAFKA_BROKERS"`        // comma-separated host:port; empty runs an embedded broker
	KafkaSASLMechanism     string     `env:"KAFKA_SASL_MECHANISM"` // "" | PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
	KafkaSASLUsername      string     `env:"KAFKA_SASL_USERNAME"`
	KafkaSASLPassword      xdr.Secret `env:"KAFKA_SASL_PASSWORD"`
	KafkaSASLPasswordFile  string     `env:"KAFKA_SASL_PASSWORD_FILE"`
	KafkaTLSEnabled        bool       `env:"KAFKA_TLS_ENABLED, default=false"`
	KafkaTLSCAFile         string     `env:"KAFKA_TLS_CA_FILE"` // PEM bundle; empty uses the system roots
	KafkaTLSSkipVerify     bool       `env:"KAFKA_TLS_INSECURE_SKIP_VERIFY, default=false"`
	KafkaAllowInsecureSASL bool       `env:"KAFKA_ALLOW_INSECURE_SASL, default=false"` // allow SASL without TLS to a broker other than loopback
	KafkaReplication       int        `env:"KAFKA_REPLICATION_FACTOR, default=-1"`     // for topics the connector creates; -1 = broker default
	KafkaPartitions        int        `env:"KAFKA_PARTITIONS, default=-1"`             // for data topics the connector creates; -1 = broker default
	KafkaMaxRecordBytes    int        `env:"KAFKA_MAX_RECORD_BYTES, default=1048576"`  // larger records go to the DLQ with an excerpt
	KafkaCompression       string     `env:"KAFKA_COMPRESSION, default=zstd"`          // one of KafkaCodecs: the codec of produced batches

	// TopicPrefix, when set, names every topic the variables below leave
	// unset: <prefix>.incidents, ..., <prefix>.connector.offsets (Load applies it).
	TopicPrefix    string `env:"KAFKA_TOPIC_PREFIX"`
	TopicIncidents string `env:"KAFKA_TOPIC_INCIDENTS, default=xdr.incidents"`
	TopicAlerts    string `env:"KAFKA_TOPIC_ALERTS, default=xdr.alerts"`
	TopicArtifacts string `env:"KAFKA_TOPIC_ARTIFACTS, default=xdr.artifacts"`
	TopicDLQ       string `env:"KAFKA_TOPIC_DLQ, default=xdr.dlq"`
	TopicOffsets   string `env:"KAFKA_TOPIC_OFFSETS, default=xdr.connector.offsets"`

	// Output profiles: which records to write (OutputProfileNames), and the
	// topics of the OCSF and ECS ones.
	OutputProfiles     []string `env:"OUTPUT_PROFILES, default=native"`
	TopicOCSFIncidents string   `env:"KAFKA_TOPIC_OCSF_INCIDENTS, default=xdr.ocsf.incidents"`
	TopicOCSFAlerts    string   `env:"KAFKA_TOPIC_OCSF_ALERTS, default=xdr.ocsf.alerts"`
	TopicECSIncidents  string   `env:"KAFKA_TOPIC_ECS_INCIDENTS, default=xdr.ecs.incidents"`
	TopicECSAlerts     string   `env:"KAFKA_TOPIC_ECS_ALERTS, default=xdr.ecs.alerts"`
	// Scale-out: the processes of one connector share its tenants through a
	// Kafka consumer group (see pkg/slots).
	Group                  string        `env:"KAFKA_GROUP_ENABLED, default=auto"`              // auto | true | false: join the connector's group (auto: with KAFKA_BROKERS)
	GroupInstanceID        string        `env:"KAFKA_GROUP_INSTANCE_ID"`                        // static membership, e.g. the pod name; empty = dynamic
	GroupSessionTimeout    time.Duration `env:"KAFKA_GROUP_SESSION_TIMEOUT, default=45s"`       // silence after which a process's slots move
	GroupRebalanceTimeout  time.Duration `env:"KAFKA_GROUP_REBALANCE_TIMEOUT, default=60s"`     // time a rebalance allows for handing a slot over
	GroupHeartbeatInterval time.Duration `env:"KAFKA_GROUP_HEARTBEAT_INTERVAL, default=3s"`     // how often a process tells the coordinator it is alive
	TopicSlots             string        `env:"KAFKA_TOPIC_SLOTS, default=xdr.connector.slots"` // the group's topic: one partition per slot
	SlotsPartitions        int           `env:"KAFKA_SLOTS_PARTITIONS, default=64"`             // slots of a slots topic the connector creates; fixed at creation

	// Write-back: commands from the commands topic applied to the tenants
	// (package writeback).
	Writeback           string   `env:"WRITEBACK, default=off"`                                   // on | off; a tenants file's writeback overrides it per tenant
	WritebackActions    []string `env:"WRITEBACK_ACTIONS"`                                        // the actions allowed; empty: every incident action (writeback.DefaultActions)
	TopicCommands       string   `env:"KAFKA_TOPIC_COMMANDS, default=xdr.commands"`               // commands to apply
	TopicCommandResults string   `env:"KAFKA_TOPIC_COMMAND_RESULTS, default=xdr.command-results"` // one result per command

	// Pipeline.
	ConnectorName      string        `env:"CONNECTOR_NAME, default=xdr-connector"`
	Tenant             string        `env:"XDR_TENANT"` // label for the offsets key; defaults to the base URL's host
	PollInterval       time.Duration `env:"POLL_INTERVAL, default=30s"`
	Lookback           time.Duration `env:"LOOKBACK, default=2m"`    // how late a change may become visible
	StartFrom          string        `env:"START_FROM, default=72h"` // first run only: duration back, RFC 3339 time, or "now"
	FilterStatuses     []string      `env:"FILTER_STATUSES"`         // only incidents with these statuses
	FilterStarred      string        `env:"FILTER_STARRED"`          // "" | true | false
	FilterAlertSources []string      `env:"FILTER_ALERT_SOURCES"`
	EnrichRateLimit    int           `env:"ENRICH_RATE_LIMIT, default=10"`   // get_incident_extra_data calls ...
	EnrichRateWindow   time.Duration `env:"ENRICH_RATE_WINDOW, default=60s"` // ... in any window this long
	EnrichWorkers      int           `env:"ENRICH_WORKERS, default=2"`
	// Bulk enrichment: get_multiple_incidents_extra_data.
	EnrichBulk           string        `env:"ENRICH_BULK, default=auto"`            // auto | on | off
	EnrichBulkSize       int           `env:"ENRICH_BULK_SIZE, default=100"`        // incidents per bulk call, at most 100
	EnrichBulkRateLimit  int           `env:"ENRICH_BULK_RATE_LIMIT, default=10"`   // bulk calls ...
	EnrichBulkRateWindow time.Duration `env:"ENRICH_BULK_RATE_WINDOW, default=60s"` // ... in any window this long
	EnrichMaxAttempts    int           `env:"ENRICH_MAX_ATTEMPTS, default=6"`       // before the DLQ
	AlertsLimit          int           `env:"ALERTS_LIMIT, default=1000"`
	CommitInterval       time.Duration `env:"COMMIT_INTERVAL, default=1s"`
	ShutdownTimeout      time.Duration `env:"SHUTDOWN_TIMEOUT, default=20s"`
	Delivery             string        `env:"DELIVERY, default=at-least-once"` // at-least-once | exactly-once

	// Operations.
	LogLevel  string `env:"LOG_LEVEL, default=info"`  // debug | info | warn | error
	LogFormat string `env:"LOG_FORMAT, default=text"` // text | json
	HTTPAddr  string `env:"HTTP_ADDR"`                // e.g. :8080 for /metrics, /healthz, /readyz; empty = off
	// HTTPTenantsEnabled serves GET /tenants (each tenant's state and last
	// error) on HTTP_ADDR; HTTPTokenFile, when set, holds a bearer token that
	// /metrics and /tenants require.
	HTTPTenantsEnabled bool   `env:"HTTP_TENANTS_ENABLED, default=false"`
	HTTPTokenFile      string `env:"HTTP_TOKEN_FILE"`
	DataDir            string `env:"DATA_DIR, default=.xdr-connector"` // embedded broker's data, when KAFKA_BROKERS is empty

	// fileWarnings are the secret files others can read, found by Load.
	fileWarnings []Warning
	// httpToken is the content of HTTPTokenFile, read by Load.
	httpToken xdr.Secret

	// Resolved by Load (not variables):

	// ExternalKafka: KAFKA_BROKERS was set, so other processes of the
	// connector may write to the same cluster (without it the process runs
	// an embedded broker of its own, even once KafkaBrokers names it).
	ExternalKafka bool
	// GroupEnabled: this process joins the connector's group and runs only
	// the tenants of the slots it owns — KAFKA_GROUP_ENABLED, or with auto
	// (the default), ExternalKafka.
	GroupEnabled bool

	// proxy is the HTTP proxy the API client would send a request to a URL
	// through (HTTP_PROXY, HTTPS_PROXY, NO_PROXY as net/http reads them),
	// nil for none; Load sets it, for the warnings.
	proxy func(*url.URL) (*url.URL, error)
}

// Resolve works out the settings that follow from others (ExternalKafka,
// GroupEnabled); Load calls it. A bad KAFKA_GROUP_ENABLED resolves to off
// and is reported by Validate.
func (c *Config) Resolve() {
	c.ExternalKafka = len(c.KafkaBrokers) > 0
	on, auto, _ := parseGroup(c.Group)
	c.GroupEnabled = on || auto && c.ExternalKafka
}

// parseGroup reads KAFKA_GROUP_ENABLED: auto (or empty), or a boolean as
// strconv.ParseBool reads it.
func parseGroup(s string) (on, auto bool, err error) {
	switch v := strings.TrimSpace(s); strings.ToLower(v) {
	case "", "auto":
		return false, true, nil
	default:
		on, err := strconv.ParseBool(v)
		return on, false, err
	}
}

// HTTPToken is the bearer token that /metrics and /tenants require, read from
// HTTP_TOKEN_FILE by Load; zero when the file is not set.
func (c *Config) HTTPToken() xdr.Secret { return c.httpToken }

// FieldError names a variable whose value is wrong. The message never holds
// the value of a secret.
type FieldError struct {
	Var    string
	Reason string
}

func (e *FieldError) Error() string { return e.Var + ": " + e.Reason }

// Validate checks every setting and returns all problems at once, joined; each
// is a *FieldError. It reads nothing: Load resolves the *_FILE settings after
// it.
func (c *Config) Validate() error {
	var errs []error
	bad := func(v, format string, a ...any) {
		errs = append(errs, &FieldError{Var: v, Reason: fmt.Sprintf(format, a...)})
	}
	if c.XDRBaseURL != "" {
		u, err := url.Parse(c.XDRBaseURL)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			bad("XDR_BASE_URL", "must be an http(s) URL such as https://api-example.xdr.us.paloaltonetworks.com")
		case u.User != nil:
			bad("XDR_BASE_URL", "must not carry credentials (user@ or user:password@ before the host): the key goes in XDR_API_KEY_FILE, and the URL is logged")
		case !c.XDRAllowInsecureHTTP && InsecureHTTP(u):
			bad("XDR_BASE_URL", "%s", insecureReason(u, "XDR_ALLOW_INSECURE_HTTP=true"))
		}
		if c.XDRAPIKeyID == "" {
			bad("XDR_API_KEY_ID", "is required when XDR_BASE_URL is set")
		}
		if c.XDRAPIKeyFile != "" && !c.XDRAPIKey.IsZero() {
			bad("XDR_API_KEY_FILE", "set either XDR_API_KEY or XDR_API_KEY_FILE, not both")
		}
		if c.XDRAPIKey.IsZero() && c.XDRAPIKeyFile == "" {
			bad("XDR_API_KEY", "is required when XDR_BASE_URL is set (or use XDR_API_KEY_FILE)")
		}
	}
	switch c.XDRAuthMode {
	case "standard", "advanced":
	default:
		bad("XDR_AUTH_MODE", "must be standard or advanced, not %q", c.XDRAuthMode)
	}
	if c.XDRTimeout <= 0 {
		bad("XDR_REQUEST_TIMEOUT", "must be a positive duration")
	}
	if c.XDRRequestsPerSecond < 1 {
		bad("XDR_REQUESTS_PER_SECOND", "must be at least 1")
	}
	if minBudget := xdr.MinReplyBudget(xdr.DefaultMaxReplyBytes); c.XDRReplyBudget < minBudget {
		bad("XDR_REPLY_BUDGET_BYTES", "must be at least %d, what the largest reply one call may receive holds while it is read", minBudget)
	}
	if c.TenantsFile != "" && c.XDRBaseURL != "" {
		bad("TENANTS_FILE", "set either TENANTS_FILE (many tenants) or XDR_BASE_URL (one), not both")
	}
	if c.XDRMaxRetryAfter <= 0 {
		bad("XDR_MAX_RETRY_AFTER", "must be a positive duration")
	}
	if c.KafkaMaxRecordBytes < MinRecordBytes {
		bad("KAFKA_MAX_RECORD_BYTES", "must be at least %d (a DLQ record with its excerpt must fit)", MinRecordBytes)
	}
	if !slices.Contains(KafkaCodecs, c.KafkaCompression) {
		bad("KAFKA_COMPRESSION", "must be one of %s, not %q", strings.Join(KafkaCodecs, ", "), c.KafkaCompression)
	}
	prefixOK := c.checkTopicPrefix(bad)
	for i, b := range c.KafkaBrokers {
		if msg := brokerProblem(b); msg != "" {
			bad("KAFKA_BROKERS", "entry %d %s", i+1, msg)
		}
	}
	switch strings.ToUpper(c.KafkaSASLMechanism) {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		bad("KAFKA_SASL_MECHANISM", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not %q", c.KafkaSASLMechanism)
	}
	if c.KafkaSASLPasswordFile != "" && !c.KafkaSASLPassword.IsZero() {
		bad("KAFKA_SASL_PASSWORD_FILE", "set either KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both")
	}
	if c.KafkaSASLMechanism != "" && (c.KafkaSASLUsername == "" || c.KafkaSASLPassword.IsZero() && c.KafkaSASLPasswordFile == "") {
		bad("KAFKA_SASL_USERNAME", "SASL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or _FILE)")
	}
	if host := c.insecureSASLBroker(); host != "" && !c.KafkaAllowInsecureSASL {
		bad("KAFKA_SASL_MECHANISM", "%s without TLS to %s would %s: set KAFKA_TLS_ENABLED=true, or KAFKA_ALLOW_INSECURE_SASL=true to accept that (SASL without TLS to a loopback broker is always allowed)",
			strings.ToUpper(c.KafkaSASLMechanism), host, saslExposure(c.KafkaSASLMechanism))
	}
	for _, r := range topicRoles {
		v, t := r.variable, *r.field(c)
		if !prefixOK && t == r.prefixed(c.TopicPrefix) {
			continue // named by the prefix, which is reported already
		}
		name := t
		if c.TenantsFile != "" && r.perTenant() {
			// Each tenant's id replaces {tenant}; ids are valid in topic names.
			name = strings.ReplaceAll(t, TenantPlaceholder, "x")
		}
		if !validTopic(name) {
			bad(v, "%q is not a valid Kafka topic name", t)
		}
	}
	if c.TenantsFile == "" {
		// A tenants file's topics are checked with its tenants
		// (ParseTenants).
		errs = append(errs, c.topicErrors(nil)...)
	}
	if !ValidName(c.ConnectorName) {
		bad("CONNECTOR_NAME", "%q is not a valid name: %s", c.ConnectorName, NameRule)
	}
	if c.Tenant != "" && !ValidName(c.Tenant) {
		bad("XDR_TENANT", "%q is not a valid name: %s", c.Tenant, NameRule)
	}
	if c.PollInterval < 100*time.Millisecond {
		bad("POLL_INTERVAL", "must be at least 100ms")
	}
	if c.Lookback < 0 {
		bad("LOOKBACK", "must not be negative")
	}
	if _, err := ParseStartFrom(c.StartFrom, time.Now()); err != nil {
		bad("START_FROM", "%v", err)
	}
	switch c.FilterStarred {
	case "", "true", "false":
	default:
		bad("FILTER_STARRED", "must be true, false or empty")
	}
	if c.EnrichRateLimit < 1 {
		bad("ENRICH_RATE_LIMIT", "must be at least 1")
	}
	if c.EnrichRateWindow <= 0 {
		bad("ENRICH_RATE_WINDOW", "must be a positive duration")
	}
	if c.EnrichWorkers < 1 {
		bad("ENRICH_WORKERS", "must be at least 1")
	}
	checkBulk(c.EnrichBulk, c.EnrichBulkSize, c.EnrichBulkRateLimit, c.EnrichBulkRateWindow, func(key, reason string) {
		bad(strings.ToUpper(key), "%s", reason)
	})
	if c.EnrichMaxAttempts < 1 {
		bad("ENRICH_MAX_ATTEMPTS", "must be at least 1")
	}
	if c.AlertsLimit < 1 {
		bad("ALERTS_LIMIT", "must be at least 1")
	}
	if c.CommitInterval <= 0 {
		bad("COMMIT_INTERVAL", "must be a positive duration")
	}
	if c.ShutdownTimeout <= 0 {
		bad("SHUTDOWN_TIMEOUT", "must be a positive duration")
	}
	if len(c.OutputProfiles) == 0 {
		bad("OUTPUT_PROFILES", "must name one or more of %s", strings.Join(OutputProfileNames, ", "))
	}
	for _, p := range c.OutputProfiles {
		if !slices.Contains(OutputProfileNames, strings.ToLower(strings.TrimSpace(p))) {
			bad("OUTPUT_PROFILES", "%q is not an output profile: want %s", p, strings.Join(OutputProfileNames, ", "))
		}
	}
	if _, _, err := parseGroup(c.Group); err != nil {
		bad("KAFKA_GROUP_ENABLED", "must be auto, true or false, not %q", c.Group)
	}
	if c.GroupEnabled {
		c.validateGroup(bad)
	}
	c.validateWriteback(bad)
	switch c.Delivery {
	case "at-least-once", "exactly-once":
	default:
		bad("DELIVERY", "must be at-least-once or exactly-once, not %q", c.Delivery)
	}
	if c.HTTPAddr != "" {
		if err := checkHostPort(c.HTTPAddr); err != nil {
			bad("HTTP_ADDR", "%v", err)
		}
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL", "must be debug, info, warn or error, not %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("LOG_FORMAT", "must be text or json, not %q", c.LogFormat)
	}
	return errors.Join(errs...)
}

// checkTopicPrefix reports a bad KAFKA_TOPIC_PREFIX through bad and whether
// it is good (or unset).
func (c *Config) checkTopicPrefix(bad func(v, format string, a ...any)) bool {
	p := c.TopicPrefix
	if p == "" {
		return true
	}
	switch {
	case strings.HasSuffix(p, "."):
		bad("KAFKA_TOPIC_PREFIX", "%q must not end with a dot: the connector adds one (%s.incidents)", p, strings.TrimRight(p, "."))
	case !validTopic(strings.ReplaceAll(p, TenantPlaceholder, "x")):
		bad("KAFKA_TOPIC_PREFIX", "%q is not the start of a valid Kafka topic name (A-Z a-z 0-9 . _ -)", p)
	case strings.Contains(p, TenantPlaceholder) && c.TenantsFile == "":
		bad("KAFKA_TOPIC_PREFIX", "%s is replaced by each tenant's id only with TENANTS_FILE", TenantPlaceholder)
	case strings.Contains(p, TenantPlaceholder) && c.TopicOffsets == topicRoleOf("KAFKA_TOPIC_OFFSETS").prefixed(p):
		bad("KAFKA_TOPIC_PREFIX", "contains %s, but the offsets topic is one for every tenant: set KAFKA_TOPIC_OFFSETS as well", TenantPlaceholder)
	default:
		return true
	}
	return false
}

// applyTopicPrefix names each topic whose variable is not set in l after
// KAFKA_TOPIC_PREFIX. Without a prefix the topics keep their defaults.
func (c *Config) applyTopicPrefix(l interface{ Lookup(string) (string, bool) }) {
	if c.TopicPrefix == "" {
		return
	}
	for _, r := range topicRoles {
		if r.variable == "KAFKA_TOPIC_SLOTS" && strings.Contains(c.TopicPrefix, TenantPlaceholder) {
			continue // one slots topic for every tenant: a per-tenant prefix leaves it as it is
		}
		if _, set := l.Lookup(r.variable); !set {
			*r.field(c) = r.prefixed(c.TopicPrefix)
		}
	}
}

// brokerProblem says why b, an entry of KAFKA_BROKERS, is not host:port,
// or "" when it is. An IP address alone is taken too, as the Kafka client
// takes it (on port 9092). An entry that looks like a URL or holds an '@'
// (user information, perhaps a password), or whose port is not a number, is
// described, never repeated.
func brokerProblem(b string) string {
	b = strings.TrimSpace(b)
	if strings.ContainsAny(b, "@/") {
		return fmt.Sprintf("(%d characters) is not host:port: it looks like a URL or holds user information; give host:port only, and the credentials in KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE", len(b))
	}
	if net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(b, "["), "]")) != nil {
		return ""
	}
	host, port, err := net.SplitHostPort(b)
	if err != nil || host == "" || strings.ContainsAny(host, " \t") {
		return fmt.Sprintf("%q is not host:port", b)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("(%d characters) is not host:port: what follows its last colon must be a port number from 1 to 65535", len(b))
	}
	return ""
}

// KafkaTLS reports whether the Kafka clients connect over TLS
// (KAFKA_TLS_ENABLED, or a CA bundle, which implies it).
func (c *Config) KafkaTLS() bool { return c.KafkaTLSEnabled || c.KafkaTLSCAFile != "" }

// plaintextBrokers are the hosts of KAFKA_BROKERS that are not loopback
// (IsLoopback), each once and in their order, when TLS is off: the
// connections to them cross the network unencrypted. With TLS, or with the
// embedded broker (no KAFKA_BROKERS), there are none.
func (c *Config) plaintextBrokers() []string {
	if c.KafkaTLS() {
		return nil
	}
	var hosts []string
	for _, b := range c.KafkaBrokers {
		b = strings.TrimSpace(b)
		host, _, err := net.SplitHostPort(b)
		if err != nil {
			host = strings.TrimSuffix(strings.TrimPrefix(b, "["), "]") // an address alone
		}
		if !IsLoopback(host) && !slices.ContainsFunc(hosts, func(h string) bool { return strings.EqualFold(h, host) }) {
			hosts = append(hosts, host)
		}
	}
	return hosts
}

// insecureSASLBroker is the first broker of KAFKA_BROKERS that is not
// loopback when SASL is on without TLS, else "": the credentials would cross
// the network unencrypted.
func (c *Config) insecureSASLBroker() string {
	if hosts := c.plaintextBrokers(); c.KafkaSASLMechanism != "" && len(hosts) > 0 {
		return hosts[0]
	}
	return ""
}

// saslExposure says what a SASL mechanism gives away without TLS.
func saslExposure(mechanism string) string {
	if strings.EqualFold(mechanism, "PLAIN") {
		return "send the SASL password in clear text, and every record unencrypted"
	}
	// SCRAM never sends the password, but its exchange can be replayed
	// against an offline guess of it, and nothing authenticates the broker.
	return "expose the SASL exchange (open to an offline guess of the password) and every record to the network"
}

// InsecureHTTP reports whether u is a plain http:// URL to a host other than
// loopback, which would carry an API key in clear text.
func InsecureHTTP(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, "http") && !IsLoopback(u.Hostname())
}

func insecureReason(u *url.URL, optOut string) string {
	return fmt.Sprintf("http:// to %s would send the API key in clear text: use https://, or set %s to accept that (http:// to a loopback address is always allowed)", u.Hostname(), optOut)
}

// IsLoopback reports whether host (a name or an IP address, without a port)
// is this machine's loopback: localhost, 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkHostPort checks a listen address: host:port, the host may be empty
// (every interface), the port a number from 0 to 65535.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, nerr := strconv.ParseUint(addr, 10, 16); nerr == nil {
			return fmt.Errorf("%q is a port without a host: write :%s (every interface) or 127.0.0.1:%s", addr, addr, addr)
		}
		return fmt.Errorf("%q is not host:port, such as :8080 or 127.0.0.1:8080", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q has no valid port (a number from 0 to 65535)", addr)
	}
	return nil
}

// validateGroup checks the scale-out settings.
func (c *Config) validateGroup(bad func(v, format string, a ...any)) {
	if c.GroupInstanceID != "" && !ValidName(c.GroupInstanceID) {
		bad("KAFKA_GROUP_INSTANCE_ID", "%q is not a valid name: %s", c.GroupInstanceID, NameRule)
	}
	if c.GroupHeartbeatInterval <= 0 || 3*c.GroupHeartbeatInterval > c.GroupSessionTimeout {
		bad("KAFKA_GROUP_HEARTBEAT_INTERVAL", "must be positive and at most a third of KAFKA_GROUP_SESSION_TIMEOUT")
	}
	if c.GroupRebalanceTimeout <= c.ShutdownTimeout+c.GroupHeartbeatInterval {
		bad("KAFKA_GROUP_REBALANCE_TIMEOUT", "must be longer than SHUTDOWN_TIMEOUT plus KAFKA_GROUP_HEARTBEAT_INTERVAL (%s): a revoked tenant drains and commits within it, a heartbeat before the rebalance ends",
			c.ShutdownTimeout+c.GroupHeartbeatInterval)
	}
	if c.SlotsPartitions < 1 || c.SlotsPartitions > 10000 {
		bad("KAFKA_SLOTS_PARTITIONS", "must be between 1 and 10000")
	}
}

// GroupID is the consumer group of a connector's processes.
func (c *Config) GroupID() string { return "xdr-kafka-connector/" + c.ConnectorName }

// ParseStartFrom turns START_FROM into an epoch-millisecond watermark: "now",
// a Go duration back from now ("72h"), or an RFC 3339 time.
func ParseStartFrom(s string, now time.Time) (int64, error) {
	switch {
	case s == "now":
		return now.UnixMilli(), nil
	case s == "":
		return 0, errors.New("must not be empty")
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, errors.New("duration must not be negative")
		}
		return now.Add(-d).UnixMilli(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UnixMilli(), nil
	}
	return 0, fmt.Errorf("%q is neither \"now\", a duration such as 72h, nor an RFC 3339 time", s)
}

// OutputProfileNames are the values of OUTPUT_PROFILES (package profile
// reads them): native (the envelope records), ocsf and ecs.
var OutputProfileNames = []string{"native", "ocsf", "ecs"}

// TenantPlaceholder in a data topic's name is replaced by each tenant's id in
// multi-tenant mode (TENANTS_FILE), e.g. KAFKA_TOPIC_INCIDENTS=xdr.{tenant}.incidents.
const TenantPlaceholder = "{tenant}"

// MinRecordBytes is the smallest KAFKA_MAX_RECORD_BYTES: the DLQ record of an
// oversized record, with its excerpt, must itself fit.
const MinRecordBytes = 16 * 1024

// KafkaCodecs are the values of KAFKA_COMPRESSION: the codecs sink.Compression
// knows.
var KafkaCodecs = []string{"zstd", "lz4", "snappy", "gzip", "none"}

// NameRule is the documented character set of CONNECTOR_NAME and
// XDR_TENANT, which name the offsets keys, the records and the transactional
// id.
const NameRule = "1 to 128 characters from A-Z a-z 0-9 . _ - :, starting with a letter or digit"

// ValidName reports whether s follows NameRule.
func ValidName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '.' && r != '_' && r != '-' && r != ':') {
			return false
		}
	}
	return true
}

func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
