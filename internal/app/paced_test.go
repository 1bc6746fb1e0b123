package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
)

// TestPacerNeverExceedsTheBudget is a property over rates: whatever the
// rate r, the number of callers and the calls' latencies (zero included, the
// case in which a token bucket of burst r puts 2r calls in the first
// second), no one-second window at the server sees more than r arrivals —
// the tenant's window as xdrtest counts it: a call is refused when r calls
// arrived within (now-1s, now]. And the pacer gives up no more than the
// latency per window: with more callers than r, k·r calls take at most k
// windows of one second plus the longest latency each.
func TestPacerNeverExceedsTheBudget(t *testing.T) {
	rates := []int{1, 2, 3, 5, 7, 10, 16, 25, 40}
	seed := rand.New(rand.NewPCG(25, 1))
	for range 6 {
		rates = append(rates, 1+seed.IntN(60))
	}
	for i, r := range rates {
		for _, many := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d_per_second/many_callers=%v", r, many), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(r), uint64(i)))
					const windows = 5
					n := windows * r
					const maxLatency = 600 * time.Millisecond
					// Each call's time to reach the server and its reply's time
					// back, multiples of 100 ms from 0 to 300 ms.
					send, reply := make([]time.Duration, n), make([]time.Duration, n)
					for j := range n {
						send[j] = time.Duration(rng.IntN(4)) * 100 * time.Millisecond
						reply[j] = time.Duration(rng.IntN(4)) * 100 * time.Millisecond
					}
					callers := 1 + rng.IntN(r) // sometimes fewer than the budget
					if many {
						callers = r + 1 + rng.IntN(2*r+3) // always one waiting
					}
					lim := newPacer(r)
					calls := make(chan int, n)
					for j := range n {
						calls <- j
					}
					close(calls)
					var (
						mu       sync.Mutex
						arrivals []time.Time
						wg       sync.WaitGroup
					)
					start := time.Now()
					for range callers {
						wg.Go(func() {
							for j := range calls {
								_, err := enrich.Paced(context.Background(), lim, func() (struct{}, error) {
									time.Sleep(send[j])
									mu.Lock()
									arrivals = append(arrivals, time.Now())
									mu.Unlock()
									time.Sleep(reply[j])
									return struct{}{}, nil
								})
								if err != nil {
									t.Error(err)
								}
							}
						})
					}
					wg.Wait()
					elapsed := time.Since(start)
					slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
					for j := r; j < len(arrivals); j++ {
						if d := arrivals[j].Sub(arrivals[j-r]); d < time.Second {
							t.Fatalf("%d callers: calls %d to %d (%d calls) arrived within %s, at %s to %s: over the budget of %d a second",
								callers, j-r, j, r+1, d, arrivals[j-r].Sub(start), arrivals[j].Sub(start), r)
						}
					}
					if bound := windows * (time.Second + maxLatency); many && elapsed > bound {
						t.Errorf("%d callers: %d calls at %d a second took %s, more than %s", callers, n, r, elapsed, bound)
					}
				})
			})
		}
	}
}
