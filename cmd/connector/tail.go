package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/soc-tools/xdr-kafka-connector/internal/ops"
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

// parseTailArgs accepts flags before and after the topic.
func parseTailArgs(args []string, stdout, stderr io.Writer) (ops.Tail, error) {
	var tf ops.Tail
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.BoolVar(&tf.Follow, "follow", false, "keep reading new records until interrupted")
	fs.BoolVar(&tf.FromEnd, "from-end", false, "start at the end of the topic: print only records written from now on (implies --follow)")
	fs.IntVar(&tf.Max, "max", 0, "stop after this many records (0: no limit)")
	fs.Var(&listFlag{values: &tf.Keys}, "key", "print only records with this `key` (repeatable)")
	fs.Var(&listFlag{values: &tf.Incidents}, "incident", "print only records of the incident with this `id` (repeatable)")
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
	if tf.Max < 0 {
		return tf, fmt.Errorf("%w: --max must not be negative", errUsage)
	}
	tf.Topic = topics[0]
	tf.Follow = tf.Follow || tf.FromEnd
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
	connOpts, closeBroker, err := kafkaOf(cfg, tailLive(tf.Follow), false, stderr)
	if err != nil {
		return err
	}
	defer closeBroker()
	return tf.Run(ctx, connOpts, stdout, stderr)
}

// tailLive is why tail needs a running connector: only to follow.
func tailLive(follow bool) string {
	if !follow {
		return ""
	}
	return "nothing new will arrive to follow: start the connector, or drop --follow and --from-end to read what it left"
}
