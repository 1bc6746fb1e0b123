package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestStartSaysWhichRedriveRequestsItApplies writes two redrive requests
// after a first run, and reads the log of the next start: one line names
// their count and incidents; the start after that, with the requests
// applied, says nothing of them.
func TestStartSaysWhichRedriveRequestsItApplies(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 41, Incidents: 4, MaxAlerts: 2, RateWindow: 100 * time.Millisecond})
	cfg := testConfig(e, 100*time.Millisecond)
	r := start(e, cfg)
	testkit.WaitFor(t, 30*time.Second, "the first run to drain", func() bool { return drained(r.p, e.Sim) })
	r.stop(t)

	kcl := e.Producer()
	defer kcl.Close()
	store, err := offsets.NewStore(kcl, offsets.StoreConfig{Topic: cfg.Offsets, Connector: cfg.Connector, Tenant: cfg.Tenant, ClientOpts: cfg.ClientOpts})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids := e.Sim.IncidentIDs()
	for _, id := range ids[:2] {
		if err := kcl.ProduceSync(ctx, store.RedriveRecord(offsets.RedriveValue{IncidentID: id, ModificationTime: 1, FailedAt: 1})).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	startLogged := func() string {
		t.Helper()
		var buf testkit.LogBuffer
		r := start(e, cfg, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
		<-r.p.Ready()
		testkit.WaitFor(t, 30*time.Second, "the run to drain", func() bool { return drained(r.p, e.Sim) })
		r.stop(t)
		return buf.String()
	}
	var lines []string
	for l := range strings.Lines(startLogged()) {
		if strings.Contains(l, "applying redrive requests") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "count=2") || !strings.Contains(lines[0], ids[0]) || !strings.Contains(lines[0], ids[1]) {
		t.Fatalf("the start after two redrive requests logs %q, want one line with count=2 and incidents %s, %s", lines, ids[0], ids[1])
	}
	if out := startLogged(); strings.Contains(out, "redrive") {
		t.Fatalf("a start with the requests applied logs them again:\n%s", out)
	}
}
