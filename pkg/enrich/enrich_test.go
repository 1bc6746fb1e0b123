package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// fakeAPI is a scripted get_incident_extra_data. reply gets the call number
// for the incident (1-based).
type fakeAPI struct {
	reply func(ctx context.Context, id string, n int) (*xdr.ExtraData, error)

	mu          sync.Mutex
	calls       []apiCall
	perID       map[string]int
	active      map[string]int
	maxSameTime int // most concurrent calls seen for one incident
}

type apiCall struct {
	id         string
	start, end time.Time
}

func (f *fakeAPI) GetIncidentExtraData(ctx context.Context, req xdr.ExtraDataRequest) (*xdr.ExtraData, error) {
	f.mu.Lock()
	if f.perID == nil {
		f.perID, f.active = map[string]int{}, map[string]int{}
	}
	f.perID[req.IncidentID]++
	n := f.perID[req.IncidentID]
	f.active[req.IncidentID]++
	f.maxSameTime = max(f.maxSameTime, f.active[req.IncidentID])
	start := time.Now()
	f.mu.Unlock()

	ed, err := f.reply(ctx, req.IncidentID, n)

	f.mu.Lock()
	f.active[req.IncidentID]--
	f.calls = append(f.calls, apiCall{req.IncidentID, start, time.Now()})
	f.mu.Unlock()
	return ed, err
}

func (f *fakeAPI) callIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for _, c := range f.calls {
		s = append(s, c.id)
	}
	return s
}

func (f *fakeAPI) starts() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []time.Time
	for _, c := range f.calls {
		s = append(s, c.start)
	}
	return s
}

func extraData(id string, mtime int64) *xdr.ExtraData {
	return &xdr.ExtraData{
		Incident: xdr.Incident{ID: id, ModificationTime: mtime, Raw: json.RawMessage(fmt.Sprintf(`{"incident_id":%q,"modification_time":%d}`, id, mtime))},
		Alerts: xdr.AlertList{TotalCount: 1, Data: []xdr.Alert{{ID: "a-" + id, Name: "n",
			Raw: json.RawMessage(fmt.Sprintf(`{"alert_id":"a-%s","name":"n"}`, id))}}},
	}
}

func ok(ctx context.Context, id string, n int) (*xdr.ExtraData, error) { return extraData(id, 1), nil }

// fakePub acknowledges (or fails) every batch from another goroutine, and
// checks every record against the JSON schemas.
type fakePub struct {
	t          *testing.T
	fail       error // passed to done
	enqueueErr error // returned by Publish
	block      bool  // Publish blocks until ctx is done, as a full producer buffer does

	mu      sync.Mutex
	batches [][]record.Record
}

func (p *fakePub) Publish(ctx context.Context, recs []record.Record, done func(error)) error {
	if p.enqueueErr != nil {
		return p.enqueueErr
	}
	if p.block {
		<-ctx.Done()
		return ctx.Err()
	}
	for _, r := range recs {
		validateRecord(p.t, r)
	}
	p.mu.Lock()
	p.batches = append(p.batches, recs)
	p.mu.Unlock()
	go done(p.fail)
	return nil
}

func (p *fakePub) all() []record.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []record.Record
	for _, b := range p.batches {
		out = append(out, b...)
	}
	return out
}

type settled struct {
	it  offsets.Pending
	dlq bool
}

type harness struct {
	e     *Enricher
	api   *fakeAPI
	pub   *fakePub
	lim   *Limiter
	stop  context.CancelFunc
	errc  chan error
	mu    sync.Mutex
	dones []settled
}

func newHarness(t *testing.T, cfg Config, api *fakeAPI, opts ...Option) *harness {
	t.Helper()
	lim, err := NewLimiter(10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessLim(t, cfg, lim, api, opts...)
}

func newHarnessLim(t *testing.T, cfg Config, lim *Limiter, api *fakeAPI, opts ...Option) *harness {
	t.Helper()
	if cfg.Connector == "" {
		cfg.Connector = "xdr-connector"
	}
	h := &harness{api: api, pub: &fakePub{t: t}, lim: lim, errc: make(chan error, 1)}
	opts = append([]Option{WithOnDone(func(it offsets.Pending, dlq bool) {
		h.mu.Lock()
		h.dones = append(h.dones, settled{it, dlq})
		h.mu.Unlock()
	})}, opts...)
	e, err := New(cfg, lim, api, h.pub, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	return h
}

// run starts Run; a failing test still stops it, so the bubble can end.
func (h *harness) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	finished := make(chan struct{})
	go func() {
		h.errc <- h.e.Run(ctx)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
}

func (h *harness) shutdown(t *testing.T) {
	t.Helper()
	h.stop()
	if err := <-h.errc; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
}

func (h *harness) settled() []settled {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.dones)
}

func constBackoff(d time.Duration) Option {
	return WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(d) })
}

