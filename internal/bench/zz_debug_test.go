package bench

import (
	"context"
	"testing"
	"time"
)

func TestDebugBudget(t *testing.T) {
	for range 3 {
		b, err := runBudget(context.Background(), Config{RateLimit: 10, RateWindow: 2 * time.Second, BudgetWindows: 30})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("ours %+v", b.Ours)
		t.Logf("naive %+v", b.Naive)
	}
}
