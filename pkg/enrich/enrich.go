// Package enrich is the enrichment stage: it queues the incidents whose
// extra data is owed, fetches it — get_incident_extra_data per incident
// under one rate limiter (Limiter), or get_multiple_incidents_extra_data for
// up to 100 at a time under a limiter of its own (WithBulk, bulk.go) —
// flattens each incident's reply into records (Flatten) and publishes them,
// dead-lettering enrichments that fail for good.
package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// tenantWide reports errors that every call of the tenant would meet alike:
// the API key is rejected (401) or the licence is missing (402).
func tenantWide(err error) bool {
	ae, ok := errors.AsType[*xdr.APIError](err)
	return ok && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusPaymentRequired)
}

// ErrMismatchedReply means get_incident_extra_data answered with another
// incident than the one asked for. The call is retried like a server error,
// then dead-lettered; the reply is never published.
var ErrMismatchedReply = errors.New("extra data for another incident")

// ErrIncidentNotFound marks the DLQ error of an enrichment whose incident the
// API says does not exist (xdr.IncidentNotFound): merged into another one, or
// deleted. It is dead-lettered after that one call, never retried, and
// counted (Stats.NotFound).
var ErrIncidentNotFound = errors.New("the incident does not exist (merged or deleted); not retried")

// Fetcher calls get_incident_extra_data. *xdr.Client implements it.
type Fetcher interface {
	GetIncidentExtraData(ctx context.Context, req xdr.ExtraDataRequest) (*xdr.ExtraData, error)
}

// RateLimiter is the budget of get_incident_extra_data calls that every
// worker of one tenant shares. *Limiter, a sliding log, is its one
// implementation; the policy around it (what a 429 pauses, what a restart
// remembers) lives beside it, in limiter.go and limiter_history.go.
type RateLimiter interface {
	// Acquire blocks until a call may be made, or ctx is done (ctx.Err(),
	// nothing taken). release must be called once the call's outcome is
	// known (response, error or timeout).
	Acquire(ctx context.Context) (release func(), err error)
	// Throttle is told that the API answered a call with err, a 429: it
	// pauses every call for as long as the answer asks, within the
	// limiter's cap, and returns the pause and whether the cap cut it short.
	Throttle(err error) (wait time.Duration, capped bool)
	// History returns the stamps of the calls that still count against the
	// window, for the next process to start from (see Resume).
	History() []time.Time
	// Stats returns a snapshot of the limiter's figures.
	Stats() LimiterStats
	// Limit returns how many calls the limiter admits per window.
	Limit() int
}

// Publisher hands records to Kafka. Publish returns once recs are enqueued;
// done is then called exactly once, from another goroutine, with nil when
// Kafka acknowledged every record or with the first failure. An error from
// Publish itself means the records could not be enqueued.
type Publisher interface {
	Publish(ctx context.Context, recs []record.Record, done func(error)) error
}

// Config holds the stage's settings. Zero values mean the defaults noted.
type Config struct {
	Connector   string        // required: the envelope's connector field
	Tenant      string        // the envelope's tenant field; may be empty
	Workers     int           // concurrent enrichments; default 2
	MaxAttempts int           // calls per enrichment before the DLQ, 429 replies and the first replies over the process's reply budget not counted; default 6
	AlertsLimit int           // alerts_limit of every request; default xdr.DefaultAlertsLimit (1000)
	CallTimeout time.Duration // per call, on top of the client's own timeout; 0 = none
	// MaxRecordBytes is KAFKA_MAX_RECORD_BYTES: a record larger than this is
	// dead-lettered (record.Oversized) instead of produced. 0: no limit.
	MaxRecordBytes int
	// Bulk is the bulk enrichment mode, BulkAuto (default), BulkOn or
	// BulkOff; it applies once WithBulk gives a bulk fetcher.
	Bulk string
	// BulkSize is how many incidents one bulk call asks for, at most
	// xdr.MaxBulkIncidents (default).
	BulkSize int
}

// Defaults.
const (
	DefaultWorkers     = 2
	DefaultMaxAttempts = 6
)

// budgetRetryWait is how long an enrichment whose reply did not fit in the
// process's reply budget waits when its backoff has stopped.
const budgetRetryWait = time.Minute

// maxBudgetWaits is how many replies of an enrichment may fail to fit in
// the process's reply budget without counting as attempts: with the
// default backoff, about ten minutes of contention. Beyond them each counts,
// so a budget too small for the replies the tenants fetch at once ends in
// the DLQ, saying so, instead of in calls retried for ever.
const maxBudgetWaits = 10

// Option configures an Enricher.
type Option func(*Enricher)

