package xdr_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// addSeeds adds the hand-written replies under testdata/ and a few edge
// cases to the fuzz corpus.
func addSeeds(f *testing.F, glob string, extra ...string) {
	files, err := filepath.Glob(filepath.Join("testdata", glob))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// checkRawRoundTrip asserts that raw is a verbatim slice of body (of body
// with invalid UTF-8 replaced by U+FFFD, as the decoder repairs it) and that
// decoding raw alone yields the same typed value.
func checkRawRoundTrip[T any](t *testing.T, body []byte, what string, v T, raw json.RawMessage) {
	t.Helper()
	if len(raw) == 0 {
		t.Fatalf("%s: empty Raw", what)
	}
	if !json.Valid(raw) {
		t.Fatalf("%s: Raw %q is not valid JSON", what, raw)
	}
	if !bytes.Contains(bytes.ToValidUTF8(body, []byte("\uFFFD")), raw) {
		t.Fatalf("%s: Raw %q is not a slice of the body", what, raw)
	}
	var again T
	if err := json.Unmarshal(raw, &again); err != nil {
		t.Fatalf("%s: re-decoding Raw %q: %v", what, raw, err)
	}
	if !reflect.DeepEqual(again, v) {
		t.Fatalf("%s: Raw %q re-decodes to %+v, want %+v", what, raw, again, v)
	}
}

func FuzzDecodeIncidentsReply(f *testing.F) {
	addSeeds(f, "get_incidents_*.json",
		`{"reply":{"incidents":[null,1,"x",{"incident_id":1e999}]}}`,
		`{"reply":{"total_count":1e30,"result_count":-1,"incidents":{"incident_id":"1"}}}`,
		`{"reply":{"incidents":[{"creation_time":"-9223372036854775809"}]}}`,
		`{"reply":{"err_code":1}}`,
		`{"reply":{}}`,
		`[]`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		r, err := xdr.DecodeIncidentsReply(body)
		if err != nil {
			if !errors.Is(err, xdr.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		if r.Incidents == nil || r.RestrictedIDs == nil {
			t.Fatal("nil slice in a successful reply")
		}
		for i := range body {
			body[i] = 0 // the result must not alias the input
		}
		for _, in := range r.Incidents {
			checkRawRoundTrip(t, orig, "incident", in, in.Raw)
		}
	})
}

func FuzzDecodeExtraData(f *testing.F) {
	addSeeds(f, "extra_data_*.json",
		`{"reply":{"incident":null,"alerts":null,"network_artifacts":"x","file_artifacts":[null]}}`,
		`{"reply":{"incident":{"incident_id":"1"},"alerts":null,"network_artifacts":null,"file_artifacts":[null]}}`,
		`{"reply":{"alerts":{"total_count":"3","data":[{"alert_id":1.5,"case_id":"7 "}]}}}`,
		`{"reply":{"incident":{"incident_id":2},"alerts":{"total_count":"3","data":[{"alert_id":1.5,"case_id":"7 "}]}}}`,
		`{"reply":{"network_artifacts":{"data":[" a ",1,true,{"network_remote_port":"1e3"}]}}}`,
		`{"reply":{"incident":{"incident_id":" 3 "},"network_artifacts":{"data":[" a ",{"network_remote_port":"1e3"}]}}}`,
		`{"reply":{"err_msg":"x"}}`,
		// Replies without the incident, or of another endpoint's shape.
		`{"reply":{}}`,
		`{"reply":{"incident":null}}`,
		`{"reply":{"incident":{}}}`,
		`{"reply":{"incident":"1","alerts":[]}}`,
		`{"reply":{"total_count":1,"result_count":1,"incidents":[{"incident_id":"1","modification_time":5}],"restricted_incident_ids":[]}}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		d, err := xdr.DecodeExtraData(body)
		if err != nil {
			if !errors.Is(err, xdr.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if d.Alerts.Data == nil || d.NetworkArtifacts.Data == nil || d.FileArtifacts.Data == nil {
			t.Fatal("nil section data in a successful reply")
		}
		if err := d.Check(); err != nil {
			t.Fatalf("a successful reply fails Check: %v", err)
		}
		for i := range body {
			body[i] = 0
		}
		checkRawRoundTrip(t, orig, "incident", d.Incident, d.Incident.Raw)
		for _, a := range d.Alerts.Data {
			checkRawRoundTrip(t, orig, "alert", a, a.Raw)
		}
		for _, n := range d.NetworkArtifacts.Data {
			checkRawRoundTrip(t, orig, "network artifact", n, n.Raw)
		}
		for _, fa := range d.FileArtifacts.Data {
			checkRawRoundTrip(t, orig, "file artifact", fa, fa.Raw)
		}
	})
}

func FuzzDecodeMultipleExtraData(f *testing.F) {
	addSeeds(f, "multiple_extra_data*.json",
		`{"reply":{"alerts_limit_per_incident":"50","incidents":[null,1,"x",{"incident":{"incident_id":1e999}}]}}`,
		`{"reply":{"total_count":1e30,"incidents":[{"incident":{"incident_id":"1"},"alerts":"x"}]}}`,
		`{"reply":{"incidents":[{"incident":{"incident_id":"1"},"alerts":{"total_count":99,"data":[{}]}}]}}`,
		`{"reply":{"incidents":[{"incident":{"incident_id":"1"}},{"incident":{"incident_id":"1"}}]}}`,
		`{"reply":{"incidents":{}}}`,
		`{"reply":{"err_code":1}}`,
		`{"reply":{"incident":{"incident_id":"1"}}}`,
		`[]`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		r, err := xdr.DecodeMultipleExtraData(body)
		if err != nil {
			if !errors.Is(err, xdr.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if r.Items == nil || r.AlertsLimitPerIncident < 0 {
			t.Fatalf("reply %+v", r)
		}
		for i := range body {
			body[i] = 0
		}
		for _, it := range r.Items {
			if (it.Data == nil) == (it.Err == nil) {
				t.Fatalf("item with data %v and error %v", it.Data, it.Err)
			}
			if it.Err != nil {
				if !errors.Is(it.Err, xdr.ErrMalformed) {
					t.Fatalf("item error %v does not wrap ErrMalformed", it.Err)
				}
				continue
			}
			d := it.Data
			if err := d.Check(); err != nil || d.Incident.ID != it.IncidentID {
				t.Fatalf("item %q fails Check (%v) or names %q", it.IncidentID, err, d.Incident.ID)
			}
			checkRawRoundTrip(t, orig, "incident", d.Incident, d.Incident.Raw)
			for _, a := range d.Alerts.Data {
				checkRawRoundTrip(t, orig, "alert", a, a.Raw)
			}
		}
	})
}
