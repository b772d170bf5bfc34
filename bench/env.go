package bench

// The databases a bench run works in, the tenants it makes, and the
// invariants it checks on each of them.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"stocksync/ledger"
	"stocksync/ledger/postgres"
	"stocksync/ledger/sqlite"
)

// benchSettings are the tenants' settings: a count within 50 units of
// what the ledger expects applies cleanly, a larger variance is flagged.
var benchSettings = ledger.Settings{CountVarianceThreshold: 50, ClockUncertainty: 2 * time.Minute}

// target is one store a scenario runs on, with a raw connection for the
// baselines and the row counts the checks need.
type target struct {
	name  string // "postgres" or "sqlite"
	store ledger.Store
	l     *ledger.Ledger
	// pgRaw is a pool of its own on the same schema (PostgreSQL); sqlDB
	// the store's writer (SQLite).
	pgRaw *pgxpool.Pool
	sqlDB *sql.DB
}

// rebind turns ? placeholders into $n for PostgreSQL.
func (t *target) rebind(q string) string {
	if t.pgRaw == nil {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// count runs a query that returns one integer.
func (t *target) count(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	var err error
	if t.pgRaw != nil {
		err = t.pgRaw.QueryRow(ctx, t.rebind(q), args...).Scan(&n)
	} else {
		err = t.sqlDB.QueryRowContext(ctx, q, args...).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %w", t.name, strings.Join(strings.Fields(q), " "), err)
	}
	return n, nil
}

func (t *target) close() {
	if t.pgRaw != nil {
		t.pgRaw.Close()
	}
	_ = t.store.Close()
}

// env is one bench run's databases and shared state.
type env struct {
	opts Options
	log  io.Writer
	// logMu serializes progress lines: passes print from a watcher.
	logMu sync.Mutex
	dir   string
	// pgBase is the PostgreSQL URL given (empty: no PostgreSQL); schemas
	// are the schemas this run created in it.
	pgBase  string
	schemas []string
	pg, sq  *target
	// uniform is the workload most scenarios share, made once.
	uniform *Workload
	// merged is what the merge scenario of each store left, for replay.
	merged map[string]*mergeState
}

// progress prints one line to the progress writer.
func (e *env) progress(format string, args ...any) {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	fmt.Fprintf(e.log, "bench: "+format+"\n", args...)
}

func (e *env) workload() *Workload {
	if e.uniform == nil {
		start := time.Now()
		e.uniform = NewWorkload(e.opts.Config, false)
		e.progress("workload: %d devices × %d ops (seed %d) made in %s", e.opts.Config.Devices, e.opts.Config.OpsPerDevice,
			e.opts.Config.Seed, since(start))
	}
	return e.uniform
}

// quietLogger is the ledger's logger: the bench measures, it does not log.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newSchema creates a fresh schema in the PostgreSQL database and returns a
// URL whose search_path is that schema.
func (e *env) newSchema(ctx context.Context, what string) (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	schema := fmt.Sprintf("bench_%s_%s_%s", time.Now().UTC().Format("20060102_150405"), what, hex.EncodeToString(b[:]))
	if err := pgExec(ctx, e.pgBase, "CREATE SCHEMA "+schema); err != nil {
		return "", fmt.Errorf("create schema %s: %w", schema, err)
	}
	e.schemas = append(e.schemas, schema)
	return withSearchPath(e.pgBase, schema)
}

// dropSchemas drops the schemas this run created.
func (e *env) dropSchemas() error {
	var errs []error
	for _, s := range e.schemas {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := pgExec(ctx, e.pgBase, "DROP SCHEMA "+s+" CASCADE"); err != nil {
			errs = append(errs, fmt.Errorf("drop schema %s: %w", s, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// withSearchPath sets search_path on a URL or keyword/value connection
// string; pgx passes it to the server as a run-time parameter.
func withSearchPath(base, schema string) (string, error) {
	if !strings.Contains(base, "://") {
		return base + " search_path=" + schema, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", errors.New("the PostgreSQL URL does not parse")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// pgConnect opens one connection; the URL may carry pgxpool's own
// parameters (pool_max_conns, ...), which a single connection ignores.
func pgConnect(ctx context.Context, connString string) (*pgx.Conn, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg.ConnConfig)
}

func pgQueryRow(ctx context.Context, connString, q string, dst any) error {
	conn, err := pgConnect(ctx, connString)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, q).Scan(dst)
}

func pgExec(ctx context.Context, connString, stmt string) error {
	conn, err := pgConnect(ctx, connString)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt)
	return err
}

// openPG opens the PostgreSQL target on a fresh schema.
func (e *env) openPG(ctx context.Context) (*target, error) {
	u, err := e.newSchema(ctx, "ledger")
	if err != nil {
		return nil, err
	}
	s, err := postgres.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	raw, err := pgxpool.New(ctx, u)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	return &target{name: "postgres", store: s, l: ledger.New(s, ledger.Options{Logger: quietLogger()}), pgRaw: raw}, nil
}

// openSQLite opens the SQLite target in the run's directory.
func (e *env) openSQLite(ctx context.Context) (*target, error) {
	s, err := sqlite.Open(ctx, filepath.Join(e.dir, "ledger.db"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	return &target{name: "sqlite", store: s, l: ledger.New(s, ledger.Options{Logger: quietLogger()}), sqlDB: s.DB()}, nil
}

// analyzeEvery runs ANALYZE on the tables of t's schema every interval
// until stopped, as autovacuum would on a server that runs it; stop
// returns how many times it ran and for how long in all.
func (e *env) analyzeEvery(ctx context.Context, t *target, every time.Duration) (stop func() (int, time.Duration)) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var runs int
	var took time.Duration
	go func() {
		defer close(done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			start := time.Now()
			if err := analyzeSchema(ctx, t.pgRaw); err != nil {
				if ctx.Err() == nil {
					e.progress("analyze: %v", err)
				}
				continue
			}
			runs++
			took += time.Since(start)
		}
	}()
	return func() (int, time.Duration) {
		cancel()
		<-done
		return runs, took
	}
}

// analyzeSchema analyzes every table of the pool's schema (never anyone
// else's: ANALYZE alone would do the whole database).
func analyzeSchema(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		return err
	}
	_, err = pool.Exec(ctx, "ANALYZE "+strings.Join(tables, ", "))
	return err
}

// benchTenant is a tenant a scenario made, with its devices.
type benchTenant struct {
	t    *target
	id   uuid.UUID
	slug string
	w    *Workload
	// devices[i] is the ID of w.Devices[i]; tokens[i] its token, for the
	// scenarios that push over HTTP.
	devices []uuid.UUID
	tokens  []string
}

// newTenantWithDevices is newTenant, then registers the workload's
// devices in process (the scenarios that merge without HTTP).
func (e *env) newTenantWithDevices(ctx context.Context, t *target, slug string, w *Workload) (*benchTenant, error) {
	bt, err := e.newTenant(ctx, t, slug, w)
	if err != nil {
		return nil, err
	}
	if err := bt.registerDevices(ctx); err != nil {
		return nil, err
	}
	return bt, nil
}

// newTenant creates a tenant, loads the workload's catalog and merges its
// opening stock from a device named "seed". None of it is timed.
func (e *env) newTenant(ctx context.Context, t *target, slug string, w *Workload) (*benchTenant, error) {
	start := time.Now()
	tn, err := t.l.CreateTenant(ctx, slug, "", &benchSettings)
	if err != nil {
		return nil, fmt.Errorf("create tenant %s: %w", slug, err)
	}
	bt := &benchTenant{t: t, id: tn.ID, slug: slug, w: w}
	if _, err := t.l.UpsertCatalog(ctx, tn.ID, w.Catalog); err != nil {
		return nil, fmt.Errorf("tenant %s: load the catalog: %w", slug, err)
	}
	seed, err := t.l.RegisterDevice(ctx, tn.ID, ledger.DeviceInput{Warehouse: benchWarehouse, Name: "seed"})
	if err != nil {
		return nil, fmt.Errorf("tenant %s: register the seed device: %w", slug, err)
	}
	for from := 0; from < len(w.Opening); from += maxPushOps {
		ops := slices.Clone(w.Opening[from:min(from+maxPushOps, len(w.Opening))])
		resp, err := t.l.Merge(ctx, ledger.MergeRequest{TenantID: tn.ID, DeviceID: seed.ID, DeviceTime: time.Now(), Ops: ops})
		if err != nil {
			return nil, fmt.Errorf("tenant %s: merge the opening stock: %w", slug, err)
		}
		for _, r := range resp.Results {
			if r.Status != ledger.StatusApplied {
				return nil, fmt.Errorf("tenant %s: an opening receipt was not applied: %s %s %s", slug, r.Status, r.Code, r.Message)
			}
		}
	}
	e.progress("tenant %s on %s: %d items, %d locations, %d opening receipts in %s", slug, t.name,
		len(w.Catalog.Items), len(w.Catalog.Locations), len(w.Opening), since(start))
	return bt, nil
}

// registerDevices registers the workload's devices directly, for the
// scenarios that merge in process.
func (bt *benchTenant) registerDevices(ctx context.Context) error {
	bt.devices = make([]uuid.UUID, len(bt.w.Devices))
	for i, dw := range bt.w.Devices {
		d, err := bt.t.l.RegisterDevice(ctx, bt.id, ledger.DeviceInput{Warehouse: benchWarehouse, Name: dw.Name})
		if err != nil {
			return fmt.Errorf("tenant %s: register %s: %w", bt.slug, dw.Name, err)
		}
		bt.devices[i] = d.ID
	}
	return nil
}

// sentOps is the distinct operations sent to the tenant, opening stock
// included: what its op log must hold.
func (bt *benchTenant) sentOps() int { return len(bt.w.Opening) + bt.w.DeviceOps() }

// verify checks the tenant's invariants after a scenario: the consistency
// check is clean, the op log holds each operation sent exactly once, none
// was rejected or held (the workload makes none on purpose) or kept as a
// conflict, and every device is acked up to its last operation.
func (bt *benchTenant) verify(ctx context.Context) ([]string, error) {
	var problems []string
	ds, err := bt.t.l.Check(ctx, bt.id)
	if err != nil {
		return nil, fmt.Errorf("check tenant %s: %w", bt.slug, err)
	}
	for i, d := range ds {
		if i == 5 {
			problems = append(problems, fmt.Sprintf("%s: ... %d discrepancies in all", bt.slug, len(ds)))
			break
		}
		problems = append(problems, fmt.Sprintf("%s: check: %s %s (want %d, got %d)", bt.slug, d.Kind, d.Message, d.Want, d.Got))
	}
	n, err := bt.t.count(ctx, `SELECT count(*) FROM ops WHERE tenant_id = ?`, bt.id)
	if err != nil {
		return nil, err
	}
	if want := int64(bt.sentOps()); n != want {
		problems = append(problems, fmt.Sprintf("%s: the op log holds %d entries, want %d (the distinct operations sent)", bt.slug, n, want))
	}
	for _, st := range []ledger.Status{ledger.StatusRejected, ledger.StatusHeld} {
		n, err := bt.t.count(ctx, `SELECT count(*) FROM ops WHERE tenant_id = ? AND status = ?`, bt.id, string(st))
		if err != nil {
			return nil, err
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d operations %s, the workload makes none", bt.slug, n, st))
		}
	}
	if n, err := bt.t.count(ctx, `SELECT count(*) FROM op_conflicts WHERE tenant_id = ?`, bt.id); err != nil {
		return nil, err
	} else if n > 0 {
		problems = append(problems, fmt.Sprintf("%s: %d op conflicts stored", bt.slug, n))
	}
	devs, err := bt.t.l.Devices(ctx, bt.id)
	if err != nil {
		return nil, err
	}
	acked := map[uuid.UUID]int64{}
	for _, d := range devs {
		acked[d.ID] = d.AckedSeq
	}
	lagging := 0
	for i, id := range bt.devices {
		if acked[id] != int64(len(bt.w.Devices[i].Ops)) {
			lagging++
		}
	}
	if lagging > 0 {
		problems = append(problems, fmt.Sprintf("%s: %d devices not acked up to their last operation", bt.slug, lagging))
	}
	return problems, nil
}

// rowCounts counts the tenant's rows in every table a push writes, and its
// next position.
func (bt *benchTenant) rowCounts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, table := range []string{"ops", "op_conflicts", "movements", "balances", "order_lines", "counts", "reviews", "review_ops", "batches"} {
		n, err := bt.t.count(ctx, `SELECT count(*) FROM `+table+` WHERE tenant_id = ?`, bt.id)
		if err != nil {
			return nil, err
		}
		out[table] = n
	}
	st, err := bt.state(ctx)
	if err != nil {
		return nil, err
	}
	out["next_position"] = st.NextPosition
	return out, nil
}

// state reads the tenant's counters.
func (bt *benchTenant) state(ctx context.Context) (st ledger.LedgerState, err error) {
	err = bt.t.store.Read(ctx, func(tx ledger.ReadTx) error {
		st, err = tx.LedgerState(ctx, bt.id)
		return err
	})
	return st, err
}

// outcome is one operation's result, from the ledger or from the wire.
type outcome struct {
	status, code string
	replayed     bool
}

func ledgerOutcomes(rs []ledger.Result) []outcome {
	out := make([]outcome, len(rs))
	for i, r := range rs {
		out[i] = outcome{string(r.Status), string(r.Code), r.Replayed}
	}
	return out
}

// tally counts what the pushes of one scenario got back. It is safe for
// concurrent use.
type tally struct {
	mu       sync.Mutex
	pushes   int
	repeats  int
	ops      int // delivered, repeats included
	first    int // ops of first deliveries
	status   map[string]int
	codes    map[string]int
	replayed int
	// retried counts the pushes that needed at least one retry, retries
	// every retry.
	retried, retries int
	problems         []string
	latencies        []time.Duration
}

func newTally() *tally { return &tally{status: map[string]int{}, codes: map[string]int{}} }

// record adds one push's results. A first delivery must come back with no
// result replayed, a repeated one with every result replayed, and one
// result per operation either way.
func (t *tally) record(who string, dl Delivery, rs []outcome, lat time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pushes++
	t.ops += dl.Len()
	t.latencies = append(t.latencies, lat)
	if len(rs) != dl.Len() {
		t.problem("%s: push of seq %d-%d got %d results for %d operations", who, dl.From+1, dl.To, len(rs), dl.Len())
	}
	if dl.Repeat {
		t.repeats++
	} else {
		t.first += dl.Len()
	}
	wrong := 0
	for _, r := range rs {
		if r.replayed != dl.Repeat {
			wrong++
		}
		if r.replayed {
			t.replayed++
			continue
		}
		t.status[r.status]++
		if r.code != "" {
			t.codes[r.status+"/"+r.code]++
		}
	}
	if wrong > 0 {
		t.problem("%s: push of seq %d-%d (repeat %v): %d results with the wrong replayed flag", who, dl.From+1, dl.To, dl.Repeat, wrong)
	}
}

func (t *tally) problem(format string, args ...any) {
	if len(t.problems) < 10 {
		t.problems = append(t.problems, fmt.Sprintf(format, args...))
	}
}

func (t *tally) retry(first bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.retries++
	if first {
		t.retried++
	}
}

// summary is one detail line: the statuses and codes of the first
// deliveries, and the replays.
func (t *tally) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	parts := []string{}
	for _, s := range []ledger.Status{ledger.StatusApplied, ledger.StatusFlagged, ledger.StatusHeld, ledger.StatusRejected} {
		parts = append(parts, fmt.Sprintf("%d %s", t.status[string(s)], s))
	}
	line := fmt.Sprintf("%d pushes (%d repeated), %d ops: %s, %d replayed", t.pushes, t.repeats, t.ops, strings.Join(parts, ", "), t.replayed)
	codes := make([]string, 0, len(t.codes))
	for _, c := range slices.Sorted(maps.Keys(t.codes)) {
		codes = append(codes, fmt.Sprintf("%s %d", c, t.codes[c]))
	}
	if len(codes) > 0 {
		line += "; " + strings.Join(codes, ", ")
	}
	return line
}

// unexpected lists the statuses the workload never causes on purpose.
func (t *tally) unexpected() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := slices.Clone(t.problems)
	for _, s := range []ledger.Status{ledger.StatusHeld, ledger.StatusRejected} {
		if n := t.status[string(s)]; n > 0 {
			var codes []string
			for _, c := range slices.Sorted(maps.Keys(t.codes)) {
				if strings.HasPrefix(c, string(s)+"/") {
					codes = append(codes, fmt.Sprintf("%s %d", strings.TrimPrefix(c, string(s)+"/"), t.codes[c]))
				}
			}
			out = append(out, fmt.Sprintf("%d operations %s (%s); the workload makes none", n, s, strings.Join(codes, ", ")))
		}
	}
	return out
}

// retryable reports whether a merge failed on a deadlock or a
// serialization failure, which a client retries.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// mergeInProcess merges one delivery of device d through the ledger,
// retrying deadlocks and serialization failures (at most 20 times), and
// records the results in tl.
func (bt *benchTenant) mergeInProcess(ctx context.Context, d int, dl Delivery, tl *tally) (ledger.MergeResponse, error) {
	dw := &bt.w.Devices[d]
	start := time.Now()
	for attempt := 0; ; attempt++ {
		// Merge normalizes the operations in place: give it a copy.
		known := int64(dl.From)
		req := ledger.MergeRequest{TenantID: bt.id, DeviceID: bt.devices[d], DeviceTime: time.Now(),
			Ops: slices.Clone(dw.Batch(dl)), KnownAckedSeq: &known}
		resp, err := bt.t.l.Merge(ctx, req)
		if err != nil && retryable(err) && attempt < 20 {
			tl.retry(attempt == 0)
			continue
		}
		if err != nil {
			return resp, fmt.Errorf("%s: merge %s's push of seq %d-%d: %w", bt.slug, dw.Name, dl.From+1, dl.To, err)
		}
		tl.record(bt.slug+"/"+dw.Name, dl, ledgerOutcomes(resp.Results), time.Since(start))
		return resp, nil
	}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
