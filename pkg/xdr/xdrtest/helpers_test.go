package xdrtest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/clocktest"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// clockStart is where the tests' manual clocks start.
var clockStart = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newTenant builds a tenant on a fresh manual clock unless cfg has a clock.
func newTenant(cfg xdrtest.Config) (*xdrtest.Tenant, *clocktest.Clock) {
	clk := clocktest.New(clockStart)
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	return xdrtest.New(cfg), clk
}

type result struct {
	status int
	header http.Header
	body   []byte
}

// decode parses the body with numbers kept as json.Number.
func (r result) decode(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decoding %d reply %q: %v", r.status, r.body, err)
	}
	return m
}

// reply returns the "reply" object of a successful call.
func (r result) reply(t testing.TB) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	rep, ok := r.decode(t)["reply"].(map[string]any)
	if !ok {
		t.Fatalf("no reply object in %s", r.body)
	}
	return rep
}

// errCode extracts the error code from any of the documented error shapes.
func (r result) errCode(t testing.TB) string {
	t.Helper()
	m := r.decode(t)
	if rep, ok := m["reply"].(map[string]any); ok {
		m = rep
	}
	for _, k := range []string{"err_code", "code"} {
		if v, ok := m[k]; ok {
			if _, hasMsg := m["err_msg"]; !hasMsg && k == "err_code" {
				t.Fatalf("error body without err_msg: %s", r.body)
			}
			switch v := v.(type) {
			case json.Number:
				return v.String()
			case string:
				return v
			}
		}
	}
	t.Fatalf("no error code in %s", r.body)
	return ""
}

type reqOption func(*http.Request)

func withHeader(k, v string) reqOption { return func(r *http.Request) { r.Header.Set(k, v) } }

func withoutHeader(k string) reqOption { return func(r *http.Request) { r.Header.Del(k) } }

// sign computes an advanced-key signature independently of the tenant.
func sign(key, nonce, ts string) string {
	sum := sha256.Sum256([]byte(key + nonce + ts))
	return hex.EncodeToString(sum[:])
}

// advanced signs the request with key, under the default advanced key's id.
func advanced(key, nonce string, ts int64) reqOption {
	return func(r *http.Request) {
		s := strconv.FormatInt(ts, 10)
		r.Header.Set("x-xdr-auth-id", xdrtest.DefaultAdvancedKeyID)
		r.Header.Set("x-xdr-timestamp", s)
		r.Header.Set("x-xdr-nonce", nonce)
		r.Header.Set("Authorization", sign(key, nonce, s))
	}
}

const testPath = "/public_api/v1/incidents/"

// call posts {"request_data": requestData} (or, for a []byte, that raw
// body) to endpoint with the default standard key, through ServeHTTP.
func call(t testing.TB, h http.Handler, endpoint string, requestData any, opts ...reqOption) result {
	t.Helper()
	body, ok := requestData.([]byte)
	if !ok {
		var err error
		if body, err = json.Marshal(map[string]any{"request_data": requestData}); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(http.MethodPost, testPath+endpoint+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", xdrtest.DefaultKey)
	req.Header.Set("x-xdr-auth-id", xdrtest.DefaultKeyID)
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return result{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// listing is a whole result set read page by page.
type listing struct {
	incidents  []map[string]any
	restricted []string
	total      int
}

// queryAll pages through get_incidents with offsets (only safe while
// nothing changes).
func queryAll(t testing.TB, h http.Handler, filters []any, sort map[string]any) listing {
	t.Helper()
	var out listing
	for from := 0; ; from += 100 {
		rd := map[string]any{"search_from": from, "search_to": from + 100}
		if filters != nil {
			rd["filters"] = filters
		}
		if sort != nil {
			rd["sort"] = sort
		}
		rep := call(t, h, "get_incidents", rd).reply(t)
		total := int(num(t, rep["total_count"]))
		if from == 0 {
			out.total = total
			for _, id := range asList(rep["restricted_incident_ids"]) {
				out.restricted = append(out.restricted, id.(string))
			}
		} else if total != out.total {
			t.Fatalf("total_count changed between pages: %d then %d", out.total, total)
		}
		page := asList(rep["incidents"])
		if got := int(num(t, rep["result_count"])); got != len(page) {
			t.Fatalf("result_count %d for %d incidents", got, len(page))
		}
		for _, inc := range page {
			out.incidents = append(out.incidents, inc.(map[string]any))
		}
		if len(page) < 100 {
			return out
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func num(t testing.TB, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%v is not an integer: %v", v, err)
	}
	return i
}

func ids(incs []map[string]any) []string {
	out := make([]string, len(incs))
	for i, inc := range incs {
		out[i] = inc["incident_id"].(string)
	}
	return out
}

func idNum(t testing.TB, inc map[string]any) int64 {
	t.Helper()
	n, err := strconv.ParseInt(inc["incident_id"].(string), 10, 64)
	if err != nil {
		t.Fatalf("incident_id %v: %v", inc["incident_id"], err)
	}
	return n
}

func filter(field, op string, value any) map[string]any {
	return map[string]any{"field": field, "operator": op, "value": value}
}

func extra(t testing.TB, h http.Handler, id string, limit int) result {
	t.Helper()
	rd := map[string]any{"incident_id": id}
	if limit > 0 {
		rd["alerts_limit"] = limit
	}
	return call(t, h, "get_incident_extra_data", rd)
}

// mustRequest builds an authenticated request.
func mustRequest(t testing.TB, method, path, body string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", xdrtest.DefaultKey)
	req.Header.Set("x-xdr-auth-id", xdrtest.DefaultKeyID)
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
