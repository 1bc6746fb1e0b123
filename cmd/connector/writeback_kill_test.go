package main

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestSIGKILLBetweenWriteAndResult kills the binary with SIGKILL after the
// tenant applied a comment and before its reply came back, then restarts
// it: the comment is not sent again (its result says ambiguous), the next
// command is applied, and each command has one result — in both modes.
func TestSIGKILLBetweenWriteAndResult(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			e := testkit.New(t, xdrtest.Config{Seed: 8, Incidents: 5})
			e.Sim.SetSlowDelay(time.Minute)
			e.Sim.Inject(xdrtest.EndpointUpdateIncident, xdrtest.FaultSlow, 1)
			env := map[string]string{
				"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": e.Key,
				"KAFKA_BROKERS": strings.Join(e.Brokers, ","), "KAFKA_REPLICATION_FACTOR": "1",
				"CONNECTOR_NAME": "test", "XDR_TENANT": "sim", "DELIVERY": delivery, "WRITEBACK": "on",
				"POLL_INTERVAL": "200ms", "START_FROM": "now", "LOG_LEVEL": "warn", "LOG_FORMAT": "json",
			}
			ids := e.Sim.IncidentIDs()
			comment := "exactly one comment"
			send := func(c writeback.Command) {
				cl := e.Producer()
				defer cl.Close()
				_, _ = kadm.NewClient(cl).CreateTopics(context.Background(), 1, 1, nil, "xdr.commands")
				b, _ := json.Marshal(c)
				if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "xdr.commands", Key: []byte("sim/" + c.IncidentID), Value: b}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			send(writeback.Command{CommandID: "k1", Tenant: "sim", IncidentID: ids[0], Action: "add_comment", Comment: &comment})

			p := startBinary(t, env, "run")
			testkit.WaitFor(t, 60*time.Second, "the comment applied with its reply held", func() bool {
				calls := e.Sim.WriteCalls()
				return len(calls) == 1 && calls[0].Held
			})
			if code := p.signal(t, syscall.SIGKILL, 10*time.Second); code != -1 {
				t.Fatalf("SIGKILL: exit %d", code)
			}
			send(writeback.Command{CommandID: "k2", Tenant: "sim", IncidentID: ids[1], Action: "unassign"})

			p = startBinary(t, env, "run")
			results := map[string]writeback.Result{}
			testkit.WaitFor(t, 60*time.Second, "two results", func() bool {
				clear(results)
				if !topicExists(t, e, "xdr.command-results") {
					return false
				}
				for _, r := range testkit.ReadCommitted(t, e.Brokers, "xdr.command-results") {
					var res writeback.Result
					if err := json.Unmarshal(r.Value, &res); err != nil {
						t.Fatal(err)
					}
					if _, dup := results[res.CommandID]; dup {
						t.Fatalf("two results for %s", res.CommandID)
					}
					results[res.CommandID] = res
				}
				return len(results) == 2
			})
			if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
				t.Errorf("SIGTERM: exit %d; output:\n%s", code, p.out.String())
			}
			if r := results["k1"]; r.Outcome != writeback.OutcomeFailed || !strings.HasPrefix(r.Reason, "ambiguous") {
				t.Errorf("the comment interrupted by the kill: %+v", r)
			}
			if r := results["k2"]; r.Outcome != writeback.OutcomeApplied {
				t.Errorf("the next command: %+v", r)
			}
			if n := len(e.Sim.WriteCalls()); n != 2 {
				t.Errorf("%d write calls, want 2 (the comment once, the unassign)", n)
			}
			rep, err := e.API.GetIncidents(context.Background(), xdr.IncidentsRequest{Filters: []xdr.Filter{xdr.IncidentIDs(ids[0])}, SearchTo: 1})
			if err != nil || len(rep.Incidents) != 1 || strings.Count(string(rep.Incidents[0].Raw), comment) != 1 {
				t.Errorf("the incident after the kill: %v %v", err, rep)
			}
		})
	}
}

func topicExists(t *testing.T, e *testkit.Env, topic string) bool {
	cl, err := kgo.NewClient(e.ConnOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ts, err := kadm.NewClient(cl).ListTopics(context.Background(), topic)
	return err == nil && ts.Has(topic)
}
