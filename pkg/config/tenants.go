package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Tenant is one tenant of a process: its API and the settings of its
// pipeline, resolved (file value, else the file's defaults, else the
// environment's value of the same setting) and validated.
type Tenant struct {
	ID       string
	BaseURL  string
	APIKeyID string
	APIKey   xdr.Secret
	AuthMode string

	RequestTimeout     time.Duration
	PollInterval       time.Duration
	Lookback           time.Duration
	StartFrom          string
	FilterStatuses     []string
	FilterStarred      string // "", "true" or "false"
	FilterAlertSources []string
	EnrichRateLimit    int
	EnrichRateWindow   time.Duration
	EnrichWorkers      int
	AlertsLimit        int
	Disabled           bool
	// Bulk enrichment (ENRICH_BULK, ENRICH_BULK_SIZE, ENRICH_BULK_RATE_LIMIT,
	// ENRICH_BULK_RATE_WINDOW).
	EnrichBulk           string
	EnrichBulkSize       int
	EnrichBulkRateLimit  int
	EnrichBulkRateWindow time.Duration
	// Writeback: the tenant applies commands (writeback in the file, else
	// WRITEBACK). Off, its commands are rejected without an API call.
	Writeback bool

	// KeySource names where the key came from (a file path, or "inline"),
	// never the key: a changed key file changes the tenant.
	KeySource string

	// keyFileWarning says who else can read the key file (FileWarnings).
	keyFileWarning string

	// proxy is the environment's HTTP proxy choice (Config.proxy), for
	// the warnings.
	proxy func(*url.URL) (*url.URL, error)
}

// Equal reports whether two tenants are configured alike, keys included:
// every exported field is compared (slices by their elements, so nil and
// empty are alike); the unexported ones follow from them (the key file's
// warning) or are the environment's (the proxy).
func (t Tenant) Equal(o Tenant) bool {
	a, b := reflect.ValueOf(t), reflect.ValueOf(o)
	for i := range a.NumField() {
		if !a.Type().Field(i).IsExported() {
			continue
		}
		x, y := a.Field(i), b.Field(i)
		if x.Kind() == reflect.Slice {
			if x.Len() != y.Len() {
				return false
			}
			for j := range x.Len() {
				if !reflect.DeepEqual(x.Index(j).Interface(), y.Index(j).Interface()) {
					return false
				}
			}
			continue
		}
		if !reflect.DeepEqual(x.Interface(), y.Interface()) {
			return false
		}
	}
	return true
}

// TenantIDRule is the documented form of a tenant id, which names the
// tenant in record keys, offsets keys, metrics and topic names.
const TenantIDRule = "1 to 63 characters from a-z 0-9 . _ -, starting with a letter or digit"

var tenantIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidTenantID reports whether id follows TenantIDRule.
func ValidTenantID(id string) bool { return tenantIDPattern.MatchString(id) }

// The keys of a tenants file.
var (
	// settingKeys may appear in defaults and in each tenant.
	settingKeys = []string{"auth_mode", "request_timeout", "poll_interval", "lookback", "start_from",
		"filter_statuses", "filter_starred", "filter_alert_sources", "enrich_rate_limit", "enrich_rate_window",
		"enrich_workers", "alerts_limit", "enrich_bulk", "enrich_bulk_size", "enrich_bulk_rate_limit", "enrich_bulk_rate_window", "writeback"}
	// tenantKeys may appear only in a tenant.
	tenantKeys = []string{"id", "base_url", "api_key_id", "api_key", "api_key_file", "disabled"}
)

// LoadTenants reads the tenants file at path (YAML, or JSON, which is YAML)
// and resolves every tenant against the environment's settings in env. The
// error, if any, names every problem at once, each with its tenant and key
// ("tenant acme: poll_interval: ..."), and never holds a secret. A file
// whose tenants' topics collide (Config.CheckTopics) is refused as a whole,
// each collision naming both tenants, roles and topics.
func LoadTenants(path string, env *Config) ([]Tenant, error) {
	b, err := ReadTenantsFile(path)
	if err != nil {
		return nil, &FieldError{Var: "TENANTS_FILE", Reason: fmt.Sprintf("cannot be read: %v", errors.Unwrap(err))}
	}
	return ParseTenants(b, env)
}

