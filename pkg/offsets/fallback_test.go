package offsets

import (
	"context"
	"testing"
	"time"
)

// TestStateRecordBytesWithoutABulkFallback: a run that did not fall back
// from bulk enrichment (it used bulk, or ENRICH_BULK=off) writes its state
// record byte for byte as before the fallback was recorded; one that fell
// back adds bulk_fallback_at, and only that.
func TestStateRecordBytesWithoutABulkFallback(t *testing.T) {
	s, err := NewStore(nil, StoreConfig{Topic: "o", Connector: "c", Tenant: "t", Now: func() time.Time { return time.UnixMilli(777) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		d    Delta
		want string
	}{
		{"running", Delta{Watermark: 1234},
			`{"schema_version":1,"watermark":1234,"committed_at":777,"clean_shutdown":false}`},
		{"clean stop", Delta{Watermark: 1234, Clean: true, RateLog: []int64{10, 20}, BulkRateLog: []int64{30}},
			`{"schema_version":1,"watermark":1234,"committed_at":777,"clean_shutdown":true,"rate_log":[10,20],"bulk_rate_log":[30]}`},
		{"fell back", Delta{Watermark: 1234, BulkFallbackAt: 555},
			`{"schema_version":1,"watermark":1234,"committed_at":777,"clean_shutdown":false,"bulk_fallback_at":555}`},
		{"fell back, clean stop", Delta{Watermark: 1234, Clean: true, RateLog: []int64{10}, BulkFallbackAt: 555},
			`{"schema_version":1,"watermark":1234,"committed_at":777,"clean_shutdown":true,"rate_log":[10],"bulk_fallback_at":555}`},
	} {
		_, state := s.Records(c.d)
		if string(state.Key) != `{"connector":"c","tenant":"t","kind":"state"}` {
			t.Errorf("%s: key %s", c.name, state.Key)
		}
		if string(state.Value) != c.want {
			t.Errorf("%s: state record\n got %s\nwant %s", c.name, state.Value, c.want)
		}
	}
}

// TestBulkFallbackRoundTrips: the fallback a run recorded is read back by
// Load and LoadTenants, and a later state record without it (a new run that
// did not fall back) clears it.
func TestBulkFallbackRoundTrips(t *testing.T) {
	s, _ := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := NewTracker(State{Watermark: 100}, time.Hour.Milliseconds())
	d := tr.Snapshot()
	d.BulkFallbackAt = 1_700_000_000_123
	if err := s.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	st, found, err := s.Load(ctx)
	if err != nil || !found || st.BulkFallbackAt != 1_700_000_000_123 {
		t.Fatalf("Load: found %v, err %v, bulk fallback at %d; want 1700000000123", found, err, st.BulkFallbackAt)
	}
	all, err := LoadTenants(ctx, s.cl, "offsets", "c", nil, s.cfg.ClientOpts)
	if err != nil || all["t"].State.BulkFallbackAt != 1_700_000_000_123 {
		t.Fatalf("LoadTenants: err %v, %+v", err, all["t"])
	}

	if err := s.Commit(ctx, NewTracker(st, time.Hour.Milliseconds()).Snapshot()); err != nil {
		t.Fatal(err)
	}
	st, found, err = s.Load(ctx)
	if err != nil || !found || st.BulkFallbackAt != 0 {
		t.Fatalf("after a commit without a fallback: found %v, err %v, bulk fallback at %d; want 0", found, err, st.BulkFallbackAt)
	}
}
