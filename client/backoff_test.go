package client

import (
	"testing"
	"time"
)

// TestBackoffStaysInItsWindow: however many attempts a device is allowed
// and however long its base delay, every wait is between 0 and MaxDelay,
// and the window doubles until it reaches MaxDelay.
func TestBackoffStaysInItsWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		base, max time.Duration
	}{
		{"defaults", DefaultBaseDelay, DefaultMaxDelay},
		{"a minute doubled past int64", time.Minute, 10 * time.Minute},
		{"base above max", time.Hour, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, func(o *Options) { o.BaseDelay, o.MaxDelay, o.MaxAttempts = tc.base, tc.max, 200 })
			for n := 1; n < 200; n++ {
				window := tc.max
				if n < 20 {
					window = min(tc.max, tc.base<<(n-1))
				}
				for range 5 {
					if d := f.c.backoff(n); d < 0 || d > window {
						t.Fatalf("backoff(%d) = %s, want within [0, %s]", n, d, window)
					}
				}
			}
		})
	}
}
