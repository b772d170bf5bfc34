package server

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a set of token buckets, one per key (a device, a tenant, a
// client address).
//
// The buckets live in this process only: with several servers behind a
// load balancer each enforces its own share, so the effective limit is a
// multiple of the configured one. That is acceptable because the limits
// only protect the servers and the database from overload; correctness
// never depends on them. Everything that must be serialized (a device's
// sequence, a tenant's recorded position, balance checks) already is, in
// the database.
type limiter struct {
	scope string
	limit rate.Limit
	burst int
	off   bool
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

// newLimiter returns a limiter with rate r and burst b; zero values take
// the defaults and a negative rate turns the limiter off.
func newLimiter(scope string, r float64, b int, defRate float64, defBurst int, now func() time.Time) (*limiter, error) {
	l := &limiter{scope: scope, now: now, buckets: map[string]*bucket{}}
	if r < 0 {
		l.off = true
		return l, nil
	}
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return nil, fmt.Errorf("server: %s rate must be a finite number, got %v", scope, r)
	}
	if r == 0 {
		r = defRate
	}
	if b == 0 {
		b = defBurst
	}
	if b < 1 {
		return nil, fmt.Errorf("server: %s burst must be at least 1, got %d", scope, b)
	}
	l.limit, l.burst = rate.Limit(r), b
	return l, nil
}

// allow takes a token from key's bucket. When the bucket is empty it
// returns false and how long until a token is available.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l.off {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.used = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		// The client is told to come back instead of being held here.
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops, at most once a minute, the buckets idle long enough to be
// full again: a new bucket for the same key starts full, so forgetting
// them changes nothing and keeps memory bounded by the active keys.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	refill := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	idle := max(refill, time.Minute)
	for k, b := range l.buckets {
		if now.Sub(b.used) > idle {
			delete(l.buckets, k)
		}
	}
}

// retryAfterSeconds rounds a wait up to whole seconds, at least one, as
// the Retry-After header needs.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
