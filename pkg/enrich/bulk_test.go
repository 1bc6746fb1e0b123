package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// fakeBulk is a scripted get_multiple_incidents_extra_data; reply gets the
// call number (1-based).
type fakeBulk struct {
	reply func(ids []string, n int) (*xdr.MultipleExtraData, error)

	mu    sync.Mutex
	calls [][]string
}

func (f *fakeBulk) GetMultipleIncidentsExtraData(_ context.Context, req xdr.MultipleExtraDataRequest) (*xdr.MultipleExtraData, error) {
	f.mu.Lock()
	f.calls = append(f.calls, slices.Clone(req.IncidentIDs))
	n := len(f.calls)
	f.mu.Unlock()
	return f.reply(req.IncidentIDs, n)
}

func (f *fakeBulk) asked() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// itemsOf answers every id with extraData, as a bulk reply would.
func itemsOf(ids []string, limit int) *xdr.MultipleExtraData {
	r := &xdr.MultipleExtraData{AlertsLimitPerIncident: limit}
	for _, id := range ids {
		r.Items = append(r.Items, xdr.MultipleExtraDataItem{IncidentID: id, Data: extraData(id, 1)})
	}
	return r
}

func newBulkHarness(t *testing.T, cfg Config, api *fakeAPI, bulk *fakeBulk, opts ...Option) (*harness, *Limiter) {
	t.Helper()
	blim, err := NewLimiter(10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]Option{WithBulk(bulk, blim), WithClock(func() time.Time { return time.UnixMilli(1_700_000_000_000) })}, opts...)
	return newHarness(t, cfg, api, opts...), blim
}

func enqueueN(e *Enricher, n int) {
	for i := range n {
		e.Enqueue(offsets.Pending{IncidentID: strconv.Itoa(1000 + i), ModificationTime: 1, FirstQueued: int64(1 + i)})
	}
}

// recordsByKey renders records as "topic key value" lines, sorted.
func recordLines(recs []record.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s %s %s %d %s", r.Topic, r.Type, r.Key, r.Version, r.Value))
	}
	slices.Sort(out)
	return out
}

// Bulk enrichment asks for up to BulkSize incidents per call, in queue order,
// under one slot of its own limiter, and publishes for each incident exactly
// the records a single call with the same reply gives.
func TestBulkBatchesAndMatchesSingleRecords(t *testing.T) {
	var single, bulk []string
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: ok}
		h := newHarness(t, Config{}, api, WithClock(func() time.Time { return time.UnixMilli(1_700_000_000_000) }))
		enqueueN(h.e, 150)
		h.run(t)
		synctest.Wait()
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		if len(h.settled()) != 150 {
			t.Fatalf("single: %d settled", len(h.settled()))
		}
		single = recordLines(h.pub.all())
		h.shutdown(t)
	})
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: ok}
		fb := &fakeBulk{reply: func(ids []string, _ int) (*xdr.MultipleExtraData, error) { return itemsOf(ids, 50), nil }}
		h, blim := newBulkHarness(t, Config{}, api, fb)
		enqueueN(h.e, 150)
		h.run(t)
		synctest.Wait()
		// The two calls may be in flight at once and arrive in either
		// order; each asks for a run of the queue in order: the first 100
		// incidents, then the 50 left.
		asked := fb.asked()
		slices.SortFunc(asked, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
		for i, r := range [][2]int{{1000, 1100}, {1100, 1150}} {
			var want []string
			for id := r[0]; id < r[1]; id++ {
				want = append(want, strconv.Itoa(id))
			}
			if len(asked) != 2 || !slices.Equal(asked[i], want) {
				var sizes []int
				for _, a := range asked {
					sizes = append(sizes, len(a))
				}
				t.Fatalf("bulk calls asked for %v incidents (first ids %v), want 1000-1099 and 1100-1149", sizes, firstIDs(asked))
			}
		}
		if n := len(api.callIDs()); n != 0 {
			t.Errorf("%d single calls", n)
		}
		if len(h.settled()) != 150 {
			t.Fatalf("bulk: %d settled", len(h.settled()))
		}
		st := h.e.Stats()
		if n := uint64(len(asked)); st.BulkCalls != n || st.Calls != 0 || st.Enriched != 150 || blim.Stats().Acquired != n || h.lim.Stats().Acquired != 0 || st.BulkMode != BulkAuto {
			t.Errorf("stats %+v", st)
		}
		bulk = recordLines(h.pub.all())
		h.shutdown(t)
	})
	if !slices.Equal(single, bulk) {
		t.Errorf("bulk records differ from the single calls' (%d vs %d records)", len(bulk), len(single))
	}
}

