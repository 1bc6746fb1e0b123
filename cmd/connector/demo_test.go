package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
)

var brokerLine = regexp.MustCompile(`embedded Kafka broker listening on (127\.0\.0\.1:\d+)`)

// hasRecords reports whether topic exists on brokers with at least one record.
func hasRecords(brokers []string, topic string) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		return false
	}
	n := int64(0)
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n > 0
}

// TestZeroConfigDemo runs the binary with nothing configured but DATA_DIR:
// a simulated tenant feeds an embedded broker through the real pipeline.
func TestZeroConfigDemo(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"DATA_DIR": dataDir}
	p := startBinary(t, env)
	defer func() {
		if t.Failed() {
			t.Logf("connector output:\n%s", p.out.String())
		}
	}()
	var addr string
	testkit.WaitFor(t, 30*time.Second, "the embedded broker's address", func() bool {
		m := brokerLine.FindStringSubmatch(p.out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	out := p.out.String()
	for _, w := range []string{"SIMULATED tenant", "incidents that keep changing", "10 calls per 2s (the real API allows 10 per 60s)",
		"bulk enrichment (ENRICH_BULK=auto): up to 100 incidents per get_multiple_incidents_extra_data call, 10 calls per 2s"} {
		if !strings.Contains(out, w) {
			t.Errorf("the banner does not say %q", w)
		}
	}

	e := &testkit.Env{T: t, Brokers: []string{addr}}
	for _, topic := range []string{"xdr.incidents", "xdr.alerts", "xdr.artifacts"} {
		testkit.WaitFor(t, 60*time.Second, "records in "+topic, func() bool { return hasRecords(e.Brokers, topic) })
		recs := e.ReadTopic(topic) // validates every record against its schema
		if len(recs) == 0 || recs[0].Tenant != "simulated" || recs[0].Connector != "xdr-connector" {
			t.Errorf("%s: %d records, first %+v", topic, len(recs), recs[0].Envelope)
		}
	}
	testkit.WaitFor(t, 30*time.Second, "a committed watermark", func() bool {
		st, found := e.ReadState("xdr-connector", "simulated")
		return found && st.Watermark > 0
	})

	// While it runs, tail finds the embedded broker through DATA_DIR.
	tout, code := runBinary(t, env, "tail", "--max", "2", "xdr.alerts")
	if code != 0 || strings.Count(tout, "headers: xdr.record_type=alert") != 2 || !strings.Contains(tout, "connector running on") {
		t.Errorf("tail while running: exit %d; output:\n%s", code, tout)
	}
	// ... and filters by incident and by key.
	incident := e.ReadTopic("xdr.alerts")[0].IncidentID
	tout, code = runBinary(t, env, "tail", "--incident", incident, "--max", "1", "xdr.alerts")
	if code != 0 || strings.Count(tout, "key: ") != 1 || !strings.Contains(tout, `"incident_id": "`+incident+`"`) {
		t.Errorf("tail --incident %s while running: exit %d; output:\n%s", incident, code, tout)
	}
	tout, code = runBinary(t, env, "tail", "--key", incident, "--max", "1", "xdr.incidents")
	if code != 0 || strings.Count(tout, "key: "+incident+"\n") != 1 {
		t.Errorf("tail --key %s while running: exit %d; output:\n%s", incident, code, tout)
	}
	// A second connector on the same DATA_DIR is refused.
	sout, code := runBinary(t, env)
	if code != 1 || !strings.Contains(sout, "DATA_DIR is in use") || !strings.Contains(sout, addr) {
		t.Errorf("second connector on one DATA_DIR: exit %d; output:\n%s", code, sout)
	}

	if code := p.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Fatalf("SIGINT: exit %d, want 0", code)
	}
	out = p.out.String()
	for _, w := range []string{"Summary: ", "incident versions", "xdr.alerts ", "records", "connector tail xdr.incidents", "kcat -b 127.0.0.1:PORT -C -t xdr.incidents"} {
		if !strings.Contains(out, w) {
			t.Errorf("the summary lacks %q", w)
		}
	}

	// Once it stopped, tail opens the data it left in DATA_DIR.
	tout, code = runBinary(t, env, "tail", "xdr.connector.offsets")
	if code != 0 || !strings.Contains(tout, "no connector runs") || !strings.Contains(tout, `"kind":"state"`) || !strings.Contains(tout, `"clean_shutdown": true`) {
		t.Errorf("tail after the stop: exit %d; output:\n%s", code, tout)
	}
	// ... and filters it: every record of the incident, and nothing else.
	tout, code = runBinary(t, env, "tail", "--incident", incident, "xdr.alerts")
	if n := strings.Count(tout, "key: "); code != 0 || n == 0 || strings.Count(tout, `"incident_id": "`+incident+`"`) != n {
		t.Errorf("tail --incident %s after the stop: exit %d, %d records; output:\n%s", incident, code, n, tout)
	}
}

// TestDemoRestartResumesTheSameTenant stops the demo while enrichments are
// owed, one of them for an incident the simulated tenant created during the
// run, and starts it again on the same DATA_DIR: the tenant kept there is
// resumed, so the owed enrichment of that incident succeeds, nothing is
// dead-lettered, and the enrichments drain at the full budget. The demo runs
// with single extra-data calls here, whose budget the drain is measured
// against: in bulk, the first call after the restart empties the queue.
func TestDemoRestartResumesTheSameTenant(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"DATA_DIR": dataDir, "ENRICH_BULK": "off"}
	start := time.Now().UnixMilli()
	first := startBinary(t, env)
	var out string
	defer func() {
		if t.Failed() {
			t.Logf("connector output:\n%s", out)
		}
	}()
	brokers := func(p *proc) []string {
		var addr string
		testkit.WaitFor(t, 30*time.Second, "the embedded broker's address", func() bool {
			m := brokerLine.FindAllStringSubmatch(p.out.String(), -1)
			if len(m) > 0 {
				addr = m[len(m)-1][1]
			}
			return addr != ""
		})
		return []string{addr}
	}
	e := &testkit.Env{T: t, Brokers: brokers(first)}

	// Wait for a committed enrichment owed for an incident created by the
	// tenant's changes during this run (created after start).
	created := ""
	creation := map[string]int64{} // incident id -> creation_time, as the first run saw it
	deadline := time.Now().Add(60 * time.Second)
	for created == "" {
		if time.Now().After(deadline) {
			out = first.out.String()
			t.Fatal("no enrichment owed for an incident created during the run")
		}
		time.Sleep(time.Second)
		st, found := e.ReadState("xdr-connector", "simulated")
		if !found || len(st.Pending) == 0 {
			continue
		}
		for _, r := range e.ReadTopic("xdr.incidents") {
			var inc struct {
				CreationTime int64 `json:"creation_time"`
			}
			if r.Type != record.TypeIncidentChange || json.Unmarshal(r.Data, &inc) != nil {
				continue
			}
			creation[r.IncidentID] = inc.CreationTime
			if _, owed := st.Pending[r.IncidentID]; owed && inc.CreationTime > start && created == "" {
				created = r.IncidentID
			}
		}
	}
	if code := first.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		out = first.out.String()
		t.Fatalf("first run: SIGINT exit %d", code)
	}
	for _, f := range []string{embedded.DemoStateFile, embedded.DemoStepsFile} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Fatalf("the simulated tenant is not kept in DATA_DIR: %v", err)
		}
	}

	restart := time.Now().UnixMilli()
	second := startBinary(t, env)
	e.Brokers = brokers(second)
	const span, window, limit = 8 * time.Second, 2 * time.Second, 10
	var fetched []int64
	var differs []string
	testkit.WaitFor(t, 90*time.Second, "the created incident's enrichment and "+span.String()+" of enrichments after the restart", func() bool {
		fetched, differs = fetched[:0], differs[:0]
		enrichedCreated := false
		for _, r := range e.ReadTopic("xdr.incidents") {
			if r.Type == record.TypeIncidentEnriched && r.Enrichment != nil && r.Enrichment.FetchedAt >= restart {
				fetched = append(fetched, r.Enrichment.FetchedAt)
				enrichedCreated = enrichedCreated || r.IncidentID == created
				// The same tenant: an incident the first run saw has not
				// been created anew.
				var inc struct {
					CreationTime int64 `json:"creation_time"`
				}
				if c, seen := creation[r.IncidentID]; seen && (json.Unmarshal(r.Data, &inc) != nil || inc.CreationTime != c) {
					differs = append(differs, r.IncidentID)
				}
			}
		}
		slices.Sort(fetched)
		return enrichedCreated && len(fetched) > 0 && fetched[len(fetched)-1]-fetched[0] > span.Milliseconds()
	})
	if code := second.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Errorf("second run: SIGINT exit %d", code)
	}
	out = second.out.String()
	if !strings.Contains(out, "resumed from "+filepath.Join(dataDir, embedded.DemoStateFile)) {
		t.Errorf("the second run does not say it resumed the tenant kept in DATA_DIR")
	}
	if strings.Contains(out, "no simulated tenant") || strings.Contains(out, "does not exist") {
		t.Errorf("the second run did not find the tenant, or met an incident the tenant does not have")
	}
	if len(differs) > 0 {
		t.Errorf("after the restart, incidents %v have another creation_time than in the first run: a new tenant", differs)
	}
	if hasRecords(e.Brokers, "xdr.dlq") {
		t.Errorf("records in xdr.dlq after the restart")
	}
	inSpan := 0
	for _, f := range fetched {
		if f-fetched[0] <= span.Milliseconds() {
			inSpan++
		}
	}
	allowed := int(span/window) * limit
	t.Logf("incident %s created in the first run was enriched in the second; %d enrichments in the first %s after the restart (budget %d)", created, inSpan, span, allowed)
	if inSpan < allowed*9/10 {
		t.Errorf("%d enrichments in %s after the restart, want at least 90%% of the budget's %d", inSpan, span, allowed)
	}
}
