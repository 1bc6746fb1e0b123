package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/plugin/kslog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

func runHelp(w io.Writer) {
	usage(w)
	fmt.Fprint(w, "\nConfiguration of \"connector run\" (environment variables, with defaults):\n")
	for _, v := range config.Vars() {
		d := v.Default
		if d == "" {
			d = "-"
		}
		fmt.Fprintf(w, "  %-32s %s\n", v.Name, d)
	}
}

func loadConfig(ctx context.Context) (*config.Config, error) {
	cfg, err := config.Load(ctx, envconfig.OsLookuper())
	if err != nil {
		var b strings.Builder
		b.WriteString("configuration is not valid:")
		for _, line := range strings.Split(err.Error(), "\n") {
			b.WriteString("\n  " + line)
		}
		return nil, fmt.Errorf("%w: %s", errUsage, b.String())
	}
	return cfg, nil
}

// kafkaLogger is the franz-go client's logger: franz-go is chatty at info,
// so its lines are kept at warn unless LOG_LEVEL is debug.
func kafkaLogger(cfg *config.Config, log *slog.Logger, w io.Writer) *slog.Logger {
	if strings.EqualFold(cfg.LogLevel, "debug") {
		return log.With("stage", "kafka")
	}
	l, err := telemetry.NewLogger(w, cfg.LogFormat, "warn")
	if err != nil {
		return log.With("stage", "kafka")
	}
	return l.With("stage", "kafka")
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

// runDeps are the parts of a run that tests replace.
type runDeps struct {
	getenv       func(string) (string, bool) // the environment, for OTEL_* (os.LookupEnv)
	spanExporter sdktrace.SpanExporter       // non-nil: export every span to it synchronously, tracing on
	pingEvery    time.Duration               // how long /readyz reuses a Kafka ping; 0: 5s
	listening    func(addr string)           // told the HTTP server's address once it listens
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { runHelp(stdout) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return err
	}
	return run(ctx, cfg, stdout, stderr, runDeps{getenv: os.LookupEnv})
}

// run runs the connector configured by cfg until ctx is done.
func run(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer, deps runDeps) error {
	log := newLogger(cfg, stderr)

	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()

	if cfg.XDRBaseURL == "" {
		demo, err := startDemoTenant(ctx, cfg, log)
		if err != nil {
			return err
		}
		cleanup = append(cleanup, demo.stop)
		fmt.Fprintf(stdout, "XDR_BASE_URL is not set: running against a SIMULATED tenant at %s\n"+
			"  %d incidents that keep changing; its extra-data budget is %d calls per %s (the real API allows 10 per 60s)\n",
			demo.baseURL, demo.incidents, cfg.EnrichRateLimit, cfg.EnrichRateWindow)
	}
	if len(cfg.KafkaBrokers) == 0 {
		addr, stop, err := startEmbeddedKafka(cfg)
		if err != nil {
			return err
		}
		cleanup = append(cleanup, stop)
		cfg.KafkaBrokers = []string{addr}
		if cfg.XDRBaseURL != "" && !strings.HasPrefix(cfg.XDRBaseURL, "http://127.0.0.1") {
			log.Warn("KAFKA_BROKERS is not set: a REAL tenant is feeding an EMBEDDED broker on this machine; nothing reaches your Kafka cluster",
				"broker", addr, "data_dir", cfg.DataDir)
		}
		fmt.Fprintf(stdout, "KAFKA_BROKERS is not set: embedded Kafka broker listening on %s (data in %s)\n", addr, cfg.DataDir)
		printHowToRead(stdout, cfg, true)
	}

	obs, err := newObservability(ctx, cfg, deps, log)
	if err != nil {
		return err
	}
	defer obs.shutdown(ctx, log)
	api, err := newAPIClient(cfg, obs.apiOptions()...)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	connOpts, err := kafkaConnOpts(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	hookOpts, err := obs.kafkaOpts(cfg)
	if err != nil {
		return err
	}
	if cfg.Delivery == pipeline.ExactlyOnce {
		hookOpts = append(hookOpts, kgo.TransactionalID(pipeline.TransactionalID(cfg.ConnectorName, tenantName(cfg))))
	}
	kcl, err := kgo.NewClient(append(append(append(connOpts, sink.ProducerOpts()...), hookOpts...),
		kgo.WithLogger(kslog.New(kafkaLogger(cfg, log, stderr))))...)
	if err != nil {
		return fmt.Errorf("creating Kafka client: %w", err)
	}
	defer kcl.Close()

	var p *pipeline.Pipeline // set before anything reads it
	health, err := newHealth(cfg, func() *pipeline.Pipeline { return p }, kcl, deps.pingEvery)
	if err != nil {
		return err
	}
	polls := &pollWatch{health: health}
	p, err = pipeline.New(pipelineConfig(cfg, connOpts), api, kcl, pipeline.WithLogger(log), pipeline.WithTracerProvider(obs.tracerProvider), pipeline.WithPollObserver(polls.observe))
	if err != nil {
		return err
	}
	reg, err := obs.registerPipelineMetrics(p, polls)
	if err != nil {
		return err
	}
	defer func() { _ = reg.Unregister() }()

	stopServer := func() {}
	if cfg.HTTPAddr != "" {
		srv, err := telemetry.NewServer(cfg.HTTPAddr, obs.metricsHandler, health, log.With("stage", "http"))
		if err != nil {
			return fmt.Errorf("starting the HTTP server (HTTP_ADDR): %w", err)
		}
		log.Info("serving /metrics, /healthz and /readyz", "addr", srv.Addr().String())
		if deps.listening != nil {
			deps.listening(srv.Addr().String())
		}
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.Serve(sctx); err != nil {
				log.Error("the HTTP server stopped; /metrics, /healthz and /readyz are gone", "err", err)
			}
		}()
		stopServer = func() { cancel(); <-done }
	}
	stopProgress := startProgress(ctx, p, stdout, log, withRateBudget(cfg.EnrichRateLimit, cfg.EnrichRateWindow))
	err = p.Run(ctx)
	stopProgress()
	// The server outlives the drain, so probes and scrapes see it through.
	stopServer()
	printSummary(stdout, p, cfg)
	return err
}

func pipelineConfig(cfg *config.Config, connOpts []kgo.Opt) pipeline.Config {
	startFrom, _ := config.ParseStartFrom(cfg.StartFrom, time.Now())
	var filters []xdr.Filter
	if len(cfg.FilterStatuses) > 0 {
		filters = append(filters, xdr.Filter{Field: xdr.FieldStatus, Operator: xdr.OpIn, Value: cfg.FilterStatuses})
	}
	if cfg.FilterStarred != "" {
		filters = append(filters, xdr.Filter{Field: xdr.FieldStarred, Operator: xdr.OpEq, Value: cfg.FilterStarred == "true"})
	}
	if len(cfg.FilterAlertSources) > 0 {
		filters = append(filters, xdr.Filter{Field: xdr.FieldAlertSources, Operator: xdr.OpIn, Value: cfg.FilterAlertSources})
	}
	return pipeline.Config{
		Connector: cfg.ConnectorName,
		Tenant:    tenantName(cfg),
		Topics: sink.Topics{Incidents: cfg.TopicIncidents, Alerts: cfg.TopicAlerts,
			Artifacts: cfg.TopicArtifacts, DLQ: cfg.TopicDLQ},
		Offsets:         cfg.TopicOffsets,
		Delivery:        cfg.Delivery,
		CreateTopics:    true,
		Partitions:      int32(cfg.KafkaPartitions),
		Replication:     int16(cfg.KafkaReplication),
		StartFrom:       startFrom,
		Source:          source.Config{PollInterval: cfg.PollInterval, Lookback: cfg.Lookback, Filters: filters},
		RateLimit:       cfg.EnrichRateLimit,
		RateWindow:      cfg.EnrichRateWindow,
		Enrich:          enrich.Config{Workers: cfg.EnrichWorkers, MaxAttempts: cfg.EnrichMaxAttempts, CallTimeout: cfg.XDRTimeout},
		AlertsLimit:     cfg.AlertsLimit,
		CommitInterval:  cfg.CommitInterval,
		ShutdownTimeout: cfg.ShutdownTimeout,
		ClientOpts:      connOpts,
	}
}

// tenantName labels the offsets key: XDR_TENANT, else the base URL's host.
func tenantName(cfg *config.Config) string {
	if cfg.Tenant != "" {
		return cfg.Tenant
	}
	if u, err := url.Parse(cfg.XDRBaseURL); err == nil && u.Host != "" {
		return u.Host
	}
	return "default"
}

// newAPIClient returns the XDR client of cfg, with opts (instrumentation).
func newAPIClient(cfg *config.Config, opts ...xdr.Option) (*xdr.Client, error) {
	return xdr.New(xdr.Config{
		BaseURL:   cfg.XDRBaseURL,
		KeyID:     cfg.XDRAPIKeyID,
		Key:       cfg.XDRAPIKey,
		AuthMode:  xdr.AuthMode(cfg.XDRAuthMode),
		Timeout:   cfg.XDRTimeout,
		UserAgent: "xdr-kafka-connector/" + version,
	}, opts...)
}

// kafkaConnOpts are the connection settings shared by every Kafka client.
func kafkaConnOpts(cfg *config.Config) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.KafkaBrokers...), kgo.ClientID("xdr-kafka-connector")}
	if cfg.KafkaTLSEnabled || cfg.KafkaTLSCAFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.KafkaTLSSkipVerify} //nolint:gosec // opt-in by the operator
		if cfg.KafkaTLSCAFile != "" {
			pem, err := os.ReadFile(cfg.KafkaTLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, errors.New("KAFKA_TLS_CA_FILE: no PEM certificate found")
			}
			tc.RootCAs = pool
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	user, pass := cfg.KafkaSASLUsername, cfg.KafkaSASLPassword
	switch strings.ToUpper(cfg.KafkaSASLMechanism) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass.Reveal()}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass.Reveal()}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass.Reveal()}.AsSha512Mechanism()))
	}
	return opts, nil
}
