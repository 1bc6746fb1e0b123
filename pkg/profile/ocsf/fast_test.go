package ocsf_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/fixtures"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/jsonw"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/ocsf"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/xdrview"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// written maps every fixture as the connector does: one Encoder and one
// View for all the alerts of a reply, the incident finding written from
// the alerts' findings. Each event comes with a label naming its source.
func written(t *testing.T, c fixtures.Case) (labels []string, docs [][]byte) {
	t.Helper()
	m := fixtures.Meta
	for _, inc := range c.Incidents {
		var w jsonw.Writer
		if err := ocsf.AppendIncidentChange(&w, m, inc); err != nil {
			t.Fatalf("incident %s: %v", inc.ID, err)
		}
		labels, docs = append(labels, "incident.change "+inc.ID), append(docs, w.B)
	}
	if ed := c.Extra; ed != nil {
		var enc ocsf.Encoder
		var v xdrview.View
		var alerts [][]byte
		var alertLabels []string
		var infos []byte
		var first, last int64
		version := max(c.Version, ed.Incident.ModificationTime)
		keys := record.ReplyKeys(ed).Alerts
		for i, a := range ed.Alerts.Data {
			if v.Reset(a.Raw) != nil {
				continue
			}
			var w jsonw.Writer
			fi, created := enc.AppendAlert(&w, m, version, ed.Incident, keys[i], &v)
			if len(infos) > 0 {
				infos = append(infos, ',')
			}
			infos = append(infos, w.B[fi[0]:fi[1]]...)
			if created > 0 {
				if first == 0 || created < first {
					first = created
				}
				last = max(last, created)
			}
			alerts, alertLabels = append(alerts, w.B), append(alertLabels, "alert "+keys[i])
		}
		var w jsonw.Writer
		if err := ocsf.AppendIncidentEnriched(&w, m, c.Version, ed, infos, first, last); err != nil {
			t.Fatalf("enriched %s: %v", ed.Incident.ID, err)
		}
		labels, docs = append(labels, "incident.enriched "+ed.Incident.ID), append(docs, w.B)
		labels, docs = append(labels, alertLabels...), append(docs, alerts...)
	}
	return labels, docs
}

// marshal is encoding/json's encoding of v as the records had it: compact,
// HTML characters not escaped.
func marshal(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// TestWrittenMatchesEncodingJSON: for every fixture, the events the
// Encoder writes are byte for byte encoding/json's encoding of the events
// the mapping functions return.
func TestWrittenMatchesEncodingJSON(t *testing.T) {
	n := 0
	for _, c := range fixtures.Cases(t) {
		labels, evs := events(t, c)
		_, docs := written(t, c)
		if len(docs) != len(evs) {
			t.Fatalf("%s: %d events written, %d mapped", c.Name, len(docs), len(evs))
		}
		for i := range evs {
			if want := marshal(t, evs[i]); !bytes.Equal(docs[i], want) {
				t.Errorf("%s %s:\nwritten  %s\nencoding/json %s", c.Name, labels[i], docs[i], want)
			}
			n++
		}
	}
	if n < 20 {
		t.Fatalf("only %d events compared", n)
	}
}

// FuzzWrittenMatchesEncodingJSON: whatever the alerts, the Detection
// Finding the Encoder writes is encoding/json's encoding of the one Alert
// returns, and its finding_info is the finding's. Two alerts go through one
// Encoder and one View, marked by another mapping before, so no state
// carries over from one alert or one mapping to the next.
func FuzzWrittenMatchesEncodingJSON(f *testing.F) {
	f.Add([]byte{0, 7, 18, 40, 77, 100, 130, 160, 200, 230, 250}, "a|HIGH|10.0.0.1, 10.0.0.2|ACME\\bob|T1059.001 - Cmd: PowerShell|TA0002 - Execution", int64(1700000000000), []byte{3, 19, 45, 99, 140})
	f.Add([]byte{24, 56, 88, 120, 152, 184, 216, 248, 19, 51}, "<&>|\u2028|caf\xc3\xa9|STATUS_040_RESOLVED_FALSE_POSITIVE|C:\\x\\y.exe|/", int64(-5), []byte{})
	f.Fuzz(func(t *testing.T, shape1 []byte, vals string, n int64, shape2 []byte) {
		inc := xdr.Incident{ID: "42", ModificationTime: 100, Status: "under_investigation"}
		var enc ocsf.Encoder
		var v xdrview.View
		for _, shape := range [][]byte{shape1, shape2} {
			a := xdr.Alert{Raw: fixtures.RandomAlert(shape, vals, n)}
			key := record.AlertKey(inc.ID, a)
			want, err := ocsf.Alert(fixtures.Meta, 50, inc, a, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Reset(a.Raw); err != nil {
				t.Fatal(err)
			}
			v.Use(fixtures.AlertFields...)
			v.Keep(fixtures.AlertFields...)
			var w jsonw.Writer
			fi, created := enc.AppendAlert(&w, fixtures.Meta, 50, inc, key, &v)
			if got, wantB := w.B, marshal(t, want); !bytes.Equal(got, wantB) {
				t.Fatalf("alert %s:\nwritten       %s\nencoding/json %s", a.Raw, got, wantB)
			}
			if got, wantB := w.B[fi[0]:fi[1]], marshal(t, want.FindingInfo); !bytes.Equal(got, wantB) || created != want.FindingInfo.CreatedTime {
				t.Fatalf("finding_info %s created %d, want %s %d", got, created, wantB, want.FindingInfo.CreatedTime)
			}
			if !json.Valid(w.B) {
				t.Fatalf("invalid JSON %s", w.B)
			}
		}
	})
}
