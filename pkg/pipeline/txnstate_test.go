package pipeline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fenceOnAck fences the client it hooks, once armed, when one of its
// records is acknowledged: the newer client with the same transactional id
// initialises its producer id in the middle of the hooked client's
// transaction, before that transaction ends.
type fenceOnAck struct {
	armed atomic.Bool
	fence func()
}

func (h *fenceOnAck) OnProduceRecordUnbuffered(_ *kgo.Record, err error) {
	if err == nil && h.armed.CompareAndSwap(true, false) {
		h.fence()
	}
}

// TestTransactionFencedWhileOpen fences a transactional client while its
// transaction is open, its records written, as a new owner's start does to
// the previous owner's offsets commit under way. The coordinator answers
// the commit INVALID_TXN_STATE (the transaction was aborted one epoch on),
// not PRODUCER_FENCED, and the client's producer id is dead from then on:
// the commit and every later transaction of the client must report
// ErrFenced, so that the pipeline stops as a fenced one, instead of a
// failed commit the at-least-once loop retries for ever while the old
// owner goes on polling the tenant.
func TestTransactionFencedWhileOpen(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "offsets"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.TransactionalID("xdr-kafka-connector/test/sim")}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	rec := func() []*kgo.Record { return []*kgo.Record{{Topic: "offsets", Key: []byte("k"), Value: []byte("v")}} }

	fenced := make(chan error, 1)
	hook := &fenceOnAck{fence: func() {
		_, _, err := client().ProducerID(ctx)
		fenced <- err
	}}
	old := client(kgo.WithHooks(hook))
	if err := transactOnce(ctx, old, rec(), nil); err != nil {
		t.Fatalf("first transaction: %v", err)
	}
	hook.armed.Store(true)
	err = transactOnce(ctx, old, rec(), nil)
	if ferr := <-fenced; ferr != nil {
		t.Fatalf("the new owner's producer id: %v", ferr)
	}
	if !errors.Is(err, ErrFenced) {
		t.Errorf("the commit of the transaction a newer client fenced: %v, want ErrFenced", err)
	}
	if err := transactOnce(ctx, old, rec(), nil); !errors.Is(err, ErrFenced) {
		t.Errorf("the next transaction of the fenced client: %v, want ErrFenced", err)
	}
}
