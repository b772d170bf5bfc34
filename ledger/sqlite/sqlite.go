// Package sqlite implements ledger.Store on an embedded SQLite database
// through modernc.org/sqlite, for a single small site that wants no database
// server (DESIGN.md section 6: `stocksync serve` works out of the box on it).
//
// The database runs in WAL mode with one writer connection: SQLite allows one
// writer at a time anyway, and funnelling writes through one connection that
// starts every transaction with BEGIN IMMEDIATE means a writer takes the lock
// before it reads, so the read-modify-write of the tenant's counters can never
// fail half-way with SQLITE_BUSY. Reads run on a separate pool and see a WAL
// snapshot, so they never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"stocksync/ledger"
	"stocksync/migrations"
)

// Store is a ledger.Store on one SQLite file. It is safe for concurrent use;
// writers are serialized by SQLite's write lock, which also serializes them
// against other processes that open the same file.
type Store struct {
	writer *sql.DB
	reader *sql.DB
}

var _ ledger.Store = (*Store)(nil)

// writerPragmas are set on the writer connection. synchronous NORMAL is
// durable across application crashes in WAL mode and loses at most the last
// transactions on power loss, the usual trade for a server. journal_mode is
// not among them: see enableWAL.
const writerPragmas = "_pragma=busy_timeout(10000)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_pragma=cache_size(-262144)" +
	"&_txlock=immediate"

// readerPragmas make reader connections refuse writes, so a ReadTx can never
// write even if a caller type-asserts its way past the interface.
const readerPragmas = "_pragma=busy_timeout(10000)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=query_only(1)"

// Open opens (creating if needed) the SQLite database at file, creating its
// parent directory, and applies every migration not yet applied.
func Open(ctx context.Context, file string) (*Store, error) {
	if file == "" || file == ":memory:" || strings.HasPrefix(file, "file:") {
		// A memory database would differ between the writer and the reader
		// pool, and a URI would need its own escaping rules.
		return nil, fmt.Errorf("open sqlite ledger: %q is not a file path", file)
	}
	if strings.ContainsRune(file, '?') {
		// The driver splits its parameters off at the first '?'.
		return nil, fmt.Errorf("open sqlite ledger: path %q must not contain '?'", file)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		return nil, fmt.Errorf("open sqlite ledger: create directory: %w", err)
	}
	s := &Store{}
	var err error
	if s.writer, err = sql.Open("sqlite", file+"?"+writerPragmas); err != nil {
		return nil, fmt.Errorf("open sqlite ledger %s: %w", file, err)
	}
	// One writer connection: in-process writers queue in database/sql for
	// it, and other processes queue on the file lock (busy_timeout).
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	if err := s.enableWAL(ctx); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("open sqlite ledger %s: %w", file, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("migrate sqlite ledger %s: %w", file, err)
	}
	// The readers are opened after the migrations so the file is already in
	// WAL mode when they connect.
	if s.reader, err = sql.Open("sqlite", file+"?"+readerPragmas); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("open sqlite ledger %s: %w", file, err)
	}
	n := max(4, runtime.NumCPU())
	s.reader.SetMaxOpenConns(n)
	s.reader.SetMaxIdleConns(n)
	if err := s.reader.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite ledger %s: %w", file, err)
	}
	return s, nil
}

// DB returns the writer connection pool. It exists for tests and tools that
// need raw SQL, such as corrupting a balance on purpose to see the
// consistency check find it; the ledger never uses it.
func (s *Store) DB() *sql.DB { return s.writer }

// Close releases both connection pools. The last connection to close
// checkpoints the WAL into the database file.
func (s *Store) Close() error {
	var errs []error
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	return errors.Join(errs...)
}

