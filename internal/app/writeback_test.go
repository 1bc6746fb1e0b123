package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// sendCommands writes commands to the commands topic, keyed as the contract
// says, creating the topic first as an operator would.
func (e *fleetEnv) sendCommands(cmds ...writeback.Command) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.DefaultProduceTopic("xdr.commands"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	_, _ = kadm.NewClient(cl).CreateTopics(ctx, 2, 1, nil, "xdr.commands")
	for _, c := range cmds {
		b, _ := json.Marshal(c)
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(c.Tenant + "/" + c.IncidentID), Value: b}).FirstErr(); err != nil {
			e.t.Fatal(err)
		}
	}
}

// commandResults reads the results topic, by command_id.
func (e *fleetEnv) commandResults() map[string]writeback.Result {
	e.t.Helper()
	out := map[string]writeback.Result{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	if ts, err := kadm.NewClient(cl).ListTopics(context.Background(), "xdr.command-results"); err != nil || !ts.Has("xdr.command-results") {
		return out
	}
	for _, r := range testkit.ReadCommitted(e.t, e.brokers, "xdr.command-results") {
		var res writeback.Result
		if err := json.Unmarshal(r.Value, &res); err != nil {
			e.t.Fatal(err)
		}
		if _, dup := out[res.CommandID]; dup {
			e.t.Fatalf("two results for %s", res.CommandID)
		}
		out[res.CommandID] = res
	}
	return out
}

// TestWritebackLoop: with WRITEBACK on, a process of two tenants applies
// each tenant's command to that tenant only, answers a command for a tenant
// it does not have once, and the changed incident comes back through the
// poller as a new version on the incidents topic — in both delivery modes.
func TestWritebackLoop(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			e := newFleetEnv(t, 2, 5)
			r := e.start(map[string]string{"WRITEBACK": "on", "DELIVERY": delivery})
			t1, t2 := e.fleet.Tenant("t01"), e.fleet.Tenant("t02")
			id1, id2 := t1.IncidentIDs()[0], t2.IncidentIDs()[1]
			status := "resolved_false_positive"
			comment := "checked by playbook 7"
			e.sendCommands(
				writeback.Command{CommandID: "w1", Tenant: "t01", IncidentID: id1, Action: "set_status", Status: &status},
				writeback.Command{CommandID: "w2", Tenant: "t02", IncidentID: id2, Action: "add_comment", Comment: &comment},
				writeback.Command{CommandID: "w3", Tenant: "nobody", IncidentID: "1", Action: "unassign"},
			)
			var res map[string]writeback.Result
			waitFor(t, 60*time.Second, "three results", func() bool { res = e.commandResults(); return len(res) == 3 })
			if res["w1"].Outcome != "applied" || res["w2"].Outcome != "applied" {
				t.Fatalf("results: %+v", res)
			}
			if w := res["w3"]; w.Outcome != "rejected" || !strings.HasPrefix(w.Reason, "unknown tenant") {
				t.Errorf("a command for a tenant the process lacks: %+v", w)
			}
			if n := len(t1.WriteCalls()) + len(t2.WriteCalls()); n != 2 {
				t.Errorf("%d write calls, want 2", n)
			}
			tr1, _ := t1.Truth(id1)
			tr2, _ := t2.Truth(id2)
			// The loop: the poller publishes each changed incident's new version.
			waitFor(t, 60*time.Second, "the changed incidents on the incidents topic", func() bool {
				seen := map[string]bool{}
				for _, r := range testkit.ReadCommitted(t, e.brokers, "xdr.incidents") {
					var env record.Envelope
					if json.Unmarshal(r.Value, &env) == nil {
						seen[fmt.Sprintf("%s/%s@%d", env.Tenant, env.IncidentID, env.ModificationTime)] = true
					}
				}
				return seen[fmt.Sprintf("t01/%s@%d", id1, tr1.ModificationTime)] && seen[fmt.Sprintf("t02/%s@%d", id2, tr2.ModificationTime)]
			})
			resp, err := http.Get(r.base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			for _, want := range []string{`xdr_connector_writeback_commands_total{connector="fleet-test",outcome="applied",tenant="t01"} 1`,
				`xdr_connector_writeback_commands_total{connector="fleet-test",outcome="rejected",tenant="t01"} 1`,
				`xdr_connector_writeback_commands_total{connector="fleet-test",outcome="applied",tenant="t02"} 1`} {
				if !strings.Contains(string(body), want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			if w := res["w1"]; w.Observed && *w.ModificationTime != tr1.ModificationTime {
				t.Errorf("result modification_time %d, the incident's %d", *w.ModificationTime, tr1.ModificationTime)
			}
			r.stop(t)
		})
	}
}

// TestWritebackFollowsTheTenants: two replicas share four tenants; as
// tenants move from one replica to the other and back, every command is
// applied once, by the tenant's owner of the moment, and answered once.
func TestWritebackFollowsTheTenants(t *testing.T) {
	e := newGroupFleetEnv(t, 4)
	ids := e.fleet.IDs()
	settings := func(name string) map[string]string {
		s := groupSettings(name)
		s["WRITEBACK"] = "on"
		return s
	}
	a := e.start(settings("a"))
	b := e.start(settings("b"))
	spread(t, "a and b to share the tenants", ids, a, b)
	batch := func(n int) {
		var cmds []writeback.Command
		for i, id := range ids {
			inc := e.fleet.Tenant(id).IncidentIDs()[i]
			comment := fmt.Sprintf("batch %d for %s", n, id)
			cmds = append(cmds, writeback.Command{CommandID: fmt.Sprintf("%s-%d", id, n), Tenant: id, IncidentID: inc, Action: "add_comment", Comment: &comment})
		}
		e.sendCommands(cmds...)
		waitFor(t, 60*time.Second, fmt.Sprintf("the results of batch %d", n), func() bool { return len(e.commandResults()) == n*len(ids) })
	}
	batch(1)
	b.stop(t) // b's tenants move to a
	waitFor(t, 30*time.Second, "a to run every tenant", func() bool { return len(running(t, a)) == len(ids) })
	batch(2)
	b = e.start(settings("b"))
	spread(t, "a and b to share the tenants again", ids, a, b)
	batch(3)

	for cid, r := range e.commandResults() {
		if r.Outcome != "applied" {
			t.Errorf("%s: %+v", cid, r)
		}
	}
	for i, id := range ids {
		sim := e.fleet.Tenant(id)
		if n := len(sim.WriteCalls()); n != 3 {
			t.Errorf("tenant %s took %d write calls, want 3", id, n)
		}
		inc := sim.IncidentIDs()[i]
		// Each comment once, when the last change is visible (IndexDelay).
		waitFor(t, 10*time.Second, "the three comments of "+id, func() bool {
			rep := e.readIncident(id, inc)
			for n := 1; n <= 3; n++ {
				if c := strings.Count(rep, fmt.Sprintf("batch %d for %s", n, id)); c != 1 {
					return false
				}
			}
			return true
		})
	}
}

// readIncident is tenant id's incident inc as get_incidents shows it.
func (e *fleetEnv) readIncident(id, inc string) string {
	e.t.Helper()
	keyID, key := e.fleet.Tenant(id).Credentials()
	c, err := xdr.New(xdr.Config{BaseURL: e.fleet.BaseURL(e.root, id), KeyID: keyID, Key: xdr.NewSecret(key)})
	if err != nil {
		e.t.Fatal(err)
	}
	rep, err := c.GetIncidents(context.Background(), xdr.IncidentsRequest{Filters: []xdr.Filter{xdr.IncidentIDs(inc)}, SearchTo: 1})
	if err != nil || len(rep.Incidents) != 1 {
		e.t.Fatalf("reading %s/%s: %v", id, inc, err)
	}
	return string(rep.Incidents[0].Raw)
}
