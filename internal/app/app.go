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
	"net/http"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
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

	// With a tenants file:
	Reload         <-chan struct{} // a signal re-reads the file (SIGHUP)
	WatchEvery     time.Duration   // how often the file's content is checked for a change; 0: 2s
	TenantRetryMin time.Duration   // first wait before restarting a failed tenant; 0: DefaultTenantRetryMin
	TenantRetryMax time.Duration   // longest wait; 0: DefaultTenantRetryMax

	// OnPoll, when set, is told of every poll of every tenant as it ends
	// (a test's record of which versions a poll could read).
	OnPoll func(tenant string, r source.PollResult, err error)
}

// Process is one running connector: the shared parts and the pipeline of
// its tenant, or, with a tenants file, the fleet of its tenants.
type Process struct {
	cfg     *config.Config
	log     *slog.Logger
	deps    Deps
	obs     *observability
	tenant  *tenant // env-only mode
	fleet   *fleet  // tenants-file mode, or group membership
	fleetKC *kgo.Client
	tenants []config.Tenant
	health  *telemetry.Health
	closers []func()
	// final holds every tenant's last status once its run has ended: with
	// group membership, leaving the group revokes the slots, which takes
	// them out of the fleet.
	final atomic.Pointer[[]TenantStatus]
}

// New builds the process that cfg (validated) describes. Nothing runs until
// Run; Close releases what New opened, whether or not Run ran. With
// TENANTS_FILE set, the file is read and validated here: a bad one is a
// *ConfigError naming each problem.
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
	var tenants []config.Tenant
	if cfg.TenantsFile != "" {
		ts, err := config.LoadTenants(cfg.TenantsFile, cfg)
		if err != nil {
			return nil, &ConfigError{err}
		}
		tenants = ts
	}
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
	sh := shared{cfg: cfg, log: log, connOpts: connOpts, obs: obs, version: deps.Version, stderr: deps.Stderr, onPoll: deps.OnPoll}
	if cfg.GroupEnabled {
		sh.replica = replicaName(cfg)
		if cfg.TenantsFile == "" {
			// Active/standby: the environment's one tenant runs in whichever
			// process owns its slot, its records exactly as without a group.
			t := config.EnvTenant(cfg)
			t.ID = TenantName(cfg)
			tenants = []config.Tenant{t}
		}
	}
	if cfg.TenantsFile != "" || cfg.GroupEnabled {
		return p, p.newFleet(sh, tenants, &ok)
	}
	t, err := newTenant(sh, TenantOf(cfg), false)
	if err != nil {
		return nil, err
	}
	p.tenant = t
	p.closers = append(p.closers, t.close)
	p.health, err = newHealth(cfg, func() bool { return t.pipeline.Stats().Started }, t.kcl, deps.PingEvery, true)
	if err != nil {
		return nil, err
	}
	t.polls.health = p.health
	reg, err := obs.registerPipelineMetrics(t.pipeline, t.polls, t.id)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, func() { _ = reg.Unregister() })
	if err := p.registerReadiness(); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// newFleet builds the tenants-file mode (or group membership): one producer
// shared by the tenants (at-least-once) and readiness that follows Kafka
// alone, since a failing tenant — or a standby without tenants — must not
// make the process unready.
func (p *Process) newFleet(sh shared, tenants []config.Tenant, ok *bool) error {
	// Each tenant's sink holds at most sink.TenantInFlight records of each
	// class; the shared buffer holds all of them (for tenants added by a
	// reload too, up to twice the first file or 1,000), so no tenant's
	// Produce waits behind another tenant's backlog.
	kcl, err := newProducer(sh, "", p.log, kgo.MaxBufferedRecords(sink.TenantsBuffer(max(2*len(tenants), 1000))))
	if err != nil {
		return err
	}
	p.closers = append(p.closers, kcl.Close)
	p.fleetKC = kcl
	if p.cfg.Delivery != pipeline.ExactlyOnce {
		sh.kcl = kcl
	}
	p.tenants = tenants
	retryMin, retryMax := p.deps.TenantRetryMin, p.deps.TenantRetryMax
	if retryMin <= 0 {
		retryMin = DefaultTenantRetryMin
	}
	if retryMax < retryMin {
		retryMax = max(retryMin, DefaultTenantRetryMax)
	}
	p.fleet = &fleet{shared: sh, log: p.log, path: p.cfg.TenantsFile, multi: p.cfg.TenantsFile != "", retryMin: retryMin, retryMax: retryMax,
		slots: map[string]*slot{}, prev: map[string]chan struct{}{}}
	if p.cfg.GroupEnabled {
		reg, err := p.obs.registerGroupMetrics(p.fleet)
		if err != nil {
			return err
		}
		p.closers = append(p.closers, func() { _ = reg.Unregister() })
	}
	started := make(chan struct{})
	p.fleet.started = started
	p.health, err = newHealth(p.cfg, func() bool {
		select {
		case <-started:
			return true
		default:
			return false
		}
	}, kcl, p.deps.PingEvery, false)
	if err != nil {
		return err
	}
	if err := p.registerReadiness(); err != nil {
		return err
	}
	*ok = true
	return nil
}

