// Command connector streams Cortex XDR / Xpanse incidents into Kafka.
//
// Exit status: 0 after a clean stop, 1 when the pipeline fails, 2 for a bad
// configuration or command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// version is stamped at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitFenced  = 3 // exactly-once: another instance took over
)

// errUsage marks errors in the command line or configuration (exit status 2):
// wrap it first, fmt.Errorf("%w: ...", errUsage, ...). Its own text is not
// printed.
var errUsage = config.ErrUsage

// usageMessage is the text of a usage error without the errUsage marker.
func usageMessage(err error) string {
	return strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
}

// parseFlags parses args into fs. The flag package prints nothing: a bad
// flag becomes one usage error naming the command's --help, and -h/--help
// prints help (to stdout) and returns errHelp.
func parseFlags(fs *flag.FlagSet, args []string, help func()) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		help()
		return errHelp
	}
	hint := fmt.Sprintf("\"connector %s --help\" lists the flags", fs.Name())
	flags := 0
	fs.VisitAll(func(*flag.Flag) { flags++ })
	if flags == 0 {
		hint = fmt.Sprintf("connector %s has no flags: it is configured by environment variables, which \"connector %[1]s --help\" lists", fs.Name())
	}
	if len(args) > 0 && (args[0] == "-v" || args[0] == "--v") {
		hint += "; \"connector --version\" prints the version"
	}
	return fmt.Errorf("%w: %w (%s)", errUsage, err, hint)
}

// printDefaults prints fs's flags to w, for a command's help.
func printDefaults(fs *flag.FlagSet, w io.Writer) {
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "poll the tenant and publish to Kafka (the default)", runCmd},
		{"check", "check the configuration, the API key and Kafka, then exit", checkCmd},
		{"tail", "print the records of a topic", tailCmd},
		{"status", "print each tenant's watermark, owed enrichments, DLQ and last stop", statusCmd},
		{"redrive", "enrich again the incidents whose enrichment went to the DLQ", redriveCmd},
		{"command", "send one write-back command (assign, set_status, add_comment, ...) to the commands topic", commandCmd},
		{"simulate", "serve a simulated Cortex XDR tenant for curl or another connector", simulateCmd},
		{"bench", "measure the connector against the simulated tenant and an embedded broker", benchCmd},
		{"version", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			fmt.Fprintln(stdout, "connector", version)
			return nil
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `connector streams Palo Alto Cortex XDR / Xpanse incidents into Kafka.

Usage: connector [command] [--help]
       connector help [command]
       connector --version

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
With no configuration, "connector run" starts a simulated tenant and an
embedded Kafka broker, so the whole pipeline can be watched on one machine.
Configuration is by environment variable; see "connector run --help".
`)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Whatever a command prints goes through the scrubber of the process's
	// secrets: a library may quote one in its own error text.
	code := dispatch(ctx, os.Args[1:], xdr.ScrubbingWriter(os.Stdout), xdr.ScrubbingWriter(os.Stderr))
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := "run"
	switch {
	case len(args) > 0 && (args[0] == "--version" || args[0] == "-version"):
		name, args = "version", args[1:]
	case len(args) > 0 && args[0] != "" && args[0][0] != '-':
		name, args = args[0], args[1:]
	}
	if name == "help" {
		if len(args) == 0 {
			usage(stdout)
			return exitOK
		}
		// "connector help tail" is "connector tail --help".
		name, args = args[0], []string{"--help"}
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args, stdout, stderr)
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, errHelp):
			return exitOK
		case errors.Is(err, errUsage):
			fmt.Fprintln(stderr, "connector:", usageMessage(err))
			return exitUsage
		case errors.Is(err, pipeline.ErrFenced):
			fmt.Fprintln(stderr, "connector:", err)
			fmt.Fprintln(stderr, "connector: another instance with the same CONNECTOR_NAME and tenant now writes this tenant's records; this one stopped without retrying. Run one instance per name and tenant.")
			return exitFenced
		default:
			fmt.Fprintln(stderr, "connector:", err)
			return exitFailure
		}
	}
	fmt.Fprintf(stderr, "connector: unknown command %q\n\n", name)
	usage(stderr)
	return exitUsage
}

var errHelp = errors.New("help shown")

// listFlag is a flag that may be given more than once, each value appended
// to values. With comma, a value is also a comma-separated list whose empty
// items are dropped (--incident 1,2); without, a value is taken whole
// (a key may hold commas) and an empty one is refused.
type listFlag struct {
	values *[]string
	comma  bool
}

func (l *listFlag) String() string {
	if l.values == nil {
		return ""
	}
	return strings.Join(*l.values, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.comma {
		if v == "" {
			return errors.New("must not be empty")
		}
		*l.values = append(*l.values, v)
		return nil
	}
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l.values = append(*l.values, item)
		}
	}
	return nil
}

// kafkaOf is the Kafka connection options of cfg for a command that reads or
// writes what a run wrote: with KAFKA_BROKERS unset, the embedded broker of
// DATA_DIR (embedded.BrokerFor: live and write as it takes them), which
// closeBroker gives up; closeBroker is never nil on success.
func kafkaOf(cfg *config.Config, live string, write bool, stderr io.Writer) (connOpts []kgo.Opt, closeBroker func(), err error) {
	closeBroker = func() {}
	if len(cfg.KafkaBrokers) == 0 {
		addr, closeIt, err := embedded.BrokerFor(cfg.DataDir, live, write, stderr)
		if err != nil {
			return nil, nil, err
		}
		closeBroker = closeIt
		cfg.KafkaBrokers = []string{addr}
	}
	connOpts, err = app.KafkaOptions(cfg)
	if err != nil {
		closeBroker()
		return nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return connOpts, closeBroker, nil
}
