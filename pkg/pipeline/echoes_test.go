package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestKeyEchoWithOneEscapedLetterNeverReachesRecords: the key echoed into
// the replies with one letter \u-escaped is replaced before the records are
// made: no record a consumer decodes holds it.
func TestKeyEchoWithOneEscapedLetterNeverReachesRecords(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 1, Incidents: 1}) // for its broker
	const key = "c2VjcmV0/a2V5+d2l0aC9zbGFzaGVz/cGx1cw=="
	sim := xdrtest.New(xdrtest.Config{Seed: 29, Incidents: 4, MaxAlerts: 2, RateWindow: 100 * time.Millisecond, Now: time.Now, KeyID: "7", Key: key})
	base, stop := sim.Start()
	t.Cleanup(stop)
	api, err := xdr.New(xdr.Config{BaseURL: base, KeyID: "7", Key: xdr.NewSecret(key)},
		xdr.WithHTTPClient(&http.Client{Transport: echoingTransport{next: http.DefaultTransport, echo: func(key string) string {
			// The first character written as a JSON \u escape: valid
			// JSON that decodes to the key itself.
			return `"proxy_note":"` + fmt.Sprintf(`\u%04x`, key[0]) + key[1:] + `",`
		}}}))
	if err != nil {
		t.Fatal(err)
	}
	r := startWith(e, api, testConfig(e, 100*time.Millisecond))
	testkit.WaitFor(t, 60*time.Second, "the pipeline to drain", func() bool { return drained(r.p, sim) })
	r.stop(t)

	for _, topic := range []string{testkit.Topics.Incidents, testkit.Topics.Alerts} {
		for _, rec := range e.ReadTopic(topic) {
			var v any
			if err := json.Unmarshal(rec.Value, &v); err != nil {
				continue
			}
			var decoded strings.Builder
			enc := json.NewEncoder(&decoded)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(v)
			if strings.Contains(decoded.String(), key) {
				t.Fatalf("%s: a record decodes to the key (literal in the value: %v): %s", topic, bytes.Contains(rec.Value, []byte(key)), rec.Value)
			}
		}
	}
}

// malformedEchoTransport answers every extra-data call with a reply whose
// header block quotes the request's Authorization header on a line without
// a colon, parsed by net/http's own reader (the error net/http's transport
// gives for it); other calls go through.
type malformedEchoTransport struct{ next http.RoundTripper }

func (t malformedEchoTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.Contains(r.URL.Path, "extra_data") {
		return t.next.RoundTrip(r)
	}
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nyou sent authorization " + r.Header.Get("Authorization") + "\r\n\r\n{}"
	return http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), r)
}

// TestMalformedReplyQuotingTheKeyNeverReachesTheDLQ: the transport error
// of a reply that is not well-formed HTTP and quotes the key is scrubbed
// before it becomes the DLQ record's error text.
func TestMalformedReplyQuotingTheKeyNeverReachesTheDLQ(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 1, Incidents: 1}) // for its broker
	const key = "c2VjcmV0/a2V5+d2l0aC9zbGFzaGVz/cGx1cw=="
	sim := xdrtest.New(xdrtest.Config{Seed: 29, Incidents: 2, MaxAlerts: 2, RateWindow: 100 * time.Millisecond, Now: time.Now, KeyID: "7", Key: key})
	base, stop := sim.Start()
	t.Cleanup(stop)
	api, err := xdr.New(xdr.Config{BaseURL: base, KeyID: "7", Key: xdr.NewSecret(key)},
		xdr.WithHTTPClient(&http.Client{Transport: malformedEchoTransport{http.DefaultTransport}}))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(e, 100*time.Millisecond)
	cfg.EnrichBackoff = func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Millisecond) }
	r := startWith(e, api, cfg)
	testkit.WaitFor(t, 60*time.Second, "a DLQ record", func() bool { return len(e.ReadTopic(testkit.Topics.DLQ)) > 0 })
	r.stop(t)
	for _, rec := range e.ReadTopic(testkit.Topics.DLQ) {
		if strings.Contains(strings.ReplaceAll(string(rec.Value), `\/`, "/"), key[:16]) {
			t.Fatalf("the DLQ record holds the key: %s", rec.Value)
		}
	}
}
