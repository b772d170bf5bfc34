package ledger

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/uuid"
)

// writeQueue lines up this process's writers of each tenant in arrival
// order before they ask the store for the tenant's ledger lock.
//
// The store's lock is what serializes writers, across every server sharing
// the database; the queue only decides which of this process's writers asks
// next. Without it, at shift end hundreds of pushes of one tenant would
// poll for the lock at once and win it in random order: some would wait
// many times longer than the rest, and every poll costs the database work.
// With it, one writer per tenant and process asks, and the others wait their
// turn in order (Go serves a channel's waiting senders first come, first
// served).
type writeQueue struct {
	mu    sync.Mutex
	turns map[uuid.UUID]*turn
}

// turn is one tenant's place in line: a one-slot channel held by the writer
// whose turn it is, and the number of writers holding or waiting for it.
type turn struct {
	slot    chan struct{}
	writers int
}

// wait blocks until it is the caller's turn to write tenantID's ledger, or
// ctx ends. The caller must call the returned release when done.
func (q *writeQueue) wait(ctx context.Context, tenantID uuid.UUID) (release func(), err error) {
	q.mu.Lock()
	if q.turns == nil {
		q.turns = map[uuid.UUID]*turn{}
	}
	t := q.turns[tenantID]
	if t == nil {
		t = &turn{slot: make(chan struct{}, 1)}
		q.turns[tenantID] = t
	}
	t.writers++
	q.mu.Unlock()

	select {
	case t.slot <- struct{}{}:
		return func() {
			<-t.slot
			q.leave(tenantID, t)
		}, nil
	case <-ctx.Done():
		q.leave(tenantID, t)
		return nil, fmt.Errorf("wait to write the ledger of tenant %s: %w", tenantID, ctx.Err())
	}
}

// leave forgets a tenant's line once nobody is in it.
func (q *writeQueue) leave(tenantID uuid.UUID, t *turn) {
	q.mu.Lock()
	defer q.mu.Unlock()
	t.writers--
	if t.writers == 0 {
		delete(q.turns, tenantID)
	}
}

// write runs fn in a store write transaction of tenantID once it is this
// caller's turn (see writeQueue). Every write of the ledger goes through it.
func (l *Ledger) write(ctx context.Context, tenantID uuid.UUID, fn func(Tx) error) error {
	return l.writeThen(ctx, tenantID, fn, nil)
}

// writeThen is write, and then done with its outcome (when not nil) before
// the next writer of the tenant in this process starts.
func (l *Ledger) writeThen(ctx context.Context, tenantID uuid.UUID, fn func(Tx) error, done func(error)) error {
	release, err := l.queue.wait(ctx, tenantID)
	if err != nil {
		return err
	}
	defer release()
	err = l.store.Write(ctx, tenantID, fn)
	if done != nil {
		done(err)
	}
	return err
}

// writeKeepingKnown is write for what changes none of the state a merge
// keeps in memory (ledger/known.go): devices, credentials, users and
// settings. What this process knew of the tenant before stays known
// after, under the write ID the transaction leaves.
func (l *Ledger) writeKeepingKnown(ctx context.Context, tenantID uuid.UUID, fn func(Tx) error) error {
	var known *knownState
	var found, leaves uuid.UUID
	return l.writeThen(ctx, tenantID, func(tx Tx) error {
		found, leaves = tx.WriteIDs()
		known = l.known.take(tenantID, found)
		return fn(tx)
	}, func(err error) { l.known.finish(tenantID, known, found, leaves, err, false) })
}
