package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sethvargo/go-envconfig"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/internal/check"
	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/internal/progress"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
)

func runHelp(w io.Writer) {
	usage(w)
	fmt.Fprint(w, "\nConfiguration of \"connector run\" (environment variables; NAME=default, then what it means):\n")
	for _, v := range config.Vars() {
		name := v.Name
		if v.Default != "" {
			name += "=" + v.Default
		}
		fmt.Fprintf(w, "  %s\n", name)
		for _, line := range wrap(v.Help(), 74) {
			fmt.Fprintf(w, "      %s\n", line)
		}
	}
}

// wrap breaks s into lines of at most width bytes at spaces (a longer word
// gets a line of its own).
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) > width:
			lines = append(lines, line)
			line = word
		default:
			line += " " + word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

func loadConfig(ctx context.Context) (*config.Config, error) {
	cfg, err := config.Load(ctx, envconfig.OsLookuper())
	if err != nil {
		return nil, fmt.Errorf("%w: the configuration is not valid:%s", errUsage, config.IndentLines(err.Error()))
	}
	return cfg, nil
}

// newLogger logs to w in LOG_FORMAT at LOG_LEVEL, with the trace and span
// ids of the span a record is logged in. The configuration was validated, so
// a bad level or format only falls back to text at info.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	log, err := telemetry.NewLogger(w, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		log, _ = telemetry.NewLogger(w, "text", "info")
	}
	return log
}

// runDeps are the parts of a run that tests replace; run fills in Version
// and Stderr.
type runDeps = app.Deps

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	if err := parseFlags(fs, args, func() { runHelp(stdout) }); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: run takes no arguments, got %q: it is configured by environment variables (\"connector run --help\" lists them)", errUsage, fs.Arg(0))
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return err
	}
	return run(ctx, cfg, stdout, stderr, runDeps{Getenv: os.LookupEnv})
}

