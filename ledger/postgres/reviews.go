package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"stocksync/ledger"
)

// reviewSelect reads reviews (alias r) with their operations in one query,
// the opening operation first (ord 0), the others in the order they joined.
const reviewSelect = reviewColumns + `reviews r` + reviewOpsJoin

// reviewColumns and reviewOpsJoin surround the FROM item that yields the
// reviews as r.
const reviewColumns = `SELECT r.tenant_id, r.review_id, r.kind, r.severity, r.status, r.op_id, r.device_id,
	r.location_id, r.item_id, r.batch_id, r.order_ref, r.evidence, r.suggestions, r.resolution, r.opened_at, r.changed,
	o.op_ids, o.device_ids
	FROM `

const reviewOpsJoin = `
	CROSS JOIN LATERAL (
		SELECT array_agg(ro.op_id ORDER BY ro.ord, ro.op_id) AS op_ids,
		       array_agg(ro.device_id ORDER BY ro.ord, ro.op_id) AS device_ids
		FROM review_ops ro WHERE ro.tenant_id = r.tenant_id AND ro.review_id = r.review_id
	) o`

func scanReview(row pgx.CollectableRow) (ledger.Review, error) {
	var rv ledger.Review
	var order pgtype.Text
	var evidence, suggestions, resolution []byte
	var opIDs, deviceIDs []uuid.UUID
	if err := row.Scan(id(&rv.TenantID), id(&rv.ID), &rv.Kind, &rv.Severity, &rv.Status, id(&rv.OpID), id(&rv.DeviceID),
		id(&rv.LocationID), id(&rv.ItemID), id(&rv.BatchID), &order, &evidence, &suggestions, &resolution, &rv.OpenedAt, &rv.Changed,
		&opIDs, &deviceIDs); err != nil {
		return rv, err
	}
	rv.Order = order.String
	if err := json.Unmarshal(evidence, &rv.Evidence); err != nil {
		return rv, fmt.Errorf("decode evidence of review %s: %w", rv.ID, err)
	}
	if err := json.Unmarshal(suggestions, &rv.Suggestions); err != nil {
		return rv, fmt.Errorf("decode suggestions of review %s: %w", rv.ID, err)
	}
	if resolution != nil {
		if err := json.Unmarshal(resolution, &rv.Resolution); err != nil {
			return rv, fmt.Errorf("decode resolution of review %s: %w", rv.ID, err)
		}
	}
	if len(opIDs) > 0 {
		rv.Ops = make([]ledger.ReviewOp, len(opIDs))
		for i := range opIDs {
			rv.Ops[i] = ledger.ReviewOp{OpID: opIDs[i], DeviceID: deviceIDs[i]}
		}
	}
	return rv, nil
}

// openingOpOnly stands in for reviewOpsJoin in the merge's reads, whose
// reviews carry only their opening operation (see ledger.Store.OpenReviews).
const openingOpOnly = `
	CROSS JOIN LATERAL (SELECT NULL::uuid[] AS op_ids, NULL::uuid[] AS device_ids) o`

// queryOpenReviews runs one of the merge's open-review reads.
func (r *readTx) queryOpenReviews(ctx context.Context, what, sql string, args ...any) ([]ledger.Review, error) {
	rvs, err := r.queryReviews(ctx, what, sql, args...)
	for i := range rvs {
		rvs[i].KeepOpeningOp()
	}
	return rvs, err
}

