package pipeline

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

var profileTopics = map[record.Topic]string{
	record.TopicOCSFIncidents: "xdr.ocsf.incidents", record.TopicOCSFAlerts: "xdr.ocsf.alerts",
	record.TopicECSIncidents: "xdr.ecs.incidents", record.TopicECSAlerts: "xdr.ecs.alerts",
}

// runProfiles drains a simulated tenant (the same seed each time, no
// mutations) with the given profiles and returns its environment and the
// number of extra-data calls it made.
func runProfiles(t *testing.T, list, delivery string) (*testkit.Env, int) {
	t.Helper()
	e := testkit.New(t, xdrtest.Config{Seed: 5, Incidents: 40, MaxAlerts: 12, RateWindow: 100 * time.Millisecond})
	cfg := testConfig(e, 100*time.Millisecond)
	cfg.Delivery = delivery
	set, err := profile.Parse(list)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Profiles = set
	if set.OCSF() {
		cfg.Topics.OCSFIncidents, cfg.Topics.OCSFAlerts = profileTopics[record.TopicOCSFIncidents], profileTopics[record.TopicOCSFAlerts]
	}
	if set.ECS() {
		cfg.Topics.ECSIncidents, cfg.Topics.ECSAlerts = profileTopics[record.TopicECSIncidents], profileTopics[record.TopicECSAlerts]
	}
	r := start(e, cfg)
	testkit.WaitFor(t, 60*time.Second, "the pipeline to drain", func() bool { return drained(r.p, e.Sim) })
	r.stop(t)
	if n := e.Sim.Count429(); n != 0 {
		t.Errorf("%s: the tenant answered 429 %d times", list, n)
	}
	return e, len(e.Sim.ExtraDataCalls())
}

// TestOutputProfilesEndToEnd runs the whole pipeline with
// OUTPUT_PROFILES=native,ocsf,ecs in exactly-once mode: every native record
// of an incident version or alert has exactly one OCSF and one ECS record
// beside it, keyed alike, each OCSF record valid against the shipped class
// schema and each ECS field an ECS field (ReadTopic checks both), and the
// tenant sees the same API calls as with native alone.
func TestOutputProfilesEndToEnd(t *testing.T) {
	_, nativeCalls := runProfiles(t, "native", AtLeastOnce)
	e, calls := runProfiles(t, "native,ocsf,ecs", ExactlyOnce)
	if calls != nativeCalls || calls == 0 {
		t.Errorf("%d extra-data calls with every profile, %d with native alone: a profile must cost no API call", calls, nativeCalls)
	}

	// Native: what each incident version and alert produced.
	type item struct {
		typ, key string
		version  int64
	}
	native := map[item]int{}
	for _, topic := range []string{testkit.Topics.Incidents, testkit.Topics.Alerts} {
		for _, r := range e.ReadTopic(topic) {
			native[item{r.Type, r.Key, r.ModificationTime}]++
		}
	}
	want := map[item]int{}
	for it, n := range native {
		for _, p := range []string{"ocsf", "ecs"} {
			want[item{p + "." + it.typ, it.key, it.version}] = n
		}
	}

	got := map[item]int{}
	validated := 0
	for role, topic := range profileTopics {
		for _, r := range e.ReadTopic(topic) { // validates every record
			validated++
			v, err := version(r.Value)
			if err != nil {
				t.Fatalf("%s %s: %v", topic, r.Key, err)
			}
			got[item{r.Type, r.Key, v}]++
			if want := role.String(); (r.Type[:4] == "ocsf") != (want[:4] == "ocsf") {
				t.Errorf("%s record on %s", r.Type, topic)
			}
		}
	}
	if validated == 0 || len(native) == 0 {
		t.Fatalf("%d profile records, %d native", validated, len(native))
	}
	for it, n := range want {
		if got[it] != n {
			t.Errorf("%v: %d records, want %d (one per native record)", it, got[it], n)
		}
	}
	for it, n := range got {
		if want[it] == 0 {
			t.Errorf("%v: %d records with no native record beside them", it, n)
		}
	}
	if dlq := e.ReadTopic(testkit.Topics.DLQ); len(dlq) != 0 {
		t.Errorf("%d DLQ records: every simulated object maps", len(dlq))
	}
}

// version reads the incident version an OCSF event (time) or an ECS
// document (an incident's @timestamp, an alert's
// panw_cortex.xdr.incident_modification_time) carries.
func version(value []byte) (int64, error) {
	var v struct {
		ClassUID int    `json:"class_uid"`
		Time     int64  `json:"time"`
		TS       string `json:"@timestamp"`
		Event    struct{ Dataset string }
		Vendor   struct {
			XDR struct {
				Version int64 `json:"incident_modification_time"`
			}
		} `json:"panw_cortex"`
	}
	if err := json.Unmarshal(value, &v); err != nil {
		return 0, err
	}
	switch {
	case v.ClassUID != 0:
		return v.Time, nil
	case v.Event.Dataset == "panw_cortex_xdr.incidents":
		ts, err := time.Parse(time.RFC3339Nano, v.TS)
		return ts.UnixMilli(), err
	case v.Event.Dataset == "panw_cortex_xdr.alerts":
		return v.Vendor.XDR.Version, nil
	}
	return 0, fmt.Errorf("neither OCSF nor ECS: %s", value)
}
