package xdr_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// testKey is distinctive so that a leak anywhere is easy to find.
const (
	testKey   = "K3yS3cr3t-0b1d5e9a7c2f4e6d8b0a1c3e5f7d9b2a4c6e8f0d1b3a5c7e9f2d4b6a"
	testKeyID = "42"
)

// recorder is an httptest server that records every request it gets and
// answers with the handler of the test.
type recorder struct {
	srv *httptest.Server

	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		rec.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func newClient(t *testing.T, base string, mode xdr.AuthMode, opts ...xdr.Option) *xdr.Client {
	t.Helper()
	c, err := xdr.New(xdr.Config{BaseURL: base, KeyID: testKeyID, Key: xdr.NewSecret(testKey), AuthMode: mode}, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func replyJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

const oneIncident = `{"reply":{"total_count":1,"result_count":1,"incidents":[{"incident_id":"891","modification_time":1577024425126,"severity":"High"}],"restricted_incident_ids":[]}}`

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBaseURLForms(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { replyJSON(w, 200, oneIncident) })
	base := rec.srv.URL
	tests := []struct{ in, wantBase, wantPath string }{
		{base, base, "/public_api/v1/incidents/get_incidents/"},
		{base + "/", base, "/public_api/v1/incidents/get_incidents/"},
		{base + "//", base, "/public_api/v1/incidents/get_incidents/"},
		{base + "/public_api/v1", base, "/public_api/v1/incidents/get_incidents/"},
		{base + "/public_api/v1/", base, "/public_api/v1/incidents/get_incidents/"},
		{"  " + base + "/public_api/v1//  ", base, "/public_api/v1/incidents/get_incidents/"},
		{base + "/proxy/xdr/public_api/v1", base + "/proxy/xdr", "/proxy/xdr/public_api/v1/incidents/get_incidents/"},
	}
	for _, tt := range tests {
		c := newClient(t, tt.in, xdr.AuthStandard)
		if got := c.BaseURL(); got != tt.wantBase {
			t.Errorf("BaseURL(%q) = %q, want %q", tt.in, got, tt.wantBase)
		}
		before := len(rec.requests())
		if _, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{SearchTo: 1}); err != nil {
			t.Fatalf("GetIncidents via %q: %v", tt.in, err)
		}
		if got := rec.requests()[before].Path; got != tt.wantPath {
			t.Errorf("base %q: request path %q, want %q", tt.in, got, tt.wantPath)
		}
	}
}

func TestNewValidates(t *testing.T) {
	good := xdr.Config{BaseURL: "https://api-acme.xdr.eu.paloaltonetworks.com", KeyID: "7", Key: xdr.NewSecret(testKey)}
	tests := []struct {
		name string
		edit func(*xdr.Config)
	}{
		{"empty URL", func(c *xdr.Config) { c.BaseURL = "" }},
		{"no scheme", func(c *xdr.Config) { c.BaseURL = "api-acme.xdr.eu.paloaltonetworks.com" }},
		{"ftp", func(c *xdr.Config) { c.BaseURL = "ftp://api-acme.example" }},
		{"no host", func(c *xdr.Config) { c.BaseURL = "https:///public_api/v1" }},
		{"unparseable", func(c *xdr.Config) { c.BaseURL = "https://api acme/%zz" + testKey }},
		{"credentials in URL", func(c *xdr.Config) { c.BaseURL = "https://7:" + testKey + "@api-acme.example" }},
		{"query", func(c *xdr.Config) { c.BaseURL = "https://api-acme.example/?key=" + testKey }},
		{"no key id", func(c *xdr.Config) { c.KeyID = " " }},
		{"no key", func(c *xdr.Config) { c.Key = xdr.Secret{} }},
		{"key with newline", func(c *xdr.Config) { c.Key = xdr.NewSecret(testKey + "\n") }},
		{"unknown mode", func(c *xdr.Config) { c.AuthMode = "hmac" }},
		{"negative timeout", func(c *xdr.Config) { c.Timeout = -time.Second }},
	}
	if _, err := xdr.New(good); err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	for _, tt := range tests {
		cfg := good
		tt.edit(&cfg)
		_, err := xdr.New(cfg)
		if err == nil {
			t.Errorf("%s: New succeeded", tt.name)
			continue
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("%s: error leaks the key: %v", tt.name, err)
		}
	}
	for _, mode := range []xdr.AuthMode{"", "standard", "ADVANCED", " advanced "} {
		cfg := good
		cfg.AuthMode = mode
		if _, err := xdr.New(cfg); err != nil {
			t.Errorf("mode %q: %v", mode, err)
		}
	}
}

func TestStandardRequest(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { replyJSON(w, 200, oneIncident) })
	c, err := xdr.New(xdr.Config{BaseURL: rec.srv.URL, KeyID: testKeyID, Key: xdr.NewSecret(testKey), UserAgent: "test-agent/1"})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{
		Filters:    []xdr.Filter{xdr.ModifiedSince(1577024425000), xdr.StatusIn("new", "under_investigation")},
		SearchFrom: 100, SearchTo: 200,
		Sort: &xdr.Sort{Field: xdr.FieldModificationTime, Keyword: xdr.SortAsc},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reply.Incidents) != 1 || reply.Incidents[0].ID != "891" || reply.Incidents[0].Severity != "high" {
		t.Errorf("reply: %+v", reply)
	}
	got := rec.requests()[0]
	for name, want := range map[string]string{
		"Content-Type":    "application/json",
		"Accept":          "application/json",
		"Accept-Encoding": "gzip",
		"User-Agent":      "test-agent/1",
		"Authorization":   testKey,
		"X-Xdr-Auth-Id":   testKeyID,
	} {
		if v := got.Header.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}
	for _, name := range []string{xdr.HeaderNonce, xdr.HeaderTimestamp} {
		if v := got.Header.Get(name); v != "" {
			t.Errorf("standard key sent %s: %q", name, v)
		}
	}
	wantBody := `{"request_data":{"filters":[{"field":"modification_time","operator":"gte","value":1577024425000},{"field":"status","operator":"in","value":["new","under_investigation"]}],"search_from":100,"search_to":200,"sort":{"field":"modification_time","keyword":"asc"}}}`
	if string(got.Body) != wantBody {
		t.Errorf("body\n got %s\nwant %s", got.Body, wantBody)
	}
}

