package enrich_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// handlerTransport delivers requests straight to a handler, so the real
// client and the simulated tenant can run inside a synctest bubble.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

type ackingPublisher struct{}

func (ackingPublisher) Publish(_ context.Context, _ []record.Record, done func(error)) error {
	go done(nil)
	return nil
}

// TestFullBacklogUsesTheWholeBudgetWithout429 drains a backlog of 200
// incidents through the real client against the simulated tenant's strict
// sliding window (10 calls per 200ms) and measures the budget used.
func TestFullBacklogUsesTheWholeBudgetWithout429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, window, backlog = 10, 200 * time.Millisecond, 200
		sim := xdrtest.New(xdrtest.Config{Seed: 5, Incidents: backlog, MaxAlerts: 50, RateLimit: n, RateWindow: window, Now: time.Now})
		id, key := sim.Credentials()
		api, err := xdr.New(xdr.Config{BaseURL: "http://sim.invalid", KeyID: id, Key: xdr.NewSecret(key)},
			xdr.WithHTTPClient(&http.Client{Transport: handlerTransport{sim}}))
		if err != nil {
			t.Fatal(err)
		}
		lim, err := enrich.NewLimiter(n, window)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{}, backlog)
		e, err := enrich.New(enrich.Config{Connector: "budget", Workers: 4}, lim, api, ackingPublisher{},
			enrich.WithOnDone(func(offsets.Pending, bool) { done <- struct{}{} }))
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range sim.IncidentIDs() {
			e.Enqueue(offsets.Pending{IncidentID: id, ModificationTime: 1, Severity: "low", FirstQueued: int64(i)})
		}
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan error)
		go func() { stopped <- e.Run(ctx) }()
		for range backlog {
			<-done
		}
		cancel()
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}

		calls := sim.ExtraDataCalls()
		if len(calls) != backlog {
			t.Fatalf("%d extra-data calls for %d incidents", len(calls), backlog)
		}
		if got := sim.Count429(); got != 0 {
			t.Fatalf("%d calls refused with 429", got)
		}
		// After the first window's burst of n, the budget allows n calls per
		// window: use = achieved rate / allowed rate.
		span := calls[len(calls)-1].Time.Sub(calls[0].Time)
		use := float64(len(calls)-n) / (float64(n) * span.Seconds() / window.Seconds())
		t.Logf("%d calls in %s: %.2f%% of the budget, 0 × 429", len(calls), span, 100*use)
		if use < 0.99 {
			t.Errorf("used %.2f%% of the budget, want at least 99%%", 100*use)
		}
	})
}

// TestBudgetStaysFullWhileAThirdOfTheBacklogFails drains a backlog in which
// a third of the incidents fail: half answer 500 on every call (retried with
// backoff up to MaxAttempts, then dead-lettered), half do not exist (the
// simulator's 500 "Incident N was not found", dead-lettered at once). While
// the rest drain, the budget stays used: retries wait in the queue, not in
// the workers.
func TestBudgetStaysFullWhileAThirdOfTheBacklogFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, window, good, failing, missing = 10, 200 * time.Millisecond, 160, 40, 40
		sim := xdrtest.New(xdrtest.Config{Seed: 5, Incidents: good + failing, MaxAlerts: 50, RateLimit: n, RateWindow: window, Now: time.Now})
		id, key := sim.Credentials()
		api, err := xdr.New(xdr.Config{BaseURL: "http://sim.invalid", KeyID: id, Key: xdr.NewSecret(key)},
			xdr.WithHTTPClient(&http.Client{Transport: handlerTransport{sim}}))
		if err != nil {
			t.Fatal(err)
		}
		lim, err := enrich.NewLimiter(n, window)
		if err != nil {
			t.Fatal(err)
		}
		type settled struct {
			id  string
			dlq bool
		}
		done := make(chan settled, good+failing+missing)
		e, err := enrich.New(enrich.Config{Connector: "budget", Workers: 2, MaxAttempts: 6}, lim, api, ackingPublisher{},
			enrich.WithOnDone(func(it offsets.Pending, dlq bool) { done <- settled{it.IncidentID, dlq} }),
			// The default policy without its jitter, so the run is the same every time.
			enrich.WithBackoff(func() backoff.BackOff {
				return backoff.NewExponentialBackOff(backoff.WithInitialInterval(2*time.Second), backoff.WithRandomizationFactor(0),
					backoff.WithMaxInterval(2*time.Minute), backoff.WithMaxElapsedTime(0))
			}))
		if err != nil {
			t.Fatal(err)
		}
		kind := map[string]string{}
		for i, id := range sim.IncidentIDs() {
			kind[id] = "good"
			if i%5 == 2 { // 40 of 200, spread through the order
				sim.FailIncident(id, http.StatusInternalServerError)
				kind[id] = "failing"
			}
			e.Enqueue(offsets.Pending{IncidentID: id, ModificationTime: 1, Severity: "low", FirstQueued: int64(3 * i)})
			if i%5 == 0 { // 40 incidents the tenant does not have (merged or deleted)
				gone := fmt.Sprintf("gone-%d", i)
				kind[gone] = "missing"
				e.Enqueue(offsets.Pending{IncidentID: gone, ModificationTime: 1, Severity: "low", FirstQueued: int64(3*i + 1)})
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan error)
		go func() { stopped <- e.Run(ctx) }()
		outcome := map[string]int{}
		for range good + failing + missing {
			s := <-done
			outcome[fmt.Sprint(kind[s.id], " dlq=", s.dlq)]++
		}
		cancel()
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"good dlq=false": good, "failing dlq=true": failing, "missing dlq=true": missing}
		if !maps.Equal(outcome, want) {
			t.Fatalf("outcomes %v, want %v", outcome, want)
		}
		calls := sim.ExtraDataCalls()
		slices.SortFunc(calls, func(a, b xdrtest.Call) int { return a.Time.Compare(b.Time) })
		perKind := map[string]int{}
		var lastGood time.Time
		for _, c := range calls {
			perKind[kind[c.IncidentID]]++
			if kind[c.IncidentID] == "good" {
				lastGood = c.Time
			}
		}
		if perKind["good"] != good || perKind["missing"] != missing || perKind["failing"] != 6*failing {
			t.Fatalf("calls per kind %v: want one per good and per missing incident, 6 per failing one", perKind)
		}
		if got := sim.Count429(); got != 0 {
			t.Fatalf("%d calls refused with 429", got)
		}
		// While good incidents were still waiting, every slot was used,
		// whatever the other calls were.
		inSpan := 0
		for _, c := range calls {
			if !c.Time.After(lastGood) {
				inSpan++
			}
		}
		span := lastGood.Sub(calls[0].Time)
		use := float64(inSpan-n) / (float64(n) * span.Seconds() / window.Seconds())
		t.Logf("%d calls (%d for good incidents) in %s: %.2f%% of the budget, 0 × 429; %d calls in all", inSpan, good, span, 100*use, len(calls))
		if use < 0.99 {
			t.Errorf("used %.2f%% of the budget while good incidents waited, want at least 99%%", 100*use)
		}
		if st := e.Stats(); st.NotFound != missing || st.DLQ != failing+missing || st.Retries != 5*failing {
			t.Errorf("stats %+v", st)
		}
	})
}
