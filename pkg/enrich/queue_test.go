package enrich

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
)

const tp1 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
const tp2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"

func popN(t *testing.T, q *Queue, n int) []offsets.Pending {
	t.Helper()
	var out []offsets.Pending
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		it, err := q.Pop(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Pop: %v", err)
		}
		out = append(out, it)
	}
	return out
}

func ids(items []offsets.Pending) []string {
	var s []string
	for _, it := range items {
		s = append(s, it.IncidentID)
	}
	return s
}

func TestQueueOrder(t *testing.T) {
	q := NewQueue()
	for _, it := range []offsets.Pending{
		{IncidentID: "1", Severity: "low", FirstQueued: 100},
		{IncidentID: "2", Severity: "high", FirstQueued: 300},
		{IncidentID: "3", Severity: "weird", FirstQueued: 50},
		{IncidentID: "4", Severity: "critical", FirstQueued: 400},
		{IncidentID: "5", Severity: "high", FirstQueued: 200},
		{IncidentID: "6", Severity: "MEDIUM ", FirstQueued: 10},
		{IncidentID: "7", Severity: "high", FirstQueued: 200},
		{IncidentID: "8", Severity: "", FirstQueued: 40},
	} {
		q.Push(it)
	}
	got := popN(t, q, 8)
	want := []string{"4", "5", "7", "2", "6", "1", "8", "3"}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("order = %v, want %v", ids(got), want)
	}
	if got[4].Severity != "medium" || got[7].Severity != "unknown" {
		t.Fatalf("severity names: %q %q", got[4].Severity, got[7].Severity)
	}
}

// TestQueueRanksPrefixedSeverities: the queue reads a severity as the
// output profiles do (xdr.Severity), so an alert source's "SEV_040_HIGH"
// ranks as high, not as unknown.
func TestQueueRanksPrefixedSeverities(t *testing.T) {
	q := NewQueue()
	q.Push(offsets.Pending{IncidentID: "low", Severity: "low", FirstQueued: 1})
	q.Push(offsets.Pending{IncidentID: "unknown", Severity: "unknown", FirstQueued: 2})
	q.Push(offsets.Pending{IncidentID: "prefixed", Severity: "SEV_040_HIGH", FirstQueued: 3})
	got := popN(t, q, 3)
	if want := []string{"prefixed", "low", "unknown"}; !slices.Equal(ids(got), want) {
		t.Fatalf("order = %v, want %v", ids(got), want)
	}
	if got[0].Severity != "high" {
		t.Fatalf("severity of SEV_040_HIGH = %q, want high", got[0].Severity)
	}
}

func TestQueueCoalesces(t *testing.T) {
	q := NewQueue()
	q.Push(offsets.Pending{IncidentID: "9", Severity: "low", FirstQueued: 50, ModificationTime: 1000, TraceParent: tp1})
	q.Push(offsets.Pending{IncidentID: "10", Severity: "medium", FirstQueued: 60, ModificationTime: 1})
	q.Push(offsets.Pending{IncidentID: "9", Severity: "critical", FirstQueued: 70, ModificationTime: 900, TraceParent: tp2}) // older version
	q.Push(offsets.Pending{IncidentID: "9", Severity: "", FirstQueued: 80, ModificationTime: 800})
	if q.Len() != 2 {
		t.Fatalf("Len = %d, want 2", q.Len())
	}
	got := popN(t, q, 2)
	want := offsets.Pending{IncidentID: "9", Severity: "critical", FirstQueued: 50, ModificationTime: 1000, TraceParent: tp1}
	if got[0] != want {
		t.Fatalf("merged = %+v, want %+v", got[0], want)
	}

	// A downgrade moves the incident back.
	q.Push(offsets.Pending{IncidentID: "a", Severity: "high", FirstQueued: 1})
	q.Push(offsets.Pending{IncidentID: "b", Severity: "medium", FirstQueued: 2})
	q.Push(offsets.Pending{IncidentID: "a", Severity: "low", FirstQueued: 3, ModificationTime: 5, TraceParent: tp2})
	got = popN(t, q, 2)
	if !slices.Equal(ids(got), []string{"b", "a"}) || got[1].TraceParent != tp2 {
		t.Fatalf("after downgrade: %+v", got)
	}
}

