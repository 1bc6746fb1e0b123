package app

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// runApplier runs, until cancel, tenant acme's write-back applier a over
// env's xdr.commands with api and kcl; done receives what its Run returns.
func runApplier(t *testing.T, ctx context.Context, env *testkit.Env, api writeback.API, kcl *kgo.Client) (a *writeback.Applier, runCtx context.Context, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	a, err := writeback.New(writeback.Config{Connector: "c", Policy: writeback.Policy{Tenant: "acme", Enabled: true, Actions: writeback.DefaultActions},
		CommandsTopic: "xdr.commands", ResultsTopic: "xdr.command-results", OffsetsTopic: testkit.OffsetsTopic, CreateTopics: true,
		ClientOpts: env.ConnOpts()}, api, kcl)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel = context.WithCancel(ctx)
	out := make(chan error, 1)
	go func() { out <- a.Run(runCtx) }()
	return a, runCtx, cancel, out
}

// TestWritebackSharesThePollPacing: a burst of commands drains through the
// tenant's paced API while a poll loop runs on the same pacing: the tenant's
// strict per-second budget refuses nothing, and the poll loop keeps getting
// its share (the applier has one request in flight at a time, so a poll
// waits behind at most one).
func TestWritebackSharesThePollPacing(t *testing.T) {
	const perSecond = 25
	// The tenant's budget is exactly the pacing rate: the pacer never
	// puts more calls in one second.
	env := testkit.New(t, xdrtest.Config{Seed: 4, Incidents: 30, RequestsPerSecond: perSecond})
	pa := paced(env.API, perSecond)
	kcl := env.Producer()
	defer kcl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(kcl).CreateTopics(ctx, 1, 1, nil, "xdr.commands"); err != nil {
		t.Fatal(err)
	}
	ids := env.Sim.IncidentIDs()
	const n = 30
	for i := range n {
		sev := []string{"low", "medium", "high"}[i%3]
		b, _ := json.Marshal(writeback.Command{CommandID: fmt.Sprint("b", i), Tenant: "acme", IncidentID: ids[i%len(ids)], Action: "set_severity", Severity: &sev})
		if err := kcl.ProduceSync(ctx, &kgo.Record{Topic: "xdr.commands", Key: []byte("acme/" + ids[i%len(ids)]), Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	a, runCtx, cancel, done := runApplier(t, ctx, env, pa, kcl)

	var polls atomic.Int64
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		for runCtx.Err() == nil {
			if _, err := pa.GetIncidents(runCtx, xdr.IncidentsRequest{SearchTo: 100}); err == nil {
				polls.Add(1)
			}
		}
	}()
	testkit.WaitFor(t, 60*time.Second, "the burst applied", func() bool { return a.Counts().Applied == n })
	during := polls.Load()
	cancel()
	<-pollDone
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := env.Sim.CountPaced429(); got != 0 {
		t.Errorf("%d calls refused by the tenant's budget, want 0", got)
	}
	// The applier made 2 reads and 1 write per command.
	if during < n {
		t.Errorf("the poll loop made %d polls while %d write-back calls went out: starved", during, 3*n)
	}
}