func TestExtraDataRequest(t *testing.T) {
	body, err := os.ReadFile("testdata/extra_data_xdr.json")
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { replyJSON(w, 200, string(body)) })
	c := newClient(t, rec.srv.URL+"/public_api/v1/", xdr.AuthStandard)
	d, err := c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: "891"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Incident.ID != "891" || !d.Alerts.Truncated() {
		t.Errorf("extra data: %+v", d.Incident)
	}
	if _, err := c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: "892", AlertsLimit: 50}); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if reqs[0].Path != "/public_api/v1/incidents/get_incident_extra_data/" {
		t.Errorf("path %q", reqs[0].Path)
	}
	for i, want := range []string{
		`{"request_data":{"incident_id":"891","alerts_limit":1000}}`,
		`{"request_data":{"incident_id":"892","alerts_limit":50}}`,
	} {
		if string(reqs[i].Body) != want {
			t.Errorf("request %d body %s, want %s", i, reqs[i].Body, want)
		}
	}
}

// seqReader yields its bytes, then zeros; the test knows every nonce byte.
type seqReader struct{ b []byte }

func (s *seqReader) Read(p []byte) (int, error) {
	n := copy(p, s.b)
	s.b = s.b[n:]
	clear(p[n:])
	return len(p), nil
}

func TestAdvancedRequestHeaders(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { replyJSON(w, 200, oneIncident) })
	now := time.UnixMilli(1700000000123)
	clock := func() time.Time { return now }
	// Bytes 248 and above are rejected; the rest map to alphabet[b%62] with
	// the alphabet A-Z a-z 0-9. The first nonce is the alphabet itself
	// followed by "A9"; the second request draws from the zeros: all "A".
	rnd := []byte{255, 248}
	for i := range 62 {
		rnd = append(rnd, byte(i))
	}
	rnd = append(rnd, 62, 247)
	rnd = append(rnd, make([]byte, 80-len(rnd))...)
	c := newClient(t, rec.srv.URL, xdr.AuthAdvanced, xdr.WithClock(clock), xdr.WithRandom(&seqReader{b: rnd}))

	for range 2 {
		if _, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{SearchTo: 100}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(1500 * time.Millisecond)
	}
	reqs := rec.requests()
	wantNonces := []string{
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789A9",
		strings.Repeat("A", 64),
	}
	wantTS := []string{"1700000000123", "1700000001623"}
	// Computed outside Go: printf '%s' "$key$nonce$ts" | sha256sum
	const wantFirstAuth = "9fade1b7c1437d896fce600a30232e8584dc86fb822241dc316a195c044202ba"
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if got := reqs[0].Header.Get("Authorization"); got != wantFirstAuth {
		t.Errorf("first Authorization %q, want the precomputed %q", got, wantFirstAuth)
	}
	for i, r := range reqs {
		nonce, ts := r.Header.Get("x-xdr-nonce"), r.Header.Get("x-xdr-timestamp")
		if nonce != wantNonces[i] || ts != wantTS[i] {
			t.Errorf("request %d: nonce %q ts %q, want %q %q", i, nonce, ts, wantNonces[i], wantTS[i])
		}
		sum := sha256.Sum256([]byte(testKey + wantNonces[i] + wantTS[i]))
		if got, want := r.Header.Get("Authorization"), hex.EncodeToString(sum[:]); got != want {
			t.Errorf("request %d: Authorization %q, want %q", i, got, want)
		}
		if got := r.Header.Get("x-xdr-auth-id"); got != testKeyID {
			t.Errorf("request %d: x-xdr-auth-id %q", i, got)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy source unavailable") }

func TestAdvancedNonceSourceFailure(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { replyJSON(w, 200, oneIncident) })
	c := newClient(t, rec.srv.URL, xdr.AuthAdvanced, xdr.WithRandom(failingReader{}))
	_, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
	if err == nil || !strings.Contains(err.Error(), "nonce") || xdr.Retryable(err) {
		t.Errorf("err = %v, want a non-retryable nonce error", err)
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent without a nonce", n)
	}
}

func TestAdvancedNoncesAreFresh(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { replyJSON(w, 200, oneIncident) })
	c := newClient(t, rec.srv.URL, xdr.AuthAdvanced) // crypto/rand, real clock
	seen := map[string]bool{}
	for range 20 {
		if _, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rec.requests() {
		n := r.Header.Get("x-xdr-nonce")
		if len(n) != 64 || strings.Trim(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Errorf("nonce %q is not 64 characters of [A-Za-z0-9]", n)
		}
		if seen[n] {
			t.Errorf("nonce %q reused", n)
		}
		seen[n] = true
		if strings.Contains(r.Header.Get("Authorization"), testKey) {
			t.Error("advanced mode sent the key itself")
		}
	}
}

func TestGzipReplies(t *testing.T) {
	zipped := gzipped(t, oneIncident)
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"Content-Encoding gzip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(zipped)
		}},
		{"Content-Encoding x-gzip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", " X-GZIP ")
			_, _ = w.Write(zipped)
		}},
		{"gzip without header", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(zipped) }},
		{"plain", func(w http.ResponseWriter, r *http.Request) { replyJSON(w, 200, oneIncident) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, tt.h)
			r, err := newClient(t, rec.srv.URL, xdr.AuthStandard).GetIncidents(t.Context(), xdr.IncidentsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Incidents) != 1 || r.Incidents[0].ID != "891" {
				t.Errorf("reply %+v", r)
			}
		})
	}
}

