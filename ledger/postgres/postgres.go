// Package postgres is the ledger's Store on PostgreSQL through pgx/v5.
//
// Every writer of one tenant is serialized by a row lock on the tenant's row
// (SELECT ... FOR UPDATE), held from the start of Store.Write to its commit,
// so any number of servers may share one database. Bulk reads take arrays
// so a merge costs a few round trips whatever its size, and bulk writes use
// COPY or one unnest-based statement per table.
//
// A bulk read probes an index once per distinct key (see probe): joined any
// other way, the planner, misled by statistics that lag a fast-growing
// tenant, may hash-join the keys against every row the tenant has, and a
// merge would slow down as the ledger grows.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"stocksync/ledger"
)

// Store is a ledger.Store on one PostgreSQL database (and schema: the first
// schema on the connection's search_path holds the tables).
type Store struct {
	pool *pgxpool.Pool
	// readPool serves Read, so readers never wait behind writers for a
	// connection.
	readPool *pgxpool.Pool
}

var _ ledger.Store = (*Store)(nil)

// Open connects to the database at url, applies any pending migrations and
// returns the Store. url is a pgx connection string; parameters pgx does not
// know, such as search_path=name, become run-time parameters of every
// connection, which is how tests give each Store its own schema.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	// pgx prepares every statement, and after five runs PostgreSQL may
	// switch a prepared statement to a generic plan that ignores how many
	// keys an array parameter holds; for the merge's bulk lookups that plan
	// can be a hundred times slower. Planning each execution costs far less.
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		// Times come back in UTC, as the ledger writes them, so a value
		// read back equals the value written.
		c.TypeMap().RegisterType(&pgtype.Type{
			Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		registerUUID(c.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	readPool, err := pgxpool.NewWithConfig(ctx, cfg.Copy())
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	return &Store{pool: pool, readPool: readPool}, nil
}

// Pool returns the store's connection pool, for health checks, benchmarks
// and tools that need the database directly.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close releases the store's connections. It waits for connections in use
// to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	s.readPool.Close()
	return nil
}

// CreateTenant inserts a new tenant with its counters at 1. Returns
// CodeConflict if the slug (or ID) is taken.
func (s *Store) CreateTenant(ctx context.Context, t ledger.Tenant) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO tenants (tenant_id, slug, name, count_variance_threshold, clock_uncertainty, created_at, ledger_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID, t.Slug, t.Name, t.Settings.CountVarianceThreshold, t.Settings.ClockUncertainty.Microseconds(), t.CreatedAt, t.LedgerID)
	if isUniqueViolation(err) {
		return ledger.Errorf(ledger.CodeConflict, "tenant %q already exists", t.Slug)
	}
	if err != nil {
		return fmt.Errorf("insert tenant %s: %w", t.Slug, err)
	}
	return nil
}

