package xdr_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// TestKeyEchoWithEscapedLettersIsScrubbed: a 2xx reply that echoes the key
// with one or every character written as a JSON \u escape (valid JSON that
// spells the key to whoever decodes it) is scrubbed: the incident's text
// never decodes to the key.
func TestKeyEchoWithEscapedLettersIsScrubbed(t *testing.T) {
	const key = "q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s"
	for _, tc := range []struct{ name, echo string }{
		{"first letter", fmt.Sprintf(`\u%04x`, key[0]) + key[1:]},
		{"every character", func() string {
			var b strings.Builder
			for i := 0; i < len(key); i++ {
				fmt.Fprintf(&b, `\u%04x`, key[i])
			}
			return b.String()
		}()},
	} {
		body := `{"reply":{"total_count":1,"result_count":1,"incidents":[{"incident_id":"1","modification_time":1700000000000,` +
			`"description":"auth ` + tc.echo + `"}]}}`
		reply, err := callWith(t, key, 200, "application/json", []byte(body))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var inc struct {
			Description string `json:"description"`
		}
		if err := json.Unmarshal(reply.Incidents[0].Raw, &inc); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(inc.Description, key) {
			t.Errorf("%s: the incident's description decodes to the key (KeyEchoes %d); Raw %s", tc.name, reply.KeyEchoes, reply.Incidents[0].Raw)
		}
	}
}

// TestSwappedKeyAndIDEchoedInA401IsScrubbed: with the key and its id
// swapped (the mistake the api_key_id warning names), the key travels in
// x-xdr-auth-id; an id that looks like a key is scrubbed as the key is, so a
// 401 body echoing the request's headers does not print it.
func TestSwappedKeyAndIDEchoedInA401IsScrubbed(t *testing.T) {
	const key = "Zq8nVx3LkP0rT7yWb2HcJ5mDf9GsAe4U"
	body := []byte(`{"reply":{"err_code":401,"err_msg":"unauthorized","err_extra":"headers: x-xdr-auth-id=` + key + ` authorization=17"}}`)
	c, err := xdr.New(xdr.Config{BaseURL: "https://api-x.example", KeyID: key, Key: xdr.NewSecret("17")},
		xdr.WithHTTPClient(&http.Client{Transport: cannedTransport{401, "application/json", body}}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
	if err == nil {
		t.Fatal("no error")
	}
	if run := leakedRun(key, errorTexts(err)...); run != "" {
		t.Errorf("%q of the key (sent as the key id) is in the error: %v", run, err)
	}
}

// TestTruncatedKeyEchoInA2xxReplyIsScrubbed: a 2xx reply that echoes most
// of the key (a proxy's debug note cutting long header values with "...")
// is scrubbed of it, as error texts are of any 8-character run of the key.
func TestTruncatedKeyEchoInA2xxReplyIsScrubbed(t *testing.T) {
	const key = "q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s"
	body := `{"reply":{"total_count":1,"result_count":1,"incidents":[{"incident_id":"1","modification_time":1700000000000,` +
		`"description":"via proxy (authorization: ` + key[:24] + `...)"}]}}`
	reply, err := callWith(t, key, 200, "application/json", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if run := leakedRun(key, string(reply.Incidents[0].Raw)); run != "" {
		t.Errorf("%q of the key survives in the incident (KeyEchoes %d): %s", run, reply.KeyEchoes, reply.Incidents[0].Raw)
	}
}

// TestMalformedReplyQuotingTheKeyIsScrubbed: a server (or proxy) whose
// reply is not well-formed HTTP and that quotes the request's Authorization
// header on the offending line has that line quoted by net/http's error;
// the client scrubs transport errors as it scrubs error bodies.
func TestMalformedReplyQuotingTheKeyIsScrubbed(t *testing.T) {
	const key = "Zq8nVx3LkP0rT7yWb2HcJ5mDf9GsAe4U"
	for _, tc := range []struct{ name, reply string }{
		{"a header line without a colon", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nyou sent authorization " + key + "\r\n\r\n{}"},
		{"a status line", "HTTP/1.1 2x0 you sent " + key + "\r\n\r\n"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = buf.WriteString(strings.ReplaceAll(tc.reply, key, r.Header.Get("Authorization")))
			_ = buf.Flush()
		}))
		c, err := xdr.New(xdr.Config{BaseURL: srv.URL, KeyID: "7", Key: xdr.NewSecret(key)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
		srv.Close()
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if run := leakedRun(key, errorTexts(err)...); run != "" {
			t.Errorf("%s: %q of the key is in the error: %v", tc.name, run, err)
		}
	}
}

// TestRedirectsNeverCarryTheKey: with the client New builds, a 3xx
// to another host is not followed, so the other host never receives the
// key, and the error does not quote it (the Location carries it here).
func TestRedirectsNeverCarryTheKey(t *testing.T) {
	const key = "Zq8nVx3LkP0rT7yWb2HcJ5mDf9GsAe4U"
	got := make(chan string, 8)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
	}))
	defer other.Close()
	for _, code := range []int{301, 302, 303, 307, 308} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path+"?k="+r.Header.Get("Authorization"), code)
		}))
		c, err := xdr.New(xdr.Config{BaseURL: srv.URL, KeyID: "7", Key: xdr.NewSecret(key)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
		srv.Close()
		if err == nil {
			t.Fatalf("%d: no error", code)
		}
		if run := leakedRun(key, errorTexts(err)...); run != "" {
			t.Errorf("%d: %q of the key is in the error: %v", code, run, err)
		}
	}
	select {
	case a := <-got:
		t.Errorf("the other host received a request (Authorization %d bytes)", len(a))
	default:
	}
}

