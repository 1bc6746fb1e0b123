// Package offsets keeps what must survive a restart — the watermark, the
// incident versions already emitted inside the lookback window, and the
// enrichments still owed — and stores it in a compacted Kafka topic.
//
// The watermark rule lives here, in Tracker, and nowhere else:
//
//	watermark = min(polled, oldest incident version emitted but not yet acknowledged)
//
// where polled is the highest mark of a poll that read everything it asked
// for (its newest modification_time less its duration; see package source). A restart polls from watermark - lookback, so every
// version Kafka has not acknowledged is read again; versions it has are in the
// emitted set and are not emitted twice.
package offsets

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// State is what a restart resumes from.
type State struct {
	Watermark int64              // epoch ms; polls start at Watermark - lookback
	Emitted   map[string]int64   // incident id -> newest acknowledged version within the lookback window
	Enriched  map[string]int64   // incident id -> newest version an acknowledged enrichment covered, within the lookback window
	Pending   map[string]Pending // incident id -> enrichment owed

	// Clean is set when the previous process stopped gracefully; RateLog then
	// holds the stamps (epoch ms) of its extra-data calls that still counted
	// against the rate window. After a crash the calls made since the last
	// commit are unknown.
	Clean   bool
	RateLog []int64
	// BulkRateLog is RateLog for the bulk extra-data endpoint
	// (get_multiple_incidents_extra_data); empty in state written before it.
	BulkRateLog []int64
	// BulkFallbackAt is when the run that wrote the state fell back from
	// bulk enrichment to single calls (ENRICH_BULK=auto, a tenant that does
	// not serve get_multiple_incidents_extra_data), epoch ms; 0 when it did
	// not, and in state written before it was recorded. A restart does not
	// inherit it: a new run tries the bulk endpoint again.
	BulkFallbackAt int64
	// CommittedAt is when the state record was written, epoch ms.
	CommittedAt int64
	// Redrives are the redrive requests of `connector redrive`, by incident
	// id: those with AppliedAt 0 wait for the next start, which owes them
	// (NewTracker); the others are the ledger of what was redriven.
	Redrives map[string]RedriveValue

	hasState bool // Load saw a live state record
}

type version struct {
	id string
	t  int64
}

// Tracker follows every emitted version until Kafka acknowledges it and every
// owed enrichment until it is done, and derives the state that may be
// committed. It is safe for concurrent use.
type Tracker struct {
	lookback int64 // ms
	ahead    int64 // ms: how far ahead of the clock a covered version still proves older ones covered (FutureTolerance)

	mu       sync.Mutex
	polled   int64
	inflight map[version]int
	acked    map[string]int64
	covered  map[string]int64 // incident id -> version an acknowledged enrichment covered
	covering map[string]int64 // incident id -> version an enrichment handed to Kafka covers, until acknowledged
	pending  map[string]Pending
	dirty    map[string]struct{}     // pending ids changed since the last Snapshot
	marks    map[string]struct{}     // ids whose acked or covered version changed (or was forgotten) since then
	redriven map[string]RedriveValue // redrive requests owed at start, to be written back applied
}

// NewTracker starts from a loaded (or initial) state. lookbackMillis bounds
// how long an acknowledged version is remembered below the watermark.
//
// Every redrive request of s not yet applied becomes an owed enrichment
// (merged with one already owed), even for a version an enrichment covered
// — that it was dead-lettered is why it is asked for — and the next
// Snapshot writes the merged pending record, then the request marked applied.
func NewTracker(s State, lookbackMillis int64) *Tracker {
	t := &Tracker{
		lookback: lookbackMillis,
		ahead:    DefaultFutureTolerance.Milliseconds(),
		polled:   s.Watermark,
		inflight: make(map[version]int),
		acked:    make(map[string]int64, len(s.Emitted)),
		covered:  make(map[string]int64, len(s.Enriched)),
		covering: make(map[string]int64),
		pending:  make(map[string]Pending, len(s.Pending)),
		dirty:    make(map[string]struct{}),
		marks:    make(map[string]struct{}),
		redriven: make(map[string]RedriveValue),
	}
	maps.Copy(t.acked, s.Emitted)
	maps.Copy(t.covered, s.Enriched)
	maps.Copy(t.pending, s.Pending)
	for id, r := range s.Redrives {
		if r.AppliedAt != 0 {
			continue
		}
		p := Pending{IncidentID: id, ModificationTime: r.ModificationTime, FirstQueued: r.RequestedAt}
		if old, ok := t.pending[id]; ok {
			p = old.Merge(p)
		}
		t.pending[id] = p
		t.dirty[id] = struct{}{}
		t.redriven[id] = r
	}
	return t
}

