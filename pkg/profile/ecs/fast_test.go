package ecs_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/ecs"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/fixtures"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/jsonw"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/xdrview"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// referenceDocs maps every fixture with the reference mapping.
func referenceDocs(t *testing.T, c fixtures.Case) []refDocument {
	t.Helper()
	_, out := fixtures.Map(t, c, fixtures.Mapping[refDocument]{Change: refIncidentChange, Enriched: refIncidentEnriched, Alert: refAlert})
	return out
}

// sameJSON reports whether a and b are the same JSON value once parsed.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// TestWrittenMatchesReference: for every fixture, the documents the
// Encoder writes are the reference mapping's, byte for byte, and so the
// same JSON; and the Document the mapping functions return encodes to the
// same bytes.
func TestWrittenMatchesReference(t *testing.T) {
	n := 0
	for _, c := range fixtures.Cases(t) {
		if c.Name == "extra-data-null-sections" {
			continue // its incident has no object: TestNotAnObject
		}
		labels, docs := written(t, c)
		refs := referenceDocs(t, c)
		_, maps := documents(t, c)
		if len(docs) != len(refs) {
			t.Fatalf("%s: %d documents written, %d by the reference", c.Name, len(docs), len(refs))
		}
		for i := range refs {
			want := fixtures.Marshal(t, refs[i])
			if !sameJSON(t, docs[i], want) || !bytes.Equal(docs[i], want) {
				t.Errorf("%s %s:\nwritten   %s\nreference %s", c.Name, labels[i], docs[i], want)
			}
			if got := fixtures.Marshal(t, maps[i]); !bytes.Equal(got, want) {
				t.Errorf("%s %s: Document\n%s\nreference %s", c.Name, labels[i], got, want)
			}
			n++
		}
	}
	if n < 20 {
		t.Fatalf("only %d documents compared", n)
	}
}

// FuzzWrittenMatchesReference: whatever the alerts, the document the
// Encoder writes is the same JSON as the reference mapping's, encoded by
// encoding/json. Two alerts go through one Encoder and one View, marked by
// another mapping before, so no state carries over from one alert or one
// mapping to the next.
func FuzzWrittenMatchesReference(f *testing.F) {
	f.Add([]byte{0, 7, 18, 40, 77, 100, 130, 160, 200, 230, 250}, "a|HIGH|10.0.0.1, 10.0.0.2|ACME\\bob|T1059.001 - Cmd: PowerShell|TA0002 - Execution", int64(1700000000000), []byte{3, 19, 45, 99, 140})
	f.Add([]byte{24, 56, 88, 120, 152, 184, 216, 248, 19, 51, 71}, "<&>|\u2028|caf\xc3\xa9|aa-bb-cc-dd-ee-ff|C:\\x\\y.exe|/|us", int64(-5), []byte{})
	f.Fuzz(func(t *testing.T, shape1 []byte, vals string, n int64, shape2 []byte) {
		inc := xdr.Incident{ID: "42", ModificationTime: 100}
		var enc ecs.Encoder
		var v xdrview.View
		for _, shape := range [][]byte{shape1, shape2} {
			a := xdr.Alert{Raw: fixtures.RandomAlert(shape, vals, n)}
			key := record.AlertKey(inc.ID, a)
			ref, err := refAlert(fixtures.Meta, 50, inc, a, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Reset(a.Raw); err != nil {
				t.Fatal(err)
			}
			v.Use(fixtures.AlertFields...)
			v.Keep(fixtures.AlertFields...)
			var w jsonw.Writer
			enc.AppendAlert(&w, fixtures.Meta, 50, inc, key, &v)
			if want := fixtures.Marshal(t, ref); !sameJSON(t, w.B, want) {
				t.Fatalf("alert %s:\nwritten   %s\nreference %s", a.Raw, w.B, want)
			}
		}
	})
}
