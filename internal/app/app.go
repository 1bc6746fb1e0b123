// Package app builds and runs the connector of one process from its
// configuration: the parts every tenant shares (Kafka connection options,
// telemetry, logger, the HTTP server of /metrics, /healthz and /readyz) and
// the pipeline of a tenant (its XDR client, producer client and
// pipeline.Pipeline). cmd/connector reads flags and the environment into a
// config.Config, calls New and Run, and maps the errors to exit statuses;
// a *ConfigError means the configuration is wrong.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
)

// ConfigError is an error in the configuration that New found only while
// building (a CA file without a certificate, an unknown OTEL exporter).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Deps are what a process takes from its surroundings; tests replace them.
type Deps struct {
	Version      string                      // the connector's version, for the User-Agent and service.version
	Getenv       func(string) (string, bool) // the environment, for OTEL_* (os.LookupEnv); nil: empty
	Stderr       io.Writer                   // where the logs go; nil: io.Discard
	SpanExporter sdktrace.SpanExporter       // non-nil: export every span to it synchronously, tracing on
	PingEvery    time.Duration               // how long /readyz reuses a Kafka ping; 0: 5s
	Listening    func(addr string)           // told the HTTP server's address once it listens
}

// Process is one running connector: the shared parts and the pipeline of
// its tenant.
type Process struct {
	cfg     *config.Config
	log     *slog.Logger
	deps    Deps
	obs     *observability
	tenant  *tenant
	health  *telemetry.Health
	closers []func()
}

// New builds the process that cfg (validated) describes. Nothing runs until
// Run; Close releases what New opened, whether or not Run ran.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, deps Deps) (*Process, error) {
	if deps.Getenv == nil {
		deps.Getenv = func(string) (string, bool) { return "", false }
	}
	if deps.Stderr == nil {
		deps.Stderr = io.Discard
	}
	p := &Process{cfg: cfg, log: log, deps: deps}
	ok := false
	defer func() {
		if !ok {
			p.Close()
		}
	}()
	obs, err := newObservability(ctx, cfg, deps, log)
	if err != nil {
		return nil, err
	}
	p.obs = obs
	p.closers = append(p.closers, func() { obs.shutdown(ctx, log) })
	connOpts, err := KafkaOptions(cfg)
	if err != nil {
		return nil, &ConfigError{err}
	}
	t, err := newTenant(shared{cfg: cfg, log: log, connOpts: connOpts, obs: obs, version: deps.Version, stderr: deps.Stderr},
		TenantOf(cfg))
	if err != nil {
		return nil, err
	}
	p.tenant = t
	p.closers = append(p.closers, t.close)
	p.health, err = newHealth(cfg, t.pipeline, t.kcl, deps.PingEvery)
	if err != nil {
		return nil, err
	}
	t.polls.health = p.health
	reg, err := obs.registerPipelineMetrics(t.pipeline, t.polls)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, func() { _ = reg.Unregister() })
	ok = true
	return p, nil
}

// Pipeline returns the tenant's pipeline, for progress displays.
func (p *Process) Pipeline() *pipeline.Pipeline { return p.tenant.pipeline }

// Run serves HTTP_ADDR (when set) and runs the pipeline until ctx is done
// and the pipeline has drained, or until it fails. The HTTP server outlives
// the drain, so probes and scrapes see it through.
func (p *Process) Run(ctx context.Context) error {
	stopServer := func() {}
	if p.cfg.HTTPAddr != "" {
		srv, err := telemetry.NewServer(p.cfg.HTTPAddr, p.obs.metricsHandler, p.health, p.log.With("stage", "http"))
		if err != nil {
			return fmt.Errorf("starting the HTTP server (HTTP_ADDR): %w", err)
		}
		p.log.Info("serving /metrics, /healthz and /readyz", "addr", srv.Addr().String())
		if p.deps.Listening != nil {
			p.deps.Listening(srv.Addr().String())
		}
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.Serve(sctx); err != nil {
				p.log.Error("the HTTP server stopped; /metrics, /healthz and /readyz are gone", "err", err)
			}
		}()
		stopServer = func() { cancel(); <-done }
	}
	err := p.tenant.pipeline.Run(ctx)
	stopServer()
	return err
}

// Close releases what New opened, in reverse order. Call it once, after Run
// returned (or instead of Run).
func (p *Process) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}