// Redriving returns, sorted, the incidents whose redrive requests this
// start applies (those NewTracker turned into owed enrichments), until the
// Snapshot that writes them back applied; nil when there are none.
func (t *Tracker) Redriving() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.redriven) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(t.redriven))
}

// DefaultFutureTolerance is how far ahead of the clock an incident's stamp
// may lie before it is taken for a clock gone wrong (see source.Config's
// FutureTolerance, which defaults to it).
const DefaultFutureTolerance = 30 * time.Second

// SetFutureTolerance sets how far ahead of the clock a covered version may
// lie and still prove older versions covered (default
// DefaultFutureTolerance). Call it before the tracker is shared.
func (t *Tracker) SetFutureTolerance(d time.Duration) { t.ahead = d.Milliseconds() }

// Emitted registers a version whose records were handed to the producer. It
// must be called before the poll that read it is reported with Polled.
func (t *Tracker) Emitted(id string, mtime int64) {
	t.mu.Lock()
	t.inflight[version{id, mtime}]++
	t.mu.Unlock()
}

// Acked records that Kafka acknowledged the records of a version.
func (t *Tracker) Acked(id string, mtime int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := version{id, mtime}
	if n := t.inflight[k]; n > 1 {
		t.inflight[k] = n - 1
	} else {
		delete(t.inflight, k)
	}
	if mtime > t.acked[id] {
		t.acked[id] = mtime
		t.marks[id] = struct{}{}
	}
}

// Polled reports the mark of a poll that read every version visible when it
// started. Only complete polls may move the watermark.
func (t *Tracker) Polled(maxMTime int64) {
	t.mu.Lock()
	if maxMTime > t.polled {
		t.polled = maxMTime
	}
	t.mu.Unlock()
}

// Owe records that an incident needs enrichment for version
// p.ModificationTime, merging with what is owed. It reports whether that
// raised what is owed: false means an enrichment already done, or owed, for
// this version or a newer one covers it (a reply can show a version before
// the poll that emits it), so the incident need not be queued again. A
// covered version stamped more than the future tolerance ahead of
// p.FirstQueued (the clock when the version was seen) proves nothing: the
// incident's next real change carries an older stamp than it.
func (t *Tracker) Owe(p Pending) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := max(t.covered[p.IncidentID], t.covering[p.IncidentID]); c >= p.ModificationTime && (p.FirstQueued == 0 || c <= p.FirstQueued+t.ahead) {
		return false
	}
	old, ok := t.pending[p.IncidentID]
	if ok && old.ModificationTime >= p.ModificationTime {
		return false
	}
	if ok {
		p = old.Merge(p)
	}
	t.pending[p.IncidentID] = p
	t.dirty[p.IncidentID] = struct{}{}
	return true
}

// Covering records that an enrichment showing id as of version mtime was
// handed to the producer: until it is settled, a poll that now emits that
// version does not ask for it again. If the enrichment never reaches Kafka,
// the process stops (at-least-once: the failed produce is fatal; exactly-once:
// the failed transaction is), and the next run starts from committed state.
func (t *Tracker) Covering(id string, mtime int64) {
	t.mu.Lock()
	if mtime > t.covering[id] {
		t.covering[id] = mtime
	}
	t.mu.Unlock()
}

// Settled records that the enrichment of id for versions up to mtime reached
// Kafka (as records or as a DLQ entry). A newer version still owed stays.
func (t *Tracker) Settled(id string, mtime int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if mtime > t.covered[id] {
		t.covered[id] = mtime
		t.marks[id] = struct{}{}
	}
	if t.covering[id] <= mtime {
		delete(t.covering, id)
	}
	if p, ok := t.pending[id]; ok && p.ModificationTime <= mtime {
		delete(t.pending, id)
		t.dirty[id] = struct{}{}
	}
}

