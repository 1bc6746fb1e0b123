package enrich

import (
	"context"
	"encoding/hex"
	"math"
	"sync"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Severity ranks, highest first in the queue.
const (
	sevUnknown uint8 = iota
	sevLow
	sevMedium
	sevHigh
	sevCritical
)

var severityNames = [...]string{sevUnknown: "unknown", sevLow: "low", sevMedium: "medium", sevHigh: "high", sevCritical: "critical"}

// severityRank ranks a severity as xdr.Severity reads it, so "SEV_040_HIGH"
// ranks as high, as the output profiles map it; words other than low,
// medium, high and critical rank as unknown.
func severityRank(s string) uint8 {
	s = xdr.Severity(s)
	for r := sevCritical; r > sevUnknown; r-- {
		if s == severityNames[r] {
			return r
		}
	}
	return sevUnknown
}

// traceParent is a W3C traceparent header held in 27 bytes instead of a
// 55-byte string. A zero value (ok false) means none.
type traceParent struct {
	traceID [16]byte
	spanID  [8]byte
	version byte
	flags   byte
	ok      bool
}

// parseTraceParent accepts "vv-<32 hex>-<16 hex>-ff" in lower-case hex, as the
// W3C Trace Context spec requires; for versions above 00 it ignores what
// follows the fourth field. Invalid headers yield the zero value: a receiver
// must ignore an invalid traceparent anyway.
func parseTraceParent(s string) traceParent {
	var tp traceParent
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return traceParent{}
	}
	if !isLowerHex(s[:2]) || !isLowerHex(s[3:35]) || !isLowerHex(s[36:52]) || !isLowerHex(s[53:55]) {
		return traceParent{}
	}
	var v [1]byte
	_, _ = hex.Decode(v[:], []byte(s[:2]))
	if v[0] == 0xff || (v[0] == 0 && len(s) != 55) || (len(s) > 55 && s[55] != '-') {
		return traceParent{}
	}
	_, _ = hex.Decode(tp.traceID[:], []byte(s[3:35]))
	_, _ = hex.Decode(tp.spanID[:], []byte(s[36:52]))
	var f [1]byte
	_, _ = hex.Decode(f[:], []byte(s[53:55]))
	if tp.traceID == [16]byte{} || tp.spanID == [8]byte{} {
		return traceParent{}
	}
	tp.version, tp.flags, tp.ok = v[0], f[0], true
	return tp
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (tp traceParent) String() string {
	if !tp.ok {
		return ""
	}
	b := make([]byte, 0, 55)
	b = hex.AppendEncode(b, []byte{tp.version})
	b = append(b, '-')
	b = hex.AppendEncode(b, tp.traceID[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, tp.spanID[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, []byte{tp.flags})
	return string(b)
}

// entry is an offsets.Pending as the queue stores it (64 bytes plus the id's bytes).
type entry struct {
	id     string
	mod    int64
	first  int64
	tp     traceParent
	sev    uint8
	alerts int32 // AlertCount, at most math.MaxInt32
}

func entryOf(it offsets.Pending) entry {
	return entry{id: it.IncidentID, mod: it.ModificationTime, first: it.FirstQueued, tp: parseTraceParent(it.TraceParent), sev: severityRank(it.Severity),
		alerts: int32(min(max(it.AlertCount, 0), math.MaxInt32))}
}

func (e entry) item() offsets.Pending {
	return offsets.Pending{IncidentID: e.id, ModificationTime: e.mod, Severity: severityNames[e.sev], FirstQueued: e.first, TraceParent: e.tp.String(),
		AlertCount: int(e.alerts)}
}

// merge folds a newer push for the same incident into e by the one merge
// rule of an owed enrichment, offsets.Pending.Merge.
func (e *entry) merge(it offsets.Pending) {
	*e = entryOf(e.item().Merge(it))
}

// before reports whether a is served before b: higher severity, then older
// FirstQueued, then smaller id.
func before(a, b *entry) bool {
	if a.sev != b.sev {
		return a.sev > b.sev
	}
	if a.first != b.first {
		return a.first < b.first
	}
	return a.id < b.id
}

// Queue holds the pending enrichments, one per incident, in service order:
// severity (critical > high > medium > low > unknown), then age (FirstQueued
// ascending), then incident id.
//
// Pushing an incident already queued updates it in place (see Push). An
// incident handed out by Pop is in flight until Done (or Retry) is called for
// it; a push for it meanwhile is held back and becomes poppable at Done, so
// one incident is never fetched by two workers at once and a newer version is
// always fetched after the one in flight.
//
// An enrichment that failed goes back with Retry and a not-before time: it
// waits, still queued and still merging later pushes, and becomes poppable at
// that time in its old place in the order. The worker that failed it takes
// the next incident meanwhile.
//
// The queue holds at most one entry per incident, whatever the state (ready,
// held back, or waiting for a retry), so its size is bounded by the number of
// incidents owed. A Queue is safe for concurrent use. The zero value is not
// usable; use NewQueue. It reads the time package's clock.
type Queue struct {
	mu       sync.Mutex
	heap     []entry
	pos      map[string]int32 // incident id -> index in heap
	inflight map[string]struct{}
	parked   map[string]entry // pushed while in flight
	delayed  map[string]entry // waiting for a retry's not-before time
	due      []dueAt          // the delayed entries' times, a min-heap
	ready    chan struct{}    // closed on the next push; nil when nobody waits
}

// dueAt is when a delayed incident becomes poppable (Unix ns).
type dueAt struct {
	at int64
	id string
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{pos: make(map[string]int32), inflight: make(map[string]struct{}), parked: make(map[string]entry),
		delayed: make(map[string]entry)}
}

// Push adds an enrichment or merges it (offsets.Pending.Merge) into the one
// queued for the same incident. It never blocks.
func (q *Queue) Push(it offsets.Pending) {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := it.IncidentID
	if _, busy := q.inflight[id]; busy {
		if e, ok := q.parked[id]; ok {
			e.merge(it)
			q.parked[id] = e
		} else {
			q.parked[id] = entryOf(it)
		}
		return
	}
	if e, ok := q.delayed[id]; ok {
		e.merge(it)
		q.delayed[id] = e
		return
	}
	if i, ok := q.pos[id]; ok {
		q.heap[i].merge(it)
		q.fix(int(i))
		return
	}
	q.add(entryOf(it))
}

// add inserts a new entry and wakes waiting Pops. q.mu must be held.
func (q *Queue) add(e entry) {
	q.heap = append(q.heap, e)
	i := len(q.heap) - 1
	q.pos[e.id] = int32(i)
	q.up(i)
	q.wake()
}

// wake wakes the waiting Pops, to pop or to wait for an earlier time. q.mu
// must be held.
func (q *Queue) wake() {
	if q.ready != nil {
		close(q.ready)
		q.ready = nil
	}
}

// Retry ends the in-flight period of it, an enrichment handed out by Pop
// that failed, and queues it again, to become poppable at notBefore (at once
// if that is not in the future). A push held back meanwhile is merged into it
// (offsets.Pending.Merge), and so are pushes while it waits; it keeps its
// place in the service order. It never blocks.
func (q *Queue) Retry(it offsets.Pending, notBefore time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := it.IncidentID
	delete(q.inflight, id)
	e := entryOf(it)
	if p, ok := q.parked[id]; ok {
		delete(q.parked, id)
		e.merge(p.item())
	}
	if !notBefore.After(time.Now()) {
		q.add(e)
		return
	}
	q.delayed[id] = e
	heapPush(&q.due, dueAt{at: notBefore.UnixNano(), id: id})
	q.wake()
}

// promote moves the delayed entries due at now into the heap, and returns
// the time the next one is due (zero when none waits). q.mu must be held.
func (q *Queue) promote(now time.Time) time.Time {
	for len(q.due) > 0 {
		d := q.due[0]
		if d.at > now.UnixNano() {
			return time.Unix(0, d.at)
		}
		heapPop(&q.due)
		if e, ok := q.delayed[d.id]; ok {
			delete(q.delayed, d.id)
			q.add(e)
		}
	}
	return time.Time{}
}

// Pop removes and returns the first enrichment in service order among those
// poppable now, marking its incident in flight until Done or Retry. It blocks
// until there is one or ctx is done, in which case it returns ctx.Err().
func (q *Queue) Pop(ctx context.Context) (offsets.Pending, error) {
	it, _, err := q.PopIf(ctx, nil)
	return it, err
}

// PopIf waits as Pop does until an enrichment is poppable, then pops the
// first in service order, as Pop does, if take reports true for it (a nil
// take takes any) and reports popped; otherwise it leaves the queue as it is
// and reports popped false: an enrichment is poppable now, and it is not one
// take wants. take is called with the queue locked and must not call the
// queue.
func (q *Queue) PopIf(ctx context.Context, take func(it offsets.Pending) bool) (it offsets.Pending, popped bool, err error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		next := q.promote(time.Now())
		if len(q.heap) > 0 {
			it := q.heap[0].item()
			if take != nil && !take(it) {
				q.mu.Unlock()
				return offsets.Pending{}, false, nil
			}
			e := q.popTop()
			q.inflight[e.id] = struct{}{}
			q.mu.Unlock()
			return it, true, nil
		}
		if q.ready == nil {
			q.ready = make(chan struct{})
		}
		ready := q.ready
		q.mu.Unlock()
		var due <-chan time.Time
		if !next.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(next))
			} else {
				timer.Reset(time.Until(next))
			}
			due = timer.C
		}
		select {
		case <-ready:
		case <-due:
		case <-ctx.Done():
			return offsets.Pending{}, false, ctx.Err()
		}
	}
}

