package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// fleetEnv is a fleet of simulated tenants, a kfake broker and a tenants
// file naming them.
type fleetEnv struct {
	t       *testing.T
	fleet   *xdrtest.Fleet
	root    string
	brokers []string
	file    string
	cluster *kfake.Cluster
	calls   *xdrtest.CallLog // every API call the fleet received
	tuning  func(*Tuning)    // when set, changes the Tuning of the processes start starts

	pollsMu sync.Mutex
	polls   map[string]*testkit.PollLog // each tenant's polls (Tuning.OnPoll)
}

// pollLog returns tenant id's record of polls.
func (e *fleetEnv) pollLog(id string) *testkit.PollLog {
	e.pollsMu.Lock()
	defer e.pollsMu.Unlock()
	if e.polls == nil {
		e.polls = map[string]*testkit.PollLog{}
	}
	if e.polls[id] == nil {
		e.polls[id] = &testkit.PollLog{}
	}
	return e.polls[id]
}

func newFleetEnv(t *testing.T, n, incidents int, kopts ...kfake.Opt) *fleetEnv {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%02d", i+1)
	}
	f := xdrtest.NewFleet(ids, func(i int, _ string) xdrtest.Config {
		return xdrtest.Config{Seed: int64(100 + i), Incidents: incidents, MaxAlerts: 4, RateWindow: 100 * time.Millisecond,
			IndexDelay: 200 * time.Millisecond}
	})
	calls := &xdrtest.CallLog{}
	srv := httptest.NewServer(calls.Wrap(f))
	t.Cleanup(srv.Close)
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(1)}, kopts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := &fleetEnv{t: t, fleet: f, root: srv.URL, brokers: c.ListenAddrs(), file: filepath.Join(t.TempDir(), "tenants.yaml"),
		cluster: c, calls: calls}
	e.writeFile(ids...)
	return e
}

// writeFile writes a tenants file with the given tenants of the fleet, by
// writing a new file and renaming it over the old one.
func (e *fleetEnv) writeFile(ids ...string) {
	e.t.Helper()
	tmp := e.file + ".new"
	if err := os.WriteFile(tmp, []byte(e.content(ids...)), 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, e.file); err != nil {
		e.t.Fatal(err)
	}
}

// content is a tenants file naming the given tenants of the fleet.
func (e *fleetEnv) content(ids ...string) string { return e.fleet.TenantsFile(e.root, ids...) }

type fleetRun struct {
	logs   *testkit.LogBuffer // the process's log, JSON lines
	proc   *Process
	base   string
	cancel context.CancelFunc
	done   chan error
	reload chan struct{}
}

func (e *fleetEnv) start(extra map[string]string) *fleetRun {
	e.t.Helper()
	env := map[string]string{
		"TENANTS_FILE": e.file, "KAFKA_BROKERS": strings.Join(e.brokers, ","), "KAFKA_PARTITIONS": "1", "KAFKA_REPLICATION_FACTOR": "1",
		"CONNECTOR_NAME": "fleet-test", "HTTP_ADDR": "127.0.0.1:0", "POLL_INTERVAL": "100ms", "LOOKBACK": "1s",
		"START_FROM": "48h", "XDR_REQUEST_TIMEOUT": "2s", "ENRICH_RATE_WINDOW": "100ms", "ENRICH_BULK_RATE_WINDOW": "100ms", "ENRICH_WORKERS": "2",
		"COMMIT_INTERVAL": "100ms", "XDR_REQUESTS_PER_SECOND": "1000", "LOG_LEVEL": "warn", "ENRICH_MAX_ATTEMPTS": "10",
		"HTTP_TENANTS_ENABLED": "true",
		"KAFKA_GROUP_ENABLED":  "false", // the group's tests turn it on (groupSettings)
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(env))
	if err != nil {
		e.t.Fatal(err)
	}
	r := &fleetRun{done: make(chan error, 1), reload: make(chan struct{}, 1), logs: &testkit.LogBuffer{}}
	var w io.Writer = r.logs
	if testing.Verbose() {
		w = io.MultiWriter(r.logs, os.Stderr)
	}
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	addr := make(chan string, 1)
	deps := Deps{Version: "test", Listening: func(a string) { addr <- a }, Reload: r.reload}
	tuning := Tuning{WatchEvery: 50 * time.Millisecond, TenantsSettle: 100 * time.Millisecond, TenantRetryMin: 200 * time.Millisecond, TenantRetryMax: time.Second,
		OnPoll: func(id string, res source.PollResult, err error) { e.pollLog(id).Observer(0)(res, err) }}
	if e.tuning != nil {
		e.tuning(&tuning)
	}
	proc, err := NewTuned(context.Background(), cfg, log, deps, tuning)
	if err != nil {
		e.t.Fatal(err)
	}
	r.proc = proc
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- proc.Run(ctx) }()
	select {
	case a := <-addr:
		r.base = "http://" + a
	case err := <-r.done:
		e.t.Fatalf("the process stopped at once: %v", err)
	case <-time.After(20 * time.Second):
		e.t.Fatal("the process did not serve HTTP")
	}
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