// TestKeyEchoJSONEncodedByTheServerIsScrubbed: a 2xx reply whose echo of
// the key is the key as a JSON encoder writes it into a string
// (json.Marshal: \" and \\ for quotes and backslashes, \u0026 for &) is
// scrubbed: the incident's text never decodes to the key.
func TestKeyEchoJSONEncodedByTheServerIsScrubbed(t *testing.T) {
	for _, key := range []string{
		`q2Lm"Zx9VbRtY0aWc3Ne7Hf/KpD4s`,
		`q2Lm\Zx9VbRtY0aWc3Ne7Hf/KpD4s`,
		`q2Lm&Zx9VbRtY0aWc3Ne7Hf/KpD4s`,
	} {
		enc, _ := json.Marshal(key)
		body := `{"reply":{"total_count":1,"result_count":1,"incidents":[{"incident_id":"1","modification_time":1700000000000,` +
			`"description":` + string(enc) + `}]}}`
		reply, err := callWith(t, key, 200, "application/json", []byte(body))
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		var inc struct {
			Description string `json:"description"`
		}
		if err := json.Unmarshal(reply.Incidents[0].Raw, &inc); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(inc.Description, key) {
			t.Errorf("the echo %s is published as it is (KeyEchoes %d): the incident decodes to the key", enc, reply.KeyEchoes)
		}
	}
}

// TestSpanOfAMalformedReplyQuotingTheKeyIsScrubbed: the span of that call
// has the scrubbed error as its status description.
func TestSpanOfAMalformedReplyQuotingTheKeyIsScrubbed(t *testing.T) {
	const key = "Zq8nVx3LkP0rT7yWb2HcJ5mDf9GsAe4U"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nyou sent authorization " + r.Header.Get("Authorization") + "\r\n\r\n{}")
		_ = buf.Flush()
	}))
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	c, err := xdr.New(xdr.Config{BaseURL: srv.URL, KeyID: "7", Key: xdr.NewSecret(key)},
		xdr.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{}); err == nil {
		t.Fatal("no error")
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	texts := []string{spans[0].Status().Description}
	for _, a := range spans[0].Attributes() {
		texts = append(texts, a.Value.Emit())
	}
	for _, ev := range spans[0].Events() {
		for _, a := range ev.Attributes {
			texts = append(texts, a.Value.Emit())
		}
	}
	if run := leakedRun(key, texts...); run != "" {
		t.Errorf("%q of the key is in the span: %q", run, spans[0].Status().Description)
	}
}

// TestBOMKeyEchoedInA401IsScrubbed: a key read from a file saved with
// a byte order mark keeps it (TrimSpace leaves U+FEFF); a 401 body echoing
// it, raw or with the mark \u-escaped, is scrubbed.
func TestBOMKeyEchoedInA401IsScrubbed(t *testing.T) {
	const plain = "Zq8nVx3LkP0rT7yWb2HcJ5mDf9GsAe4U"
	key := "\ufeff" + plain
	for _, echo := range []string{key, `\ufeff` + plain, `\uFEFF` + plain} {
		body := []byte(`{"reply":{"err_code":401,"err_msg":"bad key ` + echo + `"}}`)
		err := callEndpoint(t, xdr.EndpointGetIncidents, key, 401, "application/json", body)
		if err == nil {
			t.Fatal("no error")
		}
		if run := leakedRun(plain, errorTexts(err)...); run != "" {
			t.Errorf("echo %q: %q of the key is in the error: %v", echo, run, err)
		}
	}
}
