package config

import (
	"slices"
	"strings"
)

// WritebackActionNames are the values of WRITEBACK_ACTIONS: the actions of
// package writeback (its Actions; a test keeps the two equal, since this
// package stays free of Kafka for the chart's module).
var WritebackActionNames = []string{"assign", "unassign", "set_status", "set_severity", "add_comment", "update_alerts"}

// DefaultWritebackActions is the allow-list when WRITEBACK_ACTIONS is empty:
// every action but update_alerts (DefaultWritebackActions).
var DefaultWritebackActions = []string{"assign", "unassign", "set_status", "set_severity", "add_comment"}

// WritebackOn reports whether WRITEBACK is on: the default of every tenant,
// which a tenants file's writeback overrides.
func (c *Config) WritebackOn() bool { return strings.EqualFold(strings.TrimSpace(c.Writeback), "on") }

// writebackPossible reports whether some tenant may apply commands: WRITEBACK
// is on, or a tenants file may turn it on for a tenant. Its topics then take
// part in the collision check.
func (c *Config) writebackPossible() bool { return c.WritebackOn() || c.TenantsFile != "" }

// Actions returns WRITEBACK_ACTIONS, trimmed and lower-cased; unset, every
// incident action (DefaultWritebackActions): update_alerts must be listed.
func (c *Config) Actions() []string {
	if len(c.WritebackActions) == 0 {
		return slices.Clone(DefaultWritebackActions)
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
		if !slices.Contains(WritebackActionNames, a) {
			bad("WRITEBACK_ACTIONS", "%q is not an action: want %s", a, strings.Join(WritebackActionNames, ", "))
		}
	}
}
