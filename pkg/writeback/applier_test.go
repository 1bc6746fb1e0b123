package writeback_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

const (
	commandsTopic = "xdr.commands"
	resultsTopic  = "xdr.command-results"
)

// harness is one simulated tenant "acme", kfake, and appliers run on them.
type harness struct {
	t   *testing.T
	env *testkit.Env
	eos bool
	kcl *kgo.Client // the SOAR side's producer
	// api is the tenant's client paced as the process paces it; the
	// test's own reads go through it too, so they never push the tenant
	// over its budget.
	api pacedAPI
	// cancel ends the last applier started, at once (a SIGKILL's effect
	// on what it writes next).
	cancel context.CancelFunc
}

func newHarness(t *testing.T, eos bool) *harness {
	env := testkit.New(t, xdrtest.Config{Seed: 11, Incidents: 20, RequestsPerSecond: 10})
	kcl := env.Producer()
	t.Cleanup(kcl.Close)
	if _, err := kadm.NewClient(kcl).CreateTopics(context.Background(), 3, 1, nil, commandsTopic, resultsTopic); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, env: env, eos: eos, kcl: kcl, api: paced(t, env.API)}
}

func (h *harness) config() writeback.Config {
	return writeback.Config{
		Connector: "c", Policy: writeback.Policy{Tenant: "acme", Enabled: true, Actions: writeback.Actions},
		Known: func(id string) bool { return id == "acme" || id == "beta" }, ReportsUnknown: func() bool { return true },
		CommandsTopic: commandsTopic, ResultsTopic: resultsTopic, OffsetsTopic: testkit.OffsetsTopic,
		CreateTopics: true, Partitions: 3, ExactlyOnce: h.eos, ClientOpts: h.env.ConnOpts(),
		RetryBackoff: 10 * time.Millisecond,
	}
}

// startWith starts an applier with opts and returns a stop that waits
// until it has loaded and started, then stops it.
func (h *harness) startWith(cfg writeback.Config, api writeback.API, opts ...writeback.Option) func() {
	h.t.Helper()
	a, stop := h.start(cfg, api, opts...)
	return func() {
		testkit.WaitFor(h.t, 10*time.Second, "the applier started", a.Started)
		stop()
	}
}

// start runs an applier with api until the returned stop is called.
func (h *harness) start(cfg writeback.Config, api writeback.API, opts ...writeback.Option) (a *writeback.Applier, stop func()) {
	h.t.Helper()
	var kopts []kgo.Opt
	if h.eos {
		kopts = append(kopts, kgo.TransactionalID(pipeline.TransactionalID(cfg.Connector, cfg.Policy.Tenant)+"/writeback"))
	}
	kcl := h.env.Producer(kopts...)
	a, err := writeback.New(cfg, api, kcl, append([]writeback.Option{writeback.WithLogger(slog.New(slog.NewTextHandler(testWriter{h.t}, nil)))}, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	return a, func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
			kcl.Close()
		})
	}
}

func (h *harness) send(key string, value any) {
	h.t.Helper()
	b, ok := value.([]byte)
	if !ok {
		b, _ = json.Marshal(value)
	}
	if err := h.kcl.ProduceSync(context.Background(), &kgo.Record{Topic: commandsTopic, Key: []byte(key), Value: b}).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
}

// results waits until n results are committed and returns them by command_id.
func (h *harness) results(n int) map[string]writeback.Result {
	h.t.Helper()
	var out map[string]writeback.Result
	testkit.WaitFor(h.t, 30*time.Second, fmt.Sprintf("%d results", n), func() bool {
		out = map[string]writeback.Result{}
		recs := testkit.ReadCommitted(h.t, h.env.Brokers, resultsTopic)
		for _, r := range recs {
			var res writeback.Result
			if err := json.Unmarshal(r.Value, &res); err != nil {
				h.t.Fatalf("result %s: %v", r.Value, err)
			}
			testkit.ValidateRecord(h.t, "command-result", r.Value)
			if _, dup := out[res.CommandID]; dup {
				h.t.Fatalf("two results for command %s", res.CommandID)
			}
			out[res.CommandID] = res
		}
		if len(recs) > n {
			h.t.Fatalf("%d results, want %d", len(recs), n)
		}
		return len(recs) == n
	})
	return out
}

