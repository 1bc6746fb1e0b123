package enrich

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
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

// TestDescribedFieldsOfAnyTypeMatchTheSchemas: data is published as the API
// sent it, so a field the schemas describe may come with any JSON type; every
// reply the decoder accepts, whatever the type of such a field, gives records
// (and a change record of its incident) that match their schemas. What the
// schemas enforce of data is what the connector checks (xdr.ExtraData.Check):
// an incident whose incident_id is of another type than a string or a number
// is never published. (Before, the schemas required the documented types,
// and a tenant sending a severity as a number had its incident published in
// records its own schema rejected.)
func TestDescribedFieldsOfAnyTypeMatchTheSchemas(t *testing.T) {
	values := []string{`"x"`, `""`, `7`, `-1.5`, `1e400`, `true`, `false`, `null`, `{"a":1}`, `{}`, `[1,"b",null]`, `[]`, `[[]]`}
	// The object each schema describes, in a whole reply.
	base := map[string]string{
		"incident-change": `{"incident_id":"1","modification_time":1000}`, "incident-enriched": `{"incident_id":"1","modification_time":1000}`,
		"alert": `{"alert_id":"a","name":"n"}`, "artifact-network": `{"type":"DOMAIN","network_domain":"a.example"}`,
		"artifact-file": `{"type":"HASH","file_sha256":"abc"}`,
	}
	n := 0
	for file, obj := range base {
		for _, field := range describedFields(t, file) {
			for _, v := range values {
				var m map[string]json.RawMessage
				if err := json.Unmarshal([]byte(obj), &m); err != nil {
					t.Fatal(err)
				}
				m[field] = json.RawMessage(v)
				b, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				inc, alert, network, fileArt := `{"incident_id":"1","modification_time":1000}`, `{"alert_id":"a"}`, `"a.example"`, `"abc"`
				switch {
				case strings.HasPrefix(file, "incident"):
					inc = string(b)
				case file == "alert":
					alert = string(b)
				case file == "artifact-network":
					network = string(b)
				default:
					fileArt = string(b)
				}
				body := `{"reply":{"incident":` + inc + `,"alerts":[` + alert + `],"network_artifacts":[` + network + `],"file_artifacts":[` + fileArt + `]}}`
				ed, err := xdr.DecodeExtraData([]byte(body))
				if err != nil {
					if !errors.Is(err, xdr.ErrMalformed) || field != "incident_id" {
						t.Errorf("%s: %v", body, err)
					}
					continue // never published
				}
				recs, _ := Flatten(testMeta, 1, ed)
				if ed.Incident.ModificationTime > 0 { // the source drops the others
					recs = append(recs, ChangeRecord(testMeta, ed.Incident))
				}
				for _, r := range recs {
					if err := testkit.SchemaError(r.Type, r.Value); err != nil {
						t.Errorf("%s %s: %s record: %v\n%s", file, field, r.Type, err, r.Value)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d records validated", n)
}

// describedFields returns the fields a data schema describes (of its object
// form, for the artifacts); it fails the test when there are none.
func describedFields(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testkit.SchemaDir(), file+".schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	type props struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	var s struct {
		Properties struct {
			Data struct {
				props
				OneOf []props `json:"oneOf"`
			} `json:"data"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	described := s.Properties.Data.Properties
	for _, o := range s.Properties.Data.OneOf {
		if len(o.Properties) > 0 {
			described = o.Properties
		}
	}
	var names []string
	for name := range described {
		names = append(names, name)
	}
	if len(names) == 0 {
		t.Fatalf("%s describes no field of data", file)
	}
	slices.Sort(names)
	return names
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
		"change whose incident_id is a boolean": {Type: record.TypeIncidentChange,
			Value: []byte(`{"schema_version":1,"record_type":"incident.change","connector":"c","incident_id":"1","modification_time":1,"data":{"incident_id":true}}`)},
		"enriched without incident_id in data": {Type: record.TypeIncidentEnriched,
			Value: []byte(`{"schema_version":1,"record_type":"incident.enriched","connector":"c","incident_id":"1","modification_time":1,"enrichment":{"alerts_total_count":0,"alerts_received":0,"alerts_truncated":false,"alerts_limit":1,"network_artifacts_total_count":0,"file_artifacts_total_count":0,"fetched_at":1},"data":{"status":"new"}}`)},
		"alert that is a list": {Type: record.TypeAlert,
			Value: []byte(`{"schema_version":1,"record_type":"alert","connector":"c","incident_id":"1","modification_time":1,"alert_id":"a","data":["x"]}`)},
		"network artifact that is a number": {Type: record.TypeNetworkArtifact,
			Value: []byte(`{"schema_version":1,"record_type":"artifact.network","connector":"c","incident_id":"1","modification_time":1,"data":7}`)},
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
