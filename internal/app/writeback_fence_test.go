package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kgo"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestWritebackFencedApplierStopsForGood: in at-least-once mode, where the
// tenant's offsets are fenced, newApplier gives the applier a transactional
// writer of WritebackTransactionalID; the applier of the tenant's next owner
// fences it, and runWriteback then stops it for good (a restart would fence
// the new owner back) while the new owner applies the commands.
func TestWritebackFencedApplierStopsForGood(t *testing.T) {
	env := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 10})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := config.Load(ctx, envconfig.MapLookuper(map[string]string{
		"XDR_BASE_URL": env.BaseURL, "XDR_API_KEY_ID": env.KeyID, "XDR_API_KEY": env.Key, "XDR_TENANT": "acme",
		"KAFKA_BROKERS": strings.Join(env.Brokers, ","), "WRITEBACK": "on"}))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.LogBuffer{}
	s := shared{cfg: cfg, log: slog.New(slog.NewJSONHandler(logs, nil)), connOpts: env.ConnOpts(), stderr: io.Discard,
		obs: &observability{tracerProvider: tracenoop.NewTracerProvider(), meterProvider: metricnoop.NewMeterProvider()}}
	tn := TenantOf(cfg)
	start := func(name string) (*writeback.Applier, <-chan struct{}) {
		kcl := env.Producer()
		t.Cleanup(kcl.Close)
		log := s.log.With("applier", name)
		a, owned, err := newApplier(s, tn, paced(env.API, 10), kcl, false, true, log)
		if err != nil || a == nil || owned == nil {
			t.Fatalf("newApplier: %v, %v, %v", a, owned, err)
		}
		t.Cleanup(owned.Close)
		done := runWriteback(ctx, a, log)
		testkit.WaitFor(t, 10*time.Second, name+" started", a.Started)
		return a, done
	}
	first, firstDone := start("first")
	second, secondDone := start("second")

	id := env.Sim.IncidentIDs()[0]
	b, _ := json.Marshal(writeback.Command{CommandID: "z1", Tenant: tn.ID, IncidentID: id, Action: "unassign"})
	soar := env.Producer()
	defer soar.Close()
	if err := soar.ProduceSync(ctx, &kgo.Record{Topic: cfg.CommandTopicsOf("").Commands, Key: []byte(tn.ID + "/" + id), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-firstDone:
	case <-time.After(30 * time.Second):
		t.Fatalf("the fenced applier did not stop; logs:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "write-back stopped: another process now applies") {
		t.Errorf("no log line says the fenced applier stopped; logs:\n%s", logs)
	}
	testkit.WaitFor(t, 30*time.Second, "the new owner to apply the command", func() bool { return second.Counts().Applied == 1 })
	if c := first.Counts(); c.Applied+c.Rejected+c.Failed != 0 {
		t.Errorf("the fenced applier answered a command: %+v", c)
	}
	if n := len(env.Sim.WriteCalls()); n != 1 {
		t.Errorf("%d write calls, want 1", n)
	}
	cancel()
	<-secondDone
}