// ReadTenantsFile reads the tenants file at path: a regular file (or a
// symlink to one) of at most MaxTenantsFileBytes; see ReadRegularFile.
func ReadTenantsFile(path string) ([]byte, error) {
	b, _, err := ReadRegularFile(path, MaxTenantsFileBytes)
	return b, err
}

// ParseTenants is LoadTenants for the file's content.
func ParseTenants(b []byte, env *Config) ([]Tenant, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, &FieldError{Var: "TENANTS_FILE", Reason: "is not valid YAML: " + yamlError(err)}
	}
	if len(root.Content) == 0 {
		return nil, &FieldError{Var: "TENANTS_FILE", Reason: "is empty: it needs a tenants list"}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, &FieldError{Var: "TENANTS_FILE", Reason: "must be a mapping with a tenants list"}
	}
	var errs []error
	bad := func(where, key, format string, a ...any) {
		msg := where
		if key != "" {
			msg += ": " + key
		}
		errs = append(errs, &FieldError{Var: "TENANTS_FILE", Reason: msg + ": " + fmt.Sprintf(format, a...)})
	}
	var defaults, list *yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		switch k := doc.Content[i].Value; k {
		case "defaults":
			defaults = doc.Content[i+1]
		case "tenants":
			list = doc.Content[i+1]
		default:
			bad(fmt.Sprintf("line %d", doc.Content[i].Line), k, "unknown key (the file has defaults and tenants)")
		}
	}
	base := fromEnv(env)
	if defaults != nil {
		if defaults.Kind != yaml.MappingNode {
			bad("defaults", "", "must be a mapping")
		} else {
			applySettings(&base, defaults, "defaults", settingKeys, bad)
		}
	}
	if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		bad("tenants", "", "must be a non-empty list")
		return nil, errors.Join(errs...)
	}
	var out []Tenant
	var ids []string // the valid ones, each once, for CheckTopics
	seen := map[string]int{}
	for i, n := range list.Content {
		where := fmt.Sprintf("tenant #%d (line %d)", i+1, n.Line)
		if n.Kind != yaml.MappingNode {
			bad(where, "", "must be a mapping")
			continue
		}
		if id := scalar(n, "id"); id != "" {
			where = "tenant " + id
		}
		t := base
		before := len(errs)
		applySettings(&t, n, where, append(slices.Clone(tenantKeys), settingKeys...), bad)
		switch {
		case t.ID == "":
			bad(where, "id", "is required")
		case !ValidTenantID(t.ID):
			bad(where, "id", "%q is not a valid tenant id: %s", t.ID, TenantIDRule)
		case seen[t.ID] > 0:
			bad(where, "id", "is used twice (tenants #%d and #%d)", seen[t.ID], i+1)
		default:
			ids = append(ids, t.ID)
		}
		seen[t.ID] = i + 1
		checkTenant(&t, where, env.XDRAllowInsecureHTTP, bad)
		if len(errs) == before {
			out = append(out, t)
		}
	}
	if len(ids) > 0 {
		// Every tenant's topics against every other's, disabled ones
		// included: the file is refused as a whole.
		errs = append(errs, env.topicErrors(ids)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// EnvTenant is the one tenant of an env-only configuration (XDR_*), without
// its ID, which the caller derives (XDR_TENANT, else the base URL's host).
func EnvTenant(c *Config) Tenant {
	t := fromEnv(c)
	t.ID = c.EnvTenantID()
	t.BaseURL, t.APIKeyID, t.APIKey = c.XDRBaseURL, c.XDRAPIKeyID, c.XDRAPIKey
	return t
}

// EnvTenantID names the one tenant of an env-only configuration in its
// offsets key, records and transactional id: XDR_TENANT, else the host of
// XDR_BASE_URL, else "default".
func (c *Config) EnvTenantID() string {
	if c.Tenant != "" {
		return c.Tenant
	}
	if u, err := url.Parse(c.XDRBaseURL); err == nil && u.Host != "" {
		return u.Host
	}
	return "default"
}

// Plan is one tenant of a run, resolved once from the configuration: its
// settings, its id among them, and the Kafka topic of each of its roles.
// `connector run` starts the plans, and check, status, redrive and tail
// read the tenants through them.
type Plan struct {
	Tenant   Tenant
	Topics   DataTopics    // its data topics, {tenant} replaced
	Commands CommandTopics // its write-back topics, {tenant} replaced
}

// Plans resolves the tenants of a run: every tenant of TENANTS_FILE
// (LoadTenants: disabled ones too, Disabled set), or the one tenant of an
// env-only configuration (EnvTenant). The error is LoadTenants'.
func (c *Config) Plans() ([]Plan, error) {
	if c.TenantsFile == "" {
		return []Plan{c.PlanOf(EnvTenant(c))}, nil
	}
	ts, err := LoadTenants(c.TenantsFile, c)
	if err != nil {
		return nil, err
	}
	out := make([]Plan, len(ts))
	for i, t := range ts {
		out[i] = c.PlanOf(t)
	}
	return out, nil
}

// PlanOf resolves tenant t of c: a tenant of TENANTS_FILE gets its id in
// place of {tenant} in every topic name; the one tenant of an env-only
// configuration has names without {tenant}, as Validate checked.
func (c *Config) PlanOf(t Tenant) Plan {
	id := t.ID
	if c.TenantsFile == "" {
		id = ""
	}
	return Plan{Tenant: t, Topics: c.DataTopicsOf(id), Commands: c.CommandTopicsOf(id)}
}

// fromEnv is the base layer of every tenant: the environment's per-tenant
// settings.
func fromEnv(c *Config) Tenant {
	return Tenant{
		AuthMode: c.XDRAuthMode, RequestTimeout: c.XDRTimeout, PollInterval: c.PollInterval, Lookback: c.Lookback,
		StartFrom: c.StartFrom, FilterStatuses: c.FilterStatuses, FilterStarred: c.FilterStarred,
		FilterAlertSources: c.FilterAlertSources, EnrichRateLimit: c.EnrichRateLimit, EnrichRateWindow: c.EnrichRateWindow,
		EnrichWorkers: c.EnrichWorkers, AlertsLimit: c.AlertsLimit, proxy: c.proxy,
		EnrichBulk: c.EnrichBulk, EnrichBulkSize: c.EnrichBulkSize, EnrichBulkRateLimit: c.EnrichBulkRateLimit, EnrichBulkRateWindow: c.EnrichBulkRateWindow, Writeback: c.WritebackOn(),
	}
}

func scalar(m *yaml.Node, key string) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.ScalarNode {
			return m.Content[i+1].Value
		}
	}
	return ""
}

