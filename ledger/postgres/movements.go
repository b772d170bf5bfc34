package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"stocksync/ledger"
)

// keyArrays splits keys into the three column arrays that unnest joins
// back into (location, item, batch) triples.
// keyProbe is the FROM item of the distinct keys passed as $2, $3 and $4
// (keyArrays) as k(l, i, b), for a LATERAL index probe per key.
const keyProbe = `(SELECT DISTINCT * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[])) AS k(l, i, b)`

// probe returns the FROM item of the distinct values of an array parameter
// (such as "$2::text[]") as q(v). Each query joins it to
// "CROSS JOIN LATERAL (SELECT ... WHERE tenant_id = $1 AND col = q.v
// OFFSET 0)": the OFFSET keeps the planner from flattening the subquery
// into a join it could run as a scan of the tenant's rows, so every value
// costs one index probe whatever the table statistics say.
func probe(array string) string {
	return `(SELECT DISTINCT unnest(` + array + `)) AS q(v)`
}

func keyArrays(keys []ledger.Key) (locs, items, batches []uuid.UUID) {
	locs = make([]uuid.UUID, len(keys))
	items = make([]uuid.UUID, len(keys))
	batches = make([]uuid.UUID, len(keys))
	for i, k := range keys {
		locs[i], items[i], batches[i] = k.LocationID, k.ItemID, k.BatchID
	}
	return locs, items, batches
}

// Movements.

const movementColumns = `m.tenant_id, m.position, m.location_id, m.item_id, m.batch_id, m.qty, m.kind, m.effective_at,
	m.recorded_at, m.op_id, m.device_id, m.review_id, m.corrects, m.order_ref`

// movementScan receives movementColumns, NULL-able ones through pgtype;
// callers append destinations for any further columns to dest().
type movementScan struct {
	m                                  *ledger.Movement
	opID, deviceID, reviewID, corrects pgtype.UUID
	order                              pgtype.Text
}

func (s *movementScan) dest() []any {
	m := s.m
	return []any{id(&m.TenantID), &m.Position, id(&m.LocationID), id(&m.ItemID), id(&m.BatchID), &m.Qty, &m.Kind, &m.EffectiveAt,
		&m.RecordedAt, &s.opID, &s.deviceID, &s.reviewID, &s.corrects, &s.order}
}

func (s *movementScan) finish() {
	s.m.OpID, s.m.DeviceID, s.m.ReviewID, s.m.Corrects = uuidOf(s.opID), uuidOf(s.deviceID), uuidOf(s.reviewID), uuidOf(s.corrects)
	s.m.Order = s.order.String
}

func scanMovement(row pgx.CollectableRow) (ledger.Movement, error) {
	var m ledger.Movement
	s := movementScan{m: &m}
	if err := row.Scan(s.dest()...); err != nil {
		return m, err
	}
	s.finish()
	return m, nil
}

func (r *readTx) queryMovements(ctx context.Context, what, sql string, args ...any) ([]ledger.Movement, error) {
	rows, err := r.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("select movements %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, scanMovement)
	if err != nil {
		return nil, fmt.Errorf("select movements %s: %w", what, err)
	}
	return out, nil
}

// MovementsBetween returns the movements of key with from <= effective
// time <= to, ordered by position.
func (r *readTx) MovementsBetween(ctx context.Context, tenantID uuid.UUID, key ledger.Key, from, to time.Time) ([]ledger.Movement, error) {
	return r.queryMovements(ctx, "between", `SELECT `+movementColumns+` FROM movements m
		WHERE m.tenant_id = $1 AND m.location_id = $2 AND m.item_id = $3 AND m.batch_id = $4
		  AND m.effective_at BETWEEN $5 AND $6
		ORDER BY m.position`, tenantID, key.LocationID, key.ItemID, key.BatchID, from, to)
}

// MovementsOfOp returns the movements produced by, or correcting, an
// operation, ordered by position.
func (r *readTx) MovementsOfOp(ctx context.Context, tenantID, opID uuid.UUID) ([]ledger.Movement, error) {
	return r.queryMovements(ctx, "of op", `SELECT `+movementColumns+` FROM movements m
		WHERE m.tenant_id = $1 AND (m.op_id = $2 OR m.corrects = $2)
		ORDER BY m.position`, tenantID, opID)
}

// StockAsOf sums the movements of key whose effective time is at or before
// at. It reads the balance (the sum of all of them) less the movements
// after at: a count or a late operation asks about recent times, and on a
// busy key the movements since are far fewer than all it ever had.
func (r *readTx) StockAsOf(ctx context.Context, tenantID uuid.UUID, key ledger.Key, at time.Time) (int64, error) {
	var n int64
	err := r.q.QueryRow(ctx, `SELECT
		coalesce((SELECT on_hand FROM balances
			WHERE tenant_id = $1 AND location_id = $2 AND item_id = $3 AND batch_id = $4), 0)
		- coalesce((SELECT sum(qty) FROM movements
			WHERE tenant_id = $1 AND location_id = $2 AND item_id = $3 AND batch_id = $4 AND effective_at > $5), 0)::bigint`,
		tenantID, key.LocationID, key.ItemID, key.BatchID, at).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("stock as of %s: %w", at.Format(time.RFC3339), err)
	}
	return n, nil
}