func TestQueueHoldsBackInFlightIncident(t *testing.T) {
	q := NewQueue()
	q.Push(offsets.Pending{IncidentID: "1", Severity: "critical", ModificationTime: 10, FirstQueued: 1})
	first := popN(t, q, 1)[0]
	if q.InFlight() != 1 {
		t.Fatalf("InFlight = %d", q.InFlight())
	}
	q.Push(offsets.Pending{IncidentID: "1", Severity: "critical", ModificationTime: 20, FirstQueued: 5})
	q.Push(offsets.Pending{IncidentID: "1", Severity: "critical", ModificationTime: 15, FirstQueued: 4})
	q.Push(offsets.Pending{IncidentID: "2", Severity: "low", ModificationTime: 1, FirstQueued: 9})
	if q.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (one held back)", q.Len())
	}
	// Only incident 2 is poppable while 1 is in flight.
	if got := popN(t, q, 1)[0]; got.IncidentID != "2" {
		t.Fatalf("popped %s while 1 in flight", got.IncidentID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if it, err := q.Pop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pop = %+v, %v; want held back", it, err)
	}
	q.Done(first.IncidentID)
	again := popN(t, q, 1)[0]
	if again.IncidentID != "1" || again.ModificationTime != 20 || again.FirstQueued != 4 {
		t.Fatalf("re-queued = %+v", again)
	}
	q.Done("1")
	q.Done("2")
	if q.Len() != 0 || q.InFlight() != 0 {
		t.Fatalf("Len %d InFlight %d", q.Len(), q.InFlight())
	}
}

func TestQueuePopBlocksAndHonoursCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewQueue()
		got := make(chan offsets.Pending, 2)
		for range 2 {
			go func() {
				it, err := q.Pop(context.Background())
				if err != nil {
					t.Error(err)
				}
				got <- it
			}()
		}
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("Pop returned on an empty queue")
		}
		q.Push(offsets.Pending{IncidentID: "x"})
		q.Push(offsets.Pending{IncidentID: "y"})
		a, b := <-got, <-got
		if a.IncidentID == b.IncidentID {
			t.Fatalf("both waiters got %s", a.IncidentID)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := q.Pop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pop = %v", err)
		}
	})
}

func TestTraceParent(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{tp1, tp1},
		{tp2, tp2},
		{"", ""},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", ""}, // upper case
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""}, // zero trace id
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", ""}, // zero span id
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""}, // forbidden version
		{tp1 + "-extra", ""}, // version 00 has exactly four fields
		{"01" + tp1[2:] + "-future", "01" + tp1[2:]},
		{"garbage", ""},
	} {
		if got := parseTraceParent(tc.in).String(); got != tc.out {
			t.Errorf("parseTraceParent(%q) = %q, want %q", tc.in, got, tc.out)
		}
	}
}

