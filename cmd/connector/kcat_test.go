package main

import (
	"context"
	"encoding/json"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestKcatReadsWhatTheConnectorWrote reads the connector's topics with kcat
// (librdkafka: a consumer sharing no code with franz-go) and compares every
// record with what franz-go reads: same keys, headers and JSON values.
func TestKcatReadsWhatTheConnectorWrote(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not on PATH (apt-get install -y kcat); the interoperability check needs it")
	}
	e := testkit.New(t, xdrtest.Config{Seed: 11, Incidents: 25, MaxAlerts: 8, RateWindow: 100 * time.Millisecond})
	env := map[string]string{
		"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": e.Key,
		"KAFKA_BROKERS": strings.Join(e.Brokers, ","), "KAFKA_PARTITIONS": "3", "KAFKA_REPLICATION_FACTOR": "1",
		"CONNECTOR_NAME": "kcat", "XDR_TENANT": "sim", "POLL_INTERVAL": "100ms", "ENRICH_RATE_WINDOW": "100ms", "ENRICH_BULK_RATE_WINDOW": "100ms",
		"COMMIT_INTERVAL": "100ms", "LOG_LEVEL": "warn",
	}
	p := startBinary(t, env)
	newest := testkit.MaxVersion(e.Sim)
	testkit.WaitFor(t, 60*time.Second, "every incident enriched", func() bool {
		st, found := e.ReadState("kcat", "sim")
		return found && st.Watermark >= newest-time.Second.Milliseconds() && len(st.Pending) == 0
	})
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit %d; output:\n%s", code, p.out.String())
	}

	for _, topic := range []string{"xdr.incidents", "xdr.alerts", "xdr.artifacts"} {
		want := map[string]int{} // "key\theaders\tvalue" -> count, as franz-go reads them
		types := map[string]bool{}
		for _, r := range e.ReadTopic(topic) {
			var hs []string
			for k, v := range r.Headers {
				hs = append(hs, k+"="+v)
			}
			want[r.Key+"\t"+sortedHeaders(hs)+"\t"+string(r.Value)]++
			types[r.Type] = true
		}
		if len(want) == 0 {
			t.Fatalf("%s is empty", topic)
		}
		if topic == "xdr.incidents" && (!types[record.TypeIncidentChange] || !types[record.TypeIncidentEnriched]) {
			t.Errorf("xdr.incidents holds record types %v; want both change and enriched", slices.Sorted(maps.Keys(types)))
		}

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, kcat, "-b", e.Brokers[0], "-C", "-t", topic, "-f", `%k\t%h\t%s\n`, "-e", "-o", "beginning", "-q").Output()
		cancel()
		if err != nil {
			t.Fatalf("kcat %s: %v", topic, err)
		}
		got := map[string]int{}
		for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
			parts := strings.SplitN(line, "\t", 3)
			if len(parts) != 3 {
				t.Fatalf("%s: kcat line is not key, headers, value: %q", topic, line)
			}
			got[parts[0]+"\t"+sortedHeaders(strings.Split(parts[1], ","))+"\t"+parts[2]]++
			var env record.Envelope
			if err := json.Unmarshal([]byte(parts[2]), &env); err != nil {
				t.Fatalf("%s: kcat value is not JSON: %v", topic, err)
			}
			if topic != "xdr.alerts" && topic != "xdr.artifacts" && parts[0] != env.IncidentID {
				t.Errorf("%s: key %q, but the value is for incident %q", topic, parts[0], env.IncidentID)
			}
			if !strings.Contains(parts[1], record.HeaderRecordType+"="+env.RecordType) {
				t.Errorf("%s: headers %q do not name the record type %q", topic, parts[1], env.RecordType)
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: kcat read %d distinct records, franz-go %d; they differ", topic, len(got), len(want))
			for k, n := range want {
				if got[k] != n {
					t.Logf("franz-go ×%d, kcat ×%d: %.200s", n, got[k], k)
					break
				}
			}
		}
	}
}

// sortedHeaders joins "key=value" headers in a fixed order.
func sortedHeaders(hs []string) string {
	slices.Sort(hs)
	return strings.Join(hs, ",")
}
