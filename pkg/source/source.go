// Package source polls get_incidents for incidents changed since the
// watermark and emits one change per incident version (incident_id,
// modification_time), losing none and repeating none that Kafka acknowledged.
//
// How a poll reads (see Poll):
//   - It asks for modification_time >= polled - Lookback, oldest first, where
//     polled is the newest modification_time a complete poll has seen. The
//     lookback re-reads the recent past, so a change that became visible late
//     (up to Lookback after its timestamp) is still found.
//   - It pages by keyset, not by offset: each next page starts at the last
//     page's newest modification_time. An incident modified mid-read moves to
//     the end of the order, where the keyset still reaches it; offset paging
//     would skip the incident that shifted into its place.
//   - A page whose 100 incidents all share one millisecond cannot advance the
//     keyset; that millisecond is read alone by offset, sorted by incident_id,
//     and read again from the start whenever its total_count changes under it.
//   - The mark a complete poll leaves is the newest modification_time it saw
//     minus the time the poll took. A change that became visible while the
//     poll ran, after its page had been read, is older than that mark by at
//     most the indexing lag, so the next poll's lookback still reaches it
//     however long polls take: LOOKBACK only has to cover the indexing lag.
//   - Only a stamp at or before the local clock at the poll's start counts
//     for the mark: an incident stamped ahead of it (a tenant's clock gone
//     wrong) is published, but the changes stamped between the tenant's real
//     clock and that stamp are yet to come, so no mark may pass them,
//     whatever Lookback and FutureTolerance are. The newest stamp not ahead
//     of the local clock is one the tenant's clock has reached, so a mark
//     based on it is safe whichever of the two clocks runs ahead. A stamp
//     beyond now plus FutureTolerance is also counted and logged.
//   - A crowded millisecond is read until a short page, never to a
//     total_count the rows contradict; such a poll is not complete.
//   - A page the client cannot decode (deeply nested JSON, say) is read
//     again one incident at a time: the unreadable incident is reported and
//     skipped, its healthy neighbours are taken.
//   - A version is emitted when its modification_time is newer than the last
//     one emitted for that incident, so the lookback overlap and restarts
//     (seeded from the committed state) repeat nothing already acknowledged.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Lister is the part of the XDR client the source uses.
type Lister interface {
	GetIncidents(ctx context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error)
}

// Handler receives each new incident version, in poll order. It must register
// the version for acknowledgement tracking before it returns. An error stops
// the source. ctx carries the poll's span (see WithTracerProvider): records
// produced with it join the poll's trace.
type Handler func(ctx context.Context, inc xdr.Incident) error

// Config tunes the source. Zero values take the defaults shown.
type Config struct {
	PollInterval     time.Duration // between poll starts; default 30s
	Lookback         time.Duration // how late a change may become visible; default 2m
	Filters          []xdr.Filter  // extra server-side filters, ANDed
	PageSize         int           // incidents per request, 1..100; default 100
	MaxBucketRescans int           // re-reads of one crowded millisecond per poll; default 5
	MaxRetries       int           // retries of a failed page within one poll; default 3
	// FutureTolerance is how far ahead of the local clock an incident's
	// modification_time may lie before it is counted and logged as stamped
	// in the future; default 30s. It never moves the mark: no stamp ahead
	// of the local clock does (see Poll).
	FutureTolerance time.Duration
	// MaxRetryAfter caps the wait a 429's Retry-After imposes on a page;
	// default xdr.DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
}

// Start is the committed state the source resumes from.
type Start struct {
	Watermark int64            // epoch ms
	Emitted   map[string]int64 // incident id -> newest emitted version
}

