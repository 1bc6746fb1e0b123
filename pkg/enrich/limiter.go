package enrich

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Limiter is the connector's one rate limiter for get_incident_extra_data: a
// sliding log that admits at most n calls in any window, as the server sees
// them.
//
// A slot is in use from Acquire until window after its release function is
// called. Callers release when the HTTP response (or the timeout, or the
// error) came back, so the server received the call before the release
// stamp; two calls that share a slot are therefore at least window apart at
// the server, whatever the latency, and no safety margin is needed. Retries
// and calls that timed out hold a slot like any other call.
//
// Waiters are served in arrival order. All methods are safe for concurrent
// use; one Limiter is shared by all enrichment workers. The Limiter reads the
// time package's clock (tests run it inside testing/synctest bubbles).
type Limiter struct {
	n        int
	window   time.Duration
	maxPause time.Duration // longest pause one 429 imposes

	mu       sync.Mutex
	active   int         // acquired, not yet released
	released []time.Time // release stamps still inside the window, ascending
	paused   time.Time   // no acquisitions before this instant
	waiters  []*waiter   // FIFO; only waiters[0] may take a slot

	acquired uint64
	waited   time.Duration
}

type waiter struct {
	wake chan struct{} // buffered(1): "re-check the state"
}

// LimiterOption configures a Limiter.
type LimiterOption func(*Limiter) error

// WithStartupReserve counts k slots as released at construction, so the
// first window admits only n-k calls. Use it (typically with k = n) when a
// previous process may have spent the budget moments before this one
// started, to avoid a burst of 429s after a quick restart. k must lie in
// [0, n].
func WithStartupReserve(k int) LimiterOption {
	return func(l *Limiter) error {
		if k < 0 || k > l.n {
			return fmt.Errorf("startup reserve %d outside [0, %d]", k, l.n)
		}
		now := time.Now()
		for range k {
			l.released = append(l.released, now)
		}
		return nil
	}
}

// NewLimiter returns a Limiter that admits at most n calls in any window.
// n must be at least 1 and window positive.
func NewLimiter(n int, window time.Duration, opts ...LimiterOption) (*Limiter, error) {
	if n < 1 {
		return nil, fmt.Errorf("creating limiter: n must be at least 1, got %d", n)
	}
	if window <= 0 {
		return nil, fmt.Errorf("creating limiter: window must be positive, got %s", window)
	}
	l := &Limiter{n: n, window: window, maxPause: xdr.DefaultMaxRetryAfter, released: make([]time.Time, 0, n)}
	for _, o := range opts {
		if err := o(l); err != nil {
			return nil, fmt.Errorf("creating limiter: %w", err)
		}
	}
	return l, nil
}

// Paced makes call once lim grants a slot (Acquire), and releases the slot
// when call returns. It returns ctx's error, without calling, when ctx ends
// first.
func Paced[T any](ctx context.Context, lim *Limiter, call func() (T, error)) (T, error) {
	release, err := lim.Acquire(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	defer release()
	return call()
}

// Acquire blocks until a slot is free and the limiter is not paused, then
// takes the slot. The returned release function stamps the slot with the
// time it is called; the slot stays in use until window after that. Call
// release exactly when the call's outcome is known (response, timeout or
// error); further calls are no-ops.
//
// If ctx is done before a slot is granted, Acquire returns ctx.Err() and
// takes nothing.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	l.mu.Lock()
	if len(l.waiters) == 0 {
		if ok, _ := l.available(start); ok {
			l.take(start)
			l.mu.Unlock()
			return l.releaser(), nil
		}
	}
	w := &waiter{wake: make(chan struct{}, 1)}
	l.waiters = append(l.waiters, w)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var next time.Time
		if l.waiters[0] == w {
			now := time.Now()
			ok, at := l.available(now)
			if ok {
				l.waiters = l.waiters[1:]
				l.take(start)
				l.wakeHead()
				l.mu.Unlock()
				return l.releaser(), nil
			}
			next = at // zero: only a release can change things
		}
		l.mu.Unlock()

		var timeout <-chan time.Time
		if !next.IsZero() {
			d := time.Until(next)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			timeout = timer.C
		}
		select {
		case <-w.wake:
		case <-timeout:
		case <-ctx.Done():
			l.mu.Lock()
			l.removeWaiter(w)
			l.mu.Unlock()
			return nil, ctx.Err()
		}
		l.mu.Lock()
	}
}

