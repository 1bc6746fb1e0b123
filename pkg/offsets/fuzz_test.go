package offsets

import (
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzApplyRecord feeds arbitrary keys and values to the offsets reader: it
// must never panic, and a record it accepts as this connector's state must
// have come from a well-formed value.
func FuzzApplyRecord(f *testing.F) {
	s, err := NewStore(nil, StoreConfig{Topic: "o", Connector: "c", Tenant: "t"})
	if err != nil {
		f.Fatal(err)
	}
	pending, state := s.Records(Delta{
		Watermark: 5, Marks: map[string]*Mark{"1": {Emitted: 5, Enriched: 5}, "4": nil},
		Pending: map[string]*Pending{"2": {IncidentID: "2", ModificationTime: 7, Severity: "high", FirstQueued: 1}, "3": nil},
		Clean:   true, RateLog: []int64{1, 2}, BulkFallbackAt: 3,
	})
	for _, r := range append(pending, state, s.FenceRecord()) {
		f.Add(r.Key, r.Value)
	}
	f.Add([]byte(`{"connector":"c","tenant":"t","kind":"state"}`), []byte(`{"schema_version":99}`))
	f.Add([]byte(`{"connector":"c","tenant":"t","kind":"pending","incident_id":"9"}`), []byte(`[]`))
	f.Add([]byte(`not json`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		st := State{Emitted: map[string]int64{}, Enriched: map[string]int64{}, Pending: map[string]Pending{}}
		matched, err := s.apply(&st, &kgo.Record{Key: key, Value: value})
		if err != nil && matched {
			t.Fatalf("apply reported both a match and an error: %v", err)
		}
		var k Key
		if matched && (json.Unmarshal(key, &k) != nil || k.Connector != "c" || k.Tenant != "t") {
			t.Fatalf("apply matched a record that is not this connector's: %q", key)
		}
	})
}

// TestRecordsRoundTrip writes a delta as records and reads it back.
func TestRecordsRoundTrip(t *testing.T) {
	s, err := NewStore(nil, StoreConfig{Topic: "o", Connector: "c", Tenant: "t", Now: func() time.Time { return time.UnixMilli(99) }})
	if err != nil {
		t.Fatal(err)
	}
	d := Delta{
		Watermark: 42, Marks: map[string]*Mark{"1": {Emitted: 40, Enriched: 41}, "5": {Emitted: 39}, "6": nil},
		Pending: map[string]*Pending{"2": {IncidentID: "2", ModificationTime: 7, Severity: "high", FirstQueued: 1, TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
		Clean:   true, RateLog: []int64{10, 20},
	}
	pending, state := s.Records(d)
	st := State{Emitted: map[string]int64{"6": 1}, Enriched: map[string]int64{}, Pending: map[string]Pending{"3": {IncidentID: "3"}}}
	tomb := &kgo.Record{Key: s.key("pending", "3")}
	for _, r := range append(append(pending, state), tomb, s.FenceRecord()) {
		if _, err := s.apply(&st, r); err != nil {
			t.Fatal(err)
		}
	}
	if st.Watermark != 42 || !maps.Equal(st.Emitted, map[string]int64{"1": 40, "5": 39}) || !maps.Equal(st.Enriched, map[string]int64{"1": 41}) || !st.Clean || len(st.RateLog) != 2 {
		t.Fatalf("state read back: %+v", st)
	}
	if len(st.Pending) != 1 || st.Pending["2"] != *d.Pending["2"] {
		t.Fatalf("pending read back: %+v", st.Pending)
	}
}

// TestStateTombstoneStartsOver: deleting the state record (a tombstone under
// its key) makes the next start use START_FROM, keeping owed enrichments.
func TestStateTombstoneStartsOver(t *testing.T) {
	s, err := NewStore(nil, StoreConfig{Topic: "o", Connector: "c", Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	pending, state := s.Records(Delta{Watermark: 42, Marks: map[string]*Mark{"1": {Emitted: 40}},
		Pending: map[string]*Pending{"2": {IncidentID: "2", ModificationTime: 7}}})
	st := State{Emitted: map[string]int64{}, Enriched: map[string]int64{}, Pending: map[string]Pending{}}
	for _, r := range append(pending, state, &kgo.Record{Key: s.key("state", "")}) {
		if _, err := s.apply(&st, r); err != nil {
			t.Fatal(err)
		}
	}
	if st.hasState || st.Watermark != 0 || len(st.Emitted) != 0 || len(st.Pending) != 1 {
		t.Fatalf("after a state tombstone: %+v", st)
	}
}
