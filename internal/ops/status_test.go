package ops

import (
	"bytes"
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