func TestNewValidates(t *testing.T) {
	lim, _ := NewLimiter(1, time.Second)
	api, pub := &fakeAPI{reply: ok}, &fakePub{t: t}
	for name, tc := range map[string]struct {
		cfg Config
		lim *Limiter
	}{
		"no connector": {Config{}, lim},
		"no limiter":   {Config{Connector: "c"}, nil},
		"negative":     {Config{Connector: "c", Workers: -1}, lim},
	} {
		if _, err := New(tc.cfg, tc.lim, api, pub); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	e, err := New(Config{Connector: "c"}, lim, api, pub)
	if err != nil || e.cfg.Workers != 2 || e.cfg.MaxAttempts != 6 || e.cfg.AlertsLimit != 1000 {
		t.Fatalf("defaults: %+v %v", e.cfg, err)
	}
}

func TestEnricherCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, &fakeAPI{reply: ok})
		h.e.Enqueue(offsets.Pending{IncidentID: "1", ModificationTime: 100})
		h.e.Enqueue(offsets.Pending{IncidentID: "1", ModificationTime: 300})
		h.e.Enqueue(offsets.Pending{IncidentID: "1", ModificationTime: 200})
		if h.e.Len() != 1 {
			t.Fatalf("Len = %d", h.e.Len())
		}
		h.run(t)
		synctest.Wait()
		if got := h.api.callIDs(); !slices.Equal(got, []string{"1"}) {
			t.Fatalf("calls = %v, want one", got)
		}
		s := h.settled()
		if len(s) != 1 || s[0].dlq || s[0].it.ModificationTime != 300 {
			t.Fatalf("settled = %+v", s)
		}
		recs := h.pub.all()
		if len(recs) != 2 || recs[0].Type != record.TypeIncidentEnriched {
			t.Fatalf("records: %d", len(recs))
		}
		if env := decodeEnvelope(t, recs[0].Value); env.ModificationTime != 300 || env.Enrichment.AlertsLimit != 1000 {
			t.Fatalf("envelope %+v", env)
		}
		if st := h.e.Stats(); st.Calls != 1 || st.Enriched != 1 || st.InFlight != 0 || st.Queued != 0 {
			t.Fatalf("stats %+v", st)
		}
		h.shutdown(t)
	})
}

func TestEnricherPriorityOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{Workers: 1}, &fakeAPI{reply: ok})
		for _, it := range []offsets.Pending{
			{IncidentID: "low", Severity: "low", FirstQueued: 1},
			{IncidentID: "med", Severity: "medium", FirstQueued: 2},
			{IncidentID: "crit-new", Severity: "critical", FirstQueued: 9},
			{IncidentID: "high", Severity: "high", FirstQueued: 3},
			{IncidentID: "crit-old", Severity: "critical", FirstQueued: 4},
			{IncidentID: "unknown", FirstQueued: 0}, // stamped now: newest of all
		} {
			h.e.Enqueue(it)
		}
		h.run(t)
		synctest.Wait()
		want := []string{"crit-old", "crit-new", "high", "med", "low", "unknown"}
		if got := h.api.callIDs(); !slices.Equal(got, want) {
			t.Fatalf("call order = %v, want %v", got, want)
		}
		h.shutdown(t)
	})
}

func TestEnricher429PausesAllCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			if id == "1" && n == 1 {
				return nil, &xdr.APIError{Endpoint: "get_incident_extra_data", Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second}
			}
			return extraData(id, 1), nil
		}}
		// MaxAttempts 1: a 429 must not use up the only attempt.
		h := newHarness(t, Config{Workers: 2, MaxAttempts: 1}, api)
		t0 := time.Now()
		h.e.Enqueue(offsets.Pending{IncidentID: "1"})
		h.run(t)
		synctest.Wait()
		h.e.Enqueue(offsets.Pending{IncidentID: "2"}) // arrives during the pause
		synctest.Wait()
		time.Sleep(time.Minute)
		synctest.Wait()
		starts := api.starts()
		if len(starts) != 3 {
			t.Fatalf("calls = %v", api.callIDs())
		}
		for i, s := range starts[1:] {
			if d := s.Sub(t0); d < 30*time.Second {
				t.Errorf("call %d (%s) at +%s, inside the 30s pause", i+2, api.callIDs()[i+1], d)
			}
		}
		s := h.settled()
		if len(s) != 2 || s[0].dlq || s[1].dlq {
			t.Fatalf("settled %+v", s)
		}
		if st := h.e.Stats(); st.RateLimited != 1 || st.Retries != 0 || st.Calls != 3 || st.DLQ != 0 {
			t.Fatalf("stats %+v", st)
		}
		h.shutdown(t)
	})
}

func TestEnricherRetryThenSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			if n <= 2 {
				return nil, &xdr.APIError{Status: http.StatusServiceUnavailable}
			}
			return extraData(id, 1), nil
		}}
		h := newHarness(t, Config{}, api, constBackoff(5*time.Second))
		t0 := time.Now()
		h.e.Enqueue(offsets.Pending{IncidentID: "1"})
		h.run(t)
		time.Sleep(time.Minute)
		synctest.Wait()
		starts := api.starts()
		want := []time.Duration{0, 5 * time.Second, 10 * time.Second}
		if len(starts) != len(want) {
			t.Fatalf("%d calls", len(starts))
		}
		for i, s := range starts {
			if s.Sub(t0) != want[i] {
				t.Errorf("call %d at +%s, want +%s", i+1, s.Sub(t0), want[i])
			}
		}
		if s := h.settled(); len(s) != 1 || s[0].dlq {
			t.Fatalf("settled %+v", s)
		}
		if st := h.e.Stats(); st.Retries != 2 || st.Calls != 3 || st.Enriched != 1 {
			t.Fatalf("stats %+v", st)
		}
		h.shutdown(t)
	})
}

func TestEnricherPermanentErrorGoesToDLQ(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			return nil, &xdr.APIError{Endpoint: "get_incident_extra_data", Status: http.StatusForbidden, Code: "403", Message: "no permission"}
		}}
		now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
		h := newHarness(t, Config{}, api, WithClock(func() time.Time { return now }))
		h.e.Enqueue(offsets.Pending{IncidentID: "7", ModificationTime: 55})
		h.run(t)
		synctest.Wait()
		if n := len(api.callIDs()); n != 1 {
			t.Fatalf("%d calls for a permanent error, want 1", n)
		}
		recs := h.pub.all()
		if len(recs) != 1 || recs[0].Topic != record.TopicDLQ {
			t.Fatalf("records %+v", recs)
		}
		env := decodeEnvelope(t, recs[0].Value)
		if e := env.Error; e == nil || e.Status != 403 || e.Code != "403" || e.Attempts != 1 || e.FailedAt != now.UnixMilli() || env.ModificationTime != 55 {
			t.Fatalf("DLQ envelope %+v error %+v", env, env.Error)
		}
		if s := h.settled(); len(s) != 1 || !s[0].dlq || s[0].it.IncidentID != "7" {
			t.Fatalf("settled %+v", s)
		}
		if st := h.e.Stats(); st.DLQ != 1 || st.Enriched != 0 {
			t.Fatalf("stats %+v", st)
		}
		h.shutdown(t)
	})
}

func TestEnricherAttemptsExhaustedGoesToDLQ(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			return nil, &xdr.APIError{Status: http.StatusInternalServerError}
		}}
		h := newHarness(t, Config{MaxAttempts: 3}, api, constBackoff(time.Second))
		h.e.Enqueue(offsets.Pending{IncidentID: "7"})
		h.run(t)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(api.callIDs()); n != 3 {
			t.Fatalf("%d calls, want 3", n)
		}
		recs := h.pub.all()
		if len(recs) != 1 {
			t.Fatalf("%d records", len(recs))
		}
		if env := decodeEnvelope(t, recs[0].Value); env.Error.Attempts != 3 || env.Error.Status != 500 {
			t.Fatalf("error %+v", env.Error)
		}
		if s := h.settled(); len(s) != 1 || !s[0].dlq {
			t.Fatalf("settled %+v", s)
		}
		h.shutdown(t)
	})
}

// TestEnricherCallTimeout: a call cut off by CallTimeout is retried (it is
// the stage's own deadline, not the caller's) and still holds a limiter slot.
func TestEnricherCallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			<-ctx.Done()
			return nil, fmt.Errorf("posting: %w", ctx.Err())
		}}
		h := newHarness(t, Config{MaxAttempts: 2, CallTimeout: 10 * time.Second}, api, constBackoff(time.Second))
		t0 := time.Now()
		h.e.Enqueue(offsets.Pending{IncidentID: "7"})
		h.run(t)
		time.Sleep(time.Minute)
		synctest.Wait()
		starts := api.starts()
		if len(starts) != 2 || starts[1].Sub(t0) != 11*time.Second {
			t.Fatalf("call starts %v (t0 %v)", starts, t0)
		}
		if st := h.lim.Stats(); st.Acquired != 2 {
			t.Fatalf("limiter granted %d slots, want 2", st.Acquired)
		}
		if s := h.settled(); len(s) != 1 || !s[0].dlq {
			t.Fatalf("settled %+v", s)
		}
		h.shutdown(t)
	})
}

