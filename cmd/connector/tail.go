package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

const tailHelp = `Usage: connector tail [--follow] [--from-end] [--max N] [--key K] [--incident ID] TOPIC

Prints the records of a Kafka topic: partition, offset and time, the key, the
headers, and the value (JSON indented). It reads committed records only
(read_committed), from the start of the topic to its current end, then exits.

Kafka is configured as for "connector run" (KAFKA_BROKERS, KAFKA_TLS_*,
KAFKA_SASL_*). With KAFKA_BROKERS unset, tail reads the embedded broker of
DATA_DIR: the broker of a connector running there (found through
DATA_DIR/broker.addr), or, when no connector runs, the data it left there.

--key and --incident print only the records of a key or of an incident
(its change, enriched, alert, artifact and DLQ records, its OCSF and ECS
records, or its offsets records); each may be given more than once, and --max counts what they let
through. With a tenants file, keys are <tenant>/<key> and incident ids repeat
across tenants: --key acme/891 is one tenant's incident record.

Flags:
`

// tailFlags are the options of `connector tail`.
type tailFlags struct {
	topic     string
	follow    bool
	fromEnd   bool
	max       int
	keys      stringsFlag // print only records with one of these keys
	incidents stringsFlag // print only records of one of these incidents
}

// stringsFlag is a flag that may be given more than once.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	*s = append(*s, v)
	return nil
}

// match reports whether r passes the --key and --incident filters.
func (tf *tailFlags) match(r *kgo.Record) bool {
	if len(tf.keys) > 0 && !slices.Contains(tf.keys, string(r.Key)) {
		return false
	}
	if len(tf.incidents) > 0 && !slices.Contains(tf.incidents, recordIncident(r)) {
		return false
	}
	return true
}

// recordIncident is the incident a record belongs to: the incident_id of
// its value (every native data record has one; an OCSF record has it as
// metadata.correlation_uid, an ECS one as panw_cortex.xdr.incident_id),
// else of its key (the offsets topic's keys are JSON with the incident's
// id), read by xdr.Text; "" when neither has one.
func recordIncident(r *kgo.Record) string {
	for _, b := range [][]byte{r.Value, r.Key} {
		var v struct {
			IncidentID json.RawMessage `json:"incident_id"`
			Metadata   struct {
				CorrelationUID json.RawMessage `json:"correlation_uid"` // OCSF
			} `json:"metadata"`
			PanwCortex struct {
				XDR struct {
					IncidentID json.RawMessage `json:"incident_id"` // ECS
				} `json:"xdr"`
			} `json:"panw_cortex"`
		}
		if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &v) != nil {
			continue
		}
		for _, id := range []json.RawMessage{v.IncidentID, v.Metadata.CorrelationUID, v.PanwCortex.XDR.IncidentID} {
			if s := xdr.Text(id); s != "" {
				return s // "893" for "893", 893 and 893.0 alike
			}
		}
	}
	return ""
}

