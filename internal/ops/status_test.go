package ops

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/dlq"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
)

// TestStatusCountsTheRateStampsAsTheLimiterDoes: after a clean stop, the
// calls that still count against the next start's window are the limiter's
// (enrich.Counting): those less than a window old, at most the limit; after
// an unclean stop the whole first window is held, and none is counted.
func TestStatusCountsTheRateStampsAsTheLimiterDoes(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	ms := func(ago time.Duration) int64 { return now.Add(-ago).UnixMilli() }
	v := &View{cfg: &config.Config{ConnectorName: "c", TopicOffsets: "xdr.connector.offsets", CommitInterval: time.Second},
		tenants: []tenant{{id: "acme", dlq: "xdr.dlq", window: time.Minute, limit: 3}, {id: "globex", dlq: "xdr.dlq", window: time.Minute, limit: 3}},
		offsets: map[string]offsets.Loaded{
			"acme": {Found: true, State: offsets.State{Clean: true, CommittedAt: ms(time.Hour), Watermark: ms(2 * time.Hour),
				RateLog: []int64{ms(2 * time.Minute), ms(50 * time.Second), ms(40 * time.Second), ms(30 * time.Second), ms(20 * time.Second)}}},
			"globex": {Found: true, State: offsets.State{CommittedAt: ms(time.Hour), RateLog: []int64{ms(time.Second)}}},
		}}
	rep := v.Report(now)
	if len(rep.Tenants) != 2 {
		t.Fatalf("%d tenants", len(rep.Tenants))
	}
	if a := rep.Tenants[0]; a.Tenant != "acme" || a.State != "stopped" || a.RateCallsInWindow != 3 {
		t.Errorf("acme: %+v, want stopped with 3 calls in the window (4 recent ones, a limit of 3)", a)
	}
	if g := rep.Tenants[1]; g.State != "stopped-unclean" || g.RateCallsInWindow != 0 {
		t.Errorf("globex: %+v, want stopped-unclean, no call counted", g)
	}
	var out bytes.Buffer
	v.PrintStatus(&out, rep)
	if s := out.String(); !strings.Contains(s, "the next start may use 0 of 3 extra-data calls in its first 1m0s window (3 of the last run's still count)") ||
		!strings.Contains(s, "the next start holds extra-data calls for one 1m0s window") {
		t.Errorf("status:\n%s", s)
	}
}

// A DLQ whose every incident no longer exists asks for no redrive: status
// says there is nothing to do, not "0 incidents not redriven yet".
func TestStatusAsksNoRedriveOfIncidentsThatNoLongerExist(t *testing.T) {
	print := func(s dlq.Summary) string {
		v := &View{cfg: &config.Config{ConnectorName: "c"}}
		var out bytes.Buffer
		v.PrintStatus(&out, StatusReport{Tenants: []TenantStatus{{Tenant: "acme", DLQTopic: "xdr.dlq", DLQ: s}}})
		return out.String()
	}
	gone := print(dlq.Summary{Records: 2, Incidents: 2, NotFound: 2, ByClass: map[string]int{dlq.ClassNotFound: 2}})
	if strings.Contains(gone, "not redriven yet") || strings.Contains(gone, "redriven already") || !strings.Contains(gone, "2 incidents no longer exist") {
		t.Errorf("every incident gone:\n%s", gone)
	}
	mixed := print(dlq.Summary{Records: 3, Incidents: 3, Outstanding: 1, NotFound: 2, ByClass: map[string]int{dlq.ClassNotFound: 2, "403": 1}})
	if !strings.Contains(mixed, "1 incidents not redriven yet (connector redrive") || !strings.Contains(mixed, "2 incidents no longer exist") {
		t.Errorf("one to redrive, two gone:\n%s", mixed)
	}
	done := print(dlq.Summary{Records: 1, Incidents: 1, ByClass: map[string]int{"403": 1}})
	if !strings.Contains(done, "every incident redriven already") {
		t.Errorf("all redriven:\n%s", done)
	}
}

