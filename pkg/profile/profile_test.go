package profile_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/fixtures"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"native", "native", false}, {"native,ocsf,ecs", "native,ocsf,ecs", false}, {" OCSF , ecs ", "ocsf,ecs", false},
		{"ecs,native,ecs", "native,ecs", false}, {"native,splunk", "", true}, {"", "", true}, {" , ", "", true},
	} {
		s, err := profile.Parse(tc.in)
		if (err != nil) != tc.err || err == nil && s.String() != tc.want {
			t.Errorf("Parse(%q) = %q, %v", tc.in, s, err)
		}
		if tc.in == "native,splunk" && !errors.Is(err, profile.ErrUnknown) {
			t.Errorf("Parse(%q): %v, want ErrUnknown", tc.in, err)
		}
	}
	if !profile.Default.NativeOnly() || profile.Default.OCSF() || profile.Default.ECS() {
		t.Error("the default is not native alone")
	}
}

func extra(t *testing.T, name string) (*xdr.ExtraData, int64) {
	for _, c := range fixtures.Cases(t) {
		if c.Name == name {
			return c.Extra, c.Version
		}
	}
	t.Fatalf("no fixture %s", name)
	return nil, 0
}

// TestEnriched: the native records come first and unchanged, then one OCSF
// and one ECS record per incident and alert, keyed like the native ones and
// carrying the same version; native off keeps only the DLQ records of the
// native side.
func TestEnriched(t *testing.T) {
	m := fixtures.Meta
	ed, version := extra(t, "actors")
	native, _ := enrich.Flatten(m, version, ed)
	all, _ := profile.Parse("native,ocsf,ecs")
	recs := all.Enriched(m, version, ed, native)
	if len(recs) != len(native)+2*(1+len(ed.Alerts.Data)) {
		t.Fatalf("%d records, want %d native + %d per profile", len(recs), len(native), 1+len(ed.Alerts.Data))
	}
	for i, r := range native {
		if !bytes.Equal(recs[i].Value, r.Value) || !bytes.Equal(recs[i].Key, r.Key) {
			t.Fatalf("native record %d changed", i)
		}
	}
	nativeKeys := map[record.Topic][]string{}
	for _, r := range native {
		nativeKeys[r.Topic] = append(nativeKeys[r.Topic], string(r.Key))
	}
	profileKeys := map[record.Topic][]string{}
	for _, r := range recs[len(native):] {
		profileKeys[r.Topic] = append(profileKeys[r.Topic], string(r.Key))
		if r.Version != native[0].Version || r.IncidentID != ed.Incident.ID {
			t.Errorf("%s %s: version %d incident %s, want %d %s", r.Type, r.Key, r.Version, r.IncidentID, native[0].Version, ed.Incident.ID)
		}
		if strings.HasPrefix(r.Type, "ocsf.") {
			testkit.ValidateOCSF(t, r.Value)
		} else if bad := testkit.CheckECS(t, r.Value); len(bad) > 0 {
			t.Errorf("%s: fields outside ECS: %v", r.Type, bad)
		}
	}
	for _, pair := range [][2]record.Topic{
		{record.TopicIncidents, record.TopicOCSFIncidents}, {record.TopicIncidents, record.TopicECSIncidents},
		{record.TopicAlerts, record.TopicOCSFAlerts}, {record.TopicAlerts, record.TopicECSAlerts},
	} {
		if a, b := strings.Join(nativeKeys[pair[0]], " "), strings.Join(profileKeys[pair[1]], " "); a != b {
			t.Errorf("%s keys %q, %s keys %q", pair[0], a, pair[1], b)
		}
	}

	ocsfOnly, _ := profile.Parse("ocsf")
	for _, r := range ocsfOnly.Enriched(m, version, ed, native) {
		if r.Topic != record.TopicOCSFIncidents && r.Topic != record.TopicOCSFAlerts {
			t.Errorf("ocsf alone published a %s record on %s", r.Type, r.Topic)
		}
	}
	if got := profile.Default.Enriched(m, version, ed, native); len(got) != len(native) || &got[0] != &native[0] {
		t.Error("native alone does not publish the native records as they are")
	}
}

