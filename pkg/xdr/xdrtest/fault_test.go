package xdrtest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// post sends an authenticated request over the network.
func post(t *testing.T, client *http.Client, baseURL, endpoint string, requestData any, hdr ...string) (*http.Response, error) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"request_data": requestData})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, baseURL+"/public_api/v1/incidents/"+endpoint+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", xdrtest.DefaultKey)
	req.Header.Set("x-xdr-auth-id", xdrtest.DefaultKeyID)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return client.Do(req)
}

// read returns the status and the whole body, failing the test on a read error.
func read(t *testing.T, resp *http.Response, err error) (int, []byte) {
	t.Helper()
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp.StatusCode, b
}

// postRead posts and reads the whole reply.
func postRead(t *testing.T, client *http.Client, baseURL, endpoint string, requestData any, hdr ...string) (int, []byte) {
	t.Helper()
	resp, err := post(t, client, baseURL, endpoint, requestData, hdr...)
	return read(t, resp, err)
}

func startTenant(t *testing.T, cfg xdrtest.Config) (*xdrtest.Tenant, string, *http.Client) {
	t.Helper()
	tn, _ := newTenant(cfg)
	url, stop := tn.Start()
	t.Cleanup(stop)
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	return tn, url, client
}

func TestFaultServerError(t *testing.T) {
	tn, url, client := startTenant(t, xdrtest.Config{Incidents: 3})
	tn.Inject("", xdrtest.FaultServerError, 3)
	for _, want := range []int{500, 502, 503, 200} {
		st, body := postRead(t, client, url, "get_incidents", page)
		if st != want {
			t.Fatalf("status %d, want %d: %s", st, want, body)
		}
		if want != 200 {
			if code := (result{status: st, body: body}).errCode(t); code != strconv.Itoa(want) {
				t.Errorf("err_code %q in a %d", code, want)
			}
		}
	}
}

func TestFaultEndpointScope(t *testing.T) {
	tn, url, client := startTenant(t, xdrtest.Config{Incidents: 3})
	id := tn.IncidentIDs()[0]
	tn.Inject(xdrtest.EndpointExtraData, xdrtest.FaultServerError, 1)
	if st, body := postRead(t, client, url, "get_incidents", page); st != 200 {
		t.Fatalf("get_incidents took the extra-data fault: %d %s", st, body)
	}
	if st, _ := postRead(t, client, url, "get_incident_extra_data", map[string]any{"incident_id": id}); st != 500 {
		t.Fatalf("extra data: %d, want 500", st)
	}
	// Unauthenticated requests do not consume faults.
	tn.Inject(xdrtest.EndpointIncidents, xdrtest.FaultServerError, 1)
	if st, _ := postRead(t, client, url, "get_incidents", page, "Authorization", "wrong"); st != 401 {
		t.Fatalf("bad key: %d", st)
	}
	if st, _ := postRead(t, client, url, "get_incidents", page); st != 502 { // the second server error: 502
		t.Fatalf("fault consumed by an unauthenticated request: %d", st)
	}
}

func TestFaultReset(t *testing.T) {
	tn, url, client := startTenant(t, xdrtest.Config{Incidents: 3})
	id := tn.IncidentIDs()[0]
	tn.Inject(xdrtest.EndpointExtraData, xdrtest.FaultReset, 1)
	resp, err := post(t, client, url, "get_incident_extra_data", map[string]any{"incident_id": id})
	if err == nil {
		resp.Body.Close()
		t.Fatalf("reset fault answered %d", resp.StatusCode)
	}
	if st, _ := postRead(t, client, url, "get_incident_extra_data", map[string]any{"incident_id": id}); st != 200 {
		t.Fatalf("after the reset: %d", st)
	}
	calls := tn.ExtraDataCalls()
	if len(calls) != 2 || calls[0].Status != 0 || calls[1].Status != 200 {
		t.Fatalf("calls %+v", calls)
	}
}

func TestFaultSlow(t *testing.T) {
	tn, url, client := startTenant(t, xdrtest.Config{Incidents: 3, SlowDelay: time.Hour})
	id := tn.IncidentIDs()[0]
	tn.Inject(xdrtest.EndpointExtraData, xdrtest.FaultSlow, 1)
	impatient := &http.Client{Transport: &http.Transport{}, Timeout: 100 * time.Millisecond}
	defer impatient.CloseIdleConnections()
	resp, err := post(t, impatient, url, "get_incident_extra_data", map[string]any{"incident_id": id})
	var nerr net.Error
	if err == nil {
		resp.Body.Close()
		t.Fatalf("slow fault answered %d within the client timeout", resp.StatusCode)
	} else if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("want a timeout, got %v", err)
	}
	// A short delay: the reply comes, late but intact.
	tn.SetSlowDelay(time.Millisecond)
	tn.Inject(xdrtest.EndpointIncidents, xdrtest.FaultSlow, 1)
	if st, body := postRead(t, client, url, "get_incidents", page); st != 200 || !json.Valid(body) {
		t.Fatalf("slow reply: %d %q", st, body)
	}
}

