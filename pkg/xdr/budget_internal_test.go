package xdr

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
)

// TestReplyBudgetWaitsAndGrants: a first reservation waits, in order, for
// bytes to be given back, which go to it before any later grower; a grower
// never waits; a waiter whose context ends leaves the queue holding nothing.
func TestReplyBudgetWaitsAndGrants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewReplyBudget(100)
		if err := b.acquire(t.Context(), 80); err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 2)
		go func() { got <- b.acquire(t.Context(), 30) }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(t.Context())
		go func() { got <- b.acquire(ctx, 10) }() // behind the 30: waits though it would fit
		synctest.Wait()
		if len(got) != 0 || b.InUse() != 80 {
			t.Fatalf("waiters granted early: in use %d", b.InUse())
		}
		if b.tryAcquire(30) {
			t.Fatal("a grower took more than is free")
		}
		if !b.tryAcquire(20) { // free now, waiters or not
			t.Fatal("a grower could not take free bytes")
		}
		b.release(20 + 80)
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		// Both fit once 100 are free: 30 then 10, in order.
		if err := <-got; err != nil || b.InUse() != 40 {
			t.Fatalf("second waiter: %v, in use %d", err, b.InUse())
		}
		cancel()

		// A waiter whose context ends holds nothing and blocks nobody.
		if !b.tryAcquire(60) {
			t.Fatal("grower")
		}
		ctx, cancel = context.WithCancel(t.Context())
		go func() { got <- b.acquire(ctx, 50) }()
		synctest.Wait()
		cancel()
		if err := <-got; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled waiter: %v", err)
		}
		b.release(100)
		if n, w := b.InUse(), len(b.waiters); n != 0 || w != 0 {
			t.Fatalf("in use %d, %d waiters, want none", n, w)
		}
		if b.peak != 100 {
			t.Errorf("peak %d, want 100", b.peak)
		}
	})
}
