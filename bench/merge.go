package bench

// The merge scenarios (pg-merge, sqlite-merge) and replay: pushes merged
// in process through ledger.Ledger.Merge, one at a time, each followed by
// its baseline: the op log rows and movements that merge wrote, read back
// untimed and written raw into identical tables.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"stocksync/ledger"
)

// mergeState is what a first application of the workload left, for the
// replay scenario.
type mergeState struct {
	bt *benchTenant
	// firstOps and firstTime are the first deliveries' operations and
	// merge time.
	firstOps  int
	firstTime time.Duration
	// digests hold each first delivery's results, by (device, delivery).
	digests map[[2]int][32]byte
}

// applyStats is what applyAll measured.
type applyStats struct {
	// merge* count every delivery, repeats included; copy* the baseline.
	mergeTime       time.Duration
	mergeOps        int
	copyTime        time.Duration
	copyOps         int
	opRows, movRows int
	tally           *tally
}

// ticker says when a loop prints progress: every ten seconds, and at the
// end.
type ticker struct{ last time.Time }

func newTicker() *ticker { return &ticker{last: time.Now()} }

func (t *ticker) due(last bool) bool {
	if last || time.Since(t.last) >= 10*time.Second {
		t.last = time.Now()
		return true
	}
	return false
}

// roundRobin orders the deliveries of devs as a shift end sends them: the
// first push of every device, then the second, and so on.
func roundRobin(w *Workload, devs []int) [][2]int {
	var out [][2]int
	for j := 0; ; j++ {
		more := false
		for _, d := range devs {
			if j < len(w.Devices[d].Deliveries) {
				out = append(out, [2]int{d, j})
				more = true
			}
		}
		if !more {
			return out
		}
	}
}

func allDevices(w *Workload) []int {
	devs := make([]int, len(w.Devices))
	for i := range devs {
		devs[i] = i
	}
	return devs
}

// resultsDigest hashes a push's results with the replayed flag cleared.
func resultsDigest(rs []ledger.Result) [32]byte {
	c := slices.Clone(rs)
	for i := range c {
		c[i].Replayed = false
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // plain values
	}
	return sha256.Sum256(b)
}

// applyAll merges every delivery of the workload, one at a time in round
// robin order. With a copier, each first delivery is followed by its
// baseline: the rows the merge wrote, read back untimed and written raw.
func (e *env) applyAll(ctx context.Context, bt *benchTenant, cp rawCopier, label string) (*mergeState, applyStats, error) {
	w := bt.w
	sched := roundRobin(w, allDevices(w))
	st, err := bt.state(ctx)
	if err != nil {
		return nil, applyStats{}, err
	}
	pos := st.NextPosition
	applied := &mergeState{bt: bt, digests: map[[2]int][32]byte{}}
	as := applyStats{tally: newTally()}
	tick := newTicker()
	report := func(i int) {
		if tick.due(i+1 == len(sched)) {
			line := fmt.Sprintf("%s: %d/%d pushes, merge %s", label, i+1, len(sched), opsText(rate(as.mergeOps, as.mergeTime)))
			if cp != nil {
				line += ", raw " + opsText(rate(as.copyOps, as.copyTime))
			}
			e.progress("%s", line)
		}
	}
	for i, s := range sched {
		d, j := s[0], s[1]
		dl := w.Devices[d].Deliveries[j]
		start := time.Now()
		resp, err := bt.mergeInProcess(ctx, d, dl, as.tally)
		dt := time.Since(start)
		if err != nil {
			return nil, as, err
		}
		as.mergeTime += dt
		as.mergeOps += dl.Len()
		after, err := bt.state(ctx)
		if err != nil {
			return nil, as, err
		}
		if dl.Repeat {
			if after.NextPosition != pos {
				as.tally.problem("%s: the repeated push of %s seq %d-%d posted %d movements", bt.slug, w.Devices[d].Name, dl.From+1, dl.To, after.NextPosition-pos)
				pos = after.NextPosition
			}
			report(i)
			continue
		}
		applied.firstOps += dl.Len()
		applied.firstTime += dt
		applied.digests[[2]int{d, j}] = resultsDigest(resp.Results)
		if cp != nil {
			rows, err := cp.read(ctx, bt.id, bt.devices[d], int64(dl.From+1), int64(dl.To), pos, after.NextPosition)
			if err != nil {
				return nil, as, fmt.Errorf("baseline: read back the rows of %s seq %d-%d: %w", w.Devices[d].Name, dl.From+1, dl.To, err)
			}
			start := time.Now()
			if err := cp.write(ctx, rows); err != nil {
				return nil, as, fmt.Errorf("baseline: write the rows of %s seq %d-%d: %w", w.Devices[d].Name, dl.From+1, dl.To, err)
			}
			as.copyTime += time.Since(start)
			as.copyOps += dl.Len()
			as.opRows += len(rows.ops)
			as.movRows += len(rows.movs)
		}
		pos = after.NextPosition
		report(i)
	}
	return applied, as, nil
}