// applySettings folds the keys of mapping m into t; allowed lists the keys
// m may hold. A value that cannot be read is reported with its key, never
// with the value of a secret.
func applySettings(t *Tenant, m *yaml.Node, where string, allowed []string, bad func(where, key, format string, a ...any)) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i].Value, m.Content[i+1]
		if !slices.Contains(allowed, k) {
			bad(where, k, "unknown key (line %d)", m.Content[i].Line)
			continue
		}
		str := func() (string, bool) {
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				bad(where, k, "must be a single value")
				return "", false
			}
			return strings.TrimSpace(v.Value), true
		}
		dur := func(dst *time.Duration) {
			if s, ok := str(); ok {
				d, err := time.ParseDuration(s)
				if err != nil {
					bad(where, k, "%q is not a duration such as 30s or 2m", s)
					return
				}
				*dst = d
			}
		}
		num := func(dst *int) {
			if s, ok := str(); ok {
				n, err := strconv.Atoi(s)
				if err != nil {
					bad(where, k, "%q is not a whole number", s)
					return
				}
				*dst = n
			}
		}
		list := func(dst *[]string) {
			var items []string
			switch v.Kind {
			case yaml.SequenceNode:
				for _, it := range v.Content {
					if it.Kind != yaml.ScalarNode {
						bad(where, k, "must be a list of strings")
						return
					}
					items = append(items, strings.TrimSpace(it.Value))
				}
			case yaml.ScalarNode:
				for _, s := range strings.Split(v.Value, ",") {
					if s = strings.TrimSpace(s); s != "" {
						items = append(items, s)
					}
				}
			default:
				bad(where, k, "must be a list of strings")
				return
			}
			*dst = items
		}
		switch k {
		case "id":
			t.ID, _ = str()
		case "base_url":
			t.BaseURL, _ = str()
		case "api_key_id":
			t.APIKeyID, _ = str()
		case "api_key":
			if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
				bad(where, k, "must be a non-empty string")
				continue
			}
			if t.KeySource != "" {
				bad(where, k, "set either api_key or api_key_file, not both")
				continue
			}
			t.APIKey, t.KeySource = xdr.NewSecret(strings.TrimSpace(v.Value)), "inline"
		case "api_key_file":
			path, ok := str()
			if !ok {
				continue
			}
			b, warning, err := ReadSecretFile(path)
			if err != nil {
				bad(where, k, "%s", UnreadableFile(path, err))
				t.KeySource = path // named once: not also "required"
				continue
			}
			if t.KeySource == "inline" {
				bad(where, k, "set either api_key or api_key_file, not both")
				continue
			}
			if strings.TrimSpace(string(b)) == "" {
				bad(where, k, "%s is empty", path)
				t.KeySource = path
				continue
			}
			t.APIKey, t.KeySource, t.keyFileWarning = xdr.NewSecret(strings.TrimSpace(string(b))), path, warning
		case "auth_mode":
			t.AuthMode, _ = str()
		case "disabled":
			if s, ok := str(); ok {
				b, err := strconv.ParseBool(s)
				if err != nil {
					bad(where, k, "must be true or false")
				}
				t.Disabled = b
			}
		case "writeback":
			if s, ok := str(); ok {
				switch strings.ToLower(s) {
				case "on", "true":
					t.Writeback = true
				case "off", "false":
					t.Writeback = false
				default:
					bad(where, k, "must be on or off")
				}
			}
		case "request_timeout":
			dur(&t.RequestTimeout)
		case "poll_interval":
			dur(&t.PollInterval)
		case "lookback":
			dur(&t.Lookback)
		case "enrich_rate_window":
			dur(&t.EnrichRateWindow)
		case "start_from":
			t.StartFrom, _ = str()
		case "filter_statuses":
			list(&t.FilterStatuses)
		case "filter_alert_sources":
			list(&t.FilterAlertSources)
		case "filter_starred":
			if s, ok := str(); ok {
				b, err := strconv.ParseBool(s)
				if err != nil {
					bad(where, k, "must be true or false")
					continue
				}
				t.FilterStarred = strconv.FormatBool(b)
			}
		case "enrich_rate_limit":
			num(&t.EnrichRateLimit)
		case "enrich_workers":
			num(&t.EnrichWorkers)
		case "alerts_limit":
			num(&t.AlertsLimit)
		case "enrich_bulk":
			t.EnrichBulk, _ = str()
		case "enrich_bulk_size":
			num(&t.EnrichBulkSize)
		case "enrich_bulk_rate_limit":
			num(&t.EnrichBulkRateLimit)
		case "enrich_bulk_rate_window":
			dur(&t.EnrichBulkRateWindow)
		}
	}
}

