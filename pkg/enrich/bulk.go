package enrich

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Bulk enrichment modes (Config.Bulk, ENRICH_BULK).
const (
	// BulkAuto uses get_multiple_incidents_extra_data and falls back to
	// get_incident_extra_data for good when the tenant does not serve it
	// (xdr.EndpointNotServed).
	BulkAuto = "auto"
	// BulkOn uses it and never falls back: an answer that the endpoint is
	// not served stops the tenant with that error.
	BulkOn = "on"
	// BulkOff makes one get_incident_extra_data call per incident.
	BulkOff = "off"
)

// ParseBulkMode reads a mode, "" as BulkAuto.
func ParseBulkMode(s string) (string, error) {
	switch s {
	case "":
		return BulkAuto, nil
	case BulkAuto, BulkOn, BulkOff:
		return s, nil
	}
	return "", fmt.Errorf("unknown bulk enrichment mode %q (want %s, %s or %s)", s, BulkAuto, BulkOn, BulkOff)
}

// BulkFetcher calls get_multiple_incidents_extra_data. *xdr.Client
// implements it.
type BulkFetcher interface {
	GetMultipleIncidentsExtraData(ctx context.Context, req xdr.MultipleExtraDataRequest) (*xdr.MultipleExtraData, error)
}

// WithBulk makes the Enricher fetch extra data in batches with api, under
// lim, a budget of its own beside the single endpoint's, in the mode of
// Config.Bulk (BulkOff, or a nil api or lim, leaves it off).
func WithBulk(api BulkFetcher, lim RateLimiter) Option {
	return func(e *Enricher) {
		if api != nil && lim != nil {
			if l, ok := lim.(*Limiter); !ok || l != nil {
				e.bulkAPI, e.bulkLim = api, lim
			}
		}
	}
}

// WithBulkFallback sets the function told, once, that a BulkAuto enricher
// fell back to single calls because the tenant does not serve the bulk
// endpoint; err is the answer that said so. It must not block.
func WithBulkFallback(f func(err error)) Option { return func(e *Enricher) { e.onFallback = f } }

// bulkFailuresBeforeSingle is how many bulk calls may fail as a whole (a
// 5xx, a timeout, a malformed envelope) for one incident before that
// incident goes to get_incident_extra_data, whose answer is about it alone:
// an incident that breaks every call it is in cannot keep its batch from
// being enriched, and is retried and dead-lettered by today's rules.
const bulkFailuresBeforeSingle = 2

// BulkActive reports whether the enricher fetches in batches now: a bulk
// fetcher is set, the mode is not BulkOff, and it has not fallen back.
func (e *Enricher) BulkActive() bool {
	return e.bulkAPI != nil && e.cfg.Bulk != BulkOff && !e.fellBack.Load()
}

// FellBack reports whether a BulkAuto enricher fell back to single calls.
func (e *Enricher) FellBack() bool { return e.fellBack.Load() }

// singleOnly reports whether id's enrichment must use the single endpoint:
// a bulk reply could not deliver it whole (see toSingle), or its alert_count
// is above the tenant's alerts_limit_per_incident (see processAlone).
func (e *Enricher) singleOnly(id string) bool {
	e.singleMu.Lock()
	defer e.singleMu.Unlock()
	_, ok := e.single[id]
	return ok
}

// markSingle marks id's enrichment single-only until it settles (see
// forgetSingle); it reports false when it already was.
func (e *Enricher) markSingle(id string) bool {
	e.singleMu.Lock()
	defer e.singleMu.Unlock()
	if _, ok := e.single[id]; ok {
		return false
	}
	e.single[id] = struct{}{}
	return true
}

// alone reports whether it must be fetched alone, with
// get_incident_extra_data, and never take a place in a bulk call: it is
// single-only already, or its alert_count, as the poll read it, is above the
// alerts a bulk reply carries per incident (aboveCap). It is called with the
// queue locked.
func (e *Enricher) alone(it offsets.Pending) bool {
	return e.aboveCap(it.AlertCount) || e.singleOnly(it.IncidentID)
}