// writes counts the write calls the tenant took (2xx, or reset after
// applying).
func writes(h *harness) int {
	n := 0
	for _, c := range h.env.Sim.WriteCalls() {
		if c.Status == 0 || c.Status/100 == 2 {
			n++
		}
	}
	return n
}

func sp(s string) *string { return &s }

// pacedAPI holds the tenant's calls to its budget as the process does (a
// sliding log of 10 calls a second), so the applier's reads draw no 429.
type pacedAPI struct {
	*xdr.Client
	lim *enrich.Limiter
}

func paced(t *testing.T, c *xdr.Client) pacedAPI {
	lim, err := enrich.NewLimiter(10, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return pacedAPI{c, lim}
}

func (p pacedAPI) GetIncidents(ctx context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error) {
	return enrich.Paced(ctx, p.lim, func() (*xdr.IncidentsReply, error) { return p.Client.GetIncidents(ctx, req) })
}

func (p pacedAPI) UpdateIncident(ctx context.Context, req xdr.UpdateIncidentRequest) (*xdr.UpdateReply, error) {
	return enrich.Paced(ctx, p.lim, func() (*xdr.UpdateReply, error) { return p.Client.UpdateIncident(ctx, req) })
}

func (p pacedAPI) UpdateAlerts(ctx context.Context, req xdr.UpdateAlertsRequest) (*xdr.UpdateReply, error) {
	return enrich.Paced(ctx, p.lim, func() (*xdr.UpdateReply, error) { return p.Client.UpdateAlerts(ctx, req) })
}

func (h *harness) incident(id string) xdr.Incident {
	h.t.Helper()
	rep, err := h.api.GetIncidents(context.Background(), xdr.IncidentsRequest{Filters: []xdr.Filter{xdr.IncidentIDs(id)}, SearchTo: 1})
	if err != nil || len(rep.Incidents) != 1 {
		h.t.Fatalf("reading incident %s: %v", id, err)
	}
	return rep.Incidents[0]
}

func TestEachActionAppliedOnce(t *testing.T) {
	for _, eos := range []bool{false, true} {
		t.Run(fmt.Sprintf("exactly-once=%v", eos), func(t *testing.T) {
			h := newHarness(t, eos)
			ids := h.env.Sim.IncidentIDs()
			var alertID, alertIncident string
			for _, id := range ids[5:] {
				tr, _ := h.env.Sim.Truth(id)
				for _, a := range tr.AlertIDs {
					if a != "" && alertID == "" {
						alertID, alertIncident = a, id
					}
				}
			}
			mail := h.env.Sim.Users()[2]
			cmds := []writeback.Command{
				{CommandID: "a1", Tenant: "acme", IncidentID: ids[0], Action: "assign", AssigneeEmail: &mail},
				{CommandID: "a2", Tenant: "acme", IncidentID: ids[1], Action: "unassign"},
				{CommandID: "a3", Tenant: "acme", IncidentID: ids[2], Action: "set_status", Status: sp("resolved_false_positive"), ResolveComment: sp("FP per playbook 7")},
				{CommandID: "a4", Tenant: "acme", IncidentID: ids[3], Action: "set_severity", Severity: sp("critical")},
				{CommandID: "a5", Tenant: "acme", IncidentID: ids[4], Action: "add_comment", Comment: sp("seen by SOAR")},
				{CommandID: "a6", Tenant: "acme", Action: "update_alerts", AlertIDs: []string{alertID}, Severity: sp("low")},
			}
			before := map[string]int64{}
			for _, c := range cmds {
				key := "acme/" + c.IncidentID
				if c.IncidentID != "" {
					before[c.CommandID] = h.incident(c.IncidentID).ModificationTime
				} else {
					before[c.CommandID] = h.incident(alertIncident).ModificationTime
				}
				h.send(key, c)
			}
			h.send("acme/"+ids[4], cmds[4]) // the pipeline sends the comment twice
			api := h.api
			_, stop := h.start(h.config(), api)
			res := h.results(len(cmds))
			stop()

			for _, c := range cmds {
				r := res[c.CommandID]
				if r.Outcome != writeback.OutcomeApplied || r.APIStatus != 200 || r.AppliedAt == 0 {
					t.Errorf("%s %s: %+v", c.CommandID, c.Action, r)
					continue
				}
				id := c.IncidentID
				if id == "" {
					id = alertIncident
				}
				now := h.incident(id)
				if now.ModificationTime <= before[c.CommandID] {
					t.Errorf("%s: incident %s kept modification_time %d", c.Action, id, now.ModificationTime)
				}
				if c.IncidentID != "" && (!r.Observed || r.ModificationTime == nil || *r.ModificationTime != now.ModificationTime) {
					t.Errorf("%s: result modification_time %v observed %v, the incident's is %d", c.Action, r.ModificationTime, r.Observed, now.ModificationTime)
				}
			}
			raw := string(h.incident(ids[2]).Raw)
			if !strings.Contains(raw, `"status":"resolved_false_positive"`) || !strings.Contains(raw, "FP per playbook 7") {
				t.Errorf("set_status left %s", raw)
			}
			if n := strings.Count(string(h.incident(ids[4]).Raw), "seen by SOAR"); n != 1 {
				t.Errorf("the comment sent twice shows %d times", n)
			}
			if got := writes(h); got != len(cmds) {
				t.Errorf("%d write calls for %d commands", got, len(cmds))
			}

			// A restart reads the commands topic from its stored
			// position; the same command_id sent again is skipped there too.
			h.send("acme/"+ids[0], cmds[0])
			h.send("acme/"+ids[1], writeback.Command{CommandID: "a7", Tenant: "acme", IncidentID: ids[1], Action: "set_severity", Severity: sp("")})
			a, stop := h.start(h.config(), api)
			h.results(len(cmds) + 1)
			testkit.WaitFor(t, 10*time.Second, "the duplicate counted", func() bool { return a.Counts().Duplicates == 1 })
			stop()
			if got := writes(h); got != len(cmds)+1 {
				t.Errorf("after the restart: %d write calls, want %d", got, len(cmds)+1)
			}
			for _, r := range testkit.ReadCommitted(t, h.env.Brokers, testkit.OffsetsTopic) {
				if r.Value != nil {
					testkit.ValidateRecord(t, "offsets", r.Value)
				}
			}
			if c := a.Counts(); c.Applied != 1 {
				t.Errorf("the restarted applier applied %d commands, want 1 (the earlier ones are behind its position)", c.Applied)
			}
		})
	}
}

func TestRejectedWithoutAPICall(t *testing.T) {
	h := newHarness(t, false)
	id := h.env.Sim.IncidentIDs()[0]
	cur := h.incident(id).ModificationTime
	stale := cur - 1
	cfg := h.config()
	cfg.Policy.Actions = writeback.DefaultActions
	h.send("acme/"+id, writeback.Command{CommandID: "r1", Tenant: "acme", IncidentID: id, Action: "unassign", ExpectModificationTime: &stale})
	h.send("acme/"+id, []byte(`{"command_id":"r2","tenant":"acme","incident_id":"`+id+`","action":"unassign","colour":"red"}`))
	h.send("acme/"+id, []byte(`not json`))
	h.send("acme/", writeback.Command{CommandID: "r4", Tenant: "acme", Action: "update_alerts", AlertIDs: []string{"1"}, Status: sp("x")})
	h.send("beta/"+id, writeback.Command{CommandID: "r5", Tenant: "acme", IncidentID: id, Action: "unassign"})
	h.send("zeta/"+id, writeback.Command{CommandID: "r6", Tenant: "zeta", IncidentID: id, Action: "unassign"})
	h.send("beta/"+id, writeback.Command{CommandID: "r7", Tenant: "beta", IncidentID: id, Action: "unassign"}) // another known tenant's: not answered here
	h.send("acme/"+id, writeback.Command{CommandID: "r8", Tenant: "acme", IncidentID: id, Action: "set_status", Status: sp("new"), ResolveComment: sp("x")})
	h.send("acme/999999", writeback.Command{CommandID: "r9", Tenant: "acme", IncidentID: "999999", Action: "unassign"})
	_, stop := h.start(cfg, h.api)
	res := h.results(8)
	stop()
	want := map[string]string{"r1": "stale", "r2": "schema", "": "schema", "r4": "not allowed", "r5": "wrong tenant",
		"r6": "unknown tenant", "r8": "schema", "r9": "unknown incident"}
	for id, prefix := range want {
		r, ok := res[id]
		if !ok || r.Outcome != writeback.OutcomeRejected || !strings.HasPrefix(r.Reason, prefix) || r.APIStatus != 0 {
			t.Errorf("command %q: %+v, want rejected with %q", id, r, prefix)
		}
	}
	if calls := h.env.Sim.WriteCalls(); len(calls) != 0 {
		t.Errorf("rejected commands made %d write calls", len(calls))
	}
	if h.incident(id).ModificationTime != cur {
		t.Error("a rejected command changed the incident")
	}
}

// killAfterWrite cancels the run right after an update call returns, as a
// SIGKILL between the API call and the result would stop it.
type killAfterWrite struct {
	*xdr.Client
	kill func()
}

func (k killAfterWrite) UpdateIncident(ctx context.Context, req xdr.UpdateIncidentRequest) (*xdr.UpdateReply, error) {
	rep, err := k.Client.UpdateIncident(context.WithoutCancel(ctx), req)
	k.kill()
	if err == nil {
		err = errors.New("killed")
	}
	return rep, fmt.Errorf("killed: %w", context.Canceled)
}

func TestKilledBetweenCallAndResult(t *testing.T) {
	for _, eos := range []bool{false, true} {
		t.Run(fmt.Sprintf("exactly-once=%v", eos), func(t *testing.T) {
			h := newHarness(t, eos)
			ids := h.env.Sim.IncidentIDs()
			h.send("acme/"+ids[0], writeback.Command{CommandID: "k1", Tenant: "acme", IncidentID: ids[0], Action: "add_comment", Comment: sp("only once")})
			killed := make(chan struct{})
			_, stop := h.start(h.config(), killAfterWrite{h.env.API, func() { h.cancel(); close(killed) }})
			<-killed
			stop()
			if n := writes(h); n != 1 {
				t.Fatalf("%d write calls before the kill", n)
			}
			h.send("acme/"+ids[1], writeback.Command{CommandID: "k2", Tenant: "acme", IncidentID: ids[1], Action: "unassign"})
			_, stop = h.start(h.config(), h.api)
			res := h.results(2)
			stop()
			if r := res["k1"]; r.Outcome != writeback.OutcomeFailed || !strings.HasPrefix(r.Reason, "ambiguous") {
				t.Errorf("interrupted comment: %+v, want failed ambiguous", r)
			}
			if n := strings.Count(string(h.incident(ids[0]).Raw), "only once"); n != 1 {
				t.Errorf("the comment shows %d times", n)
			}
			if r := res["k2"]; r.Outcome != writeback.OutcomeApplied {
				t.Errorf("next command: %+v", r)
			}
			if n := writes(h); n != 2 {
				t.Errorf("%d write calls, want 2 (the comment once, the unassign)", n)
			}
		})
	}
}

func TestAmbiguousCommentNotRetried(t *testing.T) {
	h := newHarness(t, false)
	ids := h.env.Sim.IncidentIDs()
	h.env.Sim.Inject(xdrtest.EndpointUpdateIncident, xdrtest.FaultReset, 2)
	h.send("acme/"+ids[0], writeback.Command{CommandID: "c1", Tenant: "acme", IncidentID: ids[0], Action: "add_comment", Comment: sp("lost reply")})
	h.send("acme/"+ids[1], writeback.Command{CommandID: "c2", Tenant: "acme", IncidentID: ids[1], Action: "set_severity", Severity: sp("high")})
	_, stop := h.start(h.config(), h.api)
	res := h.results(2)
	stop()
	if r := res["c1"]; r.Outcome != writeback.OutcomeFailed || !strings.HasPrefix(r.Reason, "ambiguous") {
		t.Errorf("comment after a lost reply: %+v", r)
	}
	if r := res["c2"]; r.Outcome != writeback.OutcomeApplied {
		t.Errorf("idempotent set_severity after a lost reply is retried: %+v", r)
	}
	if n := writes(h); n != 3 {
		t.Errorf("%d write calls, want 3: the comment once, the severity twice", n)
	}
	if n := strings.Count(string(h.incident(ids[0]).Raw), "lost reply"); n != 1 {
		t.Errorf("the comment shows %d times", n)
	}
}

// testWriter sends the applier's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// TestDoneRecordsExpire: a start deletes the records of commands done longer
// ago than DedupRetention, and keeps younger ones.
func TestDoneRecordsExpire(t *testing.T) {
	h := newHarness(t, false)
	id := h.env.Sim.IncidentIDs()[0]
	h.send("acme/"+id, writeback.Command{CommandID: "old", Tenant: "acme", IncidentID: id, Action: "unassign"})
	_, stop := h.start(h.config(), h.api)
	h.results(1)
	stop()
	key := `{"connector":"c","tenant":"acme","kind":"command","command_id":"old"}`
	tombstoned := func() (bool, bool) {
		var seen, tomb bool
		for _, r := range testkit.ReadCommitted(t, h.env.Brokers, testkit.OffsetsTopic) {
			if string(r.Key) == key {
				seen, tomb = true, r.Value == nil
			}
		}
		return seen, tomb
	}
	cfg := h.config()
	cfg.DedupRetention = time.Hour
	h.startWith(cfg, h.api)() // an hour has not passed
	if seen, tomb := tombstoned(); !seen || tomb {
		t.Fatalf("a young record: seen %v, deleted %v", seen, tomb)
	}
	h.startWith(cfg, h.api, writeback.WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) }))()
	if seen, tomb := tombstoned(); !seen || !tomb {
		t.Errorf("an expired record: seen %v, deleted %v", seen, tomb)
	}
}

