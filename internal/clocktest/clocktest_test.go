package clocktest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/clocktest"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		adds []time.Duration
		want time.Time
	}{
		{"no add keeps the start", nil, start},
		{"zero add", []time.Duration{0}, start},
		{"one add", []time.Duration{time.Second}, start.Add(time.Second)},
		{"adds accumulate", []time.Duration{time.Second, time.Minute, time.Millisecond}, start.Add(time.Minute + time.Second + time.Millisecond)},
		{"negative add moves back", []time.Duration{time.Hour, -90 * time.Minute}, start.Add(-30 * time.Minute)},
	}
	for _, tt := range tests {
		c := clocktest.New(start)
		for _, d := range tt.adds {
			c.Add(d)
		}
		if got := c.Now(); !got.Equal(tt.want) {
			t.Errorf("%s: Now() = %v, want %v", tt.name, got, tt.want)
		}
		// Reading does not move it.
		if got := c.Now(); !got.Equal(tt.want) {
			t.Errorf("%s: second Now() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestClockConcurrent is for the race detector: concurrent Add and Now must
// not race, and no Add may be lost.
func TestClockConcurrent(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	c := clocktest.New(start)
	const goroutines, adds = 8, 100
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range adds {
				c.Add(time.Millisecond)
				if c.Now().Before(start) {
					t.Error("clock went back")
				}
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(goroutines*adds*time.Millisecond); !got.Equal(want) {
		t.Errorf("Now() = %v, want %v", got, want)
	}
}