// TryPopIf is PopIf without the wait: popped is false when no enrichment is
// poppable now, too. next is then when the next enrichment waiting for its
// retry's not-before time becomes poppable (zero when none waits).
func (q *Queue) TryPopIf(take func(it offsets.Pending) bool) (it offsets.Pending, popped bool, next time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	next = q.promote(time.Now())
	if len(q.heap) == 0 {
		return offsets.Pending{}, false, next
	}
	if it = q.heap[0].item(); take != nil && !take(it) {
		return offsets.Pending{}, false, next
	}
	e := q.popTop()
	q.inflight[e.id] = struct{}{}
	return it, true, time.Time{}
}

// Changed returns a channel closed when an enrichment is next pushed or
// queued again (not when a retry's not-before time comes: see TryPopIf).
func (q *Queue) Changed() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ready == nil {
		q.ready = make(chan struct{})
	}
	return q.ready
}

// Done ends the in-flight period of an incident handed out by Pop, whether
// its enrichment succeeded, failed or was abandoned. A push held back
// meanwhile becomes poppable.
func (q *Queue) Done(incidentID string) { q.DoneThrough(incidentID, math.MinInt64) }

// DoneThrough is Done for a fetch that returned the incident as of version
// covered (epoch ms): a push held back meanwhile for a version that is not
// newer is dropped, since the fetch already covers it.
func (q *Queue) DoneThrough(incidentID string, covered int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inflight, incidentID)
	if e, ok := q.parked[incidentID]; ok {
		delete(q.parked, incidentID)
		if e.mod > covered {
			q.add(e)
		}
	}
}