// TestQueueMatchesModel drives the queue with random operations and checks
// every pop against a simple model (a map, sorted on demand).
func TestQueueMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	sevs := []string{"low", "medium", "high", "critical", "", "other"}
	q := NewQueue()
	model := map[string]offsets.Pending{}
	parked := map[string]offsets.Pending{}
	inflight := map[string]bool{}
	merge := func(m map[string]offsets.Pending, it offsets.Pending) {
		old, ok := m[it.IncidentID]
		if !ok {
			if it.Severity == "" || severityRank(it.Severity) == sevUnknown {
				it.Severity = "unknown"
			}
			m[it.IncidentID] = it
			return
		}
		old.ModificationTime = max(old.ModificationTime, it.ModificationTime)
		old.FirstQueued = min(old.FirstQueued, it.FirstQueued)
		if it.Severity != "" {
			old.Severity = severityNames[severityRank(it.Severity)]
		}
		m[it.IncidentID] = old
	}
	rank := func(it offsets.Pending) int { return int(severityRank(it.Severity)) }
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 5:
			it := offsets.Pending{IncidentID: strconv.Itoa(rng.IntN(200)), Severity: sevs[rng.IntN(len(sevs))],
				ModificationTime: rng.Int64N(1000), FirstQueued: rng.Int64N(1000)}
			q.Push(it)
			if inflight[it.IncidentID] {
				merge(parked, it)
			} else {
				merge(model, it)
			}
		case op < 8:
			if len(model) == 0 {
				continue
			}
			var all []offsets.Pending
			for _, it := range model {
				all = append(all, it)
			}
			slices.SortFunc(all, func(a, b offsets.Pending) int {
				return cmp.Or(-cmp.Compare(rank(a), rank(b)), cmp.Compare(a.FirstQueued, b.FirstQueued), cmp.Compare(a.IncidentID, b.IncidentID))
			})
			got, err := q.Pop(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != all[0] {
				t.Fatalf("step %d: Pop = %+v, model says %+v", step, got, all[0])
			}
			delete(model, got.IncidentID)
			inflight[got.IncidentID] = true
		default:
			for id := range inflight {
				q.Done(id)
				delete(inflight, id)
				if it, ok := parked[id]; ok {
					delete(parked, id)
					model[id] = it
				}
				break
			}
		}
		if q.Len() != len(model)+len(parked) {
			t.Fatalf("step %d: Len = %d, model %d", step, q.Len(), len(model)+len(parked))
		}
	}
}

// queuedBytesPerItem measures the heap growth of a queue holding n items,
// including the incident ids' bytes, which the queue keeps alive.
func queuedBytesPerItem(n int, withTrace bool) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	q := NewQueue()
	tp := ""
	if withTrace {
		tp = tp1
	}
	for i := range n {
		q.Push(offsets.Pending{IncidentID: strconv.Itoa(1_000_000 + i), ModificationTime: int64(i), Severity: "high", FirstQueued: int64(i), TraceParent: tp})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(q)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestQueueMemory: 100k queued items stay around 10 MiB; the figure is
// logged (go test -v -run QueueMemory).
func TestQueueMemory(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s > 64 {
		t.Errorf("entry is %d bytes, want <= 64", s)
	}
	const n = 100_000
	for _, withTrace := range []bool{false, true} {
		per := queuedBytesPerItem(n, withTrace)
		t.Logf("traceparent=%v: %.0f bytes/item, %.1f MiB for %d items", withTrace, per, per*n/(1<<20), n)
		if per > 160 {
			t.Errorf("traceparent=%v: %.0f bytes per queued item, want <= 160", withTrace, per)
		}
	}
}

func BenchmarkQueuePushPop(b *testing.B) {
	q := NewQueue()
	ctx := context.Background()
	const backlog = 100_000
	for i := range backlog {
		q.Push(offsets.Pending{IncidentID: strconv.Itoa(i), Severity: severityNames[i%5], FirstQueued: int64(i)})
	}
	b.ReportMetric(queuedBytesPerItem(backlog, true), "B/queued-item")
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprint(backlog + i)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q.Push(offsets.Pending{IncidentID: ids[i%len(ids)], Severity: "high", FirstQueued: int64(i)})
		it, _ := q.Pop(ctx)
		q.Done(it.IncidentID)
	}
}