func (r *fleetRun) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("the process did not stop")
	}
	r.proc.Close()
}

// tenants is GET /tenants, by id.
func (r *fleetRun) tenants(t *testing.T) map[string]TenantStatus {
	t.Helper()
	resp, err := http.Get(r.base + "/tenants")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var list []TenantStatus
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("GET /tenants: %v\n%s", err, b)
	}
	out := map[string]TenantStatus{}
	for _, s := range list {
		out[s.ID] = s
	}
	return out
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consumed is what the data topics hold, by tenant.
type consumed struct {
	changes  map[string]map[string]int       // tenant -> "id@mtime" -> records
	enriched map[string]map[string]int64     // tenant -> incident -> newest enriched version
	keys     map[string]string               // a record key of each tenant, to check its prefix
	dlq      map[string]map[string]string    // tenant -> incident -> DLQ error message
	at       map[string]map[string]time.Time // tenant -> "id@mtime" -> the first change record's timestamp
}

func (e *fleetEnv) consume(topic string) consumed {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	c := consumed{changes: map[string]map[string]int{}, enriched: map[string]map[string]int64{}, keys: map[string]string{}, dlq: map[string]map[string]string{}, at: map[string]map[string]time.Time{}}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			var tenant, typ string
			for _, h := range r.Headers {
				switch h.Key {
				case record.HeaderTenant:
					tenant = string(h.Value)
				case record.HeaderRecordType:
					typ = string(h.Value)
				}
			}
			var env record.Envelope
			if err := json.Unmarshal(r.Value, &env); err != nil {
				e.t.Fatalf("record value: %v", err)
			}
			if env.Tenant != tenant {
				e.t.Fatalf("record of tenant %q (header) says tenant %q", tenant, env.Tenant)
			}
			c.keys[tenant] = string(r.Key)
			switch typ {
			case record.TypeIncidentChange:
				if c.changes[tenant] == nil {
					c.changes[tenant] = map[string]int{}
				}
				k := fmt.Sprintf("%s@%d", env.IncidentID, env.ModificationTime)
				c.changes[tenant][k]++
				if c.at[tenant] == nil {
					c.at[tenant] = map[string]time.Time{}
				}
				if _, ok := c.at[tenant][k]; !ok {
					c.at[tenant][k] = r.Timestamp
				}
			case record.TypeDLQ:
				if c.dlq[tenant] == nil {
					c.dlq[tenant] = map[string]string{}
				}
				c.dlq[tenant][env.IncidentID] = env.Error.Message
			case record.TypeIncidentEnriched:
				if c.enriched[tenant] == nil {
					c.enriched[tenant] = map[string]int64{}
				}
				c.enriched[tenant][env.IncidentID] = max(c.enriched[tenant][env.IncidentID], env.ModificationTime)
			}
		})
	}
	return c
}

