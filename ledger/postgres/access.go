package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"stocksync/ledger"
)

// Credentials and device reports: single statements on the pool, outside
// any tenant's ledger lock. A deferred foreign key of a single statement is
// checked when its implicit transaction commits, at the end of the
// statement, so a missing tenant or warehouse surfaces here as 23503.

// insertError maps the errors of a single-statement insert: a foreign key
// violation to CodeNotFound, a unique one to CodeConflict.
func insertError(err error, what string) error {
	if err == nil {
		return nil
	}
	if e := foreignKeyError(err); e != nil {
		return e
	}
	return uniqueError(err, what)
}

// InsertAPIKey stores a new API key. Returns CodeNotFound for an unknown
// tenant and CodeConflict if its ID or hash is taken.
func (s *Store) InsertAPIKey(ctx context.Context, k ledger.APIKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (tenant_id, key_id, name, role, key_hash, created_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.TenantID, k.ID, k.Name, string(k.Role), k.Hash, k.CreatedAt, nullTime(k.RevokedAt))
	return insertError(err, "insert API key "+k.Name)
}

// RevokeAPIKey sets revoked_at unless it is set already. Returns
// CodeNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, keyID uuid.UUID, at time.Time) error {
	// The update touches the row either way, so RowsAffected tells a
	// missing key from a revoked one.
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3)
		WHERE tenant_id = $1 AND key_id = $2`, tenantID, keyID, at)
	if err != nil {
		return fmt.Errorf("revoke API key %s: %w", keyID, err)
	}
	if tag.RowsAffected() == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "API key %s not found", keyID)
	}
	return nil
}

// InsertEnrollmentCode stores a new enrollment code. Returns CodeNotFound
// for an unknown warehouse and CodeConflict if its ID or hash is taken.
func (s *Store) InsertEnrollmentCode(ctx context.Context, c ledger.EnrollmentCode) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO enrollment_codes
		(tenant_id, code_id, warehouse_id, code_hash, created_at, expires_at, used_at, device_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.TenantID, c.ID, c.WarehouseID, c.Hash, c.CreatedAt, c.ExpiresAt, nullTime(c.UsedAt), nullUUID(c.DeviceID))
	return insertError(err, "insert enrollment code")
}

// ReportDevice stores what a device said about itself. It takes the
// device's row lock only, so it waits at most for a merge of that device.
// Returns CodeNotFound.
func (s *Store) ReportDevice(ctx context.Context, tenantID, deviceID uuid.UUID, r ledger.DeviceReport) error {
	tag, err := s.pool.Exec(ctx, `UPDATE devices
		SET last_seen_at = $3, app_version = CASE WHEN $4 = '' THEN app_version ELSE $4 END,
		    pending = $5, oldest_unsent = $6
		WHERE tenant_id = $1 AND device_id = $2`,
		tenantID, deviceID, r.SeenAt, r.AppVersion, r.Pending, micros(r.OldestUnsent))
	if err != nil {
		return fmt.Errorf("report device %s: %w", deviceID, err)
	}
	if tag.RowsAffected() == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "device %s not found", deviceID)
	}
	return nil
}

// LedgerState returns the tenant's counters in this snapshot. Returns
// CodeNotFound.
func (r *readTx) LedgerState(ctx context.Context, tenantID uuid.UUID) (ledger.LedgerState, error) {
	var s ledger.LedgerState
	err := r.q.QueryRow(ctx, `SELECT next_position, next_change FROM tenants WHERE tenant_id = $1`, tenantID).
		Scan(&s.NextPosition, &s.NextChange)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
	}
	if err != nil {
		return s, fmt.Errorf("select ledger state of tenant %s: %w", tenantID, err)
	}
	return s, nil
}

// API keys.

const apiKeyColumns = `tenant_id, key_id, name, role, key_hash, created_at, revoked_at`

func scanAPIKey(row pgx.CollectableRow) (ledger.APIKey, error) {
	var k ledger.APIKey
	var revoked pgtype.Timestamptz
	err := row.Scan(id(&k.TenantID), id(&k.ID), &k.Name, &k.Role, &k.Hash, &k.CreatedAt, &revoked)
	k.RevokedAt = timeOf(revoked)
	return k, err
}

// APIKeyByHash returns the key stored under hash, revoked or not. Returns
// CodeNotFound.
func (r *readTx) APIKeyByHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (ledger.APIKey, error) {
	rows, err := r.q.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 AND key_hash = $2`, tenantID, hash)
	if err != nil {
		return ledger.APIKey{}, fmt.Errorf("select API key: %w", err)
	}
	k, err := pgx.CollectExactlyOneRow(rows, scanAPIKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, ledger.Errorf(ledger.CodeNotFound, "API key not found")
	}
	if err != nil {
		return k, fmt.Errorf("select API key: %w", err)
	}
	return k, nil
}

