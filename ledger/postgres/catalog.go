package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"stocksync/ledger"
)

// Tenants.

const tenantColumns = `tenant_id, slug, name, count_variance_threshold, clock_uncertainty, created_at, ledger_id`

func scanTenant(row pgx.Row) (ledger.Tenant, error) {
	var t ledger.Tenant
	var uncertainty int64
	err := row.Scan(id(&t.ID), &t.Slug, &t.Name, &t.Settings.CountVarianceThreshold, &uncertainty, &t.CreatedAt, id(&t.LedgerID))
	t.Settings.ClockUncertainty = duration(uncertainty)
	return t, err
}

// Tenant returns one tenant. Returns CodeNotFound.
func (r *readTx) Tenant(ctx context.Context, tenantID uuid.UUID) (ledger.Tenant, error) {
	t, err := scanTenant(r.q.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE tenant_id = $1`, tenantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
	}
	if err != nil {
		return t, fmt.Errorf("select tenant %s: %w", tenantID, err)
	}
	return t, nil
}

// TenantBySlug returns the tenant with the slug. Returns CodeNotFound.
func (r *readTx) TenantBySlug(ctx context.Context, slug string) (ledger.Tenant, error) {
	t, err := scanTenant(r.q.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE slug = $1`, slug))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ledger.Errorf(ledger.CodeNotFound, "tenant %q not found", slug)
	}
	if err != nil {
		return t, fmt.Errorf("select tenant %q: %w", slug, err)
	}
	return t, nil
}

// Tenants returns the tenants, oldest first, at most limit of them (all
// when limit is not positive).
func (r *readTx) Tenants(ctx context.Context, limit int) ([]ledger.Tenant, error) {
	sql, args := `SELECT `+tenantColumns+` FROM tenants ORDER BY created_at, slug COLLATE "C"`, []any{}
	if limit > 0 {
		sql, args = sql+` LIMIT $1`, append(args, limit)
	}
	rows, err := r.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("select tenants: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.Tenant, error) { return scanTenant(row) })
	if err != nil {
		return nil, fmt.Errorf("select tenants: %w", err)
	}
	return ts, nil
}

// UpdateSettings stores a tenant's settings. Returns CodeNotFound.
func (w *writeTx) UpdateSettings(ctx context.Context, tenantID uuid.UUID, s ledger.Settings) error {
	if err := w.locked(tenantID); err != nil {
		return err
	}
	tag, err := w.q.Exec(ctx, `UPDATE tenants SET count_variance_threshold = $2, clock_uncertainty = $3 WHERE tenant_id = $1`,
		tenantID, s.CountVarianceThreshold, micros(s.ClockUncertainty))
	if err != nil {
		return fmt.Errorf("update settings of tenant %s: %w", tenantID, err)
	}
	if tag.RowsAffected() == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
	}
	return nil
}

// SetLedgerID stores a new ledger ID for the tenant. Returns
// ledger.CodeNotFound.
func (w *writeTx) SetLedgerID(ctx context.Context, tenantID, ledgerID uuid.UUID) error {
	if err := w.locked(tenantID); err != nil {
		return err
	}
	tag, err := w.q.Exec(ctx, `UPDATE tenants SET ledger_id = $2 WHERE tenant_id = $1`, tenantID, ledgerID)
	if err != nil {
		return fmt.Errorf("set ledger id of tenant %s: %w", tenantID, err)
	}
	if tag.RowsAffected() == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
	}
	return nil
}

// Devices.

const deviceColumns = `tenant_id, device_id, warehouse_id, name, batch_prefix, acked_seq, clock_offset, last_seen_at, created_at, revoked_at,
	app_version, pending, oldest_unsent`

func scanDevice(row pgx.Row) (ledger.Device, error) {
	var d ledger.Device
	var offset, oldest int64
	var lastSeen, revoked pgtype.Timestamptz
	err := row.Scan(id(&d.TenantID), id(&d.ID), id(&d.WarehouseID), &d.Name, &d.BatchPrefix, &d.AckedSeq, &offset, &lastSeen, &d.CreatedAt, &revoked,
		&d.AppVersion, &d.Pending, &oldest)
	d.ClockOffset = duration(offset)
	d.OldestUnsent = duration(oldest)
	d.LastSeenAt = timeOf(lastSeen)
	d.RevokedAt = timeOf(revoked)
	return d, err
}

