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
			if want := fixtures.Marshal(t, evs[i]); !bytes.Equal(docs[i], want) {
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
			if got, wantB := w.B, fixtures.Marshal(t, want); !bytes.Equal(got, wantB) {
				t.Fatalf("alert %s:\nwritten       %s\nencoding/json %s", a.Raw, got, wantB)
			}
			if got, wantB := w.B[fi[0]:fi[1]], fixtures.Marshal(t, want.FindingInfo); !bytes.Equal(got, wantB) || created != want.FindingInfo.CreatedTime {
				t.Fatalf("finding_info %s created %d, want %s %d", got, created, wantB, want.FindingInfo.CreatedTime)
			}
			if !json.Valid(w.B) {
				t.Fatalf("invalid JSON %s", w.B)
			}
		}
	})
}
