package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// phaseTopics names the topics of one phase, so phases sharing the broker
// never read each other's records.
func phaseTopics(prefix string) (sink.Topics, string) {
	return sink.Topics{Incidents: prefix + ".incidents", Alerts: prefix + ".alerts",
		Artifacts: prefix + ".artifacts", DLQ: prefix + ".dlq"}, prefix + ".offsets"
}

// runningPipeline is the real pipeline between a simulated tenant and the
// broker, running in this process.
type runningPipeline struct {
	p      *pipeline.Pipeline
	cancel context.CancelFunc
	done   chan error
	close  func()
}

// startPipeline runs the pipeline over sim from startFrom (epoch ms) with the
// tenant's rate budget, and waits until it is ready.
func startPipeline(ctx context.Context, sim *xdrtest.Tenant, brokerAddr, prefix string, simCfg xdrtest.Config,
	poll time.Duration, startFrom int64, opts ...pipeline.Option) (*runningPipeline, error) {
	api, _, stopSim, err := newSimClient(sim)
	if err != nil {
		return nil, err
	}
	conn := []kgo.Opt{kgo.SeedBrokers(brokerAddr)}
	kcl, err := kgo.NewClient(append(slices.Clone(conn), sink.ProducerOpts()...)...)
	if err != nil {
		stopSim()
		return nil, fmt.Errorf("creating the Kafka client: %w", err)
	}
	topics, offsetsTopic := phaseTopics(prefix)
	p, err := pipeline.New(pipeline.Config{
		Connector: "bench-" + prefix, Tenant: "sim", Topics: topics, Offsets: offsetsTopic,
		CreateTopics: true, Partitions: -1, Replication: -1, StartFrom: startFrom,
		Source:    source.Config{PollInterval: poll, Lookback: 2 * time.Minute},
		RateLimit: simCfg.RateLimit, RateWindow: simCfg.RateWindow,
		Enrich:         enrich.Config{Workers: enrich.DefaultWorkers, CallTimeout: 10 * time.Second},
		CommitInterval: time.Second, ShutdownTimeout: 10 * time.Second, ClientOpts: conn,
	}, api, kcl, opts...)
	if err != nil {
		kcl.Close()
		stopSim()
		return nil, fmt.Errorf("creating the pipeline: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	rp := &runningPipeline{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { rp.done <- p.Run(rctx) }()
	rp.close = func() { kcl.Close(); stopSim() }
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-p.Ready():
		return rp, nil
	case err = <-rp.done:
		err = fmt.Errorf("pipeline stopped before it was ready: %w", err)
		rp.done <- nil
	case <-timer.C:
		err = errors.New("pipeline not ready within 30s")
	}
	rp.stop()
	return nil, err
}

// stop stops the pipeline gracefully and returns Run's error.
func (rp *runningPipeline) stop() error {
	rp.cancel()
	err := <-rp.done
	rp.close()
	return err
}

// runMutations changes sim with mc until ctx is done or mc.Steps are done,
// in a goroutine; the returned function stops it and waits.
func runMutations(ctx context.Context, sim *xdrtest.Tenant, mc xdrtest.MutationConfig) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- sim.RunMutations(ctx, mc) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
}

// waitUntil checks cond every 50ms until it holds (true), d passes or ctx
// ends (false).
func waitUntil(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}
