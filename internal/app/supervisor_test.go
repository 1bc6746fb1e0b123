package app

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/clocktest"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// TestSupervisorBacksOffByItsClock drives a supervisor whose runs fail when
// the test says, on a clock the test moves: the times GET /tenants shows
// come from that clock, the backoff doubles from retryMin up to retryMax, and
// a run that lasted longer than retryMax — by the clock, not by the wall —
// starts the backoff over.
func TestSupervisorBacksOffByItsClock(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	const retryMin, retryMax = 20 * time.Millisecond, 50 * time.Millisecond
	v := supervisor{log: slog.New(slog.DiscardHandler), retryMin: retryMin, retryMax: retryMax, now: clk.Now, own: allTenants{}}
	ctx, cancel := context.WithCancel(context.Background())
	s := &slot{t: config.Tenant{ID: "t1"}, now: clk.Now, cancel: cancel, done: make(chan struct{})}
	started, fail := make(chan struct{}), make(chan error)
	go v.supervise(ctx, s, func(ctx context.Context, _ *slog.Logger) error {
		select {
		case started <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		select {
		case err := <-fail:
			return err
		case <-ctx.Done():
			return nil
		}
	})
	// failRun waits for the next run, moves the clock by ran while it runs,
	// fails it and returns the status once the failure is reported.
	failRun := func(n int, ran time.Duration) TenantStatus {
		t.Helper()
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d did not start", n)
		}
		clk.Add(ran)
		fail <- errors.New("the broker is gone")
		var st TenantStatus
		waitFor(t, 10*time.Second, "the failure to be reported", func() bool {
			st = s.snapshot()
			return st.State == StateFailed && st.Failures == n
		})
		return st
	}
	for _, tc := range []struct {
		ran       time.Duration // how long the run lasts by the clock
		wantDelay time.Duration
	}{
		{0, retryMin},
		{0, 2 * retryMin},
		{0, retryMax},         // 4×retryMin, capped
		{0, retryMax},         // stays at the cap
		{time.Hour, retryMin}, // a long run starts over
		{0, 2 * retryMin},     // and doubles again
	} {
		n := s.snapshot().Failures + 1
		st := failRun(n, tc.ran)
		now := clk.Now().UTC()
		if !st.Since.Equal(now) {
			t.Errorf("failure %d: since %v, want the clock's %v", n, st.Since, now)
		}
		if got := st.NextRetry.Sub(now); got != tc.wantDelay {
			t.Errorf("failure %d: next retry in %v, want %v", n, got, tc.wantDelay)
		}
		if st.Reason != "the broker is gone" {
			t.Errorf("failure %d: reason %q", n, st.Reason)
		}
	}
	cancel()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the supervisor did not stop")
	}
	if st := s.snapshot(); st.State != StateStopped {
		t.Errorf("state after the stop: %s", st.State)
	}
}