// PollResult describes one poll.
type PollResult struct {
	Pages      int
	Seen       int      // incidents returned, counting re-reads
	Emitted    int      // new versions handed to the Handler
	Restricted []string // restricted_incident_ids seen for the first time in this run
	MaxMTime   int64    // newest modification_time seen
	Newest     int64    // newest modification_time seen at or before Started (the local clock)
	Mark       int64    // Newest less the poll's duration: what a complete poll lets the watermark advance to
	Future     int      // incidents seen stamped beyond Started + FutureTolerance (published, never moving the mark)
	Clamped    bool     // the mark was held at the clock because of them
	Untrusted  int      // pages whose total_count was missing or contradicted their rows (the poll is then not complete)
	Dropped    int      // incidents without incident_id or modification_time, skipped
	Poisoned   int      // incidents the client could not decode, reported and skipped
	KeyEchoes  int      // echoes of the API key the client replaced by [REDACTED] in the replies (xdr.IncidentsReply.KeyEchoes)
	Complete   bool     // everything visible from the start was read
	Started    time.Time
	Duration   time.Duration
}

// Source polls one tenant. Run owns its goroutine; Poll may be called
// directly (tests, `connector check`), but not concurrently with Run.
type Source struct {
	cfg     Config
	api     Lister
	handle  Handler
	log     *slog.Logger
	now     func() time.Time
	onPoll  func(PollResult, error)
	newBack func() backoff.BackOff
	tracer  trace.Tracer

	polled     int64
	emitted    map[string]int64
	future     map[string][]int64 // incident id -> versions emitted while stamped ahead of the clock
	restricted map[string]struct{}
	limit      int64 // this poll's start, epoch ms: no mark beyond it, and a version beyond it is ahead of the clock
	tolerated  int64 // limit plus FutureTolerance: a version beyond it is counted as stamped in the future
}

// Option configures a Source.
type Option func(*Source)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.log = l } }

// WithClock sets the clock used for poll timing figures.
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// WithPollDone registers a callback run after every poll, from the source's
// goroutine; err is the poll's error, if any.
func WithPollDone(f func(PollResult, error)) Option { return func(s *Source) { s.onPoll = f } }

// WithBackoff sets the retry policy for failed pages (default exponential
// from 500ms).
func WithBackoff(f func() backoff.BackOff) Option { return func(s *Source) { s.newBack = f } }

// WithTracerProvider makes the Source trace each poll: a "poll" span, with a
// "get_incidents page" child span per page read (retries as events), whose
// context is the one the Handler receives. Default: no spans. A nil tp is
// ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Source) {
		if tp != nil {
			s.tracer = tp.Tracer(tracerName)
		}
	}
}

// tracerName is the instrumentation scope of the source's spans.
const tracerName = "github.com/soc-tools/xdr-kafka-connector/pkg/source"

// New validates cfg and returns a Source resuming from start.
func New(cfg Config, api Lister, start Start, h Handler, opts ...Option) (*Source, error) {
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.Lookback == 0 {
		cfg.Lookback = 2 * time.Minute
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = xdr.MaxPageSize
	}
	if cfg.MaxBucketRescans == 0 {
		cfg.MaxBucketRescans = 5
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.FutureTolerance == 0 {
		cfg.FutureTolerance = 30 * time.Second
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = xdr.DefaultMaxRetryAfter
	}
	switch {
	case cfg.PollInterval < 0, cfg.Lookback < 0:
		return nil, errors.New("source: poll interval and lookback must not be negative")
	case cfg.PageSize < 1 || cfg.PageSize > xdr.MaxPageSize:
		return nil, fmt.Errorf("source: page size must be 1..%d", xdr.MaxPageSize)
	case api == nil || h == nil:
		return nil, errors.New("source: an API client and a handler are required")
	}
	s := &Source{
		cfg: cfg, api: api, handle: h,
		log: slog.New(slog.DiscardHandler), now: time.Now,
		polled: start.Watermark, emitted: make(map[string]int64, len(start.Emitted)), future: map[string][]int64{},
		restricted: map[string]struct{}{},
		tracer:     noop.NewTracerProvider().Tracer(tracerName),
		newBack: func() backoff.BackOff {
			b := backoff.NewExponentialBackOff()
			b.InitialInterval = 500 * time.Millisecond
			b.MaxInterval = 10 * time.Second
			return b
		},
	}
	for _, o := range opts {
		o(s)
	}
	// A committed version stamped ahead of the clock must not hide the
	// incident's later (earlier-stamped) changes.
	limit := s.now().UnixMilli()
	for id, t := range start.Emitted {
		if t > limit {
			s.future[id] = []int64{t}
		} else {
			s.emitted[id] = t
		}
	}
	return s, nil
}

// Run polls at once and then every PollInterval until ctx is done (returning
// nil) or a poll fails with an error that retrying cannot fix, such as a
// rejected key (returning it). Transient failures are retried at the next
// interval: the watermark does not move past an incomplete poll.
func (s *Source) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		_, err := s.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if !xdr.Retryable(err) {
				return fmt.Errorf("polling incidents: %w", err)
			}
			s.log.Warn("poll failed; retrying at the next interval", "err", err)
		}
		t.Reset(max(0, s.cfg.PollInterval-time.Since(start)))
	}
}

