package pipeline

import (
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestAlertsLimitBelowBulkCapHoldsForBothEndpoints enriches the same
// tenant with single calls and in bulk, with an ALERTS_LIMIT below the
// tenant's alerts_limit_per_incident: ALERTS_LIMIT is the alerts_limit of
// the extra data whichever endpoint fetched it, and an incident with more
// alerts is flagged alike.
func TestAlertsLimitBelowBulkCapHoldsForBothEndpoints(t *testing.T) {
	for _, bulk := range []string{enrich.BulkOff, enrich.BulkAuto} {
		t.Run(bulk, func(t *testing.T) {
			e := testkit.New(t, xdrtest.Config{Seed: 61, Incidents: 40, MaxAlerts: 60, RateWindow: 20 * time.Millisecond,
				BulkRateWindow: 20 * time.Millisecond, AlertsLimitPerIncident: 20})
			cfg := testConfig(e, 20*time.Millisecond)
			cfg.Bulk, cfg.BulkRateLimit, cfg.BulkRateWindow = bulk, 10, 20*time.Millisecond
			cfg.AlertsLimit = 5
			r := start(e, cfg)
			testkit.WaitFor(t, 30*time.Second, "the pipeline to drain", func() bool { return drained(r.p, e.Sim) })
			r.stop(t)
			o := e.Output()
			over, unflagged := 0, 0
			for _, id := range e.Sim.IncidentIDs() {
				tr, _ := e.Sim.Truth(id)
				en := o.Enriched[id]
				n := len(o.Alerts[testkit.Version{ID: id, T: tr.ModificationTime}])
				if n > cfg.AlertsLimit {
					over++
					if over <= 3 {
						t.Errorf("incident %s: %d alert records with ALERTS_LIMIT=%d (alert_count %d, enrichment %+v)", id, n, cfg.AlertsLimit, tr.AlertCount, en.Enrichment)
					}
				}
				if tr.AlertCount > cfg.AlertsLimit && en.Enrichment != nil && !en.Enrichment.AlertsTruncated {
					unflagged++
				}
			}
			if over > 0 || unflagged > 0 {
				t.Errorf("%d incidents with more alert records than ALERTS_LIMIT=%d; %d with more alerts than it not flagged alerts_truncated; bulk calls %d",
					over, cfg.AlertsLimit, unflagged, len(e.Sim.BulkCalls()))
			}
		})
	}
}