// available reports whether a slot may be taken at now; if not, it returns
// the instant at which that could change without any release, or the zero
// time when only a release can help. l.mu must be held.
func (l *Limiter) available(now time.Time) (bool, time.Time) {
	l.prune(now)
	if now.Before(l.paused) {
		return false, l.paused
	}
	if l.active+len(l.released) < l.n {
		return true, time.Time{}
	}
	if len(l.released) == 0 {
		return false, time.Time{}
	}
	return false, l.released[0].Add(l.window)
}

// prune forgets release stamps that are a full window old. l.mu must be held.
func (l *Limiter) prune(now time.Time) {
	i := 0
	for i < len(l.released) && !now.Before(l.released[i].Add(l.window)) {
		i++
	}
	if i > 0 {
		l.released = append(l.released[:0], l.released[i:]...)
	}
}

// take records a granted slot. l.mu must be held.
func (l *Limiter) take(requested time.Time) {
	l.active++
	l.acquired++
	l.waited += time.Since(requested)
}

// wakeHead nudges the first waiter to re-check. l.mu must be held.
func (l *Limiter) wakeHead() {
	if len(l.waiters) == 0 {
		return
	}
	select {
	case l.waiters[0].wake <- struct{}{}:
	default:
	}
}

func (l *Limiter) removeWaiter(w *waiter) {
	for i, x := range l.waiters {
		if x == w {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			if i == 0 {
				l.wakeHead()
			}
			return
		}
	}
}

func (l *Limiter) releaser() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			now := time.Now()
			l.active--
			// Stamps normally arrive in order; keep the log sorted if the
			// clock stepped back.
			i := sort.Search(len(l.released), func(i int) bool { return l.released[i].After(now) })
			l.released = append(l.released, time.Time{})
			copy(l.released[i+1:], l.released[i:])
			l.released[i] = now
			// The head may have been waiting with no timer (all slots
			// active); it now has an expiry to wait for.
			l.wakeHead()
		})
	}
}

// Pause blocks acquisitions until the given instant, for example the end of
// a 429's Retry-After. A pause never shortens an earlier, longer one. Slots
// already granted are unaffected.
func (l *Limiter) Pause(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.paused) {
		l.paused = until
		l.wakeHead()
	}
}

// LimiterStats is a snapshot of a Limiter's counters.
type LimiterStats struct {
	Acquired    uint64        // slots granted since construction
	Waited      time.Duration // total time callers spent blocked in Acquire before a grant
	InUse       int           // slots acquired and not released, or released less than a window ago
	Waiting     int           // callers blocked in Acquire now
	PausedUntil time.Time     // zero or past when not paused
}

// Stats returns a snapshot of the counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(time.Now())
	return LimiterStats{
		Acquired:    l.acquired,
		Waited:      l.waited,
		InUse:       l.active + len(l.released),
		Waiting:     len(l.waiters),
		PausedUntil: l.paused,
	}
}

// Window returns the limiter's window.
func (l *Limiter) Window() time.Duration { return l.window }

// Limit returns how many calls the limiter admits per window.
func (l *Limiter) Limit() int { return l.n }

// WithMaxPause caps the pause one 429 can impose (see Throttle); default
// xdr.DefaultMaxRetryAfter.
func WithMaxPause(d time.Duration) LimiterOption {
	return func(l *Limiter) error {
		if d <= 0 {
			return fmt.Errorf("max pause %s must be positive", d)
		}
		l.maxPause = d
		return nil
	}
}

// Throttle is the policy for a 429 answer: every call pauses for the answer's
// Retry-After, or for a whole window when it gives none, since the server's
// window is then unknown; never longer than the limiter's max pause
// (WithMaxPause), in which case capped is true. It returns the pause.
func (l *Limiter) Throttle(err error) (wait time.Duration, capped bool) {
	wait, capped = xdr.RetryWait(err, l.window, l.maxPause)
	l.Pause(time.Now().Add(wait))
	return wait, capped
}
