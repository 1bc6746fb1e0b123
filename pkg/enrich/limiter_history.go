package enrich

import (
	"fmt"
	"slices"
	"time"
)

// Resume returns the limiter of a process that takes over from an earlier
// one. After a clean stop (clean true) it is seeded with the stamps of the
// calls that process made last (epoch ms, as it wrote them with History), so
// the restart cannot put more than n calls in one window. Otherwise — after a
// crash, or with no earlier state at all (another client of the same API key
// may have been replaced by this one) — the calls made just before this start
// are unknown, and the whole first window is treated as spent.
//
// opts are applied after the restored history.
func Resume(n int, window time.Duration, clean bool, stamps []int64, opts ...LimiterOption) (*Limiter, error) {
	if !clean {
		return NewLimiter(n, window, append([]LimiterOption{WithStartupReserve(n)}, opts...)...)
	}
	ts := make([]time.Time, len(stamps))
	for i, ms := range stamps {
		ts[i] = time.UnixMilli(ms)
	}
	return NewLimiter(n, window, append([]LimiterOption{WithHistory(ts)}, opts...)...)
}

// Counting returns the stamps that still count at now against a window of
// n calls per window, as a limiter seeded with them (WithHistory) counts
// them: those less than a window old, the newest n at most, oldest first.
func Counting(stamps []time.Time, n int, window time.Duration, now time.Time) []time.Time {
	var keep []time.Time
	for _, s := range stamps {
		if now.Before(s.Add(window)) {
			keep = append(keep, s)
		}
	}
	slices.SortFunc(keep, func(a, b time.Time) int { return a.Compare(b) })
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return keep
}

// WithHistory seeds the limiter with the release stamps of calls a previous
// process made (for example read back from the offsets topic after a clean
// shutdown), so a restart cannot put more than n calls in one window.
// Stamps older than a window are ignored; at most n are kept (the newest).
func WithHistory(stamps []time.Time) LimiterOption {
	return func(l *Limiter) error {
		keep := Counting(stamps, l.n, l.window, time.Now())
		if len(l.released)+len(keep) > l.n {
			return fmt.Errorf("history of %d calls and a reserve of %d exceed the limit %d", len(keep), len(l.released), l.n)
		}
		l.released = append(l.released, keep...)
		slices.SortFunc(l.released, func(a, b time.Time) int { return a.Compare(b) })
		return nil
	}
}

// History returns the stamps of the calls that still count against the
// window: released calls with their release stamps, and calls still in flight
// stamped now (the latest they could have reached the server so far). A
// process writes it at shutdown so its successor can seed WithHistory.
func (l *Limiter) History() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.prune(now)
	out := slices.Clone(l.released)
	for range l.active {
		out = append(out, now)
	}
	return out
}