// Poll reads every incident version visible since the watermark minus the
// lookback and hands the new ones to the Handler, inside a "poll" span that
// is a child of the span ctx carries, if any.
func (s *Source) Poll(ctx context.Context) (res PollResult, err error) {
	ctx, span := s.tracer.Start(ctx, "poll", trace.WithAttributes(attribute.Int64("xdr.polled_mark", s.polled),
		attribute.Int64("xdr.lookback_ms", s.cfg.Lookback.Milliseconds())))
	res.Started = s.now()
	defer func() {
		if span.IsRecording() {
			span.SetAttributes(
				attribute.Int("xdr.pages", res.Pages), attribute.Int("xdr.seen", res.Seen),
				attribute.Int("xdr.emitted", res.Emitted), attribute.Int("xdr.restricted", len(res.Restricted)),
				attribute.Bool("xdr.complete", res.Complete), attribute.Int64("xdr.max_modification_time", res.MaxMTime),
				attribute.Int64("xdr.mark", res.Mark))
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
		}
		span.End()
	}()
	s.limit = res.Started.UnixMilli()
	s.tolerated = s.limit + s.cfg.FutureTolerance.Milliseconds()
	defer func() {
		res.Duration = s.now().Sub(res.Started)
		if res.Future > 0 {
			res.Clamped = true
			s.log.WarnContext(ctx, "incidents are stamped in the future; published, but the watermark stays at the local clock",
				"future_incidents", res.Future, "newest_modification_time", res.MaxMTime, "tolerance", s.cfg.FutureTolerance)
		}
		if res.Newest > 0 {
			// Changes stamped between the tenant's clock and a stamp ahead
			// of it are yet to come: only what the clock has reached counts.
			res.Mark = res.Newest - res.Duration.Milliseconds()
		}
		if err == nil && res.Complete && res.Mark > s.polled {
			s.polled = res.Mark
		}
		if err == nil {
			s.prune()
		}
		if s.onPoll != nil {
			s.onPoll(res, err)
		}
	}()
	cursor := s.polled - s.cfg.Lookback.Milliseconds()
	if cursor < 0 {
		cursor = 0
	}
	res.Complete = true
	for {
		req := xdr.IncidentsRequest{
			Filters:  s.filters(xdr.ModifiedSince(cursor)),
			SearchTo: s.cfg.PageSize,
			Sort:     &xdr.Sort{Field: xdr.FieldModificationTime, Keyword: xdr.SortAsc},
		}
		page, err := s.fetch(ctx, &res, req)
		read := 0 // positions of the page consumed, readable or not
		if errors.Is(err, xdr.ErrMalformed) {
			page, read, err = s.readOneByOne(ctx, &res, req, err)
		}
		if err != nil {
			return res, err
		}
		if err := s.take(ctx, &res, page); err != nil {
			return res, err
		}
		n := max(len(page.Incidents), read)
		if n < s.cfg.PageSize || len(page.Incidents) == 0 {
			return res, nil
		}
		first, last := page.Incidents[0].ModificationTime, page.Incidents[len(page.Incidents)-1].ModificationTime
		switch {
		case first == last:
			// A whole page in one millisecond: read that millisecond alone.
			complete, err := s.scanMillisecond(ctx, &res, last)
			if err != nil {
				return res, err
			}
			res.Complete = res.Complete && complete
			cursor = last + 1
		case last > cursor:
			cursor = last
		default:
			// The reply is not ordered as asked; stop rather than loop.
			res.Complete = false
			s.log.WarnContext(ctx, "get_incidents returned a page out of order; the watermark will not advance this poll", "cursor", cursor, "last", last)
			return res, nil
		}
	}
}