// TestQueueRetryWaitsItsTime: an enrichment put back with Retry is not
// poppable before its not-before time, other incidents are meanwhile, pushes
// merge into it while it waits, and once due it takes its place in the
// service order again.
func TestQueueRetryWaitsItsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewQueue()
		t0 := time.Now()
		q.Push(offsets.Pending{IncidentID: "1", Severity: "high", ModificationTime: 10, FirstQueued: 1})
		q.Push(offsets.Pending{IncidentID: "2", Severity: "low", ModificationTime: 10, FirstQueued: 2})
		first := popN(t, q, 1)[0]
		if first.IncidentID != "1" {
			t.Fatalf("first Pop = %s", first.IncidentID)
		}
		q.Retry(first, t0.Add(10*time.Second))
		if q.Len() != 2 || q.Delayed() != 1 || q.InFlight() != 0 {
			t.Fatalf("after Retry: Len %d, Delayed %d, InFlight %d", q.Len(), q.Delayed(), q.InFlight())
		}
		if got := popN(t, q, 1)[0]; got.IncidentID != "2" || time.Since(t0) != 0 {
			t.Fatalf("second Pop = %s at +%s, want 2 at once", got.IncidentID, time.Since(t0))
		}
		q.Done("2")
		// A newer version while it waits merges into it: still one entry.
		q.Push(offsets.Pending{IncidentID: "1", Severity: "high", ModificationTime: 20, FirstQueued: 5})
		q.Push(offsets.Pending{IncidentID: "3", Severity: "low", ModificationTime: 10, FirstQueued: 3})
		if q.Len() != 2 || q.Delayed() != 1 {
			t.Fatalf("after pushes: Len %d, Delayed %d", q.Len(), q.Delayed())
		}
		if got := popN(t, q, 1)[0]; got.IncidentID != "3" {
			t.Fatalf("third Pop = %s, want 3 (1 is not due)", got.IncidentID)
		}
		q.Push(offsets.Pending{IncidentID: "4", Severity: "low", ModificationTime: 10, FirstQueued: 0})
		got, err := q.Pop(context.Background()) // 4 is ready now
		if err != nil || got.IncidentID != "4" {
			t.Fatalf("Pop = %+v, %v", got, err)
		}
		q.Push(offsets.Pending{IncidentID: "5", Severity: "low", ModificationTime: 10, FirstQueued: 0})
		time.Sleep(10 * time.Second)
		// Both 1 (high, due now) and 5 (low) are poppable: 1 goes first.
		got, err = q.Pop(context.Background())
		if err != nil || got.IncidentID != "1" || got.ModificationTime != 20 || got.FirstQueued != 1 {
			t.Fatalf("Pop once due = %+v, %v; want incident 1 at version 20, first queued 1", got, err)
		}
		if q.Delayed() != 0 {
			t.Fatalf("Delayed = %d once popped", q.Delayed())
		}
	})
}

// TestQueuePopWakesForARetry: a Pop blocked on an empty queue returns the
// retried incident when it is due, with no push to wake it.
func TestQueuePopWakesForARetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewQueue()
		t0 := time.Now()
		q.Push(offsets.Pending{IncidentID: "1"})
		it := popN(t, q, 1)[0]
		popped := make(chan time.Duration)
		go func() {
			if _, err := q.Pop(context.Background()); err == nil {
				popped <- time.Since(t0)
			}
		}()
		synctest.Wait()
		q.Retry(it, t0.Add(7*time.Second))
		if d := <-popped; d != 7*time.Second {
			t.Fatalf("popped at +%s, want +7s", d)
		}
	})
}

// TestQueueRetryMergesAHeldBackPush: a version pushed while its incident was
// in flight joins the enrichment that goes back to wait; a past not-before
// time makes it poppable at once.
func TestQueueRetryMergesAHeldBackPush(t *testing.T) {
	q := NewQueue()
	q.Push(offsets.Pending{IncidentID: "1", ModificationTime: 10, TraceParent: tp1})
	it := popN(t, q, 1)[0]
	q.Push(offsets.Pending{IncidentID: "1", ModificationTime: 30, TraceParent: tp2})
	if q.Len() != 1 {
		t.Fatalf("Len = %d with one push held back", q.Len())
	}
	q.Retry(it, time.Now().Add(-time.Second))
	if q.Len() != 1 || q.Delayed() != 0 {
		t.Fatalf("Len %d, Delayed %d after Retry", q.Len(), q.Delayed())
	}
	got := popN(t, q, 1)[0]
	if got.ModificationTime != 30 || got.TraceParent != tp2 {
		t.Fatalf("Pop = %+v, want version 30 with the newer trace", got)
	}
}