// afterWrite is the tenant's API with the read that follows an update
// changed: for the incidents in fail it fails (a 503, which a read before
// an update would retry), for those in lag it shows the incident as it was
// before the update (the API's view lags). It counts the reads.
type afterWrite struct {
	*xdr.Client
	fail, lag map[string]bool

	mu      sync.Mutex
	last    map[string]*xdr.IncidentsReply // incident -> the last reply that showed it
	written map[string]*xdr.IncidentsReply // incident -> its reply before the update, until the read after it
	reads   map[string]int                 // get_incidents calls per incident
}

func (a *afterWrite) GetIncidents(ctx context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error) {
	id := req.Filters[0].Value.([]string)[0]
	a.mu.Lock()
	a.reads[id]++
	prev, after := a.written[id]
	delete(a.written, id)
	a.mu.Unlock()
	switch {
	case after && a.fail[id]:
		return nil, &xdr.APIError{Endpoint: "get_incidents", Status: 503, Message: "unavailable"}
	case after && a.lag[id]:
		return prev, nil
	}
	rep, err := a.Client.GetIncidents(ctx, req)
	if err == nil {
		a.mu.Lock()
		a.last[id] = rep
		a.mu.Unlock()
	}
	return rep, err
}

func (a *afterWrite) UpdateIncident(ctx context.Context, req xdr.UpdateIncidentRequest) (*xdr.UpdateReply, error) {
	a.mu.Lock()
	a.written[req.IncidentID] = a.last[req.IncidentID]
	a.mu.Unlock()
	return a.Client.UpdateIncident(ctx, req)
}

