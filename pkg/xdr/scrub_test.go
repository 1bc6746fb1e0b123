package xdr_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// cannedTransport answers every request with one reply, without a network.
type cannedTransport struct {
	status int
	ctype  string
	body   []byte
}

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {c.ctype}},
		Body: io.NopCloser(bytes.NewReader(c.body)), Request: r}, nil
}

// callWith makes one get_incidents call, with key, to a server that
// answers status, ctype and body.
func callWith(t *testing.T, key string, status int, ctype string, body []byte) (*xdr.IncidentsReply, error) {
	t.Helper()
	c, err := xdr.New(xdr.Config{BaseURL: "https://api-x.example", KeyID: "7", Key: xdr.NewSecret(key)},
		xdr.WithHTTPClient(&http.Client{Transport: cannedTransport{status, ctype, body}}))
	if err != nil {
		t.Fatal(err)
	}
	return c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
}

// readEndpoints are the calls whose replies the connector reads, each made
// once by callEndpoint.
var readEndpoints = []string{xdr.EndpointGetIncidents, xdr.EndpointGetIncidentExtraData, xdr.EndpointGetMultipleIncidentsExtraData}

// callEndpoint makes one call of endpoint (one of readEndpoints), with key,
// to a server that answers status, ctype and body, and returns its error.
func callEndpoint(t *testing.T, endpoint, key string, status int, ctype string, body []byte) error {
	t.Helper()
	c, err := xdr.New(xdr.Config{BaseURL: "https://api-x.example", KeyID: "7", Key: xdr.NewSecret(key)},
		xdr.WithHTTPClient(&http.Client{Transport: cannedTransport{status, ctype, body}}))
	if err != nil {
		t.Fatal(err)
	}
	switch endpoint {
	case xdr.EndpointGetIncidentExtraData:
		_, err = c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: "1"})
	case xdr.EndpointGetMultipleIncidentsExtraData:
		_, err = c.GetMultipleIncidentsExtraData(t.Context(), xdr.MultipleExtraDataRequest{IncidentIDs: []string{"1"}})
	default:
		_, err = c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
	}
	return err
}

// leakedRun returns an 8-byte run of key found in one of texts, or "".
func leakedRun(key string, texts ...string) string {
	for i := 0; i+8 <= len(key); i++ {
		for _, s := range texts {
			if strings.Contains(s, key[i:i+8]) {
				return key[i : i+8]
			}
		}
	}
	return ""
}

// errorTexts are every rendering of err a log line, a span status, check or
// /tenants could show.
func errorTexts(err error) []string {
	out := []string{err.Error(), fmt.Sprintf("%+v", err)}
	if ae, ok := errors.AsType[*xdr.APIError](err); ok {
		out = append(out, ae.Code, ae.Message, ae.Extra)
	}
	return out
}

// Key alphabets a real key or password is written in.
var keyAlphabets = []string{
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", // base64 (padded with =)
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", // base64url
	"0123456789abcdef",
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
}

func randomKey(rng *rand.Rand, alphabet int) string {
	a := keyAlphabets[alphabet%len(keyAlphabets)]
	n := 16 + rng.IntN(113)
	b := make([]byte, n)
	for i := range b {
		b[i] = a[rng.IntN(len(a))]
	}
	if alphabet%len(keyAlphabets) == 0 {
		copy(b[n-2:], "==")
	}
	return string(b)
}

// encodeKey spells each character of key with the encoding encs picks for
// it (cycling through encs; all raw when encs is empty).
func encodeKey(key string, encs []byte) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		e := 0
		if len(encs) > 0 {
			e = int(encs[i%len(encs)]) % len(xdr.CharEncodings)
		}
		b.WriteString(xdr.CharEncodings[e](key[i]))
	}
	return b.String()
}

