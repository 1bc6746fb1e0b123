package xdr_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

func TestDecodeMultipleExtraData(t *testing.T) {
	body, err := os.ReadFile("testdata/multiple_extra_data.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := xdr.DecodeMultipleExtraData(body)
	if err != nil {
		t.Fatal(err)
	}
	if r.AlertsLimitPerIncident != 2 || r.TotalCount != 3 || r.ResultCount != 3 || len(r.Items) != 5 {
		t.Fatalf("reply %+v", r)
	}
	want := []struct {
		id  string
		ok  bool
		why string
	}{
		{"7", true, ""},
		{"8", true, ""},
		{"9", false, "alert 0 of the reply is not an object"},
		{"", false, "no incident object"},
		{"", false, "item 4 is not an object"},
	}
	for i, w := range want {
		it := r.Items[i]
		if it.IncidentID != w.id || (it.Data != nil) != w.ok {
			t.Errorf("item %d: id %q data %v err %v; want id %q ok %v", i, it.IncidentID, it.Data != nil, it.Err, w.id, w.ok)
		}
		if w.ok {
			if it.Err != nil || it.Data.Check() != nil || it.Data.Incident.ID != w.id {
				t.Errorf("item %d: err %v", i, it.Err)
			}
			continue
		}
		if !errors.Is(it.Err, xdr.ErrMalformed) || !strings.Contains(it.Err.Error(), w.why) {
			t.Errorf("item %d: err %v, want ErrMalformed with %q", i, it.Err, w.why)
		}
	}
	if d := r.Items[1].Data; !d.Alerts.Truncated() || d.Incident.AlertCount != 5 || d.FileArtifacts.Data[0].Value != "x" {
		t.Errorf("item 8: %+v", d)
	}
}

// An item of the bulk reply decodes exactly as the single endpoint's reply
// with the same members: one decoder for both.
func TestMultipleItemMatchesSingleReply(t *testing.T) {
	single, err := os.ReadFile("testdata/extra_data_xdr.json")
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Reply json.RawMessage `json:"reply"`
	}
	if err := json.Unmarshal(single, &env); err != nil {
		t.Fatal(err)
	}
	bulk := []byte(`{"reply":{"alerts_limit_per_incident":50,"incidents":[` + string(env.Reply) + `]}}`)
	want, err := xdr.DecodeExtraData(single)
	if err != nil {
		t.Fatal(err)
	}
	got, err := xdr.DecodeMultipleExtraData(bulk)
	if err != nil || len(got.Items) != 1 || got.Items[0].Err != nil {
		t.Fatalf("%+v %v", got, err)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got.Items[0].Data)
	if !bytes.Equal(a, b) || got.Items[0].IncidentID != want.Incident.ID {
		t.Errorf("bulk item decodes to\n%s\nsingle reply to\n%s", b, a)
	}
}

func TestDecodeMultipleExtraDataEnvelope(t *testing.T) {
	for _, body := range []string{
		``, `[]`, `{"reply":{}}`, `{"reply":{"incidents":{}}}`, `{"reply":{"incidents":"x"}}`,
		`{"reply":{"err_code":500,"err_msg":"boom"}}`, `{"reply":{"incident":{"incident_id":"1"}}}`,
	} {
		if _, err := xdr.DecodeMultipleExtraData([]byte(body)); !errors.Is(err, xdr.ErrMalformed) {
			t.Errorf("%q: err %v, want ErrMalformed", body, err)
		}
	}
	r, err := xdr.DecodeMultipleExtraData([]byte(`{"reply":{"incidents":null}}`))
	if err != nil || len(r.Items) != 0 || r.AlertsLimitPerIncident != 0 {
		t.Errorf("empty reply: %+v %v", r, err)
	}
}

func TestMultipleExtraDataRequest(t *testing.T) {
	body, err := os.ReadFile("testdata/multiple_extra_data.json")
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { replyJSON(w, 200, string(body)) })
	c := newClient(t, rec.srv.URL, xdr.AuthStandard)
	r, err := c.GetMultipleIncidentsExtraData(t.Context(), xdr.MultipleExtraDataRequest{IncidentIDs: []string{"7", " 8 ", "9"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != 5 {
		t.Fatalf("%d items", len(r.Items))
	}
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].Path != "/public_api/v1/incidents/get_multiple_incidents_extra_data/" {
		t.Fatalf("requests %+v", reqs)
	}
	want := `{"request_data":{"filters":[{"field":"incident_id_list","operator":"in","value":["7","8","9"]}],"search_from":0,"search_to":3,"sort":{"field":"creation_time","keyword":"asc"}}}`
	if string(reqs[0].Body) != want {
		t.Errorf("body %s\nwant %s", reqs[0].Body, want)
	}
	for _, bad := range [][]string{nil, {""}, {"1", "1"}, make([]string, 101)} {
		if _, err := c.GetMultipleIncidentsExtraData(t.Context(), xdr.MultipleExtraDataRequest{IncidentIDs: bad}); !errors.Is(err, xdr.ErrInvalidRequest) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("invalid requests reached the server: %d calls", n)
	}
}

func TestEndpointNotServed(t *testing.T) {
	for _, tc := range []struct {
		status   int
		body     string
		endpoint string
		want     bool
	}{
		{404, `{"reply":{"err_code":404,"err_msg":"Not Found","err_extra":"no such public API endpoint"}}`, "", true},
		{404, `<html><title>404 Not Found</title></html>`, "", true},
		{404, ``, "", true},
		{404, `{"reply":{"err_msg":"Incident 42 was not found"}}`, "", false},
		{400, `{"reply":{"err_msg":"Unknown endpoint get_multiple_incidents_extra_data"}}`, "", true},
		{500, `{"reply":{"err_msg":"An error occurred while processing XDR public API","err_extra":"API path not found"}}`, "", true},
		{500, `{"reply":{"err_msg":"An error occurred while processing XDR public API"}}`, "", false},
		{400, `{"reply":{"err_msg":"Bad Request. Got an invalid JSON."}}`, "", false},
		{401, `{"reply":{"err_msg":"unknown endpoint"}}`, "", false},
		{403, `{"reply":{"err_msg":"no such api"}}`, "", false},
		{429, ``, "", false},
		{404, ``, xdr.EndpointGetIncidentExtraData, false},
	} {
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { replyJSON(w, tc.status, tc.body) })
		c := newClient(t, rec.srv.URL, xdr.AuthStandard)
		var err error
		if tc.endpoint == xdr.EndpointGetIncidentExtraData {
			_, err = c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: "1"})
		} else {
			_, err = c.GetMultipleIncidentsExtraData(t.Context(), xdr.MultipleExtraDataRequest{IncidentIDs: []string{"1"}})
		}
		if got := xdr.EndpointNotServed(err); got != tc.want {
			t.Errorf("%d %s (%s): EndpointNotServed = %v, want %v (err %v)", tc.status, tc.body, tc.endpoint, got, tc.want, err)
		}
	}
	if xdr.EndpointNotServed(nil) || xdr.EndpointNotServed(errors.New("404 get_multiple_incidents_extra_data")) {
		t.Error("a non-API error matched")
	}
}