// One batch holding an incident that no longer exists, one the key may not
// read, one above the reply's alerts cap, a poison item and an item nobody
// asked for: each incident is settled on its own, as single calls would
// settle it, and the rest of the batch is enriched.
func TestBulkBatchSettlesEachIncident(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const many = 5
		full := func(id string) *xdr.ExtraData {
			ed := extraData(id, 1)
			ed.Incident.AlertCount = many
			ed.Alerts.TotalCount = many
			ed.Alerts.Data = nil
			for i := range many {
				ed.Alerts.Data = append(ed.Alerts.Data, xdr.Alert{ID: fmt.Sprint(i), Raw: json.RawMessage(fmt.Sprintf(`{"alert_id":"%d"}`, i))})
			}
			return ed
		}
		api := &fakeAPI{reply: func(_ context.Context, id string, _ int) (*xdr.ExtraData, error) {
			switch id {
			case "gone":
				return nil, &xdr.APIError{Endpoint: xdr.EndpointGetIncidentExtraData, Status: 500, Message: "An error occurred", Extra: "Incident gone was not found"}
			case "secret":
				return nil, &xdr.APIError{Endpoint: xdr.EndpointGetIncidentExtraData, Status: http.StatusForbidden, Message: "Forbidden access"}
			case "big":
				return full(id), nil
			}
			return extraData(id, 1), nil
		}}
		fb := &fakeBulk{reply: func(ids []string, _ int) (*xdr.MultipleExtraData, error) {
			r := &xdr.MultipleExtraData{AlertsLimitPerIncident: 2}
			for _, id := range ids {
				switch id {
				case "gone", "secret":
					continue // absent from the reply
				case "big":
					ed := full(id)
					ed.Alerts.Data = ed.Alerts.Data[:2] // capped at alerts_limit_per_incident
					r.Items = append(r.Items, xdr.MultipleExtraDataItem{IncidentID: id, Data: ed})
				case "poison":
					r.Items = append(r.Items, xdr.MultipleExtraDataItem{IncidentID: id, Err: fmt.Errorf("item 3: %w: alert 0 of the reply is not an object", xdr.ErrMalformed)})
				default:
					r.Items = append(r.Items, xdr.MultipleExtraDataItem{IncidentID: id, Data: extraData(id, 1)})
				}
			}
			r.Items = append(r.Items, xdr.MultipleExtraDataItem{IncidentID: "stranger", Data: extraData("stranger", 1)})
			return r, nil
		}}
		h, _ := newBulkHarness(t, Config{MaxAttempts: 3}, api, fb, constBackoff(time.Second))
		for i, id := range []string{"a", "gone", "secret", "big", "poison", "b"} {
			h.e.Enqueue(offsets.Pending{IncidentID: id, ModificationTime: 1, FirstQueued: int64(i + 1)})
		}
		h.run(t)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		got := map[string]bool{}
		for _, s := range h.settled() {
			got[s.it.IncidentID] = s.dlq
		}
		want := map[string]bool{"a": false, "b": false, "big": false, "gone": true, "secret": true, "poison": true}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("settled (id: dead-lettered) %v, want %v", got, want)
		}
		calls := api.callIDs()
		slices.Sort(calls)
		if !slices.Equal(calls, []string{"big", "gone", "secret"}) {
			t.Errorf("single calls for %v, want big, gone and secret", calls)
		}
		var alerts int
		for _, r := range h.pub.all() {
			if r.Key != nil && strings.Contains(string(r.Value), `"incident_id":"stranger"`) {
				t.Errorf("published an item nobody asked for: %s", r.Value)
			}
			if r.Topic == record.TopicAlerts && bytes.Contains(r.Value, []byte(`"incident_id":"big"`)) {
				alerts++
			}
			if r.Type == record.TypeDLQ {
				env := decodeEnvelope(t, r.Value)
				if env.IncidentID == "poison" && (env.Error.Attempts != 3 || !strings.Contains(env.Error.Message, "not an object")) {
					t.Errorf("poison DLQ %+v", env.Error)
				}
				if env.IncidentID == "gone" && !strings.Contains(env.Error.Message, "does not exist") {
					t.Errorf("gone DLQ %+v", env.Error)
				}
			}
		}
		if alerts != many {
			t.Errorf("incident above the cap published with %d alerts, want all %d", alerts, many)
		}
		st := h.e.Stats()
		if st.Unasked != st.BulkCalls || st.Unasked == 0 || st.Capped != 1 || st.Absent != 2 || st.NotFound != 1 || st.Enriched != 3 || st.DLQ != 3 {
			t.Errorf("stats %+v", st)
		}
		h.shutdown(t)
	})
}