// runMerge is pg-merge or sqlite-merge on t.
func (e *env) runMerge(ctx context.Context, t *target, scenario string) (Result, error) {
	var res Result
	w := e.workload()
	bt, err := e.newTenantWithDevices(ctx, t, scenario, w)
	if err != nil {
		return res, err
	}
	var cp rawCopier
	if t.pgRaw != nil {
		cp, err = newPGCopier(ctx, t.pgRaw)
	} else {
		cp, err = newSQLiteCopier(ctx, t.sqlDB)
	}
	if err != nil {
		return res, fmt.Errorf("baseline tables: %w", err)
	}
	defer cp.close()
	st, as, err := e.applyAll(ctx, bt, cp, scenario)
	if err != nil {
		return res, err
	}
	e.merged[t.name] = st

	figure, baseline := rate(as.mergeOps, as.mergeTime), rate(as.copyOps, as.copyTime)
	res.setRatio(figure, baseline, 0.5, true)
	res.metric("merge_ops_per_second", figure)
	res.metric("raw_ops_per_second", baseline)
	res.metric("first_delivery_ops_per_second", rate(st.firstOps, st.firstTime))
	lat := slices.Clone(as.tally.latencies)
	slices.Sort(lat)
	res.metric("push_p50_ms", float64(quantile(lat, 0.5))/1e6)
	res.metric("push_p99_ms", float64(quantile(lat, 0.99))/1e6)
	total, repeats := w.Pushes()
	raw := "pgx CopyFrom"
	if t.pgRaw == nil {
		raw = "prepared multi-row INSERTs"
	}
	res.detail("merged %d ops in %d pushes of up to %d (%d delivered twice, counted in the figure) in %s; push p50 %s, p99 %s",
		as.mergeOps, total, w.Config.BatchSize, repeats, as.mergeTime.Round(time.Millisecond), ms(quantile(lat, 0.5)), ms(quantile(lat, 0.99)))
	res.detail("baseline: %s of the same %d op log rows and %d movements into raw_ops/raw_movements (same columns and indexes), one transaction per push, alternating with the merge: %d ops in %s",
		raw, as.opRows, as.movRows, as.copyOps, as.copyTime.Round(time.Millisecond))
	res.detail("results: %s", as.tally.summary())
	problems, err := bt.verify(ctx)
	if err != nil {
		return res, err
	}
	res.Problems = append(as.tally.unexpected(), problems...)
	return res, nil
}