// TestModificationTimeReadRightAfterTheWrite: an applied command's result
// carries the modification_time of the incident's new version as one
// get_incidents call right after the write shows it; when that one read
// fails, or shows the old version still, the result says observed false
// with modification_time null, and the read is not repeated.
func TestModificationTimeReadRightAfterTheWrite(t *testing.T) {
	h := newHarness(t, false)
	ids := h.env.Sim.IncidentIDs()
	api := &afterWrite{Client: h.env.API, fail: map[string]bool{ids[1]: true}, lag: map[string]bool{ids[2]: true},
		last: map[string]*xdr.IncidentsReply{}, written: map[string]*xdr.IncidentsReply{}, reads: map[string]int{}}
	for i, id := range ids[:3] {
		h.send("acme/"+id, writeback.Command{CommandID: fmt.Sprint("m", i), Tenant: "acme", IncidentID: id, Action: "set_severity", Severity: sp("high")})
	}
	_, stop := h.start(h.config(), api)
	res := h.results(3)
	stop()
	for i, id := range ids[:3] {
		r := res[fmt.Sprint("m", i)]
		if r.Outcome != writeback.OutcomeApplied {
			t.Errorf("incident %s: %+v, want applied", id, r)
			continue
		}
		if i == 0 {
			var now int64
			testkit.WaitFor(t, 10*time.Second, "a read of the incident within the tenant's budget", func() bool {
				rep, err := h.env.API.GetIncidents(context.Background(), xdr.IncidentsRequest{Filters: []xdr.Filter{xdr.IncidentIDs(id)}, SearchTo: 1})
				if err == nil && len(rep.Incidents) == 1 {
					now = rep.Incidents[0].ModificationTime
				}
				return err == nil
			})
			if !r.Observed || r.ModificationTime == nil || *r.ModificationTime != now {
				t.Errorf("incident %s: modification_time %v observed %v, want %d observed", id, r.ModificationTime, r.Observed, now)
			}
		} else if r.Observed || r.ModificationTime != nil {
			t.Errorf("incident %s (read after the write %s): modification_time %v observed %v, want null and false",
				id, map[int]string{1: "failed", 2: "lagging"}[i], r.ModificationTime, r.Observed)
		}
		if n := api.reads[id]; n != 2 {
			t.Errorf("incident %s: %d get_incidents calls, want 2 (one before the write, one after)", id, n)
		}
	}
	raw, _ := json.Marshal(res["m1"])
	if !strings.Contains(string(raw), `"modification_time":null,"observed":false`) {
		t.Errorf("unobserved result %s", raw)
	}
}