// WithLogger sets the logger (default: discard). The stage adds stage=enrich.
func WithLogger(l *slog.Logger) Option { return func(e *Enricher) { e.log = l } }

// WithClock sets the clock that stamps records (enrichment fetched_at, DLQ
// failed_at) and Enqueue's default FirstQueued (default time.Now). Waits —
// backoff and the limiter's pauses — use the time package's clock.
func WithClock(now func() time.Time) Option { return func(e *Enricher) { e.now = now } }

// WithOnDone sets the function told when an enrichment is settled: its
// records (dlq false) or its DLQ record (dlq true) were acknowledged by Kafka.
// It is called once per popped item that settles, from the Publisher's
// goroutine, and must not block. Items abandoned at shutdown are not reported.
func WithOnDone(f func(it offsets.Pending, dlq bool)) Option {
	return func(e *Enricher) { e.onDone = f }
}

// WithCovering sets the function told, just before an enrichment's records
// are handed to the Publisher, which incident version they cover: the reply
// shows the incident as of its own modification_time, which may be newer
// than the version that queued it. The offsets tracker uses it so that a poll
// emitting that version meanwhile does not queue a second round. It is
// called from a worker goroutine and must not block.
func WithCovering(f func(incidentID string, version int64)) Option {
	return func(e *Enricher) { e.covering = f }
}

// WithRecords sets the function that turns a reply's native records, as
// Flatten returned them for version, into the records to publish (the
// output profiles add theirs beside them, package profile). It is called
// from a worker goroutine, once per reply. Default: the native records.
func WithRecords(f func(m Meta, version int64, ed *xdr.ExtraData, native []record.Record) []record.Record) Option {
	return func(e *Enricher) { e.records = f }
}

// WithBackoff sets the factory of the backoff policy between retryable
// failures of one enrichment; it is called once per enrichment that needs a
// retry. The enrichment waits out each backoff in the queue, not in a
// worker: the worker goes on with the next incident. backoff.Stop sends the
// enrichment to the DLQ. The default is exponential: 2s initial, doubling,
// 50% jitter, at most 2m, no time limit (MaxAttempts bounds it).
func WithBackoff(f func() backoff.BackOff) Option { return func(e *Enricher) { e.newBackoff = f } }

// WithTracerProvider makes the Enricher trace each enrichment: an "enrich
// incident" span whose parent is the remote span context of
// Pending.TraceParent (the change that asked for it), so the enrichment joins
// that trace; its events are the limiter waits, 429 pauses and retries, its
// attributes the attempts, total limiter wait, last HTTP status and outcome.
// A "flatten" child span covers Flatten, and the records are published with
// the enrichment span's context, so the producer's spans are its children.
// The API calls' own spans are children too. Default: no spans. A nil tp is
// ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(e *Enricher) {
		if tp != nil {
			e.tracer = tp.Tracer(tracerName)
		}
	}
}

// tracerName is the instrumentation scope of the enricher's spans.
const tracerName = "github.com/soc-tools/xdr-kafka-connector/pkg/enrich"

func defaultBackoff() backoff.BackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(2*time.Second),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMaxInterval(2*time.Minute),
		backoff.WithMaxElapsedTime(0),
	)
}

// Enricher is the enrichment stage. Create it with New, feed it with
// Enqueue, run it with Run. Its methods are safe for concurrent use.
type Enricher struct {
	cfg        Config
	lim        RateLimiter
	api        Fetcher
	pub        Publisher
	q          *Queue
	log        *slog.Logger
	now        func() time.Time
	onDone     func(offsets.Pending, bool)
	covering   func(string, int64)
	newBackoff func() backoff.BackOff
	tracer     trace.Tracer
	records    func(m Meta, version int64, ed *xdr.ExtraData, native []record.Record) []record.Record

	bulkAPI    BulkFetcher
	bulkLim    RateLimiter
	onFallback func(error)
	turn       chan struct{} // buffered(1): held by the worker waiting for the queue and a bulk slot (nextBulk)
	fellBack   atomic.Bool
	bulkOff    chan struct{} // closed when fellBack is set: wakes the workers waiting on bulk
	singleMu   sync.Mutex
	single     map[string]struct{} // incidents a bulk reply could not deliver whole, or above alertsCap: fetched alone
	alertsCap  atomic.Int64        // alerts_limit_per_incident of the last bulk reply that told it; 0 before one (learnCap)

	bulkCalls, bulkRateLimited, toSingleCount, capped, absent, unasked atomic.Uint64

	running atomic.Bool
	fatal   chan error // buffered(1): the first publish failure

	retryMu  sync.Mutex
	retrying map[string]retryState // enrichments waiting in the queue for another attempt

	calls, retries, budgetRetries, rateLimited, enriched, dlq, truncated, mismatched, malformed, oversized, rejected, notFound, collisions, keyEchoes atomic.Uint64
	inFlight                                                                                                                                          atomic.Int64
}

