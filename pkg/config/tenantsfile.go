package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TenantsFileEntry is one tenant of a tenants file as FormatTenantsFile
// and TenantsFileEntry.Format write it: the keys LoadTenants reads, each
// written when set. It is the one writer of the format (the simulator's
// files, the tests' fleets); LoadTenants is its one reader.
type TenantsFileEntry struct {
	ID         string
	BaseURL    string
	APIKeyID   string // always written quoted: a numeric id stays a string
	APIKey     string // inline: for tests; files carry APIKeyFile
	APIKeyFile string
	AuthMode   string
}

// Format renders the entry as an item of the file's tenants list, indented
// as FormatTenantsFile does; keys of the entry that it does not know may
// follow, indented by four spaces.
func (e TenantsFileEntry) Format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - id: %s\n", yamlString(e.ID))
	for _, kv := range []struct{ key, value string }{
		{"base_url", yamlString(e.BaseURL)}, {"api_key_id", strconv.Quote(e.APIKeyID)}, {"api_key", yamlString(e.APIKey)},
		{"api_key_file", yamlString(e.APIKeyFile)}, {"auth_mode", yamlString(e.AuthMode)},
	} {
		if kv.value != `""` {
			fmt.Fprintf(&b, "    %s: %s\n", kv.key, kv.value)
		}
	}
	return b.String()
}

// TenantsFileDefaults are the defaults of a tenants file that
// FormatTenantsFile writes; zero ones are left out.
type TenantsFileDefaults struct {
	EnrichRateLimit  int
	EnrichRateWindow time.Duration
}

// FormatTenantsFile renders a tenants file: comment (each line prefixed
// with "# "), the defaults, then the entries.
func FormatTenantsFile(comment string, d TenantsFileDefaults, entries []TenantsFileEntry) string {
	var b strings.Builder
	if comment != "" {
		for _, line := range strings.Split(strings.TrimRight(comment, "\n"), "\n") {
			b.WriteString("# " + line + "\n")
		}
	}
	if d != (TenantsFileDefaults{}) {
		b.WriteString("defaults:\n")
		if d.EnrichRateLimit != 0 {
			fmt.Fprintf(&b, "  enrich_rate_limit: %d\n", d.EnrichRateLimit)
		}
		if d.EnrichRateWindow != 0 {
			fmt.Fprintf(&b, "  enrich_rate_window: %s\n", d.EnrichRateWindow)
		}
	}
	b.WriteString("tenants:\n")
	for _, e := range entries {
		b.WriteString(e.Format())
	}
	return b.String()
}

// yamlString renders s as a YAML scalar: plain when that reads back as the
// same string, double-quoted otherwise; "" for an empty s.
func yamlString(s string) string {
	plain := s != "" && !strings.ContainsAny(s[:1], "-:.")
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("/._-:", c)) {
			plain = false
			break
		}
	}
	if plain {
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no", "on", "off", "y", "n", "null":
			plain = false
		}
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			plain = false
		}
	}
	if plain {
		return s
	}
	return strconv.Quote(s)
}