// ENRICH_BULK=auto: a tenant answering 404 for the bulk endpoint is switched
// to single calls once, told once, and every incident is enriched; the
// batch's incidents lose no attempt.
func TestBulkAutoFallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: ok}
		fb := &fakeBulk{reply: func([]string, int) (*xdr.MultipleExtraData, error) {
			return nil, &xdr.APIError{Endpoint: xdr.EndpointGetMultipleIncidentsExtraData, Status: http.StatusNotFound, Message: "Not Found"}
		}}
		var told []error
		var mu sync.Mutex
		h, _ := newBulkHarness(t, Config{MaxAttempts: 1}, api, fb, WithBulkFallback(func(err error) {
			mu.Lock()
			told = append(told, err)
			mu.Unlock()
		}))
		enqueueN(h.e, 30)
		h.run(t)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := len(fb.asked()); n != 1 {
			t.Errorf("%d bulk calls, want 1", n)
		}
		if n := len(h.settled()); n != 30 || len(api.callIDs()) != 30 {
			t.Fatalf("%d settled, %d single calls; want 30 and 30", n, len(api.callIDs()))
		}
		st := h.e.Stats()
		if !st.BulkFallback || !h.e.FellBack() || h.e.BulkActive() || st.DLQ != 0 || len(told) != 1 {
			t.Errorf("stats %+v, told %d times", st, len(told))
		}
		if want := 10.0 / 60; math.Abs(st.Capacity-want) > 1e-9 {
			t.Errorf("capacity after the fallback %v incidents/s, want the single endpoint's %v", st.Capacity, want)
		}
		h.shutdown(t)
	})
}

// The enrichment's capacity, which bounds the queue's drain estimate, counts
// BulkSize incidents per bulk call while bulk is active, beside the single
// endpoint's calls; without bulk it is the single endpoint's alone.
func TestCapacityCountsTheBulkCalls(t *testing.T) {
	fb := &fakeBulk{reply: func(ids []string, _ int) (*xdr.MultipleExtraData, error) { return itemsOf(ids, 50), nil }}
	h, _ := newBulkHarness(t, Config{BulkSize: 40}, &fakeAPI{reply: ok}, fb)
	if got, want := h.e.Stats().Capacity, (10.0+10*40)/60; math.Abs(got-want) > 1e-9 {
		t.Errorf("bulk on: capacity %v incidents/s, want %v", got, want)
	}
	off := newHarness(t, Config{Bulk: BulkOff}, &fakeAPI{reply: ok})
	if got, want := off.e.Stats().Capacity, 10.0/60; math.Abs(got-want) > 1e-9 {
		t.Errorf("bulk off: capacity %v incidents/s, want %v", got, want)
	}
}

// ENRICH_BULK=on never falls back: the tenant stops with the error and
// nothing is dead-lettered or fetched alone.
func TestBulkOnNeverFallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: ok}
		fb := &fakeBulk{reply: func([]string, int) (*xdr.MultipleExtraData, error) {
			return nil, &xdr.APIError{Endpoint: xdr.EndpointGetMultipleIncidentsExtraData, Status: http.StatusNotFound, Message: "Not Found"}
		}}
		h, _ := newBulkHarness(t, Config{Bulk: BulkOn}, api, fb)
		enqueueN(h.e, 5)
		h.run(t)
		err := <-h.errc
		if !xdr.EndpointNotServed(err) || !strings.Contains(err.Error(), "ENRICH_BULK=on") {
			t.Fatalf("Run = %v", err)
		}
		if len(api.callIDs()) != 0 || len(h.pub.all()) != 0 || h.e.FellBack() {
			t.Errorf("single calls %d, records %d", len(api.callIDs()), len(h.pub.all()))
		}
	})
}

