package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/internal/ops"
	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// opsEnv is the environment of status and redrive against e, as
// startConnector configures the connector.
func opsEnv(e *testkit.Env) map[string]string {
	return map[string]string{
		"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": e.Key,
		"KAFKA_BROKERS": strings.Join(e.Brokers, ","), "CONNECTOR_NAME": "test", "XDR_TENANT": "sim",
		"COMMIT_INTERVAL": "100ms", "ENRICH_RATE_WINDOW": "100ms", "ENRICH_BULK_RATE_WINDOW": "100ms",
	}
}

// status runs `connector status --json` and decodes its one tenant.
func status(t *testing.T, e *testkit.Env) ops.TenantStatus {
	t.Helper()
	out, code := runBinary(t, opsEnv(e), "status", "--json")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	var rep ops.StatusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Tenants) != 1 || rep.Tenants[0].Tenant != "sim" {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return rep.Tenants[0]
}

// enrichedRecords counts the incident.enriched records of each incident.
func enrichedRecords(e *testkit.Env) map[string]int {
	n := map[string]int{}
	for _, r := range e.ReadTopic(testkit.Topics.Incidents) {
		if r.Type == record.TypeIncidentEnriched {
			n[r.IncidentID]++
		}
	}
	return n
}

// TestStatusAndRedriveWhileRunningAndStopped dead-letters three incidents
// (two 403s and a 422), then: status reports them while the connector runs;
// redrive --class 403 written while it runs is queued by its next start (not
// before), and redrive --class 4xx then asks for the 422 alone; each
// redriven incident is enriched once, redrive --all then finds nothing left;
// a later failure is redriven again by --incident with the connector stopped.
func TestStatusAndRedriveWhileRunningAndStopped(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 31, Incidents: 12, MaxAlerts: 5, RateWindow: 100 * time.Millisecond})
	ids := e.Sim.IncidentIDs()
	forbidden, invalid := []string{ids[0], ids[1]}, ids[2]
	for _, id := range forbidden {
		e.Sim.FailIncident(id, http.StatusForbidden)
	}
	e.Sim.FailIncident(invalid, http.StatusUnprocessableEntity)

	r := startConnector(t, e, nil, runDeps{})
	testkit.WaitFor(t, 60*time.Second, "9 enrichments and 3 dead letters", func() bool {
		m := r.scrape(t)
		enriched, _ := m.value("xdr_connector_enrich_enriched_total")
		dead, _ := m.value("xdr_connector_enrich_dlq_total")
		owed, _ := m.value("xdr_connector_offsets_pending")
		return enriched == 9 && dead == 3 && owed == 0
	})
	testkit.WaitFor(t, 10*time.Second, "status to see the DLQ and nothing owed", func() bool {
		s := status(t, e)
		return s.DLQ.Records == 3 && s.Owed.Count == 0
	})
	s := status(t, e)
	if s.State != "running" || s.Watermark == 0 || s.CommittedAt == 0 || s.DLQ.ByClass["403"] != 2 || s.DLQ.ByClass["422"] != 1 ||
		s.DLQ.Outstanding != 3 || s.DLQ.Incidents != 3 || s.DLQTopic != testkit.Topics.DLQ {
		t.Errorf("status while running: %+v", s)
	}
	out, code := runBinary(t, opsEnv(e), "status")
	for _, want := range []string{"tenant sim: running", "watermark", "last commit", "no enrichment owed", "3 records in xdr.dlq for 3 incidents (by class 403: 2, 422: 1)", "3 incidents not redriven yet"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status (exit %d) lacks %q:\n%s", code, want, out)
		}
	}

	// The cause is fixed; redrive the 403s while the connector runs.
	for _, id := range append(forbidden, invalid) {
		e.Sim.FailIncident(id, 0)
	}
	out, code = runBinary(t, opsEnv(e), "redrive", "--class", "403")
	if code != 0 || !strings.Contains(out, "tenant sim: 2 incidents to redrive") || !strings.Contains(out, "wrote 2 redrive requests") ||
		!strings.Contains(out, "a connector is running") {
		t.Fatalf("redrive --class 403: exit %d\n%s", code, out)
	}
	out, code = runBinary(t, opsEnv(e), "redrive", "--class", "4xx")
	if code != 0 || !strings.Contains(out, "1 incidents to redrive, 2 skipped") || !strings.Contains(out, "requested already") {
		t.Fatalf("redrive --class 4xx with the 403s requested: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "redrive "+invalid) {
		t.Fatalf("redrive --class 4xx does not ask for the 422 of %s:\n%s", invalid, out)
	}
	if s := status(t, e); s.DLQ.Waiting != 3 || s.DLQ.Outstanding != 0 {
		t.Errorf("status with three requests waiting: %+v", s.DLQ)
	}
	r.stop(t)
	if s := status(t, e); s.State != "stopped" || !s.CleanShutdown || s.DLQ.Waiting != 3 {
		t.Errorf("status after a clean stop: %+v", s)
	}
	if n := enrichedRecords(e); n[ids[0]]+n[ids[1]]+n[invalid] != 0 {
		t.Fatalf("the running connector enriched redriven incidents before its next start: %v", n)
	}

	r = startConnector(t, e, nil, runDeps{})
	testkit.WaitFor(t, 60*time.Second, "the redriven incidents enriched", func() bool {
		n := enrichedRecords(e)
		return n[ids[0]] == 1 && n[ids[1]] == 1 && n[invalid] == 1
	})
	testkit.WaitFor(t, 10*time.Second, "status to see the requests applied", func() bool {
		s := status(t, e)
		return s.DLQ.Waiting == 0 && s.DLQ.Redriven == 3 && s.Owed.Count == 0
	})
	r.stop(t)

	// Stopped: nothing is left, whatever is asked for.
	out, code = runBinary(t, opsEnv(e), "redrive", "--all")
	if code != 0 || !strings.Contains(out, "nothing to redrive") || !strings.Contains(out, "redriven already") {
		t.Fatalf("redrive --all after the redrive: exit %d\n%s", code, out)
	}

	// A new failure after the redrive is redriven again, with the
	// connector stopped, by incident.
	e.Sim.FailIncident(ids[3], http.StatusForbidden)
	e.Sim.ChangeStatus(ids[3])
	r = startConnector(t, e, nil, runDeps{})
	testkit.WaitFor(t, 60*time.Second, "a fourth dead letter", func() bool {
		n, _ := r.scrape(t).value("xdr_connector_enrich_dlq_total")
		return n == 1
	})
	r.stop(t)
	e.Sim.FailIncident(ids[3], 0)
	before := enrichedRecords(e)[ids[3]]
	out, code = runBinary(t, opsEnv(e), "redrive", "--incident", ids[3], "--dry-run")
	if code != 0 || !strings.Contains(out, "redrive "+ids[3]) || !strings.Contains(out, "not written") {
		t.Fatalf("redrive --dry-run: exit %d\n%s", code, out)
	}
	if s := status(t, e); s.DLQ.Waiting != 0 || s.DLQ.Outstanding != 1 {
		t.Fatalf("--dry-run wrote something: %+v", s.DLQ)
	}
	out, code = runBinary(t, opsEnv(e), "redrive", "--incident", ids[3])
	if code != 0 || !strings.Contains(out, "wrote 1 redrive requests") || strings.Contains(out, "a connector is running") {
		t.Fatalf("redrive --incident %s with the connector stopped: exit %d\n%s", ids[3], code, out)
	}
	r = startConnector(t, e, nil, runDeps{})
	testkit.WaitFor(t, 60*time.Second, "the new failure enriched", func() bool { return enrichedRecords(e)[ids[3]] == before+1 })
	r.stop(t)
	n := enrichedRecords(e)
	for _, id := range append(forbidden, invalid) {
		if n[id] != 1 {
			t.Errorf("incident %s was enriched %d times, want once", id, n[id])
		}
	}
}