// checkTenant applies the rules of the environment's settings to a tenant;
// allowHTTP is XDR_ALLOW_INSECURE_HTTP.
func checkTenant(t *Tenant, where string, allowHTTP bool, bad func(where, key, format string, a ...any)) {
	if u, err := url.Parse(t.BaseURL); t.BaseURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad(where, "base_url", "is required: an http(s) URL such as https://api-example.xdr.us.paloaltonetworks.com")
	} else if u.User != nil {
		bad(where, "base_url", "must not carry credentials (user@ or user:password@ before the host): the key goes in api_key_file, and the URL is logged")
	} else if !allowHTTP && InsecureHTTP(u) {
		bad(where, "base_url", "%s", insecureReason(u, "XDR_ALLOW_INSECURE_HTTP=true in the environment"))
	}
	if t.APIKeyID == "" {
		bad(where, "api_key_id", "is required")
	}
	if t.APIKey.IsZero() && t.KeySource == "" {
		bad(where, "api_key_file", "is required (or api_key)")
	}
	switch t.AuthMode {
	case "standard", "advanced":
	default:
		bad(where, "auth_mode", "must be standard or advanced, not %q", t.AuthMode)
	}
	if t.RequestTimeout <= 0 {
		bad(where, "request_timeout", "must be a positive duration")
	}
	if t.PollInterval < 100*time.Millisecond {
		bad(where, "poll_interval", "must be at least 100ms")
	}
	if t.Lookback < 0 {
		bad(where, "lookback", "must not be negative")
	}
	if _, err := ParseStartFrom(t.StartFrom, time.Now()); err != nil {
		bad(where, "start_from", "%v", err)
	}
	if t.EnrichRateLimit < 1 {
		bad(where, "enrich_rate_limit", "must be at least 1")
	}
	if t.EnrichRateWindow <= 0 {
		bad(where, "enrich_rate_window", "must be a positive duration")
	}
	if t.EnrichWorkers < 1 {
		bad(where, "enrich_workers", "must be at least 1")
	}
	if t.AlertsLimit < 1 {
		bad(where, "alerts_limit", "must be at least 1")
	}
	checkBulk(t.EnrichBulk, t.EnrichBulkSize, t.EnrichBulkRateLimit, t.EnrichBulkRateWindow, func(key, reason string) {
		bad(where, key, "%s", reason)
	})
}