// scanMillisecond reads every incident whose modification_time is exactly ms
// by offset paging, restarting when the set changes under it. It reports
// whether a read completed with a stable total_count.
func (s *Source) scanMillisecond(ctx context.Context, res *PollResult, ms int64) (bool, error) {
	filters := s.filters(
		xdr.ModifiedSince(ms),
		xdr.ModifiedUntil(ms),
	)
	for pass := 0; pass <= s.cfg.MaxBucketRescans; pass++ {
		total, stable, untrusted := -1, true, false
		for from := 0; ; from += s.cfg.PageSize {
			page, err := s.fetch(ctx, res, xdr.IncidentsRequest{
				Filters: filters, SearchFrom: from, SearchTo: from + s.cfg.PageSize,
				Sort: &xdr.Sort{Field: xdr.FieldIncidentID, Keyword: xdr.SortAsc},
			})
			if err != nil {
				return false, err
			}
			if err := s.take(ctx, res, page); err != nil {
				return false, err
			}
			// The scan ends on a short page. total_count only tells whether
			// the set changed under the scan, and only when it is there and
			// agrees with the rows.
			if page.TotalCountMissing || page.TotalCount < from+len(page.Incidents) {
				untrusted = true
			}
			if total >= 0 && page.TotalCount != total {
				stable = false
			}
			total = page.TotalCount
			if len(page.Incidents) < s.cfg.PageSize {
				break
			}
		}
		if untrusted {
			res.Untrusted++
			s.log.WarnContext(ctx, "get_incidents gave a total_count that is missing or contradicts the rows of a crowded millisecond; it was read to its end, but the watermark will not advance this poll",
				"modification_time", ms, "total_count", total)
			return false, nil
		}
		if stable {
			return true, nil
		}
		s.log.DebugContext(ctx, "incidents changed while one millisecond was being read; reading it again", "modification_time", ms, "pass", pass+1)
	}
	s.log.WarnContext(ctx, "one millisecond kept changing while being read; the watermark will not advance this poll", "modification_time", ms)
	return false, nil
}