// hijacked answers with raw bytes on the connection and closes it, so a test
// controls exactly where a body ends.
func hijacked(t *testing.T, raw []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = buf.Write(raw)
		_ = buf.Flush()
	}
}

func TestTruncatedBodies(t *testing.T) {
	zipped := gzipped(t, oneIncident)
	corrupt := bytes.Clone(zipped)
	corrupt[len(corrupt)-6] ^= 0xff // CRC-32 in the trailer
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"gzip cut in half", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(zipped[:len(zipped)/2])
		}},
		{"gzip bad checksum", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(corrupt)
		}},
		{"gzip header but not gzip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = io.WriteString(w, oneIncident)
		}},
		{"gzip header, empty body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
		}},
		{"plain body shorter than Content-Length", hijacked(t, []byte(
			"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"+oneIncident[:40]))},
		{"gzip body shorter than Content-Length", hijacked(t, append([]byte(
			"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 500\r\n\r\n"), zipped[:20]...))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, tt.h)
			_, err := newClient(t, rec.srv.URL, xdr.AuthStandard).GetIncidents(t.Context(), xdr.IncidentsRequest{})
			if !errors.Is(err, xdr.ErrTruncated) {
				t.Fatalf("err = %v, want ErrTruncated", err)
			}
			if !xdr.Retryable(err) {
				t.Errorf("Retryable(%v) = false", err)
			}
		})
	}
}