// TestNewApplierFencesTheLast: a second applier of the tenant (its new
// owner) fences the first (a zombie that still runs): the first stops with
// pipeline.ErrFenced at its next write, before any API write call, and each
// command is applied once and answered once — in at-least-once mode through
// WithStateProducer, in exactly-once mode through the one transactional
// client.
func TestNewApplierFencesTheLast(t *testing.T) {
	for _, eos := range []bool{false, true} {
		t.Run(fmt.Sprintf("exactly-once=%v", eos), func(t *testing.T) {
			h := newHarness(t, eos)
			ids := h.env.Sim.IncidentIDs()
			txnID := pipeline.TransactionalID("c", "acme") + "/writeback"
			run := func(name string) (*writeback.Applier, context.CancelFunc, <-chan error) {
				kcl := h.env.Producer()
				t.Cleanup(kcl.Close)
				var opts []writeback.Option
				if eos {
					kcl = h.env.Producer(kgo.TransactionalID(txnID))
					t.Cleanup(kcl.Close)
				} else {
					txn := h.env.Producer(kgo.TransactionalID(txnID))
					t.Cleanup(txn.Close)
					opts = append(opts, writeback.WithStateProducer(txn))
				}
				opts = append(opts, writeback.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil)).With("applier", name)))
				a, err := writeback.New(h.config(), h.api, kcl, opts...)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- a.Run(ctx) }()
				return a, cancel, done
			}

			first, cancelFirst, firstDone := run("first")
			defer cancelFirst()
			h.send("acme/"+ids[0], writeback.Command{CommandID: "f1", Tenant: "acme", IncidentID: ids[0], Action: "add_comment", Comment: sp("from the first owner")})
			h.results(1)

			second, cancelSecond, secondDone := run("second")
			testkit.WaitFor(t, 10*time.Second, "the second applier started", second.Started)
			// Both read the command; only the second may apply it.
			h.send("acme/"+ids[1], writeback.Command{CommandID: "f2", Tenant: "acme", IncidentID: ids[1], Action: "add_comment", Comment: sp("exactly one owner")})
			select {
			case err := <-firstDone:
				if !errors.Is(err, pipeline.ErrFenced) {
					t.Fatalf("the first applier ended with %v, want pipeline.ErrFenced", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the first applier was not fenced")
			}
			res := h.results(2)
			if r := res["f2"]; r.Outcome != writeback.OutcomeApplied {
				t.Errorf("f2: %+v, want applied by the second applier", r)
			}
			if c := first.Counts(); c.Applied != 1 {
				t.Errorf("the fenced applier applied %d commands, want 1 (f1)", c.Applied)
			}
			if n := strings.Count(string(h.incident(ids[1]).Raw), "exactly one owner"); n != 1 {
				t.Errorf("the comment shows %d times", n)
			}
			if n := writes(h); n != 2 {
				t.Errorf("%d write calls, want 2", n)
			}

			// The second keeps applying.
			h.send("acme/"+ids[2], writeback.Command{CommandID: "f3", Tenant: "acme", IncidentID: ids[2], Action: "unassign"})
			if r := h.results(3)["f3"]; r.Outcome != writeback.OutcomeApplied {
				t.Errorf("f3: %+v", r)
			}
			cancelSecond()
			if err := <-secondDone; err != nil {
				t.Errorf("the second applier: %v", err)
			}
		})
	}
}
