package enrich_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

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