// TestStatusShowsTheEnrichmentOfTheLastRun: status says how the run that
// wrote each tenant's last state record enriched. A recorded fallback is
// single calls since then, tried again by the next start; without one, the
// configuration's ENRICH_BULK tells bulk from off, which the state does not
// record; a tenant that never committed gets no enrichment line.
func TestStatusShowsTheEnrichmentOfTheLastRun(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	ms := func(ago time.Duration) int64 { return now.Add(-ago).UnixMilli() }
	fellBack := ms(90 * time.Minute)
	tenants := []tenant{{id: "acme", bulk: "auto"}, {id: "globex", bulk: "auto"}, {id: "hooli", bulk: ""}, {id: "initech", bulk: "off"}, {id: "never", bulk: "off"}, {id: "umbrella", bulk: "on"}}
	for i := range tenants {
		tenants[i].dlq, tenants[i].window, tenants[i].limit = "xdr.dlq", time.Minute, 10
	}
	v := &View{cfg: &config.Config{ConnectorName: "c", TopicOffsets: "xdr.connector.offsets", CommitInterval: time.Second}, tenants: tenants,
		offsets: map[string]offsets.Loaded{
			"acme":     {Found: true, State: offsets.State{Clean: true, CommittedAt: ms(time.Hour), BulkFallbackAt: fellBack}},
			"globex":   {Found: true, State: offsets.State{CommittedAt: ms(100 * time.Millisecond)}},
			"hooli":    {Found: true, State: offsets.State{CommittedAt: ms(100 * time.Millisecond), BulkFallbackAt: fellBack}},
			"initech":  {Found: true, State: offsets.State{Clean: true, CommittedAt: ms(time.Hour)}},
			"never":    {},
			"umbrella": {Found: true, State: offsets.State{Clean: true, CommittedAt: ms(time.Hour)}},
		}}
	rep := v.Report(now)
	want := map[string][3]string{ // state, enrichment, enrich_bulk
		"acme": {"stopped", EnrichmentFallback, "auto"}, "globex": {"running", EnrichmentBulk, "auto"}, "hooli": {"running", EnrichmentFallback, "auto"},
		"initech": {"stopped", EnrichmentOff, "off"}, "never": {"never-committed", "", "off"}, "umbrella": {"stopped", EnrichmentBulk, "on"},
	}
	for _, ts := range rep.Tenants {
		w := want[ts.Tenant]
		if ts.State != w[0] || ts.Enrichment != w[1] || ts.EnrichBulk != w[2] {
			t.Errorf("%s: state %q, enrichment %q, enrich_bulk %q; want %q", ts.Tenant, ts.State, ts.Enrichment, ts.EnrichBulk, w)
		}
		if wantAt := v.offsets[ts.Tenant].State.BulkFallbackAt; ts.BulkFallbackAt != wantAt {
			t.Errorf("%s: bulk_fallback_at %d, want %d", ts.Tenant, ts.BulkFallbackAt, wantAt)
		}
	}
	if b, _ := json.Marshal(rep.Tenants[0]); !bytes.Contains(b, []byte(`"enrich_bulk":"auto","enrichment":"single-after-fallback","bulk_fallback_at":1699994600000`)) {
		t.Errorf("acme as JSON: %s", b)
	}

	var out bytes.Buffer
	v.PrintStatus(&out, rep)
	s := out.String()
	section := func(id string) string {
		_, after, _ := strings.Cut(s, "\ntenant "+id+":")
		before, _, _ := strings.Cut(after, "\ntenant ")
		return before
	}
	for id, words := range map[string][]string{
		"acme": {"  enrichment   single calls since 2023-11-14T20:43:20.000Z (the tenant does not serve get_multiple_incidents_extra_data;",
			"ENRICH_BULK=auto fell back to one get_incident_extra_data call per incident)",
			"the next start tries get_multiple_incidents_extra_data again with its first call"},
		"globex":   {"  enrichment   bulk: get_multiple_incidents_extra_data (ENRICH_BULK=auto), no fallback to single calls so far in this run"},
		"hooli":    {"  enrichment   single calls since 2023-11-14T20:43:20.000Z", "for the rest of this run: a restart tries get_multiple_incidents_extra_data again"},
		"initech":  {"  enrichment   bulk off: one get_incident_extra_data call per incident (ENRICH_BULK=off in this configuration;"},
		"umbrella": {"  enrichment   bulk: get_multiple_incidents_extra_data (ENRICH_BULK=on), which never falls back to single calls"},
	} {
		for _, w := range words {
			if !strings.Contains(section(id), w) {
				t.Errorf("tenant %s lacks %q:\n%s", id, w, section(id))
			}
		}
	}
	if never := section("never"); strings.Contains(never, "  enrichment   ") {
		t.Errorf("a tenant that never committed has an enrichment line:\n%s", never)
	}
}
