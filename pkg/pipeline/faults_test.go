package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestMisbehavingTenant injects every fault the simulated tenant has, on both
// endpoints, plus one incident whose extra data always fails: nothing
// crashes, every good incident arrives, and the bad one lands in the DLQ with
// its error.
func TestMisbehavingTenant(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 19, Incidents: 60, MaxAlerts: 20, RateWindow: 100 * time.Millisecond})
	// A client whose requests time out long before the slow replies come.
	api, err := xdr.New(xdr.Config{BaseURL: e.BaseURL, KeyID: e.KeyID, Key: xdr.NewSecret(e.Key), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.API = api
	e.Sim.SetSlowDelay(2 * time.Second)
	for _, ep := range []string{xdrtest.EndpointIncidents, xdrtest.EndpointExtraData} {
		e.Sim.Inject(ep, xdrtest.FaultServerError, 4)
		e.Sim.Inject(ep, xdrtest.FaultReset, 2)
		e.Sim.Inject(ep, xdrtest.FaultTruncatedGzip, 2)
		e.Sim.Inject(ep, xdrtest.FaultMalformedJSON, 2)
		e.Sim.Inject(ep, xdrtest.FaultSlow, 1)
	}
	e.Sim.Inject(xdrtest.EndpointExtraData, xdrtest.Fault429, 5)
	bad := e.Sim.IncidentIDs()[7]
	e.Sim.FailIncident(bad, 500)

	cfg := testConfig(e, 100*time.Millisecond)
	// Enough attempts that the injected transient faults, which can hit one
	// incident several times in a row, never exhaust them.
	cfg.Enrich.MaxAttempts = 12
	cfg.EnrichBackoff = func() backoff.BackOff { return backoff.NewConstantBackOff(20 * time.Millisecond) }
	r := start(e, cfg)
	testkit.WaitFor(t, 60*time.Second, "the pipeline to drain despite the faults", func() bool {
		s := r.p.Stats()
		return drained(r.p, e.Sim) && s.Enrich.DLQ == 1
	})
	s := r.p.Stats()
	r.stop(t)

	o := e.Output()
	e.Verify(o, true, func(xdrtest.Version) bool { return true }, map[string]bool{bad: true})
	if len(o.DLQ) != 1 {
		t.Fatalf("%d DLQ records, want 1", len(o.DLQ))
	}
	d := o.DLQ[0]
	if d.IncidentID != bad || d.Error == nil || d.Error.Status != 500 || d.Error.Attempts != 12 || !strings.Contains(d.Error.Message, "500") {
		t.Errorf("DLQ record %+v (error %+v), want incident %s, HTTP 500 after 12 attempts", d.Envelope, d.Error, bad)
	}
	if d.Key != bad {
		t.Errorf("DLQ key %q, want the incident id", d.Key)
	}
	if s.Enrich.Retries == 0 || s.Enrich.RateLimited == 0 {
		t.Errorf("stats %+v: the injected faults were not retried", s.Enrich)
	}
	// The limiter paused for each injected 429; the window itself never refused.
	if n := e.Sim.Count429(); n != 0 {
		t.Errorf("the tenant's window refused %d calls", n)
	}
	// The offsets watermark still covers every version: faults never made a
	// poll count as complete when it was not.
	st, _ := e.ReadState("test", "sim")
	if st.Watermark > testkit.MaxVersion(e.Sim) || len(st.Pending) != 0 {
		t.Errorf("state after the faults: watermark %d (newest version %d), %d pending", st.Watermark, testkit.MaxVersion(e.Sim), len(st.Pending))
	}
}