// readOneByOne reads the page req asked for one incident at a time, after
// the client could not decode it whole (cause). An incident that cannot be
// decoded alone is reported and skipped, so one poison incident cannot stall
// the source or cost its neighbours. It returns the readable incidents and
// how many positions it consumed. When no single read succeeds at all, the
// fault is not one incident's: the poll fails with cause.
func (s *Source) readOneByOne(ctx context.Context, res *PollResult, req xdr.IncidentsRequest, cause error) (*xdr.IncidentsReply, int, error) {
	out := &xdr.IncidentsReply{}
	var poisoned []int
	ok := false
	read := 0
	for i := req.SearchFrom; i < req.SearchTo; i++ {
		one := req
		one.SearchFrom, one.SearchTo = i, i+1
		page, err := s.fetch(ctx, res, one)
		if errors.Is(err, xdr.ErrMalformed) {
			poisoned = append(poisoned, i)
			read++
			if !ok && len(poisoned) >= maxPoisonRun {
				break // nothing decodes: not one incident's fault
			}
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		ok = true
		out.RestrictedIDs = append(out.RestrictedIDs, page.RestrictedIDs...)
		if len(page.Incidents) == 0 {
			break
		}
		out.Incidents = append(out.Incidents, page.Incidents...)
		read++
	}
	if !ok {
		return nil, 0, fmt.Errorf("reading a page one incident at a time after it could not be decoded: %w", cause)
	}
	for _, i := range poisoned {
		res.Poisoned++
		s.log.ErrorContext(ctx, "get_incidents returned an incident that cannot be decoded; skipping it (its neighbours are published)",
			"offset", i, "filters_from_modification_time", fromTime(req), "err", cause)
	}
	out.TotalCount, out.ResultCount = len(out.Incidents), len(out.Incidents)
	return out, read, nil
}

// maxPoisonRun is how many undecodable single reads, with no good one
// before them, make readOneByOne give up on the page as a whole.
const maxPoisonRun = 3

// fromTime is the modification_time lower bound of req, for logs.
func fromTime(req xdr.IncidentsRequest) int64 {
	for _, f := range req.Filters {
		if v, ok := f.Value.(int64); ok && f.Field == xdr.FieldModificationTime && f.Operator == xdr.OpGTE {
			return v
		}
	}
	return 0
}

func (s *Source) fetch(ctx context.Context, res *PollResult, req xdr.IncidentsRequest) (_ *xdr.IncidentsReply, err error) {
	ctx, span := s.tracer.Start(ctx, "get_incidents page", trace.WithAttributes(pageAttrs(res.Pages+1, req)...))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	ra := &retryAfter{b: s.newBack(), limit: s.cfg.MaxRetryAfter}
	b := backoff.WithContext(backoff.WithMaxRetries(ra, uint64(s.cfg.MaxRetries)), ctx)
	var reply *xdr.IncidentsReply
	err = backoff.RetryNotify(func() error {
		r, err := s.api.GetIncidents(ctx, req)
		ra.last = err
		if err != nil {
			if !xdr.Retryable(err) {
				return backoff.Permanent(err)
			}
			return err
		}
		reply = r
		return nil
	}, b, func(err error, d time.Duration) {
		if ra.capped {
			asked, _ := xdr.RetryAfter(err)
			s.log.WarnContext(ctx, "a 429 asked for a pause longer than XDR_MAX_RETRY_AFTER; waiting for the cap instead", "retry_after", asked, "wait", d)
		}
		span.AddEvent("retry", trace.WithAttributes(attribute.String("error", err.Error()), attribute.Int64("backoff_ms", d.Milliseconds())))
		s.log.DebugContext(ctx, "get_incidents failed; retrying", "err", err, "in", d)
	})
	if err != nil {
		return nil, fmt.Errorf("fetching incidents page: %w", err)
	}
	res.Pages++
	if reply.KeyEchoes > 0 {
		res.KeyEchoes += reply.KeyEchoes
		s.log.WarnContext(ctx, "get_incidents echoed the API key into its reply (a proxy or the tenant copying request headers into data?); it was replaced by [REDACTED] before anything was published",
			"echoes", reply.KeyEchoes, "filters_from_modification_time", fromTime(req))
	}
	span.SetAttributes(attribute.Int("xdr.result_count", len(reply.Incidents)), attribute.Int("xdr.total_count", reply.TotalCount),
		attribute.Int("xdr.restricted_count", len(reply.RestrictedIDs)))
	return reply, nil
}

// retryAfter is the page retry policy: the backoff's next interval, or the
// server's Retry-After (xdr.RetryWait, capped at limit) when the last error
// carries a longer one.
type retryAfter struct {
	b      backoff.BackOff
	limit  time.Duration
	last   error // the error of the attempt just made
	capped bool  // the last NextBackOff cut a Retry-After to limit
}

func (r *retryAfter) NextBackOff() time.Duration {
	d := r.b.NextBackOff()
	if d == backoff.Stop {
		return d
	}
	wait, capped := xdr.RetryWait(r.last, d, r.limit)
	r.capped = capped
	return max(d, wait)
}

func (r *retryAfter) Reset() { r.b.Reset() }

// pageAttrs describes a page request for its span: the page's number in the
// poll, its offsets, sort, and time bounds (never the other filters' values).
func pageAttrs(page int, req xdr.IncidentsRequest) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.Int("xdr.page", page),
		attribute.Int("xdr.search_from", req.SearchFrom), attribute.Int("xdr.search_to", req.SearchTo)}
	if req.Sort != nil {
		attrs = append(attrs, attribute.String("xdr.sort", req.Sort.Field+" "+req.Sort.Keyword))
	}
	for _, f := range req.Filters {
		if v, ok := f.Value.(int64); ok && f.Field == xdr.FieldModificationTime {
			attrs = append(attrs, attribute.Int64("xdr.modification_time."+f.Operator, v))
		}
	}
	return attrs
}