// KeyWindows answers StockAsOf and MovementsBetween for every window in two
// statements, each probing the key's indexes once per window.
func (r *readTx) KeyWindows(ctx context.Context, tenantID uuid.UUID, windows []ledger.KeyWindow) ([]ledger.KeyWindowState, error) {
	out := make([]ledger.KeyWindowState, len(windows))
	if len(windows) == 0 {
		return out, nil
	}
	var (
		keys = make([]ledger.Key, len(windows))
		at   = make([]time.Time, len(windows))
		from = make([]time.Time, len(windows))
		to   = make([]time.Time, len(windows))
	)
	for i, w := range windows {
		keys[i], at[i], from[i], to[i] = w.Key, w.At, w.From, w.To
	}
	locs, items, batches := keyArrays(keys)
	rows, err := r.q.Query(ctx, `SELECT w.n,
		coalesce((SELECT on_hand FROM balances
			WHERE tenant_id = $1 AND location_id = w.l AND item_id = w.i AND batch_id = w.b), 0)
		- coalesce((SELECT sum(qty) FROM movements
			WHERE tenant_id = $1 AND location_id = w.l AND item_id = w.i AND batch_id = w.b AND effective_at > w.at), 0)::bigint
		FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[]) WITH ORDINALITY AS w(l, i, b, at, n)`,
		tenantID, locs, items, batches, at)
	if err != nil {
		return nil, fmt.Errorf("stock as of, in windows: %w", err)
	}
	var n, stock int64
	_, err = pgx.ForEachRow(rows, []any{&n, &stock}, func() error {
		out[n-1].StockAsOf = stock
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stock as of, in windows: %w", err)
	}
	rows, err = r.q.Query(ctx, `SELECT `+movementColumns+`, w.n
		FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::timestamptz[]) WITH ORDINALITY AS w(l, i, b, f, t, n)
		CROSS JOIN LATERAL (SELECT * FROM movements
			WHERE tenant_id = $1 AND location_id = w.l AND item_id = w.i AND batch_id = w.b
			  AND effective_at BETWEEN w.f AND w.t OFFSET 0) AS m
		ORDER BY w.n, m.position`,
		tenantID, locs, items, batches, from, to)
	if err != nil {
		return nil, fmt.Errorf("movements in windows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m ledger.Movement
		s := movementScan{m: &m}
		if err := rows.Scan(append(s.dest(), &n)...); err != nil {
			return nil, fmt.Errorf("movements in windows: %w", err)
		}
		s.finish()
		out[n-1].Between = append(out[n-1].Between, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("movements in windows: %w", err)
	}
	return out, nil
}

// InsertMovements appends movements to the ledger: by COPY when there are
// many, else by one INSERT. Returns CodeConflict if a position is taken.
func (w *writeTx) InsertMovements(ctx context.Context, rows []ledger.Movement) error {
	if err := lockedRows(w, rows, func(r ledger.Movement) uuid.UUID { return r.TenantID }); err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	if len(rows) >= copyThreshold {
		_, err := w.q.CopyFrom(ctx, pgx.Identifier{"movements"}, []string{
			"tenant_id", "position", "location_id", "item_id", "batch_id", "qty", "kind", "effective_at",
			"recorded_at", "op_id", "device_id", "review_id", "corrects", "order_ref",
		}, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			m := &rows[i]
			return []any{m.TenantID, m.Position, m.LocationID, m.ItemID, m.BatchID, m.Qty, string(m.Kind), m.EffectiveAt,
				m.RecordedAt, nullUUID(m.OpID), nullUUID(m.DeviceID), nullUUID(m.ReviewID), nullUUID(m.Corrects),
				nullText(m.Order)}, nil
		}))
		return uniqueError(err, "copy movements")
	}
	var (
		tenants   = make([]uuid.UUID, len(rows))
		positions = make([]int64, len(rows))
		locs      = make([]uuid.UUID, len(rows))
		items     = make([]uuid.UUID, len(rows))
		batches   = make([]uuid.UUID, len(rows))
		qtys      = make([]int64, len(rows))
		kinds     = make([]string, len(rows))
		effective = make([]time.Time, len(rows))
		recorded  = make([]time.Time, len(rows))
		opIDs     = make([]pgtype.UUID, len(rows))
		devices   = make([]pgtype.UUID, len(rows))
		reviews   = make([]pgtype.UUID, len(rows))
		corrects  = make([]pgtype.UUID, len(rows))
		orders    = make([]pgtype.Text, len(rows))
	)
	for i, m := range rows {
		tenants[i], positions[i], locs[i], items[i], batches[i] = m.TenantID, m.Position, m.LocationID, m.ItemID, m.BatchID
		qtys[i], kinds[i], effective[i], recorded[i] = m.Qty, string(m.Kind), m.EffectiveAt, m.RecordedAt
		opIDs[i], devices[i], reviews[i], corrects[i] = nullUUID(m.OpID), nullUUID(m.DeviceID), nullUUID(m.ReviewID), nullUUID(m.Corrects)
		orders[i] = nullText(m.Order)
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO movements (tenant_id, position, location_id, item_id, batch_id, qty, kind, effective_at,
		                       recorded_at, op_id, device_id, review_id, corrects, order_ref)
		SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::uuid[], $5::uuid[], $6::bigint[], $7::text[],
		                     $8::timestamptz[], $9::timestamptz[], $10::uuid[], $11::uuid[], $12::uuid[], $13::uuid[], $14::text[])`,
		tenants, positions, locs, items, batches, qtys, kinds, effective, recorded, opIDs, devices, reviews, corrects, orders)
	return uniqueError(err, "insert movements")
}

// Balances.

// Balances returns the on-hand quantity of each key that has a balance row.
func (r *readTx) Balances(ctx context.Context, tenantID uuid.UUID, keys []ledger.Key) (map[ledger.Key]int64, error) {
	out := make(map[ledger.Key]int64, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	locs, items, batches := keyArrays(keys)
	rows, err := r.q.Query(ctx, `SELECT b.location_id, b.item_id, b.batch_id, b.on_hand
		FROM `+keyProbe+` CROSS JOIN LATERAL (
			SELECT location_id, item_id, batch_id, on_hand FROM balances
			WHERE tenant_id = $1 AND location_id = k.l AND item_id = k.i AND batch_id = k.b OFFSET 0) AS b`,
		tenantID, locs, items, batches)
	if err != nil {
		return nil, fmt.Errorf("select balances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k ledger.Key
		var n int64
		if err := rows.Scan(id(&k.LocationID), id(&k.ItemID), id(&k.BatchID), &n); err != nil {
			return nil, fmt.Errorf("select balances: %w", err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select balances: %w", err)
	}
	return out, nil
}

// AddBalances adds each delta to its balance in one statement, creating
// missing balances at zero. Rows are written in the order given (the
// ledger sorts them by key) so concurrent writers, should there ever be
// two on one key, lock rows in the same order and cannot deadlock.
func (w *writeTx) AddBalances(ctx context.Context, tenantID uuid.UUID, change int64, deltas []ledger.BalanceDelta) error {
	if err := w.locked(tenantID); err != nil {
		return err
	}
	if len(deltas) == 0 {
		return nil
	}
	// One INSERT cannot touch a row twice: a key given twice is summed
	// here first, in the order it first appears.
	merged := make([]ledger.BalanceDelta, 0, len(deltas))
	at := make(map[ledger.Key]int, len(deltas))
	for _, d := range deltas {
		if i, ok := at[d.Key]; ok {
			merged[i].Delta += d.Delta
			merged[i].LastPosition = max(merged[i].LastPosition, d.LastPosition)
			continue
		}
		at[d.Key] = len(merged)
		merged = append(merged, d)
	}
	deltas = merged
	var (
		locs      = make([]uuid.UUID, len(deltas))
		items     = make([]uuid.UUID, len(deltas))
		batches   = make([]uuid.UUID, len(deltas))
		amounts   = make([]int64, len(deltas))
		positions = make([]int64, len(deltas))
	)
	for i, d := range deltas {
		locs[i], items[i], batches[i], amounts[i], positions[i] = d.LocationID, d.ItemID, d.BatchID, d.Delta, d.LastPosition
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO balances (tenant_id, location_id, item_id, batch_id, on_hand, last_position, changed)
		SELECT $1, l, i, b, d, p, $2
		FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::bigint[], $7::bigint[]) WITH ORDINALITY AS u(l, i, b, d, p, n)
		ORDER BY n
		ON CONFLICT (tenant_id, location_id, item_id, batch_id) DO UPDATE
		SET on_hand = balances.on_hand + excluded.on_hand,
		    last_position = greatest(balances.last_position, excluded.last_position),
		    changed = excluded.changed`,
		tenantID, change, locs, items, batches, amounts, positions)
	if err != nil {
		return fmt.Errorf("add balances: %w", err)
	}
	return nil
}