// TestEnricherNeverExceedsLimit runs a backlog through several workers with
// random latencies, retryable failures and 429s, and checks the calls as the
// server saw them: never more than n starts in any window.
func TestEnricherNeverExceedsLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, items = 3, 30
		window := time.Minute
		rng := rand.New(rand.NewPCG(3, 4))
		var rmu sync.Mutex
		api := &fakeAPI{reply: func(ctx context.Context, id string, k int) (*xdr.ExtraData, error) {
			rmu.Lock()
			lat, roll := time.Duration(rng.Int64N(int64(20*time.Second))), rng.IntN(10)
			rmu.Unlock()
			time.Sleep(lat)
			switch roll {
			case 0:
				return nil, &xdr.APIError{Status: http.StatusBadGateway}
			case 1:
				return nil, &xdr.APIError{Status: http.StatusTooManyRequests, RetryAfter: 5 * time.Second}
			}
			return extraData(id, 1), nil
		}}
		lim, _ := NewLimiter(n, window)
		h := newHarnessLim(t, Config{Workers: 4, MaxAttempts: 10}, lim, api, constBackoff(time.Second))
		for i := range items {
			h.e.Enqueue(offsets.Pending{IncidentID: fmt.Sprint(i), Severity: []string{"low", "high"}[i%2]})
		}
		h.run(t)
		time.Sleep(time.Hour)
		synctest.Wait()
		if s := h.settled(); len(s) != items {
			t.Fatalf("%d of %d settled", len(s), items)
		}
		starts := api.starts()
		if got := maxInWindow(starts, window); got > n {
			t.Fatalf("%d calls in one window, limit %d", got, n)
		}
		if api.maxSameTime > 1 {
			t.Fatalf("one incident fetched by %d workers at once", api.maxSameTime)
		}
		t.Logf("%d calls, stats %+v", len(starts), h.e.Stats())
		h.shutdown(t)
	})
}

// TestEnricherRefetchesAfterInFlight: a change queued while its incident is
// being fetched is fetched again afterwards, never concurrently.
func TestEnricherRefetchesAfterInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			if n == 1 {
				<-gate
			}
			return extraData(id, int64(n)), nil
		}}
		h := newHarness(t, Config{Workers: 2}, api)
		h.e.Enqueue(offsets.Pending{IncidentID: "1", ModificationTime: 10})
		h.run(t)
		synctest.Wait()
		h.e.Enqueue(offsets.Pending{IncidentID: "1", ModificationTime: 20})
		synctest.Wait()
		if n := len(api.callIDs()); n != 0 || h.e.Len() != 1 {
			t.Fatalf("%d calls finished and Len %d while the first is in flight", n, h.e.Len())
		}
		close(gate)
		synctest.Wait()
		if got := api.callIDs(); !slices.Equal(got, []string{"1", "1"}) {
			t.Fatalf("calls %v", got)
		}
		s := h.settled()
		slices.SortFunc(s, func(a, b settled) int { return int(a.it.ModificationTime - b.it.ModificationTime) })
		if len(s) != 2 || s[0].it.ModificationTime != 10 || s[1].it.ModificationTime != 20 {
			t.Fatalf("settled %+v", s)
		}
		// Publishing order (which Kafka keeps per key) follows fetch order.
		recs := h.pub.all()
		if len(recs) != 4 || decodeEnvelope(t, recs[0].Value).ModificationTime != 10 || decodeEnvelope(t, recs[2].Value).ModificationTime != 20 {
			t.Fatalf("published out of order")
		}
		if api.maxSameTime != 1 {
			t.Fatalf("concurrent fetches of one incident: %d", api.maxSameTime)
		}
		h.shutdown(t)
	})
}

func TestEnricherPublishFailureStopsRun(t *testing.T) {
	errNo := errors.New("broker said no")
	for name, setup := range map[string]func(*fakePub){
		"ack":     func(p *fakePub) { p.fail = errNo },
		"enqueue": func(p *fakePub) { p.enqueueErr = errNo },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, Config{}, &fakeAPI{reply: ok})
				setup(h.pub)
				h.e.Enqueue(offsets.Pending{IncidentID: "1"})
				h.run(t)
				err := <-h.errc
				if !errors.Is(err, errNo) {
					t.Fatalf("Run = %v", err)
				}
				if s := h.settled(); len(s) != 0 {
					t.Fatalf("settled %+v after a failed publish", s)
				}
				h.stop()
			})
		})
	}
}

