package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// WithOffsetsProducer makes at-least-once delivery write the offsets in
// transactions of kcl, a client built with the tenant's transactional id
// (TransactionalID), while data records keep going through the pipeline's
// own client. The first transaction, at start-up and before the offsets are
// read, fences every earlier writer of the tenant's offsets and settles its
// open transaction; from then on a fenced writer's commits are refused
// (ErrFenced) and its pipeline stops. This is how a process that lost a
// tenant to another without noticing (a zombie) is kept from overwriting the
// new owner's offsets. Exactly-once delivery ignores it: its one
// transactional client fences already. The caller closes kcl after Run.
func WithOffsetsProducer(kcl *kgo.Client) Option { return func(p *Pipeline) { p.offsetsTxn = kcl } }

// fence commits a transaction holding only the fence record, so that this
// client's producer id is initialised and every older one is fenced.
func (c *atLeastOnce) fence(ctx context.Context) error {
	rec := c.p.store.FenceRecord()
	start, wait := time.Now(), 100*time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := writeTxn(actx, c.txn, []*kgo.Record{rec})
		cancel()
		if err == nil || errors.Is(err, ErrFenced) || ctx.Err() != nil {
			return err
		}
		if na := notAuthorized(err); na != nil {
			return na
		}
		if time.Since(start) > txnRetryFor {
			return fmt.Errorf("fencing earlier writers of the offsets (%d attempts): %w", attempt, err)
		}
		c.p.log.Warn("fencing earlier writers of the offsets failed; retrying", "attempt", attempt, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// writeTxn writes recs in one transaction of the transactional client cl
// and reports ErrFenced (wrapped) when a newer client with the same
// transactional id has fenced this one.
func writeTxn(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	fenced := func(err error) error {
		if isFenced(err) {
			return fmt.Errorf("%w: %w", ErrFenced, err)
		}
		return err
	}
	if err := cl.BeginTransaction(); err != nil {
		if isFenced(err) {
			return fenced(err)
		}
		// An earlier transaction could not be ended: abort it first.
		_ = cl.AbortBufferedRecords(ctx)
		if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
			return fenced(fmt.Errorf("aborting an unfinished offsets transaction: %w", err))
		}
		if err := cl.BeginTransaction(); err != nil {
			return fenced(fmt.Errorf("beginning an offsets transaction: %w", err))
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		_ = cl.AbortBufferedRecords(ctx)
		if abort := cl.EndTransaction(ctx, kgo.TryAbort); isFenced(abort) {
			return fenced(abort)
		}
		return fenced(fmt.Errorf("writing offsets in a transaction: %w", err))
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		if isFenced(err) {
			return fenced(err)
		}
		// Unconfirmed: abort, which fences what the broker may still hold.
		if abort := cl.EndTransaction(ctx, kgo.TryAbort); isFenced(abort) {
			return fenced(abort)
		}
		return fmt.Errorf("committing an offsets transaction: %w", err)
	}
	return nil
}
