package xdrtest_test

import (
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Costs of the simulator itself, so benchmarks of the connector can tell
// them apart.

func BenchmarkNew10k(b *testing.B) {
	for b.Loop() {
		xdrtest.New(xdrtest.Config{Incidents: 10000})
	}
}

func BenchmarkGetIncidentsPage10k(b *testing.B) {
	tn := xdrtest.New(xdrtest.Config{Incidents: 10000})
	rd := map[string]any{"search_from": 0, "search_to": 100, "sort": map[string]any{"field": "modification_time", "keyword": "asc"}}
	for b.Loop() {
		call(b, tn, "get_incidents", rd)
	}
}

func BenchmarkExtraData2000Alerts(b *testing.B) {
	tn := xdrtest.New(xdrtest.Config{Incidents: 1, MaxAlerts: 10, RateLimit: 1 << 30})
	id := tn.IncidentIDs()[0]
	tn.AddAlerts(id, 2000)
	for b.Loop() {
		extra(b, tn, id, 0)
	}
}