// Order lines.

// OrderLines returns the lines of the given orders.
func (r *readTx) OrderLines(ctx context.Context, tenantID uuid.UUID, orders []string) ([]ledger.OrderLine, error) {
	rows, err := r.q.Query(ctx, `SELECT l.order_ref, l.item_id, l.batch_id, l.shipped, l.returned, l.first_position
		FROM `+probe("$2::text[]")+` CROSS JOIN LATERAL (
			SELECT * FROM order_lines WHERE tenant_id = $1 AND order_ref = q.v OFFSET 0) AS l
		ORDER BY l.order_ref COLLATE "C", l.first_position, l.item_id, l.batch_id`, tenantID, orders)
	if err != nil {
		return nil, fmt.Errorf("select order lines: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.OrderLine, error) {
		var l ledger.OrderLine
		err := row.Scan(&l.Order, id(&l.ItemID), id(&l.BatchID), &l.Shipped, &l.Returned, &l.FirstPosition)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("select order lines: %w", err)
	}
	return out, nil
}

// UpsertOrderLines writes the full lines (not deltas).
func (w *writeTx) UpsertOrderLines(ctx context.Context, tenantID uuid.UUID, rows []ledger.OrderLine) error {
	if err := w.locked(tenantID); err != nil {
		return err
	}
	type lineKey struct {
		order       string
		item, batch uuid.UUID
	}
	rows = lastByKey(rows, func(l ledger.OrderLine) lineKey { return lineKey{l.Order, l.ItemID, l.BatchID} })
	if len(rows) == 0 {
		return nil
	}
	var (
		orders   = make([]string, len(rows))
		items    = make([]uuid.UUID, len(rows))
		batches  = make([]uuid.UUID, len(rows))
		shipped  = make([]int64, len(rows))
		returned = make([]int64, len(rows))
		first    = make([]int64, len(rows))
	)
	for i, l := range rows {
		orders[i], items[i], batches[i], shipped[i], returned[i], first[i] = l.Order, l.ItemID, l.BatchID, l.Shipped, l.Returned, l.FirstPosition
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO order_lines (tenant_id, order_ref, item_id, batch_id, shipped, returned, first_position)
		SELECT $1, * FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::bigint[], $6::bigint[], $7::bigint[])
		ON CONFLICT (tenant_id, order_ref, item_id, batch_id) DO UPDATE
		SET shipped = excluded.shipped, returned = excluded.returned, first_position = excluded.first_position`,
		tenantID, orders, items, batches, shipped, returned, first)
	if err != nil {
		return fmt.Errorf("upsert order lines: %w", err)
	}
	return nil
}

// Counts.

// CountsOnKeys returns the posted counts on the keys, ordered by key and
// effective time.
func (r *readTx) CountsOnKeys(ctx context.Context, tenantID uuid.UUID, keys []ledger.Key) ([]ledger.CountRecord, error) {
	if len(keys) == 0 {
		return []ledger.CountRecord{}, nil
	}
	locs, items, batches := keyArrays(keys)
	rows, err := r.q.Query(ctx, `SELECT c.op_id, c.device_id, c.location_id, c.item_id, c.batch_id, c.effective_at, c.counted, c.expected, c.adjusted
		FROM `+keyProbe+` CROSS JOIN LATERAL (
			SELECT * FROM counts
			WHERE tenant_id = $1 AND location_id = k.l AND item_id = k.i AND batch_id = k.b OFFSET 0) AS c
		ORDER BY c.location_id, c.item_id, c.batch_id, c.effective_at, c.op_id`,
		tenantID, locs, items, batches)
	if err != nil {
		return nil, fmt.Errorf("select counts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.CountRecord, error) {
		var c ledger.CountRecord
		err := row.Scan(id(&c.OpID), id(&c.DeviceID), id(&c.LocationID), id(&c.ItemID), id(&c.BatchID), &c.EffectiveAt, &c.Counted, &c.Expected, &c.Adjusted)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("select counts: %w", err)
	}
	return out, nil
}

// UpsertCounts writes posted counts by op_id.
func (w *writeTx) UpsertCounts(ctx context.Context, tenantID uuid.UUID, rows []ledger.CountRecord) error {
	if err := w.locked(tenantID); err != nil {
		return err
	}
	rows = lastByKey(rows, func(c ledger.CountRecord) uuid.UUID { return c.OpID })
	if len(rows) == 0 {
		return nil
	}
	var (
		opIDs     = make([]uuid.UUID, len(rows))
		devices   = make([]uuid.UUID, len(rows))
		locs      = make([]uuid.UUID, len(rows))
		items     = make([]uuid.UUID, len(rows))
		batches   = make([]uuid.UUID, len(rows))
		effective = make([]time.Time, len(rows))
		counted   = make([]int64, len(rows))
		expected  = make([]int64, len(rows))
		adjusted  = make([]int64, len(rows))
	)
	for i, c := range rows {
		opIDs[i], devices[i], locs[i], items[i], batches[i] = c.OpID, c.DeviceID, c.LocationID, c.ItemID, c.BatchID
		effective[i], counted[i], expected[i], adjusted[i] = c.EffectiveAt, c.Counted, c.Expected, c.Adjusted
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO counts (tenant_id, op_id, device_id, location_id, item_id, batch_id, effective_at, counted, expected, adjusted)
		SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::timestamptz[],
		                         $8::bigint[], $9::bigint[], $10::bigint[])
		ON CONFLICT (tenant_id, op_id) DO UPDATE
		SET device_id = excluded.device_id, location_id = excluded.location_id, item_id = excluded.item_id,
		    batch_id = excluded.batch_id, effective_at = excluded.effective_at, counted = excluded.counted,
		    expected = excluded.expected, adjusted = excluded.adjusted`,
		tenantID, opIDs, devices, locs, items, batches, effective, counted, expected, adjusted)
	if err != nil {
		return fmt.Errorf("upsert counts: %w", err)
	}
	return nil
}