// Write runs fn in one READ COMMITTED transaction that first locks the
// tenant's row. The lock serializes every writer of the tenant across all
// servers; READ COMMITTED (rather than REPEATABLE READ) is what lets each
// statement after the lock see everything the previous holder committed.
// It commits when fn returns nil and rolls back otherwise, returning fn's
// error unchanged. Returns CodeNotFound if the tenant does not exist.
func (s *Store) Write(ctx context.Context, tenantID uuid.UUID, fn func(ledger.Tx) error) error {
	tx, w, err := s.lockTenant(ctx, tenantID)
	if err != nil {
		return err
	}
	defer rollback(ctx, tx)
	if err := fn(w); err != nil {
		return err
	}
	if !w.leftID {
		if _, err := tx.Exec(ctx, `UPDATE tenants SET write_id = $2 WHERE tenant_id = $1`, tenantID, w.leaves); err != nil {
			return fmt.Errorf("update write id: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		if e := foreignKeyError(err); e != nil {
			return e
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// lockTenant begins a write transaction holding the tenant's row lock. It
// asks for the lock with NOWAIT and, while another writer holds it, gives
// the connection back and retries after a short jittered pause: writers
// queued on one busy tenant must not hold every pooled connection and
// stall the other tenants. Returns CodeNotFound for an unknown tenant and
// the context's error when it ends first.
func (s *Store) lockTenant(ctx context.Context, tenantID uuid.UUID) (pgx.Tx, *writeTx, error) {
	pause := time.Millisecond
	for {
		tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
		if err != nil {
			return nil, nil, fmt.Errorf("begin write: %w", err)
		}
		w := &writeTx{readTx: readTx{q: tx}, tenantID: tenantID, leaves: uuid.New()}
		var found pgtype.UUID
		err = tx.QueryRow(ctx, `SELECT next_position, next_change, write_id FROM tenants WHERE tenant_id = $1 FOR UPDATE NOWAIT`, tenantID).
			Scan(&w.state.NextPosition, &w.state.NextChange, &found)
		if err == nil {
			w.found = uuidOf(found)
			return tx, w, nil
		}
		rollback(ctx, tx)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
		}
		if e := pgError(err); e == nil || e.Code != "55P03" { // lock_not_available
			return nil, nil, fmt.Errorf("lock tenant %s: %w", tenantID, err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("lock tenant %s: %w", tenantID, ctx.Err())
		case <-time.After(pause/2 + rand.N(pause)):
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// Read runs fn in a REPEATABLE READ READ ONLY transaction: every query fn
// makes sees the same snapshot, and it takes no locks that block writers.
func (s *Store) Read(ctx context.Context, fn func(ledger.ReadTx) error) error {
	tx, err := s.readPool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer rollback(ctx, tx)
	if err := fn(&readTx{q: tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit read: %w", err)
	}
	return nil
}

// rollback ends tx unless it was committed. It ignores ctx's cancellation,
// which would otherwise make pgx close the connection instead of returning
// it to the pool.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// readTx implements ledger.ReadTx over one transaction.
type readTx struct {
	q pgx.Tx
}

var _ ledger.ReadTx = (*readTx)(nil)

// writeTx implements ledger.Tx: a readTx that holds the tenant's lock.
type writeTx struct {
	readTx
	tenantID uuid.UUID
	state    ledger.LedgerState
	// found and leaves are the tenant's write IDs (WriteIDs); leftID is
	// set once leaves is stored.
	found, leaves uuid.UUID
	leftID        bool
}

var _ ledger.Tx = (*writeTx)(nil)

// WriteIDs returns the write ID found under the lock and the one this
// transaction leaves.
func (w *writeTx) WriteIDs() (found, leaves uuid.UUID) { return w.found, w.leaves }

// Ledger returns the tenant's counters as read under the lock, or as last
// stored by SetLedger.
func (w *writeTx) Ledger() ledger.LedgerState { return w.state }

// SetLedger stores the tenant's counters, and the write ID the transaction
// leaves.
func (w *writeTx) SetLedger(ctx context.Context, s ledger.LedgerState) error {
	_, err := w.q.Exec(ctx, `UPDATE tenants SET next_position = $2, next_change = $3, write_id = $4 WHERE tenant_id = $1`,
		w.tenantID, s.NextPosition, s.NextChange, w.leaves)
	if err != nil {
		return fmt.Errorf("update ledger counters: %w", err)
	}
	w.state, w.leftID = s, true
	return nil
}

// locked returns an error unless every id is the tenant whose lock w
// holds: writing another tenant's rows would bypass that tenant's lock, and
// is a bug in the caller.
func (w *writeTx) locked(ids ...uuid.UUID) error {
	for _, t := range ids {
		if t != w.tenantID {
			return fmt.Errorf("write to tenant %s in a transaction that holds the lock of tenant %s", t, w.tenantID)
		}
	}
	return nil
}

// lockedRows is locked for the tenant of every row.
func lockedRows[T any](w *writeTx, rows []T, tenant func(T) uuid.UUID) error {
	for _, r := range rows {
		if err := w.locked(tenant(r)); err != nil {
			return err
		}
	}
	return nil
}

// Error mapping.

func pgError(err error) *pgconn.PgError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	return nil
}

func isUniqueViolation(err error) bool {
	e := pgError(err)
	return e != nil && e.Code == "23505"
}

// uniqueError turns a unique violation into CodeConflict naming what
// clashed, and wraps any other error with context.
func uniqueError(err error, what string) error {
	if err == nil {
		return nil
	}
	if e := pgError(err); e != nil && e.Code == "23505" {
		// The driver's detail names columns and internal IDs: it stays
		// out of a message callers see.
		return ledger.Errorf(ledger.CodeConflict, "%s: already exists", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// foreignKeyError turns a foreign key violation, which the deferred
// constraints report at commit, into CodeNotFound; nil for other errors.
func foreignKeyError(err error) error {
	if e := pgError(err); e != nil && e.Code == "23503" {
		return ledger.Errorf(ledger.CodeNotFound, "a referenced row does not exist")
	}
	return nil
}

// Conversions between the ledger's zero values and SQL NULL.

func nullUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: id != uuid.Nil} }

func uuidOf(u pgtype.UUID) uuid.UUID {
	if !u.Valid {
		return uuid.Nil
	}
	return u.Bytes
}

func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func timeOf(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

func nullText(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// nullDate encodes the UTC calendar day of t, as ledger.FormatDate does.
func nullDate(t time.Time) pgtype.Date {
	if t.IsZero() {
		return pgtype.Date{}
	}
	u := t.UTC()
	return pgtype.Date{Time: time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC), Valid: true}
}

func dateOf(d pgtype.Date) time.Time {
	if !d.Valid {
		return time.Time{}
	}
	return time.Date(d.Time.Year(), d.Time.Month(), d.Time.Day(), 0, 0, 0, 0, time.UTC)
}

func micros(d time.Duration) int64 { return d.Microseconds() }

func duration(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