// registerReadiness exposes the answer of /readyz as xdr_connector_ready.
func (p *Process) registerReadiness() error {
	reg, err := p.obs.registerReadiness(p.health)
	if err != nil {
		return err
	}
	p.closers = append(p.closers, func() { _ = reg.Unregister() })
	return nil
}

// Pipeline returns the tenant's pipeline in env-only mode, for progress
// displays; nil with a tenants file.
func (p *Process) Pipeline() *pipeline.Pipeline {
	if p.tenant == nil {
		return nil
	}
	return p.tenant.pipeline
}

// Tenants returns every tenant's status with a tenants file; nil otherwise.
func (p *Process) Tenants() []TenantStatus {
	if p.fleet == nil {
		return nil
	}
	if final := p.final.Load(); final != nil {
		return *final
	}
	return p.fleet.statuses()
}

// Run serves HTTP_ADDR (when set) and runs the pipeline — or every tenant of
// the tenants file, reloading it on a signal of Deps.Reload and when its
// content changes — until ctx is done and everything has drained, or, in
// env-only mode, until the pipeline fails. The HTTP server outlives the
// drain, so probes and scrapes see it through.
func (p *Process) Run(ctx context.Context) error {
	var routes []telemetry.Route
	if p.fleet != nil {
		routes = append(routes, telemetry.Route{Pattern: "GET /tenants", Handler: http.HandlerFunc(p.fleet.serveTenants)})
	}
	stopServer := func() {}
	if p.cfg.HTTPAddr != "" {
		srv, err := telemetry.NewServer(p.cfg.HTTPAddr, p.obs.metricsHandler, p.health, p.log.With("stage", "http"), routes...)
		if err != nil {
			return fmt.Errorf("starting the HTTP server (HTTP_ADDR): %w", err)
		}
		p.log.Info("serving /metrics, /healthz and /readyz", "addr", srv.Addr().String(), "tenants_endpoint", p.fleet != nil)
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
	defer stopServer()
	if p.fleet == nil {
		return secondProcess(p.cfg, p.tenant.id, p.tenant.pipeline.Run(ctx))
	}
	f := p.fleet
	leave := func() {}
	parent := ctx
	if p.cfg.GroupEnabled {
		// A membership that ends by itself (another process took this
		// one's member id) stops the process, with the cause.
		gctx, fail := context.WithCancelCause(ctx)
		defer fail(nil)
		stop, err := f.joinGroup(ctx, p.fleetKC, fail)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("joining the connector's group: %w", err)
		}
		leave = stop
		ctx = gctx
	}
	f.start(ctx, p.tenants) // read and validated by New; a change since is picked up by watch
	close(f.started)
	if p.cfg.TenantsFile != "" {
		p.log.Info("running the tenants of the tenants file", "tenants", len(p.tenants), "path", p.cfg.TenantsFile, "group", p.cfg.GroupEnabled)
		every := p.deps.WatchEvery
		if every <= 0 {
			every = 2 * time.Second
		}
		f.watch(ctx, p.deps.Reload, every)
	} else {
		<-ctx.Done()
	}
	f.wait()
	final := f.statuses()
	p.final.Store(&final)
	leave() // only now: the group moves the tenants once their final commits are written
	if parent.Err() == nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// Close releases what New opened, in reverse order. Call it once, after Run
// returned (or instead of Run).
func (p *Process) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}