// TestEnrichedKeysLikeNative: two different alerts of one alert_id in a
// reply get two keys on the profile topics too, the native records' keys,
// and each OCSF finding's uid and ECS document's alert_key is its record's
// key; the OCSF incident's findings name both.
func TestEnrichedKeysLikeNative(t *testing.T) {
	m := fixtures.Meta
	ed, err := xdr.DecodeExtraData([]byte(`{"reply":{"incident":{"incident_id":"905","modification_time":1700000600000,"status":"new"},
		"alerts":{"total_count":2,"data":[
			{"alert_id":"5501","name":"Credential dumping","host_name":"ws-07","detection_timestamp":1700000100000},
			{"alert_id":"5501","name":"Credential dumping","host_name":"ws-11","detection_timestamp":1700000150000}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	native, _ := enrich.Flatten(m, 1, ed)
	all, _ := profile.Parse("native,ocsf,ecs")
	recs := all.Enriched(m, 1, ed, native)
	want := []string{string(native[1].Key), string(native[2].Key)}
	if want[0] != "5501" || want[1] == want[0] {
		t.Fatalf("native alert keys %q", want)
	}
	got := map[record.Topic][]string{}
	for _, r := range recs[len(native):] {
		if r.Topic != record.TopicOCSFAlerts && r.Topic != record.TopicECSAlerts {
			continue
		}
		got[r.Topic] = append(got[r.Topic], string(r.Key))
		var doc struct {
			FindingInfo struct {
				UID string `json:"uid"`
			} `json:"finding_info"`
			Vendor struct {
				XDR struct {
					AlertKey string `json:"alert_key"`
				} `json:"xdr"`
			} `json:"panw_cortex"`
		}
		if err := json.Unmarshal(r.Value, &doc); err != nil {
			t.Fatal(err)
		}
		if inner := doc.FindingInfo.UID + doc.Vendor.XDR.AlertKey; inner != string(r.Key) {
			t.Errorf("%s record %s names the alert %q", r.Type, r.Key, inner)
		}
	}
	for _, topic := range []record.Topic{record.TopicOCSFAlerts, record.TopicECSAlerts} {
		if strings.Join(got[topic], " ") != strings.Join(want, " ") {
			t.Errorf("%s keys %q, want the native %q", topic, got[topic], want)
		}
	}
	var inc struct {
		Findings []struct {
			UID string `json:"uid"`
		} `json:"finding_info_list"`
	}
	for _, r := range recs {
		if r.Type == record.TypeOCSFIncidentEnriched {
			if err := json.Unmarshal(r.Value, &inc); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(inc.Findings) != 2 || inc.Findings[0].UID != want[0] || inc.Findings[1].UID != want[1] {
		t.Errorf("OCSF incident findings %+v, want uids %q", inc.Findings, want)
	}
}

// TestUnmappable: an incident that is no JSON object becomes one DLQ record
// per profile, with the reason, and the native record is still published.
func TestUnmappable(t *testing.T) {
	m := fixtures.Meta
	inc := xdr.Incident{ID: "31", ModificationTime: 77, Raw: json.RawMessage(`"not an object"`)}
	all, _ := profile.Parse("native,ocsf,ecs")
	nat := enrich.ChangeRecord(m, inc)
	recs := all.Change(m, inc, nat)
	if len(recs) != 3 || !bytes.Equal(recs[0].Value, nat.Value) {
		t.Fatalf("%d records, the first %s: want the native record then two stand-ins", len(recs), recs[0].Type)
	}
	for i, r := range recs[1:] {
		var env record.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		wantType := []string{record.TypeOCSFIncidentChange, record.TypeECSIncidentChange}[i]
		if r.Topic != record.TopicDLQ || string(r.Key) != "31" || env.Error == nil || env.Error.Stage != profile.DLQStage ||
			env.Error.RecordType != wantType || !strings.Contains(env.Error.Message, "not a JSON object") || r.Version != 77 {
			t.Errorf("stand-in %d: topic %s key %s %s", i, r.Topic, r.Key, r.Value)
		}
		testkit.ValidateRecord(t, record.TypeDLQ, r.Value)
	}
}

// TestOversized: a profile record larger than KAFKA_MAX_RECORD_BYTES is
// replaced by its DLQ stand-in, as a native one is.
func TestOversized(t *testing.T) {
	m := fixtures.Meta
	m.MaxBytes = 900
	inc := xdr.Incident{ID: "5", ModificationTime: 9, Raw: json.RawMessage(`{"incident_id":"5","modification_time":9,"description":"` + strings.Repeat("x", 2000) + `"}`)}
	ocsfOnly, _ := profile.Parse("ocsf")
	recs := ocsfOnly.Change(m, inc, record.Record{})
	if len(recs) != 1 || recs[0].Topic != record.TopicDLQ || !strings.Contains(string(recs[0].Value), record.TypeOCSFIncidentChange) {
		t.Fatalf("%d records: %s", len(recs), recs[0].Value)
	}
}

// TestProfilesDoNotImportEnrich: the profiles map the objects the enricher
// fetched, keyed by the record model's rules (record.ReplyKeys); they do not
// depend on the enrichment stage itself.
func TestProfilesDoNotImportEnrich(t *testing.T) {
	const enrichPath = "github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if strings.Trim(imp.Path.Value, `"`) == enrichPath {
				t.Errorf("%s imports %s", path, enrichPath)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