// TestEnricherPublishCutByShutdown: a publish that fails because Run's
// context ended is shutdown, not a failure: Run returns nil.
func TestEnricherPublishCutByShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, &fakeAPI{reply: ok})
		h.pub.block = true
		h.e.Enqueue(offsets.Pending{IncidentID: "1"})
		h.run(t)
		synctest.Wait()
		if st := h.e.Stats(); st.Calls != 1 || st.InFlight != 1 {
			t.Fatalf("stats %+v", st)
		}
		h.shutdown(t)
		if s := h.settled(); len(s) != 0 {
			t.Fatalf("settled %+v", s)
		}
		if st := h.e.Stats(); st.InFlight != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestEnricherShutdownAbandons(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}}
		h := newHarness(t, Config{Workers: 1}, api)
		h.e.Enqueue(offsets.Pending{IncidentID: "1"})
		h.e.Enqueue(offsets.Pending{IncidentID: "2"})
		h.run(t)
		synctest.Wait()
		if st := h.e.Stats(); st.InFlight != 1 || st.Queued != 1 {
			t.Fatalf("stats before shutdown %+v", st)
		}
		h.shutdown(t)
		if s := h.settled(); len(s) != 0 {
			t.Fatalf("abandoned items reported done: %+v", s)
		}
		if len(h.pub.all()) != 0 {
			t.Fatal("records published for an abandoned call")
		}
		if st := h.e.Stats(); st.InFlight != 0 || st.DLQ != 0 {
			t.Fatalf("stats after shutdown %+v", st)
		}
	})
}

func TestEnricherCountsTruncation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			ed := extraData(id, 1)
			ed.Alerts.TotalCount = 5000
			return ed, nil
		}}
		h := newHarness(t, Config{AlertsLimit: 1}, api)
		h.e.Enqueue(offsets.Pending{IncidentID: "1"})
		h.run(t)
		synctest.Wait()
		if st := h.e.Stats(); st.Truncated != 1 {
			t.Fatalf("stats %+v", st)
		}
		env := decodeEnvelope(t, h.pub.all()[0].Value)
		if !env.Enrichment.AlertsTruncated || env.Enrichment.AlertsLimit != 1 {
			t.Fatalf("enrichment %+v", env.Enrichment)
		}
		h.shutdown(t)
	})
}

// TestEnricherCountsKeyCollisions: a reply with two different alerts of one
// alert_id publishes both under distinct keys and counts one collision (the
// key_collision anomaly).
func TestEnricherCountsKeyCollisions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			ed := extraData(id, 1)
			twin := ed.Alerts.Data[0]
			twin.Name, twin.Raw = "m", json.RawMessage(fmt.Sprintf(`{"alert_id":"a-%s","name":"m"}`, id))
			ed.Alerts.Data = append(ed.Alerts.Data, twin)
			ed.Alerts.TotalCount = 2
			return ed, nil
		}}
		h := newHarness(t, Config{}, api)
		h.e.Enqueue(offsets.Pending{IncidentID: "1"})
		h.run(t)
		synctest.Wait()
		if st := h.e.Stats(); st.Collisions != 1 || st.Enriched != 1 {
			t.Fatalf("stats %+v", st)
		}
		recs := h.pub.all()
		if len(recs) != 3 || string(recs[1].Key) != "a-1" || !strings.HasPrefix(string(recs[2].Key), "a-1"+record.CollisionSep) {
			t.Fatalf("alert keys %q, %q", recs[1].Key, recs[2].Key)
		}
		if env := decodeEnvelope(t, recs[0].Value); env.Enrichment.KeyCollisions != 1 {
			t.Fatalf("enrichment %+v", env.Enrichment)
		}
		h.shutdown(t)
	})
}

// TestEnricherStopsOnARejectedKey: a 401 or a 402 would meet every owed
// enrichment alike, so the enricher stops with the error and dead-letters
// nothing: the enrichments stay owed for when the key or the licence is
// fixed. (Before, each owed enrichment went to the DLQ, one call each.)
func TestEnricherStopsOnARejectedKey(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusPaymentRequired} {
		synctest.Test(t, func(t *testing.T) {
			api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
				return nil, &xdr.APIError{Endpoint: "get_incident_extra_data", Status: status}
			}}
			h := newHarness(t, Config{Workers: 1}, api)
			for i := range 5 {
				h.e.Enqueue(offsets.Pending{IncidentID: strconv.Itoa(i + 1), ModificationTime: 55})
			}
			h.run(t)
			err := <-h.errc
			if ae, ok := errors.AsType[*xdr.APIError](err); !ok || ae.Status != status {
				t.Fatalf("HTTP %d: Run = %v, want the API error", status, err)
			}
			if recs := h.pub.all(); len(recs) != 0 {
				t.Fatalf("HTTP %d: %d records published (%s), want none", status, len(recs), recs[0].Type)
			}
			if n := len(api.callIDs()); n != 1 {
				t.Fatalf("HTTP %d: %d calls, want 1", status, n)
			}
			if s := h.settled(); len(s) != 0 {
				t.Fatalf("HTTP %d: settled %+v; the enrichments must stay owed", status, s)
			}
		})
	}
}

