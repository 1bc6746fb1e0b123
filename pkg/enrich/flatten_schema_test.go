package enrich

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// validateRecord checks a record's value against the schema of its type in
// schemas/ (testkit.SchemaError, the validator of every test that reads a
// topic). It reports with Errorf, so a Publisher's goroutine may call it.
func validateRecord(t testing.TB, r record.Record) {
	t.Helper()
	if err := testkit.SchemaError(r.Type, r.Value); err != nil {
		t.Errorf("%s record %s: %v\n%s", r.Type, r.Key, err, r.Value)
	}
}

// TestRecordsMatchSchemas validates every record the flatten tests produce
// (the enricher tests validate what they publish through fakePub).
func TestRecordsMatchSchemas(t *testing.T) {
	n := 0
	for _, tc := range flattenCases {
		ed, recs, _ := flattenFixture(t, tc.name, tc.version)
		recs = append(recs, ChangeRecord(testMeta, ed.Incident), ChangeRecord(Meta{Connector: "c"}, ed.Incident))
		for _, r := range recs {
			validateRecord(t, r)
			n++
		}
	}
	for _, tc := range dlqCases() {
		validateRecord(t, tc.rec)
		n++
	}
	recs, _ := Flatten(Meta{Connector: "c", AlertsLimit: 5}, 0, benchExtraData(5))
	for _, r := range recs {
		validateRecord(t, r)
		n++
	}
	n += validateDecoderFixtures(t)
	t.Logf("%d records validated", n)
}

// validateDecoderFixtures validates the records made from the replies the
// decoder's own tests hold (pkg/xdr/testdata): the change record of every
// incident get_incidents returned, with its quirks (ids as numbers, times as
// numeric strings), and the records of every extra-data reply.
func validateDecoderFixtures(t *testing.T) (n int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "xdr", "testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no decoder fixtures: %v", err)
	}
	for _, p := range files {
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var recs []record.Record
		if strings.HasPrefix(filepath.Base(p), "get_incidents_") {
			r, err := xdr.DecodeIncidentsReply(body)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			for _, inc := range r.Incidents {
				if inc.ID != "" && inc.ModificationTime != 0 { // the source drops the others
					recs = append(recs, ChangeRecord(testMeta, inc))
				}
			}
		} else if strings.HasPrefix(filepath.Base(p), "multiple_") {
			r, err := xdr.DecodeMultipleExtraData(body)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			for _, it := range r.Items {
				if it.Data != nil {
					items, _ := Flatten(testMeta, 1, it.Data)
					recs = append(recs, items...)
				}
			}
		} else {
			ed, err := xdr.DecodeExtraData(body)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			recs, _ = Flatten(testMeta, 1, ed)
		}
		for _, r := range recs {
			if err := testkit.SchemaError(r.Type, r.Value); err != nil {
				t.Errorf("%s: %s record %s: %v\n%s", filepath.Base(p), r.Type, r.Key, err, r.Value)
			}
			n++
		}
	}
	return n
}

// TestSchemasRejectBrokenRecords proves the schemas are not vacuous.
func TestSchemasRejectBrokenRecords(t *testing.T) {
	for name, r := range map[string]record.Record{
		"alert without alert_id": {Type: record.TypeAlert,
			Value: []byte(`{"schema_version":1,"record_type":"alert","connector":"c","incident_id":"1","modification_time":1,"data":{}}`)},
		"wrong record_type": {Type: record.TypeAlert,
			Value: []byte(`{"schema_version":1,"record_type":"dlq","connector":"c","incident_id":"1","modification_time":1,"alert_id":"a","data":{}}`)},
		"enriched without enrichment": {Type: record.TypeIncidentEnriched,
			Value: []byte(`{"schema_version":1,"record_type":"incident.enriched","connector":"c","incident_id":"1","modification_time":1,"data":{"incident_id":"1"}}`)},
		"change with string modification_time": {Type: record.TypeIncidentChange,
			Value: []byte(`{"schema_version":1,"record_type":"incident.change","connector":"c","incident_id":"1","modification_time":"1","data":{"incident_id":"1"}}`)},
		"change with null data": {Type: record.TypeIncidentChange,
			Value: []byte(`{"schema_version":1,"record_type":"incident.change","connector":"c","incident_id":"1","modification_time":1,"data":null}`)},
		"dlq without error": {Type: record.TypeDLQ,
			Value: []byte(`{"schema_version":1,"record_type":"dlq","connector":"c","incident_id":"1","modification_time":1,"data":{"incident_id":"1","modification_time":1}}`)},
		"artifact with stray field": {Type: record.TypeFileArtifact,
			Value: []byte(`{"schema_version":1,"record_type":"artifact.file","connector":"c","incident_id":"1","modification_time":1,"enrichment":{},"data":"abc"}`)},
		"future schema version": {Type: record.TypeFileArtifact,
			Value: []byte(`{"schema_version":2,"record_type":"artifact.file","connector":"c","incident_id":"1","modification_time":1,"data":"abc"}`)},
	} {
		if testkit.SchemaError(r.Type, r.Value) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
