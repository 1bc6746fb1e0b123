package sink

import (
	"context"
	"sync"
)

// room counts records in flight against a limit. A caller takes all the
// room it needs at once or waits, so two large publishes can never each hold
// part of the room while waiting for the rest: that would deadlock, since
// neither has records in flight that could free any.
type room struct {
	mu      sync.Mutex
	used    int
	limit   int
	changed chan struct{} // closed when room is freed; nil when nobody waits
}

func newRoom(limit int) *room { return &room{limit: limit} }

// acquire takes n places, waiting until they are free or ctx is done. A
// request larger than the limit is granted when the room is empty, so it
// can always complete.
func (r *room) acquire(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		if r.used+n <= r.limit || r.used == 0 {
			r.used += n
			r.mu.Unlock()
			return nil
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release frees n places.
func (r *room) release(n int) {
	r.mu.Lock()
	r.used -= n
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	r.mu.Unlock()
}

// inUse returns the places taken.
func (r *room) inUse() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used
}