// New returns an Enricher that calls api under lim and publishes through
// pub. It reports an error for a missing Connector, limiter, Fetcher or
// Publisher, or a negative setting.
func New(cfg Config, lim RateLimiter, api Fetcher, pub Publisher, opts ...Option) (*Enricher, error) {
	var errs []error
	if cfg.Connector == "" {
		errs = append(errs, errors.New("connector name is required"))
	}
	if l, ok := lim.(*Limiter); lim == nil || ok && l == nil || api == nil || pub == nil {
		errs = append(errs, errors.New("limiter, fetcher and publisher are required"))
	}
	if cfg.Workers < 0 || cfg.MaxAttempts < 0 || cfg.AlertsLimit < 0 || cfg.CallTimeout < 0 {
		errs = append(errs, errors.New("workers, max attempts, alerts limit and call timeout must not be negative"))
	}
	mode, err := ParseBulkMode(cfg.Bulk)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Bulk = mode
	if cfg.BulkSize < 0 || cfg.BulkSize > xdr.MaxBulkIncidents {
		errs = append(errs, fmt.Errorf("bulk size %d outside [1, %d]", cfg.BulkSize, xdr.MaxBulkIncidents))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("creating enricher: %w", err)
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.AlertsLimit == 0 {
		cfg.AlertsLimit = xdr.DefaultAlertsLimit
	}
	if cfg.BulkSize == 0 {
		cfg.BulkSize = xdr.MaxBulkIncidents
	}
	e := &Enricher{
		cfg: cfg, lim: lim, api: api, pub: pub, q: NewQueue(),
		log: slog.New(slog.DiscardHandler), now: time.Now, newBackoff: defaultBackoff,
		fatal: make(chan error, 1), tracer: noop.NewTracerProvider().Tracer(tracerName), retrying: make(map[string]retryState),
		single: make(map[string]struct{}), turn: make(chan struct{}, 1), bulkOff: make(chan struct{}),
	}
	for _, o := range opts {
		o(e)
	}
	e.log = e.log.With("stage", "enrich")
	return e, nil
}

// Enqueue queues an enrichment, merging it with one already queued for the
// same incident (see Queue.Push). A zero FirstQueued is set to now. It never
// blocks and may be called before or while Run runs.
func (e *Enricher) Enqueue(it offsets.Pending) {
	if it.FirstQueued == 0 {
		it.FirstQueued = e.now().UnixMilli()
	}
	e.q.Push(it)
}

// Len returns the number of incidents waiting for enrichment.
func (e *Enricher) Len() int { return e.q.Len() }

// Stats is a snapshot of the stage's counters.
type Stats struct {
	Calls       uint64 // get_incident_extra_data calls made, every attempt counted
	Retries     uint64 // calls repeated after a retryable failure other than 429
	BudgetWaits uint64 // of Retries, replies that did not fit in the process's reply budget (xdr.ErrReplyBudget), not counted as attempts (see maxBudgetWaits)
	RateLimited uint64 // 429 replies
	Enriched    uint64 // enrichments whose records Kafka acknowledged
	DLQ         uint64 // enrichments whose DLQ record Kafka acknowledged
	Truncated   uint64 // replies with fewer alerts than the incident has
	Mismatched  uint64 // replies for another incident than the one asked for (each retried)
	Malformed   uint64 // replies without the documented shape, xdr.ErrMalformed (each retried)
	KeyEchoes   uint64 // echoes of the API key the client replaced by [REDACTED] in replies (xdr.ExtraData.KeyEchoes)
	Oversized   uint64 // records larger than MaxRecordBytes, dead-lettered with an excerpt
	Rejected    uint64 // enrichments dead-lettered because Kafka refused one of their records
	NotFound    uint64 // enrichments dead-lettered at once because the incident does not exist (ErrIncidentNotFound)
	Collisions  uint64 // objects keyed with a suffix because an earlier, different object of their reply had their key (record.ReplyKeys)
	InFlight    int    // popped and neither acknowledged nor abandoned, nor back in the queue
	Queued      int    // waiting, as Len
	Delayed     int    // of Queued, those waiting for a retry's not-before time

	Limiter   LimiterStats // the shared limiter's figures
	RateLimit int          // calls the limiter admits per window

	// Bulk enrichment (get_multiple_incidents_extra_data).
	BulkMode        string       // Config.Bulk; BulkOff when no bulk fetcher is set
	BulkFallback    bool         // a BulkAuto enricher fell back to single calls
	BulkCalls       uint64       // bulk calls made
	BulkRateLimited uint64       // bulk 429 replies
	ToSingle        uint64       // incidents handed to single calls: a bulk reply could not deliver them whole, or their alert_count is above alerts_limit_per_incident
	Capped          uint64       // of those, incidents above alerts_limit_per_incident, by the reply or, once a reply told the cap, by the poll's alert_count
	Absent          uint64       // of those, incidents asked for and absent from the reply
	Unasked         uint64       // bulk items for incidents not asked for, never published
	BulkLimiter     LimiterStats // the bulk limiter's figures
	BulkRateLimit   int          // bulk calls the bulk limiter admits per window; 0 without one

	// Capacity is how many incidents a second the budgets let the stage
	// enrich at most: the single endpoint's calls per window, plus, while
	// bulk enrichment is active, BulkSize incidents per bulk call; 0 when a
	// limiter does not tell its window. The queue's drain estimate is
	// bounded by it (drain.Estimate).
	Capacity float64
}

// windowed is a limiter that tells its window, as *Limiter does.
type windowed interface{ Window() time.Duration }

// perSecond is calls per second of lim, times each; 0 when lim does not tell
// its window.
func perSecond(lim RateLimiter, each int) float64 {
	w, ok := lim.(windowed)
	if !ok || w.Window() <= 0 {
		return 0
	}
	return float64(lim.Limit()*each) / w.Window().Seconds()
}

// Stats returns a snapshot of the counters.
func (e *Enricher) Stats() Stats {
	s := Stats{
		Calls: e.calls.Load(), Retries: e.retries.Load(), BudgetWaits: e.budgetRetries.Load(), RateLimited: e.rateLimited.Load(),
		Enriched: e.enriched.Load(), DLQ: e.dlq.Load(), Truncated: e.truncated.Load(), Mismatched: e.mismatched.Load(),
		Malformed: e.malformed.Load(), Oversized: e.oversized.Load(), Rejected: e.rejected.Load(), NotFound: e.notFound.Load(), Collisions: e.collisions.Load(),
		KeyEchoes: e.keyEchoes.Load(),
		InFlight:  int(e.inFlight.Load()), Queued: e.q.Len(), Delayed: e.q.Delayed(),
		Limiter: e.lim.Stats(), RateLimit: e.lim.Limit(),
	}
	s.BulkMode, s.BulkFallback = BulkOff, e.fellBack.Load()
	if e.bulkAPI != nil {
		s.BulkMode, s.BulkLimiter, s.BulkRateLimit = e.cfg.Bulk, e.bulkLim.Stats(), e.bulkLim.Limit()
		s.BulkCalls, s.BulkRateLimited, s.ToSingle = e.bulkCalls.Load(), e.bulkRateLimited.Load(), e.toSingleCount.Load()
		s.Capped, s.Absent, s.Unasked = e.capped.Load(), e.absent.Load(), e.unasked.Load()
	}
	s.Capacity = perSecond(e.lim, 1)
	if s.Capacity > 0 && e.BulkActive() {
		if bulk := perSecond(e.bulkLim, e.cfg.BulkSize); bulk > 0 {
			s.Capacity += bulk
		} else {
			s.Capacity = 0
		}
	}
	return s
}

// Run runs Config.Workers workers until ctx is done, then returns nil, or
// until records could not be published, or the API refused the key or the
// licence (401, 402: every call would fail alike, so nothing is
// dead-lettered), then returns that error.
//
// Each worker makes one attempt at a time: an enrichment that fails and may
// be retried goes back to the queue with a not-before time (its backoff) and
// the worker takes the next incident, so failing incidents never idle the
// budget; an answer that the incident does not exist is dead-lettered at
// once (ErrIncidentNotFound). A reply for another incident
// (ErrMismatchedReply) or without the documented shape (an error wrapping
// xdr.ErrMalformed, from the decoder or from xdr.ExtraData.Check, which the
// enricher applies to whatever its Fetcher returns: no incident object with
// an id, an alert that is not an object, ...) is retried, then
// dead-lettered with the reason, and counted; it is never published.
//
// On return no worker is left: waits (limiter, calls) are abandoned, and
// items popped but not settled are not reported to OnDone — the offsets
// tracker still owes them and re-queues them on restart; so are the
// enrichments still waiting in the queue. Records already handed to the
// Publisher may still be acknowledged, and reported, after Run returns.
// Run may be called only once at a time.
func (e *Enricher) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("enricher: Run is already running")
	}
	defer e.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range e.cfg.Workers {
		wg.Go(func() {
			for {
				var stop bool
				if e.BulkActive() {
					var err error
					if stop, err = e.nextBulk(ctx); err != nil {
						return
					}
				} else {
					it, err := e.q.Pop(ctx)
					if err != nil {
						return
					}
					stop = e.process(ctx, it)
				}
				if stop {
					return
				}
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-e.fatal:
	}
	cancel()
	wg.Wait()
	if err == nil {
		select {
		case err = <-e.fatal:
		default:
		}
	}
	return err
}

// job is one attempt at one enrichment, from its pop to its outcome: the
// enrichment goes back to the queue (requeued) or ends its in-flight period
// (end), covering the version a successful call returned.
type job struct {
	ctx      context.Context // carries the enrichment's span
	it       offsets.Pending
	rs       retryState
	span     trace.Span
	log      *slog.Logger
	covered  int64
	requeued bool
}

// begin starts the attempt at it: counted in flight, with its span.
func (e *Enricher) begin(ctx context.Context, it offsets.Pending) *job {
	e.inFlight.Add(1)
	id := it.IncidentID
	j := &job{ctx: ctx, it: it, rs: e.retryOf(id), span: trace.SpanFromContext(context.Background())} // no span for items popped while stopping
	if ctx.Err() == nil {
		j.ctx, j.span = e.tracer.Start(propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": it.TraceParent}),
			"enrich incident", trace.WithAttributes(attribute.String("xdr.incident_id", id),
				attribute.Int64("xdr.modification_time", it.ModificationTime), attribute.String("xdr.severity", it.Severity),
				attribute.Int64("xdr.queued_ms", e.now().UnixMilli()-it.FirstQueued), attribute.Int("xdr.attempts", j.rs.attempts+1)))
	}
	j.log = e.log.With("incident_id", id, "modification_time", it.ModificationTime)
	return j
}

// end ends the attempt: done once published (ordered) or abandoned, unless
// the enrichment went back to the queue.
func (e *Enricher) end(j *job) {
	j.span.End()
	if !j.requeued {
		e.forgetSingle(j.it.IncidentID)
		e.q.DoneThrough(j.it.IncidentID, j.covered)
	}
}

func (j *job) outcome(o string) { j.span.SetAttributes(attribute.String("xdr.outcome", o)) }

// requeue sends the enrichment back to the queue, poppable at notBefore.
func (e *Enricher) requeue(j *job, notBefore time.Time) {
	j.requeued = true
	e.inFlight.Add(-1)
	e.q.Retry(j.it, notBefore)
}

// abandon ends an attempt cut short by shutdown: the enrichment stays owed.
func (e *Enricher) abandon(j *job) {
	j.outcome("abandoned")
	e.inFlight.Add(-1)
}

// process makes one attempt at an enrichment with get_incident_extra_data:
// one call, then its outcome (settle). It reports true when the worker must
// stop: the tenant refuses every call alike (see tenantWide).
func (e *Enricher) process(ctx context.Context, it offsets.Pending) (stop bool) {
	j := e.begin(ctx, it)
	defer e.end(j)
	return e.attempt(ctx, j)
}

// attempt is process's call and outcome for j, begun and ended by its
// caller.
func (e *Enricher) attempt(ctx context.Context, j *job) (stop bool) {
	ed, timedOut, err := e.call(j.ctx, j.it, j.log)
	if ctx.Err() != nil {
		e.abandon(j)
		return false
	}
	return e.settle(ctx, j, ed, timedOut, err)
}

// settle acts on the outcome of one attempt at an enrichment, whichever
// endpoint answered it: the records or a DLQ record are published, or the
// enrichment goes back to the queue with a not-before time (a retryable
// failure, a 429) while the worker goes on with the next incident. It
// reports true when the worker must stop: the tenant refuses every call
// alike (see tenantWide).
func (e *Enricher) settle(ctx context.Context, j *job, ed *xdr.ExtraData, timedOut bool, err error) (stop bool) {
	ctx = j.ctx // the enrichment's span: its logs and records are its children
	it, id, rs, span, log := j.it, j.it.IncidentID, j.rs, j.span, j.log
	meta := e.meta()
	if tenantWide(err) {
		// The key or the licence is refused: every call would fail alike.
		// Dead-lettering each owed enrichment would empty the queue into
		// the DLQ; stop instead, keeping them owed for when it is fixed.
		j.outcome("stopped")
		e.inFlight.Add(-1)
		e.stop(fmt.Errorf("enriching incident %s: %w", id, err))
		return true
	}
	if ae, ok := errors.AsType[*xdr.APIError](err); ok && ae.Status == http.StatusTooManyRequests {
		// The limiter pauses every call for the answer's Retry-After; the
		// enrichment keeps its place and its attempts (429s do not count).
		j.outcome("rate_limited")
		e.requeue(j, time.Time{})
		return false
	}
	if errors.Is(err, xdr.ErrReplyBudget) && rs.budgetWaits < maxBudgetWaits {
		// The process's reply budget was held by other replies, other
		// tenants' as often as not: neither the incident nor the tenant
		// failed, so the enrichment waits out the contention without
		// spending one of its attempts, up to maxBudgetWaits times. The
		// backoff, kept with the retry state, grows with each wait.
		d, ok := e.backoff(id, &rs)
		if !ok {
			d = budgetRetryWait
		}
		rs.budgetWaits++
		e.setRetry(id, rs)
		e.retries.Add(1)
		e.budgetRetries.Add(1)
		span.AddEvent("retry", trace.WithAttributes(attribute.Int64("backoff_ms", d.Milliseconds()), attribute.String("error", err.Error())))
		log.WarnContext(ctx, "the reply did not fit in the process's reply budget beside other replies; retrying later without counting an attempt (raise XDR_REPLY_BUDGET_BYTES, with the memory limit, if this repeats)",
			"budget_waits", rs.budgetWaits, "max_budget_waits", maxBudgetWaits, "attempts", rs.attempts, "backoff", d)
		j.outcome("retry")
		e.requeue(j, time.Now().Add(d))
		return false
	}
	if err != nil {
		attempts := rs.attempts + 1
		notFound := xdr.IncidentNotFound(err)
		if !notFound && (xdr.Retryable(err) || timedOut || errors.Is(err, ErrMismatchedReply)) && attempts < e.cfg.MaxAttempts {
			if d, ok := e.backoff(id, &rs); ok {
				rs.attempts = attempts
				e.setRetry(id, rs)
				e.retries.Add(1)
				span.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", attempts), attribute.Int64("backoff_ms", d.Milliseconds()),
					attribute.String("error", err.Error())))
				log.InfoContext(ctx, "retrying extra-data call later; the worker goes on with the next incident",
					"attempt", attempts, "max_attempts", e.cfg.MaxAttempts, "backoff", d, "err", err)
				j.outcome("retry")
				e.requeue(j, time.Now().Add(d))
				return false
			}
		}
		e.setRetry(id, retryState{})
		j.outcome("dlq")
		span.SetStatus(codes.Error, err.Error())
		if notFound {
			e.notFound.Add(1)
			err = fmt.Errorf("%w: %w", ErrIncidentNotFound, err)
			log.WarnContext(ctx, "the incident does not exist (merged or deleted); publishing a DLQ record without retrying", "err", err)
		} else {
			log.ErrorContext(ctx, "giving up on enrichment; publishing a DLQ record", "attempts", attempts, "err", err)
		}
		rec := DLQRecord(meta, it, err, attempts, meta.FetchedAt)
		e.publish(ctx, it, []record.Record{rec}, true, log)
		return false
	}
	e.setRetry(id, retryState{})
	j.outcome("enriched")
	e.deliver(ctx, j, ed)
	return false
}