// A 429 of the bulk endpoint pauses the bulk limiter, not the single one; a
// bulk call failing as a whole twice hands its incidents to single calls, so
// an incident that breaks every batch cannot dead-letter the others.
func TestBulkThrottleAndFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: ok}
		fb := &fakeBulk{reply: func(ids []string, n int) (*xdr.MultipleExtraData, error) {
			if n == 1 {
				return nil, &xdr.APIError{Endpoint: xdr.EndpointGetMultipleIncidentsExtraData, Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second}
			}
			return nil, &xdr.APIError{Endpoint: xdr.EndpointGetMultipleIncidentsExtraData, Status: http.StatusInternalServerError, Message: "An error occurred"}
		}}
		h, blim := newBulkHarness(t, Config{MaxAttempts: 6}, api, fb, constBackoff(time.Second))
		enqueueN(h.e, 3)
		h.run(t)
		synctest.Wait()
		if p := blim.Stats().PausedUntil; !p.After(time.Now()) || !h.lim.Stats().PausedUntil.IsZero() {
			t.Fatalf("after a bulk 429: bulk paused until %v, single until %v", p, h.lim.Stats().PausedUntil)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if n := len(h.settled()); n != 3 || len(api.callIDs()) != 3 {
			t.Fatalf("%d settled with %d single calls", n, len(api.callIDs()))
		}
		st := h.e.Stats()
		if st.BulkRateLimited != 1 || st.BulkCalls < 1+bulkFailuresBeforeSingle || st.DLQ != 0 || st.ToSingle != 3 {
			t.Errorf("stats %+v", st)
		}
		h.shutdown(t)
	})
}

func TestParseBulkMode(t *testing.T) {
	for in, want := range map[string]string{"": BulkAuto, "auto": BulkAuto, "on": BulkOn, "off": BulkOff} {
		if got, err := ParseBulkMode(in); got != want || err != nil {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := ParseBulkMode("yes"); err == nil {
		t.Error("yes accepted")
	}
	if _, err := New(Config{Connector: "c", BulkSize: 101}, &Limiter{n: 1, window: time.Second}, &fakeAPI{}, &fakePub{}); err == nil {
		t.Error("bulk size 101 accepted")
	}
}

// A bulk call serves incidents of many traces: its "enrich batch" span links
// to each incident's "enrich incident" span and each of those links back, and
// the request itself runs under the batch span (so the client's span is its
// child), never as a stray root.
func TestBulkCallIsTracedUnderItsBatchSpan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		var mu sync.Mutex
		var callParents []trace.SpanContext
		fb := &fakeBulk{reply: func(ids []string, _ int) (*xdr.MultipleExtraData, error) { return itemsOf(ids, 50), nil }}
		api := &fakeAPI{reply: ok}
		traced := tracedBulk{fakeBulk: fb, seen: func(sc trace.SpanContext) {
			mu.Lock()
			callParents = append(callParents, sc)
			mu.Unlock()
		}}
		blim, err := NewLimiter(10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, Config{}, api, WithBulk(traced, blim), WithTracerProvider(tp),
			WithClock(func() time.Time { return time.UnixMilli(1_700_000_000_000) }))
		enqueueN(h.e, 5)
		h.run(t)
		synctest.Wait()
		if len(h.settled()) != 5 {
			t.Fatalf("%d settled, want 5", len(h.settled()))
		}
		h.shutdown(t)

		byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
		var batches, incidents []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			byID[s.SpanContext().SpanID()] = s
			switch s.Name() {
			case "enrich batch":
				batches = append(batches, s)
			case "enrich incident":
				incidents = append(incidents, s)
			}
		}
		if len(batches) == 0 || len(incidents) != 5 {
			t.Fatalf("%d batch spans and %d incident spans, want at least 1 and 5", len(batches), len(incidents))
		}
		mu.Lock()
		defer mu.Unlock()
		if len(callParents) != len(batches) {
			t.Fatalf("%d bulk calls, %d batch spans", len(callParents), len(batches))
		}
		for _, sc := range callParents {
			if b, ok := byID[sc.SpanID()]; !ok || b.Name() != "enrich batch" {
				t.Errorf("a bulk call ran under span %v, not an enrich batch span", sc.SpanID())
			}
		}
		linked := 0
		for _, b := range batches {
			for _, l := range b.Links() {
				in, ok := byID[l.SpanContext.SpanID()]
				if !ok || in.Name() != "enrich incident" {
					t.Errorf("batch span links to %v, not an incident span", l.SpanContext.SpanID())
					continue
				}
				back := slices.ContainsFunc(in.Links(), func(x sdktrace.Link) bool {
					return x.SpanContext.SpanID() == b.SpanContext().SpanID()
				})
				if !back {
					t.Errorf("incident span %v does not link back to its batch", in.SpanContext().SpanID())
				}
				linked++
			}
		}
		if linked != 5 {
			t.Errorf("the batch spans link to %d incident spans, want 5", linked)
		}
	})
}