// Device returns one device. Returns CodeNotFound.
func (r *readTx) Device(ctx context.Context, tenantID, deviceID uuid.UUID) (ledger.Device, error) {
	d, err := scanDevice(r.q.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE tenant_id = $1 AND device_id = $2`, tenantID, deviceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ledger.Errorf(ledger.CodeNotFound, "device %s not found", deviceID)
	}
	if err != nil {
		return d, fmt.Errorf("select device %s: %w", deviceID, err)
	}
	return d, nil
}

// Devices returns the tenant's devices ordered by creation time and name.
func (r *readTx) Devices(ctx context.Context, tenantID uuid.UUID) ([]ledger.Device, error) {
	rows, err := r.q.Query(ctx, `SELECT `+deviceColumns+` FROM devices WHERE tenant_id = $1
		ORDER BY created_at, name COLLATE "C", device_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("select devices: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.Device, error) { return scanDevice(row) })
	if err != nil {
		return nil, fmt.Errorf("select devices: %w", err)
	}
	return ds, nil
}

// InsertDevice adds a device. Returns CodeConflict if its ID or batch
// prefix is taken in the tenant.
func (w *writeTx) InsertDevice(ctx context.Context, d ledger.Device) error {
	if err := w.locked(d.TenantID); err != nil {
		return err
	}
	_, err := w.q.Exec(ctx, `INSERT INTO devices (`+deviceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		d.TenantID, d.ID, d.WarehouseID, d.Name, d.BatchPrefix, d.AckedSeq, micros(d.ClockOffset),
		nullTime(d.LastSeenAt), d.CreatedAt, nullTime(d.RevokedAt), d.AppVersion, d.Pending, micros(d.OldestUnsent))
	return uniqueError(err, "insert device "+d.Name)
}

// UpdateDevice stores AckedSeq, ClockOffset, LastSeenAt and RevokedAt.
// Returns CodeNotFound.
func (w *writeTx) UpdateDevice(ctx context.Context, d ledger.Device) error {
	if err := w.locked(d.TenantID); err != nil {
		return err
	}
	tag, err := w.q.Exec(ctx, `UPDATE devices SET acked_seq = $3, clock_offset = $4, last_seen_at = $5, revoked_at = $6
		WHERE tenant_id = $1 AND device_id = $2`,
		d.TenantID, d.ID, d.AckedSeq, micros(d.ClockOffset), nullTime(d.LastSeenAt), nullTime(d.RevokedAt))
	if err != nil {
		return fmt.Errorf("update device %s: %w", d.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "device %s not found", d.ID)
	}
	return nil
}

// Warehouses.

const warehouseColumns = `tenant_id, warehouse_id, code, name, changed`

func scanWarehouse(row pgx.CollectableRow) (ledger.Warehouse, error) {
	var w ledger.Warehouse
	err := row.Scan(&w.TenantID, &w.ID, &w.Code, &w.Name, &w.Changed)
	return w, err
}

// Warehouses returns the warehouses with the given codes, all of them when
// codes is nil, ordered by code.
func (r *readTx) Warehouses(ctx context.Context, tenantID uuid.UUID, codes []string) ([]ledger.Warehouse, error) {
	var rows pgx.Rows
	var err error
	if codes == nil {
		rows, err = r.q.Query(ctx, `SELECT `+warehouseColumns+` FROM warehouses WHERE tenant_id = $1 ORDER BY code COLLATE "C"`, tenantID)
	} else {
		rows, err = r.q.Query(ctx, `SELECT w.* FROM `+probe("$2::text[]")+` CROSS JOIN LATERAL (
			SELECT `+warehouseColumns+` FROM warehouses WHERE tenant_id = $1 AND code = q.v OFFSET 0) AS w
			ORDER BY w.code COLLATE "C"`, tenantID, codes)
	}
	if err != nil {
		return nil, fmt.Errorf("select warehouses: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanWarehouse)
	if err != nil {
		return nil, fmt.Errorf("select warehouses: %w", err)
	}
	return out, nil
}

// UpsertWarehouses writes warehouses by ID. Returns CodeConflict if a code
// is taken by another warehouse.
func (w *writeTx) UpsertWarehouses(ctx context.Context, rows []ledger.Warehouse) error {
	if err := lockedRows(w, rows, func(r ledger.Warehouse) uuid.UUID { return r.TenantID }); err != nil {
		return err
	}
	rows = lastByKey(rows, func(r ledger.Warehouse) [2]uuid.UUID { return [2]uuid.UUID{r.TenantID, r.ID} })
	if len(rows) == 0 {
		return nil
	}
	var (
		tenants = make([]uuid.UUID, len(rows))
		ids     = make([]uuid.UUID, len(rows))
		codes   = make([]string, len(rows))
		names   = make([]string, len(rows))
		changed = make([]int64, len(rows))
	)
	for i, r := range rows {
		tenants[i], ids[i], codes[i], names[i], changed[i] = r.TenantID, r.ID, r.Code, r.Name, r.Changed
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO warehouses (tenant_id, warehouse_id, code, name, changed)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[])
		ON CONFLICT (tenant_id, warehouse_id) DO UPDATE
		SET code = excluded.code, name = excluded.name, changed = excluded.changed`,
		tenants, ids, codes, names, changed)
	return uniqueError(err, "upsert warehouses")
}

// Locations.

const locationColumns = `tenant_id, location_id, warehouse_id, code, changed`

func scanLocation(row pgx.CollectableRow) (ledger.Location, error) {
	var l ledger.Location
	err := row.Scan(&l.TenantID, &l.ID, &l.WarehouseID, &l.Code, &l.Changed)
	return l, err
}

// LocationsByCode returns the locations of one warehouse with the codes.
func (r *readTx) LocationsByCode(ctx context.Context, tenantID, warehouseID uuid.UUID, codes []string) ([]ledger.Location, error) {
	rows, err := r.q.Query(ctx, `SELECT l.* FROM `+probe("$3::text[]")+` CROSS JOIN LATERAL (
			SELECT `+locationColumns+` FROM locations
			WHERE tenant_id = $1 AND warehouse_id = $2 AND code = q.v OFFSET 0) AS l
		ORDER BY l.code COLLATE "C"`, tenantID, warehouseID, codes)
	if err != nil {
		return nil, fmt.Errorf("select locations by code: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanLocation)
	if err != nil {
		return nil, fmt.Errorf("select locations by code: %w", err)
	}
	return out, nil
}

// LocationsByID returns the locations with the IDs.
func (r *readTx) LocationsByID(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) ([]ledger.Location, error) {
	rows, err := r.q.Query(ctx, `SELECT l.* FROM `+probe("$2::uuid[]")+` CROSS JOIN LATERAL (
		SELECT `+locationColumns+` FROM locations WHERE tenant_id = $1 AND location_id = q.v OFFSET 0) AS l`, tenantID, ids)
	if err != nil {
		return nil, fmt.Errorf("select locations by id: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanLocation)
	if err != nil {
		return nil, fmt.Errorf("select locations by id: %w", err)
	}
	return out, nil
}

// UpsertLocations writes locations by ID. Returns CodeConflict if a code is
// taken by another location of the warehouse.
func (w *writeTx) UpsertLocations(ctx context.Context, rows []ledger.Location) error {
	if err := lockedRows(w, rows, func(r ledger.Location) uuid.UUID { return r.TenantID }); err != nil {
		return err
	}
	rows = lastByKey(rows, func(r ledger.Location) [2]uuid.UUID { return [2]uuid.UUID{r.TenantID, r.ID} })
	if len(rows) == 0 {
		return nil
	}
	var (
		tenants    = make([]uuid.UUID, len(rows))
		ids        = make([]uuid.UUID, len(rows))
		warehouses = make([]uuid.UUID, len(rows))
		codes      = make([]string, len(rows))
		changed    = make([]int64, len(rows))
	)
	for i, r := range rows {
		tenants[i], ids[i], warehouses[i], codes[i], changed[i] = r.TenantID, r.ID, r.WarehouseID, r.Code, r.Changed
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO locations (tenant_id, location_id, warehouse_id, code, changed)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[])
		ON CONFLICT (tenant_id, location_id) DO UPDATE
		SET warehouse_id = excluded.warehouse_id, code = excluded.code, changed = excluded.changed`,
		tenants, ids, warehouses, codes, changed)
	return uniqueError(err, "upsert locations")
}

// Items.

// itemSelect reads items with their barcodes, sorted bytewise (COLLATE "C")
// as Go sorts strings, so both stores return the same slices.
const itemSelect = itemColumns + `items i`

// itemColumns is itemSelect before the FROM item that yields the items as i.
const itemColumns = `SELECT i.tenant_id, i.item_id, i.sku, i.name, i.unit, i.batch_tracked, i.expiry_tracked, i.changed,
	(SELECT array_agg(b.barcode ORDER BY b.barcode COLLATE "C") FROM barcodes b
	  WHERE b.tenant_id = i.tenant_id AND b.item_id = i.item_id)
	FROM `

func scanItem(row pgx.CollectableRow) (ledger.Item, error) {
	var it ledger.Item
	err := row.Scan(&it.TenantID, &it.ID, &it.SKU, &it.Name, &it.Unit, &it.BatchTracked, &it.ExpiryTracked, &it.Changed, &it.Barcodes)
	return it, err
}

func (r *readTx) queryItems(ctx context.Context, what, sql string, args ...any) ([]ledger.Item, error) {
	rows, err := r.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("select items by %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, scanItem)
	if err != nil {
		return nil, fmt.Errorf("select items by %s: %w", what, err)
	}
	return out, nil
}

// ItemsBySKU returns the items with the SKUs, each with all its barcodes.
func (r *readTx) ItemsBySKU(ctx context.Context, tenantID uuid.UUID, skus []string) ([]ledger.Item, error) {
	return r.queryItems(ctx, "sku", itemColumns+probe("$2::text[]")+` CROSS JOIN LATERAL (
		SELECT * FROM items WHERE tenant_id = $1 AND sku = q.v OFFSET 0) AS i`, tenantID, skus)
}

// ItemsByID returns the items with the IDs, each with all its barcodes.
func (r *readTx) ItemsByID(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) ([]ledger.Item, error) {
	return r.queryItems(ctx, "id", itemColumns+probe("$2::uuid[]")+` CROSS JOIN LATERAL (
		SELECT * FROM items WHERE tenant_id = $1 AND item_id = q.v OFFSET 0) AS i`, tenantID, ids)
}

// ItemsByBarcode maps each known barcode among barcodes to its item.
func (r *readTx) ItemsByBarcode(ctx context.Context, tenantID uuid.UUID, barcodes []string) (map[string]ledger.Item, error) {
	rows, err := r.q.Query(ctx, `SELECT k.barcode, i.tenant_id, i.item_id, i.sku, i.name, i.unit, i.batch_tracked, i.expiry_tracked, i.changed,
		(SELECT array_agg(b.barcode ORDER BY b.barcode COLLATE "C") FROM barcodes b
		  WHERE b.tenant_id = i.tenant_id AND b.item_id = i.item_id)
		FROM `+probe("$2::text[]")+` CROSS JOIN LATERAL (
			SELECT barcode, item_id FROM barcodes WHERE tenant_id = $1 AND barcode = q.v OFFSET 0) AS k
		CROSS JOIN LATERAL (SELECT * FROM items WHERE tenant_id = $1 AND item_id = k.item_id OFFSET 0) AS i`, tenantID, barcodes)
	if err != nil {
		return nil, fmt.Errorf("select items by barcode: %w", err)
	}
	defer rows.Close()
	out := make(map[string]ledger.Item)
	for rows.Next() {
		var code string
		var it ledger.Item
		if err := rows.Scan(&code, &it.TenantID, &it.ID, &it.SKU, &it.Name, &it.Unit, &it.BatchTracked, &it.ExpiryTracked, &it.Changed, &it.Barcodes); err != nil {
			return nil, fmt.Errorf("select items by barcode: %w", err)
		}
		out[code] = it
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select items by barcode: %w", err)
	}
	return out, nil
}

// UpsertItems writes items by ID and adds their barcodes. A barcode that
// belonged to another item moves to this one, and the item that lost it is
// stamped with the change too, so the pull feed sends both. Returns
// CodeConflict if a SKU is taken by another item.
func (w *writeTx) UpsertItems(ctx context.Context, rows []ledger.Item) error {
	if err := lockedRows(w, rows, func(r ledger.Item) uuid.UUID { return r.TenantID }); err != nil {
		return err
	}
	// Every row's barcodes count, even of an item listed twice; the item's
	// other fields come from its last row.
	var bcs []ledger.Item // one entry per barcode: TenantID, ID, Barcodes[0], Changed
	for _, r := range rows {
		for _, code := range r.Barcodes {
			bcs = append(bcs, ledger.Item{TenantID: r.TenantID, ID: r.ID, Barcodes: []string{code}, Changed: r.Changed})
		}
	}
	rows = lastByKey(rows, func(r ledger.Item) [2]uuid.UUID { return [2]uuid.UUID{r.TenantID, r.ID} })
	if len(rows) == 0 {
		return nil
	}
	var (
		tenants = make([]uuid.UUID, len(rows))
		ids     = make([]uuid.UUID, len(rows))
		skus    = make([]string, len(rows))
		names   = make([]string, len(rows))
		units   = make([]string, len(rows))
		batch   = make([]bool, len(rows))
		expiry  = make([]bool, len(rows))
		changed = make([]int64, len(rows))
	)
	type barcodeKey struct {
		tenant uuid.UUID
		code   string
	}
	for i, r := range rows {
		tenants[i], ids[i], skus[i], names[i], units[i] = r.TenantID, r.ID, r.SKU, r.Name, r.Unit
		batch[i], expiry[i], changed[i] = r.BatchTracked, r.ExpiryTracked, r.Changed
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO items (tenant_id, item_id, sku, name, unit, batch_tracked, expiry_tracked, changed)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::bool[], $8::bigint[])
		ON CONFLICT (tenant_id, item_id) DO UPDATE
		SET sku = excluded.sku, name = excluded.name, unit = excluded.unit, batch_tracked = excluded.batch_tracked,
		    expiry_tracked = excluded.expiry_tracked, changed = excluded.changed`,
		tenants, ids, skus, names, units, batch, expiry, changed)
	if err := uniqueError(err, "upsert items"); err != nil {
		return err
	}

	// A barcode listed twice goes to the last item that lists it.
	bcs = lastByKey(bcs, func(b ledger.Item) barcodeKey { return barcodeKey{b.TenantID, b.Barcodes[0]} })
	if len(bcs) == 0 {
		return nil
	}
	var (
		bTenants = make([]uuid.UUID, len(bcs))
		bCodes   = make([]string, len(bcs))
		bItems   = make([]uuid.UUID, len(bcs))
		bChanged = make([]int64, len(bcs))
	)
	for i, b := range bcs {
		bTenants[i], bCodes[i], bItems[i], bChanged[i] = b.TenantID, b.Barcodes[0], b.ID, b.Changed
	}
	// The CTE reads the barcodes as they were before this statement, so
	// "moved" sees the items that are about to lose a barcode.
	_, err = w.q.Exec(ctx, `
		WITH new AS (
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bigint[]) AS n(tenant_id, barcode, item_id, changed)
		), moved AS (
			SELECT b.tenant_id, b.item_id, max(n.changed) AS changed
			FROM barcodes b JOIN new n ON n.tenant_id = b.tenant_id AND n.barcode = b.barcode AND n.item_id <> b.item_id
			GROUP BY b.tenant_id, b.item_id
		), bumped AS (
			UPDATE items i SET changed = greatest(i.changed, m.changed)
			FROM moved m WHERE i.tenant_id = m.tenant_id AND i.item_id = m.item_id
		)
		INSERT INTO barcodes (tenant_id, barcode, item_id, changed)
		SELECT tenant_id, barcode, item_id, changed FROM new
		ON CONFLICT (tenant_id, barcode) DO UPDATE
		SET item_id = excluded.item_id, changed = excluded.changed
		WHERE barcodes.item_id <> excluded.item_id`,
		bTenants, bCodes, bItems, bChanged)
	if err != nil {
		return fmt.Errorf("upsert barcodes: %w", err)
	}
	return nil
}

// Batches.

const batchColumns = `tenant_id, batch_id, item_id, code, expiry, generated, changed`

func scanBatch(row pgx.CollectableRow) (ledger.Batch, error) {
	var b ledger.Batch
	var expiry pgtype.Date
	err := row.Scan(&b.TenantID, &b.ID, &b.ItemID, &b.Code, &expiry, &b.Generated, &b.Changed)
	b.Expiry = dateOf(expiry)
	return b, err
}

// BatchesByCode returns the batches named by refs (item and code).
func (r *readTx) BatchesByCode(ctx context.Context, tenantID uuid.UUID, refs []ledger.BatchRef) ([]ledger.Batch, error) {
	if len(refs) == 0 {
		return []ledger.Batch{}, nil
	}
	items := make([]uuid.UUID, len(refs))
	codes := make([]string, len(refs))
	for i, ref := range refs {
		items[i], codes[i] = ref.ItemID, ref.Code
	}
	rows, err := r.q.Query(ctx, `SELECT b.* FROM (SELECT DISTINCT * FROM unnest($2::uuid[], $3::text[])) AS q(i, c)
		CROSS JOIN LATERAL (
			SELECT `+batchColumns+` FROM batches WHERE tenant_id = $1 AND item_id = q.i AND code = q.c OFFSET 0) AS b`, tenantID, items, codes)
	if err != nil {
		return nil, fmt.Errorf("select batches by code: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanBatch)
	if err != nil {
		return nil, fmt.Errorf("select batches by code: %w", err)
	}
	return out, nil
}

// BatchesByID returns the batches with the IDs.
func (r *readTx) BatchesByID(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) ([]ledger.Batch, error) {
	rows, err := r.q.Query(ctx, `SELECT b.* FROM `+probe("$2::uuid[]")+` CROSS JOIN LATERAL (
		SELECT `+batchColumns+` FROM batches WHERE tenant_id = $1 AND batch_id = q.v OFFSET 0) AS b`, tenantID, ids)
	if err != nil {
		return nil, fmt.Errorf("select batches by id: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanBatch)
	if err != nil {
		return nil, fmt.Errorf("select batches by id: %w", err)
	}
	return out, nil
}

// UpsertBatches writes batches by ID. Returns CodeConflict if a code is
// taken by another batch of the item.
func (w *writeTx) UpsertBatches(ctx context.Context, rows []ledger.Batch) error {
	if err := lockedRows(w, rows, func(r ledger.Batch) uuid.UUID { return r.TenantID }); err != nil {
		return err
	}
	rows = lastByKey(rows, func(r ledger.Batch) [2]uuid.UUID { return [2]uuid.UUID{r.TenantID, r.ID} })
	if len(rows) == 0 {
		return nil
	}
	var (
		tenants   = make([]uuid.UUID, len(rows))
		ids       = make([]uuid.UUID, len(rows))
		items     = make([]uuid.UUID, len(rows))
		codes     = make([]string, len(rows))
		expiries  = make([]pgtype.Date, len(rows))
		generated = make([]bool, len(rows))
		changed   = make([]int64, len(rows))
	)
	for i, r := range rows {
		tenants[i], ids[i], items[i], codes[i] = r.TenantID, r.ID, r.ItemID, r.Code
		expiries[i], generated[i], changed[i] = nullDate(r.Expiry), r.Generated, r.Changed
	}
	_, err := w.q.Exec(ctx, `
		INSERT INTO batches (tenant_id, batch_id, item_id, code, expiry, generated, changed)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::date[], $6::bool[], $7::bigint[])
		ON CONFLICT (tenant_id, batch_id) DO UPDATE
		SET item_id = excluded.item_id, code = excluded.code, expiry = excluded.expiry,
		    generated = excluded.generated, changed = excluded.changed`,
		tenants, ids, items, codes, expiries, generated, changed)
	return uniqueError(err, "upsert batches")
}

// lastByKey drops all but the last row of each key, keeping the order of
// the rows kept. ON CONFLICT DO UPDATE refuses to touch one row twice in a
// statement, and the last write winning is what separate statements would
// have done.
func lastByKey[T any, K comparable](rows []T, key func(T) K) []T {
	if len(rows) < 2 {
		return rows
	}
	last := make(map[K]int, len(rows))
	for i, r := range rows {
		last[key(r)] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	out := make([]T, 0, len(last))
	for i, r := range rows {
		if last[key(r)] == i {
			out = append(out, r)
		}
	}
	return out
}

// jsonOf marshals v for a jsonb column.
func jsonOf(what string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, err)
	}
	return b, nil
}
