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

// TestTailIncidentMatchesTheProfilesRecords: --incident finds the records of
// an incident in the OCSF and ECS topics too, by the field each profile
// carries the incident id in, for the incident's and its alerts' records.
func TestTailIncidentMatchesTheProfilesRecords(t *testing.T) {
	set, err := profile.Parse("ocsf,ecs")
	if err != nil {
		t.Fatal(err)
	}
	inc := xdr.Incident{ID: "891", ModificationTime: 1700000500000,
		Raw: json.RawMessage(`{"incident_id":"891","modification_time":1700000500000,"status":"new","severity":"high"}`)}
	recs := set.Change(record.Meta{Connector: "xdr-connector", Tenant: "simulated"}, inc, record.Record{})
	topics := map[record.Topic]bool{}
	for _, r := range recs {
		topics[r.Topic] = true
		kr := &kgo.Record{Key: r.Key, Value: r.Value}
		if got := recordIncident(kr); got != "891" {
			t.Errorf("%s record: incident %q, want 891\n%s", r.Topic, got, r.Value)
		}
		if tf := (tailFlags{incidents: stringsFlag{"892"}}); tf.match(kr) {
			t.Errorf("%s record of 891 matches --incident 892", r.Topic)
		}
	}
	if !topics[record.TopicOCSFIncidents] || !topics[record.TopicECSIncidents] {
		t.Fatalf("records of topics %v, want an OCSF and an ECS one", topics)
	}
	// Alerts: the goldens' records, as the profiles write them.
	for _, v := range []string{
		`{"class_uid":2004,"metadata":{"uid":"4711","correlation_uid":"891"}}`,
		`{"event":{"kind":"alert"},"panw_cortex":{"xdr":{"alert_id":"4711","incident_id":"891"}}}`,
	} {
		if got := recordIncident(&kgo.Record{Key: []byte("4711"), Value: []byte(v)}); got != "891" {
			t.Errorf("alert %s: incident %q, want 891", v, got)
		}
	}
}
