package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
)

// Delivery guarantees.
const (
	AtLeastOnce = "at-least-once"
	ExactlyOnce = "exactly-once"
)

// Transactional reports whether delivery mode d (a Config.Delivery value)
// writes the data records in Kafka transactions: a read_committed consumer
// then sees each record once, and that guarantee across a crash rests on the
// broker keeping its transaction state.
func Transactional(d string) bool { return d == ExactlyOnce }

// ProducerFactory builds a Kafka producer client with the connector's
// connection and producer settings (those of sink.ProducerOpts) plus opts,
// such as kgo.TransactionalID. The pipeline closes what it builds (Close).
type ProducerFactory func(opts ...kgo.Opt) (*kgo.Client, error)

// newCommitter chooses the delivery mode of cfg.Delivery, once, and builds
// the clients it needs beyond the pipeline's own with produce; it returns the
// options its sink needs too.
func newCommitter(p *Pipeline, produce ProducerFactory) (committer, []sink.Option, error) {
	switch p.cfg.Delivery {
	case "", AtLeastOnce:
		p.cfg.Delivery = AtLeastOnce
		c := &atLeastOnce{p: p, sem: make(chan struct{}, 1)}
		if p.cfg.Fencing {
			txn, err := produce(kgo.TransactionalID(TransactionalID(p.cfg.Connector, p.cfg.Tenant)))
			if err != nil {
				return nil, nil, err
			}
			c.txn = txn
		}
		return c, nil, nil
	case ExactlyOnce:
		txn, err := produce(kgo.TransactionalID(TransactionalID(p.cfg.Connector, p.cfg.Tenant)))
		if err != nil {
			return nil, nil, err
		}
		return &exactlyOnce{p: p, kcl: txn}, []sink.Option{sink.Batching()}, nil
	default:
		return nil, nil, fmt.Errorf("pipeline: unknown delivery %q", p.cfg.Delivery)
	}
}

// committer is a delivery mode: how what Kafka acknowledged becomes committed
// offsets, and which Kafka clients that takes. New chooses one, once; nothing
// else in the pipeline, and nothing outside it, branches on the mode.
type committer interface {
	// begin runs after the offsets store exists and before the offsets are
	// read, so that what is read is final.
	begin(ctx context.Context) error
	// loop commits every CommitInterval (or sooner) until ctx ends. An error
	// stops the pipeline. stopBy bounds work that must finish after ctx ends.
	loop(ctx, stopBy context.Context) error
	// finish is phase two of a graceful stop: drain what is in flight and
	// make the final commit, within ctx.
	finish(ctx context.Context) error
	// close releases the clients the mode built; it runs once, after Run.
	close()
}

// atLeastOnce produces records as they come and commits, every interval,
// offsets that cover only what Kafka has acknowledged: a crash re-reads what
// was in flight, so a record may appear twice, never zero times.
type atLeastOnce struct {
	p   *Pipeline
	sem chan struct{} // held while a commit is being written
	txn *kgo.Client   // with Config.Fencing: offsets go in fencing transactions of it (see fenced.go); else nil
}

func (c *atLeastOnce) begin(ctx context.Context) error {
	if c.txn == nil {
		return nil
	}
	if err := c.fence(ctx); err != nil {
		return fmt.Errorf("starting at-least-once delivery: %w", err)
	}
	return nil
}

func (c *atLeastOnce) loop(ctx, _ context.Context) error {
	t := time.NewTicker(c.p.cfg.CommitInterval)
	defer t.Stop()
	for nextCommit(ctx, t.C, nil) {
		err := c.commit(ctx, false)
		if errors.Is(err, ErrFenced) {
			return err // another process owns the tenant now
		}
		if err != nil && ctx.Err() == nil {
			c.p.log.Warn("committing offsets failed; retrying at the next interval", "err", err)
		}
	}
	return nil
}

// nextCommit waits for the time of the next commit: a tick, or a value on
// full (nil: never). It reports false, at once, when ctx ends first.
func nextCommit(ctx context.Context, tick <-chan time.Time, full <-chan struct{}) bool {
	select {
	case <-ctx.Done():
		return false
	case <-tick:
	case <-full:
	}
	return true
}

func (c *atLeastOnce) finish(ctx context.Context) error {
	p := c.p
	// Wait for this pipeline's records, not the client's: tenants of one
	// process share a client, and Flush would wait for every tenant's.
	if err := p.sink.Drain(ctx); err != nil {
		p.log.Warn("shutdown deadline passed with records still in flight; they will be re-read after restart", "in_flight", p.sink.Outstanding(), "err", err)
	}
	if p.isAbandoned() {
		return nil
	}
	if err := c.commit(ctx, true); err != nil {
		return fmt.Errorf("final commit: %w", err)
	}
	return nil
}

// commit writes what Kafka acknowledged. The final commit of a graceful stop
// also records the limiter's history for the next process. Commits run one at
// a time, and commit returns when ctx ends even if the write does not: with
// every broker gone, franz-go may hold an idempotent produce past its context.
func (c *atLeastOnce) commit(ctx context.Context, final bool) error {
	p := c.p
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-c.sem }()
		d := p.snapshot(final)
		write := p.store.Commit
		if c.txn != nil {
			write = func(ctx context.Context, d offsets.Delta) error {
				entries, state := p.store.Records(d)
				return transactOnce(ctx, c.txn, append(entries, state), nil)
			}
		}
		if err := write(ctx, d); err != nil {
			p.tracker.Unsnapshot(d)
			done <- err
			return
		}
		p.countCommit()
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