// jsonSafe keeps the bytes of s that can stand in a JSON string as they
// are and that no key alphabet has: the filler around a planted key never
// spells part of it by itself.
func jsonSafe(s []byte) string {
	var b strings.Builder
	for _, c := range s {
		if c >= ' ' && c < 0x7f && c != '"' && c != '\\' && strings.IndexByte(keyAlphabets[0]+keyAlphabets[1]+"=", c) < 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// errorBody wraps text (already valid inside a JSON string) in one of the
// error bodies a server may send, with its status and content type.
func errorBody(envelope int, text string) (int, string, []byte) {
	switch envelope % 9 {
	case 0:
		return 401, "application/json", []byte(`{"reply":{"err_code":401,"err_msg":"` + text + `","err_extra":null}}`)
	case 1:
		return 500, "application/json", []byte(`{"reply":{"err_code":500,"err_msg":"failed","err_extra":["` + text + `",{"header":"` + text + `"}]}}`)
	case 2:
		return 422, "application/json", []byte(`{"code":422,"status":"invalid","message":"` + text + `","errors":{"auth":"` + text + `"}}`)
	case 3:
		return 502, "text/html", []byte("<html><head><title>Bad gateway " + text + "</title></head><body>" + text + "</body></html>")
	case 4:
		return 403, "text/plain; charset=" + text, []byte("denied: " + text)
	case 5:
		return 500, "application/json", []byte(`"` + text + `"`)
	case 6:
		// JSON inside JSON: err_extra is a string holding a JSON document.
		inner, _ := json.Marshal(`{"detail":"` + text + `"}`)
		return 400, "application/json", []byte(`{"reply":{"err_code":400,"err_msg":"bad request","err_extra":` + string(inner) + `}}`)
	case 7:
		// A 2xx reply that carries an error instead of incidents.
		return 200, "application/json", []byte(`{"reply":{"err_code":500,"err_msg":"` + text + `"}}`)
	default:
		// A 2xx reply that is not JSON.
		return 200, "text/html", []byte("<title>" + text + "</title>")
	}
}

// FuzzKeyNeverSurvivesInErrors plants the client's key, spelled in a random
// mix of encodings, at a random place of a random error body (around the
// caps of err_msg and of an excerpt too) of a call of one of readEndpoints
// (picked by seed's bits 40 and up), and checks that no 8-character run of
// it survives in the error, however rendered.
func FuzzKeyNeverSurvivesInErrors(f *testing.F) {
	f.Add(uint64(1), uint8(0), uint8(0), uint16(0), []byte("key rejected: "), []byte{1})
	f.Add(uint64(2), uint8(0), uint8(1), uint16(1000), []byte("x"), []byte{2, 0, 4})
	f.Add(uint64(3), uint8(1), uint8(3), uint16(190), []byte("proxy"), []byte{6, 9, 13})
	f.Add(uint64(4), uint8(0), uint8(6), uint16(1020), []byte(""), []byte{10, 11, 14, 15, 16})
	f.Add(uint64(5), uint8(2), uint8(7), uint16(1015), []byte("bad"), []byte{12, 7, 8})
	f.Add(uint64(1<<40|6), uint8(0), uint8(7), uint16(0), []byte("no such incident "), []byte{2})
	f.Add(uint64(2<<40|7), uint8(1), uint8(7), uint16(1010), []byte("bad"), []byte{2, 3})
	f.Add(uint64(2<<40|8), uint8(3), uint8(8), uint16(0), []byte("gateway"), []byte{0})
	f.Fuzz(func(t *testing.T, seed uint64, alphabet, envelope uint8, pad uint16, filler, encs []byte) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		key := randomKey(rng, int(alphabet))
		fill := jsonSafe(filler)
		cut := 0
		if len(fill) > 0 {
			cut = int(seed>>32) % (len(fill) + 1)
		}
		// pad places the key anywhere from the start to past the caps.
		text := strings.Repeat(".", int(pad)%1300) + fill[:cut] + encodeKey(key, encs) + fill[cut:]
		status, ctype, body := errorBody(int(envelope), text)
		err := callEndpoint(t, readEndpoints[int(seed>>40)%len(readEndpoints)], key, status, ctype, body)
		if err == nil {
			t.Fatalf("status %d: no error", status)
		}
		if run := leakedRun(key, errorTexts(err)...); run != "" {
			t.Fatalf("%q of the key survives in %q", run, err)
		}
	})
}

// Echoes that the scrubbing of the raw body alone missed: the key with
// its slashes escaped, \u-escaped, HTML-escaped, or cut by the 1 KiB cap
// of err_msg after decoding.
func TestEscapedKeyEchoesAreScrubbed(t *testing.T) {
	const key = "q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s"
	jsonSlash := strings.ReplaceAll(key, "/", `\/`)
	var uEsc strings.Builder
	for i := range len(key) {
		fmt.Fprintf(&uEsc, `\u%04x`, key[i])
	}
	htmlEsc := strings.NewReplacer("/", "&#x2F;", "+", "&#43;", "=", "&#61;").Replace(key)
	for name, body := range map[string]string{
		"slashes as \\/":          `{"reply":{"err_code":401,"err_msg":"bad key ` + jsonSlash + `"}}`,
		"\\u-escaped":             `{"reply":{"err_code":401,"err_msg":"bad key ` + uEsc.String() + `"}}`,
		"HTML-escaped":            `{"reply":{"err_code":401,"err_msg":"bad key ` + htmlEsc + `"}}`,
		"cut by the cap":          `{"reply":{"err_code":401,"err_msg":"` + strings.Repeat(".", 1010) + jsonSlash + `"}}`,
		"in err_extra, as a list": `{"reply":{"err_code":401,"err_msg":"no","err_extra":["` + jsonSlash + `"]}}`,
	} {
		_, err := callWith(t, key, 401, "application/json", []byte(body))
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if run := leakedRun(key, errorTexts(err)...); run != "" {
			t.Errorf("%s: %q of the key survives in %q", name, run, err)
		}
		if name != "cut by the cap" && !strings.Contains(err.Error(), "[REDACTED]") {
			t.Errorf("%s: the echo is not marked: %q", name, err)
		}
	}
}

// A 2xx reply of any read endpoint that carries an error instead of its
// data has its message scrubbed as an error reply's is, the key spelled in
// escapes no reply check looks for included.
func TestCarriedErrorsOfEveryEndpointAreScrubbed(t *testing.T) {
	const key = "q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s"
	var uEsc strings.Builder
	for i := range len(key) {
		fmt.Fprintf(&uEsc, `\u%04x`, key[i])
	}
	body := []byte(`{"reply":{"err_code":500,"err_msg":"bad key ` + uEsc.String() + `"}}`)
	for _, ep := range readEndpoints {
		err := callEndpoint(t, ep, key, 200, "application/json", body)
		if !errors.Is(err, xdr.ErrMalformed) {
			t.Fatalf("%s: %v, want ErrMalformed", ep, err)
		}
		if run := leakedRun(key, errorTexts(err)...); run != "" {
			t.Errorf("%s: %q of the key survives in %q", ep, run, err)
		}
		if want := "decoding " + ep + " reply: xdr: malformed reply: reply carries an error: bad key [REDACTED]"; !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%s: %q\ndoes not end with %q", ep, err, want)
		}
	}
}

