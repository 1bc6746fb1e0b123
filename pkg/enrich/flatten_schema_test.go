package enrich

import (
	"bytes"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
)

var schemaFiles = map[string]string{
	record.TypeIncidentChange:   "incident-change.schema.json",
	record.TypeIncidentEnriched: "incident-enriched.schema.json",
	record.TypeAlert:            "alert.schema.json",
	record.TypeNetworkArtifact:  "artifact-network.schema.json",
	record.TypeFileArtifact:     "artifact-file.schema.json",
	record.TypeDLQ:              "dlq.schema.json",
}

// loadSchemas compiles the files under /schemas once per test binary.
var loadSchemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	out := map[string]*jsonschema.Schema{}
	for typ, f := range schemaFiles {
		s, err := c.Compile(filepath.Join("..", "..", "schemas", f))
		if err != nil {
			return nil, err
		}
		out[typ] = s
	}
	return out, nil
})

// validateRecord checks a record's value against the schema of its type.
func validateRecord(t testing.TB, r record.Record) {
	t.Helper()
	schemas, err := loadSchemas()
	if err != nil {
		t.Fatalf("compiling schemas: %v", err)
	}
	if err := schemaError(schemas, r); err != nil {
		t.Errorf("%s record %s does not match its schema: %v\n%s", r.Type, r.Key, err, r.Value)
	}
}

func schemaError(schemas map[string]*jsonschema.Schema, r record.Record) error {
	s, ok := schemas[r.Type]
	if !ok {
		return errUnknownType(r.Type)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Value))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

type errUnknownType string

func (e errUnknownType) Error() string { return "no schema for record type " + string(e) }

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
	t.Logf("%d records validated", n)
}

// TestSchemasRejectBrokenRecords proves the schemas are not vacuous.
func TestSchemasRejectBrokenRecords(t *testing.T) {
	schemas, err := loadSchemas()
	if err != nil {
		t.Fatal(err)
	}
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
		if schemaError(schemas, r) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