// runReplay pushes every first delivery of the workload again, as devices
// whose answers were lost do, into the tenant the merge scenario of the
// store left (or a fresh one, first applied here), and compares the rate
// with the first application's.
func (e *env) runReplay(ctx context.Context, t *target) (Result, error) {
	var res Result
	st := e.merged[t.name]
	if st == nil {
		w := e.workload()
		bt, err := e.newTenantWithDevices(ctx, t, "replay", w)
		if err != nil {
			return res, err
		}
		var as applyStats
		st, as, err = e.applyAll(ctx, bt, nil, "replay: first application")
		if err != nil {
			return res, err
		}
		res.Problems = append(res.Problems, as.tally.unexpected()...)
		res.detail("first application in this scenario (no merge scenario ran on %s): %s", t.name, as.tally.summary())
	} else {
		res.detail("first application: the %s merge scenario's pushes", t.name)
	}
	bt := st.bt
	w := bt.w
	before, err := bt.rowCounts(ctx)
	if err != nil {
		return res, err
	}
	var firsts [][2]int
	for _, s := range roundRobin(w, allDevices(w)) {
		if !w.Devices[s[0]].Deliveries[s[1]].Repeat {
			firsts = append(firsts, s)
		}
	}
	tl := newTally()
	var replayTime time.Duration
	var replayOps, differ int
	tick := newTicker()
	for i, s := range firsts {
		d, j := s[0], s[1]
		dl := w.Devices[d].Deliveries[j]
		dl.Repeat = true // every result must come back replayed
		start := time.Now()
		resp, err := bt.mergeInProcess(ctx, d, dl, tl)
		dt := time.Since(start)
		if err != nil {
			return res, err
		}
		replayTime += dt
		replayOps += dl.Len()
		if resultsDigest(resp.Results) != st.digests[s] {
			differ++
		}
		if tick.due(i+1 == len(firsts)) {
			e.progress("replay (%s): %d/%d pushes, %s", t.name, i+1, len(firsts), opsText(rate(replayOps, replayTime)))
		}
	}
	after, err := bt.rowCounts(ctx)
	if err != nil {
		return res, err
	}
	res.Problems = append(res.Problems, tl.unexpected()...)
	if differ > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d of %d replayed pushes got results that differ from the first answer (beyond the replayed flag)", differ, len(firsts)))
	}
	var grew []string
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if before[k] != after[k] {
			grew = append(grew, fmt.Sprintf("%s %d -> %d", k, before[k], after[k]))
		}
	}
	if len(grew) > 0 {
		res.Problems = append(res.Problems, "the replay changed the tenant's rows: "+strings.Join(grew, ", "))
	}
	figure, baseline := rate(replayOps, replayTime), rate(st.firstOps, st.firstTime)
	res.setRatio(figure, baseline, 3, differ == 0 && len(grew) == 0)
	res.metric("replay_ops_per_second", figure)
	res.metric("first_ops_per_second", baseline)
	res.detail("replayed %d ops in %d pushes in %s, against the first application's %d ops in %s", replayOps, len(firsts),
		replayTime.Round(time.Millisecond), st.firstOps, st.firstTime.Round(time.Millisecond))
	res.detail("results identical to the first answers in %d of %d pushes; rows unchanged in %s", len(firsts)-differ, len(firsts),
		strings.Join(slices.Sorted(maps.Keys(before)), ", "))
	problems, err := bt.verify(ctx)
	if err != nil {
		return res, err
	}
	res.Problems = append(res.Problems, problems...)
	return res, nil
}

// rawRows are one push's op log rows and movements, as read back.
type rawRows struct {
	ops, movs [][]any
}

// rawCopier is a baseline: it reads back the rows one merge wrote and
// writes them raw into tables identical to the ledger's.
type rawCopier interface {
	read(ctx context.Context, tenantID, deviceID uuid.UUID, fromSeq, toSeq, fromPos, toPos int64) (rawRows, error)
	write(ctx context.Context, rows rawRows) error
	close()
}

// pgCopier writes with pgx CopyFrom into raw_ops and raw_movements,
// created LIKE ops and movements INCLUDING ALL.
type pgCopier struct {
	pool            *pgxpool.Pool
	opCols, movCols []string
}

