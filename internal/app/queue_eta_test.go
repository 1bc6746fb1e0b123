package app

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/soc-tools/xdr-kafka-connector/pkg/drain"
)

// TestQueueETAMetric: the queue's drain estimate is a gauge per tenant, in
// seconds: no value while it is measured, the ETA while the queue drains,
// 0 once it is empty.
func TestQueueETAMetric(t *testing.T) {
	rd := sdkmetric.NewManualReader()
	m := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd)).Meter("test")
	tr := drain.NewTracker(2 * time.Second)
	t0, depth, step := time.Unix(1000, 0), 100, 0
	reg, err := registerQueueETA(m, func() (drain.Estimate, bool) {
		return tr.Sample(t0.Add(time.Duration(step)*time.Second), depth, 5), true // 10 calls per 2 s
	}, attribute.String("tenant", "acme"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	collect := func() (float64, bool) {
		var rm metricdata.ResourceMetrics
		if err := rd.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, mt := range sm.Metrics {
				if mt.Name != metricQueueETA || mt.Unit != "s" {
					continue
				}
				for _, dp := range mt.Data.(metricdata.Gauge[float64]).DataPoints {
					if v, _ := dp.Attributes.Value("tenant"); v.AsString() == "acme" {
						return dp.Value, true
					}
				}
			}
		}
		return 0, false
	}
	for step = 0; step < 30; step++ {
		depth = 100 - 2*step
		if v, ok := collect(); ok {
			t.Fatalf("second %d, still measuring: a value %v", step, v)
		}
	}
	depth = 40
	if v, ok := collect(); !ok || v != 20 {
		t.Errorf("after 30 s draining 2/s to 40: %v (%v), want 20", v, ok)
	}
	step, depth = 31, 0
	if v, ok := collect(); !ok || v != 0 {
		t.Errorf("empty queue: %v (%v), want 0", v, ok)
	}
}