func (s *Source) take(ctx context.Context, res *PollResult, page *xdr.IncidentsReply) error {
	for _, id := range page.RestrictedIDs {
		if _, seen := s.restricted[id]; !seen && len(s.restricted) < 100_000 {
			s.restricted[id] = struct{}{}
			res.Restricted = append(res.Restricted, id)
		}
	}
	for _, inc := range page.Incidents {
		res.Seen++
		if inc.ModificationTime > res.MaxMTime {
			res.MaxMTime = inc.ModificationTime
		}
		if inc.ModificationTime > res.Newest && inc.ModificationTime <= s.limit {
			res.Newest = inc.ModificationTime
		}
		if inc.ID == "" || inc.ModificationTime <= 0 {
			res.Dropped++
			s.log.WarnContext(ctx, "get_incidents returned an incident without incident_id or modification_time; it has no version to publish, skipping it",
				"incident_id", inc.ID, "modification_time", inc.ModificationTime)
			continue
		}
		if inc.ModificationTime > s.tolerated {
			res.Future++
		}
		if f, ok := s.future[inc.ID]; ok {
			// A version other than those stamped ahead of the clock is new
			// whatever its stamp: they were out of order by nature, so "not
			// newer than the last one" proves nothing.
			if slices.Contains(f, inc.ModificationTime) || inc.ModificationTime == s.emitted[inc.ID] {
				continue
			}
		} else if inc.ModificationTime <= s.emitted[inc.ID] {
			continue
		}
		if err := s.handle(ctx, inc); err != nil {
			return err
		}
		s.remember(inc)
		res.Emitted++
	}
	return nil
}

// remember records an emitted version: in future while it is stamped ahead
// of the clock (its incident's next version may carry an older stamp), in
// emitted otherwise.
func (s *Source) remember(inc xdr.Incident) {
	if inc.ModificationTime > s.limit {
		s.future[inc.ID] = append(s.future[inc.ID], inc.ModificationTime)
		return
	}
	s.emitted[inc.ID] = max(s.emitted[inc.ID], inc.ModificationTime)
}

// prune forgets versions that no poll can return any more. A version
// stamped ahead of the clock stays in future until then, even once the clock
// has passed it: a tenant whose clock runs behind ours may still stamp the
// incident's next change before it.
func (s *Source) prune() {
	floor := s.polled - s.cfg.Lookback.Milliseconds()
	for id, t := range s.emitted {
		if t < floor {
			delete(s.emitted, id)
		}
	}
	for id, ts := range s.future {
		if ts = slices.DeleteFunc(ts, func(t int64) bool { return t < floor }); len(ts) == 0 {
			delete(s.future, id)
		} else {
			s.future[id] = ts
		}
	}
}

func (s *Source) filters(time ...xdr.Filter) []xdr.Filter {
	out := make([]xdr.Filter, 0, len(time)+len(s.cfg.Filters))
	out = append(out, time...)
	return append(out, s.cfg.Filters...)
}

// Watermark returns the mark of the latest complete poll (see PollResult.Mark).
func (s *Source) Watermark() int64 { return s.polled }
