package enrich

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestHistoryCarriesTheBudgetAcrossProcesses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first, _ := NewLimiter(3, time.Second)
		for range 3 {
			release, _ := first.Acquire(context.Background())
			time.Sleep(100 * time.Millisecond)
			release()
		}
		// One call still in flight counts as stamped now.
		hist := first.History()
		if len(hist) != 3 {
			t.Fatalf("history has %d stamps, want 3", len(hist))
		}
		time.Sleep(200 * time.Millisecond)

		second, err := NewLimiter(3, time.Second, WithHistory(hist))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := second.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The oldest stamp was at 100ms; it expires at 1100ms; now is 500ms.
		if got := time.Since(start); got != 600*time.Millisecond {
			t.Errorf("first call of the successor waited %s, want 600ms", got)
		}
	})
}

func TestHistoryIgnoresExpiredStampsAndKeepsTheNewest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		l, err := NewLimiter(2, time.Second, WithHistory([]time.Time{now.Add(-2 * time.Second), now.Add(-300 * time.Millisecond), now.Add(-200 * time.Millisecond), now.Add(-100 * time.Millisecond)}))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(l.History()); got != 2 {
			t.Fatalf("kept %d stamps, want the newest 2", got)
		}
		start := time.Now()
		_, _ = l.Acquire(context.Background())
		if got := time.Since(start); got != 800*time.Millisecond {
			t.Errorf("waited %s, want 800ms (until the -200ms stamp expires)", got)
		}
	})
}
