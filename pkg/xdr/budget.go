package xdr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// DefaultReplyBudget is the ReplyBudget size a process uses unless told
// otherwise, 32 MiB: room for a reply of DefaultMaxReplyBytes while it
// grows (MinReplyBudget, 24 MiB) beside hundreds of the usual replies of a
// few kilobytes. With the decoded copies a reply becomes (a few times its
// size, briefly, while it is decoded) it stays within a 256 MiB container
// beside the connector's own peak (about 135 MiB with 100,000 incidents
// waiting for enrichment).
const DefaultReplyBudget = 2 * DefaultMaxReplyBytes

// MinReplyBudget is the smallest ReplyBudget in which a reply of limit
// bytes can be read: the most its buffer holds at once, which is when it
// doubles for the last time (the old buffer and its copy; 24 MiB for
// 16 MiB).
func MinReplyBudget(limit int64) int64 {
	c := min(limit, firstReserve)
	most := c
	for c < limit {
		next := min(2*c, limit)
		most = max(most, c+next)
		c = next
	}
	return most
}

// firstReserve is what a reply reserves before its first byte: most replies
// fit in it; a larger one doubles its buffer, reserving each growth.
const firstReserve = 16 << 10

// ReplyBudget bounds the reply bytes that all Clients sharing it (every
// tenant of a process, with WithReplyBudget) hold at once: a weighted
// semaphore of bytes. A reply reserves its buffer's capacity before
// allocating it and gives it back once the reply is decoded (or has
// failed); the bytes of an error reply (at most 64 KiB each) and the decoded
// reply the caller keeps are not counted.
//
// A reply waits for its first reservation (firstReserve bytes, or its cap
// if smaller), first come first served, until the call's timeout: it holds
// nothing while it waits. A reply that would have to wait to grow — holding
// part of the budget while others hold the rest — fails at once with
// ErrReplyBudget and gives back what it held instead, so replies never wait
// on each other in a cycle and one tenant's flood of large replies cannot
// hold up another's small one. Bytes given back go to the waiting replies
// first. It is safe for concurrent use.
type ReplyBudget struct {
	size int64

	mu      sync.Mutex
	used    int64
	peak    int64           // the most used has been: for tests
	waiters []*budgetWaiter // first reservations waiting, oldest first
}

// budgetWaiter is a first reservation waiting for room; ready is closed
// once its n bytes are granted.
type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

// ErrReplyBudget marks a reply that could not grow within the process's
// ReplyBudget because other replies held it. Retryable: the budget frees up
// as those replies are decoded.
var ErrReplyBudget = errors.New("xdr: reply budget of the process in use by other replies")

// NewReplyBudget returns a budget of size bytes (at least 1).
func NewReplyBudget(size int64) *ReplyBudget { return &ReplyBudget{size: max(size, 1)} }

// Size is the budget's size in bytes.
func (b *ReplyBudget) Size() int64 { return b.size }

// InUse is the number of bytes replies hold now.
func (b *ReplyBudget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// acquire takes n bytes, waiting behind earlier waiters until they fit or
// ctx ends.
func (b *ReplyBudget) acquire(ctx context.Context, n int64) error {
	if n > b.size {
		return fmt.Errorf("%w: %d bytes exceed its size, %d", ErrReplyBudget, n, b.size)
	}
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.size {
		b.take(n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		b.used -= n
	default:
		b.waiters = slices.DeleteFunc(b.waiters, func(x *budgetWaiter) bool { return x == w })
	}
	b.grant() // those behind w may fit now
	return ctx.Err()
}

// tryAcquire takes n bytes if they are free now, ahead of any waiter: a
// growing reply holds bytes already and must not wait.
func (b *ReplyBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.size {
		return false
	}
	b.take(n)
	return true
}

// release gives n bytes back, to the waiters first.
func (b *ReplyBudget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.grant()
}

// grant hands free bytes to the waiters in order while the oldest fits.
// b.mu is held.
func (b *ReplyBudget) grant() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.size {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.take(w.n)
		close(w.ready)
	}
}

// take counts n more bytes in use. b.mu is held.
func (b *ReplyBudget) take(n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
}

// WithReplyBudget makes the Client count its reply bodies against b, shared
// with other Clients; b's size must be at least
// MinReplyBudget(Config.MaxReplyBytes).
// Default: no process-wide bound, only Config.MaxReplyBytes per reply. A nil
// b is ignored.
func WithReplyBudget(b *ReplyBudget) Option {
	return func(c *Client) {
		if b != nil {
			c.budget = b
		}
	}
}

// reservation is what one reply holds of a budget (nil: none).
type reservation struct {
	b    *ReplyBudget
	held int64
}

// wait reserves n bytes, waiting for them until ctx ends.
func (r *reservation) wait(ctx context.Context, n int64) error {
	if r.b == nil {
		return nil
	}
	if err := r.b.acquire(ctx, n); err != nil {
		return err
	}
	r.held += n
	return nil
}

// grow reserves n more bytes if they are free now.
func (r *reservation) grow(n int64) bool {
	if r.b == nil {
		return true
	}
	if !r.b.tryAcquire(n) {
		return false
	}
	r.held += n
	return true
}

// free gives back n of the bytes held.
func (r *reservation) free(n int64) {
	if r.b == nil || n == 0 {
		return
	}
	r.held -= n
	r.b.release(n)
}

// release gives back everything held.
func (r *reservation) release() { r.free(r.held) }

// readLimited reads r to its end into a buffer of at most limit bytes,
// reserving from res every byte of capacity before allocating it (the
// buffer doubles, so a reply of n bytes holds at most 2n, and 3n for the
// instant of a copy). More than limit bytes fail with ErrReplyTooLarge
// after limit are read: a decompressed body is never buffered beyond its
// cap. ctx bounds the wait for the first reservation.
func readLimited(ctx context.Context, r io.Reader, limit int64, res *reservation) ([]byte, error) {
	first := min(limit, firstReserve)
	if err := res.wait(ctx, first); err != nil {
		return nil, fmt.Errorf("waiting for room in the reply budget: %w", err)
	}
	buf := make([]byte, 0, first)
	for {
		if len(buf) == cap(buf) {
			if int64(cap(buf)) >= limit {
				// Full: one more byte means too large.
				var probe [1]byte
				n, err := io.ReadAtLeast(r, probe[:], 1)
				switch {
				case n > 0:
					return nil, fmt.Errorf("reading reply body: %w: more than %d bytes", ErrReplyTooLarge, limit)
				case errors.Is(err, io.EOF):
					return buf, nil
				default:
					return nil, bodyError(err)
				}
			}
			next := min(2*int64(cap(buf)), limit)
			if !res.grow(next) {
				return nil, fmt.Errorf("reading reply body: %w (growing past %d bytes)", ErrReplyBudget, cap(buf))
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			res.free(int64(cap(buf)))
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, bodyError(err)
		}
	}
}