// TestEnricherRetryDoesNotHoldTheWorker: with one worker, an incident whose
// call fails waits out its backoff in the queue while the worker enriches the
// others; its retries come at their backoff times.
func TestEnricherRetryDoesNotHoldTheWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			if id == "bad" && n < 3 {
				return nil, &xdr.APIError{Status: http.StatusServiceUnavailable}
			}
			return extraData(id, 1), nil
		}}
		lim, _ := NewLimiter(100, time.Second)
		h := newHarnessLim(t, Config{Workers: 1}, lim, api, constBackoff(30*time.Second))
		t0 := time.Now()
		h.e.Enqueue(offsets.Pending{IncidentID: "bad", Severity: "critical"})
		for i := range 5 {
			h.e.Enqueue(offsets.Pending{IncidentID: strconv.Itoa(i), Severity: "low"})
		}
		h.run(t)
		synctest.Wait()
		if got := api.callIDs(); !slices.Equal(got, []string{"bad", "0", "1", "2", "3", "4"}) {
			t.Fatalf("calls before the backoff ended: %v", got)
		}
		if st := h.e.Stats(); st.Queued != 1 || st.Delayed != 1 || st.InFlight != 0 || st.Enriched != 5 {
			t.Fatalf("stats while the failed one waits: %+v", st)
		}
		// While it waits, it is not settled: the offsets still owe it.
		for _, s := range h.settled() {
			if s.it.IncidentID == "bad" {
				t.Fatalf("the failed enrichment was reported settled while it waits for its retry: %+v", s)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		starts := api.starts()
		if len(starts) != 8 || starts[6].Sub(t0) != 30*time.Second || starts[7].Sub(t0) != time.Minute {
			t.Fatalf("calls %v at %v", api.callIDs(), starts)
		}
		if st := h.e.Stats(); st.Retries != 2 || st.Enriched != 6 || st.Queued != 0 || st.DLQ != 0 {
			t.Fatalf("stats %+v", st)
		}
		if s := h.settled(); len(s) != 6 || s[5].it.IncidentID != "bad" || s[5].dlq {
			t.Fatalf("settled %+v, want the failed one last, enriched", s)
		}
		h.shutdown(t)
	})
}

// TestEnricherNotFoundIsDeadLetteredAtOnce: the API's answer that the
// incident does not exist (the simulator's and the API's catch-all 500 with
// "Incident N was not found") is dead-lettered after one call, with the
// reason, and counted.
func TestEnricherNotFoundIsDeadLetteredAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			return nil, &xdr.APIError{Endpoint: xdr.EndpointGetIncidentExtraData, Status: http.StatusInternalServerError, Code: "500",
				Message: "An error occurred while processing XDR public API", Extra: "Incident " + id + " was not found"}
		}}
		h := newHarness(t, Config{MaxAttempts: 6}, api, constBackoff(time.Second))
		h.e.Enqueue(offsets.Pending{IncidentID: "42", ModificationTime: 55})
		h.run(t)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(api.callIDs()); n != 1 {
			t.Fatalf("%d calls for an incident that does not exist, want 1", n)
		}
		recs := h.pub.all()
		if len(recs) != 1 || recs[0].Topic != record.TopicDLQ {
			t.Fatalf("records %+v", recs)
		}
		env := decodeEnvelope(t, recs[0].Value)
		if e := env.Error; e == nil || e.Attempts != 1 || e.Status != 500 || env.ModificationTime != 55 ||
			!strings.Contains(e.Message, "does not exist") || !strings.Contains(e.Message, "Incident 42 was not found") {
			t.Fatalf("DLQ error %+v", env.Error)
		}
		if s := h.settled(); len(s) != 1 || !s[0].dlq {
			t.Fatalf("settled %+v", s)
		}
		if st := h.e.Stats(); st.NotFound != 1 || st.DLQ != 1 || st.Retries != 0 {
			t.Fatalf("stats %+v", st)
		}
		h.shutdown(t)
	})
}

