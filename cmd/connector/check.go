package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/check"
)

const checkHelp = `Usage: connector check [--timeout 10s]

Checks what "connector run" needs, with the same environment, and prints one
line per check: ✓ passed, ✗ failed (with the reason and the fix), – skipped,
⚠ valid but outside what the API documents, insecure, or an environment
variable the connector does not know and ignores (a warning, which fails
nothing).

  configuration     every variable valid (see "connector run --help")
  XDR API           one get_incidents call for one incident: the tenant is
                    reachable and accepts the key (a standard key refused
                    with a 401 is tried once as an advanced key, to tell
                    which XDR_AUTH_MODE it needs)
  enrichment        one get_multiple_incidents_extra_data call (unless
                    ENRICH_BULK=off) for that incident: which way run will
                    fetch extra data, bulk or single calls
  Kafka             the brokers answer a metadata request (TLS and SASL included)
  data topics       exist, or the brokers accept creating them (checked with a
                    validate-only request; nothing is created)
  offsets topic     exists with cleanup.policy=compact, or can be created so
  slots topic       (with the group) as the offsets topic, and the principal
                    may DESCRIBE, READ and CREATE it
  group             (with the group) the principal may DESCRIBE and READ (join)
                    the connector's group, xdr-kafka-connector/<CONNECTOR_NAME>
  transactional ids the principal may DESCRIBE and WRITE each tenant's,
                    xdr-kafka-connector/<CONNECTOR_NAME>/<tenant>

The ACL probes change nothing, so check may run beside a live connector: a join
no broker accepts (a 1 ms session), a fetch of nothing, and an EndTxn for a
producer id no producer has. A missing ACL is named with the kafka-acls.sh
command that grants it.

With XDR_BASE_URL unset the API is not checked ("connector run" would serve a
simulated tenant); with KAFKA_BROKERS unset Kafka is not checked ("connector
run" would start an embedded broker).

Exit status: 0 when every check passed, 1 when one failed, 2 when the
configuration is not valid.

Flags:
`

// checkCmd runs `connector check`.
func checkCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 10*time.Second, "time allowed for each network check")
	if err := parseFlags(fs, args, func() {
		fmt.Fprint(stdout, checkHelp)
		printDefaults(fs, stdout)
	}); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: check takes no arguments, got %q (connector check [--timeout 10s])", errUsage, fs.Arg(0))
	case *timeout <= 0:
		return fmt.Errorf("%w: --timeout must be positive, got %s", errUsage, *timeout)
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		check.InvalidConfig(stdout, os.Environ())
		return err
	}
	return check.Run(ctx, cfg, check.Options{Version: version, Timeout: *timeout, Environ: os.Environ()}, stdout)
}
