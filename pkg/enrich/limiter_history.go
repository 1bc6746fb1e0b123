package enrich

import (
	"fmt"
	"slices"
	"time"
)

// WithHistory seeds the limiter with the release stamps of calls a previous
// process made (for example read back from the offsets topic after a clean
// shutdown), so a restart cannot put more than n calls in one window.
// Stamps older than a window are ignored; at most n are kept (the newest).
func WithHistory(stamps []time.Time) LimiterOption {
	return func(l *Limiter) error {
		now := time.Now()
		var keep []time.Time
		for _, s := range stamps {
			if now.Before(s.Add(l.window)) {
				keep = append(keep, s)
			}
		}
		slices.SortFunc(keep, func(a, b time.Time) int { return a.Compare(b) })
		if len(keep) > l.n {
			keep = keep[len(keep)-l.n:]
		}
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
