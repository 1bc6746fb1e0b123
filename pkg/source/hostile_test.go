package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// memLister is an in-memory get_incidents that honours the modification_time
// filters, both sorts and offset paging, with hooks for hostile answers.
type memLister struct {
	mu   sync.Mutex
	incs []xdr.Incident
	// total, when set, replaces a reply's total_count (missing: ok false).
	total func(real int) (int, bool)
	// fail, when set, may fail a request before it is answered.
	fail func(req xdr.IncidentsRequest) error
	// poison lists incidents the client cannot decode: a reply holding one
	// fails as a whole, as a too-deeply nested object does.
	poison map[string]bool
	calls  int
}

func (m *memLister) add(incs ...xdr.Incident) {
	m.mu.Lock()
	m.incs = append(m.incs, incs...)
	m.mu.Unlock()
}

func (m *memLister) GetIncidents(_ context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail != nil {
		if err := m.fail(req); err != nil {
			return nil, err
		}
	}
	var sel []xdr.Incident
	for _, inc := range m.incs {
		ok := true
		for _, f := range req.Filters {
			v, isTime := f.Value.(int64)
			if !isTime || f.Field != xdr.FieldModificationTime {
				continue
			}
			if f.Operator == xdr.OpGTE && inc.ModificationTime < v || f.Operator == xdr.OpLTE && inc.ModificationTime > v {
				ok = false
			}
		}
		if ok {
			sel = append(sel, inc)
		}
	}
	slices.SortStableFunc(sel, func(a, b xdr.Incident) int {
		if req.Sort != nil && req.Sort.Field == xdr.FieldIncidentID {
			x, _ := strconv.Atoi(a.ID)
			y, _ := strconv.Atoi(b.ID)
			return x - y
		}
		return int(a.ModificationTime - b.ModificationTime)
	})
	out := &xdr.IncidentsReply{TotalCount: len(sel)}
	if m.total != nil {
		n, ok := m.total(len(sel))
		out.TotalCount, out.TotalCountMissing = n, !ok
	}
	from, to := min(req.SearchFrom, len(sel)), min(req.SearchTo, len(sel))
	out.Incidents = slices.Clone(sel[from:to])
	out.ResultCount = len(out.Incidents)
	for _, i := range out.Incidents {
		if m.poison[i.ID] {
			return nil, fmt.Errorf("decoding get_incidents reply: %w: exceeded max depth", xdr.ErrMalformed)
		}
	}
	return out, nil
}

func inc(id int, mtime int64) xdr.Incident {
	s := strconv.Itoa(id)
	return xdr.Incident{ID: s, ModificationTime: mtime, Raw: []byte(fmt.Sprintf(`{"incident_id":%q,"modification_time":%d}`, s, mtime))}
}