// Len returns the number of incidents waiting: poppable ones, those held
// back behind an in-flight fetch of the same incident, and those waiting for
// a retry (see Delayed).
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.heap) + len(q.parked) + len(q.delayed)
}

// Delayed returns the number of incidents waiting for a retry's not-before
// time (counted in Len too).
func (q *Queue) Delayed() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.delayed)
}

// InFlight returns the number of incidents popped and not yet Done.
func (q *Queue) InFlight() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.inflight)
}

func (q *Queue) swap(i, j int) {
	q.heap[i], q.heap[j] = q.heap[j], q.heap[i]
	q.pos[q.heap[i].id] = int32(i)
	q.pos[q.heap[j].id] = int32(j)
}

func (q *Queue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !before(&q.heap[i], &q.heap[p]) {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *Queue) down(i int) {
	n := len(q.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && before(&q.heap[r], &q.heap[l]) {
			c = r
		}
		if !before(&q.heap[c], &q.heap[i]) {
			return
		}
		q.swap(i, c)
		i = c
	}
}

// popTop removes the heap's first entry, which must exist, and returns it;
// q.mu is held.
func (q *Queue) popTop() entry {
	e := q.heap[0]
	last := len(q.heap) - 1
	q.swap(0, last)
	q.heap[last] = entry{}
	q.heap = q.heap[:last]
	delete(q.pos, e.id)
	if last > 0 {
		q.down(0)
	}
	return e
}

// fix restores heap order after the entry at i changed priority, either way.
func (q *Queue) fix(i int) {
	id := q.heap[i].id
	q.up(i)
	q.down(int(q.pos[id]))
}

// heapPush and heapPop keep due ordered by time, earliest first.
func heapPush(h *[]dueAt, d dueAt) {
	*h = append(*h, d)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p].at <= s[i].at {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func heapPop(h *[]dueAt) {
	s := *h
	last := len(s) - 1
	s[0] = s[last]
	s[last] = dueAt{}
	s = s[:last]
	for i := 0; ; {
		l, c := 2*i+1, i
		if l < len(s) && s[l].at < s[c].at {
			c = l
		}
		if r := l + 1; r < len(s) && s[r].at < s[c].at {
			c = r
		}
		if c == i {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
}

// PopReady is Pop for up to n more enrichments poppable now, without
// waiting: it returns them in service order, skipping (and leaving queued)
// those for which skip reports true, each marked in flight like Pop's. It
// returns nil when none is ready. skip is called with the queue locked and
// must not call the queue.
func (q *Queue) PopReady(n int, skip func(it offsets.Pending) bool) []offsets.Pending {
	if n <= 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.promote(time.Now())
	var out []offsets.Pending
	var skipped []entry
	for len(out) < n && len(q.heap) > 0 {
		e := q.popTop()
		it := e.item()
		if skip != nil && skip(it) {
			skipped = append(skipped, e)
			continue
		}
		q.inflight[e.id] = struct{}{}
		out = append(out, it)
	}
	for _, e := range skipped {
		q.heap = append(q.heap, e)
		i := len(q.heap) - 1
		q.pos[e.id] = int32(i)
		q.up(i)
	}
	return out
}