func TestReplyTooLarge(t *testing.T) {
	big := `{"reply":{"incidents":[],"pad":"` + strings.Repeat("x", 4096) + `"}}`
	for _, zip := range []bool{false, true} {
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			if zip {
				w.Header().Set("Content-Encoding", "gzip")
				_, _ = w.Write(gzipped(t, big)) // about 60 bytes on the wire
				return
			}
			_, _ = io.WriteString(w, big)
		})
		c, err := xdr.New(xdr.Config{BaseURL: rec.srv.URL, KeyID: testKeyID, Key: xdr.NewSecret(testKey), MaxReplyBytes: 1024})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
		if !errors.Is(err, xdr.ErrReplyTooLarge) || xdr.Retryable(err) {
			t.Errorf("gzip %v: err = %v (retryable %v), want non-retryable ErrReplyTooLarge", zip, err, xdr.Retryable(err))
		}
	}
}

func TestMalformedOK(t *testing.T) {
	for _, body := range []string{
		"<html><head><title>Sign in - Corporate Proxy</title></head><body>...</body></html>",
		`{"incidents":[]}`,
		`{"reply":{"err_code":500,"err_msg":"backend unavailable"}}`,
		``,
	} {
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) })
		_, err := newClient(t, rec.srv.URL, xdr.AuthStandard).GetIncidents(t.Context(), xdr.IncidentsRequest{})
		if !errors.Is(err, xdr.ErrMalformed) || !xdr.Retryable(err) {
			t.Errorf("200 %q: err = %v, want retryable ErrMalformed", body, err)
		}
		if strings.HasPrefix(body, "<html>") && !strings.Contains(err.Error(), "Sign in - Corporate Proxy") {
			t.Errorf("error %q lacks an excerpt of the HTML page", err)
		}
	}
}

