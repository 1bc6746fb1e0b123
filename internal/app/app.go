// Package app builds and runs the connector of one process from its
// configuration: the parts every tenant shares (Kafka connection options,
// telemetry, logger, the HTTP server of /metrics, /healthz and /readyz) and
// the pipeline of a tenant (its XDR client, producer client and
// pipeline.Pipeline). cmd/connector reads flags and the environment into a
// config.Config, calls New and Run, and maps the errors to exit statuses;
// a *ConfigError means the configuration is wrong.
//
// With a tenants file or group membership, a fleet (fleet.go) runs the
// tenants its ownership says are this process's — every one (allTenants),
// or those of the slots its group member owns (group.go, the member's
// slots.Handler) — each under a supervisor that restarts a failed run with
// backoff on its own clock. Which Kafka clients a tenant needs is its
// pipeline's delivery mode's business: the process gives it a producer and a
// pipeline.ProducerFactory.
package app

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// ConfigError is an error in the configuration that New found only while
// building (a CA file without a certificate, an unknown OTEL exporter).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Deps are what a process takes from its surroundings: cmd/connector sets
// them from the process's, its tests replace them.
type Deps struct {
	Version      string                      // the connector's version, for the User-Agent and service.version
	Getenv       func(string) (string, bool) // the environment, for OTEL_* (os.LookupEnv); nil: empty
	Stderr       io.Writer                   // where the logs go; nil: io.Discard
	SpanExporter sdktrace.SpanExporter       // non-nil: export every span to it synchronously, tracing on
	PingEvery    time.Duration               // how long /readyz reuses a Kafka ping; 0: 5s
	Listening    func(addr string)           // told the HTTP server's address once it listens
	Reload       <-chan struct{}             // with a tenants file: a signal re-reads the file (SIGHUP)
}

// tuning are the fleet's timings, its supervisor's clock and extra options
// for each tenant's pipeline: New takes the defaults, this package's tests
// their own (export_test.go).
type tuning struct {
	watchEvery time.Duration    // how often the tenants file's content is checked for a change; 0: 2s
	settle     time.Duration    // how long a change must read the same before it is applied; 0: DefaultTenantsSettle
	retryMin   time.Duration    // first wait before restarting a failed tenant; 0: DefaultTenantRetryMin
	retryMax   time.Duration    // longest wait; 0: DefaultTenantRetryMax
	now        func() time.Time // the supervisor's clock; nil: time.Now
	// tenantOpts, when set, adds options to tenant id's pipeline.
	tenantOpts func(id string) []pipeline.Option
}

// StopMargin is how long a stop may take beyond SHUTDOWN_TIMEOUT (the
// tenants' drain and final commits): closing their clients, leaving the
// group, stopping the HTTP server and closing what New opened. From the
// moment Run's context ends, Run and then Close return within
// SHUTDOWN_TIMEOUT plus StopMargin, whatever the tenants are doing — failed
// and backing off, fenced, draining, blocked in a produce to a broker that
// is gone (franz-go may hold an idempotent produce past its context), or a
// group coordinator that does not answer the leave: a part that has not
// ended by its share of the deadline is named in the log and left for the
// process's exit to end. The next owner of a tenant left so resumes from its
// last commit, as after a crash.
const StopMargin = 5 * time.Second

// Shares of StopMargin: what a step leaves of it for the steps after it.
const (
	tenantsReserve = 3 * time.Second        // the tenants' runs end by SHUTDOWN_TIMEOUT + 2s
	leaveReserve   = time.Second            // leaving the group ends by SHUTDOWN_TIMEOUT + 4s
	serverReserve  = 500 * time.Millisecond // the HTTP server, then Close with the rest
)

// Process is one running connector: the shared parts and the pipeline of
// its tenant, or, with a tenants file, the fleet of its tenants.
type Process struct {
	cfg     *config.Config
	log     *slog.Logger
	deps    Deps
	tuning  tuning
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
	// stopBy is when the stop must have ended (see StopMargin), set once
	// when it begins.
	stopOnce sync.Once
	stopBy   time.Time
}

// stopping starts the stop's clock, once: SHUTDOWN_TIMEOUT plus StopMargin
// from the first call.
func (p *Process) stopping() {
	p.stopOnce.Do(func() { p.stopBy = time.Now().Add(p.cfg.ShutdownTimeout + StopMargin) })
}