// tracedBulk tells seen the span context each bulk call runs under.
type tracedBulk struct {
	*fakeBulk
	seen func(trace.SpanContext)
}

func (b tracedBulk) GetMultipleIncidentsExtraData(ctx context.Context, req xdr.MultipleExtraDataRequest) (*xdr.MultipleExtraData, error) {
	b.seen(trace.SpanContextFromContext(ctx))
	return b.fakeBulk.GetMultipleIncidentsExtraData(ctx, req)
}

// A worker waiting for a bulk slot holds no incident: when the bulk budget
// admits one call a minute, the second call, a minute after the first, asks
// for the 50 incidents the first left, in queue order, and no incident is
// sent alone because another worker popped it while it waited.
func TestBulkWorkerWaitingForASlotHoldsNoIncident(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: ok}
		fb := &fakeBulk{reply: func(ids []string, _ int) (*xdr.MultipleExtraData, error) { return itemsOf(ids, 50), nil }}
		blim, err := NewLimiter(1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, Config{Workers: 2}, api, WithBulk(fb, blim), WithClock(func() time.Time { return time.UnixMilli(1_700_000_000_000) }))
		enqueueN(h.e, 150)
		h.run(t)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		var want [][]string
		for _, r := range [][2]int{{0, 100}, {100, 150}} {
			var ids []string
			for i := r[0]; i < r[1]; i++ {
				ids = append(ids, strconv.Itoa(1000+i))
			}
			want = append(want, ids)
		}
		asked := fb.asked()
		if len(asked) != len(want) || !slices.Equal(asked[0], want[0]) || !slices.Equal(asked[1], want[1]) {
			var sizes []int
			for _, a := range asked {
				sizes = append(sizes, len(a))
			}
			t.Fatalf("bulk calls asked for %v incidents (first ids %v), want 1000-1099 then 1100-1149", sizes, firstIDs(asked))
		}
		if n := len(h.settled()); n != 150 || len(api.callIDs()) != 0 {
			t.Fatalf("%d settled, %d single calls; want 150 and none", n, len(api.callIDs()))
		}
		h.shutdown(t)
	})
}

// firstIDs returns the first incident id of each batch.
func firstIDs(batches [][]string) []string {
	var out []string
	for _, b := range batches {
		out = append(out, b[0])
	}
	return out
}

// While one worker waits for a bulk slot, another fetches alone the incident
// a bulk reply left out: it does not wait for the bulk budget.
func TestBulkSlotWaitDoesNotHoldUpSingleCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: ok}
		fb := &fakeBulk{reply: func(ids []string, _ int) (*xdr.MultipleExtraData, error) {
			return itemsOf(slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "1050" }), 50), nil
		}}
		blim, err := NewLimiter(1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, Config{Workers: 2}, api, WithBulk(fb, blim), WithClock(func() time.Time { return time.UnixMilli(1_700_000_000_000) }))
		enqueueN(h.e, 101)
		h.run(t)
		synctest.Wait()
		// One bulk call for the first 100; 1050, absent from its reply,
		// fetched alone at once, while the other worker waits an hour for
		// the bulk slot of 1100.
		if n := len(fb.asked()); n != 1 {
			t.Fatalf("%d bulk calls, want 1", n)
		}
		if calls := api.callIDs(); !slices.Equal(calls, []string{"1050"}) {
			t.Fatalf("single calls %v while a worker waits for the bulk slot, want 1050", calls)
		}
		if n := len(h.settled()); n != 100 {
			t.Fatalf("%d settled, want the first 100", n)
		}
		h.shutdown(t)
	})
}