func newPGCopier(ctx context.Context, pool *pgxpool.Pool) (*pgCopier, error) {
	for _, tbl := range []string{"ops", "movements"} {
		if _, err := pool.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS raw_%s; CREATE TABLE raw_%s (LIKE %s INCLUDING ALL)`, tbl, tbl, tbl)); err != nil {
			return nil, err
		}
	}
	return &pgCopier{pool: pool}, nil
}

func (c *pgCopier) query(ctx context.Context, q string, args ...any) ([]string, [][]any, error) {
	rows, err := c.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	cols := make([]string, len(fds))
	for i, fd := range fds {
		cols[i] = fd.Name
	}
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, nil, err
		}
		for i, fd := range fds {
			// JSON comes back decoded; give COPY the text again, as the
			// store gives it.
			if (fd.DataTypeOID == pgtype.JSONBOID || fd.DataTypeOID == pgtype.JSONOID) && vals[i] != nil {
				b, err := json.Marshal(vals[i])
				if err != nil {
					return nil, nil, err
				}
				vals[i] = json.RawMessage(b)
			}
		}
		out = append(out, vals)
	}
	return cols, out, rows.Err()
}

func (c *pgCopier) read(ctx context.Context, tenantID, deviceID uuid.UUID, fromSeq, toSeq, fromPos, toPos int64) (rawRows, error) {
	var r rawRows
	var err error
	c.opCols, r.ops, err = c.query(ctx, `SELECT * FROM ops WHERE tenant_id = $1 AND device_id = $2 AND seq BETWEEN $3 AND $4`,
		tenantID, deviceID, fromSeq, toSeq)
	if err != nil {
		return r, err
	}
	c.movCols, r.movs, err = c.query(ctx, `SELECT * FROM movements WHERE tenant_id = $1 AND position >= $2 AND position < $3`,
		tenantID, fromPos, toPos)
	return r, err
}

func (c *pgCopier) write(ctx context.Context, r rawRows) error {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if len(r.ops) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_ops"}, c.opCols, pgx.CopyFromRows(r.ops)); err != nil {
			return err
		}
	}
	if len(r.movs) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_movements"}, c.movCols, pgx.CopyFromRows(r.movs)); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func (c *pgCopier) close() {}

// sqliteCopier writes with prepared multi-row INSERTs into raw_ops and
// raw_movements, created from the CREATE statements of ops and movements
// and their indexes in sqlite_master.
type sqliteCopier struct {
	db     *sql.DB
	tables map[string]*sqliteRawTable
}

// sqliteRawTable is one raw table and its prepared statements, by rows.
type sqliteRawTable struct {
	name  string
	cols  []string
	stmts map[int]*sql.Stmt
}

// sqliteMaxRows is the most rows one INSERT carries (bounded by SQLite's
// 32,766 parameters).
const sqliteMaxRows = 500

var (
	createTableRe = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+"?(\w+)"?\s*\(`)
	createIndexRe = regexp.MustCompile(`(?is)^CREATE\s+(UNIQUE\s+)?INDEX\s+"?(\w+)"?\s+ON\s+"?(\w+)"?\s*\(`)
)