// Queries for people.

// filterSQL collects the WHERE conditions of a query built from a filter,
// numbering the placeholders as it goes.
type filterSQL struct {
	args  []any
	where strings.Builder
}

// add appends " AND cond", with each ? in cond standing for v.
func (f *filterSQL) add(cond string, v any) {
	f.args = append(f.args, v)
	f.where.WriteString(" AND " + strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(f.args))))
}

// param appends v and returns its placeholder.
func (f *filterSQL) param(v any) string {
	f.args = append(f.args, v)
	return "$" + strconv.Itoa(len(f.args))
}

// keyJoins resolve a balance or movement key (alias m) to its codes.
// Locations and items always exist for a posted key; batches do not for
// NoBatch, whose code is "".
const keyJoins = `
	JOIN locations l ON l.tenant_id = m.tenant_id AND l.location_id = m.location_id
	JOIN warehouses w ON w.tenant_id = l.tenant_id AND w.warehouse_id = l.warehouse_id
	JOIN items i ON i.tenant_id = m.tenant_id AND i.item_id = m.item_id
	LEFT JOIN batches bt ON bt.tenant_id = m.tenant_id AND bt.batch_id = m.batch_id`

func (f *filterSQL) keyFilters(warehouse, location, sku, batch string) {
	if warehouse != "" {
		f.add("w.code = ?", warehouse)
	}
	if location != "" {
		f.add("l.code = ?", location)
	}
	if sku != "" {
		f.add("i.sku = ?", sku)
	}
	if batch != "" {
		f.add("bt.code = ?", batch)
	}
}

