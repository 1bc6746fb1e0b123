// Package clocktest provides a manually advanced clock for tests.
//
// A Clock reads the time it was created with until a test moves it with Add;
// it never moves by itself. It is safe for concurrent use: code under test
// may call Now from any goroutine while the test calls Add. Pass its Now
// method wherever a func() time.Time is expected.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a manual clock. Create it with New.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock that reads start until it is moved.
func New(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock by d, which may be negative.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