// TestFleetIsolatesEachTenant runs 20 simulated tenants in one process
// while they change (bulk same-millisecond updates, indexing delay), revokes
// one tenant's key mid-run and makes another answer 500s for a while: every
// version of every healthy tenant reaches Kafka with every final enrichment
// and no 429, the broken tenants are reported in /tenants, and the healthy
// ones stay fresh meanwhile.
func TestFleetIsolatesEachTenant(t *testing.T) {
	n := 20
	if testing.Short() {
		n = 6
	}
	e := newFleetEnv(t, n, 120)
	ids := e.fleet.IDs()
	revoked, flaky := ids[2], ids[4]
	r := e.start(nil)
	// Change the tenants once every first poll has read them, so that each
	// version could be seen (the API shows only an incident's current state).
	waitFor(t, 30*time.Second, "every tenant's first poll", func() bool {
		st := r.tenants(t)
		for _, id := range ids {
			if st[id].Versions < int64(len(e.fleet.Tenant(id).IncidentIDs())) {
				return false
			}
		}
		return true
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mutated := make(chan error, 1)
	go func() {
		// Every version lives 3 s, so even a slow poll of a loaded machine
		// sees it: a version superseded before any poll is not the
		// connector's to lose.
		mutated <- e.fleet.RunMutations(ctx, xdrtest.MutationConfig{Interval: 30 * time.Millisecond, BulkEvery: 40, BulkSize: 110,
			MinVersionAge: 3 * time.Second, Steps: 250})
	}()
	time.Sleep(700 * time.Millisecond)
	faultsFrom := time.Now()
	e.fleet.Tenant(revoked).SetRevoked(true)
	for _, ep := range []string{xdrtest.EndpointIncidents, xdrtest.EndpointExtraData} {
		e.fleet.Tenant(flaky).Inject(ep, xdrtest.FaultServerError, 8)
	}
	var st map[string]TenantStatus
	waitFor(t, 40*time.Second, "the revoked tenant to be reported failed", func() bool {
		st = r.tenants(t)
		return st[revoked].State == StateFailed
	})
	if s := st[revoked]; !strings.Contains(s.Reason, "rejected the key (401)") || s.LastError == "" || s.NextRetry.IsZero() {
		t.Errorf("revoked tenant: %+v", s)
	}
	for _, id := range ids {
		if s := st[id]; id != revoked && id != flaky && s.State != StateRunning {
			t.Errorf("healthy tenant %s while another fails: %+v", id, s)
		}
	}
	if err := <-mutated; err != nil {
		t.Fatal(err)
	}
	// Every healthy tenant drains; the flaky one recovers once its faults
	// are spent.
	waitFor(t, 90*time.Second, "the healthy tenants to drain", func() bool {
		st := r.tenants(t)
		for _, id := range ids {
			if id == revoked {
				continue
			}
			if s := st[id]; s.State != StateRunning || s.Owed > 0 {
				return false
			}
		}
		return true
	})
	// A few more complete polls of each healthy tenant.
	after := map[string]int{}
	for _, id := range ids {
		after[id] = e.pollLog(id).Polls() + 3
	}
	waitFor(t, 30*time.Second, "a few more polls of every healthy tenant", func() bool {
		for _, id := range ids {
			if id != revoked && e.pollLog(id).Polls() < after[id] {
				return false
			}
		}
		return true
	})
	r.stop(t)

	changes := e.consume("xdr.incidents")
	dlq := e.consume("xdr.dlq")
	// Freshness of the healthy tenants while the broken ones failed: from a
	// version becoming visible to the API to its change record's timestamp
	// in Kafka, for the versions that became visible in the 3 s after the
	// faults began.
	var fresh []time.Duration
	for _, id := range ids {
		if id == revoked || id == flaky {
			continue
		}
		for _, v := range e.fleet.Tenant(id).Versions() {
			vis := time.UnixMilli(v.VisibleAt)
			if vis.Before(faultsFrom) || vis.After(faultsFrom.Add(3*time.Second)) {
				continue
			}
			if at, ok := changes.at[id][fmt.Sprintf("%s@%d", v.IncidentID, v.ModificationTime)]; ok {
				fresh = append(fresh, at.Sub(vis))
			}
		}
	}
	slices.Sort(fresh)
	if len(fresh) == 0 {
		t.Fatal("no version of a healthy tenant became visible while the others failed")
	}
	p99 := fresh[(len(fresh)*99+99)/100-1]
	t.Logf("healthy tenants' freshness while others failed: p50 %s, p99 %s, max %s over %d versions", fresh[len(fresh)/2], p99, fresh[len(fresh)-1], len(fresh))
	// The target, POLL_INTERVAL + 1 s, holds on a quiet machine (p99 0.39 s
	// measured with this test alone); go test runs packages side by side on
	// shared cores, so the bound here only proves that no healthy tenant was
	// held up by the broken ones, which would take many seconds.
	if limit := 5 * time.Second; p99 > limit {
		t.Errorf("freshness p99 %s of the healthy tenants: they were held up while others failed", p99)
	}
	for _, id := range ids {
		if id == revoked {
			continue
		}
		tn := e.fleet.Tenant(id)
		readable := e.pollLog(id).Expect(0)
		lost := 0
		for _, v := range tn.Versions() {
			tr, _ := tn.Truth(v.IncidentID)
			if tr.Restricted || id == flaky && v.ModificationTime != tr.ModificationTime {
				// A version superseded while its tenant answered 500s was
				// never visible to a poll that succeeded: only the flaky
				// tenant's final versions are owed.
				continue
			}
			if changes.changes[id][fmt.Sprintf("%s@%d", v.IncidentID, v.ModificationTime)] == 0 {
				if !readable(v) {
					// No complete poll of the tenant ran while the version
					// was visible and current (a loaded machine can stretch
					// a poll past the 3 s a version lives): no connector
					// could have read it.
					continue
				}
				lost++
				if lost <= 3 {
					t.Logf("tenant %s lost %s@%d: visible %s, superseded %s (%d ms later)", id, v.IncidentID, v.ModificationTime,
						time.UnixMilli(v.VisibleAt).Format("15:04:05.000"), time.UnixMilli(v.SupersededAt).Format("15:04:05.000"), v.SupersededAt-v.VisibleAt)
				}
			}
		}
		if lost > 0 {
			t.Errorf("tenant %s: %d of %d versions lost", id, lost, len(tn.Versions()))
		}
		for _, inc := range tn.IncidentIDs() {
			tr, _ := tn.Truth(inc)
			if tr.Restricted {
				continue
			}
			if got := changes.enriched[id][inc]; got != tr.ModificationTime {
				t.Errorf("tenant %s incident %s: newest enrichment of version %d, final version %d (DLQ: %v)", id, inc, got, tr.ModificationTime, dlq.dlq[id][inc])
				break
			}
		}
		if k := changes.keys[id]; !strings.HasPrefix(k, id+"/") {
			t.Errorf("tenant %s: key %q lacks the tenant prefix", id, k)
		}
		if n := tn.Count429(); n != 0 {
			t.Errorf("tenant %s drew %d × 429", id, n)
		}
	}
	if len(changes.changes[revoked]) == 0 {
		t.Errorf("the revoked tenant published nothing before its key was revoked")
	}
}

// fileRejected is what the log says of a tenants file that is rejected.
const fileRejected = "the tenants file is not valid or cannot be read; it was rejected as a whole"

// TestFleetReloads adds, removes and changes tenants while the process runs,
// by SIGHUP and by swapping the file as Kubernetes swaps a mounted
// ConfigMap's symlink; an invalid file changes nothing; the tenants not
// named by a change are not restarted.
func TestFleetReloads(t *testing.T) {
	e := newFleetEnv(t, 4, 20)
	ids := e.fleet.IDs()
	// Kubernetes mounts a ConfigMap as ..data -> ..<generation>/ with the
	// file a symlink into ..data; an update swaps ..data atomically.
	dir := filepath.Dir(e.file)
	gens := 0
	swap := func(content string) {
		t.Helper()
		gens++
		gen := fmt.Sprintf("..gen%d", gens)
		if err := os.Mkdir(filepath.Join(dir, gen), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, gen, "tenants.yaml"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink(gen, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	e.writeFile(ids[:2]...)
	r := e.start(nil)
	waitFor(t, 20*time.Second, "two tenants running", func() bool {
		st := r.tenants(t)
		return len(st) == 2 && st[ids[0]].State == StateRunning && st[ids[1]].State == StateRunning
	})
	since0 := r.tenants(t)[ids[0]].Since

	// From now on the file is a symlink into ..data, as in a pod: adding a
	// tenant is a swap.
	swap(e.content(ids[:3]...))
	link := filepath.Join(dir, "mounted.yaml")
	if err := os.Symlink(filepath.Join("..data", "tenants.yaml"), link); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link, e.file); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the added tenant to run", func() bool { return r.tenants(t)[ids[2]].State == StateRunning })

	// An invalid file changes nothing, once it has been read and rejected.
	rejected := len(r.logs.Lines(fileRejected))
	swap("tenants:\n  - id: BAD\n")
	waitFor(t, 20*time.Second, "the invalid file to be rejected", func() bool { return len(r.logs.Lines(fileRejected)) > rejected })
	if st := r.tenants(t); len(st) != 3 || st[ids[0]].State != StateRunning || st[ids[2]].State != StateRunning {
		t.Fatalf("an invalid file changed the running set: %+v", st)
	}

	// Remove ids[1], add ids[3] and change ids[2] (a new poll interval), in
	// one swap; SIGHUP as well, which must not apply it twice.
	since2 := r.tenants(t)[ids[2]].Since
	changed := strings.Replace(e.content(ids[0], ids[2], ids[3]), "  - id: "+ids[2]+"\n", "  - id: "+ids[2]+"\n    poll_interval: 150ms\n", 1)
	swap(changed)
	r.reload <- struct{}{}
	waitFor(t, 30*time.Second, "the final set", func() bool {
		st := r.tenants(t)
		_, removed := st[ids[1]]
		return len(st) == 3 && !removed && st[ids[3]].State == StateRunning && st[ids[2]].State == StateRunning && st[ids[2]].Since.After(since2)
	})
	if st := r.tenants(t); !st[ids[0]].Since.Equal(since0) {
		t.Errorf("tenant %s, untouched by every change, was restarted (since %s, then %s)", ids[0], since0, st[ids[0]].Since)
	}
	r.stop(t)
	// The removed tenant stopped gracefully: its final commit says so.
	st, found := committed(t, e.brokers, "fleet-test", ids[1])
	if !found || !st.Clean {
		t.Errorf("the removed tenant %s did not stop cleanly (found %v, clean %v)", ids[1], found, st.Clean)
	}
}

// committed reads a tenant's committed offsets.
func committed(t *testing.T, brokers []string, connector, tenant string) (offsets.State, bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s, err := offsets.NewStore(cl, offsets.StoreConfig{Topic: "xdr.connector.offsets", Connector: connector, Tenant: tenant,
		ClientOpts: []kgo.Opt{kgo.SeedBrokers(brokers...)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, found, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st, found
}

// TestReloadNeverLogsAKeyGivenAsItsPath: a tenants file whose api_key_file
// holds a key instead of a path is rejected at every reload with the key's
// length and shape, never the key.
func TestReloadNeverLogsAKeyGivenAsItsPath(t *testing.T) {
	const key = "a2V5LXBhc3RlZC1pbnRvLWFwaV9rZXlfZmlsZQ/+Ab=="
	e := newFleetEnv(t, 2, 5)
	ids := e.fleet.IDs()
	e.writeFile(ids[0])
	r := e.start(nil)
	waitFor(t, 20*time.Second, "the tenant running", func() bool { return r.tenants(t)[ids[0]].State == StateRunning })

	// ids[1]'s entry ends the file: its inline key becomes a key file
	// setting holding the key.
	lines := strings.Split(strings.TrimSuffix(e.content(ids...), "\n"), "\n")
	lines[len(lines)-1] = "    api_key_file: " + key
	bad := strings.Join(lines, "\n") + "\n"
	tmp := e.file + ".new"
	if err := os.WriteFile(tmp, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.file); err != nil {
		t.Fatal(err)
	}
	const rejected = "the tenants file is not valid or cannot be read"
	described := fmt.Sprintf("api_key_file: cannot be read (no such file or directory); the value is not shown, in case it is the secret itself: %d characters", len(key))
	waitFor(t, 20*time.Second, "the file rejected", func() bool { return len(r.logs.Lines(rejected, described)) == 1 })
	r.reload <- struct{}{} // SIGHUP logs the rejection again
	waitFor(t, 20*time.Second, "the rejection logged again", func() bool { return len(r.logs.Lines(rejected, described)) == 2 })
	if l := r.logs.Lines(key[:8]); len(l) > 0 {
		t.Errorf("the log prints the key:\n%s", strings.Join(l, "\n"))
	}
	if _, ok := r.tenants(t)[ids[1]]; ok {
		t.Error("the tenant with the bad key file was started")
	}
}