// QueryBalances returns balances with their codes, ordered by warehouse,
// location, SKU and batch code, each current balance with its change
// number. With AsOf set it sums the movements effective at or before AsOf
// per key instead of reading balances, and Changed is 0. Limit keeps the
// first rows of that order.
func (r *readTx) QueryBalances(ctx context.Context, tenantID uuid.UUID, f ledger.BalanceFilter) ([]ledger.BalanceRow, error) {
	q := filterSQL{args: []any{tenantID}}
	q.keyFilters(f.Warehouse, f.Location, f.SKU, f.Batch)
	var sql string
	if f.AsOf.IsZero() {
		if f.NonZero {
			q.where.WriteString(" AND m.on_hand <> 0")
		}
		sql = `SELECT m.location_id, m.item_id, m.batch_id, w.code, l.code, i.sku, coalesce(bt.code, ''), m.on_hand, m.changed
			FROM balances m` + keyJoins + `
			WHERE m.tenant_id = $1` + q.where.String()
	} else {
		q.add("m.effective_at <= ?", f.AsOf)
		sql = `SELECT m.location_id, m.item_id, m.batch_id, w.code, l.code, i.sku, coalesce(bt.code, ''), sum(m.qty)::bigint, 0::bigint
			FROM movements m` + keyJoins + `
			WHERE m.tenant_id = $1` + q.where.String() + `
			GROUP BY m.location_id, m.item_id, m.batch_id, w.code, l.code, i.sku, bt.code`
		if f.NonZero {
			sql += ` HAVING sum(m.qty) <> 0`
		}
	}
	sql += ` ORDER BY w.code COLLATE "C", l.code COLLATE "C", i.sku COLLATE "C", coalesce(bt.code, '') COLLATE "C", m.batch_id`
	if f.Limit > 0 {
		sql += ` LIMIT ` + q.param(f.Limit)
	}
	rows, err := r.q.Query(ctx, sql, q.args...)
	if err != nil {
		return nil, fmt.Errorf("query balances: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.BalanceRow, error) {
		var b ledger.BalanceRow
		err := row.Scan(id(&b.LocationID), id(&b.ItemID), id(&b.BatchID), &b.Warehouse, &b.Location, &b.SKU, &b.Batch, &b.OnHand, &b.Changed)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("query balances: %w", err)
	}
	return out, nil
}

// QueryMovements returns movements with their codes, ordered by position.
// OpID matches the movements an operation produced and those correcting it.
func (r *readTx) QueryMovements(ctx context.Context, tenantID uuid.UUID, f ledger.MovementFilter) ([]ledger.MovementRow, error) {
	q := filterSQL{args: []any{tenantID}}
	q.keyFilters(f.Warehouse, f.Location, f.SKU, f.Batch)
	if f.Order != "" {
		q.add("m.order_ref = ?", f.Order)
	}
	if f.OpID != uuid.Nil {
		q.add("(m.op_id = ? OR m.corrects = ?)", f.OpID)
	}
	if f.AfterPosition > 0 {
		q.add("m.position > ?", f.AfterPosition)
	}
	sql := `SELECT ` + movementColumns + `, w.code, l.code, i.sku, coalesce(bt.code, '')
		FROM movements m` + keyJoins + `
		WHERE m.tenant_id = $1` + q.where.String() + `
		ORDER BY m.position`
	if f.Limit > 0 {
		sql += ` LIMIT ` + q.param(f.Limit)
	}
	rows, err := r.q.Query(ctx, sql, q.args...)
	if err != nil {
		return nil, fmt.Errorf("query movements: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.MovementRow, error) {
		var mr ledger.MovementRow
		s := movementScan{m: &mr.Movement}
		if err := row.Scan(append(s.dest(), &mr.Warehouse, &mr.Location, &mr.SKU, &mr.Batch)...); err != nil {
			return mr, err
		}
		s.finish()
		return mr, nil
	})
	if err != nil {
		return nil, fmt.Errorf("query movements: %w", err)
	}
	return out, nil
}

// Consistency.

// CheckConsistency compares the stored state with what the movements
// imply, with one set-based query per kind of discrepancy:
// balance_mismatch (a balance that is not the sum of its movements, or a
// non-zero sum with no balance), missing_movements (a posted canonical
// operation with no movement), position_gap (positions are not exactly
// 1..N) and counter_behind (next_position is not the highest position + 1).
func (r *readTx) CheckConsistency(ctx context.Context, tenantID uuid.UUID) ([]ledger.Discrepancy, error) {
	var out []ledger.Discrepancy

	rows, err := r.q.Query(ctx, `
		WITH s AS (
			SELECT location_id, item_id, batch_id, sum(qty)::bigint AS total
			FROM movements WHERE tenant_id = $1
			GROUP BY location_id, item_id, batch_id
		), b AS (
			SELECT location_id, item_id, batch_id, on_hand FROM balances WHERE tenant_id = $1
		)
		SELECT coalesce(b.location_id, s.location_id), coalesce(b.item_id, s.item_id), coalesce(b.batch_id, s.batch_id),
		       coalesce(s.total, 0), coalesce(b.on_hand, 0), b.on_hand IS NOT NULL
		FROM b FULL JOIN s USING (location_id, item_id, batch_id)
		WHERE coalesce(s.total, 0) <> coalesce(b.on_hand, 0)
		ORDER BY 1, 2, 3`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("check balances: %w", err)
	}
	mismatches, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.Discrepancy, error) {
		d := ledger.Discrepancy{Kind: ledger.DiscrepancyBalanceMismatch}
		var hasBalance bool
		if err := row.Scan(&d.Key.LocationID, &d.Key.ItemID, &d.Key.BatchID, &d.Want, &d.Got, &hasBalance); err != nil {
			return d, err
		}
		if hasBalance {
			d.Message = fmt.Sprintf("balance of %s/%s/%s is %d but its movements sum to %d",
				d.Key.LocationID, d.Key.ItemID, d.Key.BatchID, d.Got, d.Want)
		} else {
			d.Message = fmt.Sprintf("no balance for %s/%s/%s but its movements sum to %d",
				d.Key.LocationID, d.Key.ItemID, d.Key.BatchID, d.Want)
		}
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("check balances: %w", err)
	}
	out = append(out, mismatches...)

	rows, err = r.q.Query(ctx, `
		SELECT o.op_id, o.device_id, o.seq FROM ops o
		WHERE o.tenant_id = $1 AND o.canonical AND o.posted
		  AND NOT EXISTS (SELECT 1 FROM movements m WHERE m.tenant_id = o.tenant_id AND m.op_id = o.op_id)
		ORDER BY o.device_id, o.seq`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("check posted ops: %w", err)
	}
	missing, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.Discrepancy, error) {
		d := ledger.Discrepancy{Kind: ledger.DiscrepancyMissingMovements}
		var device uuid.UUID
		var seq int64
		if err := row.Scan(&d.OpID, &device, &seq); err != nil {
			return d, err
		}
		d.Message = fmt.Sprintf("operation %s (device %s, seq %d) is posted but has no movements", d.OpID, device, seq)
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("check posted ops: %w", err)
	}
	out = append(out, missing...)

	// One discrepancy per gap in 1..N: Want the first missing position,
	// Got the next position present.
	gaps, err := r.q.Query(ctx, `
		SELECT prev + 1, position FROM (
			SELECT position, coalesce(lag(position) OVER (ORDER BY position), 0) AS prev
			FROM movements WHERE tenant_id = $1) x
		WHERE position <> prev + 1
		ORDER BY position`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("check positions: %w", err)
	}
	for gaps.Next() {
		d := ledger.Discrepancy{Kind: ledger.DiscrepancyPositionGap}
		if err := gaps.Scan(&d.Want, &d.Got); err != nil {
			gaps.Close()
			return nil, fmt.Errorf("check positions: %w", err)
		}
		d.Message = fmt.Sprintf("positions %d to %d are missing", d.Want, d.Got-1)
		out = append(out, d)
	}
	gaps.Close()
	if err := gaps.Err(); err != nil {
		return nil, fmt.Errorf("check positions: %w", err)
	}
	var highest, next int64
	err = r.q.QueryRow(ctx, `
		SELECT coalesce((SELECT max(position) FROM movements WHERE tenant_id = $1), 0), t.next_position
		FROM tenants t WHERE t.tenant_id = $1`, tenantID).Scan(&highest, &next)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
		}
		return nil, fmt.Errorf("check positions: %w", err)
	}
	if next != highest+1 {
		out = append(out, ledger.Discrepancy{
			Kind: ledger.DiscrepancyCounterBehind, Want: highest + 1, Got: next,
			Message: fmt.Sprintf("next position is %d but the highest position is %d", next, highest),
		})
	}
	return out, nil
}
