package pipeline

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// With Config.Fencing, at-least-once delivery writes the offsets in
// transactions of a client of its own, built with the tenant's transactional
// id (TransactionalID), while data records keep going through the pipeline's
// client. The first transaction, at start-up and before the offsets are
// read, fences every earlier writer of the tenant's offsets and settles its
// open transaction; from then on a fenced writer's commits are refused
// (ErrFenced) and its pipeline stops. This is how a process that lost a
// tenant to another without noticing (a zombie) is kept from overwriting the
// new owner's offsets. Exactly-once delivery fences always: its one
// transactional client carries the same id.

// fence commits a transaction holding only the fence record, so that this
// client's producer id is initialised and every older one is fenced.
func (c *atLeastOnce) fence(ctx context.Context) error {
	return c.p.transact(ctx, c.txn, func() ([]*kgo.Record, []context.Context) {
		return []*kgo.Record{c.p.store.FenceRecord()}, nil
	})
}

// close aborts a transaction of the offsets writer that a failed run left
// open — until it ends, no read_committed reader gets past it, the next
// run's load of the offsets included — and closes the writer.
func (c *atLeastOnce) close() {
	if c.txn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = c.txn.AbortBufferedRecords(ctx)
	_ = c.txn.EndTransaction(ctx, kgo.TryAbort)
	cancel()
	c.txn.Close()
}
