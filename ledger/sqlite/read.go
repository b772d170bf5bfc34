package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// readTx implements ledger.ReadTx over one SQLite transaction: a snapshot on
// the reader pool, or the writer's transaction inside a writeTx.
type readTx struct {
	tx *sql.Tx
}

var _ ledger.ReadTx = (*readTx)(nil)

const tenantCols = `tenant_id, slug, name, count_variance_threshold, clock_uncertainty, created_at, ledger_id`

func scanTenant(sc scanner) (ledger.Tenant, error) {
	var t ledger.Tenant
	var uncertainty, created int64
	err := sc.Scan(&t.ID, &t.Slug, &t.Name, &t.Settings.CountVarianceThreshold, &uncertainty, &created, &t.LedgerID)
	t.Settings.ClockUncertainty = fromDurationMicros(uncertainty)
	t.CreatedAt = fromMicros(created)
	return t, err
}

// Tenant returns one tenant. Returns ledger.CodeNotFound.
func (r *readTx) Tenant(ctx context.Context, tenantID uuid.UUID) (ledger.Tenant, error) {
	t, err := scanTenant(r.tx.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE tenant_id = ?`, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
	}
	if err != nil {
		return t, fmt.Errorf("read tenant %s: %w", tenantID, err)
	}
	return t, nil
}

// TenantBySlug returns one tenant by slug. Returns ledger.CodeNotFound.
func (r *readTx) TenantBySlug(ctx context.Context, slug string) (ledger.Tenant, error) {
	t, err := scanTenant(r.tx.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE slug = ?`, slug))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ledger.Errorf(ledger.CodeNotFound, "tenant %q not found", slug)
	}
	if err != nil {
		return t, fmt.Errorf("read tenant %q: %w", slug, err)
	}
	return t, nil
}

// Tenants returns the tenants, oldest first, at most limit of them (all
// when limit is not positive).
func (r *readTx) Tenants(ctx context.Context, n int) ([]ledger.Tenant, error) {
	ts, err := queryRows(ctx, r.tx, scanTenant, `SELECT `+tenantCols+` FROM tenants ORDER BY created_at, slug LIMIT ?`, limit(n))
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ts, nil
}

