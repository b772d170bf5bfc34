package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// where collects the conditions of a query built from a filter, adding only
// the ones that are set so each query can use the indexes that fit it.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string { return strings.Join(w.conds, " AND ") }

// limit turns the filters' "0 means no limit" into SQLite's LIMIT -1.
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// keyNames joins the key columns of the table aliased a to its location,
// warehouse, item and batch (aliased l, w, i, b) for the human-readable
// codes; the nil batch has no row, and its code is "".
func keyNames(a string) string {
	return strings.NewReplacer("$", a).Replace(`
	JOIN locations l ON l.tenant_id = $.tenant_id AND l.location_id = $.location_id
	JOIN warehouses w ON w.tenant_id = l.tenant_id AND w.warehouse_id = l.warehouse_id
	JOIN items i ON i.tenant_id = $.tenant_id AND i.item_id = $.item_id
	LEFT JOIN batches b ON b.tenant_id = $.tenant_id AND b.batch_id = $.batch_id`)
}

// addKeyNames adds the code filters shared by balances and movements.
func addKeyNames(w *where, warehouse, location, sku, batch string) {
	if warehouse != "" {
		w.add("w.code = ?", warehouse)
	}
	if location != "" {
		w.add("l.code = ?", location)
	}
	if sku != "" {
		w.add("i.sku = ?", sku)
	}
	if batch != "" {
		w.add("b.code = ?", batch)
	}
}