// roundTrip is an http.RoundTripper made of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A header the client names in an error is server text too: an encoding it
// cannot read, echoing the key, is named scrubbed.
func TestUnsupportedEncodingIsNamedScrubbed(t *testing.T) {
	const key = "q2LmZx9VbRtY0aWc3Ne7HfKpD4s"
	c, err := xdr.New(xdr.Config{BaseURL: "https://api-x.example", KeyID: "7", Key: xdr.NewSecret(key)},
		xdr.WithHTTPClient(&http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {key}},
				Body: io.NopCloser(strings.NewReader(`{"reply":{}}`)), Request: r}, nil
		})}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetIncidents(t.Context(), xdr.IncidentsRequest{})
	if !errors.Is(err, xdr.ErrMalformed) || !strings.Contains(err.Error(), `unsupported Content-Encoding "[REDACTED]"`) {
		t.Errorf("error %v, want ErrMalformed naming the encoding scrubbed", err)
	}
	if run := leakedRun(key, errorTexts(err)...); run != "" {
		t.Errorf("%q of the key survives in %q", run, err)
	}
}

// A successful reply that echoes the key into an incident is published with
// the key replaced, and the reply says how many echoes were replaced.
func TestKeyEchoedIntoAReplyIsReplacedAndCounted(t *testing.T) {
	const key = "q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s"
	jsonSlash := strings.ReplaceAll(key, "/", `\/`)
	pct := strings.NewReplacer("/", "%2F", "+", "%2B", "=", "%3D").Replace(key)
	body := `{"reply":{"total_count":1,"result_count":1,"incidents":[{"incident_id":"1","modification_time":1700000000000,` +
		`"description":"key ` + key + ` and ` + jsonSlash + `","notes":"` + pct + `"}]}}`
	reply, err := callWith(t, key, 200, "application/json", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if reply.KeyEchoes != 3 {
		t.Errorf("KeyEchoes = %d, want 3", reply.KeyEchoes)
	}
	raw := string(reply.Incidents[0].Raw)
	if run := leakedRun(key, raw, strings.ReplaceAll(raw, `\/`, "/")); run != "" {
		t.Errorf("%q of the key survives in the incident %s", run, raw)
	}
	if strings.Count(raw, "[REDACTED]") != 3 {
		t.Errorf("the incident %s does not mark the three echoes", raw)
	}
	if reply, err := callWith(t, key, 200, "application/json", []byte(strings.ReplaceAll(body, key, "x"))); err != nil || reply.KeyEchoes != 2 {
		t.Errorf("without the raw echo: KeyEchoes %v, %v; want 2", reply, err)
	}
}