// A retry of an incident that must be fetched alone comes due while one
// worker waits for the bulk slot and the other waits for work: the waiting
// worker fetches it at its retry time, not when the bulk slot frees.
func TestBulkSlotWaitDoesNotHoldUpASingleRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		api := &fakeAPI{reply: func(ctx context.Context, id string, n int) (*xdr.ExtraData, error) {
			if id == "1050" && n == 1 {
				return nil, &xdr.APIError{Endpoint: xdr.EndpointGetIncidentExtraData, Status: http.StatusServiceUnavailable, Message: "busy"}
			}
			return ok(ctx, id, n)
		}}
		fb := &fakeBulk{reply: func(ids []string, _ int) (*xdr.MultipleExtraData, error) {
			return itemsOf(slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "1050" }), 50), nil
		}}
		blim, err := NewLimiter(1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, Config{Workers: 2}, api, WithBulk(fb, blim),
			WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Second) }))
		enqueueN(h.e, 101)
		h.run(t)
		synctest.Wait()
		if calls := api.callIDs(); !slices.Equal(calls, []string{"1050"}) {
			t.Fatalf("single calls %v before the retry, want 1050 once", calls)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if calls := api.callIDs(); !slices.Equal(calls, []string{"1050", "1050"}) {
			t.Fatalf("single calls %v %s after the start, with a retry due at 1s, want 1050 twice", calls, time.Since(start))
		}
		if n := len(h.settled()); n != 101-1 {
			t.Fatalf("%d settled, want the first 100 (1100 waits for the bulk slot)", n)
		}
		h.shutdown(t)
	})
}

// After a fallback, a worker waiting for a bulk slot goes on with single
// calls at once, and spends no slot of the bulk limiter.
func TestFallbackWakesTheWorkerWaitingForABulkSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{reply: ok}
		blim, err := NewLimiter(2, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int32
		fb := &fakeBulk{reply: func(ids []string, _ int) (*xdr.MultipleExtraData, error) {
			if calls.Add(1) == 1 {
				return itemsOf(ids, 50), nil
			}
			// Said once the other worker waits for a third bulk slot.
			for blim.Stats().Waiting == 0 {
				time.Sleep(time.Millisecond)
			}
			return nil, &xdr.APIError{Endpoint: xdr.EndpointGetMultipleIncidentsExtraData, Status: http.StatusNotFound, Message: "404 page not found"}
		}}
		h := newHarness(t, Config{Workers: 2, BulkSize: 10}, api, WithBulk(fb, blim))
		enqueueN(h.e, 35)
		h.run(t)
		time.Sleep(time.Second) // the second call's answer, once the other worker waits
		synctest.Wait()
		if !h.e.FellBack() || len(fb.asked()) != 2 {
			t.Fatalf("fell back %v after %d bulk calls, want true after 2", h.e.FellBack(), len(fb.asked()))
		}
		if st := h.e.Stats().BulkLimiter; st.Waiting != 0 || st.Acquired != 2 {
			t.Fatalf("after the fallback, %d workers wait for a bulk slot and %d were taken; want none waiting and the 2 calls' slots", st.Waiting, st.Acquired)
		}
		// The 25 left go one by one, at the single budget of 10 a minute.
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		if n := len(h.settled()); n != 35 {
			t.Fatalf("%d settled, want 35", n)
		}
		if st := h.e.Stats().BulkLimiter; st.Acquired != 2 {
			t.Errorf("bulk slots taken %d, want the 2 calls' only", st.Acquired)
		}
		h.shutdown(t)
	})
}

