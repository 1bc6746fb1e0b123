package app

import (
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
)

// TestSnapshotCountsKeyCollisions: objects keyed with a suffix because
// another object of their reply had their key are the key_collision
// anomaly of xdr_connector_anomalies_total.
func TestSnapshotCountsKeyCollisions(t *testing.T) {
	s := snapshotOf(pipeline.Stats{Enrich: enrich.Stats{Collisions: 3}}, &pollWatch{})
	if n, ok := s.Anomalies[telemetry.AnomalyKeyCollision]; !ok || n != 3 {
		t.Fatalf("anomalies %v: want key_collision 3", s.Anomalies)
	}
	if n := s.Anomalies[telemetry.AnomalyMismatchedReply]; n != 0 {
		t.Fatalf("anomalies %v", s.Anomalies)
	}
}