func TestRedriveRefusesAnUnclearSelection(t *testing.T) {
	for _, args := range [][]string{
		{"redrive"},
		{"redrive", "--all", "--class", "403"},
		{"redrive", "--class", "forbidden"},
		{"redrive", "42"},
		{"status", "extra"},
	} {
		out, code := runBinary(t, map[string]string{"KAFKA_BROKERS": "127.0.0.1:1"}, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, out)
		}
	}
	out, code := runBinary(t, nil, "redrive", "--help")
	if code != 0 || !strings.Contains(out, "--class") || !strings.Contains(out, "until it starts") {
		t.Errorf("redrive --help: exit %d\n%s", code, out)
	}
}

// TestStatusAndRedriveOnTheEmbeddedBroker runs the built binary on its
// embedded broker (KAFKA_BROKERS unset): status reads the running broker
// through DATA_DIR/broker.addr, and after the stop the data it left; redrive
// writes into that data, and the next start enriches the incident.
func TestStatusAndRedriveOnTheEmbeddedBroker(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 32, Incidents: 6, MaxAlerts: 3, RateWindow: 100 * time.Millisecond})
	poisoned := e.Sim.IncidentIDs()[0]
	e.Sim.FailIncident(poisoned, http.StatusForbidden)
	env := map[string]string{
		"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": e.Key, "DATA_DIR": t.TempDir(),
		"CONNECTOR_NAME": "test", "XDR_TENANT": "sim", "POLL_INTERVAL": "100ms", "LOOKBACK": "1s", "START_FROM": "48h",
		"ENRICH_RATE_WINDOW": "100ms", "ENRICH_BULK_RATE_WINDOW": "100ms", "COMMIT_INTERVAL": "100ms", "LOG_LEVEL": "warn",
		"ENRICH_BULK": "off", // the tenant's single-call log shows the redriven incident's own call
	}
	statusOf := func() (ops.TenantStatus, string) {
		t.Helper()
		out, code := runBinary(t, env, "status", "--json")
		if code != 0 {
			t.Fatalf("status: exit %d\n%s", code, out)
		}
		var rep ops.StatusReport
		js := out[strings.Index(out, "{"):] // stderr says which broker it reads
		if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Tenants) != 1 {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		return rep.Tenants[0], out
	}

	p := startBinary(t, env)
	testkit.WaitFor(t, 60*time.Second, "status to show the dead letter", func() bool {
		if !strings.Contains(p.out.String(), "embedded Kafka broker listening") {
			return false
		}
		s, _ := statusOf()
		return s.DLQ.Records == 1 && s.Owed.Count == 0
	})
	s, out := statusOf()
	if s.State != "running" || !strings.Contains(out, "reading the embedded broker of the connector running") {
		t.Errorf("status of a running embedded connector: %+v\n%s", s, out)
	}
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, p.out.String())
	}
	s, out = statusOf()
	if s.State != "stopped" || !s.CleanShutdown || s.DLQ.Outstanding != 1 || !strings.Contains(out, "no connector runs") {
		t.Errorf("status after the stop: %+v\n%s", s, out)
	}

	// status and tail read without the write lock and write nothing: they
	// answer while another reader holds DATA_DIR shared, and leave it as
	// it was (so a read-only DATA_DIR does too).
	held := holdDataDir(t, env["DATA_DIR"], syscall.LOCK_SH)
	before := dirState(t, env["DATA_DIR"])
	if s, out = statusOf(); s.State != "stopped" || s.DLQ.Outstanding != 1 {
		t.Errorf("status beside another reader: %+v\n%s", s, out)
	}
	if out, code := runBinary(t, env, "tail", "xdr.dlq"); code != 0 || !strings.Contains(out, poisoned) {
		t.Errorf("tail beside another reader: exit %d\n%s", code, out)
	}
	if after := dirState(t, env["DATA_DIR"]); !maps.Equal(before, after) {
		t.Errorf("status and tail changed DATA_DIR:\nbefore %v\nafter  %v", before, after)
	}
	held()

	e.Sim.FailIncident(poisoned, 0)
	if out, code := runBinary(t, env, "redrive", "--all"); code != 0 || !strings.Contains(out, "wrote 1 redrive requests") {
		t.Fatalf("redrive --all on the stopped embedded broker: exit %d\n%s", code, out)
	}
	if s, _ := statusOf(); s.DLQ.Waiting != 1 {
		t.Fatalf("the redrive request did not persist in DATA_DIR: %+v", s.DLQ)
	}
	p = startBinary(t, env)
	testkit.WaitFor(t, 60*time.Second, "the redrive applied", func() bool {
		if !strings.Contains(p.out.String(), "embedded Kafka broker listening") {
			return false
		}
		s, _ := statusOf()
		return s.DLQ.Redriven == 1 && s.DLQ.Waiting == 0 && s.Owed.Count == 0
	})
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, p.out.String())
	}
	if calls := e.Sim.ExtraDataCalls(); len(calls) == 0 || calls[len(calls)-1].IncidentID != poisoned || calls[len(calls)-1].Status != http.StatusOK {
		t.Errorf("the last extra-data call was not the redriven incident's success: %+v", calls[len(calls)-1:])
	}
}

// dirState maps each file under dir to its size and modification time.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m[path] = fmt.Sprintf("%d %s", fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// holdDataDir takes the DATA_DIR lock as another process would (how:
// syscall.LOCK_SH or LOCK_EX), until the returned function or the test ends.
func holdDataDir(t *testing.T, dir string, how int) (release func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, embedded.LockFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	release = sync.OnceFunc(func() { _ = f.Close() })
	t.Cleanup(release)
	return release
}
