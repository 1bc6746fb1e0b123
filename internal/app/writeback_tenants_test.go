package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
)

// allResults reads every result of the results topic, by command_id, in
// order, duplicates kept.
func (e *fleetEnv) allResults() map[string][]writeback.Result {
	e.t.Helper()
	out := map[string][]writeback.Result{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	if ts, err := kadm.NewClient(cl).ListTopics(e.t.Context(), "xdr.command-results"); err != nil || !ts.Has("xdr.command-results") {
		return out
	}
	for _, r := range testkit.ReadCommitted(e.t, e.brokers, "xdr.command-results") {
		var res writeback.Result
		if err := json.Unmarshal(r.Value, &res); err != nil {
			e.t.Fatal(err)
		}
		out[res.CommandID] = append(out[res.CommandID], res)
	}
	return out
}

// TestWritebackTenantsFileChangesAnswerEachCommandOnce sends commands while
// the tenants file changes, as an operator onboarding a tenant does: each
// command has one result, and a command answered "rejected" is never
// applied.
//
//   - added: a command for t02 is sent while t02 is not in the file (the
//     process answers it: unknown tenant); then t02 is added.
//   - removed-and-added-again: t02 is taken out of the file, a command for
//     it is answered (unknown tenant), then t02 is put back.
//   - reporter: a command for a tenant no file names is answered by the
//     first tenant id; then a tenant with a smaller id is added, which
//     becomes the one that answers such commands.
func TestWritebackTenantsFileChangesAnswerEachCommandOnce(t *testing.T) {
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run("added/"+delivery, func(t *testing.T) {
			e := newFleetEnv(t, 2, 5)
			e.writeFile("t01")
			r := e.start(map[string]string{"WRITEBACK": "on", "DELIVERY": delivery})
			t2 := e.fleet.Tenant("t02")
			inc := t2.IncidentIDs()[0]
			comment := "sent before t02 was in the file"
			e.sendCommands(writeback.Command{CommandID: "c1", Tenant: "t02", IncidentID: inc, Action: "add_comment", Comment: &comment})
			waitFor(t, 30*time.Second, "the result of c1", func() bool { return len(e.allResults()["c1"]) > 0 })
			first := e.allResults()["c1"][0]
			t.Logf("c1 answered while t02 was not in the file: %s %q", first.Outcome, first.Reason)
			e.writeFile("t01", "t02")
			r.reload <- struct{}{}
			waitFor(t, 30*time.Second, "t02 to run", func() bool { return r.tenants(t)["t02"].State == "running" })
			// A second command on the same key (same partition, after c1):
			// once it is answered, t02's applier has read past c1.
			status := "under_investigation"
			e.sendCommands(writeback.Command{CommandID: "c2", Tenant: "t02", IncidentID: inc, Action: "set_status", Status: &status})
			waitFor(t, 30*time.Second, "the result of c2", func() bool { return len(e.allResults()["c2"]) > 0 })
			res := e.allResults()
			if c2 := res["c2"][0]; c2.Outcome != writeback.OutcomeApplied {
				t.Fatalf("c2, sent once t02 runs: %+v", c2)
			}
			if n := len(res["c1"]); n != 1 {
				t.Errorf("c1 has %d results: %+v", n, res["c1"])
			}
			comments := 0
			for _, w := range t2.WriteCalls() {
				if w.Status < 300 && strings.Contains(string(w.Body), comment) {
					comments++
				}
			}
			if first.Outcome == writeback.OutcomeRejected && comments > 0 {
				t.Errorf("c1 was answered %q (%s) and then applied to t02 %d time(s)", first.Outcome, first.Reason, comments)
			}
			r.stop(t)
		})
	}
	t.Run("removed-and-added-again", func(t *testing.T) {
		e := newFleetEnv(t, 2, 5)
		r := e.start(map[string]string{"WRITEBACK": "on"})
		t2 := e.fleet.Tenant("t02")
		inc := t2.IncidentIDs()[0]
		status := "under_investigation"
		e.sendCommands(writeback.Command{CommandID: "a1", Tenant: "t02", IncidentID: inc, Action: "set_status", Status: &status})
		waitFor(t, 30*time.Second, "the result of a1", func() bool { return len(e.allResults()["a1"]) > 0 })
		e.writeFile("t01")
		r.reload <- struct{}{}
		waitFor(t, 30*time.Second, "t02 to stop", func() bool { _, ok := r.tenants(t)["t02"]; return !ok })
		comment := "sent while t02 was out of the file"
		e.sendCommands(writeback.Command{CommandID: "a2", Tenant: "t02", IncidentID: inc, Action: "add_comment", Comment: &comment})
		waitFor(t, 30*time.Second, "the result of a2", func() bool { return len(e.allResults()["a2"]) > 0 })
		first := e.allResults()["a2"][0]
		t.Logf("a2 answered while t02 was out of the file: %s %q", first.Outcome, first.Reason)
		e.writeFile("t01", "t02")
		r.reload <- struct{}{}
		waitFor(t, 30*time.Second, "t02 to run again", func() bool { return r.tenants(t)["t02"].State == "running" })
		e.sendCommands(writeback.Command{CommandID: "a3", Tenant: "t02", IncidentID: inc, Action: "unassign"})
		waitFor(t, 30*time.Second, "the result of a3", func() bool { return len(e.allResults()["a3"]) > 0 })
		comments := 0
		for _, w := range t2.WriteCalls() {
			if w.Status < 300 && strings.Contains(string(w.Body), comment) {
				comments++
			}
		}
		if n := len(e.allResults()["a2"]); n != 1 || (first.Outcome == writeback.OutcomeRejected && comments > 0) {
			t.Errorf("a2: %d results %+v; applied %d time(s)", n, e.allResults()["a2"], comments)
		}
		r.stop(t)
	})
	t.Run("removed-under-a-new-first-tenant", func(t *testing.T) {
		// t02 alone applies r1; then the file names t01 alone, whose
		// applier, new, reads the commands topic from its start and
		// answers for unknown tenants, t02 now among them.
		e := newFleetEnv(t, 2, 5)
		e.writeFile("t02")
		r := e.start(map[string]string{"WRITEBACK": "on"})
		inc := e.fleet.Tenant("t02").IncidentIDs()[0]
		status := "under_investigation"
		e.sendCommands(writeback.Command{CommandID: "r1", Tenant: "t02", IncidentID: inc, Action: "set_status", Status: &status})
		waitFor(t, 30*time.Second, "the result of r1", func() bool { return len(e.allResults()["r1"]) > 0 })
		e.writeFile("t01")
		r.reload <- struct{}{}
		waitFor(t, 30*time.Second, "t01 to run", func() bool { return r.tenants(t)["t01"].State == "running" })
		// On r1's key, so in its partition after it: once r2 is
		// answered, t01's applier has read past r1.
		e.sendCommands(writeback.Command{CommandID: "r2", Tenant: "t02", IncidentID: inc, Action: "unassign"})
		waitFor(t, 30*time.Second, "the result of r2", func() bool { return len(e.allResults()["r2"]) > 0 })
		res := e.allResults()
		if rs := res["r1"]; len(rs) != 1 || rs[0].Outcome != writeback.OutcomeApplied {
			t.Errorf("r1, applied by t02 before it left the file, has results %+v", rs)
		}
		if rs := res["r2"]; len(rs) != 1 || rs[0].Outcome != writeback.OutcomeRejected {
			t.Errorf("r2, sent once t02 left the file, has results %+v", rs)
		}
		r.stop(t)
	})
	t.Run("reporter", func(t *testing.T) {
		e := newFleetEnv(t, 2, 5)
		e.writeFile("t02")
		r := e.start(map[string]string{"WRITEBACK": "on"})
		e.sendCommands(writeback.Command{CommandID: "n1", Tenant: "nobody", IncidentID: "1", Action: "unassign"})
		waitFor(t, 30*time.Second, "the result of n1", func() bool { return len(e.allResults()["n1"]) > 0 })
		e.writeFile("t01", "t02")
		r.reload <- struct{}{}
		waitFor(t, 30*time.Second, "t01 to run", func() bool { return r.tenants(t)["t01"].State == "running" })
		e.sendCommands(writeback.Command{CommandID: "n2", Tenant: "nobody", IncidentID: "1", Action: "unassign"})
		waitFor(t, 30*time.Second, "the result of n2", func() bool { return len(e.allResults()["n2"]) > 0 })
		for id, rs := range e.allResults() {
			if len(rs) != 1 {
				t.Errorf("%s has %d results: %+v", id, len(rs), rs)
			}
		}
		r.stop(t)
	})
}