// parseTailArgs accepts flags before and after the topic.
func parseTailArgs(args []string, stdout, stderr io.Writer) (tailFlags, error) {
	var tf tailFlags
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.BoolVar(&tf.follow, "follow", false, "keep reading new records until interrupted")
	fs.BoolVar(&tf.fromEnd, "from-end", false, "start at the end of the topic: print only records written from now on (implies --follow)")
	fs.IntVar(&tf.max, "max", 0, "stop after this many records (0: no limit)")
	fs.Var(&tf.keys, "key", "print only records with this `key` (repeatable)")
	fs.Var(&tf.incidents, "incident", "print only records of the incident with this `id` (repeatable)")
	help := func() {
		fmt.Fprint(stdout, tailHelp)
		printDefaults(fs, stdout)
	}
	var topics []string
	for {
		if err := parseFlags(fs, args, help); err != nil {
			return tf, err
		}
		if fs.NArg() == 0 {
			break
		}
		topics = append(topics, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(topics) != 1 {
		return tf, fmt.Errorf("%w: tail reads one TOPIC, got %d (connector tail [flags] TOPIC; \"connector tail --help\" lists the flags)", errUsage, len(topics))
	}
	if tf.max < 0 {
		return tf, fmt.Errorf("%w: --max must not be negative", errUsage)
	}
	tf.topic = topics[0]
	tf.follow = tf.follow || tf.fromEnd
	return tf, nil
}

// tailCmd runs `connector tail`.
func tailCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	tf, err := parseTailArgs(args, stdout, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return err
	}
	if len(cfg.KafkaBrokers) == 0 {
		addr, closeBroker, err := embedded.BrokerFor(cfg.DataDir, tf.follow, false, stderr)
		if err != nil {
			return err
		}
		defer closeBroker()
		cfg.KafkaBrokers = []string{addr}
	}
	connOpts, err := app.KafkaOptions(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return tailTopic(ctx, connOpts, tf, stdout, stderr)
}

// tailTopic prints tf.topic's records as tailCmd describes.
func tailTopic(ctx context.Context, connOpts []kgo.Opt, tf tailFlags, stdout, stderr io.Writer) error {
	admCl, err := kgo.NewClient(connOpts...)
	if err != nil {
		return fmt.Errorf("creating Kafka client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	// The end is the last stable offset: what read_committed can reach.
	ends, err := adm.ListCommittedOffsets(ctx, tf.topic)
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("topic %s does not exist", tf.topic)
	}
	if err != nil {
		return fmt.Errorf("listing the end offsets of %s: %w", tf.topic, err)
	}
	from := ends
	if !tf.fromEnd {
		if from, err = adm.ListStartOffsets(ctx, tf.topic); err == nil {
			err = from.Error()
		}
		if err != nil {
			return fmt.Errorf("listing the start offsets of %s: %w", tf.topic, err)
		}
	}
	parts := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition -> end still to reach (without --follow)
	from.Each(func(o kadm.ListedOffset) { parts[o.Partition] = kgo.NewOffset().At(o.Offset) })
	ends.Each(func(o kadm.ListedOffset) {
		if start := from[o.Topic][o.Partition].Offset; o.Offset > start {
			remaining[o.Partition] = o.Offset
		}
	})

	cl, err := kgo.NewClient(append(slices.Clone(connOpts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tf.topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return fmt.Errorf("creating Kafka consumer: %w", err)
	}
	defer cl.Close()
	if tf.follow {
		where := "its start"
		if tf.fromEnd {
			where = "its end"
		}
		fmt.Fprintf(stderr, "following %s (%d partitions) from %s; Ctrl-C stops\n", tf.topic, len(parts), where)
	}

	printed := 0
	for tf.follow || len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil // interrupted: a normal way to stop
		}
		var ferr error
		fs.EachError(func(t string, p int32, e error) {
			if ferr == nil {
				ferr = fmt.Errorf("reading %s partition %d: %w", t, p, e)
			}
		})
		if ferr != nil {
			return ferr
		}
		for _, r := range fs.Records() {
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if r.Attrs.IsControl() {
				continue
			}
			if end, ok := ends[r.Topic][r.Partition]; !tf.follow && ok && r.Offset >= end.Offset {
				continue // past the end listed at start
			}
			if !tf.match(r) {
				continue
			}
			if _, err := io.WriteString(stdout, formatRecord(r)); err != nil {
				return fmt.Errorf("writing: %w", err)
			}
			printed++
			if tf.max > 0 && printed >= tf.max {
				return nil
			}
		}
	}
	return nil
}

// formatRecord renders one record: a line with its position and time, its
// key, its headers, then its value (indented when JSON), and a blank line.
func formatRecord(r *kgo.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%d] @%d  %s\n", r.Topic, r.Partition, r.Offset, r.Timestamp.UTC().Format(time.RFC3339Nano))
	if r.Key == nil {
		b.WriteString("key: (none)\n")
	} else {
		fmt.Fprintf(&b, "key: %s\n", r.Key)
	}
	if len(r.Headers) > 0 {
		hs := make([]string, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = h.Key + "=" + string(h.Value)
		}
		fmt.Fprintf(&b, "headers: %s\n", strings.Join(hs, ", "))
	}
	var pretty bytes.Buffer
	switch {
	case r.Value == nil:
		b.WriteString("(tombstone: no value)\n")
	case json.Indent(&pretty, r.Value, "", "  ") == nil:
		b.Write(pretty.Bytes())
		b.WriteByte('\n')
	default:
		b.Write(r.Value)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.String()
}
