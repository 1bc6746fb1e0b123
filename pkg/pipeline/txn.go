package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrFenced means another instance with the same transactional id — the
// same connector name and tenant — has started. This one must stop: retrying
// would split the brain.
var ErrFenced = errors.New("fenced by another instance with the same CONNECTOR_NAME and tenant; this instance stops")

// txnRetryFor bounds how long one transaction is retried (a broker outage)
// before the pipeline stops; a restart resumes from the last committed
// transaction.
const txnRetryFor = 2 * time.Minute

// ErrTxnNotAuthorized means the Kafka principal may not use the connector's
// transactional id: an ACL is missing (Write and Describe on the
// TransactionalId resource), not another instance. Retrying cannot fix it.
var ErrTxnNotAuthorized = errors.New("the Kafka principal may not use this transactional id: grant Write and Describe on the TransactionalId resource (exactly-once delivery, and scale-out in either mode, need it)")

// IsFenced reports whether err says that a newer producer with this
// client's transactional id has ended its producer id. Besides
// PRODUCER_FENCED and INVALID_PRODUCER_EPOCH, that is INVALID_TXN_STATE:
// how a coordinator (KIP-890) answers the commit of a transaction that a
// newer producer's start aborted one epoch on. The client cannot use its
// producer id again (franz-go then fails every BeginTransaction with it).
func IsFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.InvalidTxnState)
}

// notAuthorized wraps err with ErrTxnNotAuthorized when Kafka refused the
// transactional id itself; nil otherwise.
func notAuthorized(err error) error {
	if errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		return fmt.Errorf("%w: %w", ErrTxnNotAuthorized, err)
	}
	return nil
}

// exactlyOnce collects the records of every Publish (the sink batches them)
// and writes each batch in one Kafka transaction together with the offsets
// that cover it, so a read_committed consumer sees each record exactly once.
// The transactional id (TransactionalID) fences any older instance.
type exactlyOnce struct {
	p      *Pipeline
	kcl    *kgo.Client // built with the tenant's transactional id; every record and offset goes through it
	broken atomic.Bool // a transaction failed: commit nothing more
}

func (c *exactlyOnce) close() { c.kcl.Close() }

// begin fences any older instance and settles its open transaction before
// the offsets are read, so what is read is final.
func (c *exactlyOnce) begin(ctx context.Context) error {
	store := c.p.store
	if err := c.p.transact(ctx, c.kcl, func() ([]*kgo.Record, []context.Context) {
		return []*kgo.Record{store.FenceRecord()}, nil
	}); err != nil {
		return fmt.Errorf("starting exactly-once delivery: %w", err)
	}
	return nil
}

// finish writes the last batch, with the offsets of a clean stop.
func (c *exactlyOnce) finish(ctx context.Context) error {
	if err := c.commitTxn(ctx, true); err != nil {
		return fmt.Errorf("final transaction: %w", err)
	}
	return nil
}

