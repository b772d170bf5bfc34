package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// writeTx implements ledger.Tx: the reads of readTx inside the writer's
// BEGIN IMMEDIATE transaction, plus the writes.
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

// own refuses a write to another tenant than the one whose lock the
// transaction holds. SQLite's lock would cover it, but PostgreSQL's per-tenant
// lock would not, and the stores must behave alike.
func (t *writeTx) own(tenantID uuid.UUID) error {
	if tenantID != t.tenantID {
		return fmt.Errorf("write to tenant %s in a transaction of tenant %s", tenantID, t.tenantID)
	}
	return nil
}

// WriteIDs returns the write ID found when the transaction began and the one
// it leaves.
func (t *writeTx) WriteIDs() (found, leaves uuid.UUID) { return t.found, t.leaves }

// Ledger returns the tenant's counters as read when the transaction began,
// or as last stored with SetLedger.
func (t *writeTx) Ledger() ledger.LedgerState { return t.state }

// SetLedger stores the tenant's counters, and the write ID the transaction
// leaves.
func (t *writeTx) SetLedger(ctx context.Context, s ledger.LedgerState) error {
	if _, err := t.tx.ExecContext(ctx, `UPDATE tenants SET next_position = ?, next_change = ?, write_id = ? WHERE tenant_id = ?`,
		s.NextPosition, s.NextChange, t.leaves, t.tenantID); err != nil {
		return fmt.Errorf("store ledger state of tenant %s: %w", t.tenantID, err)
	}
	t.state, t.leftID = s, true
	return nil
}

// UpdateSettings stores a tenant's settings. Returns ledger.CodeNotFound.
func (t *writeTx) UpdateSettings(ctx context.Context, tenantID uuid.UUID, s ledger.Settings) error {
	if err := t.own(tenantID); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE tenants SET count_variance_threshold = ?, clock_uncertainty = ?
		WHERE tenant_id = ?`, s.CountVarianceThreshold, durationMicros(s.ClockUncertainty), tenantID)
	if err != nil {
		return fmt.Errorf("update settings of tenant %s: %w", tenantID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
	}
	return nil
}

// SetLedgerID stores a new ledger ID for the tenant. Returns
// ledger.CodeNotFound.
func (t *writeTx) SetLedgerID(ctx context.Context, tenantID, ledgerID uuid.UUID) error {
	if err := t.own(tenantID); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE tenants SET ledger_id = ? WHERE tenant_id = ?`, ledgerID, tenantID)
	if err != nil {
		return fmt.Errorf("set ledger id of tenant %s: %w", tenantID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
	}
	return nil
}

// rowsPerStatement is how many rows each writes per INSERT. One statement
// per row costs a trip through database/sql and the driver for every row;
// 64 rows of the widest table stay far below SQLite's limit of 32,766
// parameters.
const rowsPerStatement = 64

// valuesTuple finds the one row of placeholders in an INSERT's VALUES clause.
var valuesTuple = regexp.MustCompile(`VALUES\s*(\(\s*\?(?:\s*,\s*\?)*\s*\))`)

