package source

import (
	"context"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/clocktest"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

type fixture struct {
	sim   *xdrtest.Tenant
	api   *xdr.Client
	clock *clocktest.Clock
}

func newFixture(t *testing.T, cfg xdrtest.Config) *fixture {
	t.Helper()
	c := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	cfg.Now = c.Now
	cfg.MaxSkew = 100 * 365 * 24 * time.Hour // the client signs with the real clock
	sim := xdrtest.New(cfg)
	base, stop := sim.Start()
	t.Cleanup(stop)
	id, key := sim.Credentials()
	api, err := xdr.New(xdr.Config{BaseURL: base, KeyID: id, Key: xdr.NewSecret(key), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sim: sim, api: api, clock: c}
}

// collector records what the source emits.
type collector struct {
	got map[string][]int64
	n   int
}

func (c *collector) handle(_ context.Context, inc xdr.Incident) error {
	if c.got == nil {
		c.got = map[string][]int64{}
	}
	c.got[inc.ID] = append(c.got[inc.ID], inc.ModificationTime)
	c.n++
	return nil
}

func (c *collector) has(id string, t int64) bool {
	for _, v := range c.got[id] {
		if v == t {
			return true
		}
	}
	return false
}

func (f *fixture) source(t *testing.T, c *collector, start Start, opts ...Option) *Source {
	t.Helper()
	s, err := New(Config{PollInterval: time.Second, Lookback: time.Minute}, f.api, start, c.handle, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// requireAllCurrent checks that every incident's current version was emitted
// exactly once.
func requireAllCurrent(t *testing.T, sim *xdrtest.Tenant, c *collector) {
	t.Helper()
	for _, id := range sim.IncidentIDs() {
		tr, _ := sim.Truth(id)
		if tr.Restricted {
			continue
		}
		if !c.has(id, tr.ModificationTime) {
			t.Errorf("incident %s version %d not emitted (emitted %v)", id, tr.ModificationTime, c.got[id])
		}
	}
	for id, vs := range c.got {
		seen := map[int64]bool{}
		for _, v := range vs {
			if seen[v] {
				t.Errorf("incident %s version %d emitted twice", id, v)
			}
			seen[v] = true
		}
	}
}

func TestBacklogIsReadCompletelyInOrder(t *testing.T) {
	f := newFixture(t, xdrtest.Config{Seed: 1, Incidents: 450})
	var c collector
	s := f.source(t, &c, Start{})
	res, err := s.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.n != 450 || res.Emitted != 450 || !res.Complete {
		t.Fatalf("emitted %d (result %+v), want all 450 and a complete poll", c.n, res)
	}
	requireAllCurrent(t, f.sim, &c)
	if res.Pages < 5 {
		t.Errorf("read 450 incidents in %d pages; pages hold at most 100", res.Pages)
	}
	if s.Watermark() != res.Mark || res.Mark != res.MaxMTime-res.Duration.Milliseconds() {
		t.Errorf("watermark %d, mark %d: want the newest version %d less the poll's %s", s.Watermark(), res.Mark, res.MaxMTime, res.Duration)
	}
}

// mutatingLister modifies incidents of the first page after every page it
// returns: with offset paging, each such change shifts the rest of the
// result set left by one and skips an incident.
type mutatingLister struct {
	api   Lister
	sim   *xdrtest.Tenant
	clock *clocktest.Clock
	first []string
	calls int
}

func (m *mutatingLister) GetIncidents(ctx context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error) {
	r, err := m.api.GetIncidents(ctx, req)
	if err != nil {
		return nil, err
	}
	m.calls++
	if m.first == nil {
		for _, inc := range r.Incidents {
			m.first = append(m.first, inc.ID)
		}
	}
	if m.calls <= 5 {
		for _, id := range m.first[:10] {
			m.clock.Add(time.Millisecond)
			m.sim.ChangeStatus(id)
		}
	}
	return r, nil
}

func TestChangesDuringPagingLoseNothing(t *testing.T) {
	f := newFixture(t, xdrtest.Config{Seed: 2, Incidents: 500})
	var c collector
	ml := &mutatingLister{api: f.api, sim: f.sim, clock: f.clock}
	s, err := New(Config{Lookback: time.Minute}, ml, Start{}, c.handle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Every incident that was not modified must have been read; modified ones
	// appear at least in their newest version.
	requireAllCurrent(t, f.sim, &c)

	// The same mutations against offset paging do lose incidents: the test
	// above would catch a source that paged by offset.
	f2 := newFixture(t, xdrtest.Config{Seed: 2, Incidents: 500})
	ml2 := &mutatingLister{api: f2.api, sim: f2.sim, clock: f2.clock}
	seen := map[string]bool{}
	for from := 0; ; from += 100 {
		r, err := ml2.GetIncidents(context.Background(), xdr.IncidentsRequest{SearchFrom: from, SearchTo: from + 100,
			Sort: &xdr.Sort{Field: xdr.FieldModificationTime, Keyword: xdr.SortAsc}})
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range r.Incidents {
			seen[inc.ID] = true
		}
		if len(r.Incidents) < 100 {
			break
		}
	}
	if len(seen) == 500 {
		t.Fatal("offset paging saw every incident: the mutation does not exercise the paging rule")
	}
}

func TestMoreThanAPageInOneMillisecond(t *testing.T) {
	f := newFixture(t, xdrtest.Config{Seed: 3, Incidents: 400})
	var c collector
	s := f.source(t, &c, Start{})
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	bulk := f.sim.BulkUpdate(250)
	if len(bulk) != 250 || bulk[0].ModificationTime != bulk[249].ModificationTime {
		t.Fatalf("bulk update gave %d versions", len(bulk))
	}
	f.clock.Add(time.Millisecond)
	inBulk := map[string]bool{}
	for _, v := range bulk {
		inBulk[v.IncidentID] = true
	}
	var other string
	for _, id := range f.sim.IncidentIDs() {
		if !inBulk[id] {
			other = id
			break
		}
	}
	after := f.sim.ChangeStatus(other) // one more change after the bulk
	f.clock.Add(time.Second)
	res, err := s.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(bulk, after) {
		if !c.has(v.IncidentID, v.ModificationTime) {
			t.Errorf("bulk version %s@%d not emitted", v.IncidentID, v.ModificationTime)
		}
	}
	if !res.Complete || res.MaxMTime != after.ModificationTime {
		t.Errorf("poll result %+v: want complete, max %d", res, after.ModificationTime)
	}
	requireAllCurrent(t, f.sim, &c)
}

func TestLateVisibleChangesAreFoundWithinLookback(t *testing.T) {
	f := newFixture(t, xdrtest.Config{Seed: 4, Incidents: 20, IndexDelay: 30 * time.Second})
	f.clock.Add(time.Minute) // make the generated incidents visible
	var c collector
	s := f.source(t, &c, Start{}) // lookback 1 minute > index delay 30 s
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids := f.sim.IncidentIDs()
	late := f.sim.ChangeStatus(ids[0]) // stamped now, visible in 30 s
	f.clock.Add(10 * time.Second)
	f.clock.Add(25 * time.Second)
	early := f.sim.ChangeStatus(ids[1]) // stamped 35 s after `late`, visible 30 s later
	f.clock.Add(time.Second)            // late is visible now, early is not
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !c.has(late.IncidentID, late.ModificationTime) {
		t.Fatal("late change not emitted once visible")
	}
	f.clock.Add(40 * time.Second)
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !c.has(early.IncidentID, early.ModificationTime) {
		t.Fatal("change not emitted once visible")
	}
	requireAllCurrent(t, f.sim, &c)
}

func TestNothingEmittedTwiceAcrossLookbackAndRestart(t *testing.T) {
	f := newFixture(t, xdrtest.Config{Seed: 5, Incidents: 150})
	var c collector
	s := f.source(t, &c, Start{})
	for range 3 {
		if _, err := s.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if c.n != 150 {
		t.Fatalf("emitted %d over three polls, want 150", c.n)
	}
	// A restart seeded with the committed watermark and emitted set emits
	// nothing again; without the emitted set it would re-emit the lookback.
	emitted := map[string]int64{}
	floor := s.Watermark() - time.Minute.Milliseconds()
	for id, vs := range c.got {
		if vs[len(vs)-1] >= floor {
			emitted[id] = vs[len(vs)-1]
		}
	}
	var c2 collector
	s2 := f.source(t, &c2, Start{Watermark: s.Watermark(), Emitted: emitted})
	if _, err := s2.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c2.n != 0 {
		t.Fatalf("restarted source re-emitted %d versions", c2.n)
	}
	f.clock.Add(time.Second)
	v := f.sim.AddAlerts(f.sim.IncidentIDs()[3], 2)
	if _, err := s2.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c2.n != 1 || !c2.has(v.IncidentID, v.ModificationTime) {
		t.Fatalf("after one change the restarted source emitted %v", c2.got)
	}
}

func TestRestrictedIncidentsAreReported(t *testing.T) {
	f := newFixture(t, xdrtest.Config{Seed: 6, Incidents: 200, RestrictedFraction: 0.1})
	var c collector
	var results []PollResult
	s := f.source(t, &c, Start{}, WithPollDone(func(r PollResult, _ error) { results = append(results, r) }))
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, id := range f.sim.IncidentIDs() {
		if tr, _ := f.sim.Truth(id); tr.Restricted {
			want++
		}
	}
	if want == 0 {
		t.Fatal("simulator generated no restricted incidents")
	}
	if got := len(results[0].Restricted); got != want {
		t.Errorf("first poll reported %d restricted ids, want %d", got, want)
	}
	if got := len(results[1].Restricted); got != 0 {
		t.Errorf("second poll reported %d restricted ids again", got)
	}
	if c.n != 200-want {
		t.Errorf("emitted %d, want %d readable incidents", c.n, 200-want)
	}
}

func TestServerSideFiltersAreSent(t *testing.T) {
	f := newFixture(t, xdrtest.Config{Seed: 8, Incidents: 300})
	var c collector
	s, err := New(Config{Lookback: time.Minute, Filters: []xdr.Filter{{Field: xdr.FieldStatus, Operator: xdr.OpIn, Value: []string{"new"}}}},
		f.api, Start{}, c.handle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.n == 0 || c.n == 300 {
		t.Fatalf("status filter emitted %d of 300", c.n)
	}
	for _, id := range f.sim.IncidentIDs() {
		if len(c.got[id]) > 0 {
			continue
		}
		// Not emitted: it must not be "new".
		r, err := f.api.GetIncidents(context.Background(), xdr.IncidentsRequest{SearchTo: 1,
			Filters: []xdr.Filter{{Field: xdr.FieldIncidentIDList, Operator: xdr.OpIn, Value: []string{id}}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range r.Incidents {
			if inc.Status == "new" {
				t.Errorf("incident %s has status new but was filtered out", id)
			}
		}
	}
}

func TestPermanentErrorStopsRun(t *testing.T) {
	f := newFixture(t, xdrtest.Config{Seed: 9, Incidents: 5})
	base := f.api.BaseURL()
	bad, err := xdr.New(xdr.Config{BaseURL: base, KeyID: "1", Key: xdr.NewSecret("wrong-key"), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	s, err := New(Config{PollInterval: 10 * time.Millisecond}, bad, Start{}, c.handle)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Run(ctx)
	var apiErr *xdr.APIError
	if err == nil || !asAPIError(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("Run with a wrong key returned %v, want a 401 APIError", err)
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	f := newFixture(t, xdrtest.Config{Seed: 10, Incidents: 250})
	f.sim.Inject(xdrtest.EndpointIncidents, xdrtest.FaultServerError, 2)
	f.sim.Inject(xdrtest.EndpointIncidents, xdrtest.FaultTruncatedGzip, 1)
	var c collector
	s, err := New(Config{Lookback: time.Minute}, f.api, Start{}, c.handle, WithBackoff(fastBackoff))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Poll(context.Background()); err != nil {
		t.Fatalf("poll with 3 transient faults: %v", err)
	}
	requireAllCurrent(t, f.sim, &c)
}