// aboveCap reports whether an incident with alerts alerts would come
// incomplete in a bulk reply, by the rule of incomplete: the tenant's
// alerts_limit_per_incident is known (learnCap) and below both alerts and
// ALERTS_LIMIT. Before a bulk reply told the cap, it reports false: the
// reply decides (batchReply).
func (e *Enricher) aboveCap(alerts int) bool {
	c := int(e.alertsCap.Load())
	return c > 0 && alerts > c && c < e.cfg.AlertsLimit
}

// learnCap keeps limit, a bulk reply's alerts_limit_per_incident (0: the
// reply does not say, and the cap known stays), as the cap aboveCap routes
// by; a tenant's setting may change, and the newest reply's counts.
func (e *Enricher) learnCap(ctx context.Context, limit int) {
	if limit <= 0 {
		return
	}
	if old := e.alertsCap.Swap(int64(limit)); old != int64(limit) {
		e.log.InfoContext(ctx, "a bulk reply told the tenant's alerts_limit_per_incident; while it is below ALERTS_LIMIT, an incident whose alert_count is above it is fetched alone with get_incident_extra_data, without a bulk call",
			"alerts_limit_per_incident", limit, "alerts_limit", e.cfg.AlertsLimit)
	}
}

// processAlone makes one attempt at it, popped because it must be fetched
// alone (alone), with get_incident_extra_data, under the single limiter like
// any other single call. One sent there by its poll's alert_count, before
// any bulk call, is marked single-only for the rest of its enrichment (a
// retry stays alone) and counted as a bulk reply's capped incident is
// (Stats.ToSingle, Stats.Capped), once.
func (e *Enricher) processAlone(ctx context.Context, it offsets.Pending) (stop bool) {
	j := e.begin(ctx, it)
	defer e.end(j)
	if ctx.Err() == nil && e.markSingle(it.IncidentID) {
		e.toSingleCount.Add(1)
		e.capped.Add(1)
		j.span.AddEvent("to get_incident_extra_data", trace.WithAttributes(attribute.String("reason", "alert_count above alerts_limit_per_incident")))
		j.log.DebugContext(j.ctx, "the incident has more alerts than a bulk reply carries; fetching it alone with ALERTS_LIMIT, without a bulk call",
			"alert_count", it.AlertCount, "alerts_limit_per_incident", e.alertsCap.Load())
	}
	return e.attempt(ctx, j)
}

// forgetSingle clears id's single-only mark once its enrichment settled.
func (e *Enricher) forgetSingle(id string) {
	e.singleMu.Lock()
	defer e.singleMu.Unlock()
	delete(e.single, id)
}

// toSingle sends j's enrichment back to the queue, to be fetched by
// get_incident_extra_data: no attempt is counted, the bulk call delivered
// nothing wrong, only not enough.
func (e *Enricher) toSingle(j *job, reason string) {
	e.markSingle(j.it.IncidentID)
	e.toSingleCount.Add(1)
	j.span.AddEvent("to get_incident_extra_data", trace.WithAttributes(attribute.String("reason", reason)))
	j.outcome("single")
	e.requeue(j, time.Time{})
}

// fallBack switches a BulkAuto enricher to single calls for good, once.
func (e *Enricher) fallBack(ctx context.Context, err error) {
	if !e.fellBack.CompareAndSwap(false, true) {
		return
	}
	close(e.bulkOff) // the workers waiting for the turn or a bulk slot go on with single calls
	e.log.WarnContext(ctx, "the tenant does not serve get_multiple_incidents_extra_data; enriching with one get_incident_extra_data call per incident from now on (ENRICH_BULK=auto)",
		"err", err, "single_rate_limit", e.lim.Limit())
	if e.onFallback != nil {
		e.onFallback(err)
	}
}

