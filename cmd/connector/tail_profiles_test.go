package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// TestTailShowsOCSFRecords: `connector tail xdr.ocsf.incidents` prints an
// Incident Finding as the connector writes it: key, record type header and
// the event as pretty JSON.
func TestTailShowsOCSFRecords(t *testing.T) {
	brokers, cl := tailCluster(t)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "xdr.ocsf.incidents"); err != nil {
		t.Fatal(err)
	}
	set, err := profile.Parse("ocsf")
	if err != nil {
		t.Fatal(err)
	}
	inc := xdr.Incident{ID: "891", ModificationTime: 1700000500000,
		Raw: json.RawMessage(`{"incident_id":"891","modification_time":1700000500000,"status":"new","severity":"high"}`)}
	recs := set.Change(record.Meta{Connector: "xdr-connector", Tenant: "simulated"}, inc, record.Record{})
	if len(recs) != 1 || recs[0].Topic != record.TopicOCSFIncidents {
		t.Fatalf("records %+v", recs)
	}
	produce(t, cl, &kgo.Record{Topic: "xdr.ocsf.incidents", Key: recs[0].Key, Value: recs[0].Value,
		Headers: []kgo.RecordHeader{{Key: record.HeaderRecordType, Value: []byte(recs[0].Type)}}})
	out, code := runBinary(t, map[string]string{"KAFKA_BROKERS": brokers}, "tail", "xdr.ocsf.incidents")
	if code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, out)
	}
	for _, w := range []string{"key: 891\n", "headers: xdr.record_type=ocsf.incident.change", "\n  \"class_uid\": 2005,\n", "\"version\": \"1.8.0\""} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
