package xdr_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got (JSON-encoded, indented) with testdata/<name>, or
// rewrites the file under -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatalf("encoding golden view: %v", err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from the decoded value (run with -update if the change is intended)\n got: %s\nwant: %s", path, b, want)
	}
}

// Views of the decoded values for the golden files: the typed fields, plus
// the sorted keys of Raw so a reader sees which fields were kept.

type incidentView struct {
	ID               string   `json:"id"`
	CreationTime     int64    `json:"creation_time"`
	ModificationTime int64    `json:"modification_time"`
	Status           string   `json:"status"`
	Severity         string   `json:"severity"`
	AlertCount       int      `json:"alert_count"`
	RawKeys          []string `json:"raw_keys"`
}

type alertView struct {
	ID                 string   `json:"id"`
	CaseID             string   `json:"case_id"`
	Severity           string   `json:"severity"`
	Name               string   `json:"name"`
	Source             string   `json:"source"`
	HostName           string   `json:"host_name"`
	DetectionTimestamp int64    `json:"detection_timestamp"`
	RawKeys            []string `json:"raw_keys"`
}

type artifactView struct {
	Type     string `json:"type"`
	Domain   string `json:"domain,omitempty"`
	RemoteIP string `json:"remote_ip,omitempty"`
	Port     int    `json:"remote_port,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	FileName string `json:"file_name,omitempty"`
	Value    string `json:"value,omitempty"`
	Raw      string `json:"raw_kind"`
}

type sectionView[T any] struct {
	TotalCount int  `json:"total_count"`
	Truncated  bool `json:"truncated,omitempty"`
	Data       []T  `json:"data"`
}

func rawKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func rawKind(raw json.RawMessage) string {
	switch {
	case len(raw) == 0:
		return "none"
	case raw[0] == '{':
		return "object"
	case raw[0] == '"':
		return "string"
	}
	return "other"
}

func viewIncident(t *testing.T, in xdr.Incident) incidentView {
	return incidentView{in.ID, in.CreationTime, in.ModificationTime, in.Status, in.Severity, in.AlertCount, rawKeys(t, in.Raw)}
}

func viewExtraData(t *testing.T, d *xdr.ExtraData) any {
	alerts := sectionView[alertView]{TotalCount: d.Alerts.TotalCount, Truncated: d.Alerts.Truncated(), Data: []alertView{}}
	for _, a := range d.Alerts.Data {
		alerts.Data = append(alerts.Data, alertView{a.ID, a.CaseID, a.Severity, a.Name, a.Source, a.HostName, a.DetectionTimestamp, rawKeys(t, a.Raw)})
	}
	network := sectionView[artifactView]{TotalCount: d.NetworkArtifacts.TotalCount, Data: []artifactView{}}
	for _, n := range d.NetworkArtifacts.Data {
		network.Data = append(network.Data, artifactView{Type: n.Type, Domain: n.Domain, RemoteIP: n.RemoteIP, Port: n.RemotePort, Value: n.Value, Raw: rawKind(n.Raw)})
	}
	files := sectionView[artifactView]{TotalCount: d.FileArtifacts.TotalCount, Data: []artifactView{}}
	for _, f := range d.FileArtifacts.Data {
		files.Data = append(files.Data, artifactView{Type: f.Type, SHA256: f.SHA256, FileName: f.FileName, Value: f.Value, Raw: rawKind(f.Raw)})
	}
	return map[string]any{
		"incident":          viewIncident(t, d.Incident),
		"alerts":            alerts,
		"network_artifacts": network,
		"file_artifacts":    files,
	}
}

// generic parses JSON independently of the package, keeping numbers exact.
func generic(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("parsing %q: %v", b, err)
	}
	return v
}

// wantItems is what the package promises for a list section: the non-null
// elements of a list, of a section's "data" list, or a lone non-list value.
func wantItems(v any) []any {
	if m, ok := v.(map[string]any); ok {
		v = m["data"]
	}
	var out []any
	switch x := v.(type) {
	case nil:
	case []any:
		for _, e := range x {
			if e != nil {
				out = append(out, e)
			}
		}
	default:
		out = append(out, x)
	}
	return out
}

// checkRaw asserts that raw is byte for byte a piece of body and decodes to
// want: every field received, known or not, with its value.
func checkRaw(t *testing.T, body []byte, what string, raw json.RawMessage, want any) {
	t.Helper()
	if !bytes.Contains(body, raw) {
		t.Errorf("%s: Raw %s is not a verbatim slice of the body", what, raw)
	}
	if got := generic(t, raw); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: Raw decodes to\n%#v\nwant\n%#v", what, got, want)
	}
}

func TestDecodeIncidentsReplyGolden(t *testing.T) {
	for _, name := range []string{"get_incidents_quirks", "get_incidents_empty", "get_incidents_null_sections"} {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := xdr.DecodeIncidentsReply(body)
			if err != nil {
				t.Fatalf("DecodeIncidentsReply: %v", err)
			}
			view := map[string]any{
				"total_count":             r.TotalCount,
				"result_count":            r.ResultCount,
				"restricted_incident_ids": r.RestrictedIDs,
				"incidents": func() []incidentView {
					v := []incidentView{}
					for _, in := range r.Incidents {
						v = append(v, viewIncident(t, in))
					}
					return v
				}(),
			}
			golden(t, name+".golden", view)

			reply := generic(t, body).(map[string]any)["reply"].(map[string]any)
			want := wantItems(reply["incidents"])
			if len(r.Incidents) != len(want) {
				t.Fatalf("got %d incidents, want %d", len(r.Incidents), len(want))
			}
			for i, in := range r.Incidents {
				checkRaw(t, body, "incident "+in.ID, in.Raw, want[i])
			}
			if r.Incidents == nil || r.RestrictedIDs == nil {
				t.Error("null sections must decode to empty, non-nil slices")
			}
		})
	}
}

func TestDecodeExtraDataGolden(t *testing.T) {
	for _, name := range []string{"extra_data_xdr", "extra_data_xpanse", "extra_data_null_sections", "extra_data_bare_lists"} {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			d, err := xdr.DecodeExtraData(body)
			if err != nil {
				t.Fatalf("DecodeExtraData: %v", err)
			}
			golden(t, name+".golden", viewExtraData(t, d))

			reply := generic(t, body).(map[string]any)["reply"].(map[string]any)
			checkRaw(t, body, "incident", d.Incident.Raw, reply["incident"])
			check := func(section string, raws []json.RawMessage) {
				want := wantItems(reply[section])
				if len(raws) != len(want) {
					t.Fatalf("%s: got %d items, want %d", section, len(raws), len(want))
				}
				for i, raw := range raws {
					checkRaw(t, body, section, raw, want[i])
				}
			}
			var raws []json.RawMessage
			for _, a := range d.Alerts.Data {
				raws = append(raws, a.Raw)
			}
			check("alerts", raws)
			raws = nil
			for _, n := range d.NetworkArtifacts.Data {
				raws = append(raws, n.Raw)
			}
			check("network_artifacts", raws)
			raws = nil
			for _, f := range d.FileArtifacts.Data {
				raws = append(raws, f.Raw)
			}
			check("file_artifacts", raws)
		})
	}
}

// The quirks of API-NOTES.md, asserted one by one so a regression names the
// quirk rather than a golden-file diff.
func TestDecodeQuirks(t *testing.T) {
	body, err := os.ReadFile("testdata/extra_data_xdr.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := xdr.DecodeExtraData(body)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Alerts.Truncated() || d.Alerts.TotalCount != 1500 || len(d.Alerts.Data) != 3 {
		t.Errorf("truncated alerts: total %d, got %d, Truncated %v", d.Alerts.TotalCount, len(d.Alerts.Data), d.Alerts.Truncated())
	}
	a := d.Alerts.Data[0]
	if a.CaseID != "891" || a.HostName != "WS-01" || a.Severity != "critical" || a.Name != "Memory Corruption Exploit" {
		t.Errorf("alert 0 typed fields: %+v", a)
	}
	for _, kept := range []string{`"is_whitelisted": "No"`, `"host_ip": "10.0.0.5, 192.168.1.10"`, `"host_name": "WS-01 "`, `"tags": "DS:PANW/XDR Agent"`, `"image_name": "N/A"`} {
		if !bytes.Contains(a.Raw, []byte(kept)) {
			t.Errorf("alert Raw lost %s", kept)
		}
	}
	if a := d.Alerts.Data[1]; a.ID != "12346" || a.CaseID != "891" || a.DetectionTimestamp != 1577024426000 {
		t.Errorf("numeric alert id / string case_id / float time: %+v", a)
	}
	if a := d.Alerts.Data[2]; a.ID != "" || a.Severity != "medium" || a.DetectionTimestamp != 1577024427000 {
		t.Errorf("alert without id: %+v", a)
	}
	if n := d.NetworkArtifacts.Data[1]; n.RemotePort != 443 || n.RemoteIP != "203.0.113.7" || n.Type != "IP" {
		t.Errorf("network artifact with string port: %+v", n)
	}
	if n := d.NetworkArtifacts.Data[0]; n.Domain != "evil.example.com" || n.Value != "" {
		t.Errorf("network artifact object: %+v", n)
	}

	body, err = os.ReadFile("testdata/extra_data_xpanse.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err = xdr.DecodeExtraData(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.NetworkArtifacts.Data; len(got) != 2 || got[1].Value != "198.51.100.9" || string(got[1].Raw) != `" 198.51.100.9 "` {
		t.Errorf("string artifacts: %+v", got)
	}
	if d.NetworkArtifacts.TotalCount != 2 {
		t.Errorf("missing total_count: got %d, want len(data) 2", d.NetworkArtifacts.TotalCount)
	}
	if d.Alerts.Data == nil || len(d.Alerts.Data) != 0 {
		t.Errorf("null alerts data: %#v", d.Alerts.Data)
	}
	if d.FileArtifacts.TotalCount != 5 || !strings.HasPrefix(d.FileArtifacts.Data[0].Value, "a94a8fe5") {
		t.Errorf("file artifacts as strings: %+v", d.FileArtifacts)
	}
}

func TestDecodeScalars(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		want xdr.Incident // Raw ignored
	}{
		{"string id", `{"incident_id":"891"}`, xdr.Incident{ID: "891"}},
		{"numeric id", `{"incident_id":891}`, xdr.Incident{ID: "891"}},
		{"float id", `{"incident_id":891.0}`, xdr.Incident{ID: "891"}},
		{"exponent id", `{"incident_id":8.91e2}`, xdr.Incident{ID: "891"}},
		{"padded id", `{"incident_id":"  891\t"}`, xdr.Incident{ID: "891"}},
		{"bool id", `{"incident_id":true}`, xdr.Incident{}},
		{"int time", `{"creation_time":1577024425126}`, xdr.Incident{CreationTime: 1577024425126}},
		{"float time", `{"creation_time":1577024425126.9}`, xdr.Incident{CreationTime: 1577024425126}},
		{"string time", `{"creation_time":"1577024425126"}`, xdr.Incident{CreationTime: 1577024425126}},
		{"padded string time", `{"creation_time":" 1577024425126 "}`, xdr.Incident{CreationTime: 1577024425126}},
		{"string float time", `{"creation_time":"1.577024425126e12"}`, xdr.Incident{CreationTime: 1577024425126}},
		{"null time", `{"creation_time":null}`, xdr.Incident{}},
		{"object time", `{"creation_time":{"t":1}}`, xdr.Incident{}},
		{"word time", `{"creation_time":"yesterday"}`, xdr.Incident{}},
		{"NaN string time", `{"creation_time":"NaN"}`, xdr.Incident{}},
		{"hex string time", `{"creation_time":"0x10"}`, xdr.Incident{}},
		{"huge time", `{"creation_time":1e400}`, xdr.Incident{}},
		{"beyond int64", `{"creation_time":9223372036854775808}`, xdr.Incident{}},
		{"max int64", `{"creation_time":9223372036854775807}`, xdr.Incident{CreationTime: 9223372036854775807}},
		{"severity", `{"severity":"  HiGh "}`, xdr.Incident{Severity: "high"}},
		{"status kept as sent", `{"status":" Resolved_Other "}`, xdr.Incident{Status: "Resolved_Other"}},
		{"count as string", `{"alert_count":"12"}`, xdr.Incident{AlertCount: 12}},
		{"duplicate key, last wins", `{"incident_id":"1","incident_id":"2"}`, xdr.Incident{ID: "2"}},
		{"not an object", `["891"]`, xdr.Incident{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got xdr.Incident
			if err := json.Unmarshal([]byte(tt.obj), &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if string(got.Raw) != tt.obj {
				t.Errorf("Raw = %s, want %s", got.Raw, tt.obj)
			}
			got.Raw = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeRawDoesNotAliasInput(t *testing.T) {
	body := []byte(`{"reply":{"incidents":[{"incident_id":"1","x":"abc"}]}}`)
	r, err := xdr.DecodeIncidentsReply(body)
	if err != nil {
		t.Fatal(err)
	}
	var single xdr.Incident
	obj := []byte(`{"incident_id":"2"}`)
	if err := single.UnmarshalJSON(obj); err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	for i := range obj {
		obj[i] = 'x'
	}
	if got := string(r.Incidents[0].Raw); got != `{"incident_id":"1","x":"abc"}` {
		t.Errorf("Raw changed with the input buffer: %s", got)
	}
	if got := string(single.Raw); got != `{"incident_id":"2"}` {
		t.Errorf("Raw changed with the input buffer: %s", got)
	}
}

func TestDecodeCounts(t *testing.T) {
	r, err := xdr.DecodeIncidentsReply([]byte(`{"reply":{"incidents":[{"incident_id":"1"},{"incident_id":"2"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalCount != 2 || r.ResultCount != 2 {
		t.Errorf("missing counts: total %d result %d, want 2 2", r.TotalCount, r.ResultCount)
	}
	r, err = xdr.DecodeIncidentsReply([]byte(`{"reply":{"total_count":9500,"result_count":"1","incidents":[{"incident_id":"1"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalCount != 9500 || r.ResultCount != 1 {
		t.Errorf("counts: total %d result %d, want 9500 1", r.TotalCount, r.ResultCount)
	}
}

func TestDecodeMalformedEnvelope(t *testing.T) {
	for _, body := range []string{
		``,
		`   `,
		`not json`,
		`<html><title>Login</title></html>`,
		`null`,
		`[]`,
		`"reply"`,
		`42`,
		`{}`,
		`{"incidents":[]}`,
		`{"reply":null}`,
		`{"reply":[]}`,
		`{"reply":"ok"}`,
		`{"reply":{"incidents":[]}`,
		`{"reply":{"incidents":[]}} trailing`,
		`{"reply":{"err_code":500,"err_msg":"internal"}}`,
	} {
		if _, err := xdr.DecodeIncidentsReply([]byte(body)); !errors.Is(err, xdr.ErrMalformed) {
			t.Errorf("DecodeIncidentsReply(%q) = %v, want ErrMalformed", body, err)
		}
		if _, err := xdr.DecodeExtraData([]byte(body)); !errors.Is(err, xdr.ErrMalformed) {
			t.Errorf("DecodeExtraData(%q) = %v, want ErrMalformed", body, err)
		}
	}
	// Inside "reply", get_incidents rejects nothing.
	for _, body := range []string{
		`{"reply":{}}`,
		`{"reply":{"incidents":"891","incident":7,"alerts":"x","network_artifacts":[1,"a",{}],"file_artifacts":{"data":{}}}}`,
		`{"reply":{"incidents":[1,"two",[3],{"incident_id":{}}],"total_count":{},"restricted_incident_ids":"5"}}`,
	} {
		if _, err := xdr.DecodeIncidentsReply([]byte(body)); err != nil {
			t.Errorf("DecodeIncidentsReply(%q) = %v, want tolerated", body, err)
		}
	}
}

// TestDecodeExtraDataWithoutItsShape: an extra-data reply that has no
// incident object with an id, or an item no record can carry, is malformed
// (retried, then dead-lettered by the enricher), never published as data:
// before, {"reply":{}} decoded to an incident with no bytes, published as
// "data": null.
func TestDecodeExtraDataWithoutItsShape(t *testing.T) {
	for body, why := range map[string]string{
		`{"reply":{}}`:                "no incident object",
		`{"reply":{"incident":null}}`: "no incident object",
		`{"reply":{"incident":{}}}`:   "no incident_id",
		`{"reply":{"incident":{"incident_id":null,"alert_count":2}}}`: "no incident_id",
		`{"reply":{"incident":{"incident_id":"  "}}}`:                 "no incident_id",
		`{"reply":{"incident":{"incident_id":{}}}}`:                   "no incident_id",
		`{"reply":{"incident":7}}`:                                    "incident is not an object",
		`{"reply":{"incident":["1"]}}`:                                "incident is not an object",
		`{"reply":{"incident":"1"}}`:                                  "incident is not an object",
		`{"reply":{"total_count":1,"result_count":1,"incidents":[{"incident_id":"1","modification_time":5}]}}`:     "no incident object",
		`{"reply":{"incident":{"incident_id":"1"},"alerts":{"total_count":3,"data":[{"alert_id":"a"},"x",null]}}}`: "alert 1 of the reply is not an object",
		`{"reply":{"incident":{"incident_id":"1"},"alerts":{"data":5}}}`:                                           "alert 0 of the reply is not an object",
		`{"reply":{"incident":{"incident_id":"1"},"alerts":[[{"alert_id":"a"}]]}}`:                                 "alert 0 of the reply is not an object",
		`{"reply":{"incident":{"incident_id":"1"},"network_artifacts":[1,"a",{}]}}`:                                "network artifact 0",
		`{"reply":{"incident":{"incident_id":"1"},"file_artifacts":{"data":[true]}}}`:                              "file artifact 0",
		`{"reply":{"incident":{"incident_id":"1"},"alerts":"x"}}`:                                                  `"alerts" is neither`,
		`{"reply":{"incident":{"incident_id":"1"},"file_artifacts":0}}`:                                            `"file_artifacts" is neither`,
	} {
		_, err := xdr.DecodeExtraData([]byte(body))
		if !errors.Is(err, xdr.ErrMalformed) || !strings.Contains(err.Error(), why) {
			t.Errorf("DecodeExtraData(%s) = %v, want ErrMalformed saying %q", body, err, why)
		}
	}
	// The shapes the tolerance rules accept stay accepted.
	for _, body := range []string{
		`{"reply":{"incident":{"incident_id":"1"}}}`,
		`{"reply":{"incident":{"incident_id":891},"alerts":null,"network_artifacts":{"data":"a.example"},"file_artifacts":{"data":{}}}}`,
		`{"reply":{"incident":{"incident_id":"1"},"alerts":{"total_count":2,"data":[null,{"alert_id":"a"}]},"network_artifacts":{"total_count":4}}}`,
	} {
		d, err := xdr.DecodeExtraData([]byte(body))
		if err != nil {
			t.Errorf("DecodeExtraData(%s) = %v, want tolerated", body, err)
			continue
		}
		if err := d.Check(); err != nil {
			t.Errorf("DecodeExtraData(%s) returned a reply that fails Check: %v", body, err)
		}
	}
}

// TestExtraDataCheck: what a Fetcher other than the decoder hands over is
// judged by the same rule.
func TestExtraDataCheck(t *testing.T) {
	good := func() *xdr.ExtraData {
		return &xdr.ExtraData{Incident: xdr.Incident{ID: "1", Raw: json.RawMessage(`{"incident_id":"1"}`)},
			Alerts:           xdr.AlertList{Data: []xdr.Alert{{Raw: json.RawMessage(`{}`)}}},
			NetworkArtifacts: xdr.NetworkArtifactList{Data: []xdr.NetworkArtifact{{Raw: json.RawMessage(`"a.example"`)}}},
			FileArtifacts:    xdr.FileArtifactList{Data: []xdr.FileArtifact{{Raw: json.RawMessage(` {"type":"HASH"}`)}}}}
	}
	if err := good().Check(); err != nil {
		t.Fatalf("a whole reply fails Check: %v", err)
	}
	for name, spoil := range map[string]func(*xdr.ExtraData){
		"zero incident":             func(d *xdr.ExtraData) { d.Incident = xdr.Incident{} },
		"incident id without bytes": func(d *xdr.ExtraData) { d.Incident.Raw = nil },
		"null incident":             func(d *xdr.ExtraData) { d.Incident.Raw = json.RawMessage(`null`) },
		"incident without id":       func(d *xdr.ExtraData) { d.Incident.ID = "" },
		"alert without bytes":       func(d *xdr.ExtraData) { d.Alerts.Data[0].Raw = nil },
		"string alert":              func(d *xdr.ExtraData) { d.Alerts.Data[0].Raw = json.RawMessage(`"a"`) },
		"numeric network artifact":  func(d *xdr.ExtraData) { d.NetworkArtifacts.Data[0].Raw = json.RawMessage(`1`) },
		"list file artifact":        func(d *xdr.ExtraData) { d.FileArtifacts.Data[0].Raw = json.RawMessage(`[]`) },
	} {
		d := good()
		spoil(d)
		if err := d.Check(); !errors.Is(err, xdr.ErrMalformed) {
			t.Errorf("%s: Check = %v, want ErrMalformed", name, err)
		}
	}
}

func TestMarshalReturnsRaw(t *testing.T) {
	body, err := os.ReadFile("testdata/extra_data_xdr.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := xdr.DecodeExtraData(body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d.Alerts)
	if err != nil {
		t.Fatal(err)
	}
	var again xdr.AlertList
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if again.TotalCount != d.Alerts.TotalCount || len(again.Data) != len(d.Alerts.Data) {
		t.Fatalf("alerts round trip: %+v", again)
	}
	// json.Marshal compacts what MarshalJSON returns; nothing else changes.
	for i := range again.Data {
		var want bytes.Buffer
		if err := json.Compact(&want, d.Alerts.Data[i].Raw); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Data[i].Raw, want.Bytes()) {
			t.Errorf("alert %d: Raw %s became %s", i, d.Alerts.Data[i].Raw, again.Data[i].Raw)
		}
	}
	// Without Raw the typed fields are encoded under the API's names.
	b, err = json.Marshal(xdr.Incident{ID: "5", ModificationTime: 7, Severity: "low"})
	if err != nil {
		t.Fatal(err)
	}
	var in xdr.Incident
	if err := json.Unmarshal(b, &in); err != nil || in.ID != "5" || in.ModificationTime != 7 || in.Severity != "low" {
		t.Errorf("synthesised incident %s decodes to %+v, %v", b, in, err)
	}
}

// TestDecodeRepairsInvalidUTF8: invalid UTF-8 in a reply becomes U+FFFD, so
// every Raw is valid JSON text for strict consumers; the rest is kept.
func TestDecodeRepairsInvalidUTF8(t *testing.T) {
	body := []byte("{\"reply\":{\"total_count\":1,\"incidents\":[{\"incident_id\":\"7\",\"modification_time\":5,\"description\":\"bad \xff\xfe byte\"}]}}")
	r, err := xdr.DecodeIncidentsReply(body)
	if err != nil {
		t.Fatal(err)
	}
	raw := r.Incidents[0].Raw
	if !utf8.Valid(raw) || !json.Valid(raw) || !bytes.Contains(raw, []byte("bad \uFFFD byte")) || r.Incidents[0].ID != "7" {
		t.Fatalf("raw %q", raw)
	}
}

// TestDecodeSaysWhenTotalCountIsMissing: a missing total_count is reported as
// such, never mistaken for the page length by a caller.
func TestDecodeSaysWhenTotalCountIsMissing(t *testing.T) {
	for body, missing := range map[string]bool{
		`{"reply":{"incidents":[{"incident_id":"1"}]}}`:                     true,
		`{"reply":{"total_count":null,"incidents":[{"incident_id":"1"}]}}`:  true,
		`{"reply":{"total_count":"x","incidents":[{"incident_id":"1"}]}}`:   true,
		`{"reply":{"total_count":1,"incidents":[{"incident_id":"1"}]}}`:     false,
		`{"reply":{"total_count":"250","incidents":[{"incident_id":"1"}]}}`: false,
	} {
		r, err := xdr.DecodeIncidentsReply([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if r.TotalCountMissing != missing || missing && r.TotalCount != 1 {
			t.Errorf("%s: total_count %d, missing %v; want missing %v", body, r.TotalCount, r.TotalCountMissing, missing)
		}
	}
}

// TestRetryWait is the one Retry-After policy: the server's ask, capped, or
// the fallback.
func TestRetryWait(t *testing.T) {
	ra := func(d time.Duration) error { return &xdr.APIError{Status: 429, RetryAfter: d} }
	for _, tc := range []struct {
		err        error
		want       time.Duration
		wantCapped bool
	}{
		{ra(30 * time.Second), 30 * time.Second, false},
		{ra(24 * time.Hour), 5 * time.Minute, true},
		{errors.New("reset"), time.Second, false},
		{&xdr.APIError{Status: 500}, time.Second, false},
	} {
		got, capped := xdr.RetryWait(tc.err, time.Second, xdr.DefaultMaxRetryAfter)
		if got != tc.want || capped != tc.wantCapped {
			t.Errorf("RetryWait(%v) = %s, %v; want %s, %v", tc.err, got, capped, tc.want, tc.wantCapped)
		}
	}
}