// APIKeys lists the tenant's keys by creation time.
func (r *readTx) APIKeys(ctx context.Context, tenantID uuid.UUID) ([]ledger.APIKey, error) {
	rows, err := r.q.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, key_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("select API keys: %w", err)
	}
	ks, err := pgx.CollectRows(rows, scanAPIKey)
	if err != nil {
		return nil, fmt.Errorf("select API keys: %w", err)
	}
	return ks, nil
}

// Enrollment codes and device tokens.

// EnrollmentCodeByHash finds a code of any tenant. Returns CodeNotFound.
func (r *readTx) EnrollmentCodeByHash(ctx context.Context, hash []byte) (ledger.EnrollmentCode, error) {
	var c ledger.EnrollmentCode
	var used pgtype.Timestamptz
	var device pgtype.UUID
	err := r.q.QueryRow(ctx, `SELECT tenant_id, code_id, warehouse_id, code_hash, created_at, expires_at, used_at, device_id
		FROM enrollment_codes WHERE code_hash = $1`, hash).
		Scan(id(&c.TenantID), id(&c.ID), id(&c.WarehouseID), &c.Hash, &c.CreatedAt, &c.ExpiresAt, &used, &device)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ledger.Errorf(ledger.CodeNotFound, "enrollment code not found")
	}
	if err != nil {
		return c, fmt.Errorf("select enrollment code: %w", err)
	}
	c.UsedAt, c.DeviceID = timeOf(used), uuidOf(device)
	return c, nil
}

// ClaimEnrollmentCode marks an unused code used by deviceID. Under the
// tenant's lock two claims cannot interleave, and READ COMMITTED re-checks
// used_at against the last committed claim either way. Returns CodeConflict
// when it was used already and CodeNotFound when missing.
func (w *writeTx) ClaimEnrollmentCode(ctx context.Context, tenantID, codeID, deviceID uuid.UUID, at time.Time) error {
	if err := w.locked(tenantID); err != nil {
		return err
	}
	tag, err := w.q.Exec(ctx, `UPDATE enrollment_codes SET used_at = $3, device_id = $4
		WHERE tenant_id = $1 AND code_id = $2 AND used_at IS NULL`, tenantID, codeID, at, deviceID)
	if err != nil {
		return fmt.Errorf("claim enrollment code %s: %w", codeID, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := w.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM enrollment_codes WHERE tenant_id = $1 AND code_id = $2)`,
		tenantID, codeID).Scan(&exists); err != nil {
		return fmt.Errorf("claim enrollment code %s: %w", codeID, err)
	}
	if exists {
		return ledger.Errorf(ledger.CodeConflict, "enrollment code %s was already used", codeID)
	}
	return ledger.Errorf(ledger.CodeNotFound, "enrollment code %s not found", codeID)
}

// InsertDeviceToken stores a device token's hash. Returns CodeConflict if
// the hash is taken, and CodeNotFound (at commit) for an unknown device.
func (w *writeTx) InsertDeviceToken(ctx context.Context, t ledger.DeviceToken) error {
	if err := w.locked(t.TenantID); err != nil {
		return err
	}
	_, err := w.q.Exec(ctx, `INSERT INTO device_tokens (tenant_id, token_hash, device_id, created_at) VALUES ($1, $2, $3, $4)`,
		t.TenantID, t.Hash, t.DeviceID, t.CreatedAt)
	return uniqueError(err, "insert device token")
}

// DeviceByTokenHash returns the device a token hash belongs to, revoked or
// not. Returns CodeNotFound.
func (r *readTx) DeviceByTokenHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (ledger.Device, error) {
	d, err := scanDevice(r.q.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices
		WHERE tenant_id = $1 AND device_id = (SELECT device_id FROM device_tokens WHERE tenant_id = $1 AND token_hash = $2)`,
		tenantID, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ledger.Errorf(ledger.CodeNotFound, "device token not found")
	}
	if err != nil {
		return d, fmt.Errorf("select device by token: %w", err)
	}
	return d, nil
}

