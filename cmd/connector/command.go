package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
)

const commandHelp = `Usage: connector command --tenant T --action A [--incident ID] [fields] [--wait D]

Sends one write-back command to the commands topic (KAFKA_TOPIC_COMMANDS,
{tenant} replaced with a tenants file), keyed <tenant>/<incident id>, as a
SOAR pipeline would, and prints it. The connector applies it when write-back
is on for the tenant (WRITEBACK, or writeback in the tenants file) and
publishes one result to KAFKA_TOPIC_COMMAND_RESULTS; --wait prints that
result (connector tail xdr.command-results shows them all).

Actions and their fields:
  assign        --assignee-email (required), --assignee-name
  unassign
  set_status    --status (required), --resolve-comment (resolved_ statuses only)
  set_severity  --severity low|medium|high|critical, or "" to clear it
  add_comment   --comment (required)
  update_alerts --alert-ids 1,2,3 (1 to 100) and any of --status, --severity, --comment

Kafka is configured as for "connector run". The command is checked as the
connector checks it before it is sent.

Flags:
`

// commandCmd runs `connector command`.
func commandCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd, wait, err := parseCommandArgs(args, stdout)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return err
	}
	connOpts, closeBroker, err := kafkaOf(cfg, "no connector would apply the command nor publish its result: start the connector with write-back on (WRITEBACK=on, or writeback: true for the tenant), or set KAFKA_BROKERS to the brokers of the one that runs", true, stderr)
	if err != nil {
		return err
	}
	defer closeBroker()
	id := ""
	if cfg.TenantsFile != "" {
		id = cmd.Tenant
	}
	topics := cfg.CommandTopicsOf(id)
	return sendCommand(ctx, connOpts, topics, cmd, wait, stdout)
}

// parseCommandArgs builds the command of the flags and validates it.
func parseCommandArgs(args []string, stdout io.Writer) (writeback.Command, time.Duration, error) {
	var c writeback.Command
	fs := flag.NewFlagSet("command", flag.ContinueOnError)
	fs.StringVar(&c.CommandID, "id", "", "the command_id (default: a random one)")
	fs.StringVar(&c.Tenant, "tenant", "", "the tenant id its records carry in tenant (required)")
	fs.StringVar(&c.IncidentID, "incident", "", "the incident id (every action but update_alerts)")
	fs.StringVar(&c.Action, "action", "", "assign, unassign, set_status, set_severity, add_comment or update_alerts")
	optional := map[string]**string{"assignee-email": &c.AssigneeEmail, "assignee-name": &c.AssigneeName, "status": &c.Status,
		"resolve-comment": &c.ResolveComment, "severity": &c.Severity, "comment": &c.Comment}
	values := map[string]*string{}
	for name := range optional {
		values[name] = fs.String(name, "", "the command's "+strings.ReplaceAll(name, "-", "_"))
	}
	alertIDs := fs.String("alert-ids", "", "update_alerts: comma-separated alert ids")
	requestedBy := "cli"
	if user := os.Getenv("USER"); user != "" {
		requestedBy += ":" + user
	}
	fs.StringVar(&c.RequestedBy, "requested-by", requestedBy, "who asks, for the audit trail")
	expect := fs.Int64("expect-modification-time", 0, "reject the command as stale unless the incident's modification_time is this (epoch ms)")
	wait := fs.Duration("wait", 0, "wait this long for the command's result and print it (0: do not wait)")
	help := func() {
		fmt.Fprint(stdout, commandHelp)
		printDefaults(fs, stdout)
	}
	if err := parseFlags(fs, args, help); err != nil {
		return c, 0, err
	}
	if fs.NArg() > 0 {
		return c, 0, fmt.Errorf("%w: unexpected argument %q (\"connector command --help\" lists the flags)", errUsage, fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if dst, ok := optional[f.Name]; ok {
			*dst = values[f.Name] // set, even to "": set_severity "" clears
		}
		if f.Name == "expect-modification-time" {
			c.ExpectModificationTime = expect
		}
	})
	if *alertIDs != "" {
		for _, id := range strings.Split(*alertIDs, ",") {
			c.AlertIDs = append(c.AlertIDs, strings.TrimSpace(id))
		}
	}
	if c.CommandID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		c.CommandID = "cli-" + hex.EncodeToString(b)
	}
	if err := c.Validate(); err != nil {
		return c, 0, fmt.Errorf("%w: %w", errUsage, err)
	}
	return c, *wait, nil
}

// sendCommand produces c to topics.Commands and, with wait, reads
// topics.Results from its end before the send until c's result arrives.
func sendCommand(ctx context.Context, connOpts []kgo.Opt, topics config.CommandTopics, c writeback.Command, wait time.Duration, stdout io.Writer) error {
	cl, err := kgo.NewClient(connOpts...)
	if err != nil {
		return fmt.Errorf("creating Kafka client: %w", err)
	}
	defer cl.Close()
	from := map[int32]kgo.Offset{}
	if wait > 0 {
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics.Results)
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					from[o.Partition] = kgo.NewOffset().At(o.Offset)
				}
			})
		}
	}
	value, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding the command: %w", err)
	}
	rec := &kgo.Record{Topic: topics.Commands, Key: []byte(c.Tenant + "/" + c.IncidentID), Value: value}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("sending the command to %s: %w", topics.Commands, err)
	}
	fmt.Fprintf(stdout, "sent to %s partition %d offset %d: %s\n", topics.Commands, rec.Partition, rec.Offset, value)
	if wait <= 0 {
		return nil
	}
	opts := append([]kgo.Opt{kgo.FetchIsolationLevel(kgo.ReadCommitted())}, connOpts...)
	if len(from) > 0 {
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topics.Results: from}))
	} else {
		opts = append(opts, kgo.ConsumeTopics(topics.Results), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating Kafka client: %w", err)
	}
	defer rd.Close()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		fs := rd.PollFetches(wctx)
		if wctx.Err() != nil {
			return fmt.Errorf("no result for command %s in %s within %s: is write-back on for tenant %s, and the connector running?", c.CommandID, topics.Results, wait, c.Tenant)
		}
		for _, r := range fs.Records() {
			var res writeback.Result
			if json.Unmarshal(r.Value, &res) == nil && res.CommandID == c.CommandID {
				fmt.Fprintf(stdout, "result: %s\n", r.Value)
				if res.Outcome != writeback.OutcomeApplied {
					return fmt.Errorf("command %s %s: %s", c.CommandID, res.Outcome, res.Reason)
				}
				return nil
			}
		}
	}
}