// each writes rows with query, an INSERT whose VALUES clause holds one
// row's placeholders, rowsPerStatement rows per statement (SQLite applies
// the rows of one statement in order, so an upsert that meets its own
// earlier row behaves as if the rows came one by one). A query without such
// a clause runs once per row. A unique violation becomes conflict(row) of
// the offending row; any other error is wrapped with what.
func each[T any](ctx context.Context, t *writeTx, what, query string, rows []T,
	args func(T) ([]any, error), conflict func(T) error) error {
	loc := valuesTuple.FindStringSubmatchIndex(query)
	if loc == nil || len(rows) <= 1 {
		return eachRow(ctx, t, what, query, rows, args, conflict)
	}
	tuple := query[loc[2]:loc[3]]
	multi := func(n int) string {
		return query[:loc[2]] + strings.Repeat(tuple+", ", n-1) + tuple + query[loc[3]:]
	}
	var full *sql.Stmt
	defer func() {
		if full != nil {
			_ = full.Close()
		}
	}()
	for start := 0; start < len(rows); start += rowsPerStatement {
		chunk := rows[start:min(start+rowsPerStatement, len(rows))]
		var a []any
		for _, row := range chunk {
			ra, err := args(row)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			a = append(a, ra...)
		}
		var err error
		if len(chunk) == rowsPerStatement {
			if full == nil {
				if full, err = t.tx.PrepareContext(ctx, multi(rowsPerStatement)); err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
			}
			_, err = full.ExecContext(ctx, a...)
		} else {
			_, err = t.tx.ExecContext(ctx, multi(len(chunk)), a...)
		}
		if err != nil {
			if conflict != nil && isUniqueViolation(err) {
				// The failed statement changed nothing: row by row finds
				// the offending row.
				return eachRow(ctx, t, what, query, chunk, args, conflict)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// eachRow prepares query once and runs it for every row.
func eachRow[T any](ctx context.Context, t *writeTx, what, query string, rows []T,
	args func(T) ([]any, error), conflict func(T) error) error {
	if len(rows) == 0 {
		return nil
	}
	stmt, err := t.tx.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer stmt.Close()
	for _, row := range rows {
		a, err := args(row)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if _, err := stmt.ExecContext(ctx, a...); err != nil {
			if conflict != nil && isUniqueViolation(err) {
				return conflict(row)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// UpsertWarehouses writes warehouses by ID. Returns ledger.CodeConflict if
// another warehouse has the code.
func (t *writeTx) UpsertWarehouses(ctx context.Context, rows []ledger.Warehouse) error {
	return each(ctx, t, "upsert warehouses", `INSERT INTO warehouses (tenant_id, warehouse_id, code, name, changed)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, warehouse_id) DO UPDATE
		SET code = excluded.code, name = excluded.name, changed = excluded.changed`, rows,
		func(w ledger.Warehouse) ([]any, error) {
			return []any{w.TenantID, w.ID, w.Code, w.Name, w.Changed}, t.own(w.TenantID)
		},
		func(w ledger.Warehouse) error {
			return ledger.Errorf(ledger.CodeConflict, "warehouse %q already exists", w.Code)
		})
}

// UpsertLocations writes locations by ID. Returns ledger.CodeConflict if
// another location of the warehouse has the code.
func (t *writeTx) UpsertLocations(ctx context.Context, rows []ledger.Location) error {
	return each(ctx, t, "upsert locations", `INSERT INTO locations (tenant_id, location_id, warehouse_id, code, changed)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, location_id) DO UPDATE
		SET warehouse_id = excluded.warehouse_id, code = excluded.code, changed = excluded.changed`, rows,
		func(l ledger.Location) ([]any, error) {
			return []any{l.TenantID, l.ID, l.WarehouseID, l.Code, l.Changed}, t.own(l.TenantID)
		},
		func(l ledger.Location) error {
			return ledger.Errorf(ledger.CodeConflict, "location %q already exists in warehouse %s", l.Code, l.WarehouseID)
		})
}

// UpsertItems writes items by ID and adds their barcodes. A barcode already
// on another item moves to this one, and that item is stamped with this
// item's change number too, so a pull feed re-sends it without the barcode.
// Returns ledger.CodeConflict if another item has the SKU.
func (t *writeTx) UpsertItems(ctx context.Context, rows []ledger.Item) error {
	err := each(ctx, t, "upsert items", `INSERT INTO items
		(tenant_id, item_id, sku, name, unit, batch_tracked, expiry_tracked, changed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, item_id) DO UPDATE
		SET sku = excluded.sku, name = excluded.name, unit = excluded.unit, batch_tracked = excluded.batch_tracked,
		    expiry_tracked = excluded.expiry_tracked, changed = excluded.changed`, rows,
		func(it ledger.Item) ([]any, error) {
			return []any{it.TenantID, it.ID, it.SKU, it.Name, it.Unit, it.BatchTracked, it.ExpiryTracked, it.Changed},
				t.own(it.TenantID)
		},
		func(it ledger.Item) error {
			return ledger.Errorf(ledger.CodeConflict, "item %q already exists", it.SKU)
		})
	if err != nil {
		return err
	}
	type barcode struct {
		item ledger.Item
		code string
	}
	var barcodes []barcode
	for _, it := range rows {
		for _, code := range it.Barcodes {
			barcodes = append(barcodes, barcode{it, code})
		}
	}
	// Stamp the item losing the barcode before the barcode moves.
	err = each(ctx, t, "upsert barcodes", `UPDATE items SET changed = ?
		WHERE tenant_id = ? AND item_id <> ?
		  AND item_id = (SELECT item_id FROM barcodes WHERE tenant_id = ? AND barcode = ?)`, barcodes,
		func(b barcode) ([]any, error) {
			return []any{b.item.Changed, b.item.TenantID, b.item.ID, b.item.TenantID, b.code}, nil
		}, nil)
	if err != nil {
		return err
	}
	return each(ctx, t, "upsert barcodes", `INSERT INTO barcodes (tenant_id, barcode, item_id, changed)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant_id, barcode) DO UPDATE SET item_id = excluded.item_id, changed = excluded.changed
		WHERE barcodes.item_id <> excluded.item_id`, barcodes,
		func(b barcode) ([]any, error) {
			return []any{b.item.TenantID, b.code, b.item.ID, b.item.Changed}, nil
		}, nil)
}

// UpsertBatches writes batches by ID. Returns ledger.CodeConflict if the
// item has another batch with the code.
func (t *writeTx) UpsertBatches(ctx context.Context, rows []ledger.Batch) error {
	return each(ctx, t, "upsert batches", `INSERT INTO batches
		(tenant_id, batch_id, item_id, code, expiry, generated, changed)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, batch_id) DO UPDATE
		SET item_id = excluded.item_id, code = excluded.code, expiry = excluded.expiry,
		    generated = excluded.generated, changed = excluded.changed`, rows,
		func(b ledger.Batch) ([]any, error) {
			return []any{b.TenantID, b.ID, b.ItemID, b.Code, nullDate(b.Expiry), b.Generated, b.Changed}, t.own(b.TenantID)
		},
		func(b ledger.Batch) error {
			return ledger.Errorf(ledger.CodeConflict, "batch %q of item %s already exists", b.Code, b.ItemID)
		})
}

// InsertDevice inserts a device. Returns ledger.CodeConflict if the ID or
// the batch prefix is taken.
func (t *writeTx) InsertDevice(ctx context.Context, d ledger.Device) error {
	return each(ctx, t, "insert device", `INSERT INTO devices (tenant_id, device_id, warehouse_id, name, batch_prefix,
		acked_seq, clock_offset, last_seen_at, created_at, revoked_at, app_version, pending, oldest_unsent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, []ledger.Device{d},
		func(d ledger.Device) ([]any, error) {
			return []any{d.TenantID, d.ID, d.WarehouseID, d.Name, d.BatchPrefix, d.AckedSeq, durationMicros(d.ClockOffset),
				nullMicros(d.LastSeenAt), d.CreatedAt.UnixMicro(), nullMicros(d.RevokedAt),
				d.AppVersion, d.Pending, durationMicros(d.OldestUnsent)}, t.own(d.TenantID)
		},
		func(d ledger.Device) error {
			return ledger.Errorf(ledger.CodeConflict, "device %s or batch prefix %q already exists", d.ID, d.BatchPrefix)
		})
}

// UpdateDevice stores AckedSeq, ClockOffset, LastSeenAt and RevokedAt.
// Returns ledger.CodeNotFound.
func (t *writeTx) UpdateDevice(ctx context.Context, d ledger.Device) error {
	if err := t.own(d.TenantID); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE devices
		SET acked_seq = ?, clock_offset = ?, last_seen_at = ?, revoked_at = ?
		WHERE tenant_id = ? AND device_id = ?`,
		d.AckedSeq, durationMicros(d.ClockOffset), nullMicros(d.LastSeenAt), nullMicros(d.RevokedAt), d.TenantID, d.ID)
	if err != nil {
		return fmt.Errorf("update device %s: %w", d.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "device %s not found", d.ID)
	}
	return nil
}

// InsertOps appends entries to the op log. Returns ledger.CodeConflict if
// the device's seq is taken or a canonical entry's op_id already is.
func (t *writeTx) InsertOps(ctx context.Context, rows []ledger.OpRecord) error {
	return each(ctx, t, "insert ops", `INSERT INTO ops (tenant_id, device_id, seq, op_id, kind, payload, payload_hash,
		received_at, effective_at, result, status, canonical, posted)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, rows,
		func(o ledger.OpRecord) ([]any, error) {
			result, err := json.Marshal(o.Result)
			if err != nil {
				return nil, fmt.Errorf("result of op %s: %w", o.OpID, err)
			}
			return []any{o.TenantID, o.DeviceID, o.Seq, o.OpID, string(o.Kind), string(o.Payload), hashBytes(o.PayloadHash),
				o.ReceivedAt.UnixMicro(), o.EffectiveAt.UnixMicro(), string(result), string(o.Result.Status),
				o.Canonical, o.Posted}, t.own(o.TenantID)
		},
		func(o ledger.OpRecord) error {
			return ledger.Errorf(ledger.CodeConflict, "op log already holds seq %d of device %s or op %s", o.Seq, o.DeviceID, o.OpID)
		})
}

// hashBytes keeps a missing hash a zero-length BLOB: a nil []byte would bind
// as NULL and fail the NOT NULL constraint.
func hashBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// MarkOpsPosted sets posted on the canonical op log entries of opIDs.
func (t *writeTx) MarkOpsPosted(ctx context.Context, tenantID uuid.UUID, opIDs []uuid.UUID) error {
	if err := t.own(tenantID); err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE ops SET posted = 1
		WHERE tenant_id = ? AND canonical = 1 AND op_id IN (SELECT value FROM json_each(?))`,
		tenantID, jsonList(opIDs)); err != nil {
		return fmt.Errorf("mark ops posted: %w", err)
	}
	return nil
}

// InsertOpConflicts stores rejected operations whose seq was taken. Their
// kind is taken from the payload so the op log can show it.
func (t *writeTx) InsertOpConflicts(ctx context.Context, rows []ledger.OpConflict) error {
	return each(ctx, t, "insert op conflicts", `INSERT INTO op_conflicts (tenant_id, conflict_id, device_id, seq, op_id,
		kind, payload, payload_hash, received_at, result, status)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, rows,
		func(c ledger.OpConflict) ([]any, error) {
			result, err := json.Marshal(c.Result)
			if err != nil {
				return nil, fmt.Errorf("result of op %s: %w", c.OpID, err)
			}
			var op struct {
				Kind string `json:"kind"`
			}
			// A payload that does not decode still records the conflict.
			_ = json.Unmarshal(c.Payload, &op)
			return []any{c.TenantID, c.ID, c.DeviceID, c.Seq, c.OpID, op.Kind, string(c.Payload), hashBytes(c.PayloadHash),
				c.ReceivedAt.UnixMicro(), string(result), string(c.Result.Status)}, t.own(c.TenantID)
		},
		func(c ledger.OpConflict) error {
			return ledger.Errorf(ledger.CodeConflict, "op conflict %s already exists", c.ID)
		})
}

// InsertMovements appends movements to the ledger. Returns
// ledger.CodeConflict if a position is taken.
func (t *writeTx) InsertMovements(ctx context.Context, rows []ledger.Movement) error {
	return each(ctx, t, "insert movements", `INSERT INTO movements (tenant_id, position, location_id, item_id, batch_id,
		qty, kind, effective_at, recorded_at, op_id, device_id, review_id, corrects, order_ref)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, rows,
		func(m ledger.Movement) ([]any, error) {
			return []any{m.TenantID, m.Position, m.LocationID, m.ItemID, m.BatchID, m.Qty, string(m.Kind),
				m.EffectiveAt.UnixMicro(), m.RecordedAt.UnixMicro(), nullUUID(m.OpID), nullUUID(m.DeviceID),
				nullUUID(m.ReviewID), nullUUID(m.Corrects), nullString(m.Order)}, t.own(m.TenantID)
		},
		func(m ledger.Movement) error {
			return ledger.Errorf(ledger.CodeConflict, "position %d is taken", m.Position)
		})
}

// AddBalances adds each delta to its balance, creating it at zero first, in
// the order given, stamping change. last_position only moves forward.
func (t *writeTx) AddBalances(ctx context.Context, tenantID uuid.UUID, change int64, deltas []ledger.BalanceDelta) error {
	if err := t.own(tenantID); err != nil {
		return err
	}
	return each(ctx, t, "add balances", `INSERT INTO balances
		(tenant_id, location_id, item_id, batch_id, on_hand, last_position, changed)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, location_id, item_id, batch_id) DO UPDATE
		SET on_hand = on_hand + excluded.on_hand,
		    last_position = max(last_position, excluded.last_position),
		    changed = excluded.changed`, deltas,
		func(d ledger.BalanceDelta) ([]any, error) {
			return []any{tenantID, d.LocationID, d.ItemID, d.BatchID, d.Delta, d.LastPosition, change}, nil
		}, nil)
}

// UpsertOrderLines writes full order lines (totals, not deltas).
func (t *writeTx) UpsertOrderLines(ctx context.Context, tenantID uuid.UUID, rows []ledger.OrderLine) error {
	if err := t.own(tenantID); err != nil {
		return err
	}
	return each(ctx, t, "upsert order lines", `INSERT INTO order_lines
		(tenant_id, order_ref, item_id, batch_id, shipped, returned, first_position)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, order_ref, item_id, batch_id) DO UPDATE
		SET shipped = excluded.shipped, returned = excluded.returned, first_position = excluded.first_position`, rows,
		func(l ledger.OrderLine) ([]any, error) {
			return []any{tenantID, l.Order, l.ItemID, l.BatchID, l.Shipped, l.Returned, l.FirstPosition}, nil
		}, nil)
}

// UpsertCounts writes posted counts by op_id.
func (t *writeTx) UpsertCounts(ctx context.Context, tenantID uuid.UUID, rows []ledger.CountRecord) error {
	if err := t.own(tenantID); err != nil {
		return err
	}
	return each(ctx, t, "upsert counts", `INSERT INTO counts
		(tenant_id, op_id, device_id, location_id, item_id, batch_id, effective_at, counted, expected, adjusted)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, op_id) DO UPDATE
		SET device_id = excluded.device_id, location_id = excluded.location_id, item_id = excluded.item_id,
		    batch_id = excluded.batch_id, effective_at = excluded.effective_at, counted = excluded.counted,
		    expected = excluded.expected, adjusted = excluded.adjusted`, rows,
		func(c ledger.CountRecord) ([]any, error) {
			return []any{tenantID, c.OpID, c.DeviceID, c.LocationID, c.ItemID, c.BatchID, c.EffectiveAt.UnixMicro(),
				c.Counted, c.Expected, c.Adjusted}, nil
		}, nil)
}

// UpsertReviews writes reviews by ID and adds any operations not yet linked
// to them. The opening operation (OpID, DeviceID) is linked first, so it
// stays first in Ops whatever order the caller lists them in.
func (t *writeTx) UpsertReviews(ctx context.Context, rows []ledger.Review) error {
	err := each(ctx, t, "upsert reviews", `INSERT INTO reviews (tenant_id, review_id, kind, severity, status, op_id,
		device_id, location_id, item_id, batch_id, order_ref, evidence, suggestions, resolution, resolved_at, opened_at, changed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, review_id) DO UPDATE
		SET kind = excluded.kind, severity = excluded.severity, status = excluded.status, op_id = excluded.op_id,
		    device_id = excluded.device_id, location_id = excluded.location_id, item_id = excluded.item_id,
		    batch_id = excluded.batch_id, order_ref = excluded.order_ref, evidence = excluded.evidence,
		    suggestions = excluded.suggestions, resolution = excluded.resolution, resolved_at = excluded.resolved_at,
		    opened_at = excluded.opened_at, changed = excluded.changed`, rows,
		func(r ledger.Review) ([]any, error) {
			evidence, err := json.Marshal(r.Evidence)
			if err != nil {
				return nil, fmt.Errorf("evidence of review %s: %w", r.ID, err)
			}
			suggestions, err := json.Marshal(r.Suggestions)
			if err != nil {
				return nil, fmt.Errorf("suggestions of review %s: %w", r.ID, err)
			}
			var resolution sql.NullString
			var resolvedAt any
			if r.Resolution != nil {
				b, err := json.Marshal(r.Resolution)
				if err != nil {
					return nil, fmt.Errorf("resolution of review %s: %w", r.ID, err)
				}
				resolution = sql.NullString{String: string(b), Valid: true}
				resolvedAt = r.Resolution.At.UnixMicro()
			}
			return []any{r.TenantID, r.ID, string(r.Kind), string(r.Severity), string(r.Status), r.OpID, r.DeviceID,
				r.LocationID, r.ItemID, r.BatchID, nullString(r.Order), string(evidence), string(suggestions), resolution,
				resolvedAt, r.OpenedAt.UnixMicro(), r.Changed}, t.own(r.TenantID)
		}, nil)
	if err != nil {
		return err
	}
	type link struct {
		review uuid.UUID
		tenant uuid.UUID
		op     ledger.ReviewOp
	}
	var links []link
	for _, r := range rows {
		if r.OpID != uuid.Nil {
			links = append(links, link{r.ID, r.TenantID, ledger.ReviewOp{OpID: r.OpID, DeviceID: r.DeviceID}})
		}
		for _, op := range r.Ops {
			links = append(links, link{r.ID, r.TenantID, op})
		}
	}
	// A review's links are all written again on every upsert; the ones
	// stored already are skipped by their key before the next ord is
	// looked for, which scans the review's links: otherwise an upsert of a
	// review with k operations costs k².
	return each(ctx, t, "link review ops", `INSERT INTO review_ops (tenant_id, review_id, op_id, device_id, ord)
		SELECT ?1, ?2, ?3, ?4, (SELECT coalesce(max(ord) + 1, 0) FROM review_ops WHERE tenant_id = ?1 AND review_id = ?2)
		WHERE NOT EXISTS (SELECT 1 FROM review_ops WHERE tenant_id = ?1 AND review_id = ?2 AND op_id = ?3)
		ON CONFLICT (tenant_id, review_id, op_id) DO NOTHING`, links,
		func(l link) ([]any, error) {
			return []any{l.tenant, l.review, l.op.OpID, l.op.DeviceID}, nil
		}, nil)
}