func newMemSource(t *testing.T, m *memLister, c *collector, cfg Config, now func() time.Time) *Source {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Lookback == 0 {
		cfg.Lookback = time.Minute
	}
	s, err := New(cfg, m, Start{Watermark: 1}, c.handle, WithClock(now), WithBackoff(fastBackoff))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFutureIncidentDoesNotBlindTheSource: an incident stamped a day ahead is
// published, but the mark stays at the clock, so the next change of every
// incident — the future one's too — is still read. (Before, the mark jumped a
// day ahead and every later change was never read.)
func TestFutureIncidentDoesNotBlindTheSource(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	m := &memLister{}
	m.add(inc(1, ms(-10*time.Second)), inc(2, ms(24*time.Hour)))
	c := &collector{}
	s := newMemSource(t, m, c, Config{FutureTolerance: 30 * time.Second}, clock)
	res, err := s.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Clamped || res.Future != 1 || !c.has("2", ms(24*time.Hour)) {
		t.Fatalf("first poll: %+v, emitted %v", res, c.got)
	}
	if w := s.Watermark(); w > ms(30*time.Second) {
		t.Fatalf("watermark %s is past the clock plus the tolerance", time.UnixMilli(w).UTC())
	}
	now = now.Add(10 * time.Second)
	m.add(inc(3, ms(-1*time.Second)), inc(2, ms(-500*time.Millisecond))) // a new incident, and a real change of the future one
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !c.has("3", ms(-1*time.Second)) || !c.has("2", ms(-500*time.Millisecond)) {
		t.Fatalf("later changes were not read: %v", c.got)
	}
	if n := len(c.got["2"]); n != 2 {
		t.Fatalf("incident 2 emitted %d times (%v), want its two versions once each", n, c.got["2"])
	}
}

// TestCrowdedMillisecondIsReadToAShortPage: 250 incidents share one
// millisecond while total_count says 100, or is missing. Every one is read;
// the poll is not complete, since the count cannot be trusted. (Before, the
// scan stopped at offset 100 and 150 incidents were never read.)
func TestCrowdedMillisecondIsReadToAShortPage(t *testing.T) {
	for name, total := range map[string]func(int) (int, bool){
		"low":     func(int) (int, bool) { return 100, true },
		"missing": func(int) (int, bool) { return 0, false },
	} {
		t.Run(name, func(t *testing.T) {
			m := &memLister{total: total}
			for i := range 250 {
				m.add(inc(1000+i, 5000))
			}
			c := &collector{}
			s := newMemSource(t, m, c, Config{}, time.Now)
			res, err := s.Poll(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if c.n != 250 {
				t.Fatalf("emitted %d of 250 incidents", c.n)
			}
			if res.Complete || res.Untrusted == 0 {
				t.Fatalf("poll %+v: complete with an untrusted count", res)
			}
		})
	}
}

// TestPollWaitsForRetryAfter: a 429 on get_incidents is retried after its
// Retry-After, capped at MaxRetryAfter. (Before, it was retried after 500 ms.)
func TestPollWaitsForRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		retryAfter, limit, want time.Duration
	}{
		{3 * time.Second, time.Minute, 3 * time.Second},
		{24 * time.Hour, 2 * time.Second, 2 * time.Second},
	} {
		synctest.Test(t, func(t *testing.T) {
			m := &memLister{}
			m.add(inc(1, 100))
			failed := false
			m.fail = func(xdr.IncidentsRequest) error {
				if failed {
					return nil
				}
				failed = true
				return &xdr.APIError{Endpoint: xdr.EndpointGetIncidents, Status: 429, RetryAfter: tc.retryAfter}
			}
			c := &collector{}
			s := newMemSource(t, m, c, Config{MaxRetryAfter: tc.limit}, time.Now)
			start := time.Now()
			if _, err := s.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(start); got < tc.want || got > tc.want+time.Second {
				t.Fatalf("Retry-After %s, cap %s: the retry came after %s, want %s", tc.retryAfter, tc.limit, got, tc.want)
			}
			if c.n != 1 {
				t.Fatalf("emitted %d", c.n)
			}
		})
	}
}

// TestIncidentWithoutVersionIsCounted: an incident with no modification_time
// has no version to publish; it is skipped, counted and logged, not dropped
// without a word.
func TestIncidentWithoutVersionIsCounted(t *testing.T) {
	m := &memLister{}
	m.add(inc(1, 100), xdr.Incident{ID: "2", Raw: []byte(`{"incident_id":"2"}`)}, inc(3, 200))
	c := &collector{}
	res, err := newMemSource(t, m, c, Config{}, time.Now).Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Dropped != 1 || c.n != 2 || len(c.got["2"]) != 0 {
		t.Fatalf("poll %+v, emitted %v", res, c.got)
	}
}

// TestPoisonIncidentCostsOnlyItself: a page the client cannot decode (one of
// its incidents is nested too deeply, say) is read one incident at a time;
// the unreadable one is reported and skipped, all its neighbours are
// published, and the poll completes. (Before, the page failed at every poll,
// so the source never passed it.)
func TestPoisonIncidentCostsOnlyItself(t *testing.T) {
	m := &memLister{}
	for i := range 150 {
		m.add(inc(1+i, int64(1000+i)))
	}
	poison := 40
	m.poison = map[string]bool{strconv.Itoa(1 + poison): true}
	c := &collector{}
	res, err := newMemSource(t, m, c, Config{MaxRetries: 1}, time.Now).Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Poisoned != 1 || c.n != 149 || c.has(strconv.Itoa(1+poison), int64(1000+poison)) || !res.Complete {
		t.Fatalf("poll %+v: emitted %d", res, c.n)
	}
}

// TestSystemicMalformedRepliesFailThePoll: when nothing decodes, the fault is
// not one incident's; nothing is skipped and the poll fails.
func TestSystemicMalformedRepliesFailThePoll(t *testing.T) {
	m := &memLister{}
	m.add(inc(1, 100), inc(2, 200))
	m.fail = func(xdr.IncidentsRequest) error { return fmt.Errorf("%w: not JSON", xdr.ErrMalformed) }
	c := &collector{}
	res, err := newMemSource(t, m, c, Config{MaxRetries: 1}, time.Now).Poll(context.Background())
	if !errors.Is(err, xdr.ErrMalformed) || res.Poisoned != 0 || c.n != 0 {
		t.Fatalf("poll %+v, err %v, emitted %d", res, err, c.n)
	}
	if m.calls > 2*(1+maxPoisonRun) {
		t.Fatalf("%d calls: the one-by-one reading did not give up", m.calls)
	}
}