// enableWAL switches the file to WAL mode, which is persistent, so readers
// opened later inherit it. It is not a DSN pragma because SQLite answers
// SQLITE_BUSY at once, ignoring busy_timeout, when two connections switch a
// new file's journal mode at the same time (two servers starting on one
// file), and a DSN pragma failing fails the connection; here it is retried.
func (s *Store) enableWAL(ctx context.Context) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		var mode string
		err := s.writer.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("journal mode is %q: the file system does not support WAL", mode)
			}
			return nil
		}
		var e *sqlite.Error
		if !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return fmt.Errorf("enable WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// busyTimeout is how long a connection waits for a lock; it matches the
// busy_timeout pragma.
const busyTimeout = 10 * time.Second

// migrate applies the embedded migrations in file-name order, each in its
// own transaction. BEGIN IMMEDIATE takes the write lock before the applied
// check, so two processes starting at once apply each file exactly once.
func (s *Store) migrate(ctx context.Context) error {
	if err := s.createMigrationsTable(ctx); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations.SQLite, "sqlite/*.sql")
	if err != nil {
		return err
	}
	for _, name := range names { // fs.Glob returns names sorted
		if err := s.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// createMigrationsTable runs in a BEGIN IMMEDIATE transaction too, though it
// is one statement: in autocommit it would read the schema under a shared
// lock and then upgrade, and SQLite answers SQLITE_BUSY at once, without
// waiting, to an upgrade that could deadlock with another opener.
func (s *Store) createMigrationsTable(ctx context.Context) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) migrateFile(ctx context.Context, name string) error {
	version := strings.TrimSuffix(path.Base(name), ".sql")
	body, err := fs.ReadFile(migrations.SQLite, name)
	if err != nil {
		return err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		version, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

// CreateTenant inserts a tenant with both counters at 1. Returns
// ledger.CodeConflict if the slug (or the ID) is taken.
func (s *Store) CreateTenant(ctx context.Context, t ledger.Tenant) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO tenants
		(tenant_id, slug, name, count_variance_threshold, clock_uncertainty, created_at, ledger_id)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Slug, t.Name, t.Settings.CountVarianceThreshold, durationMicros(t.Settings.ClockUncertainty),
		t.CreatedAt.UnixMicro(), t.LedgerID)
	if isUniqueViolation(err) {
		return ledger.Errorf(ledger.CodeConflict, "tenant %q already exists", t.Slug)
	}
	if err != nil {
		return fmt.Errorf("create tenant %q: %w", t.Slug, err)
	}
	return nil
}

// Write runs fn in one BEGIN IMMEDIATE transaction on the writer connection.
// SQLite's write lock is database-wide, so holding it is holding every
// tenant's ledger lock, across processes too. Returns ledger.CodeNotFound if
// the tenant does not exist, and fn's error unchanged.
//
// fn must not call Write again: there is one writer connection, and it is
// taken. Calling Read from fn works, and sees the state before fn's writes.
func (s *Store) Write(ctx context.Context, tenantID uuid.UUID, fn func(ledger.Tx) error) error {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write for tenant %s: %w", tenantID, err)
	}
	defer sqlTx.Rollback()
	tx := &writeTx{readTx: readTx{tx: sqlTx}, tenantID: tenantID, leaves: uuid.New()}
	var found uuid.NullUUID
	err = sqlTx.QueryRowContext(ctx, `SELECT next_position, next_change, write_id FROM tenants WHERE tenant_id = ?`, tenantID).
		Scan(&tx.state.NextPosition, &tx.state.NextChange, &found)
	tx.found = found.UUID
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
	}
	if err != nil {
		return fmt.Errorf("read ledger state of tenant %s: %w", tenantID, err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	if !tx.leftID {
		if _, err := sqlTx.ExecContext(ctx, `UPDATE tenants SET write_id = ? WHERE tenant_id = ?`, tx.leaves, tenantID); err != nil {
			return fmt.Errorf("update write id of tenant %s: %w", tenantID, err)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		if isForeignKeyViolation(err) {
			// Deferred foreign keys report at commit; the PostgreSQL store
			// answers the same.
			return ledger.Errorf(ledger.CodeNotFound, "a referenced row does not exist")
		}
		return fmt.Errorf("commit write for tenant %s: %w", tenantID, err)
	}
	return nil
}

// Read runs fn in a read-only transaction on the reader pool. In WAL mode
// the transaction reads one snapshot, fixed at its first query, and never
// blocks or is blocked by the writer.
func (s *Store) Read(ctx context.Context, fn func(ledger.ReadTx) error) error {
	sqlTx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer sqlTx.Rollback()
	if err := fn(&readTx{tx: sqlTx}); err != nil {
		return err
	}
	// Commit rather than roll back so a driver error at the end of the
	// snapshot is reported, not swallowed.
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("end read: %w", err)
	}
	return nil
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY
// constraint failure, which the stores report as ledger.CodeConflict.
func isForeignKeyViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// Column encodings (see migrations/sqlite/0001_ledger.sql).

func fromMicros(x int64) time.Time { return time.UnixMicro(x).UTC() }

// nullMicros stores the zero time, which means "never", as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(x sql.NullInt64) time.Time {
	if !x.Valid {
		return time.Time{}
	}
	return fromMicros(x.Int64)
}

func durationMicros(d time.Duration) int64 { return int64(d / time.Microsecond) }

func fromDurationMicros(x int64) time.Duration { return time.Duration(x) * time.Microsecond }

// nullUUID stores an absent optional reference as NULL. Key columns never go
// through it: there uuid.Nil is a value (ledger.NoBatch).
func nullUUID(u uuid.UUID) any {
	if u == uuid.Nil {
		return nil
	}
	return u.String()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ledger.FormatDate(t)
}

func fromNullDate(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	return ledger.ParseDate(s.String)
}

// jsonList encodes a list as one JSON array parameter for json_each, so a
// query takes any number of values without a parameter-count limit. An empty
// or nil list is "[]", which matches nothing.
func jsonList[T any](v []T) string {
	if len(v) == 0 {
		return "[]"
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Strings and UUIDs always marshal.
		panic(err)
	}
	return string(b)
}

// jsonKeys encodes keys as [[location, item, batch], ...] for
// `(location_id, item_id, batch_id) IN (SELECT value->>0, value->>1,
// value->>2 FROM json_each(?))`.
func jsonKeys(keys []ledger.Key) string {
	a := make([][3]uuid.UUID, len(keys))
	for i, k := range keys {
		a[i] = [3]uuid.UUID{k.LocationID, k.ItemID, k.BatchID}
	}
	return jsonList(a)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
