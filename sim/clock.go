package sim

import (
	"sync"
	"time"
)

// simEpoch is where every seed's virtual clock starts, so that a seed's
// dates (and so its expired batches and generated codes) never depend on
// when the test runs.
var simEpoch = time.Date(2025, 3, 3, 6, 0, 0, 0, time.UTC)

// Clock is the virtual clock of one run. Nothing waits on it: time moves
// when the scheduler says so, or when a client "sleeps" through a backoff.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at simEpoch.
func NewClock() *Clock { return &Clock{t: simEpoch} }

// Now is the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d (never backwards).
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