// 401, 402 and 403 answered to a bulk call keep the handling single calls
// give them: a refused key or licence stops the tenant with nothing
// dead-lettered or fetched alone; a 403 hands each incident of the batch to
// its own single call, whose answer decides (here: enriched).
func TestBulkKeyAndLicenceRefusals(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusPaymentRequired} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				api := &fakeAPI{reply: ok}
				fb := &fakeBulk{reply: func([]string, int) (*xdr.MultipleExtraData, error) {
					return nil, &xdr.APIError{Endpoint: xdr.EndpointGetMultipleIncidentsExtraData, Status: status, Message: "refused"}
				}}
				h, _ := newBulkHarness(t, Config{}, api, fb)
				enqueueN(h.e, 5)
				h.run(t)
				err := <-h.errc
				if ae, ok := errors.AsType[*xdr.APIError](err); !ok || ae.Status != status {
					t.Fatalf("Run = %v, want the %d", err, status)
				}
				// Nothing settled: the offsets still owe every enrichment.
				if len(api.callIDs()) != 0 || len(h.pub.all()) != 0 || len(h.settled()) != 0 || h.e.FellBack() {
					t.Errorf("single calls %d, records %d, settled %d, fell back %v; want none and false", len(api.callIDs()), len(h.pub.all()), len(h.settled()), h.e.FellBack())
				}
			})
		})
	}
	t.Run("403", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			api := &fakeAPI{reply: ok}
			fb := &fakeBulk{reply: func([]string, int) (*xdr.MultipleExtraData, error) {
				return nil, &xdr.APIError{Endpoint: xdr.EndpointGetMultipleIncidentsExtraData, Status: http.StatusForbidden, Message: "Forbidden access"}
			}}
			h, _ := newBulkHarness(t, Config{}, api, fb)
			enqueueN(h.e, 5)
			h.run(t)
			synctest.Wait()
			calls := api.callIDs()
			slices.Sort(calls)
			if n := len(h.settled()); n != 5 || len(calls) != 5 || len(fb.asked()) != 1 || h.e.FellBack() {
				t.Fatalf("%d settled, single calls %v, %d bulk calls, fell back %v; want 5 enriched one by one after one bulk call", n, calls, len(fb.asked()), h.e.FellBack())
			}
			if st := h.e.Stats(); st.DLQ != 0 || st.ToSingle != 5 {
				t.Errorf("stats %+v", st)
			}
			h.shutdown(t)
		})
	})
}

// withAlerts is extraData(id, 1) holding n alerts, its alert_count and
// alerts.total_count n.
func withAlerts(id string, n int) *xdr.ExtraData {
	ed := extraData(id, 1)
	ed.Incident.AlertCount, ed.Alerts.TotalCount, ed.Alerts.Data = n, n, nil
	for i := range n {
		ed.Alerts.Data = append(ed.Alerts.Data, xdr.Alert{ID: fmt.Sprintf("%s-%d", id, i), Raw: json.RawMessage(fmt.Sprintf(`{"alert_id":"%s-%d"}`, id, i))})
	}
	return ed
}

