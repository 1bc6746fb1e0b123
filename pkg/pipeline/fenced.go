package pipeline

import (
	"context"

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
func WithOffsetsProducer(kcl *kgo.Client) Option {
	return func(p *Pipeline) {
		if c, ok := p.commit.(*atLeastOnce); ok {
			c.txn = kcl
		}
	}
}

// fence commits a transaction holding only the fence record, so that this
// client's producer id is initialised and every older one is fenced.
func (c *atLeastOnce) fence(ctx context.Context) error {
	return c.p.transact(ctx, c.txn, func() ([]*kgo.Record, []context.Context) {
		return []*kgo.Record{c.p.store.FenceRecord()}, nil
	})
}