type errorView struct {
	Status     int    `json:"status"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Extra      string `json:"extra"`
	RetryAfter string `json:"retry_after"`
	Retryable  bool   `json:"retryable"`
	Error      string `json:"error"`
}

// TestAPIErrorGolden serves every body under testdata/errors with the status
// its name starts with, and records how the client reports it.
func TestAPIErrorGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no error bodies: %v", err)
	}
	views := map[string]errorView{}
	for _, f := range files {
		name := filepath.Base(f)
		status, err := strconv.Atoi(name[:3])
		if err != nil {
			t.Fatalf("%s: name must start with the HTTP status", name)
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ctype := "application/json"
		switch filepath.Ext(name) {
		case ".html":
			ctype = "text/html; charset=utf-8"
		case ".txt":
			ctype = "text/plain"
		}
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.WriteHeader(status)
			_, _ = w.Write(body)
		})
		_, err = newClient(t, rec.srv.URL, xdr.AuthStandard).GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: "891"})
		ae, ok := errors.AsType[*xdr.APIError](err)
		if !ok {
			t.Fatalf("%s: err = %v, want *APIError", name, err)
		}
		if ae.Status != status || ae.Endpoint != xdr.EndpointGetIncidentExtraData {
			t.Errorf("%s: status %d endpoint %q", name, ae.Status, ae.Endpoint)
		}
		if len(ae.Message) > 1100 || len(ae.Extra) > 1100 {
			t.Errorf("%s: message or extra not capped: %d, %d bytes", name, len(ae.Message), len(ae.Extra))
		}
		views[name] = errorView{ae.Status, ae.Code, ae.Message, ae.Extra, ae.RetryAfter.String(), xdr.Retryable(err), ae.Error()}
	}
	golden(t, "errors.golden", views)
}

func TestUnauthorizedHints(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		replyJSON(w, 401, `{"reply":{"err_code":401,"err_msg":"Public API request unauthorized","err_extra":null}}`)
	})
	for _, tt := range []struct {
		mode      xdr.AuthMode
		wantSkew  bool
		wantAdvOK bool
	}{{xdr.AuthAdvanced, true, true}, {xdr.AuthStandard, false, false}} {
		_, err := newClient(t, rec.srv.URL, tt.mode).GetIncidents(t.Context(), xdr.IncidentsRequest{})
		ae, ok := errors.AsType[*xdr.APIError](err)
		if !ok {
			t.Fatalf("%s: err = %v, want *APIError", tt.mode, err)
		}
		if got := strings.Contains(err.Error(), "clock skew"); got != tt.wantSkew {
			t.Errorf("%s: mentions clock skew = %v, want %v: %v", tt.mode, got, tt.wantSkew, err)
		}
		if ae.AdvancedAuth != tt.wantAdvOK || xdr.Retryable(err) {
			t.Errorf("%s: AdvancedAuth %v, Retryable %v", tt.mode, ae.AdvancedAuth, xdr.Retryable(err))
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header string
		want   time.Duration
		wantOK bool
	}{
		{"429 seconds", 429, "7", 7 * time.Second, true},
		{"429 date", 429, now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"429 absent", 429, "", 60 * time.Second, true},
		{"429 garbage", 429, "soon", 60 * time.Second, true},
		{"429 negative", 429, "-5", 60 * time.Second, true},
		{"429 date in the past", 429, now.Add(-time.Hour).Format(http.TimeFormat), 60 * time.Second, true},
		{"503 seconds", 503, "5", 5 * time.Second, true},
		{"503 absent", 503, "", 0, false},
		{"429 absurd", 429, "99999999999", 24 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				replyJSON(w, tt.status, `{"reply":{"err_code":`+strconv.Itoa(tt.status)+`,"err_msg":"Exceeded 10 requests in a 60-second window"}}`)
			})
			c := newClient(t, rec.srv.URL, xdr.AuthStandard, xdr.WithClock(func() time.Time { return now }))
			_, err := c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: "1"})
			d, ok := xdr.RetryAfter(fmt.Errorf("enriching incident 1: %w", err))
			if d != tt.want || ok != tt.wantOK {
				t.Errorf("RetryAfter = %v, %v; want %v, %v (err %v)", d, ok, tt.want, tt.wantOK, err)
			}
			if !xdr.Retryable(err) {
				t.Errorf("Retryable(%v) = false", err)
			}
			if len(rec.requests()) != 1 {
				t.Errorf("%d attempts, want exactly 1", len(rec.requests()))
			}
		})
	}
}

func TestOneAttemptPerCall(t *testing.T) {
	for _, status := range []int{429, 500, 502, 503} {
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { replyJSON(w, status, `{}`) })
		c := newClient(t, rec.srv.URL, xdr.AuthStandard)
		_, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
		if !xdr.Retryable(err) {
			t.Errorf("HTTP %d: not retryable: %v", status, err)
		}
		if n := len(rec.requests()); n != 1 {
			t.Errorf("HTTP %d: %d attempts, want 1", status, n)
		}
	}
}

func TestValidationBeforeIO(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { replyJSON(w, 200, oneIncident) })
	c := newClient(t, rec.srv.URL, xdr.AuthStandard)
	bad := []xdr.IncidentsRequest{
		{SearchFrom: 0, SearchTo: 101},
		{SearchFrom: -1, SearchTo: 10},
		{Filters: []xdr.Filter{{Field: xdr.FieldModificationTime, Operator: xdr.OpIn, Value: []string{"1"}}}},
	}
	for _, req := range bad {
		_, err := c.GetIncidents(t.Context(), req)
		if !errors.Is(err, xdr.ErrInvalidRequest) || xdr.Retryable(err) {
			t.Errorf("%v: err = %v, want non-retryable ErrInvalidRequest", req, err)
		}
		if _, ok := errors.AsType[*xdr.APIError](err); ok {
			t.Errorf("%v: validation error is an APIError", req)
		}
	}
	for _, req := range []xdr.ExtraDataRequest{{IncidentID: " "}, {IncidentID: "1", AlertsLimit: -1}} {
		if _, err := c.GetIncidentExtraData(t.Context(), req); !errors.Is(err, xdr.ErrInvalidRequest) {
			t.Errorf("%+v: err = %v, want ErrInvalidRequest", req, err)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
}

// stallServer holds every request until the client gives up; arrived gets a
// value (without blocking) when a request reaches the handler.
func stallServer(t *testing.T) (*recorder, chan struct{}) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	return rec, arrived
}

func TestTimeoutAndCancellation(t *testing.T) {
	t.Run("per-request timeout is retryable", func(t *testing.T) {
		rec, _ := stallServer(t)
		c, err := xdr.New(xdr.Config{BaseURL: rec.srv.URL, KeyID: testKeyID, Key: xdr.NewSecret(testKey), Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
		if !errors.Is(err, xdr.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !xdr.Retryable(err) {
			t.Errorf("err = %v, want retryable ErrTimeout", err)
		}
	})
	t.Run("cancelled parent is not retryable", func(t *testing.T) {
		rec, arrived := stallServer(t)
		c := newClient(t, rec.srv.URL, xdr.AuthStandard)
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-arrived; cancel() }() // cancel while the request is in flight
		_, err := c.GetIncidents(ctx, xdr.IncidentsRequest{})
		if !errors.Is(err, context.Canceled) || errors.Is(err, xdr.ErrTimeout) || xdr.Retryable(err) {
			t.Errorf("err = %v, want non-retryable context.Canceled", err)
		}
	})
	t.Run("parent deadline is not retryable", func(t *testing.T) {
		rec, _ := stallServer(t)
		c := newClient(t, rec.srv.URL, xdr.AuthStandard) // 30s per request
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := c.GetIncidents(ctx, xdr.IncidentsRequest{})
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, xdr.ErrTimeout) || xdr.Retryable(err) {
			t.Errorf("err = %v, want non-retryable parent deadline", err)
		}
	})
	t.Run("http.Client timeout is retryable", func(t *testing.T) {
		rec, _ := stallServer(t)
		c := newClient(t, rec.srv.URL, xdr.AuthStandard, xdr.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
		_, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
		if !errors.Is(err, xdr.ErrTimeout) || !xdr.Retryable(err) {
			t.Errorf("err = %v, want retryable ErrTimeout", err)
		}
	})
	t.Run("already cancelled sends nothing", func(t *testing.T) {
		rec, _ := stallServer(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := newClient(t, rec.srv.URL, xdr.AuthStandard).GetIncidents(ctx, xdr.IncidentsRequest{})
		if !errors.Is(err, context.Canceled) || len(rec.requests()) != 0 {
			t.Errorf("err = %v, %d requests sent", err, len(rec.requests()))
		}
	})
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusMovedPermanently)
	})
	_, err := newClient(t, rec.srv.URL, xdr.AuthStandard).GetIncidents(t.Context(), xdr.IncidentsRequest{})
	if ae, ok := errors.AsType[*xdr.APIError](err); !ok || ae.Status != 301 || xdr.Retryable(err) {
		t.Errorf("err = %v, want a non-retryable HTTP 301", err)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func TestConnectionFailuresAreRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there now
	_, err := newClient(t, base, xdr.AuthStandard).GetIncidents(t.Context(), xdr.IncidentsRequest{})
	if err == nil || !xdr.Retryable(err) {
		t.Errorf("connection refused: err = %v, retryable %v", err, xdr.Retryable(err))
	}

	// The server accepts the request, then drops the connection.
	rec := newRecorder(t, hijacked(t, nil))
	_, err = newClient(t, rec.srv.URL, xdr.AuthStandard).GetIncidents(t.Context(), xdr.IncidentsRequest{})
	if err == nil || !xdr.Retryable(err) {
		t.Errorf("dropped connection: err = %v, retryable %v", err, xdr.Retryable(err))
	}
}

// TestSecretNeverLeaks provokes every kind of failure, with a server that
// echoes the Authorization header back, and searches every rendering of the
// errors, the Client and the Config for the key.
func TestSecretNeverLeaks(t *testing.T) {
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			a := r.Header.Get("Authorization")
			if status == 200 {
				_, _ = io.WriteString(w, "<html><title>denied "+a+"</title></html>")
				return
			}
			b, _ := json.Marshal(map[string]any{"reply": map[string]any{
				"err_code": a, "err_msg": "bad key " + a, "err_extra": []string{a, "x-xdr-auth-id"},
			}})
			replyJSON(w, status, string(b))
		}
	}
	var errs []error
	var clients []*xdr.Client
	for _, mode := range []xdr.AuthMode{xdr.AuthStandard, xdr.AuthAdvanced} {
		for _, status := range []int{200, 400, 401, 402, 403, 429, 500} {
			rec := newRecorder(t, echo(status))
			c := newClient(t, rec.srv.URL, mode)
			clients = append(clients, c)
			_, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
			errs = append(errs, err)
			_, err = c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: "1"})
			errs = append(errs, err)
			_, err = c.GetMultipleIncidentsExtraData(t.Context(), xdr.MultipleExtraDataRequest{IncidentIDs: []string{"1", "2"}})
			errs = append(errs, err)
		}
		// Non-JSON error page echoing the key.
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "Bad gateway for "+r.Header.Get("Authorization"))
		})
		_, err := newClient(t, rec.srv.URL, mode).GetIncidents(t.Context(), xdr.IncidentsRequest{})
		errs = append(errs, err)
		// Transport failure, timeout and validation.
		_, err = newClient(t, "http://127.0.0.1:1", mode).GetIncidents(t.Context(), xdr.IncidentsRequest{})
		errs = append(errs, err)
		_, err = newClient(t, rec.srv.URL, mode).GetIncidents(t.Context(), xdr.IncidentsRequest{SearchTo: 1000})
		errs = append(errs, err)
	}
	cfg := xdr.Config{BaseURL: "https://api-acme.example", KeyID: testKeyID, Key: xdr.NewSecret(testKey), AuthMode: xdr.AuthAdvanced}
	_, err := xdr.New(xdr.Config{BaseURL: "https://u:" + testKey + "@h.example", KeyID: "1", Key: xdr.NewSecret(testKey)})
	errs = append(errs, err)

	var rendered []string
	for _, err := range errs {
		if err == nil {
			t.Fatal("a provoked failure returned no error")
		}
		rendered = append(rendered, err.Error(), fmt.Sprintf("%v|%+v|%#v|%s", err, err, err, err))
		if ae, ok := errors.AsType[*xdr.APIError](err); ok {
			rendered = append(rendered, fmt.Sprintf("%v|%+v|%#v", ae, ae, *ae))
		}
	}
	for _, c := range clients {
		rendered = append(rendered, fmt.Sprintf("%v|%+v|%#v|%s|%v|%+v|%#v|%x", c, c, c, c, *c, *c, *c, c))
	}
	var anyCfg any = cfg // every verb, including ones vet would flag for a struct
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		rendered = append(rendered, fmt.Sprintf(verb, anyCfg), fmt.Sprintf(verb, &cfg))
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("cfg", "config", cfg, "client", clients[0], "err", errs[0])
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("cfg", "config", cfg, "client", clients[0], "err", errs[0])
	rendered = append(rendered, logBuf.String())
	for _, s := range rendered {
		if strings.Contains(s, testKey) {
			t.Errorf("key leaked in %q", s)
		}
	}
	// The echoing server did get the key (standard mode), so the scrubbing
	// above was put to the test.
	if !strings.Contains(fmt.Sprint(errs[2]), "[REDACTED]") {
		t.Errorf("expected the echoed key to be redacted in %v", errs[2])
	}
}