// The pull feed. Each query is one index range scan: rows of the tenant
// with changed <= upto strictly after the position after, in (changed, id)
// order; uuid compares bytewise, as ledger.Key.Less and the SQLite store's
// canonical text do.

// ItemsChanged returns the items of the feed page, each with all its
// barcodes.
func (r *readTx) ItemsChanged(ctx context.Context, tenantID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Item, error) {
	return r.queryItems(ctx, "change", itemSelect+`
		WHERE i.tenant_id = $1 AND i.changed <= $2 AND (i.changed, i.item_id) > ($3::bigint, $4::uuid)
		ORDER BY i.changed, i.item_id LIMIT $5`, tenantID, upto, after.Changed, after.ID, limit)
}

// BatchesChanged returns the batches of the feed page.
func (r *readTx) BatchesChanged(ctx context.Context, tenantID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Batch, error) {
	rows, err := r.q.Query(ctx, `SELECT `+batchColumns+` FROM batches
		WHERE tenant_id = $1 AND changed <= $2 AND (changed, batch_id) > ($3::bigint, $4::uuid)
		ORDER BY changed, batch_id LIMIT $5`, tenantID, upto, after.Changed, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("select batches by change: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanBatch)
	if err != nil {
		return nil, fmt.Errorf("select batches by change: %w", err)
	}
	return out, nil
}

// LocationsChanged returns the locations of one warehouse of the feed page.
func (r *readTx) LocationsChanged(ctx context.Context, tenantID, warehouseID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Location, error) {
	rows, err := r.q.Query(ctx, `SELECT `+locationColumns+` FROM locations
		WHERE tenant_id = $1 AND warehouse_id = $2 AND changed <= $3 AND (changed, location_id) > ($4::bigint, $5::uuid)
		ORDER BY changed, location_id LIMIT $6`, tenantID, warehouseID, upto, after.Changed, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("select locations by change: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanLocation)
	if err != nil {
		return nil, fmt.Errorf("select locations by change: %w", err)
	}
	return out, nil
}

// BalancesChanged returns the balances of one warehouse of the feed page,
// with their codes, in (changed, location, item, batch) order.
func (r *readTx) BalancesChanged(ctx context.Context, tenantID, warehouseID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.BalanceRow, error) {
	rows, err := r.q.Query(ctx, `SELECT m.location_id, m.item_id, m.batch_id, w.code, l.code, i.sku, coalesce(bt.code, ''), m.on_hand, m.changed
		FROM balances m`+keyJoins+`
		WHERE m.tenant_id = $1 AND l.warehouse_id = $2 AND m.changed <= $3
		  AND (m.changed, m.location_id, m.item_id, m.batch_id) > ($4::bigint, $5::uuid, $6::uuid, $7::uuid)
		ORDER BY m.changed, m.location_id, m.item_id, m.batch_id LIMIT $8`,
		tenantID, warehouseID, upto, after.Changed, after.Key.LocationID, after.Key.ItemID, after.Key.BatchID, limit)
	if err != nil {
		return nil, fmt.Errorf("select balances by change: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ledger.BalanceRow, error) {
		var b ledger.BalanceRow
		err := row.Scan(id(&b.LocationID), id(&b.ItemID), id(&b.BatchID), &b.Warehouse, &b.Location, &b.SKU, &b.Batch, &b.OnHand, &b.Changed)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("select balances by change: %w", err)
	}
	return out, nil
}

// DeviceReviewsChanged returns the reviews of the feed page that involve an
// operation of the device, with all their operations.
func (r *readTx) DeviceReviewsChanged(ctx context.Context, tenantID, deviceID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Review, error) {
	return r.queryReviews(ctx, "by change", reviewSelect+`
		WHERE r.tenant_id = $1
		  AND r.review_id IN (SELECT x.review_id FROM review_ops x WHERE x.tenant_id = $1 AND x.device_id = $2)
		  AND r.changed <= $3 AND (r.changed, r.review_id) > ($4::bigint, $5::uuid)
		ORDER BY r.changed, r.review_id LIMIT $6`, tenantID, deviceID, upto, after.Changed, after.ID, limit)
}
