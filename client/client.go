// Package client is the device side of stocksync (DESIGN.md section 5): a
// handheld's own SQLite database, the outbox of operations it recorded
// offline, the optimistic stock it shows, and the sync engine that pushes
// the outbox to the server and pulls the catalog, balances and the managers'
// decisions back.
//
// Every operation is written, with its seq, in one SQLite transaction
// before Record returns, and no operation is ever deleted: not when the
// server acknowledges it (a server restored from a backup may ask for it
// again), not on a rejection, a revoked token, or a replaced server
// database. The client speaks only the wire protocol of package syncproto;
// it knows nothing of the server's internals.
package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"stocksync/migrations"
	"stocksync/syncproto"
)

// Defaults of Options.
const (
	DefaultChunkSize   = 500
	DefaultMaxAttempts = 6
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 60 * time.Second
	DefaultHTTPTimeout = 60 * time.Second
)

// Options configure a Client. The zero value is usable: every field has a
// default.
type Options struct {
	// Now is the device clock; tests set it to control recorded times.
	Now func() time.Time
	// Logger receives the sync engine's retries and recoveries; nil
	// discards them.
	Logger *slog.Logger
	// HTTPClient sends the requests; nil uses one with a 60 s timeout.
	HTTPClient *http.Client
	// AppVersion is reported to the server at enrollment and with every
	// sync request, so managers can see which devices need an update.
	AppVersion string
	// MaxAttempts bounds how many times Sync sends one request that keeps
	// failing with a retryable error (5xx, 429, network) before it gives
	// up and reports the error; the operations stay in the outbox for the
	// next Sync. Default 6.
	MaxAttempts int
	// ChunkSize is how many operations one push carries at most (default
	// 500, never more than syncproto.MaxOpsPerPush). Pushes are also kept
	// under syncproto.MaxBodyBytes.
	ChunkSize int
	// PullLimit is the rows asked for per pull page (default and at most
	// syncproto.MaxPullLimit). Fewer, larger pages make a first pull
	// faster; each page is applied in one transaction, which a Record
	// made meanwhile waits for (about 0.1 s for 5,000 rows on a 2-core
	// server).
	PullLimit int
	// BaseDelay and MaxDelay shape the exponential backoff between
	// retries: a random wait between 0 and min(MaxDelay, BaseDelay×2^n),
	// never shorter than the server's Retry-After.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// Rand is the jitter source; nil seeds one from the clock. Tests pass
	// a seeded one to replay a run.
	Rand *rand.Rand
	// Sleep waits d or until ctx is done; nil uses a timer. Tests replace
	// it to observe backoff without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	o.ChunkSize = min(o.ChunkSize, syncproto.MaxOpsPerPush)
	if o.PullLimit <= 0 {
		o.PullLimit = syncproto.MaxPullLimit
	}
	o.PullLimit = min(o.PullLimit, syncproto.MaxPullLimit)
	if o.BaseDelay <= 0 {
		o.BaseDelay = DefaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.Rand == nil {
		seed := uint64(time.Now().UnixNano())
		o.Rand = rand.New(rand.NewPCG(seed, seed>>1|1))
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Errors of the device's own state. Errors that come from the server are
// *syncproto.Error values with the server's code; local validation errors
// are *syncproto.Error values with the operation-level code the server
// would have answered (see ErrorCode).
var (
	// ErrNotEnrolled: Sync needs an enrolled device.
	ErrNotEnrolled = errors.New("this device is not enrolled: enroll it with a code from a manager first")
	// ErrAlreadyEnrolled: Enroll refuses to replace an identity, which
	// would orphan the operations numbered under the old one.
	ErrAlreadyEnrolled = errors.New("this device is already enrolled")
)

// ErrorCode returns the syncproto code of err: the server's code for an
// error the server answered, the operation-level code for an operation
// Record refused, CodeNotFound for a lookup that found nothing, and "" for
// anything else (a network or disk error).
func ErrorCode(err error) syncproto.Code {
	var pe *syncproto.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Client is one device's database and its connection to the server. It is
// safe for concurrent use: a picker may record while a sync runs. Syncs
// themselves run one at a time.
type Client struct {
	writer *sql.DB
	reader *sql.DB
	path   string
	opts   Options
	log    *slog.Logger

	// syncSlot holds a token while a Sync runs.
	syncSlot chan struct{}
	// randMu guards opts.Rand, which is not safe for concurrent use.
	randMu sync.Mutex
	// maxPushBytes bounds an encoded push: syncproto.MaxBodyBytes, lower
	// in tests.
	maxPushBytes int
	// stmts are prepared once on the writer connection.
	stmts *stmts
}

// stmts are the statements run once per recorded operation or per pulled
// row, prepared once on the one writer connection: SQLite spends longer
// parsing and planning these short statements than running them. A
// transaction uses them through tx.StmtContext, which runs the statement
// already prepared on its connection.
type stmts struct {
	// Record.
	recordState   *sql.Stmt
	itemBySKU     *sql.Stmt
	itemByBarcode *sql.Stmt
	hasLocation   *sql.Stmt
	batchExpiry   *sql.Stmt
	insertOp      *sql.Stmt
	advanceSeq    *sql.Stmt
	// Pull.
	upsertItem     *sql.Stmt
	deleteBarcodes *sql.Stmt
	upsertBarcode  *sql.Stmt
	upsertBatch    *sql.Stmt
	insertLocation *sql.Stmt
	upsertBalance  *sql.Stmt
}

// statements pairs every field of s with its SQL.
func (s *stmts) statements() []struct {
	dst   **sql.Stmt
	query string
} {
	return []struct {
		dst   **sql.Stmt
		query string
	}{
		// What Record needs of device_state, and whether a catalog was
		// pulled at all (the hint of an unknown reference's warning).
		{&s.recordState, `SELECT next_seq, batch_prefix, EXISTS (SELECT 1 FROM items) FROM device_state WHERE id = 1`},
		{&s.itemBySKU, `SELECT sku, batch_tracked, expiry_tracked FROM items WHERE sku = ?`},
		{&s.itemByBarcode, `SELECT i.sku, i.batch_tracked, i.expiry_tracked FROM barcodes b JOIN items i ON i.sku = b.sku WHERE b.barcode = ?`},
		{&s.hasLocation, `SELECT EXISTS (SELECT 1 FROM locations WHERE code = ?)`},
		{&s.batchExpiry, `SELECT expiry FROM batches WHERE sku = ? AND code = ?`},
		{&s.insertOp, `INSERT INTO ops (op_id, seq, kind, payload, occurred_at, recorded_at, local_batch, warnings)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.advanceSeq, `UPDATE device_state SET next_seq = ? WHERE id = 1`},

		{&s.upsertItem, `INSERT INTO items (sku, name, unit, batch_tracked, expiry_tracked) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (sku) DO UPDATE SET name = excluded.name, unit = excluded.unit,
				batch_tracked = excluded.batch_tracked, expiry_tracked = excluded.expiry_tracked`},
		{&s.deleteBarcodes, `DELETE FROM barcodes WHERE sku = ?`},
		{&s.upsertBarcode, `INSERT INTO barcodes (barcode, sku) VALUES (?, ?) ON CONFLICT (barcode) DO UPDATE SET sku = excluded.sku`},
		{&s.upsertBatch, `INSERT INTO batches (sku, code, expiry) VALUES (?, ?, ?) ON CONFLICT (sku, code) DO UPDATE SET expiry = excluded.expiry`},
		{&s.insertLocation, `INSERT INTO locations (code) VALUES (?) ON CONFLICT DO NOTHING`},
		{&s.upsertBalance, `INSERT INTO balances (location, sku, batch, on_hand) VALUES (?, ?, ?, ?)
			ON CONFLICT (location, sku, batch) DO UPDATE SET on_hand = excluded.on_hand`},
	}
}

// prepareStmts prepares every statement of stmts on db, which must have a
// connection free: a statement is prepared outside any transaction.
func prepareStmts(ctx context.Context, db *sql.DB) (*stmts, error) {
	s := &stmts{}
	for _, st := range s.statements() {
		prepared, err := db.PrepareContext(ctx, st.query)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("prepare %q: %w", st.query, err)
		}
		keep(st.dst, prepared)
	}
	return s, nil
}

// txExec runs the prepared statement st in tx.
func txExec(ctx context.Context, tx *sql.Tx, st *sql.Stmt, args ...any) (sql.Result, error) {
	ts := tx.StmtContext(ctx, st)
	defer ts.Close()
	return ts.ExecContext(ctx, args...)
}

// txScan runs the prepared query st in tx and scans its one row into
// dest; sql.ErrNoRows when there is none.
func txScan(ctx context.Context, tx *sql.Tx, st *sql.Stmt, args []any, dest ...any) error {
	ts := tx.StmtContext(ctx, st)
	defer ts.Close()
	return ts.QueryRowContext(ctx, args...).Scan(dest...)
}

// keep stores a prepared statement in its field of stmts, which close
// closes.
func keep(dst **sql.Stmt, st *sql.Stmt) { *dst = st }

func (s *stmts) close() {
	for _, st := range s.statements() {
		if *st.dst != nil {
			_ = (*st.dst).Close() // a second Close is a no-op
		}
	}
}

// writerPragmas: synchronous(FULL) because a handheld loses power (a
// battery pulled, a device dropped) far more often than a server; an
// operation confirmed to the picker must survive that, and one fsync per
// scan is cheap at human speed. (NORMAL, which skips the WAL's fsync at
// commit, survives a crashed app but can lose the last confirmed scans to
// a power cut; on the benchmark's disk it would save about 0.1 ms of a
// Record's 0.2 ms.) One writer connection with BEGIN IMMEDIATE
// (txlock) takes the write lock before a transaction reads, so Record's
// read of next_seq and its insert can never interleave with another writer.
const writerPragmas = "_pragma=busy_timeout(10000)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(FULL)" +
	"&_txlock=immediate"

// readerPragmas make the read pool refuse writes.
const readerPragmas = "_pragma=busy_timeout(10000)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=query_only(1)"

// Open opens the device database at file, creating it and its directory
// if needed, and applies the device migrations.
func Open(ctx context.Context, file string, opts Options) (*Client, error) {
	if file == "" || file == ":memory:" || strings.HasPrefix(file, "file:") {
		// A memory database would differ between the writer and readers.
		return nil, fmt.Errorf("open device database: %q is not a file path", file)
	}
	if strings.ContainsRune(file, '?') {
		// The driver splits its parameters off at the first '?'.
		return nil, fmt.Errorf("open device database: path %q must not contain '?'", file)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("open device database: create directory: %w", err)
	}
	opts = opts.withDefaults()
	c := &Client{path: file, opts: opts, log: opts.Logger, syncSlot: make(chan struct{}, 1), maxPushBytes: syncproto.MaxBodyBytes}
	var err error
	if c.writer, err = sql.Open("sqlite", file+"?"+writerPragmas); err != nil {
		return nil, fmt.Errorf("open device database %s: %w", file, err)
	}
	c.writer.SetMaxOpenConns(1)
	c.writer.SetMaxIdleConns(1)
	c.writer.SetConnMaxLifetime(0)
	c.writer.SetConnMaxIdleTime(0)
	if err := c.enableWAL(ctx); err != nil {
		c.writer.Close()
		return nil, fmt.Errorf("open device database %s: %w", file, err)
	}
	if err := c.migrate(ctx); err != nil {
		c.writer.Close()
		return nil, fmt.Errorf("migrate device database %s: %w", file, err)
	}
	if c.stmts, err = prepareStmts(ctx, c.writer); err != nil {
		c.writer.Close()
		return nil, fmt.Errorf("open device database %s: %w", file, err)
	}
	if c.reader, err = sql.Open("sqlite", file+"?"+readerPragmas); err != nil {
		c.stmts.close()
		c.writer.Close()
		return nil, fmt.Errorf("open device database %s: %w", file, err)
	}
	c.reader.SetMaxOpenConns(2)
	c.reader.SetMaxIdleConns(2)
	if err := c.reader.PingContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("open device database %s: %w", file, err)
	}
	return c, nil
}

// Path returns the database file the client was opened on.
func (c *Client) Path() string { return c.path }

// Close closes the database. The last connection to close checkpoints the
// WAL into the database file, so the file alone is a complete backup.
func (c *Client) Close() error {
	var errs []error
	if c.reader != nil {
		errs = append(errs, c.reader.Close())
	}
	if c.stmts != nil {
		c.stmts.close()
	}
	if c.writer != nil {
		errs = append(errs, c.writer.Close())
	}
	return errors.Join(errs...)
}

// enableWAL switches the file to WAL mode, retrying SQLITE_BUSY, which
// SQLite answers at once when two processes switch a new file together.
func (c *Client) enableWAL(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mode string
		err := c.writer.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
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
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// migrate applies the embedded device migrations in file-name order, each
// in its own transaction, recording each in schema_migrations.
func (c *Client) migrate(ctx context.Context) error {
	if err := c.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    TEXT PRIMARY KEY,
			applied_at INTEGER NOT NULL
		)`)
		return err
	}); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations.Device, "device/*.sql")
	if err != nil {
		return err
	}
	for _, name := range names { // sorted by fs.Glob
		version := strings.TrimSuffix(path.Base(name), ".sql")
		body, err := fs.ReadFile(migrations.Device, name)
		if err != nil {
			return err
		}
		err = c.write(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// write runs fn in one BEGIN IMMEDIATE transaction on the writer
// connection and commits it. fn must not call write again: the one writer
// connection is taken.
func (c *Client) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := c.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// read runs fn in a read-only transaction: one consistent snapshot.
func (c *Client) read(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := c.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (c *Client) now() time.Time { return c.opts.Now().UTC() }

// state is the device_state row.
type state struct {
	ServerURL     string
	DeviceID      string
	DeviceName    string
	Token         string
	Warehouse     string
	WarehouseName string
	BatchPrefix   string
	EnrolledAt    sql.NullInt64
	LedgerID      string
	Cursor        string
	NextSeq       int64
	AckedSeq      int64
	ReflectedSeq  int64
	RoundAckedSeq int64
	LastSyncAt    sql.NullInt64
	LastAttemptAt sql.NullInt64
	LastError     string
	LastErrorCode string
}

func (s state) enrolled() bool { return s.DeviceID != "" && s.Token != "" }

func loadState(ctx context.Context, tx *sql.Tx) (state, error) {
	var s state
	err := tx.QueryRowContext(ctx, `SELECT server_url, device_id, device_name, token, warehouse, warehouse_name,
			batch_prefix, enrolled_at, ledger_id, cursor, next_seq, acked_seq, reflected_seq, round_acked_seq,
			last_sync_at, last_attempt_at, last_error, last_error_code
		FROM device_state WHERE id = 1`).Scan(&s.ServerURL, &s.DeviceID, &s.DeviceName, &s.Token, &s.Warehouse,
		&s.WarehouseName, &s.BatchPrefix, &s.EnrolledAt, &s.LedgerID, &s.Cursor, &s.NextSeq, &s.AckedSeq,
		&s.ReflectedSeq, &s.RoundAckedSeq, &s.LastSyncAt, &s.LastAttemptAt, &s.LastError, &s.LastErrorCode)
	if err != nil {
		return s, fmt.Errorf("read device state: %w", err)
	}
	return s, nil
}

func (c *Client) loadState(ctx context.Context) (state, error) {
	var s state
	err := c.read(ctx, func(tx *sql.Tx) error {
		var err error
		s, err = loadState(ctx, tx)
		return err
	})
	return s, err
}

// micros converts a time to the stored unix microseconds.
func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

// fromMicros converts stored unix microseconds back to a UTC time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}
