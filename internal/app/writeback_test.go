package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
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
			if w := res["w1"]; w.Observed && *w.ModificationTime != tr1.ModificationTime {
				t.Errorf("result modification_time %d, the incident's %d", *w.ModificationTime, tr1.ModificationTime)
			}
			r.stop(t)
		})
	}
}