// Delta is what a commit writes: the pending entries and version marks
// changed since the last snapshot (a nil value deletes one), then the state
// record. Only changes are written, so a commit stays small however many
// incidents a first poll reads.
type Delta struct {
	Pending   map[string]*Pending
	Marks     map[string]*Mark
	Watermark int64
	Clean     bool    // set only by the final commit of a graceful shutdown
	RateLog   []int64 // with Clean: the limiter's history, epoch ms
	// BulkRateLog is, with Clean, the bulk limiter's history, epoch ms.
	BulkRateLog []int64
	// BulkFallbackAt is when the committing run fell back from bulk
	// enrichment to single calls, epoch ms (Snapshot leaves it to the
	// caller, which knows the enricher); 0, and absent from the state
	// record, when it did not.
	BulkFallbackAt int64
	// Redriven are the redrive requests this start owes, to be written
	// back with AppliedAt set (by the Store, when 0), after Pending.
	Redriven map[string]RedriveValue
}

// Mark is what the offsets remember of one incident inside the lookback
// window: the newest version Kafka acknowledged, and the newest version an
// acknowledged enrichment covered (0 when none).
type Mark struct {
	Emitted  int64 `json:"emitted"`
	Enriched int64 `json:"enriched,omitempty"`
}

// Snapshot derives the committable state and the changes since the previous
// Snapshot, atomically. Versions that fell below the lookback window are
// forgotten (and deleted from the offsets). If writing the delta fails, call
// Unsnapshot so the changes are written next time.
func (t *Tracker) Snapshot() Delta {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.watermark()
	d := Delta{Watermark: w, Pending: make(map[string]*Pending, len(t.dirty)), Marks: make(map[string]*Mark, len(t.marks))}
	floor := w - t.lookback
	for id, m := range t.acked {
		if m < floor {
			delete(t.acked, id) // no poll can return this version again
			t.marks[id] = struct{}{}
		}
	}
	for id, m := range t.covered {
		if m < floor {
			delete(t.covered, id) // no poll can emit a version this old again
			t.marks[id] = struct{}{}
		}
	}
	for id := range t.marks {
		e, c := t.acked[id], t.covered[id]
		if e == 0 && c == 0 {
			d.Marks[id] = nil
		} else {
			d.Marks[id] = &Mark{Emitted: e, Enriched: c}
		}
	}
	clear(t.marks)
	for id := range t.dirty {
		if p, ok := t.pending[id]; ok {
			d.Pending[id] = &p
		} else {
			d.Pending[id] = nil
		}
	}
	clear(t.dirty)
	if len(t.redriven) > 0 {
		d.Redriven = t.redriven
		t.redriven = make(map[string]RedriveValue)
	}
	return d
}

// Unsnapshot marks the pending changes of a delta that could not be written
// as dirty again.
func (t *Tracker) Unsnapshot(d Delta) {
	t.mu.Lock()
	for id := range d.Pending {
		t.dirty[id] = struct{}{}
	}
	for id := range d.Marks {
		t.marks[id] = struct{}{}
	}
	for id, r := range d.Redriven {
		if _, ok := t.redriven[id]; !ok {
			t.redriven[id] = r
		}
	}
	t.mu.Unlock()
}

// watermark applies the rule of the package comment. t.mu must be held.
func (t *Tracker) watermark() int64 {
	w := t.polled
	for v := range t.inflight {
		w = min(w, v.t)
	}
	return w
}

// Stats is a point-in-time view for progress displays and metrics.
type Stats struct {
	Watermark int64
	Polled    int64
	InFlight  int
	Pending   int
}

// Stats returns the current figures.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.watermark()
	return Stats{Watermark: w, Polled: t.polled, InFlight: len(t.inflight), Pending: len(t.pending)}
}

// PendingList returns a copy of every owed enrichment (used at start-up to
// queue them again).
func (t *Tracker) PendingList() []Pending {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Pending, 0, len(t.pending))
	for _, p := range t.pending {
		out = append(out, p)
	}
	return out
}
