package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"stocksync/ledger"
)

// errCrash is what a simulated server crash looks like to the ledger: the
// transaction did not finish, and the request fails with an internal error
// (the client sees a 500, as it would see a reset connection).
var errCrash = errors.New("sim: server crashed")

// busyError is shaped like modernc.org/sqlite's *Error for SQLITE_BUSY:
// code 5 behind a Code method, which is what code that retries busy looks
// at.
type busyError struct{}

func (busyError) Error() string { return "database is locked (5) (SQLITE_BUSY)" }
func (busyError) Code() int     { return 5 }

// dbError returns an error shaped like what the databases answer for the
// fault kind.
func dbError(kind string) error {
	switch kind {
	case FaultSerialization:
		return &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access due to concurrent update"}
	case FaultDiskFull:
		return &pgconn.PgError{Severity: "ERROR", Code: "53100", Message: "could not extend file: No space left on device"}
	case FaultBusy:
		return busyError{}
	}
	return errCrash
}

// storeFaults are the server-side fault kinds, one of which a faulty Write
// gets.
var storeFaults = []string{
	FaultBeforeBegin, FaultAfterMovements, FaultAfterBalances, FaultBeforeCommit,
	FaultAfterCommit, FaultSerialization, FaultBusy, FaultDiskFull,
}

// FaultStore wraps a real ledger.Store and, while armed, makes a seeded
// share of its writes fail at one point of the transaction: before it
// begins, after the movements or the balances are written (the store then
// rolls back), after the ledger's work succeeded but before commit, and
// after the real commit (a crash before the answer left). Injected database
// errors surface from the transaction's first write. Reads and everything
// else pass through unchanged.
//
// It is not safe for concurrent use: the simulation drives it from one
// goroutine, which is what keeps a seed's choices in order.
type FaultStore struct {
	ledger.Store
	rng *rand.Rand
	// Rate is the share of writes that fail while armed.
	Rate   float64
	armed  bool
	faults Faults
}

// NewFaultStore wraps inner; choices come from rng and are counted in
// faults.
func NewFaultStore(inner ledger.Store, rng *rand.Rand, rate float64, faults Faults) *FaultStore {
	return &FaultStore{Store: inner, rng: rng, Rate: rate, faults: faults}
}

// Arm turns fault injection on or off.
func (s *FaultStore) Arm(on bool) { s.armed = on }

// Write runs fn in the inner store's transaction, failing it as chosen.
func (s *FaultStore) Write(ctx context.Context, tenantID uuid.UUID, fn func(ledger.Tx) error) error {
	if !s.armed || s.rng.Float64() >= s.Rate {
		return s.Store.Write(ctx, tenantID, fn)
	}
	kind := storeFaults[s.rng.IntN(len(storeFaults))]
	switch kind {
	case FaultBeforeBegin:
		s.faults[kind]++
		return fmt.Errorf("%w: %s", errCrash, kind)
	case FaultAfterCommit:
		if err := s.Store.Write(ctx, tenantID, fn); err != nil {
			return err
		}
		s.faults[kind]++
		return fmt.Errorf("%w: %s", errCrash, kind)
	}
	fired := false
	err := s.Store.Write(ctx, tenantID, func(tx ledger.Tx) error {
		ftx := &faultTx{Tx: tx, kind: kind, fired: &fired}
		if err := fn(ftx); err != nil {
			return err
		}
		if kind == FaultBeforeCommit {
			fired = true
			return fmt.Errorf("%w: %s", errCrash, kind)
		}
		return nil
	})
	if fired {
		s.faults[kind]++
	}
	return err
}

// faultTx fails the transaction at its fault point.
type faultTx struct {
	ledger.Tx
	kind  string
	fired *bool
}

// dbFault fails the first write of a transaction that gets a database
// error, before the write runs.
func (t *faultTx) dbFault() error {
	switch t.kind {
	case FaultSerialization, FaultBusy, FaultDiskFull:
		if !*t.fired {
			*t.fired = true
			return dbError(t.kind)
		}
	}
	return nil
}

func (t *faultTx) InsertOps(ctx context.Context, rows []ledger.OpRecord) error {
	if err := t.dbFault(); err != nil {
		return err
	}
	return t.Tx.InsertOps(ctx, rows)
}

func (t *faultTx) InsertMovements(ctx context.Context, rows []ledger.Movement) error {
	if err := t.dbFault(); err != nil {
		return err
	}
	if err := t.Tx.InsertMovements(ctx, rows); err != nil {
		return err
	}
	if t.kind == FaultAfterMovements && !*t.fired {
		*t.fired = true
		return fmt.Errorf("%w: %s", errCrash, t.kind)
	}
	return nil
}

func (t *faultTx) AddBalances(ctx context.Context, tenantID uuid.UUID, change int64, deltas []ledger.BalanceDelta) error {
	if err := t.dbFault(); err != nil {
		return err
	}
	if err := t.Tx.AddBalances(ctx, tenantID, change, deltas); err != nil {
		return err
	}
	if t.kind == FaultAfterBalances && !*t.fired {
		*t.fired = true
		return fmt.Errorf("%w: %s", errCrash, t.kind)
	}
	return nil
}