// TestEnricherMalformedReplyIsRetriedThenDeadLettered: a reply without the
// incident (or whose incident has no id, or whose alert is not an object) is
// handled as a reply for another incident: retried, then dead-lettered with
// the reason, counted, and never published. Before, {"reply":{}} became an
// incident.enriched record with "data": null, which its schema rejects. The
// replies come from the decoder and, for shapes it cannot produce, straight
// from the Fetcher.
func TestEnricherMalformedReplyIsRetriedThenDeadLettered(t *testing.T) {
	decoded := func(body string) func(context.Context, string, int) (*xdr.ExtraData, error) {
		return func(context.Context, string, int) (*xdr.ExtraData, error) { return xdr.DecodeExtraData([]byte(body)) }
	}
	handMade := func(spoil func(*xdr.ExtraData)) func(context.Context, string, int) (*xdr.ExtraData, error) {
		return func(_ context.Context, id string, _ int) (*xdr.ExtraData, error) {
			ed := extraData(id, 1)
			spoil(ed)
			return ed, nil
		}
	}
	for name, tc := range map[string]struct {
		reply func(context.Context, string, int) (*xdr.ExtraData, error)
		why   string
	}{
		"empty reply":              {decoded(`{"reply":{}}`), "no incident object"},
		"null incident":            {decoded(`{"reply":{"incident":null,"alerts":{"total_count":1,"data":[{"alert_id":"1"}]}}}`), "no incident object"},
		"incident without id":      {decoded(`{"reply":{"incident":{"status":"new"}}}`), "no incident_id"},
		"get_incidents shape":      {decoded(`{"reply":{"total_count":1,"result_count":1,"incidents":[{"incident_id":"7"}]}}`), "no incident object"},
		"string alert":             {decoded(`{"reply":{"incident":{"incident_id":"7"},"alerts":{"total_count":1,"data":["x"]}}}`), "alert 0"},
		"zero incident (Fetcher)":  {handMade(func(ed *xdr.ExtraData) { ed.Incident = xdr.Incident{} }), "no incident object"},
		"incident without id (F.)": {handMade(func(ed *xdr.ExtraData) { ed.Incident.ID = "" }), "no incident_id"},
		"numeric alert (Fetcher)":  {handMade(func(ed *xdr.ExtraData) { ed.Alerts.Data[0].Raw = json.RawMessage(`1`) }), "alert 0"},
		"nil reply (Fetcher)":      {func(context.Context, string, int) (*xdr.ExtraData, error) { return nil, nil }, "no reply"},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				api := &fakeAPI{reply: tc.reply}
				h := newHarness(t, Config{MaxAttempts: 3}, api, constBackoff(time.Second))
				h.e.Enqueue(offsets.Pending{IncidentID: "7", ModificationTime: 55})
				h.run(t)
				time.Sleep(time.Minute)
				synctest.Wait()
				if n := len(api.callIDs()); n != 3 {
					t.Fatalf("%d calls, want 3 (retried up to MaxAttempts)", n)
				}
				recs := h.pub.all() // each validated against its schema by fakePub
				if len(recs) != 1 || recs[0].Type != record.TypeDLQ {
					t.Fatalf("published %d records, want only the DLQ record: %+v", len(recs), recs)
				}
				env := decodeEnvelope(t, recs[0].Value)
				if e := env.Error; e == nil || e.Stage != DLQStage || e.Attempts != 3 || e.Status != 0 || env.ModificationTime != 55 ||
					!strings.Contains(e.Message, "malformed reply") || !strings.Contains(e.Message, tc.why) {
					t.Fatalf("DLQ error %+v, want a malformed reply saying %q", env.Error, tc.why)
				}
				if s := h.settled(); len(s) != 1 || !s[0].dlq {
					t.Fatalf("settled %+v", s)
				}
				if st := h.e.Stats(); st.Malformed != 3 || st.Retries != 2 || st.DLQ != 1 || st.Enriched != 0 || st.Mismatched != 0 {
					t.Fatalf("stats %+v", st)
				}
				h.shutdown(t)
			})
		})
	}
}