// deliver publishes the enrichment of j's incident from ed, its extra data
// as either endpoint returned it: the one path from a reply to records, so
// the same reply gives the same records whichever endpoint sent it.
func (e *Enricher) deliver(ctx context.Context, j *job, ed *xdr.ExtraData) {
	ctx = j.ctx
	it, id, log := j.it, j.it.IncidentID, j.log
	meta := e.meta()
	recs, info := e.flatten(ctx, meta, it.ModificationTime, ed)
	// The reply shows the incident as of its own modification_time, which
	// may be newer than the version that queued it: the enrichment covers,
	// and settles, every version up to that one.
	it.ModificationTime = max(it.ModificationTime, ed.Incident.ModificationTime)
	j.covered = it.ModificationTime
	if e.covering != nil {
		e.covering(id, j.covered)
	}
	if info.OversizedRecords > 0 {
		e.oversized.Add(uint64(info.OversizedRecords))
		log.WarnContext(ctx, "records larger than KAFKA_MAX_RECORD_BYTES went to the DLQ with an excerpt; the enriched record counts them",
			"oversized_records", info.OversizedRecords, "limit_bytes", e.cfg.MaxRecordBytes)
	}
	if info.KeyCollisions > 0 {
		e.collisions.Add(uint64(info.KeyCollisions))
		log.WarnContext(ctx, "objects of the reply share a key with an earlier, different object; their records carry a suffixed key and the enriched record counts them",
			"key_collisions", info.KeyCollisions)
	}
	if info.AlertsTruncated {
		e.truncated.Add(1)
		log.WarnContext(ctx, "extra data truncated: the incident has more alerts than alerts_limit; the enriched record flags it",
			"alerts_total_count", info.AlertsTotalCount, "alerts_received", info.AlertsReceived, "alerts_limit", info.AlertsLimit)
	}
	e.publish(ctx, it, recs, false, log)
}