// run runs the connector configured by cfg until ctx is done.
func run(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer, deps runDeps) error {
	// The progress display redraws its line on stdout; when the logs reach
	// the same terminal, each log line erases the display first and redraws
	// it after, so the two never share a line.
	scr := progress.NewScreen(stdout)
	if progress.IsTerminal(stdout) && progress.IsTerminal(stderr) {
		stderr = scr.LogWriter(stderr)
	}
	log := newLogger(cfg, stderr)

	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()

	// With a tenants file, each tenant logs its own as it starts (at a
	// reload too); the process's (Kafka's) are logged here.
	for _, w := range cfg.Warnings() {
		log.Warn(w.Summary(), "setting", w.Setting, "warning", w.Message)
	}
	for _, w := range cfg.FileWarnings() {
		log.Warn("a secret file can be read by other users", "setting", w.Setting, "warning", w.Message)
	}
	for _, u := range config.UnknownVariables(os.Environ()) {
		if u.Closest != "" {
			log.Warn("an environment variable the connector does not know is ignored; did you mean "+u.Closest+"?", "variable", u.Name)
		} else {
			log.Warn("an environment variable the connector does not know is ignored (\"connector run --help\" lists the known ones)", "variable", u.Name)
		}
	}
	var reload chan struct{}
	if cfg.TenantsFile != "" {
		// Refuse a bad file before anything starts; the process reads it
		// again (and then on SIGHUP and on every change).
		if _, err := config.LoadTenants(cfg.TenantsFile, cfg); err != nil {
			return fmt.Errorf("%w: the tenants file is not valid:%s", errUsage, config.IndentLines(err.Error()))
		}
		reload = make(chan struct{}, 1)
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		cleanup = append(cleanup, func() { signal.Stop(hup) })
		go func() {
			for range hup {
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}()
		deps.Reload = reload
	}
	if cfg.XDRBaseURL != "" {
		// A real tenant: check the key before anything starts.
		if err := check.APIKey(ctx, cfg, version, log.Warn); err != nil {
			return err
		}
	}
	if demo := cfg.XDRBaseURL == "" && cfg.TenantsFile == ""; demo || len(cfg.KafkaBrokers) == 0 {
		if err := embedded.CheckDataDirWritable(cfg.DataDir); err != nil {
			return err
		}
	}
	if cfg.XDRBaseURL == "" && cfg.TenantsFile == "" {
		demo, err := embedded.StartDemoTenant(ctx, cfg, log)
		if err != nil {
			return err
		}
		cleanup = append(cleanup, demo.Stop)
		fmt.Fprint(stdout, demo.Banner(cfg))
	}
	if len(cfg.KafkaBrokers) == 0 {
		addr, stop, err := embedded.StartKafka(cfg)
		if err != nil {
			return err
		}
		cleanup = append(cleanup, stop)
		cfg.KafkaBrokers = []string{addr}
		if real := embedded.RealTenants(cfg); len(real) > 0 {
			log.Warn("KAFKA_BROKERS is not set: REAL tenants feed an EMBEDDED test broker that has NO AUTHENTICATION; any user or process on this machine can read their incidents from it, and nothing reaches your Kafka cluster",
				"tenants", real, "broker", addr, "data_dir", cfg.DataDir)
			fmt.Fprintf(stdout, "WARNING: real tenant data (%s) goes to an embedded TEST broker without authentication on %s: anyone on this machine can read it. Set KAFKA_BROKERS for production.\n",
				strings.Join(real, ", "), addr)
		}
		if pipeline.Transactional(cfg.Delivery) {
			log.Warn("DELIVERY=exactly-once on the EMBEDDED broker: a crash of this process can leave a transaction that was open at the crash visible after a later restart; exactly-once across crashes needs a Kafka cluster (KAFKA_BROKERS)",
				"data_dir", cfg.DataDir)
		}
		fmt.Fprintf(stdout, "KAFKA_BROKERS is not set: embedded Kafka broker listening on %s (data in %s)\n", addr, cfg.DataDir)
		progress.PrintHowToRead(stdout, cfg, true)
	}

	if cfg.GroupEnabled && cfg.GroupInstanceID == "" {
		id, lock, err := embedded.DefaultMemberID(cfg.DataDir)
		if err != nil {
			log.Warn("this process joins the connector's group without a stable member id: restarted, it gets tenants back only after the session timeout; set KAFKA_GROUP_INSTANCE_ID (unique per process), or give DATA_DIR a writable directory",
				"err", err, "session_timeout", cfg.GroupSessionTimeout)
		} else {
			cleanup = append(cleanup, lock.Release)
			cfg.GroupInstanceID = id
			log.Info("this process's member id in the connector's group (KAFKA_GROUP_INSTANCE_ID is unset): its host name, DATA_DIR and a number no other live process on this host holds",
				"member_id", id, "data_dir", cfg.DataDir)
		}
	}
	deps.Version, deps.Stderr = version, stderr
	proc, err := app.New(ctx, cfg, log, deps)
	if err != nil {
		if ce, ok := errors.AsType[*app.ConfigError](err); ok {
			return fmt.Errorf("%w: %w", errUsage, ce.Err)
		}
		return err
	}
	defer proc.Close()
	if p := proc.Pipeline(); p != nil {
		stopProgress := progress.Start(ctx, p, stdout, log, progress.WithRateBudget(cfg.EnrichRateLimit, cfg.EnrichRateWindow), progress.OnScreen(scr))
		err = proc.Run(ctx)
		stopProgress()
		if err == nil || p.Stats().Started {
			// A pipeline that never started (Kafka refused it) did nothing
			// to sum up: the error says what happened.
			progress.PrintSummary(stdout, p, cfg)
		}
		return err
	}
	stopProgress := progress.StartFleet(ctx, proc.Tenants, stdout, log, scr)
	err = proc.Run(ctx)
	stopProgress()
	if err == nil || proc.Started() {
		// Tenants never started (the group's join failed): the error
		// says what happened.
		progress.PrintFleetSummary(stdout, proc.Tenants())
	}
	return err
}
