package config

import (
	"slices"
	"strings"

	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
)

// WritebackOn reports whether WRITEBACK is on: the default of every tenant,
// which a tenants file's writeback overrides.
func (c *Config) WritebackOn() bool { return strings.EqualFold(strings.TrimSpace(c.Writeback), "on") }

// writebackPossible reports whether some tenant may apply commands: WRITEBACK
// is on, or a tenants file may turn it on for a tenant. Its topics then take
// part in the collision check.
func (c *Config) writebackPossible() bool { return c.WritebackOn() || c.TenantsFile != "" }

// Actions returns WRITEBACK_ACTIONS, trimmed and lower-cased; unset, every
// incident action (writeback.DefaultActions): update_alerts must be listed.
func (c *Config) Actions() []string {
	if len(c.WritebackActions) == 0 {
		return slices.Clone(writeback.DefaultActions)
	}
	var out []string
	for _, a := range c.WritebackActions {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func (c *Config) validateWriteback(bad func(v, format string, a ...any)) {
	switch strings.ToLower(strings.TrimSpace(c.Writeback)) {
	case "on", "off":
	default:
		bad("WRITEBACK", "must be on or off, not %q", c.Writeback)
	}
	for _, a := range c.Actions() {
		if !slices.Contains(writeback.Actions, a) {
			bad("WRITEBACK_ACTIONS", "%q is not an action: want %s", a, strings.Join(writeback.Actions, ", "))
		}
	}
}