// transact writes the records that build returns in one transaction of
// the transactional client cl, retrying with fresh records (build is called
// per attempt) for up to txnRetryFor when the transaction fails for a reason
// other than fencing or a refused transactional id.
func (p *Pipeline) transact(ctx context.Context, cl *kgo.Client, build func() ([]*kgo.Record, []context.Context)) error {
	start := time.Now()
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		recs, ctxs := build()
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := transactOnce(actx, cl, recs, ctxs)
		cancel()
		if err == nil || errors.Is(err, ErrFenced) || ctx.Err() != nil {
			return err
		}
		if na := notAuthorized(err); na != nil {
			return na
		}
		if time.Since(start) > txnRetryFor {
			return fmt.Errorf("writing a transaction (%d attempts in %s): %w", attempt, time.Since(start).Round(time.Second), err)
		}
		p.log.Warn("transaction failed; retrying", "attempt", attempt, "records", len(recs), "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// transactOnce writes recs (each produced with its context in ctxs, when
// given) in one transaction of cl. It reports ErrFenced (wrapped) when a
// newer client with the same transactional id has fenced this one.
func transactOnce(ctx context.Context, cl *kgo.Client, recs []*kgo.Record, ctxs []context.Context) error {
	if err := cl.BeginTransaction(); err != nil {
		// An earlier attempt could not end its transaction (the broker was
		// gone): abort it now, then begin again.
		_ = cl.AbortBufferedRecords(ctx)
		if abort := cl.EndTransaction(ctx, kgo.TryAbort); abort != nil {
			if IsFenced(abort) {
				return fmt.Errorf("%w: %w", ErrFenced, abort)
			}
			return fmt.Errorf("aborting an unfinished transaction: %w", abort)
		}
		if err := cl.BeginTransaction(); err != nil {
			if IsFenced(err) {
				return fmt.Errorf("%w: %w", ErrFenced, err)
			}
			return fmt.Errorf("beginning transaction: %w", err)
		}
	}
	var (
		mu    sync.Mutex
		first error
	)
	for i, r := range recs {
		rctx := context.WithoutCancel(ctx)
		if ctxs != nil && ctxs[i] != nil {
			rctx = ctxs[i]
		}
		cl.Produce(rctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	flushErr := cl.Flush(ctx)
	mu.Lock()
	cause := first
	mu.Unlock()
	if cause == nil {
		cause = flushErr
	}
	if cause == nil {
		end := cl.EndTransaction(ctx, kgo.TryCommit)
		if end == nil {
			return nil
		}
		if IsFenced(end) {
			return fmt.Errorf("%w: %w", ErrFenced, end)
		}
		// The commit's outcome is unconfirmed: abort, which bumps the epoch
		// and fences whatever the broker may still hold of it.
		if abort := cl.EndTransaction(ctx, kgo.TryAbort); IsFenced(abort) {
			return fmt.Errorf("%w: %w", ErrFenced, abort)
		}
		return fmt.Errorf("committing transaction: %w", end)
	}
	if IsFenced(cause) {
		return fmt.Errorf("%w: %w", ErrFenced, cause)
	}
	_ = cl.AbortBufferedRecords(ctx)
	if abort := cl.EndTransaction(ctx, kgo.TryAbort); IsFenced(abort) {
		return fmt.Errorf("%w: %w", ErrFenced, abort)
	}
	return fmt.Errorf("producing in transaction: %w", cause)
}

// commitTxn writes, in one transaction, every record published since the
// previous one and the offsets that cover them. The batch counts as
// acknowledged when the offsets are computed; if the transaction then fails
// for good, Run stops and the next run resumes from the last committed one,
// so nothing computed from that assumption survives.
func (c *exactlyOnce) commitTxn(ctx context.Context, final bool) error {
	p := c.p
	if c.broken.Load() {
		return errors.New("an earlier transaction failed; nothing more is committed by this run")
	}
	batch := p.sink.TakeBatch()
	batch.Settle(nil)
	pending, state := p.store.Records(p.snapshot(final))
	err := p.transact(ctx, c.kcl, func() ([]*kgo.Record, []context.Context) {
		recs, ctxs := batch.Records()
		for _, r := range append(pending, state) {
			recs = append(recs, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
			ctxs = append(ctxs, nil)
		}
		return recs, ctxs
	})
	if err != nil {
		// Returned, not logged: the loop (or the final stop) that owns the
		// work stops the pipeline with it.
		c.broken.Store(true)
		return fmt.Errorf("transaction failed, so this run commits nothing more: %w", err)
	}
	p.countCommit()
	return nil
}

// loop commits a transaction every CommitInterval, or sooner when the
// batch grows large, until ctx ends. A transaction under way when ctx ends is
// finished under stopBy, which ends SHUTDOWN_TIMEOUT after a stop begins (or
// at a crash). A transaction that fails for good stops the pipeline.
func (c *exactlyOnce) loop(ctx, stopBy context.Context) error {
	t := time.NewTicker(c.p.cfg.CommitInterval)
	defer t.Stop()
	for nextCommit(ctx, t.C, c.p.sink.BatchFull()) {
		if err := c.commitTxn(stopBy, false); err != nil {
			if stopBy.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}