func (r *readTx) queryReviews(ctx context.Context, what, sql string, args ...any) ([]ledger.Review, error) {
	rows, err := r.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("select reviews %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, scanReview)
	if err != nil {
		return nil, fmt.Errorf("select reviews %s: %w", what, err)
	}
	return out, nil
}

// Review returns one review with its operations. Returns CodeNotFound.
func (r *readTx) Review(ctx context.Context, tenantID, reviewID uuid.UUID) (ledger.Review, error) {
	rows, err := r.q.Query(ctx, reviewSelect+` WHERE r.tenant_id = $1 AND r.review_id = $2`, tenantID, reviewID)
	if err != nil {
		return ledger.Review{}, fmt.Errorf("select review %s: %w", reviewID, err)
	}
	rv, err := pgx.CollectExactlyOneRow(rows, scanReview)
	if errors.Is(err, pgx.ErrNoRows) {
		return rv, ledger.Errorf(ledger.CodeNotFound, "review %s not found", reviewID)
	}
	if err != nil {
		return rv, fmt.Errorf("select review %s: %w", reviewID, err)
	}
	return rv, nil
}

// OpenReviews returns the open reviews on any of the keys or orders,
// ordered by opening time, each with only its opening operation.
func (r *readTx) OpenReviews(ctx context.Context, tenantID uuid.UUID, keys []ledger.Key, orders []string) ([]ledger.Review, error) {
	if len(keys) == 0 && len(orders) == 0 {
		return []ledger.Review{}, nil
	}
	locs, items, batches := keyArrays(keys)
	if orders == nil {
		orders = []string{}
	}
	// Two branches rather than one OR, so each probes its partial index. A
	// review on one of the keys that also names one of the orders comes
	// from both: the second copy is dropped here.
	found, err := r.queryOpenReviews(ctx, "open", reviewColumns+`(
			SELECT open.* FROM `+keyProbe+` CROSS JOIN LATERAL (
				SELECT * FROM reviews
				WHERE tenant_id = $1 AND status = 'open' AND location_id = k.l AND item_id = k.i AND batch_id = k.b
				  AND kind NOT IN ('count_variance', 'count_ambiguous') OFFSET 0) AS open
			UNION ALL
			SELECT open.* FROM `+probe("$5::text[]")+` CROSS JOIN LATERAL (
				SELECT * FROM reviews WHERE tenant_id = $1 AND status = 'open' AND order_ref = q.v OFFSET 0) AS open
		) AS r`+openingOpOnly+`
		ORDER BY r.opened_at, r.review_id`,
		tenantID, locs, items, batches, orders)
	if err != nil {
		return nil, err
	}
	return slices.CompactFunc(found, func(a, b ledger.Review) bool { return a.ID == b.ID }), nil
}

// OpenReviewsOfOps returns the open reviews the operations opened, ordered
// by opening time, each with only its opening operation.
func (r *readTx) OpenReviewsOfOps(ctx context.Context, tenantID uuid.UUID, opIDs []uuid.UUID) ([]ledger.Review, error) {
	if len(opIDs) == 0 {
		return []ledger.Review{}, nil
	}
	return r.queryOpenReviews(ctx, "open of ops", reviewColumns+probe("$2::uuid[]")+` CROSS JOIN LATERAL (
			SELECT * FROM reviews WHERE tenant_id = $1 AND status = 'open' AND op_id = q.v OFFSET 0) AS r`+openingOpOnly+`
		ORDER BY r.opened_at, r.review_id`, tenantID, opIDs)
}

// reviewFilter turns f into conditions on reviews aliased r, after
// "r.tenant_id = $1".
func reviewFilter(tenantID uuid.UUID, f ledger.ReviewFilter) filterSQL {
	q := filterSQL{args: []any{tenantID}}
	if f.Status != "" {
		q.add("r.status = ?", string(f.Status))
	}
	if f.Kind != "" {
		q.add("r.kind = ?", string(f.Kind))
	}
	if len(f.IDs) > 0 {
		q.add("r.review_id = ANY(?::uuid[])", f.IDs)
	}
	if f.DeviceID != uuid.Nil {
		q.add(`EXISTS (SELECT 1 FROM review_ops x WHERE x.tenant_id = r.tenant_id AND x.review_id = r.review_id AND x.device_id = ?)`, f.DeviceID)
	}
	if f.OpID != uuid.Nil {
		q.add(`EXISTS (SELECT 1 FROM review_ops x WHERE x.tenant_id = r.tenant_id AND x.review_id = r.review_id AND x.op_id = ?)`, f.OpID)
	}
	if f.WarehouseID != uuid.Nil {
		q.add(`(EXISTS (SELECT 1 FROM locations l WHERE l.tenant_id = r.tenant_id AND l.location_id = r.location_id AND l.warehouse_id = ?)
			OR (r.location_id = '00000000-0000-0000-0000-000000000000' AND EXISTS (
				SELECT 1 FROM devices d WHERE d.tenant_id = r.tenant_id AND d.device_id = r.device_id AND d.warehouse_id = ?)))`, f.WarehouseID)
	}
	if f.Actor != "" {
		// The opening operation's canonical payload, by its unique index.
		q.add(`EXISTS (SELECT 1 FROM ops o WHERE o.tenant_id = r.tenant_id AND o.op_id = r.op_id AND o.canonical
			AND convert_from(o.payload, 'UTF8')::jsonb ->> 'actor' = ?)`, f.Actor)
	}
	if !f.OpenedAfter.IsZero() {
		q.add("r.opened_at >= ?", f.OpenedAfter)
	}
	if !f.OpenedBefore.IsZero() {
		q.add("r.opened_at < ?", f.OpenedBefore)
	}
	if !f.ResolvedAfter.IsZero() {
		q.add("r.resolved_at >= ?", f.ResolvedAfter)
	}
	if !f.ResolvedBefore.IsZero() {
		q.add("r.resolved_at < ?", f.ResolvedBefore)
	}
	if f.ResolvedBy != "" {
		q.add("r.resolution ->> 'by' = ?", f.ResolvedBy)
	}
	if f.Action != "" {
		q.add("r.resolution ->> 'action' = ?", string(f.Action))
	}
	if f.Order == ledger.ReviewsNewestResolved {
		q.where.WriteString(" AND r.resolved_at IS NOT NULL")
	}
	return q
}

// QueryReviews returns reviews matching f in f.Order. DeviceID and OpID
// match any operation involved, not only the opening one.
func (r *readTx) QueryReviews(ctx context.Context, tenantID uuid.UUID, f ledger.ReviewFilter) ([]ledger.Review, error) {
	q := reviewFilter(tenantID, f)
	ops := reviewOpsJoin
	if f.OpeningOpOnly {
		ops = openingOpOnly
	}
	order := ` ORDER BY r.opened_at, r.review_id`
	if f.Order == ledger.ReviewsNewestResolved {
		order = ` ORDER BY r.resolved_at DESC, r.review_id DESC`
	}
	// The reviews are chosen and limited before their operations are
	// aggregated, so a limit bounds that work too.
	sql := reviewColumns + `(SELECT * FROM reviews r WHERE r.tenant_id = $1` + q.where.String() + order
	if f.Limit > 0 {
		sql += ` LIMIT ` + q.param(f.Limit)
	}
	sql += `) AS r` + ops + order
	if f.OpeningOpOnly {
		return r.queryOpenReviews(ctx, "by filter", sql, q.args...)
	}
	return r.queryReviews(ctx, "by filter", sql, q.args...)
}

// CountReviews counts the reviews matching f (without its Limit), by kind.
func (r *readTx) CountReviews(ctx context.Context, tenantID uuid.UUID, f ledger.ReviewFilter) (map[ledger.ReviewKind]int, error) {
	q := reviewFilter(tenantID, f)
	rows, err := r.q.Query(ctx, `SELECT r.kind, count(*) FROM reviews r WHERE r.tenant_id = $1`+q.where.String()+` GROUP BY r.kind`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("count reviews: %w", err)
	}
	out := map[ledger.ReviewKind]int{}
	var kind string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&kind, &n}, func() error {
		out[ledger.ReviewKind(kind)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count reviews: %w", err)
	}
	return out, nil
}

// ReviewFlow counts the tenant's reviews opened and resolved in each of n
// periods of step after from, and those open at from, with aggregates
// over the opening and resolution indexes. A period's number is its end's
// distance from from in steps, rounded up: 1 for (from, from+step].
func (r *readTx) ReviewFlow(ctx context.Context, tenantID uuid.UUID, from time.Time, step time.Duration, n int) (ledger.ReviewFlow, error) {
	flow := ledger.ReviewFlow{Opened: make([]int, n), Resolved: make([]int, n)}
	to := from.Add(time.Duration(n) * step)
	err := r.q.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM reviews WHERE tenant_id = $1 AND status = 'open' AND resolved_at IS NULL AND opened_at <= $2)
			+ (SELECT count(*) FROM reviews WHERE tenant_id = $1 AND resolved_at > $2 AND opened_at <= $2)`,
		tenantID, from).Scan(&flow.Open)
	if err != nil {
		return flow, fmt.Errorf("count reviews open at %s: %w", from.Format(time.RFC3339), err)
	}
	// The period of t: ceil((t - from) / step), in microseconds.
	const period = `((extract(epoch FROM (%s - $2)) * 1000000)::bigint + $4 - 1) / $4`
	for _, c := range []struct {
		what string
		dst  []int
		sql  string
	}{
		// Both statuses are named so the scan is two ranges of
		// reviews_queue rather than the tenant's whole table.
		{"opened", flow.Opened, `SELECT ` + fmt.Sprintf(period, "opened_at") + ` AS p, count(*) FROM reviews
			WHERE tenant_id = $1 AND status IN ('open', 'resolved') AND opened_at > $2 AND opened_at <= $3 GROUP BY p`},
		// A resolution counts at greatest(resolved_at, opened_at): those
		// timed in the span on reviews opened by its end, and those timed
		// before it on reviews opened in it.
		{"resolved", flow.Resolved, `SELECT p, count(*) FROM (
				SELECT ` + fmt.Sprintf(period, "greatest(resolved_at, opened_at)") + ` AS p FROM reviews
				WHERE tenant_id = $1 AND resolved_at > $2 AND resolved_at <= $3 AND opened_at <= $3
				UNION ALL
				SELECT ` + fmt.Sprintf(period, "opened_at") + ` FROM reviews
				WHERE tenant_id = $1 AND status IN ('open', 'resolved') AND opened_at > $2 AND opened_at <= $3 AND resolved_at <= $2
			) AS x GROUP BY p`},
	} {
		rows, err := r.q.Query(ctx, c.sql, tenantID, from, to, micros(step))
		if err != nil {
			return flow, fmt.Errorf("count reviews %s per period: %w", c.what, err)
		}
		var p int64
		var count int
		_, err = pgx.ForEachRow(rows, []any{&p, &count}, func() error {
			if p >= 1 && p <= int64(n) {
				c.dst[p-1] += count
			}
			return nil
		})
		if err != nil {
			return flow, fmt.Errorf("count reviews %s per period: %w", c.what, err)
		}
	}
	return flow, nil
}

// UpsertReviews writes reviews by ID and adds any operations they list that
// are not stored yet. The opening operation is always stored, first; the
// others keep the order in which they were added, whether the caller passes
// a review's full Ops or only the new ones.
func (w *writeTx) UpsertReviews(ctx context.Context, rows []ledger.Review) error {
	if err := lockedRows(w, rows, func(r ledger.Review) uuid.UUID { return r.TenantID }); err != nil {
		return err
	}
	// A review listed twice keeps its last row, with the operations of
	// every row (in the order they were first listed).
	ops := map[uuid.UUID][]ledger.ReviewOp{}
	for _, rv := range rows {
		for _, o := range rv.Ops {
			if !slices.ContainsFunc(ops[rv.ID], func(x ledger.ReviewOp) bool { return x.OpID == o.OpID }) {
				ops[rv.ID] = append(ops[rv.ID], o)
			}
		}
	}
	rows = lastByKey(rows, func(r ledger.Review) [2]uuid.UUID { return [2]uuid.UUID{r.TenantID, r.ID} })
	if len(rows) == 0 {
		return nil
	}
	for i := range rows {
		rows[i].Ops = ops[rows[i].ID]
	}
	var (
		tenants     = make([]uuid.UUID, len(rows))
		ids         = make([]uuid.UUID, len(rows))
		kinds       = make([]string, len(rows))
		severities  = make([]string, len(rows))
		statuses    = make([]string, len(rows))
		opIDs       = make([]uuid.UUID, len(rows))
		devices     = make([]uuid.UUID, len(rows))
		locs        = make([]uuid.UUID, len(rows))
		items       = make([]uuid.UUID, len(rows))
		batches     = make([]uuid.UUID, len(rows))
		orders      = make([]pgtype.Text, len(rows))
		evidence    = make([]string, len(rows))
		suggestions = make([]string, len(rows))
		resolutions = make([]pgtype.Text, len(rows))
		resolvedAt  = make([]pgtype.Timestamptz, len(rows))
		opened      = make([]pgtype.Timestamptz, len(rows))
		changed     = make([]int64, len(rows))
	)
	// The review's operations, flattened: ord 0 for the opening one, the
	// caller's index + 1 for the rest (made relative to what is stored by
	// the statement below).
	var (
		roTenants, roReviews, roOps, roDevices []uuid.UUID
		roOrds                                 []int32
	)
	for i, rv := range rows {
		tenants[i], ids[i], kinds[i], severities[i], statuses[i] = rv.TenantID, rv.ID, string(rv.Kind), string(rv.Severity), string(rv.Status)
		opIDs[i], devices[i], locs[i], items[i], batches[i] = rv.OpID, rv.DeviceID, rv.LocationID, rv.ItemID, rv.BatchID
		orders[i], opened[i], changed[i] = nullText(rv.Order), pgtype.Timestamptz{Time: rv.OpenedAt, Valid: true}, rv.Changed
		ev, err := jsonOf("review evidence", rv.Evidence)
		if err != nil {
			return err
		}
		sg, err := jsonOf("review suggestions", rv.Suggestions)
		if err != nil {
			return err
		}
		evidence[i], suggestions[i] = string(ev), string(sg)
		if rv.Resolution != nil {
			rs, err := jsonOf("review resolution", rv.Resolution)
			if err != nil {
				return err
			}
			resolutions[i] = pgtype.Text{String: string(rs), Valid: true}
			resolvedAt[i] = pgtype.Timestamptz{Time: rv.Resolution.At, Valid: true}
		}

		seen := map[uuid.UUID]bool{}
		addOp := func(op ledger.ReviewOp, ord int) {
			if op.OpID == uuid.Nil || seen[op.OpID] {
				return
			}
			seen[op.OpID] = true
			roTenants, roReviews, roOps, roDevices = append(roTenants, rv.TenantID), append(roReviews, rv.ID), append(roOps, op.OpID), append(roDevices, op.DeviceID)
			roOrds = append(roOrds, int32(ord))
		}
		addOp(ledger.ReviewOp{OpID: rv.OpID, DeviceID: rv.DeviceID}, 0)
		for j, op := range rv.Ops {
			addOp(op, j+1)
		}
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO reviews (tenant_id, review_id, kind, severity, status, op_id, device_id, location_id, item_id, batch_id,
		                     order_ref, evidence, suggestions, resolution, resolved_at, opened_at, changed)
		SELECT t, i, k, sv, st, o, d, l, it, b, ord, ev::jsonb, sg::jsonb, rs::jsonb, ra, oa, c
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::uuid[], $8::uuid[],
		            $9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::bigint[],
		            $17::timestamptz[])
		     AS u(t, i, k, sv, st, o, d, l, it, b, ord, ev, sg, rs, oa, c, ra)
		ON CONFLICT (tenant_id, review_id) DO UPDATE
		SET kind = excluded.kind, severity = excluded.severity, status = excluded.status, op_id = excluded.op_id,
		    device_id = excluded.device_id, location_id = excluded.location_id, item_id = excluded.item_id,
		    batch_id = excluded.batch_id, order_ref = excluded.order_ref, evidence = excluded.evidence,
		    suggestions = excluded.suggestions, resolution = excluded.resolution, resolved_at = excluded.resolved_at,
		    opened_at = excluded.opened_at, changed = excluded.changed`,
		tenants, ids, kinds, severities, statuses, opIDs, devices, locs, items, batches,
		orders, evidence, suggestions, resolutions, opened, changed, resolvedAt)
	if err != nil {
		return fmt.Errorf("upsert reviews: %w", err)
	}
	if len(roOps) == 0 {
		return nil
	}
	// New operations go after every stored one: ord = highest stored ord +
	// the caller's index, so the order holds across calls. The opening
	// operation keeps ord 0. Every link of a review is passed again on
	// each upsert; the stored ones are skipped by their key before the
	// highest ord is looked for, or an upsert of a review with k
	// operations would cost k².
	_, err = w.q.Exec(ctx, `
		INSERT INTO review_ops (tenant_id, review_id, op_id, device_id, ord)
		SELECT u.t, u.r, u.o, u.d,
		       CASE WHEN u.n = 0 THEN 0 ELSE coalesce(
		         (SELECT max(x.ord) FROM review_ops x WHERE x.tenant_id = u.t AND x.review_id = u.r), 0) + u.n END
		FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int[]) AS u(t, r, o, d, n)
		WHERE NOT EXISTS (SELECT 1 FROM review_ops s WHERE s.tenant_id = u.t AND s.review_id = u.r AND s.op_id = u.o)
		ON CONFLICT (tenant_id, review_id, op_id) DO NOTHING`,
		roTenants, roReviews, roOps, roDevices, roOrds)
	if err != nil {
		return fmt.Errorf("add review ops: %w", err)
	}
	return nil
}