// awaitStop waits for done until reserve before the stop's deadline, and
// reports whether done came first; when not, it logs what did not end, with
// the attributes of late (nil: none) as they are then.
func (p *Process) awaitStop(done <-chan struct{}, reserve time.Duration, what string, late func() []any) bool {
	p.stopping()
	t := time.NewTimer(time.Until(p.stopBy.Add(-reserve)))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		attrs := []any{"shutdown_timeout", p.cfg.ShutdownTimeout.String(), "stop_margin", StopMargin.String()}
		if late != nil {
			attrs = append(attrs, late()...)
		}
		p.log.Error(what+" did not end within SHUTDOWN_TIMEOUT and the stop margin; the process stops without waiting for it", attrs...)
		return false
	}
}

// goDone runs f in a goroutine and returns a channel closed when it returns.
func goDone(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

// New builds the process that cfg (validated) describes. Nothing runs until
// Run; Close releases what New opened, whether or not Run ran. With
// TENANTS_FILE set, the file is read and validated here: a bad one is a
// *ConfigError naming each problem.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, deps Deps) (*Process, error) {
	return newProcess(ctx, cfg, log, deps, tuning{})
}

func newProcess(ctx context.Context, cfg *config.Config, log *slog.Logger, deps Deps, tn tuning) (*Process, error) {
	if deps.Getenv == nil {
		deps.Getenv = func(string) (string, bool) { return "", false }
	}
	if deps.Stderr == nil {
		deps.Stderr = io.Discard
	}
	p := &Process{cfg: cfg, log: log, deps: deps, tuning: tn}
	ok := false
	defer func() {
		if !ok {
			p.Close()
		}
	}()
	// The tenants of the run, as config resolves them for every command: the
	// tenants file's, or the environment's one tenant (which runs in a fleet
	// only with the group).
	var tenants []config.Tenant
	if cfg.TenantsFile != "" || cfg.GroupEnabled {
		plans, err := cfg.Plans()
		if err != nil {
			return nil, &ConfigError{err}
		}
		for _, pl := range plans {
			tenants = append(tenants, pl.Tenant)
		}
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
	sh := shared{cfg: cfg, log: log, connOpts: connOpts, obs: obs, version: deps.Version, stderr: deps.Stderr, tenantOpts: tn.tenantOpts,
		replies: xdr.NewReplyBudget(cmp.Or(cfg.XDRReplyBudget, xdr.DefaultReplyBudget))}
	if cfg.GroupEnabled {
		// With the environment's one tenant, active/standby: it runs in
		// whichever process owns its slot, its records exactly as without a
		// group.
		sh.replica = replicaName(cfg)
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
	reg, err := obs.registerPipelineMetrics(t.pipeline, t.polls, t.queue, t.id)
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
// shared by the tenants and readiness that follows Kafka
// alone, since a failing tenant — or a standby without tenants — must not
// make the process unready.
func (p *Process) newFleet(sh shared, tenants []config.Tenant, ok *bool) error {
	// Each tenant's sink holds at most sink.TenantInFlight records of each
	// class; the shared buffer holds all of them (for tenants added by a
	// reload too, up to twice the first file or 1,000), so no tenant's
	// Produce waits behind another tenant's backlog.
	kcl, err := newProducer(sh, p.log, kgo.MaxBufferedRecords(sink.TenantsBuffer(max(2*len(tenants), 1000))))
	if err != nil {
		return err
	}
	p.closers = append(p.closers, kcl.Close)
	p.fleetKC = kcl
	sh.kcl = kcl
	p.tenants = tenants
	retryMin, retryMax := p.tuning.retryMin, p.tuning.retryMax
	if retryMin <= 0 {
		retryMin = DefaultTenantRetryMin
	}
	if retryMax < retryMin {
		retryMax = max(retryMin, DefaultTenantRetryMax)
	}
	if p.tuning.now == nil {
		p.tuning.now = time.Now
	}
	p.fleet = &fleet{shared: sh, log: p.log, path: p.cfg.TenantsFile, multi: p.cfg.TenantsFile != "", retryMin: retryMin, retryMax: retryMax,
		now: p.tuning.now, own: allTenants{},
		slots: map[string]*slot{}, prev: map[string]chan struct{}{}, settle: settler{settle: cmp.Or(p.tuning.settle, DefaultTenantsSettle)}}
	p.fleet.shared.tenantIDs = p.fleet // write-back asks which tenants the file has
	freg, err := p.obs.registerFleetMetrics(p.fleet)
	if err != nil {
		return err
	}
	p.closers = append(p.closers, func() { _ = freg.Unregister() })
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

// Started reports whether Run has started the tenants: false while it is
// joining the group, and for good when the join failed (Kafka refused the
// start), so there is no run to sum up. In env-only mode it is the
// pipeline's Stats().Started. Safe for concurrent use.
func (p *Process) Started() bool {
	if p.fleet == nil {
		return p.tenant.pipeline.Stats().Started
	}
	select {
	case <-p.fleet.started:
		return true
	default:
		return false
	}
}

// Run serves HTTP_ADDR (when set) and runs the pipeline — or every tenant of
// the tenants file, reloading it on a signal of Deps.Reload and when its
// content changes — until ctx is done and everything has drained, or, in
// env-only mode, until the pipeline fails. The HTTP server outlives the
// drain, so probes and scrapes see it through.
func (p *Process) Run(ctx context.Context) error {
	// /healthz and /readyz are open to probes; /metrics and /tenants need
	// HTTP_TOKEN_FILE's token when it is set, and /tenants is served only
	// when HTTP_TENANTS_ENABLED is true.
	token := p.cfg.HTTPToken()
	var routes []telemetry.Route
	tenantsOn := p.fleet != nil && p.cfg.HTTPTenantsEnabled
	if p.fleet != nil {
		h := http.Handler(tenantsOff)
		if tenantsOn {
			h = requireToken(token, http.HandlerFunc(p.fleet.serveTenants))
		}
		routes = append(routes, telemetry.Route{Pattern: "GET /tenants", Handler: h})
	}
	stopServer := func() {}
	if p.cfg.HTTPAddr != "" {
		srv, err := telemetry.NewServer(p.cfg.HTTPAddr, requireToken(token, p.obs.metricsHandler), p.health, p.log.With("stage", "http"), routes...)
		if err != nil {
			return fmt.Errorf("starting the HTTP server (HTTP_ADDR): %w", err)
		}
		p.log.Info("serving /metrics, /healthz and /readyz", "addr", srv.Addr().String(), "tenants_endpoint", tenantsOn, "token", !token.IsZero())
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
		stopServer = func() { cancel(); p.awaitStop(done, serverReserve, "stopping the HTTP server", nil) }
	}
	defer stopServer()
	if p.fleet == nil {
		return secondProcess(p.cfg, p.tenant.id, p.runTenant(ctx))
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
		every := cmp.Or(p.tuning.watchEvery, 2*time.Second)
		f.watch(ctx, p.deps.Reload, every)
	} else {
		<-ctx.Done()
	}
	p.stopping()
	// A tenant that does not stop in time resumes from its last commit, as
	// after a crash.
	p.awaitStop(goDone(f.wait), tenantsReserve, "the stop of some tenants", func() []any { return []any{"tenants", f.unstopped()} })
	final := f.statuses()
	p.final.Store(&final)
	// Only now: the group moves the tenants once their final commits are
	// written.
	p.awaitStop(goDone(leave), leaveReserve, "leaving the group", nil)
	if parent.Err() == nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// runTenant runs the env-only tenant's pipeline until ctx ends and it has
// stopped, or until the stop's deadline (see StopMargin).
func (p *Process) runTenant(ctx context.Context) error {
	errc := make(chan error, 1)
	done := goDone(func() {
		wctx, stop := context.WithCancel(ctx)
		wb := runWriteback(wctx, p.tenant.writeback, p.log)
		err := p.tenant.pipeline.Run(ctx)
		stop()
		<-wb
		errc <- err
	})
	select {
	case <-done:
		return <-errc
	case <-ctx.Done():
	}
	p.stopping()
	if !p.awaitStop(done, tenantsReserve, "the pipeline's stop", nil) {
		return nil // it resumes from its last commit, as after a crash
	}
	return <-errc
}

// Close releases what New opened, in reverse order. Call it once, after Run
// returned (or instead of Run). It returns by the stop's deadline (see
// StopMargin), leaving a closer that has not returned by then to the
// process's exit.
func (p *Process) Close() {
	closers := p.closers
	p.closers = nil
	p.awaitStop(goDone(func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}), 0, "closing the Kafka clients and telemetry", nil)
}