// Once a bulk reply told the tenant's alerts_limit_per_incident, an owed
// incident whose alert_count, as the poll read it, is above it takes no place
// in a bulk call: it is fetched alone, in full, under the single budget, and
// its retry stays alone and is counted once. Before the cap is known, such
// an incident goes into the bulk call and the reply decides, as an incident
// whose poll count is under the cap but whose reply shows more still does.
func TestBulkSendsAnIncidentAboveTheKnownCapAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cap, many = 2, 5
		var mu sync.Mutex
		failed := false
		api := &fakeAPI{reply: func(_ context.Context, id string, _ int) (*xdr.ExtraData, error) {
			switch id {
			case "big":
				mu.Lock()
				defer mu.Unlock()
				if !failed {
					failed = true
					return nil, &xdr.APIError{Endpoint: xdr.EndpointGetIncidentExtraData, Status: http.StatusInternalServerError, Message: "An error occurred"}
				}
				return withAlerts(id, many), nil
			case "early", "liar":
				return withAlerts(id, many), nil
			}
			return extraData(id, 1), nil
		}}
		fb := &fakeBulk{reply: func(ids []string, _ int) (*xdr.MultipleExtraData, error) {
			r := &xdr.MultipleExtraData{AlertsLimitPerIncident: cap}
			for _, id := range ids {
				ed := extraData(id, 1)
				if id == "early" || id == "big" || id == "liar" {
					ed = withAlerts(id, many)
					ed.Alerts.Data = ed.Alerts.Data[:cap]
				}
				r.Items = append(r.Items, xdr.MultipleExtraDataItem{IncidentID: id, Data: ed})
			}
			return r, nil
		}}
		// One bulk call a minute: the second batch is taken whole, after
		// every incident below is queued.
		blim, err := NewLimiter(1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, Config{Workers: 2}, api, WithBulk(fb, blim), constBackoff(time.Second),
			WithClock(func() time.Time { return time.UnixMilli(1_700_000_000_000) }))
		h.e.Enqueue(offsets.Pending{IncidentID: "a1", ModificationTime: 1, FirstQueued: 1, AlertCount: 1})
		h.e.Enqueue(offsets.Pending{IncidentID: "early", ModificationTime: 1, FirstQueued: 2, AlertCount: many})
		h.run(t)
		synctest.Wait()
		if n := len(h.settled()); n != 2 {
			t.Fatalf("%d settled before the second batch, want a1 and early", n)
		}
		for i, it := range []offsets.Pending{
			{IncidentID: "b1", AlertCount: 1},
			{IncidentID: "big", AlertCount: many},
			{IncidentID: "liar", AlertCount: 1}, // stale: the reply shows more
			{IncidentID: "b2"},                  // unknown: the reply decides
		} {
			it.ModificationTime, it.FirstQueued = 1, int64(10+i)
			h.e.Enqueue(it)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()

		if asked := fb.asked(); len(asked) != 2 || !slices.Equal(asked[0], []string{"a1", "early"}) || !slices.Equal(asked[1], []string{"b1", "liar", "b2"}) {
			t.Fatalf("bulk calls asked for %v, want [a1 early] then [b1 liar b2]", asked)
		}
		calls := api.callIDs()
		slices.Sort(calls)
		if !slices.Equal(calls, []string{"big", "big", "early", "liar"}) {
			t.Errorf("single calls for %v, want big (failed, then retried alone), early and liar", calls)
		}
		got := map[string]bool{}
		for _, s := range h.settled() {
			if _, twice := got[s.it.IncidentID]; twice {
				t.Errorf("%s settled twice", s.it.IncidentID)
			}
			got[s.it.IncidentID] = s.dlq
		}
		if want := map[string]bool{"a1": false, "early": false, "b1": false, "big": false, "liar": false, "b2": false}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("settled (id: dead-lettered) %v, want %v", got, want)
		}
		alerts := map[string]int{}
		for _, r := range h.pub.all() {
			if r.Topic == record.TopicAlerts {
				alerts[r.IncidentID]++
			}
		}
		for _, id := range []string{"early", "big", "liar"} {
			if alerts[id] != many {
				t.Errorf("incident %s published with %d alerts, want all %d", id, alerts[id], many)
			}
		}
		st := h.e.Stats()
		if st.BulkCalls != 2 || st.ToSingle != 3 || st.Capped != 3 || st.Absent != 0 || st.Enriched != 6 || st.DLQ != 0 || st.Retries != 1 {
			t.Errorf("stats %+v", st)
		}
		// The incident sent alone spent single slots like any single call.
		if n := h.lim.Stats().Acquired; n != uint64(len(calls)) {
			t.Errorf("the single limiter gave %d slots for %d single calls", n, len(calls))
		}
		h.shutdown(t)
	})
}

// aboveCap follows the rule of incomplete: only a known cap below both the
// poll's alert_count and ALERTS_LIMIT sends an incident alone.
func TestAboveCap(t *testing.T) {
	for _, tc := range []struct {
		cap, alertsLimit, alerts int
		want                     bool
	}{
		{0, 1000, 5000, false}, // no bulk reply told the cap yet
		{50, 1000, 0, false},   // the poll's count is unknown
		{50, 1000, 50, false},
		{50, 1000, 51, true},
		{50, 1000, 5000, true},
		{50, 40, 51, false}, // ALERTS_LIMIT gives no more than the bulk reply
		{50, 50, 51, false},
		{50, 51, 52, true},
	} {
		e := &Enricher{cfg: Config{AlertsLimit: tc.alertsLimit}}
		e.alertsCap.Store(int64(tc.cap))
		if got := e.aboveCap(tc.alerts); got != tc.want {
			t.Errorf("cap %d, ALERTS_LIMIT %d, alert_count %d: aboveCap = %v, want %v", tc.cap, tc.alertsLimit, tc.alerts, got, tc.want)
		}
	}
}
