package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/ops"
	"github.com/soc-tools/xdr-kafka-connector/pkg/dlq"
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

func redriveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redrive", flag.ContinueOnError)
	all := fs.Bool("all", false, "redrive every dead-lettered incident not redriven yet")
	var incidents, classes []string
	fs.Var(&listFlag{values: &incidents, comma: true}, "incident", "redrive this incident id (repeatable, or comma-separated)")
	fs.Var(&listFlag{values: &classes, comma: true}, "class", "redrive records of this error class: 403, 5xx, publish, no-reply, not-found (repeatable, or comma-separated)")
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
	cfg, err := loadConfig(ctx)
	if err != nil {
		return err
	}
	v, err := ops.Open(ctx, cfg, *only, true, stderr)
	if err != nil {
		return err
	}
	defer v.Close()
	return v.Redrive(ctx, dlq.Filter{Incidents: incidents, Classes: classes}, *dry, time.Now(), stdout)
}