// backoff returns the wait before the next attempt of id's enrichment, from
// its retry state's policy (made at its first retry); ok is false when the
// policy says stop.
func (e *Enricher) backoff(id string, rs *retryState) (time.Duration, bool) {
	if rs.bo == nil {
		rs.bo = e.newBackoff()
		rs.bo.Reset()
	}
	d := rs.bo.NextBackOff()
	return d, d != backoff.Stop
}

// stop makes Run return err, unless it already has another.
func (e *Enricher) stop(err error) {
	select {
	case e.fatal <- err:
	default:
	}
}

// retryState is what a failed enrichment carries to its next attempt while
// it waits in the queue.
type retryState struct {
	attempts     int             // calls that failed, 429s not counted
	bulkFailures int             // bulk calls that failed as a whole for it (see bulk.go)
	budgetWaits  int             // replies that did not fit in the process's reply budget (see maxBudgetWaits)
	bo           backoff.BackOff // made at the first retry (WithBackoff)
}

// retryOf returns the retry state of an incident's enrichment; the zero
// value for a first attempt.
func (e *Enricher) retryOf(id string) retryState {
	e.retryMu.Lock()
	defer e.retryMu.Unlock()
	return e.retrying[id]
}

// setRetry stores rs for id; the zero value forgets it (the enrichment
// settled).
func (e *Enricher) setRetry(id string, rs retryState) {
	e.retryMu.Lock()
	defer e.retryMu.Unlock()
	if rs.attempts == 0 && rs.bulkFailures == 0 && rs.budgetWaits == 0 {
		delete(e.retrying, id)
		return
	}
	e.retrying[id] = rs
}