// nextBulk is one turn of a worker while bulk enrichment is active. One
// worker at a time (e.turn) waits for an owed incident and a slot of the bulk
// limiter (bulkTurn), and only then pops its batch. Meanwhile the others
// fetch alone, with get_incident_extra_data, the incidents at the head of the
// queue that a bulk reply could not deliver whole or that have more alerts
// than one would carry (alone), and otherwise wait for the turn or the next
// push. A worker waiting for the bulk slot therefore holds no incident: none
// waits in its hands while another batch is taken past it (to go alone in a
// call of its own later), and a newer version pushed meanwhile merges into
// the queued one. A retry that comes due wakes the waiting workers as a push
// does, and so does a fallback, after which nextBulk returns and the worker
// goes on with single calls. It reports stop as process and processBatch
// do, and ctx's error once ctx is done.
func (e *Enricher) nextBulk(ctx context.Context) (stop bool, err error) {
	var due *time.Timer
	defer func() {
		if due != nil {
			due.Stop()
		}
	}()
	for {
		changed := e.q.Changed()
		it, ok, next := e.q.TryPopIf(e.alone)
		if ok {
			return e.processAlone(ctx, it), nil
		}
		var dueC <-chan time.Time
		if !next.IsZero() {
			if due == nil {
				due = time.NewTimer(time.Until(next))
			} else {
				due.Reset(time.Until(next))
			}
			dueC = due.C
		}
		select {
		case e.turn <- struct{}{}:
			return e.bulkTurn(ctx)
		case <-changed:
		case <-dueC:
		case <-e.bulkOff:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// bulkTurn is nextBulk's turn, taken (e.turn): it waits for an owed
// incident; one that must be fetched alone (alone) is popped and fetched so;
// otherwise it takes a slot of the bulk limiter, pops up to BulkSize
// incidents in queue order in one queue operation, leaving queued, in their
// places, those that must be fetched alone, gives the turn back and enriches
// them (processBatch).
func (e *Enricher) bulkTurn(ctx context.Context) (stop bool, err error) {
	held := true
	endTurn := func() {
		if held {
			held = false
			<-e.turn
		}
	}
	defer endTurn()
	it, single, err := e.q.PopIf(ctx, e.alone)
	if err != nil {
		return false, err
	}
	if single {
		endTurn()
		return e.processAlone(ctx, it), nil
	}
	release, err := e.acquireBulk(ctx)
	if err != nil {
		return false, err
	}
	if release == nil {
		return false, nil // fell back while waiting: the next turn is a single call's
	}
	var batch []offsets.Pending
	if e.BulkActive() {
		batch = e.q.PopReady(e.cfg.BulkSize, e.alone)
	}
	endTurn()
	if len(batch) == 0 {
		// Another worker fell back while this one waited (its pops are
		// not taken in turns); the next turn enriches with single calls.
		release()
		return false, nil
	}
	return e.processBatch(ctx, batch, release), nil
}

// acquireBulk waits for a slot of the bulk limiter, and returns its release;
// a nil release, and no slot taken, when the enricher falls back meanwhile.
func (e *Enricher) acquireBulk(ctx context.Context) (release func(), err error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := make(chan struct{})
	defer close(watched)
	go func() {
		select {
		case <-e.bulkOff:
			cancel()
		case <-watched:
		}
	}()
	release, err = e.bulkLim.Acquire(actx)
	if err != nil && ctx.Err() == nil && !e.BulkActive() {
		return nil, nil
	}
	return release, err
}

// processBatch enriches batch, up to BulkSize incidents in queue order, with
// one get_multiple_incidents_extra_data call under the slot of the bulk
// limiter that release ends. Each incident then goes its own way, exactly as
// after a single call (settle): its records, its retry or its DLQ record; or
// back to the queue for a single call when the reply cannot deliver it whole.
// It reports true when the worker must stop.
func (e *Enricher) processBatch(ctx context.Context, batch []offsets.Pending, release func()) (stop bool) {
	jobs := make([]*job, len(batch))
	ids := make([]string, len(batch))
	for i, it := range batch {
		jobs[i] = e.begin(ctx, it)
		ids[i] = it.IncidentID
	}
	defer func() {
		for _, j := range jobs {
			e.end(j)
		}
	}()
	// The call serves many incidents, each with a trace of its own: it gets
	// an "enrich batch" span linked to every incident's span and linked back
	// from each, and the client's span for the request is its child.
	batchCtx, batchSpan := e.batchSpan(ctx, jobs)
	defer batchSpan.End()
	callCtx, cancel := batchCtx, context.CancelFunc(func() {})
	if e.cfg.CallTimeout > 0 {
		callCtx, cancel = context.WithTimeout(batchCtx, e.cfg.CallTimeout)
	}
	reply, err := e.bulkAPI.GetMultipleIncidentsExtraData(callCtx, xdr.MultipleExtraDataRequest{IncidentIDs: ids})
	timedOut := callCtx.Err() != nil && ctx.Err() == nil
	cancel()
	if err != nil {
		batchSpan.SetStatus(codes.Error, "get_multiple_incidents_extra_data failed")
	}
	release()
	e.bulkCalls.Add(1)
	if ctx.Err() != nil {
		for _, j := range jobs {
			e.abandon(j)
		}
		return false
	}
	if err == nil && reply == nil {
		err = fmt.Errorf("%w: no reply", xdr.ErrMalformed)
	}
	if err != nil {
		return e.batchFailed(ctx, jobs, timedOut, fmt.Errorf("fetching extra data for %d incidents: %w", len(jobs), err))
	}
	e.learnCap(ctx, reply.AlertsLimitPerIncident)
	if reply.KeyEchoes > 0 {
		e.keyEchoes.Add(uint64(reply.KeyEchoes))
		jobs[0].log.WarnContext(ctx, "get_multiple_incidents_extra_data echoed the API key into its reply (a proxy or the tenant copying request headers into data?); it was replaced by [REDACTED] before anything was published",
			"echoes", reply.KeyEchoes)
	}
	e.batchReply(ctx, jobs, reply)
	return false
}

// batchSpan starts the span of one bulk call of jobs: linked to each job's
// span (a job's trace is its incident version's), each of which links back.
func (e *Enricher) batchSpan(ctx context.Context, jobs []*job) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(jobs))
	for _, j := range jobs {
		if sc := j.span.SpanContext(); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := e.tracer.Start(ctx, "enrich batch", trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("xdr.batch.incidents", len(jobs))))
	if sc := span.SpanContext(); sc.IsValid() {
		for _, j := range jobs {
			j.span.AddLink(trace.Link{SpanContext: sc})
		}
	}
	return ctx, span
}

// batchFailed acts on a bulk call that failed as a whole.
func (e *Enricher) batchFailed(ctx context.Context, jobs []*job, timedOut bool, err error) (stop bool) {
	requeueAll := func(o string) {
		for _, j := range jobs {
			j.outcome(o)
			e.requeue(j, time.Time{})
		}
	}
	abandonAll := func(o string) {
		for _, j := range jobs {
			j.outcome(o)
			e.inFlight.Add(-1)
		}
	}
	switch ae, _ := errors.AsType[*xdr.APIError](err); {
	case tenantWide(err):
		abandonAll("stopped")
		e.stop(err)
		return true
	case xdr.EndpointNotServed(err) && e.cfg.Bulk == BulkOn:
		abandonAll("stopped")
		e.stop(fmt.Errorf("ENRICH_BULK=on, and the tenant does not serve get_multiple_incidents_extra_data (set ENRICH_BULK=auto or off): %w", err))
		return true
	case xdr.EndpointNotServed(err):
		e.fallBack(ctx, err)
		requeueAll("fallback")
		return false
	case ae != nil && ae.Status == http.StatusTooManyRequests:
		e.bulkRateLimited.Add(1)
		wait, capped := e.bulkLim.Throttle(err)
		if capped {
			asked, _ := xdr.RetryAfter(err)
			e.log.WarnContext(ctx, "a 429 asked for a pause longer than XDR_MAX_RETRY_AFTER; pausing for the cap instead",
				"retry_after", asked, "pause", wait)
		}
		e.log.WarnContext(ctx, "rate limited (429); pausing all bulk extra-data calls", "retry_after", wait)
		requeueAll("rate_limited")
		return false
	}
	if errors.Is(err, xdr.ErrMalformed) {
		e.malformed.Add(1)
	}
	retry := (xdr.Retryable(err) || timedOut) && !xdr.IncidentNotFound(err)
	e.log.WarnContext(ctx, "get_multiple_incidents_extra_data failed; its incidents are retried, or fetched one by one", "incidents", len(jobs), "err", err)
	for _, j := range jobs {
		id := j.it.IncidentID
		rs := e.retryOf(id)
		rs.bulkFailures++
		if !retry || rs.bulkFailures >= bulkFailuresBeforeSingle {
			rs.bulkFailures = 0
			e.setRetry(id, rs)
			e.toSingle(j, "bulk call failed: "+err.Error())
			continue
		}
		d, _ := e.backoff(id, &rs)
		e.setRetry(id, rs)
		e.retries.Add(1)
		j.outcome("retry")
		e.requeue(j, time.Now().Add(d))
	}
	return false
}

// batchReply settles each incident of a successful bulk call from its item.
// What the reply cannot answer for one incident is asked of
// get_incident_extra_data, whose answer is the one single calls have always
// acted on:
//
//   - an incident absent from the reply (merged or deleted, restricted for
//     this key, not yet visible: the reply does not say which);
//   - an incident with two items;
//   - an incident whose item carries fewer alerts than the incident has and
//     than ALERTS_LIMIT would deliver (alerts_limit_per_incident reached).
//
// An item that does not decode is that incident's malformed reply: retried,
// then dead-lettered, as from a single call. An item for an incident not
// asked for is an anomaly (Stats.Unasked) and is never published.
func (e *Enricher) batchReply(ctx context.Context, jobs []*job, reply *xdr.MultipleExtraData) {
	asked := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		asked[j.it.IncidentID] = true
	}
	items := make(map[string]*xdr.MultipleExtraDataItem, len(reply.Items))
	twice := map[string]bool{}
	for i := range reply.Items {
		it := &reply.Items[i]
		id := it.IncidentID
		switch {
		case id == "":
			e.malformed.Add(1)
			e.log.WarnContext(ctx, "get_multiple_incidents_extra_data sent an item without an incident id; ignoring it", "err", it.Err)
		case !asked[id]:
			e.unasked.Add(1)
			e.log.WarnContext(ctx, "get_multiple_incidents_extra_data sent an item for an incident not asked for; ignoring it", "reply_incident_id", id)
		case items[id] != nil:
			twice[id] = true
		default:
			items[id] = it
		}
	}
	limit := reply.AlertsLimitPerIncident
	for _, j := range jobs {
		id := j.it.IncidentID
		it := items[id]
		switch {
		case it == nil:
			e.absent.Add(1)
			e.toSingle(j, "absent from the bulk reply")
		case twice[id]:
			e.malformed.Add(1)
			e.toSingle(j, "two items in the bulk reply")
		case it.Err != nil:
			e.malformed.Add(1)
			j.log.WarnContext(ctx, "get_multiple_incidents_extra_data answered for this incident without the documented shape; retrying", "err", it.Err)
			e.settle(ctx, j, nil, false, fmt.Errorf("fetching extra data for incident %s: %w", id, it.Err))
		case e.incomplete(it.Data):
			e.capped.Add(1)
			j.log.DebugContext(ctx, "the bulk reply carries fewer alerts than the incident has; fetching it alone with ALERTS_LIMIT",
				"alerts_received", len(it.Data.Alerts.Data), "alerts_total_count", it.Data.Alerts.TotalCount,
				"alert_count", it.Data.Incident.AlertCount, "alerts_limit_per_incident", limit)
			e.toSingle(j, "alerts_limit_per_incident reached")
		default:
			e.trim(it.Data)
			if err := e.verify(ctx, j.it, it.Data, xdr.EndpointGetMultipleIncidentsExtraData, j.log); err != nil {
				e.settle(ctx, j, nil, false, fmt.Errorf("fetching extra data for incident %s: %w", id, err))
				continue
			}
			e.settle(ctx, j, it.Data, false, nil)
		}
	}
}

// trim cuts a bulk item's alerts to ALERTS_LIMIT, which the bulk endpoint
// does not take (it returns up to its own per-incident cap): a single call
// asks for alerts_limit=ALERTS_LIMIT and gets the first ones, the total
// still counted, and an incident gives the same records whichever endpoint
// fetched it, its truncation flagged alike.
func (e *Enricher) trim(ed *xdr.ExtraData) {
	if n := e.cfg.AlertsLimit; n > 0 && len(ed.Alerts.Data) > n {
		ed.Alerts.TotalCount = max(ed.Alerts.TotalCount, len(ed.Alerts.Data))
		ed.Alerts.Data = ed.Alerts.Data[:n]
	}
}

// incomplete reports whether a bulk item carries fewer alerts than a single
// call with ALERTS_LIMIT would: the incident has more (alerts.total_count,
// or its alert_count) than the item's data, and ALERTS_LIMIT is above what
// the item holds.
func (e *Enricher) incomplete(ed *xdr.ExtraData) bool {
	n := len(ed.Alerts.Data)
	has := max(ed.Alerts.TotalCount, ed.Incident.AlertCount)
	return n < min(has, e.cfg.AlertsLimit)
}