// TestEnricherReplyBudgetContentionNeverDeadLetters: a reply that did not fit
// in the process's reply budget beside other replies (xdr.ErrReplyBudget)
// is retried without spending one of the incident's attempts, so contention
// from other tenants never dead-letters it; the tenant's own failures still
// count, and MaxAttempts of them still end in the DLQ.
func TestEnricherReplyBudgetContentionNeverDeadLetters(t *testing.T) {
	overBudget := fmt.Errorf("get_incident_extra_data: reading the reply: %w", xdr.ErrReplyBudget)
	serverError := &xdr.APIError{Endpoint: xdr.EndpointGetIncidentExtraData, Status: 500, Message: "An error occurred"}
	for _, tc := range []struct {
		name      string
		replies   []error // the calls' failures in turn; nil: the reply
		wantType  string
		wantStats Stats
	}{
		{"contention, then one server error, then the reply",
			[]error{overBudget, overBudget, overBudget, overBudget, overBudget, serverError, nil},
			record.TypeIncidentEnriched, Stats{Calls: 7, Retries: 6, BudgetWaits: 5, Enriched: 1}},
		{"contention between two server errors",
			[]error{serverError, overBudget, overBudget, overBudget, serverError},
			record.TypeDLQ, Stats{Calls: 5, Retries: 4, BudgetWaits: 3, DLQ: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				api := &fakeAPI{reply: func(_ context.Context, id string, n int) (*xdr.ExtraData, error) {
					if n <= len(tc.replies) && tc.replies[n-1] != nil {
						return nil, tc.replies[n-1]
					}
					return extraData(id, 1), nil
				}}
				h := newHarness(t, Config{MaxAttempts: 2}, api, constBackoff(time.Second))
				h.e.Enqueue(offsets.Pending{IncidentID: "7", ModificationTime: 55})
				h.run(t)
				time.Sleep(time.Minute)
				synctest.Wait()
				recs := h.pub.all()
				if len(recs) == 0 || recs[0].Type != tc.wantType {
					var types []string
					for _, r := range recs {
						types = append(types, r.Type)
					}
					t.Fatalf("published records of types %v, want a first record of type %s", types, tc.wantType)
				}
				if tc.wantType == record.TypeDLQ {
					if env := decodeEnvelope(t, recs[0].Value); env.Error == nil || env.Error.Attempts != 2 || env.Error.Status != 500 {
						t.Fatalf("DLQ error %+v, want the second server error after 2 attempts", env.Error)
					}
				}
				st := h.e.Stats()
				got := Stats{Calls: st.Calls, Retries: st.Retries, BudgetWaits: st.BudgetWaits, Enriched: st.Enriched, DLQ: st.DLQ}
				if got != tc.wantStats {
					t.Fatalf("stats %+v, want %+v", got, tc.wantStats)
				}
				h.shutdown(t)
			})
		})
	}
}

// TestEnricherReplyBudgetStarvationBacksOffThenDeadLetters: with the
// default backoff, an enrichment whose reply never fits in the process's
// reply budget waits longer after each failure (the backoff is kept across
// the waits, which count no attempt), and after maxBudgetWaits of them the
// failures count as attempts: the enrichment ends in the DLQ, saying why,
// after maxBudgetWaits + MaxAttempts calls, instead of calling for ever.
func TestEnricherReplyBudgetStarvationBacksOffThenDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: func(context.Context, string, int) (*xdr.ExtraData, error) {
			return nil, fmt.Errorf("get_incident_extra_data: reading the reply: %w", xdr.ErrReplyBudget)
		}}
		h := newHarness(t, Config{}, api) // the default backoff: 2 s doubling to 2 min
		h.e.Enqueue(offsets.Pending{IncidentID: "7", ModificationTime: 55})
		h.run(t)
		start := time.Now()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		// 2, 4, 8, 16, 32, 64 and 120 s, each ±50 %: at most 9 calls in
		// five minutes; a backoff begun again at each wait makes a call
		// every one to three seconds.
		if n := len(api.callIDs()); n > 9 {
			t.Fatalf("%d calls in the first %s of contention; the backoff does not grow", n, time.Since(start))
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if n, want := len(api.callIDs()), maxBudgetWaits+DefaultMaxAttempts; n != want {
			t.Fatalf("%d calls, want %d (%d budget waits, then %d attempts)", n, want, maxBudgetWaits, DefaultMaxAttempts)
		}
		recs := h.pub.all()
		if len(recs) != 1 || recs[0].Type != record.TypeDLQ {
			t.Fatalf("published %d records, want only the DLQ record", len(recs))
		}
		if e := decodeEnvelope(t, recs[0].Value).Error; e == nil || e.Attempts != DefaultMaxAttempts || !strings.Contains(e.Message, "reply budget") {
			t.Fatalf("DLQ error %+v, want %d attempts over the reply budget", e, DefaultMaxAttempts)
		}
		if st := h.e.Stats(); st.BudgetWaits != maxBudgetWaits || st.DLQ != 1 {
			t.Fatalf("stats %+v, want %d budget waits and one DLQ record", st, maxBudgetWaits)
		}
		h.shutdown(t)
	})
}