// QueryBalances returns balances with their codes, ordered by warehouse,
// location, SKU and batch, each current balance with its change number.
// With f.AsOf set, quantities are sums of the movements effective at or
// before it (the effective axis), so keys whose only movements are later do
// not appear, and Changed is 0. Limit keeps the first rows of that order.
func (r *readTx) QueryBalances(ctx context.Context, tenantID uuid.UUID, f ledger.BalanceFilter) ([]ledger.BalanceRow, error) {
	source, args := `balances`, []any{}
	if !f.AsOf.IsZero() {
		source = `(SELECT tenant_id, location_id, item_id, batch_id, sum(qty) AS on_hand, 0 AS changed FROM movements
			WHERE tenant_id = ? AND effective_at <= ? GROUP BY tenant_id, location_id, item_id, batch_id)`
		args = append(args, tenantID, f.AsOf.UnixMicro())
	}
	var w where
	w.add("k.tenant_id = ?", tenantID)
	addKeyNames(&w, f.Warehouse, f.Location, f.SKU, f.Batch)
	if f.NonZero {
		w.add("k.on_hand <> 0")
	}
	rows, err := queryRows(ctx, r.tx, func(sc scanner) (ledger.BalanceRow, error) {
		var b ledger.BalanceRow
		err := sc.Scan(&b.LocationID, &b.ItemID, &b.BatchID, &b.Warehouse, &b.Location, &b.SKU, &b.Batch, &b.OnHand, &b.Changed)
		return b, err
	}, `SELECT k.location_id, k.item_id, k.batch_id, w.code, l.code, i.sku, coalesce(b.code, ''), k.on_hand, k.changed
		FROM `+source+` k`+keyNames("k")+`
		WHERE `+w.String()+`
		ORDER BY w.code, l.code, i.sku, coalesce(b.code, ''), k.batch_id
		LIMIT ?`, append(append(args, w.args...), limit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("query balances: %w", err)
	}
	return rows, nil
}

// QueryMovements returns movements with their codes, ordered by position.
// f.OpID matches the movements an operation produced and those correcting it.
func (r *readTx) QueryMovements(ctx context.Context, tenantID uuid.UUID, f ledger.MovementFilter) ([]ledger.MovementRow, error) {
	var w where
	w.add("m.tenant_id = ?", tenantID)
	addKeyNames(&w, f.Warehouse, f.Location, f.SKU, f.Batch)
	if f.Order != "" {
		// As a plain condition SQLite would rather walk the tenant's
		// movements in position order than use movements_order and sort.
		w.add("m.rowid IN (SELECT rowid FROM movements WHERE tenant_id = ? AND order_ref = ?)", tenantID, f.Order)
	}
	if f.OpID != uuid.Nil {
		w.add("m.rowid IN ("+movementsOfOp+")", tenantID, f.OpID, tenantID, f.OpID)
	}
	if f.AfterPosition > 0 {
		w.add("m.position > ?", f.AfterPosition)
	}
	rows, err := queryRows(ctx, r.tx, func(sc scanner) (ledger.MovementRow, error) {
		var m ledger.MovementRow
		dest, finish := movementDest(&m.Movement)
		err := sc.Scan(append(dest, &m.Warehouse, &m.Location, &m.SKU, &m.Batch)...)
		finish()
		m.TenantID = tenantID
		return m, err
	}, `SELECT `+movementCols+`, w.code, l.code, i.sku, coalesce(b.code, '')
		FROM movements m`+keyNames("m")+`
		WHERE `+w.String()+`
		ORDER BY m.position
		LIMIT ?`, append(w.args, limit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("query movements: %w", err)
	}
	return rows, nil
}

// reviewWhere turns f into the conditions on reviews aliased r.
func reviewWhere(tenantID uuid.UUID, f ledger.ReviewFilter) where {
	var w where
	w.add("r.tenant_id = ?", tenantID)
	if f.Status != "" {
		w.add("r.status = ?", string(f.Status))
	}
	if f.Kind != "" {
		w.add("r.kind = ?", string(f.Kind))
	}
	if len(f.IDs) > 0 {
		w.add("r.review_id IN (SELECT value FROM json_each(?))", jsonList(f.IDs))
	}
	if f.DeviceID != uuid.Nil {
		w.add("r.review_id IN (SELECT review_id FROM review_ops WHERE tenant_id = ? AND device_id = ?)", tenantID, f.DeviceID)
	}
	if f.OpID != uuid.Nil {
		w.add("r.review_id IN (SELECT review_id FROM review_ops WHERE tenant_id = ? AND op_id = ?)", tenantID, f.OpID)
	}
	if f.WarehouseID != uuid.Nil {
		w.add(`(EXISTS (SELECT 1 FROM locations l WHERE l.tenant_id = r.tenant_id AND l.location_id = r.location_id AND l.warehouse_id = ?)
			OR (r.location_id = ? AND EXISTS (
				SELECT 1 FROM devices d WHERE d.tenant_id = r.tenant_id AND d.device_id = r.device_id AND d.warehouse_id = ?)))`,
			f.WarehouseID, uuid.Nil, f.WarehouseID)
	}
	if f.Actor != "" {
		// The opening operation's canonical payload, by its unique index.
		w.add(`EXISTS (SELECT 1 FROM ops o WHERE o.tenant_id = r.tenant_id AND o.op_id = r.op_id AND o.canonical = 1
			AND json_extract(o.payload, '$.actor') = ?)`, f.Actor)
	}
	if !f.OpenedAfter.IsZero() {
		w.add("r.opened_at >= ?", f.OpenedAfter.UnixMicro())
	}
	if !f.OpenedBefore.IsZero() {
		w.add("r.opened_at < ?", f.OpenedBefore.UnixMicro())
	}
	if !f.ResolvedAfter.IsZero() {
		w.add("r.resolved_at >= ?", f.ResolvedAfter.UnixMicro())
	}
	if !f.ResolvedBefore.IsZero() {
		w.add("r.resolved_at < ?", f.ResolvedBefore.UnixMicro())
	}
	if f.ResolvedBy != "" {
		w.add("json_extract(r.resolution, '$.by') = ?", f.ResolvedBy)
	}
	if f.Action != "" {
		w.add("json_extract(r.resolution, '$.action') = ?", string(f.Action))
	}
	if f.Order == ledger.ReviewsNewestResolved {
		w.add("r.resolved_at IS NOT NULL")
	}
	return w
}

// QueryReviews returns reviews with their operations (only the opening
// one with f.OpeningOpOnly), in f.Order. f.DeviceID and f.OpID match any
// operation involved, not only the opening one.
func (r *readTx) QueryReviews(ctx context.Context, tenantID uuid.UUID, f ledger.ReviewFilter) ([]ledger.Review, error) {
	w := reviewWhere(tenantID, f)
	order := `r.opened_at, r.review_id`
	if f.Order == ledger.ReviewsNewestResolved {
		order = `r.resolved_at DESC, r.review_id DESC`
	}
	query := `SELECT ` + reviewCols + ` FROM reviews r
		WHERE ` + w.String() + `
		ORDER BY ` + order + `
		LIMIT ?`
	args := append(w.args, limit(f.Limit))
	var rvs []ledger.Review
	var err error
	if f.OpeningOpOnly {
		rvs, err = r.queryOpenReviews(ctx, tenantID, query, args...)
	} else {
		rvs, err = r.queryReviews(ctx, tenantID, query, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("query reviews: %w", err)
	}
	return rvs, nil
}

// CountReviews counts the reviews matching f (without its Limit), by kind.
func (r *readTx) CountReviews(ctx context.Context, tenantID uuid.UUID, f ledger.ReviewFilter) (map[ledger.ReviewKind]int, error) {
	w := reviewWhere(tenantID, f)
	type count struct {
		kind ledger.ReviewKind
		n    int
	}
	rows, err := queryRows(ctx, r.tx, func(sc scanner) (count, error) {
		var c count
		err := sc.Scan(&c.kind, &c.n)
		return c, err
	}, `SELECT r.kind, count(*) FROM reviews r WHERE `+w.String()+` GROUP BY r.kind`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("count reviews: %w", err)
	}
	out := make(map[ledger.ReviewKind]int, len(rows))
	for _, c := range rows {
		out[c.kind] = c.n
	}
	return out, nil
}

// ReviewFlow counts the tenant's reviews opened and resolved in each of n
// periods of step after from, and those open at from, with aggregates
// over the opening and resolution indexes. A period's number is its end's
// distance from from in steps, rounded up: 1 for (from, from+step].
func (r *readTx) ReviewFlow(ctx context.Context, tenantID uuid.UUID, from time.Time, step time.Duration, n int) (ledger.ReviewFlow, error) {
	flow := ledger.ReviewFlow{Opened: make([]int, n), Resolved: make([]int, n)}
	start, us := from.UnixMicro(), step.Microseconds()
	end := start + int64(n)*us
	err := r.tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM reviews WHERE tenant_id = ?1 AND status = 'open' AND resolved_at IS NULL AND opened_at <= ?2)
			+ (SELECT count(*) FROM reviews WHERE tenant_id = ?1 AND resolved_at > ?2 AND opened_at <= ?2)`,
		tenantID, start).Scan(&flow.Open)
	if err != nil {
		return flow, fmt.Errorf("count reviews open at %s: %w", from.Format(time.RFC3339), err)
	}
	type period struct{ p, n int64 }
	for _, c := range []struct {
		what string
		dst  []int
		sql  string
	}{
		// Both statuses are named so the scan is two ranges of
		// reviews_queue rather than the tenant's whole table.
		{"opened", flow.Opened, `SELECT (opened_at - ?2 + ?4 - 1) / ?4 AS p, count(*) FROM reviews
			WHERE tenant_id = ?1 AND status IN ('open', 'resolved') AND opened_at > ?2 AND opened_at <= ?3 GROUP BY p`},
		// A resolution counts at max(resolved_at, opened_at): those timed
		// in the span on reviews opened by its end, and those timed before
		// it on reviews opened in it.
		{"resolved", flow.Resolved, `SELECT p, count(*) FROM (
				SELECT (max(resolved_at, opened_at) - ?2 + ?4 - 1) / ?4 AS p FROM reviews
				WHERE tenant_id = ?1 AND resolved_at > ?2 AND resolved_at <= ?3 AND opened_at <= ?3
				UNION ALL
				SELECT (opened_at - ?2 + ?4 - 1) / ?4 FROM reviews
				WHERE tenant_id = ?1 AND status IN ('open', 'resolved') AND opened_at > ?2 AND opened_at <= ?3 AND resolved_at <= ?2
			) GROUP BY p`},
	} {
		rows, err := queryRows(ctx, r.tx, func(sc scanner) (period, error) {
			var p period
			err := sc.Scan(&p.p, &p.n)
			return p, err
		}, c.sql, tenantID, start, end, us)
		if err != nil {
			return flow, fmt.Errorf("count reviews %s per period: %w", c.what, err)
		}
		for _, p := range rows {
			if p.p >= 1 && p.p <= int64(n) {
				c.dst[p.p-1] += int(p.n)
			}
		}
	}
	return flow, nil
}

// QueryOpLog returns op log entries and op conflicts ordered by device and
// seq; the conflicts on a seq come after the entry that holds it, in the
// order they were received.
func (r *readTx) QueryOpLog(ctx context.Context, tenantID uuid.UUID, f ledger.OpLogFilter) ([]ledger.OpLogEntry, error) {
	var w where
	w.add("tenant_id = ?", tenantID)
	if f.DeviceID != uuid.Nil {
		w.add("device_id = ?", f.DeviceID)
	}
	if f.Status != "" {
		w.add("status = ?", string(f.Status))
	}
	if f.AfterSeq > 0 {
		w.add("seq > ?", f.AfterSeq)
	}
	cond := w.String()
	args := append(append(append([]any{}, w.args...), w.args...), limit(f.Limit))
	rows, err := queryRows(ctx, r.tx, func(sc scanner) (ledger.OpLogEntry, error) {
		var e ledger.OpLogEntry
		var received int64
		var effective sql.NullInt64
		var result, sortID string
		if err := sc.Scan(&e.DeviceID, &e.Seq, &e.OpID, &e.Kind, &e.Payload, &e.PayloadHash, &received, &effective,
			&result, &e.Canonical, &e.Posted, &e.Conflict, &sortID); err != nil {
			return e, err
		}
		e.TenantID = tenantID
		e.ReceivedAt = fromMicros(received)
		e.EffectiveAt = fromNullMicros(effective)
		if err := json.Unmarshal([]byte(result), &e.Result); err != nil {
			return e, fmt.Errorf("result of op %s: %w", e.OpID, err)
		}
		return e, nil
	}, `SELECT `+opCols+`, 0 AS conflict, '' AS sort_id FROM ops WHERE `+cond+`
		UNION ALL
		SELECT device_id, seq, op_id, kind, payload, payload_hash, received_at, NULL, result, 0, 0, 1, conflict_id
		FROM op_conflicts WHERE `+cond+`
		ORDER BY device_id, seq, conflict, received_at, sort_id
		LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("query op log: %w", err)
	}
	return rows, nil
}

// CheckConsistency compares the stored state with what the movements imply,
// each check one set-based query:
//
//   - balance_mismatch: a balance differs from the sum of its key's
//     movements (Want the sum, Got the balance), including a key whose
//     movements sum to non-zero but that has no balance row (Got 0);
//   - missing_movements: a canonical operation marked posted has no
//     movement with its op_id (a count with no variance posts a zero
//     movement, so every posted operation has one);
//   - position_gap: positions are not exactly 1..N: one discrepancy per gap,
//     Want the first missing position and Got the next position present;
//   - counter_behind: next_position is not one past the last position
//     (Want last+1, Got next_position).
func (r *readTx) CheckConsistency(ctx context.Context, tenantID uuid.UUID) ([]ledger.Discrepancy, error) {
	var out []ledger.Discrepancy
	mismatches, err := queryRows(ctx, r.tx, func(sc scanner) (ledger.Discrepancy, error) {
		d := ledger.Discrepancy{Kind: ledger.DiscrepancyBalanceMismatch}
		err := sc.Scan(&d.Key.LocationID, &d.Key.ItemID, &d.Key.BatchID, &d.Want, &d.Got)
		d.Message = fmt.Sprintf("balance of location %s item %s batch %s is %d, its movements sum to %d",
			d.Key.LocationID, d.Key.ItemID, d.Key.BatchID, d.Got, d.Want)
		return d, err
	}, `WITH sums AS (
			SELECT location_id, item_id, batch_id, sum(qty) AS total FROM movements
			WHERE tenant_id = ? GROUP BY location_id, item_id, batch_id
		)
		SELECT b.location_id, b.item_id, b.batch_id, coalesce(s.total, 0), b.on_hand
		FROM balances b
		LEFT JOIN sums s ON s.location_id = b.location_id AND s.item_id = b.item_id AND s.batch_id = b.batch_id
		WHERE b.tenant_id = ? AND b.on_hand <> coalesce(s.total, 0)
		UNION ALL
		SELECT s.location_id, s.item_id, s.batch_id, s.total, 0
		FROM sums s
		WHERE s.total <> 0 AND NOT EXISTS (
			SELECT 1 FROM balances b WHERE b.tenant_id = ?
			  AND b.location_id = s.location_id AND b.item_id = s.item_id AND b.batch_id = s.batch_id)
		ORDER BY 1, 2, 3`, tenantID, tenantID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("check balances of tenant %s: %w", tenantID, err)
	}
	out = append(out, mismatches...)

	missing, err := queryRows(ctx, r.tx, func(sc scanner) (ledger.Discrepancy, error) {
		d := ledger.Discrepancy{Kind: ledger.DiscrepancyMissingMovements}
		var device uuid.UUID
		var seq int64
		err := sc.Scan(&d.OpID, &device, &seq)
		d.Message = fmt.Sprintf("op %s (device %s seq %d) is posted but has no movements", d.OpID, device, seq)
		return d, err
	}, `SELECT o.op_id, o.device_id, o.seq FROM ops o
		WHERE o.tenant_id = ? AND o.canonical = 1 AND o.posted = 1
		  AND NOT EXISTS (SELECT 1 FROM movements m WHERE m.tenant_id = o.tenant_id AND m.op_id = o.op_id)
		ORDER BY o.device_id, o.seq`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("check posted ops of tenant %s: %w", tenantID, err)
	}
	out = append(out, missing...)

	gaps, err := queryRows(ctx, r.tx, func(sc scanner) (ledger.Discrepancy, error) {
		d := ledger.Discrepancy{Kind: ledger.DiscrepancyPositionGap}
		err := sc.Scan(&d.Want, &d.Got)
		if d.Want == d.Got-1 {
			d.Message = fmt.Sprintf("position %d is missing", d.Want)
		} else {
			d.Message = fmt.Sprintf("positions %d to %d are missing", d.Want, d.Got-1)
		}
		return d, err
	}, `SELECT prev + 1, position FROM (
			SELECT position, coalesce(lag(position) OVER (ORDER BY position), 0) AS prev
			FROM movements WHERE tenant_id = ?
		) WHERE position <> prev + 1
		ORDER BY position`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("check positions of tenant %s: %w", tenantID, err)
	}
	out = append(out, gaps...)

	var next, last int64
	err = r.tx.QueryRowContext(ctx, `SELECT t.next_position,
			coalesce((SELECT max(position) FROM movements WHERE tenant_id = t.tenant_id), 0)
		FROM tenants t WHERE t.tenant_id = ?`, tenantID).Scan(&next, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
	}
	if err != nil {
		return nil, fmt.Errorf("check counters of tenant %s: %w", tenantID, err)
	}
	if next != last+1 {
		out = append(out, ledger.Discrepancy{Kind: ledger.DiscrepancyCounterBehind, Want: last + 1, Got: next,
			Message: fmt.Sprintf("next position is %d, the last movement is at %d", next, last)})
	}
	return out, nil
}