// queryRows runs a query and scans every row with scan.
func queryRows[T any](ctx context.Context, tx *sql.Tx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// Empty, not nil, as the PostgreSQL store returns: callers and JSON
	// see the same thing from both.
	out := make([]T, 0)
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// withTenant returns a scan function that also sets the row's tenant, which
// the queries do not select because the caller already knows it.
func withTenant[T any](tenantID uuid.UUID, scan func(scanner) (T, error), set func(*T, uuid.UUID)) func(scanner) (T, error) {
	return func(sc scanner) (T, error) {
		v, err := scan(sc)
		set(&v, tenantID)
		return v, err
	}
}

const deviceCols = `device_id, warehouse_id, name, batch_prefix, acked_seq, clock_offset, last_seen_at, created_at, revoked_at,
	app_version, pending, oldest_unsent`

func scanDevice(sc scanner) (ledger.Device, error) {
	var d ledger.Device
	var offset, created, oldest int64
	var lastSeen, revoked sql.NullInt64
	err := sc.Scan(&d.ID, &d.WarehouseID, &d.Name, &d.BatchPrefix, &d.AckedSeq, &offset, &lastSeen, &created, &revoked,
		&d.AppVersion, &d.Pending, &oldest)
	d.ClockOffset = fromDurationMicros(offset)
	d.OldestUnsent = fromDurationMicros(oldest)
	d.LastSeenAt = fromNullMicros(lastSeen)
	d.CreatedAt = fromMicros(created)
	d.RevokedAt = fromNullMicros(revoked)
	return d, err
}

// Device returns one device. Returns ledger.CodeNotFound.
func (r *readTx) Device(ctx context.Context, tenantID, deviceID uuid.UUID) (ledger.Device, error) {
	d, err := scanDevice(r.tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices
		WHERE tenant_id = ? AND device_id = ?`, tenantID, deviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return d, ledger.Errorf(ledger.CodeNotFound, "device %s not found", deviceID)
	}
	if err != nil {
		return d, fmt.Errorf("read device %s: %w", deviceID, err)
	}
	d.TenantID = tenantID
	return d, nil
}

// Devices returns the tenant's devices ordered by creation time and name.
func (r *readTx) Devices(ctx context.Context, tenantID uuid.UUID) ([]ledger.Device, error) {
	ds, err := queryRows(ctx, r.tx, withTenant(tenantID, scanDevice, func(d *ledger.Device, t uuid.UUID) { d.TenantID = t }),
		`SELECT `+deviceCols+` FROM devices WHERE tenant_id = ? ORDER BY created_at, name, device_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

func scanWarehouse(sc scanner) (ledger.Warehouse, error) {
	var w ledger.Warehouse
	err := sc.Scan(&w.ID, &w.Code, &w.Name, &w.Changed)
	return w, err
}

// Warehouses returns the warehouses with the given codes, ordered by code;
// all of them when codes is nil.
func (r *readTx) Warehouses(ctx context.Context, tenantID uuid.UUID, codes []string) ([]ledger.Warehouse, error) {
	q := `SELECT warehouse_id, code, name, changed FROM warehouses WHERE tenant_id = ?`
	args := []any{tenantID}
	if codes != nil {
		q += ` AND code IN (SELECT value FROM json_each(?))`
		args = append(args, jsonList(codes))
	}
	ws, err := queryRows(ctx, r.tx, withTenant(tenantID, scanWarehouse, func(w *ledger.Warehouse, t uuid.UUID) { w.TenantID = t }),
		q+` ORDER BY code`, args...)
	if err != nil {
		return nil, fmt.Errorf("read warehouses: %w", err)
	}
	return ws, nil
}

const locationCols = `location_id, warehouse_id, code, changed`

func scanLocation(sc scanner) (ledger.Location, error) {
	var l ledger.Location
	err := sc.Scan(&l.ID, &l.WarehouseID, &l.Code, &l.Changed)
	return l, err
}

func setLocationTenant(l *ledger.Location, t uuid.UUID) { l.TenantID = t }

// LocationsByCode returns the locations of one warehouse with the codes.
func (r *readTx) LocationsByCode(ctx context.Context, tenantID, warehouseID uuid.UUID, codes []string) ([]ledger.Location, error) {
	ls, err := queryRows(ctx, r.tx, withTenant(tenantID, scanLocation, setLocationTenant),
		`SELECT `+locationCols+` FROM locations
		WHERE tenant_id = ? AND warehouse_id = ? AND code IN (SELECT value FROM json_each(?))
		ORDER BY code`, tenantID, warehouseID, jsonList(codes))
	if err != nil {
		return nil, fmt.Errorf("read locations of warehouse %s: %w", warehouseID, err)
	}
	return ls, nil
}

// LocationsByID returns the locations with the IDs.
func (r *readTx) LocationsByID(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) ([]ledger.Location, error) {
	ls, err := queryRows(ctx, r.tx, withTenant(tenantID, scanLocation, setLocationTenant),
		`SELECT `+locationCols+` FROM locations
		WHERE tenant_id = ? AND location_id IN (SELECT value FROM json_each(?))`, tenantID, jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("read locations: %w", err)
	}
	return ls, nil
}

// itemCols selects an item with its barcodes, sorted, as one JSON array read
// from the covering index barcodes_item.
const itemCols = `i.item_id, i.sku, i.name, i.unit, i.batch_tracked, i.expiry_tracked, i.changed,
	(SELECT json_group_array(bc.barcode ORDER BY bc.barcode) FROM barcodes bc
	 WHERE bc.tenant_id = i.tenant_id AND bc.item_id = i.item_id)`

func scanItem(sc scanner) (ledger.Item, error) {
	var it ledger.Item
	var barcodes string
	if err := sc.Scan(&it.ID, &it.SKU, &it.Name, &it.Unit, &it.BatchTracked, &it.ExpiryTracked, &it.Changed, &barcodes); err != nil {
		return it, err
	}
	if err := json.Unmarshal([]byte(barcodes), &it.Barcodes); err != nil {
		return it, fmt.Errorf("barcodes of item %s: %w", it.ID, err)
	}
	if len(it.Barcodes) == 0 {
		// An item written without barcodes reads back as it was written.
		it.Barcodes = nil
	}
	return it, nil
}

func setItemTenant(it *ledger.Item, t uuid.UUID) { it.TenantID = t }

// ItemsBySKU returns the items with the SKUs, each with its barcodes sorted.
func (r *readTx) ItemsBySKU(ctx context.Context, tenantID uuid.UUID, skus []string) ([]ledger.Item, error) {
	its, err := queryRows(ctx, r.tx, withTenant(tenantID, scanItem, setItemTenant),
		`SELECT `+itemCols+` FROM items i
		WHERE i.tenant_id = ? AND i.sku IN (SELECT value FROM json_each(?)) ORDER BY i.sku`, tenantID, jsonList(skus))
	if err != nil {
		return nil, fmt.Errorf("read items by sku: %w", err)
	}
	return its, nil
}

// ItemsByID returns the items with the IDs, each with its barcodes sorted.
func (r *readTx) ItemsByID(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) ([]ledger.Item, error) {
	its, err := queryRows(ctx, r.tx, withTenant(tenantID, scanItem, setItemTenant),
		`SELECT `+itemCols+` FROM items i
		WHERE i.tenant_id = ? AND i.item_id IN (SELECT value FROM json_each(?)) ORDER BY i.sku`, tenantID, jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("read items by id: %w", err)
	}
	return its, nil
}

// ItemsByBarcode maps each known barcode among barcodes to its item.
func (r *readTx) ItemsByBarcode(ctx context.Context, tenantID uuid.UUID, barcodes []string) (map[string]ledger.Item, error) {
	type hit struct {
		barcode string
		item    ledger.Item
	}
	hits, err := queryRows(ctx, r.tx, func(sc scanner) (hit, error) {
		var h hit
		var barcodes string
		err := sc.Scan(&h.barcode, &h.item.ID, &h.item.SKU, &h.item.Name, &h.item.Unit, &h.item.BatchTracked,
			&h.item.ExpiryTracked, &h.item.Changed, &barcodes)
		if err != nil {
			return h, err
		}
		if err := json.Unmarshal([]byte(barcodes), &h.item.Barcodes); err != nil {
			return h, fmt.Errorf("barcodes of item %s: %w", h.item.ID, err)
		}
		h.item.TenantID = tenantID
		return h, nil
	}, `SELECT b.barcode, `+itemCols+` FROM barcodes b
		JOIN items i ON i.tenant_id = b.tenant_id AND i.item_id = b.item_id
		WHERE b.tenant_id = ? AND b.barcode IN (SELECT value FROM json_each(?))`, tenantID, jsonList(barcodes))
	if err != nil {
		return nil, fmt.Errorf("read items by barcode: %w", err)
	}
	out := make(map[string]ledger.Item, len(hits))
	for _, h := range hits {
		out[h.barcode] = h.item
	}
	return out, nil
}

const batchCols = `batch_id, item_id, code, expiry, generated, changed`

func scanBatch(sc scanner) (ledger.Batch, error) {
	var b ledger.Batch
	var expiry sql.NullString
	if err := sc.Scan(&b.ID, &b.ItemID, &b.Code, &expiry, &b.Generated, &b.Changed); err != nil {
		return b, err
	}
	var err error
	if b.Expiry, err = fromNullDate(expiry); err != nil {
		return b, fmt.Errorf("expiry of batch %s: %w", b.ID, err)
	}
	return b, nil
}

func setBatchTenant(b *ledger.Batch, t uuid.UUID) { b.TenantID = t }

// BatchesByCode returns the batches named by the references.
func (r *readTx) BatchesByCode(ctx context.Context, tenantID uuid.UUID, refs []ledger.BatchRef) ([]ledger.Batch, error) {
	pairs := make([][2]string, len(refs))
	for i, ref := range refs {
		pairs[i] = [2]string{ref.ItemID.String(), ref.Code}
	}
	bs, err := queryRows(ctx, r.tx, withTenant(tenantID, scanBatch, setBatchTenant),
		`SELECT `+batchCols+` FROM batches
		WHERE tenant_id = ? AND (item_id, code) IN (SELECT value->>0, value->>1 FROM json_each(?))`,
		tenantID, jsonList(pairs))
	if err != nil {
		return nil, fmt.Errorf("read batches by code: %w", err)
	}
	return bs, nil
}

// BatchesByID returns the batches with the IDs.
func (r *readTx) BatchesByID(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) ([]ledger.Batch, error) {
	bs, err := queryRows(ctx, r.tx, withTenant(tenantID, scanBatch, setBatchTenant),
		`SELECT `+batchCols+` FROM batches
		WHERE tenant_id = ? AND batch_id IN (SELECT value FROM json_each(?))`, tenantID, jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("read batches by id: %w", err)
	}
	return bs, nil
}

const opCols = `device_id, seq, op_id, kind, payload, payload_hash, received_at, effective_at, result, canonical, posted`

func scanOp(sc scanner) (ledger.OpRecord, error) {
	var o ledger.OpRecord
	var received, effective int64
	var result string
	if err := sc.Scan(&o.DeviceID, &o.Seq, &o.OpID, &o.Kind, &o.Payload, &o.PayloadHash, &received, &effective,
		&result, &o.Canonical, &o.Posted); err != nil {
		return o, err
	}
	o.ReceivedAt = fromMicros(received)
	o.EffectiveAt = fromMicros(effective)
	if err := json.Unmarshal([]byte(result), &o.Result); err != nil {
		return o, fmt.Errorf("result of op %s: %w", o.OpID, err)
	}
	return o, nil
}

// LookupOps returns the device's op log entries with fromSeq <= seq <= toSeq
// and the canonical entries of any device whose op_id is in opIDs, each
// once, ordered by device and seq. The two halves are a UNION ALL so each
// uses its own index (the primary key, and the partial index on canonical
// op_ids), the second excluding what the first returns.
func (r *readTx) LookupOps(ctx context.Context, tenantID, deviceID uuid.UUID, fromSeq, toSeq int64, opIDs []uuid.UUID) ([]ledger.OpRecord, error) {
	ops, err := queryRows(ctx, r.tx, withTenant(tenantID, scanOp, func(o *ledger.OpRecord, t uuid.UUID) { o.TenantID = t }),
		`SELECT `+opCols+` FROM ops
		WHERE tenant_id = ? AND device_id = ? AND seq BETWEEN ? AND ?
		UNION ALL
		SELECT `+opCols+` FROM ops
		WHERE tenant_id = ? AND canonical = 1 AND op_id IN (SELECT value FROM json_each(?))
		  AND NOT (device_id = ? AND seq BETWEEN ? AND ?)`,
		tenantID, deviceID, fromSeq, toSeq,
		tenantID, jsonList(opIDs), deviceID, fromSeq, toSeq)
	if err != nil {
		return nil, fmt.Errorf("look up ops of device %s: %w", deviceID, err)
	}
	// Sorted here: an ORDER BY over the UNION ALL makes SQLite merge both
	// branches in (device_id, seq) order, walking every op of the tenant
	// instead of probing ops_op_id once per op_id.
	slices.SortFunc(ops, func(a, b ledger.OpRecord) int {
		if c := bytes.Compare(a.DeviceID[:], b.DeviceID[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return ops, nil
}

// Balances returns the on-hand quantity of each key that has a balance row.
func (r *readTx) Balances(ctx context.Context, tenantID uuid.UUID, keys []ledger.Key) (map[ledger.Key]int64, error) {
	type row struct {
		key    ledger.Key
		onHand int64
	}
	rows, err := queryRows(ctx, r.tx, func(sc scanner) (row, error) {
		var b row
		err := sc.Scan(&b.key.LocationID, &b.key.ItemID, &b.key.BatchID, &b.onHand)
		return b, err
	}, `SELECT location_id, item_id, batch_id, on_hand FROM balances
		WHERE tenant_id = ? AND (location_id, item_id, batch_id) IN (SELECT value->>0, value->>1, value->>2 FROM json_each(?))`,
		tenantID, jsonKeys(keys))
	if err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	out := make(map[ledger.Key]int64, len(rows))
	for _, b := range rows {
		out[b.key] = b.onHand
	}
	return out, nil
}

// StockAsOf sums the movements of key effective at or before at: the
// balance (the sum of all of them) less the movements after at, read from
// the covering index movements_key. A count or a late operation asks about
// recent times, and on a busy key the movements since are far fewer than
// all it ever had.
func (r *readTx) StockAsOf(ctx context.Context, tenantID uuid.UUID, key ledger.Key, at time.Time) (int64, error) {
	var n int64
	err := r.tx.QueryRowContext(ctx, `SELECT
		coalesce((SELECT on_hand FROM balances
			WHERE tenant_id = ?1 AND location_id = ?2 AND item_id = ?3 AND batch_id = ?4), 0)
		- coalesce((SELECT sum(qty) FROM movements
			WHERE tenant_id = ?1 AND location_id = ?2 AND item_id = ?3 AND batch_id = ?4 AND effective_at > ?5), 0)`,
		tenantID, key.LocationID, key.ItemID, key.BatchID, at.UnixMicro()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("stock as of %s: %w", at.Format(time.RFC3339), err)
	}
	return n, nil
}

// KeyWindows answers StockAsOf and MovementsBetween for each window. SQLite
// runs in process, so a query per window costs no round trip.
func (r *readTx) KeyWindows(ctx context.Context, tenantID uuid.UUID, windows []ledger.KeyWindow) ([]ledger.KeyWindowState, error) {
	out := make([]ledger.KeyWindowState, len(windows))
	for i, w := range windows {
		stock, err := r.StockAsOf(ctx, tenantID, w.Key, w.At)
		if err != nil {
			return nil, err
		}
		between, err := r.MovementsBetween(ctx, tenantID, w.Key, w.From, w.To)
		if err != nil {
			return nil, err
		}
		out[i] = ledger.KeyWindowState{StockAsOf: stock, Between: between}
	}
	return out, nil
}

const movementCols = `m.position, m.location_id, m.item_id, m.batch_id, m.qty, m.kind, m.effective_at, m.recorded_at,
	m.op_id, m.device_id, m.review_id, m.corrects, m.order_ref`

// movementDest returns the scan destinations of movementCols and a function
// that finishes the movement once they are scanned.
func movementDest(m *ledger.Movement) ([]any, func()) {
	var effective, recorded int64
	var order sql.NullString
	dest := []any{&m.Position, &m.LocationID, &m.ItemID, &m.BatchID, &m.Qty, &m.Kind, &effective, &recorded,
		&m.OpID, &m.DeviceID, &m.ReviewID, &m.Corrects, &order}
	return dest, func() {
		m.EffectiveAt = fromMicros(effective)
		m.RecordedAt = fromMicros(recorded)
		m.Order = order.String
	}
}

func scanMovement(sc scanner) (ledger.Movement, error) {
	var m ledger.Movement
	dest, finish := movementDest(&m)
	err := sc.Scan(dest...)
	finish()
	return m, err
}

func setMovementTenant(m *ledger.Movement, t uuid.UUID) { m.TenantID = t }

// MovementsBetween returns the movements of key with from <= effective time
// <= to, ordered by position.
func (r *readTx) MovementsBetween(ctx context.Context, tenantID uuid.UUID, key ledger.Key, from, to time.Time) ([]ledger.Movement, error) {
	ms, err := queryRows(ctx, r.tx, withTenant(tenantID, scanMovement, setMovementTenant),
		`SELECT `+movementCols+` FROM movements m
		WHERE m.tenant_id = ? AND m.location_id = ? AND m.item_id = ? AND m.batch_id = ?
		  AND m.effective_at BETWEEN ? AND ?
		ORDER BY m.position`,
		tenantID, key.LocationID, key.ItemID, key.BatchID, from.UnixMicro(), to.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("read movements between: %w", err)
	}
	return ms, nil
}

// movementsOfOp selects the rowids of the movements produced by or
// correcting an operation. Written as OR, SQLite prefers walking the tenant's
// movements in position order; the UNION makes it two index lookups.
const movementsOfOp = `SELECT rowid FROM movements WHERE tenant_id = ? AND op_id = ?
	UNION SELECT rowid FROM movements WHERE tenant_id = ? AND corrects = ?`

// MovementsOfOp returns the movements produced by or correcting opID,
// ordered by position.
func (r *readTx) MovementsOfOp(ctx context.Context, tenantID, opID uuid.UUID) ([]ledger.Movement, error) {
	ms, err := queryRows(ctx, r.tx, withTenant(tenantID, scanMovement, setMovementTenant),
		`SELECT `+movementCols+` FROM movements m
		WHERE m.rowid IN (`+movementsOfOp+`)
		ORDER BY m.position`, tenantID, opID, tenantID, opID)
	if err != nil {
		return nil, fmt.Errorf("read movements of op %s: %w", opID, err)
	}
	return ms, nil
}

// OrderLines returns the lines of the orders, by order and first shipment.
func (r *readTx) OrderLines(ctx context.Context, tenantID uuid.UUID, orders []string) ([]ledger.OrderLine, error) {
	ls, err := queryRows(ctx, r.tx, func(sc scanner) (ledger.OrderLine, error) {
		var l ledger.OrderLine
		err := sc.Scan(&l.Order, &l.ItemID, &l.BatchID, &l.Shipped, &l.Returned, &l.FirstPosition)
		return l, err
	}, `SELECT order_ref, item_id, batch_id, shipped, returned, first_position FROM order_lines
		WHERE tenant_id = ? AND order_ref IN (SELECT value FROM json_each(?))
		ORDER BY order_ref, first_position, item_id, batch_id`, tenantID, jsonList(orders))
	if err != nil {
		return nil, fmt.Errorf("read order lines: %w", err)
	}
	return ls, nil
}

// CountsOnKeys returns the posted counts on the keys, by effective time.
func (r *readTx) CountsOnKeys(ctx context.Context, tenantID uuid.UUID, keys []ledger.Key) ([]ledger.CountRecord, error) {
	cs, err := queryRows(ctx, r.tx, func(sc scanner) (ledger.CountRecord, error) {
		var c ledger.CountRecord
		var effective int64
		err := sc.Scan(&c.OpID, &c.DeviceID, &c.LocationID, &c.ItemID, &c.BatchID, &effective,
			&c.Counted, &c.Expected, &c.Adjusted)
		c.EffectiveAt = fromMicros(effective)
		return c, err
	}, `SELECT op_id, device_id, location_id, item_id, batch_id, effective_at, counted, expected, adjusted FROM counts
		WHERE tenant_id = ? AND (location_id, item_id, batch_id) IN (SELECT value->>0, value->>1, value->>2 FROM json_each(?))
		ORDER BY location_id, item_id, batch_id, effective_at, op_id`, tenantID, jsonKeys(keys))
	if err != nil {
		return nil, fmt.Errorf("read counts: %w", err)
	}
	return cs, nil
}

const reviewCols = `r.review_id, r.kind, r.severity, r.status, r.op_id, r.device_id, r.location_id, r.item_id, r.batch_id,
	r.order_ref, r.evidence, r.suggestions, r.resolution, r.opened_at, r.changed`

func scanReview(sc scanner) (ledger.Review, error) {
	var rv ledger.Review
	var order, resolution sql.NullString
	var evidence, suggestions string
	var opened int64
	if err := sc.Scan(&rv.ID, &rv.Kind, &rv.Severity, &rv.Status, &rv.OpID, &rv.DeviceID, &rv.LocationID, &rv.ItemID,
		&rv.BatchID, &order, &evidence, &suggestions, &resolution, &opened, &rv.Changed); err != nil {
		return rv, err
	}
	rv.Order = order.String
	rv.OpenedAt = fromMicros(opened)
	if err := json.Unmarshal([]byte(evidence), &rv.Evidence); err != nil {
		return rv, fmt.Errorf("evidence of review %s: %w", rv.ID, err)
	}
	if err := json.Unmarshal([]byte(suggestions), &rv.Suggestions); err != nil {
		return rv, fmt.Errorf("suggestions of review %s: %w", rv.ID, err)
	}
	if resolution.Valid {
		rv.Resolution = new(ledger.ResolutionRecord)
		if err := json.Unmarshal([]byte(resolution.String), rv.Resolution); err != nil {
			return rv, fmt.Errorf("resolution of review %s: %w", rv.ID, err)
		}
	}
	return rv, nil
}

// queryOpenReviews runs one of the merge's open-review reads, whose reviews
// carry only their opening operation (see ledger.Store.OpenReviews).
func (r *readTx) queryOpenReviews(ctx context.Context, tenantID uuid.UUID, query string, args ...any) ([]ledger.Review, error) {
	rvs, err := queryRows(ctx, r.tx, withTenant(tenantID, scanReview, func(rv *ledger.Review, t uuid.UUID) { rv.TenantID = t }),
		query, args...)
	for i := range rvs {
		rvs[i].KeepOpeningOp()
	}
	return rvs, err
}

// queryReviews runs a query selecting reviewCols and fills every review's
// Ops, so no caller can forget to.
func (r *readTx) queryReviews(ctx context.Context, tenantID uuid.UUID, query string, args ...any) ([]ledger.Review, error) {
	rvs, err := queryRows(ctx, r.tx, withTenant(tenantID, scanReview, func(rv *ledger.Review, t uuid.UUID) { rv.TenantID = t }),
		query, args...)
	if err != nil || len(rvs) == 0 {
		return rvs, err
	}
	ids := make([]uuid.UUID, len(rvs))
	index := make(map[uuid.UUID]int, len(rvs))
	for i, rv := range rvs {
		ids[i] = rv.ID
		index[rv.ID] = i
	}
	rows, err := r.tx.QueryContext(ctx, `SELECT review_id, op_id, device_id FROM review_ops
		WHERE tenant_id = ? AND review_id IN (SELECT value FROM json_each(?))
		ORDER BY review_id, ord`, tenantID, jsonList(ids))
	if err != nil {
		return nil, fmt.Errorf("read review ops: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var op ledger.ReviewOp
		if err := rows.Scan(&id, &op.OpID, &op.DeviceID); err != nil {
			return nil, fmt.Errorf("read review ops: %w", err)
		}
		i := index[id]
		rvs[i].Ops = append(rvs[i].Ops, op)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read review ops: %w", err)
	}
	return rvs, nil
}

// OpenReviews returns the open reviews on any of the keys (but the count
// reviews) or orders, ordered by opening time, each with only its opening
// operation.
func (r *readTx) OpenReviews(ctx context.Context, tenantID uuid.UUID, keys []ledger.Key, orders []string) ([]ledger.Review, error) {
	rvs, err := r.queryOpenReviews(ctx, tenantID, `SELECT `+reviewCols+` FROM reviews r
		WHERE r.tenant_id = ? AND r.status = 'open'
		  AND (r.location_id, r.item_id, r.batch_id) IN (SELECT value->>0, value->>1, value->>2 FROM json_each(?))
		  AND r.kind NOT IN ('count_variance', 'count_ambiguous')
		UNION
		SELECT `+reviewCols+` FROM reviews r
		WHERE r.tenant_id = ? AND r.status = 'open' AND r.order_ref IN (SELECT value FROM json_each(?))`,
		tenantID, jsonKeys(keys), tenantID, jsonList(orders))
	if err != nil {
		return nil, fmt.Errorf("read open reviews: %w", err)
	}
	// Sorted here: with an ORDER BY SQLite walks every open review of the
	// tenant in reviews_queue order instead of probing the partial indexes.
	sortReviews(rvs)
	return rvs, nil
}

// sortReviews orders reviews by opening time, then ID.
func sortReviews(rvs []ledger.Review) {
	slices.SortFunc(rvs, func(a, b ledger.Review) int {
		if c := a.OpenedAt.Compare(b.OpenedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
}

// OpenReviewsOfOps returns the open reviews the operations opened, ordered
// by opening time, each with only its opening operation.
func (r *readTx) OpenReviewsOfOps(ctx context.Context, tenantID uuid.UUID, opIDs []uuid.UUID) ([]ledger.Review, error) {
	if len(opIDs) == 0 {
		return []ledger.Review{}, nil
	}
	rvs, err := r.queryOpenReviews(ctx, tenantID, `SELECT `+reviewCols+` FROM reviews r
		WHERE r.tenant_id = ? AND r.status = 'open' AND r.op_id IN (SELECT value FROM json_each(?))`,
		tenantID, jsonList(opIDs))
	if err != nil {
		return nil, fmt.Errorf("read open reviews of ops: %w", err)
	}
	sortReviews(rvs)
	return rvs, nil
}

// Review returns one review with its operations. Returns
// ledger.CodeNotFound.
func (r *readTx) Review(ctx context.Context, tenantID, reviewID uuid.UUID) (ledger.Review, error) {
	rvs, err := r.queryReviews(ctx, tenantID, `SELECT `+reviewCols+` FROM reviews r
		WHERE r.tenant_id = ? AND r.review_id = ?`, tenantID, reviewID)
	if err != nil {
		return ledger.Review{}, fmt.Errorf("read review %s: %w", reviewID, err)
	}
	if len(rvs) == 0 {
		return ledger.Review{}, ledger.Errorf(ledger.CodeNotFound, "review %s not found", reviewID)
	}
	return rvs[0], nil
}
