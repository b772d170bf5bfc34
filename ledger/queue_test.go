package ledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// writers returns how many writers hold or wait for tenantID's turn.
func (q *writeQueue) writers(tenantID uuid.UUID) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t := q.turns[tenantID]; t != nil {
		return t.writers
	}
	return 0
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
	}
}

func TestWriteQueueServesWritersInArrivalOrder(t *testing.T) {
	var q writeQueue
	ctx := context.Background()
	tenant, other := uuid.New(), uuid.New()
	release, err := q.wait(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	// Another tenant never waits behind this one.
	releaseOther, err := q.wait(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	releaseOther()

	const n = 20
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := q.wait(ctx, tenant)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			r()
		}()
		// The next writer arrives only once this one is in line.
		waitFor(t, func() bool { return q.writers(tenant) == i+2 })
	}
	release()
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("writers took their turns in order %v, want arrival order", order)
		}
	}
	if len(order) != n {
		t.Fatalf("%d of %d writers ran", len(order), n)
	}
	if q.writers(tenant) != 0 || len(q.turns) != 0 {
		t.Fatalf("queue keeps %d lines after everyone left", len(q.turns))
	}
}

func TestWriteQueueWaiterGivesUpWhenItsContextEnds(t *testing.T) {
	var q writeQueue
	tenant := uuid.New()
	release, err := q.wait(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := q.wait(ctx, tenant)
		done <- err
	}()
	waitFor(t, func() bool { return q.writers(tenant) == 2 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter returned %v, want context.Canceled", err)
	}
	if got := q.writers(tenant); got != 1 {
		t.Fatalf("%d writers in line after the waiter left, want 1", got)
	}
	release()
	// The turn is free again.
	r, err := q.wait(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	r()
	if len(q.turns) != 0 {
		t.Fatal("queue keeps a line after everyone left")
	}
}