// meta is what this enricher's records share, stamped now.
func (e *Enricher) meta() Meta {
	return Meta{Connector: e.cfg.Connector, Tenant: e.cfg.Tenant, AlertsLimit: e.cfg.AlertsLimit,
		MaxBytes: e.cfg.MaxRecordBytes, FetchedAt: e.now().UnixMilli()}
}

// flatten is Flatten inside a "flatten" span.
func (e *Enricher) flatten(ctx context.Context, m Meta, version int64, ed *xdr.ExtraData) ([]record.Record, record.EnrichmentInfo) {
	_, span := e.tracer.Start(ctx, "flatten")
	defer span.End()
	recs, info := Flatten(m, version, ed)
	if e.records != nil {
		recs = e.records(m, version, ed, recs)
	}
	span.SetAttributes(attribute.Int("xdr.records", len(recs)), attribute.Int("xdr.alerts_received", info.AlertsReceived),
		attribute.Int("xdr.alerts_total_count", info.AlertsTotalCount), attribute.Bool("xdr.alerts_truncated", info.AlertsTruncated),
		attribute.Int("xdr.network_artifacts", info.NetworkArtifactsTotalCount), attribute.Int("xdr.file_artifacts", info.FileArtifactsTotalCount))
	return recs, info
}

// publish hands recs to the Publisher and settles the item when they are
// acknowledged. A failure while ctx is live is fatal for Run; one after ctx
// is done is shutdown, and the item is abandoned.
func (e *Enricher) publish(ctx context.Context, it offsets.Pending, recs []record.Record, dlq bool, log *slog.Logger) {
	var settled atomic.Bool
	settle := func(err error) {
		if !settled.CompareAndSwap(false, true) {
			return
		}
		e.inFlight.Add(-1)
		if err != nil {
			if ctx.Err() != nil {
				log.Debug("publish cut short by shutdown; the enrichment stays owed", "err", err)
				return
			}
			if !dlq && errors.Is(err, record.ErrRejected) {
				// No retry can fix it: dead-letter the enrichment with the
				// reason and go on. Publish may wait for room, which done
				// must never do, hence the goroutine.
				e.rejected.Add(1)
				log.ErrorContext(ctx, "Kafka refused a record of this enrichment; dead-lettering it (is KAFKA_MAX_RECORD_BYTES above the broker's max.message.bytes?)", "err", err)
				e.inFlight.Add(1)
				go e.publish(ctx, it, []record.Record{DLQRecord(e.meta(), it, err, 0, e.now().UnixMilli())}, true, log)
				return
			}
			select {
			case e.fatal <- fmt.Errorf("publishing enrichment of incident %s: %w", it.IncidentID, err):
			default:
			}
			return
		}
		if dlq {
			e.dlq.Add(1)
		} else {
			e.enriched.Add(1)
		}
		if e.onDone != nil {
			e.onDone(it, dlq)
		}
	}
	if err := e.pub.Publish(ctx, recs, settle); err != nil {
		settle(err)
	}
}