// checkBulk applies the rules of the bulk enrichment settings, reporting
// each fault under its tenants-file key (enrich_bulk, ...).
func checkBulk(mode string, size, limit int, window time.Duration, bad func(key, reason string)) {
	switch mode {
	case "auto", "on", "off":
	default:
		bad("enrich_bulk", fmt.Sprintf("must be auto, on or off, not %q", mode))
	}
	if size < 1 || size > 100 {
		bad("enrich_bulk_size", "must be between 1 and 100 (incidents per get_multiple_incidents_extra_data call)")
	}
	if limit < 1 {
		bad("enrich_bulk_rate_limit", "must be at least 1")
	}
	if window <= 0 {
		bad("enrich_bulk_rate_window", "must be a positive duration")
	}
}

// yamlError returns err's text with what it quotes from the file elided:
// a tenants file may hold keys inline, and YAML quotes the text it could
// not read ("unknown anchor 'KEY' referenced" for a key starting with *),
// in single quotes, double quotes or backticks. A run of 16 or more
// characters a key is written in is elided too, quoted or not.
func yamlError(err error) string {
	msg := err.Error()
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\'' || c == '"' || c == '`' {
			if j := strings.IndexByte(msg[i+1:], c); j >= 0 {
				b.WriteByte(c)
				b.WriteString("…")
				b.WriteByte(c)
				i += j + 1
				continue
			}
			b.WriteString("…") // an unclosed quote: the rest may be the key
			break
		}
		b.WriteByte(c)
	}
	return keyLikeRun.ReplaceAllString(b.String(), "…")
}

// keyLikeRun is a run of the characters API keys and passwords are
// written in, long enough to be one.
var keyLikeRun = regexp.MustCompile(`[A-Za-z0-9+/=_\-]{16,}`)
