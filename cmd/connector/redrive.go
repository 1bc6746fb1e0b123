package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/dlq"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
)

const redriveHelp = `Usage: connector redrive (--all | --incident ID... | --class CLASS...) [--tenant ID] [--dry-run]

Asks the connector to enrich again the incidents whose enrichment went to the
DLQ, once the cause is fixed (a role permission, say), without replaying
anything else. It reads the DLQ records (the source of what to redrive) and
writes one redrive request per incident into the offsets topic; the
connector queues the requests when it starts and marks them done in its
first commit, so each DLQ record is redriven once: running redrive again
asks only for incidents that failed since.

A connector that is running does not see the requests until it starts
again: restart it (a stopped one queues them when it starts). Writing the
requests is safe while it runs.

Select with --all, or with --incident and --class (each repeatable or
comma-separated; both given, a record must match both). A class is an HTTP
status (403), a family (5xx), "publish" (a record Kafka would not take) or
"no-reply" (no HTTP status: timeouts, network errors, a reply for another
incident or a malformed one) or "not-found" (the incident no longer exists:
merged or deleted; --all and 5xx leave these, as they need nothing, and
--class not-found or --incident takes them, after XDR_BASE_URL was set to
the tenant the offsets belong to). "connector status" counts the DLQ by class.

Kafka and the topics are configured as for "connector run"; with
KAFKA_BROKERS unset it writes to the embedded broker of DATA_DIR.

Flags:
`

// listFlag is a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func redriveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redrive", flag.ContinueOnError)
	all := fs.Bool("all", false, "redrive every dead-lettered incident not redriven yet")
	var incidents, classes listFlag
	fs.Var(&incidents, "incident", "redrive this incident id (repeatable, or comma-separated)")
	fs.Var(&classes, "class", "redrive records of this error class: 403, 5xx, publish, no-reply, not-found (repeatable, or comma-separated)")
	only := fs.String("tenant", "", "redrive this tenant's records only")
	dry := fs.Bool("dry-run", false, "print what would be redriven, write nothing")
	if err := parseFlags(fs, args, func() {
		fmt.Fprint(stdout, redriveHelp)
		printDefaults(fs, stdout)
	}); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: connector redrive takes no arguments (got %q); use --incident ID", errUsage, fs.Args())
	case *all && (len(incidents) > 0 || len(classes) > 0):
		return fmt.Errorf("%w: --all selects everything: give it alone, or --incident and --class without it", errUsage)
	case !*all && len(incidents) == 0 && len(classes) == 0:
		return fmt.Errorf("%w: say what to redrive: --all, --incident ID or --class CLASS (see connector redrive --help)", errUsage)
	}
	for _, c := range classes {
		if !dlq.ValidClass(c) {
			return fmt.Errorf("%w: --class %q is not a class: an HTTP status (403), a family (5xx), publish, no-reply or not-found", errUsage, c)
		}
	}
	v, err := openView(ctx, *only, true, stderr)
	if err != nil {
		return err
	}
	defer v.close()
	if v.noTopic {
		return fmt.Errorf("the offsets topic %s does not exist: no connector has run against this Kafka cluster, so nothing was dead-lettered", v.cfg.TopicOffsets)
	}
	filter := dlq.Filter{Incidents: incidents, Classes: classes}
	now := time.Now()
	var recs []*kgo.Record
	running := 0
	for _, t := range v.tenants {
		l := v.offsets[t.id]
		reqs, skips := dlq.Plan(v.dlq[t.id], l.State, filter)
		fmt.Fprintf(stdout, "tenant %s: %d incidents to redrive, %d skipped (%d DLQ records in %s)\n", t.id, len(reqs), len(skips), len(v.dlq[t.id]), t.dlq)
		for _, r := range reqs {
			fmt.Fprintf(stdout, "  redrive %s  version %s, last failed %s\n", r.IncidentID, stamp(r.ModificationTime), stamp(r.FailedAt))
		}
		for _, s := range skips {
			fmt.Fprintf(stdout, "  skip    %s  %s\n", s.IncidentID, s.Reason)
		}
		if len(reqs) == 0 {
			continue
		}
		if v.runState(l, now) == "running" {
			running++
		}
		store, err := offsets.NewStore(v.cl, offsets.StoreConfig{Topic: v.cfg.TopicOffsets, Connector: v.cfg.ConnectorName, Tenant: t.id})
		if err != nil {
			return err
		}
		for _, r := range reqs {
			r.RequestedAt = now.UnixMilli()
			recs = append(recs, store.RedriveRecord(r))
		}
	}
	switch {
	case len(recs) == 0:
		fmt.Fprintln(stdout, "nothing to redrive")
		return nil
	case *dry:
		fmt.Fprintf(stdout, "--dry-run: %d redrive requests not written\n", len(recs))
		return nil
	}
	if err := v.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("writing redrive requests to %s: %w", v.cfg.TopicOffsets, err)
	}
	fmt.Fprintf(stdout, "wrote %d redrive requests to %s; the connector queues them at its next start\n", len(recs), v.cfg.TopicOffsets)
	if running > 0 {
		fmt.Fprintf(stdout, "a connector is running for %d of these tenants: restart it (SIGTERM, then start it again) so it queues them now\n", running)
	}
	return nil
}