func newSQLiteCopier(ctx context.Context, db *sql.DB) (*sqliteCopier, error) {
	c := &sqliteCopier{db: db, tables: map[string]*sqliteRawTable{}}
	for _, tbl := range []string{"ops", "movements"} {
		stmts, err := rawDDL(ctx, db, tbl)
		if err != nil {
			return nil, err
		}
		if len(stmts) == 0 {
			return nil, fmt.Errorf("no table %s in sqlite_master", tbl)
		}
		if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS raw_`+tbl); err != nil {
			return nil, err
		}
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return nil, fmt.Errorf("%s: %w", s, err)
			}
		}
		c.tables[tbl] = &sqliteRawTable{name: "raw_" + tbl, stmts: map[int]*sql.Stmt{}}
	}
	return c, nil
}

// rawDDL returns the CREATE statements of a table and its indexes from
// sqlite_master, renamed to raw_<table> and raw_<index>.
func rawDDL(ctx context.Context, db *sql.DB, tbl string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC, name`, tbl)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var stmts []string
	for rows.Next() {
		var typ, ddl string
		if err := rows.Scan(&typ, &ddl); err != nil {
			return nil, err
		}
		switch typ {
		case "table":
			if !createTableRe.MatchString(ddl) {
				return nil, fmt.Errorf("unexpected CREATE TABLE for %s: %.80s", tbl, ddl)
			}
			stmts = append(stmts, createTableRe.ReplaceAllString(ddl, "CREATE TABLE raw_$1 ("))
		case "index":
			if !createIndexRe.MatchString(ddl) {
				return nil, fmt.Errorf("unexpected CREATE INDEX on %s: %.80s", tbl, ddl)
			}
			stmts = append(stmts, createIndexRe.ReplaceAllString(ddl, "CREATE ${1}INDEX raw_$2 ON raw_$3 ("))
		}
	}
	return stmts, rows.Err()
}

func (c *sqliteCopier) query(ctx context.Context, tbl, q string, args ...any) ([][]any, error) {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	t := c.tables[tbl]
	if t.cols == nil {
		t.cols = cols
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

func (c *sqliteCopier) read(ctx context.Context, tenantID, deviceID uuid.UUID, fromSeq, toSeq, fromPos, toPos int64) (rawRows, error) {
	var r rawRows
	var err error
	r.ops, err = c.query(ctx, "ops", `SELECT * FROM ops WHERE tenant_id = ? AND device_id = ? AND seq BETWEEN ? AND ?`,
		tenantID, deviceID, fromSeq, toSeq)
	if err != nil {
		return r, err
	}
	r.movs, err = c.query(ctx, "movements", `SELECT * FROM movements WHERE tenant_id = ? AND position >= ? AND position < ?`,
		tenantID, fromPos, toPos)
	return r, err
}

// stmt returns the prepared INSERT of n rows into t, preparing it once.
func (c *sqliteCopier) stmt(ctx context.Context, t *sqliteRawTable, n int) (*sql.Stmt, error) {
	if s, ok := t.stmts[n]; ok {
		return s, nil
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
	q := fmt.Sprintf("INSERT INTO %s (%s) VALUES %s", t.name, strings.Join(t.cols, ", "),
		strings.TrimSuffix(strings.Repeat(row+", ", n), ", "))
	s, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	t.stmts[n] = s
	return s, nil
}

func (c *sqliteCopier) write(ctx context.Context, r rawRows) error {
	// Prepare outside the transaction: a prepared statement is reused
	// from one push to the next, as a tuned writer would.
	type chunk struct {
		stmt *sql.Stmt
		args []any
	}
	var chunks []chunk
	for _, part := range []struct {
		tbl  string
		rows [][]any
	}{{"ops", r.ops}, {"movements", r.movs}} {
		t := c.tables[part.tbl]
		for from := 0; from < len(part.rows); from += sqliteMaxRows {
			rows := part.rows[from:min(from+sqliteMaxRows, len(part.rows))]
			s, err := c.stmt(ctx, t, len(rows))
			if err != nil {
				return err
			}
			args := make([]any, 0, len(rows)*len(t.cols))
			for _, row := range rows {
				args = append(args, row...)
			}
			chunks = append(chunks, chunk{s, args})
		}
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, ch := range chunks {
		if err := execIn(ctx, tx, ch.stmt, ch.args); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// execIn runs a statement prepared on the database inside tx.
func execIn(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt, args []any) error {
	s := tx.StmtContext(ctx, stmt)
	defer s.Close()
	_, err := s.ExecContext(ctx, args...)
	return err
}

func (c *sqliteCopier) close() {
	for _, t := range c.tables {
		for _, s := range t.stmts {
			_ = s.Close()
		}
	}
}
