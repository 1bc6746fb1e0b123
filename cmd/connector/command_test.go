package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

func TestCommandFlags(t *testing.T) {
	c, _, err := parseCommandArgs([]string{"--tenant", "acme", "--incident", "891", "--action", "set_severity", "--severity", ""}, &bytes.Buffer{})
	if err != nil || c.Severity == nil || *c.Severity != "" || !strings.HasPrefix(c.CommandID, "cli-") || c.Status != nil {
		t.Fatalf("set_severity \"\": %+v, %v", c, err)
	}
	c, _, err = parseCommandArgs([]string{"--id", "x1", "--tenant", "acme", "--action", "update_alerts", "--alert-ids", "1, 2", "--status", "s", "--expect-modification-time", "5"}, &bytes.Buffer{})
	if err != nil || c.CommandID != "x1" || len(c.AlertIDs) != 2 || c.AlertIDs[1] != "2" || *c.ExpectModificationTime != 5 {
		t.Fatalf("update_alerts: %+v, %v", c, err)
	}
	for _, args := range [][]string{
		{"--tenant", "acme", "--incident", "1", "--action", "assign"},
		{"--tenant", "acme", "--incident", "1", "--action", "close"},
		{"--tenant", "acme", "--incident", "1", "--action", "unassign", "extra"},
	} {
		if _, _, err := parseCommandArgs(args, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

// TestCommandSendsAndWaits: connector command sends the command, and --wait
// prints the result a running applier publishes.
func TestCommandSendsAndWaits(t *testing.T) {
	sim := xdrtest.New(xdrtest.Config{Seed: 3, Incidents: 5})
	base, stop := sim.Start()
	t.Cleanup(stop)
	keyID, key := sim.Credentials()
	api, err := xdr.New(xdr.Config{BaseURL: base, KeyID: keyID, Key: xdr.NewSecret(key)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	conn := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	kcl, err := kgo.NewClient(conn...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	topics := config.CommandTopics{Commands: "xdr.commands", Results: "xdr.command-results"}
	a, err := writeback.New(writeback.Config{Connector: "c", Policy: writeback.Policy{Tenant: "acme", Enabled: true, Actions: writeback.DefaultActions},
		CommandsTopic: topics.Commands, ResultsTopic: topics.Results, OffsetsTopic: "xdr.connector.offsets", CreateTopics: true, ClientOpts: conn}, api, kcl)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	id := sim.IncidentIDs()[0]
	cmd, wait, err := parseCommandArgs([]string{"--id", "cli-1", "--tenant", "acme", "--incident", id, "--action", "add_comment", "--comment", "from the CLI", "--wait", "30s"}, &bytes.Buffer{})
	if err != nil || wait != 30*time.Second {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := sendCommand(context.Background(), conn, topics, cmd, wait, &out); err != nil {
		t.Fatalf("sendCommand: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `"command_id":"cli-1"`) || !strings.Contains(out.String(), `result: {"command_id":"cli-1","tenant":"acme","incident_id":"`+id+`","action":"add_comment","outcome":"applied"`) {
		t.Errorf("output:\n%s", out.String())
	}
}
