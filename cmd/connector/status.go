package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/ops"
)

const statusHelp = `Usage: connector status [--json] [--tenant ID]

Prints, for each tenant (every tenant of TENANTS_FILE; without it, the one
of XDR_* variables and every other tenant found in the offsets topic), what the offsets and DLQ topics say: the committed watermark
and its lag, the last commit and whether a connector is committing now,
whether the last stop was clean (and so what the next start's rate budget
is), the enrichments still owed (how many, the oldest), and the DLQ records
(how many, by error class, how many no redrive covers yet, and the redrive
requests waiting for the next start). It only reads, so it works while the
connector runs and after it stopped.

Kafka and the topics are configured as for "connector run"; with
KAFKA_BROKERS unset it reads the embedded broker of DATA_DIR, as tail does.

Flags:
`

func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON (one object, tenants sorted by id)")
	only := fs.String("tenant", "", "report this tenant only")
	if err := parseFlags(fs, args, func() {
		fmt.Fprint(stdout, statusHelp)
		printDefaults(fs, stdout)
	}); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: connector status takes no arguments (got %q)", errUsage, fs.Args())
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return err
	}
	v, err := ops.Open(ctx, cfg, *only, false, stderr)
	if err != nil {
		return err
	}
	defer v.Close()
	rep := v.Report(time.Now())
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	v.PrintStatus(stdout, rep)
	return nil
}