// verify checks ed, an answer for it's incident from endpoint, before
// anything of it is published: it must have the documented shape
// (xdr.ExtraData.Check; the decoder checks its replies, a Fetcher may have
// other sources) and be the asked incident's. It counts and logs a fault.
func (e *Enricher) verify(ctx context.Context, it offsets.Pending, ed *xdr.ExtraData, endpoint string, log *slog.Logger) error {
	var err error
	if ed == nil {
		err = fmt.Errorf("%w: no reply", xdr.ErrMalformed)
	} else {
		err = ed.Check()
	}
	if err != nil {
		e.malformed.Add(1)
		log.WarnContext(ctx, endpoint+" answered without the documented shape; retrying", "err", err)
		return err
	}
	if ed.Incident.ID != it.IncidentID {
		// Never publish another incident's data as the asked one's.
		e.mismatched.Add(1)
		log.WarnContext(ctx, endpoint+" answered for another incident; retrying", "reply_incident_id", ed.Incident.ID)
		return fmt.Errorf("%w: asked for incident %s, the reply is for incident %s", ErrMismatchedReply, it.IncidentID, ed.Incident.ID)
	}
	return nil
}

// call makes one get_incident_extra_data call for it under the limiter.
// timedOut reports that CallTimeout cut the call short while ctx was live. A
// 429 pauses the limiter (Throttle) before call returns it.
func (e *Enricher) call(ctx context.Context, it offsets.Pending, log *slog.Logger) (ed *xdr.ExtraData, timedOut bool, err error) {
	req := xdr.ExtraDataRequest{IncidentID: it.IncidentID, AlertsLimit: e.cfg.AlertsLimit}
	span := trace.SpanFromContext(ctx)
	asked := time.Now()
	release, err := e.lim.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	wait := time.Since(asked)
	span.SetAttributes(attribute.Int64("xdr.limiter_wait_ms", wait.Milliseconds()))
	span.AddEvent("rate limiter slot acquired", trace.WithAttributes(attribute.Int64("wait_ms", wait.Milliseconds())))
	callCtx, cancel := ctx, context.CancelFunc(func() {})
	if e.cfg.CallTimeout > 0 {
		callCtx, cancel = context.WithTimeout(ctx, e.cfg.CallTimeout)
	}
	ed, err = e.api.GetIncidentExtraData(callCtx, req)
	timedOut = callCtx.Err() != nil && ctx.Err() == nil
	cancel()
	release()
	e.calls.Add(1)
	if ctx.Err() != nil {
		return nil, false, ctx.Err()
	}
	if err == nil && ed == nil {
		err = fmt.Errorf("%w: no reply", xdr.ErrMalformed)
	}
	if err == nil && ed.KeyEchoes > 0 {
		e.keyEchoes.Add(uint64(ed.KeyEchoes))
		log.WarnContext(ctx, "get_incident_extra_data echoed the API key into its reply (a proxy or the tenant copying request headers into data?); it was replaced by [REDACTED] before anything was published",
			"echoes", ed.KeyEchoes)
	}
	if err == nil {
		err = e.verify(ctx, it, ed, xdr.EndpointGetIncidentExtraData, log)
	} else if errors.Is(err, xdr.ErrMalformed) {
		e.malformed.Add(1)
		log.WarnContext(ctx, "get_incident_extra_data answered without the documented shape; retrying", "err", err)
	}
	if err == nil {
		span.SetAttributes(attribute.Int("http.response.status_code", http.StatusOK))
		return ed, false, nil
	}
	err = fmt.Errorf("fetching extra data for incident %s: %w", it.IncidentID, err)
	if ae, ok := errors.AsType[*xdr.APIError](err); ok {
		span.SetAttributes(attribute.Int("http.response.status_code", ae.Status))
		if ae.Status == http.StatusTooManyRequests {
			e.rateLimited.Add(1)
			wait, capped := e.lim.Throttle(err)
			if capped {
				asked, _ := xdr.RetryAfter(err)
				log.WarnContext(ctx, "a 429 asked for a pause longer than XDR_MAX_RETRY_AFTER; pausing for the cap instead",
					"retry_after", asked, "pause", wait)
			}
			span.AddEvent("rate limited (429)", trace.WithAttributes(attribute.Int64("retry_after_ms", wait.Milliseconds())))
			log.WarnContext(ctx, "rate limited (429); pausing all extra-data calls", "retry_after", wait)
		}
	}
	return nil, timedOut, err
}
