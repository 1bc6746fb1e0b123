package enrich

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// maxInWindow returns the largest number of instants that lie in one
// half-open window [t, t+w).
func maxInWindow(ts []time.Time, w time.Duration) int {
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	best, lo := 0, 0
	for hi := range s {
		for !s[hi].Before(s[lo].Add(w)) {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func TestMaxInWindowDetectsBursts(t *testing.T) {
	base := time.Unix(0, 0)
	// A token bucket with burst 10 refilling at 10/min can do this: 10 calls
	// at t=59s and 9 more at t=60s..65s — 19 in one minute.
	var ts []time.Time
	for range 10 {
		ts = append(ts, base.Add(59*time.Second))
	}
	for i := range 9 {
		ts = append(ts, base.Add(60*time.Second+time.Duration(i)*500*time.Millisecond))
	}
	if got := maxInWindow(ts, time.Minute); got != 19 {
		t.Fatalf("maxInWindow = %d, want 19", got)
	}
	// Exactly a window apart are in different windows.
	ts = []time.Time{base, base.Add(time.Minute)}
	if got := maxInWindow(ts, time.Minute); got != 1 {
		t.Fatalf("maxInWindow = %d, want 1", got)
	}
}

func TestNewLimiterValidates(t *testing.T) {
	if _, err := NewLimiter(0, time.Minute); err == nil {
		t.Error("n=0 accepted")
	}
	if _, err := NewLimiter(1, 0); err == nil {
		t.Error("window=0 accepted")
	}
	if _, err := NewLimiter(2, time.Minute, WithStartupReserve(3)); err == nil {
		t.Error("reserve > n accepted")
	}
}

// TestLimiterNeverExceedsBudget runs random schedules of workers with random
// latencies, pauses and cancellations, and checks that no window holds more
// than n acquisitions, n releases, or n server-side receive instants (a
// random instant between acquire and release, as a server would see it).
func TestLimiterNeverExceedsBudget(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		synctest.Test(t, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			n := 1 + rng.IntN(10)
			window := time.Duration(1+rng.IntN(60)) * time.Second
			workers := 1 + rng.IntN(6)
			lim, err := NewLimiter(n, window)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var acq, rel, srv []time.Time
			var wg sync.WaitGroup
			for w := range workers {
				r := rand.New(rand.NewPCG(seed, uint64(w)))
				wg.Go(func() {
					for range 40 {
						ctx, cancel := context.WithCancel(context.Background())
						if r.IntN(8) == 0 { // some callers give up
							ctx, cancel = context.WithTimeout(context.Background(), time.Duration(r.IntN(int(window)))+1)
						}
						release, err := lim.Acquire(ctx)
						cancel()
						if err != nil {
							if !errors.Is(err, context.DeadlineExceeded) {
								t.Errorf("Acquire: %v", err)
							}
							continue
						}
						a := time.Now()
						var lat time.Duration
						switch r.IntN(4) {
						case 0: // zero latency
						case 1:
							lat = time.Duration(r.Int64N(int64(window) / 10))
						case 2:
							lat = time.Duration(r.Int64N(int64(window)))
						case 3:
							lat = time.Duration(r.Int64N(3 * int64(window)))
						}
						recv := a.Add(time.Duration(r.Int64N(int64(lat) + 1)))
						time.Sleep(lat)
						release()
						if r.IntN(3) == 0 {
							release() // idempotent
						}
						mu.Lock()
						acq, rel, srv = append(acq, a), append(rel, time.Now()), append(srv, recv)
						mu.Unlock()
						if r.IntN(20) == 0 {
							lim.Pause(time.Now().Add(time.Duration(r.Int64N(int64(window)))))
						}
						if r.IntN(3) == 0 {
							time.Sleep(time.Duration(r.Int64N(int64(window))))
						}
					}
				})
			}
			wg.Wait()
			if len(acq) == 0 {
				t.Fatal("no calls made")
			}
			for name, ts := range map[string][]time.Time{"acquire": acq, "release": rel, "server": srv} {
				if got := maxInWindow(ts, window); got > n {
					t.Errorf("seed %d: %d %s instants in one %s window, limit %d", seed, got, name, window, n)
				}
			}
			if st := lim.Stats(); st.Acquired != uint64(len(acq)) {
				t.Errorf("Stats.Acquired = %d, want %d", st.Acquired, len(acq))
			}
		})
	}
}

func TestLimiterAcquireHonoursCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, _ := NewLimiter(2, time.Minute)
		r1, _ := lim.Acquire(context.Background())
		r2, _ := lim.Acquire(context.Background())

		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := lim.Acquire(ctx)
			errc <- err
		}()
		// A second waiter queued behind the one that will give up.
		got := make(chan time.Time, 1)
		go func() {
			rel, err := lim.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			got <- time.Now()
			rel()
		}()
		synctest.Wait()
		if st := lim.Stats(); st.Waiting != 2 {
			t.Fatalf("Waiting = %d, want 2", st.Waiting)
		}
		time.Sleep(5 * time.Second)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire after cancel = %v, want context.Canceled", err)
		}
		synctest.Wait()
		if st := lim.Stats(); st.Waiting != 1 {
			t.Fatalf("Waiting = %d after cancel, want 1", st.Waiting)
		}
		start := time.Now()
		r1()
		r2()
		r1() // idempotent: must not free another slot
		at := <-got
		if d := at.Sub(start); d != time.Minute {
			t.Fatalf("queued waiter got its slot after %s, want exactly one window", d)
		}
		// An already-cancelled context never takes a slot.
		if _, err := lim.Acquire(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire with done ctx = %v", err)
		}
	})
}

func TestLimiterPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, _ := NewLimiter(5, time.Minute)
		start := time.Now()
		lim.Pause(start.Add(30 * time.Second))
		lim.Pause(start.Add(10 * time.Second)) // never shortens
		rel, err := lim.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rel()
		if d := time.Since(start); d != 30*time.Second {
			t.Fatalf("Acquire returned after %s, want 30s", d)
		}
		// A pause that starts while a caller is already waiting extends the wait.
		for range 4 {
			r, _ := lim.Acquire(context.Background())
			defer r()
		}
		done := make(chan time.Time, 1)
		go func() {
			r, _ := lim.Acquire(context.Background()) // full: waits for the first slot's expiry at +90s
			done <- time.Now()
			r()
		}()
		synctest.Wait()
		lim.Pause(start.Add(2 * time.Minute))
		if d := (<-done).Sub(start); d != 2*time.Minute {
			t.Fatalf("waiter got a slot at +%s, want +2m (end of the pause)", d)
		}
		if st := lim.Stats(); !st.PausedUntil.Equal(start.Add(2 * time.Minute)) {
			t.Fatalf("PausedUntil = %v", st.PausedUntil)
		}
	})
}

func TestLimiterStartupReserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim, _ := NewLimiter(3, time.Minute, WithStartupReserve(2))
		start := time.Now()
		r, _ := lim.Acquire(context.Background())
		r()
		if time.Since(start) != 0 {
			t.Fatal("first call waited")
		}
		r, _ = lim.Acquire(context.Background())
		r()
		if d := time.Since(start); d != time.Minute {
			t.Fatalf("second call after %s, want 1m", d)
		}
	})
}

// TestLimiterThroughput: at full backlog with zero-latency calls the limiter
// delivers at least 99% of n per window.
func TestLimiterThroughput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, windows = 10, 100
		window := time.Minute
		lim, _ := NewLimiter(n, window)
		ctx, cancel := context.WithTimeout(context.Background(), windows*window)
		defer cancel()
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				for {
					rel, err := lim.Acquire(ctx)
					if err != nil {
						return
					}
					rel()
				}
			})
		}
		wg.Wait()
		st := lim.Stats()
		if min := uint64(0.99 * n * windows); st.Acquired < min {
			t.Fatalf("acquired %d calls in %d windows, want >= %d", st.Acquired, windows, min)
		}
		// Batches start at 0, W, ..., windows*W: the deadline instant may
		// still see one.
		if st.Acquired > n*(windows+1) {
			t.Fatalf("acquired %d calls in %d windows, more than %d", st.Acquired, windows, n*(windows+1))
		}
		t.Logf("acquired %d in %d windows (%.2f%% of budget), total wait %s", st.Acquired, windows,
			100*float64(st.Acquired)/(n*windows), st.Waited)
	})
}

// TestThrottleCapsAnAbsurdRetryAfter: a 429 asking for a day pauses the
// limiter for the cap, and says so. (Before, it paused for up to 24 h.)
func TestThrottleCapsAnAbsurdRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := NewLimiter(10, time.Minute, WithMaxPause(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		wait, capped := l.Throttle(&xdr.APIError{Status: 429, RetryAfter: 24 * time.Hour})
		if wait != 2*time.Minute || !capped {
			t.Fatalf("Throttle = %s, %v; want 2m, capped", wait, capped)
		}
		start := time.Now()
		release, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		release()
		if got := time.Since(start); got != 2*time.Minute {
			t.Fatalf("the next call waited %s, want the capped 2m", got)
		}
		// Without Retry-After, a whole window.
		if wait, capped := l.Throttle(errors.New("429 without header")); wait != time.Minute || capped {
			t.Fatalf("Throttle without Retry-After = %s, %v", wait, capped)
		}
	})
}

// TestPacedCallsWithinASlot: Paced makes the call once a slot is granted
// and returns its result; with every slot taken and ctx ended, it returns
// ctx's error without calling.
func TestPacedCallsWithinASlot(t *testing.T) {
	lim, err := NewLimiter(1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Paced(context.Background(), lim, func() (int, error) { return 7, nil })
	if got != 7 || err != nil {
		t.Fatalf("first call: %d, %v", got, err)
	}
	if st := lim.Stats(); st.Acquired != 1 {
		t.Fatalf("the limiter granted %d slots, want 1", st.Acquired)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	_, err = Paced(ctx, lim, func() (int, error) { called = true; return 0, nil })
	if called || !errors.Is(err, context.Canceled) {
		t.Fatalf("with the slot taken and ctx ended: called %v, err %v", called, err)
	}
}