// PopIf waits for a poppable enrichment (a retry's included), pops the first
// when take wants it, and otherwise leaves the queue as it was, so that a
// later PopReady still takes it first.
func TestQueuePopIfTakesOnlyWhatItIsAskedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := NewQueue()
		t0 := time.Now()
		q.Push(offsets.Pending{IncidentID: "a", FirstQueued: 1})
		it := popN(t, q, 1)[0]
		q.Retry(it, t0.Add(3*time.Second))
		type result struct {
			it     offsets.Pending
			popped bool
			at     time.Duration
		}
		got := make(chan result, 1)
		go func() {
			it, popped, err := q.PopIf(context.Background(), func(it offsets.Pending) bool { return it.IncidentID == "b" })
			if err != nil {
				t.Error(err)
			}
			got <- result{it, popped, time.Since(t0)}
		}()
		if r := <-got; r.popped || r.it.IncidentID != "" || r.at != 3*time.Second {
			t.Fatalf("PopIf = %+v, want nothing popped once a is due at +3s", r)
		}
		q.Push(offsets.Pending{IncidentID: "b", FirstQueued: 2})
		if got := ids(q.PopReady(5, nil)); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("PopReady after a PopIf that took nothing = %v, want a, b", got)
		}
		q.Done("a")
		q.Done("b")
		q.Push(offsets.Pending{IncidentID: "b", FirstQueued: 3})
		if it, popped, err := q.PopIf(context.Background(), func(it offsets.Pending) bool { return it.IncidentID == "b" }); err != nil || !popped || it.IncidentID != "b" || q.InFlight() != 1 || q.Len() != 0 {
			t.Fatalf("PopIf = %+v %v %v (in flight %d, queued %d), want b popped and in flight", it, popped, err, q.InFlight(), q.Len())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, _, err := q.PopIf(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("PopIf on an empty queue = %v", err)
		}
	})
}

// The queue keeps the poll's alert count of the newest version that carries
// one, through merges, a push held back behind a fetch, and a retry, and
// hands it to PopReady's skip, which leaves the skipped one queued in its
// place.
func TestQueueCarriesTheAlertCount(t *testing.T) {
	q := NewQueue()
	q.Push(offsets.Pending{IncidentID: "1", ModificationTime: 10, FirstQueued: 1, AlertCount: 3})
	q.Push(offsets.Pending{IncidentID: "1", ModificationTime: 20, FirstQueued: 2, AlertCount: 70})
	q.Push(offsets.Pending{IncidentID: "1", ModificationTime: 15, FirstQueued: 3, AlertCount: 4})
	it := popN(t, q, 1)[0]
	if it.AlertCount != 70 {
		t.Fatalf("popped %+v, want the alert count of version 20", it)
	}
	q.Push(offsets.Pending{IncidentID: "1", ModificationTime: 30, FirstQueued: 4, AlertCount: 80})
	q.Retry(it, time.Now().Add(-time.Second))
	q.Push(offsets.Pending{IncidentID: "2", ModificationTime: 1, FirstQueued: 5, AlertCount: 1})
	q.Push(offsets.Pending{IncidentID: "3", ModificationTime: 1, FirstQueued: 6})
	var seen []int
	got := q.PopReady(5, func(it offsets.Pending) bool {
		seen = append(seen, it.AlertCount)
		return it.AlertCount > 50
	})
	if !slices.Equal(ids(got), []string{"2", "3"}) || !slices.Equal(seen, []int{80, 1, 0}) {
		t.Fatalf("PopReady = %v, skip saw alert counts %v; want 2, 3 taken and 80, 1, 0 seen", ids(got), seen)
	}
	if it, popped, _ := q.TryPopIf(func(it offsets.Pending) bool { return it.AlertCount == 80 }); !popped || it.IncidentID != "1" || it.ModificationTime != 30 {
		t.Fatalf("TryPopIf = %+v %v, want incident 1 at version 30 with 80 alerts", it, popped)
	}
}
