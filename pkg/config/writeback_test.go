package config

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

// TestWritebackSettings: WRITEBACK is off by default, the allow-list
// defaults to the incident actions, the prefix names the write-back topics,
// and bad values are named.
func TestWritebackSettings(t *testing.T) {
	c, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if c.WritebackOn() || !slices.Equal(c.Actions(), DefaultWritebackActions) || slices.Contains(c.Actions(), "update_alerts") {
		t.Errorf("defaults: on %v, actions %v", c.WritebackOn(), c.Actions())
	}
	c, err = Load(context.Background(), envconfig.MapLookuper(map[string]string{"WRITEBACK": "on", "KAFKA_TOPIC_PREFIX": "soc",
		"WRITEBACK_ACTIONS": " Assign,update_alerts"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CommandTopicsOf(""); !c.WritebackOn() || got != (CommandTopics{"soc.commands", "soc.command-results"}) || !slices.Equal(c.Actions(), []string{"assign", "update_alerts"}) {
		t.Errorf("on with a prefix: %v %+v %v", c.WritebackOn(), got, c.Actions())
	}
	for env, want := range map[string]string{
		"WRITEBACK=yes":                            "WRITEBACK: must be on or off",
		"WRITEBACK_ACTIONS=close":                  `WRITEBACK_ACTIONS: "close" is not an action`,
		"KAFKA_TOPIC_COMMANDS=a b":                 "KAFKA_TOPIC_COMMANDS:",
		"KAFKA_TOPIC_COMMANDS=xdr.dlq":             "topics collide: KAFKA_TOPIC_DLQ (xdr.dlq) and KAFKA_TOPIC_COMMANDS (xdr.dlq)",
		"KAFKA_TOPIC_COMMAND_RESULTS=xdr_commands": "KAFKA_TOPIC_COMMANDS (xdr.commands) and KAFKA_TOPIC_COMMAND_RESULTS (xdr_commands) collide in Kafka",
	} {
		k, v, _ := strings.Cut(env, "=")
		_, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"WRITEBACK": "on", k: v}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", env, err, want)
		}
	}
	// Off, an env-only configuration's write-back topics are not used.
	if _, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"KAFKA_TOPIC_COMMANDS": "xdr.dlq"})); err != nil {
		t.Errorf("write-back off: %v", err)
	}
}

// TestTenantWriteback: writeback in the file overrides WRITEBACK per
// tenant, and the write-back topics of tenants take part in the collision
// check.
func TestTenantWriteback(t *testing.T) {
	env := envDefaults(t)
	env.Writeback = "on"
	file := `
tenants:
  - id: acme
    base_url: https://api-acme.example
    api_key_id: 1
    api_key: k1
  - id: beta
    base_url: https://api-beta.example
    api_key_id: 2
    api_key: k2
    writeback: off
`
	ts, err := ParseTenants([]byte(file), env)
	if err != nil {
		t.Fatal(err)
	}
	if !ts[0].Writeback || ts[1].Writeback {
		t.Errorf("writeback: acme %v, beta %v", ts[0].Writeback, ts[1].Writeback)
	}
	if ts[0].Equal(ts[1]) || func() bool { a := ts[0]; a.Writeback = false; return a.Equal(ts[0]) }() {
		t.Error("Equal ignores writeback")
	}
	env.TopicCommands = "xdr.{tenant}.commands"
	env.TopicCommandResults = "xdr.acme.commands"
	if _, err := ParseTenants([]byte(file), env); err == nil || !strings.Contains(err.Error(), "KAFKA_TOPIC_COMMANDS (xdr.acme.commands)") {
		t.Errorf("a tenant's commands topic that is another's results topic: %v", err)
	}
	if _, err := ParseTenants([]byte(strings.Replace(file, "writeback: off", "writeback: maybe", 1)), env); err == nil || !strings.Contains(err.Error(), "writeback: must be on or off") {
		t.Errorf("writeback: maybe: %v", err)
	}
}
