package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

var testMeta = Meta{Connector: "xdr-connector", Tenant: "acme.xdr.eu", AlertsLimit: 1000, FetchedAt: 1700000999000}

// TestAppendEnvelopeMatchesEncodingJSON: the hand-written encoder means the
// same as encoding/json for every field.
func TestAppendEnvelopeMatchesEncodingJSON(t *testing.T) {
	for _, env := range []Envelope{
		{RecordType: "alert", IncidentID: "1\"\\\n\x01", ModificationTime: -5, AlertID: "h:ab", Data: json.RawMessage(`{"a":1}`)},
		{RecordType: "artifact.file", IncidentID: "é\u2028\xff", ArtifactType: "HASH", Data: json.RawMessage(`"bare"`)},
		{RecordType: "incident.enriched", IncidentID: "2", Enrichment: &EnrichmentInfo{AlertsTotalCount: 3, AlertsReceived: 2, AlertsTruncated: true, AlertsLimit: 2, NetworkArtifactsTotalCount: 1, FileArtifactsTotalCount: 4, FetchedAt: 99}, Data: json.RawMessage(`{}`)},
		{RecordType: "dlq", IncidentID: "3", Error: &DLQError{Stage: "enrich", Message: "m<>&", Status: 429, Code: "x", Attempts: 2, FailedAt: 7}, Data: json.RawMessage(`{"incident_id":"3"}`)},
		{RecordType: "dlq", IncidentID: "3", Error: &DLQError{Stage: "enrich"}, Data: json.RawMessage(`[]`)},
		{RecordType: "dlq", IncidentID: "4", Error: &DLQError{Stage: "publish", Message: "too big", RecordType: "alert", RecordKey: "k<&>", RecordTopic: "alerts", RecordBytes: 2000000, LimitBytes: 1048576}, Data: json.RawMessage(`{}`)},
		{RecordType: "incident.enriched", IncidentID: "5", Enrichment: &EnrichmentInfo{AlertsReceived: 1, OversizedRecords: 2}, Data: json.RawMessage(`{}`)},
	} {
		for _, m := range []Meta{testMeta, {Connector: "c\t"}} {
			got := appendEnvelope(nil, m, &env)
			e := env
			e.SchemaVersion, e.Connector, e.Tenant = SchemaVersion, m.Connector, m.Tenant
			want, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("invalid JSON %s: %v", got, err)
			}
			_ = json.Unmarshal(want, &w)
			if fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("encoding differs:\n got %s\nwant %s", got, want)
			}
			// Same field order as encoding/json: compare with HTML escaping off.
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(e)
			if strings.TrimSpace(buf.String()) != string(got) {
				t.Errorf("bytes differ:\n got %s\nwant %s", got, buf.String())
			}
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\/", "\x00\x1f\x7f", "é😀", "\u2028\u2029", "\xff\xfe", "<&>", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("AppendString(%q) = %s: invalid JSON: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if !utf8.ValidString(s) {
			// encoding/json replaces each invalid byte; compare with it.
			wb, _ := json.Marshal(s)
			_ = json.Unmarshal(wb, &want)
		}
		if got != want {
			t.Fatalf("round trip of %q = %q, want %q", s, got, want)
		}
	})
}