func TestFaultTruncatedGzip(t *testing.T) {
	tn, url, client := startTenant(t, xdrtest.Config{Incidents: 10})
	tn.Inject(xdrtest.EndpointIncidents, xdrtest.FaultTruncatedGzip, 2)

	// Transparent decompression by the transport.
	resp, err := post(t, client, url, "get_incidents", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a truncated gzip body: %v, want unexpected EOF", err)
	}

	// Explicit gzip handling: the header is valid, the stream is cut.
	st, raw := postRead(t, client, url, "get_incidents", map[string]any{}, "Accept-Encoding", "gzip")
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("gzip header invalid: %v", err)
	}
	if _, err := io.ReadAll(zr); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("decompressing: %v, want unexpected EOF", err)
	}
	if st, body := postRead(t, client, url, "get_incidents", map[string]any{}); st != 200 || !json.Valid(body) {
		t.Fatalf("after the faults: %d", st)
	}
}

func TestFaultMalformedJSON(t *testing.T) {
	tn, url, client := startTenant(t, xdrtest.Config{Incidents: 3})
	tn.Inject(xdrtest.EndpointIncidents, xdrtest.FaultMalformedJSON, 1)
	st, body := postRead(t, client, url, "get_incidents", map[string]any{})
	if st != 200 || json.Valid(body) || len(body) == 0 {
		t.Fatalf("malformed fault: %d valid=%v %q", st, json.Valid(body), body)
	}
}

func TestFault429(t *testing.T) {
	tn, url, client := startTenant(t, xdrtest.Config{Incidents: 3})
	id := tn.IncidentIDs()[0]
	tn.Inject(xdrtest.EndpointExtraData, xdrtest.Fault429, 1)
	resp, err := post(t, client, url, "get_incident_extra_data", map[string]any{"incident_id": id})
	st, body := read(t, resp, err)
	if st != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("forced 429: %d Retry-After %q", st, resp.Header.Get("Retry-After"))
	}
	if code := (result{status: st, body: body}).errCode(t); code != "429" {
		t.Errorf("err_code %q", code)
	}
	if n := tn.Count429(); n != 0 {
		t.Errorf("Count429 = %d; forced 429s are not the client's fault", n)
	}
	if st, _ := postRead(t, client, url, "get_incident_extra_data", map[string]any{"incident_id": id}); st != 200 {
		t.Fatalf("after the fault: %d", st)
	}
}

func TestFailIncident(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 3})
	bad, good := tn.IncidentIDs()[0], tn.IncidentIDs()[1]
	tn.FailIncident(bad, http.StatusBadGateway)
	for range 2 {
		if r := extra(t, tn, bad, 1); r.status != http.StatusBadGateway || r.errCode(t) != "502" {
			t.Fatalf("failing incident: %d %s", r.status, r.body)
		}
	}
	if r := extra(t, tn, good, 1); r.status != 200 {
		t.Fatalf("other incident: %d", r.status)
	}
	tn.FailIncident(bad, 0)
	if r := extra(t, tn, bad, 1); r.status != 200 {
		t.Fatalf("after lifting the failure: %d", r.status)
	}
	if n := len(tn.ExtraDataCalls()); n != 4 {
		t.Errorf("%d calls recorded, want 4", n)
	}
}

func TestGzip(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 5})
	r := call(t, tn, "get_incidents", map[string]any{}, withHeader("Accept-Encoding", "deflate, gzip"))
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", r.header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !json.Valid(plain) {
		t.Fatalf("gunzipped body invalid: %v", err)
	}
	for _, ae := range []string{"", "identity", "gzip;q=0"} {
		r := call(t, tn, "get_incidents", map[string]any{}, withHeader("Accept-Encoding", ae))
		if r.header.Get("Content-Encoding") != "" || !json.Valid(r.body) {
			t.Errorf("Accept-Encoding %q: compressed anyway", ae)
		}
	}
}

func TestServe(t *testing.T) {
	tn := xdrtest.New(xdrtest.Config{Incidents: 2})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tn.Serve(ctx, ln) }()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	if st, _ := postRead(t, client, "http://"+ln.Addr().String(), "get_incidents", page); st != 200 {
		t.Fatalf("status %d", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}
