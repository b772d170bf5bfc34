package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// Credentials and device reports: single statements in autocommit on the
// writer connection, outside any Write. A deferred foreign key is checked
// when the statement's implicit transaction commits, so a missing tenant or
// warehouse fails the statement itself.

// insertError maps the errors of a single-statement insert: a foreign key
// violation to CodeNotFound, a unique one to CodeConflict.
func insertError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case isForeignKeyViolation(err):
		return ledger.Errorf(ledger.CodeNotFound, "%s: a referenced row does not exist", what)
	case isUniqueViolation(err):
		return ledger.Errorf(ledger.CodeConflict, "%s: already exists", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// InsertAPIKey stores a new API key. Returns ledger.CodeNotFound for an
// unknown tenant and ledger.CodeConflict if its ID or hash is taken.
func (s *Store) InsertAPIKey(ctx context.Context, k ledger.APIKey) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO api_keys (tenant_id, key_id, name, role, key_hash, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.TenantID, k.ID, k.Name, string(k.Role), k.Hash, k.CreatedAt.UnixMicro(), nullMicros(k.RevokedAt))
	return insertError(err, "insert API key "+k.Name)
}

// RevokeAPIKey sets revoked_at unless it is set already. Returns
// ledger.CodeNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, keyID uuid.UUID, at time.Time) error {
	// The update touches the row either way, so RowsAffected tells a
	// missing key from a revoked one.
	res, err := s.writer.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?)
		WHERE tenant_id = ? AND key_id = ?`, at.UnixMicro(), tenantID, keyID)
	if err != nil {
		return fmt.Errorf("revoke API key %s: %w", keyID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "API key %s not found", keyID)
	}
	return nil
}

// InsertEnrollmentCode stores a new enrollment code. Returns
// ledger.CodeNotFound for an unknown warehouse and ledger.CodeConflict if
// its ID or hash is taken.
func (s *Store) InsertEnrollmentCode(ctx context.Context, c ledger.EnrollmentCode) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO enrollment_codes
		(tenant_id, code_id, warehouse_id, code_hash, created_at, expires_at, used_at, device_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.TenantID, c.ID, c.WarehouseID, c.Hash, c.CreatedAt.UnixMicro(), c.ExpiresAt.UnixMicro(),
		nullMicros(c.UsedAt), nullUUID(c.DeviceID))
	return insertError(err, "insert enrollment code")
}

// ReportDevice stores what a device said about itself. Returns
// ledger.CodeNotFound.
func (s *Store) ReportDevice(ctx context.Context, tenantID, deviceID uuid.UUID, r ledger.DeviceReport) error {
	res, err := s.writer.ExecContext(ctx, `UPDATE devices
		SET last_seen_at = ?1, app_version = CASE WHEN ?2 = '' THEN app_version ELSE ?2 END,
		    pending = ?3, oldest_unsent = ?4
		WHERE tenant_id = ?5 AND device_id = ?6`,
		r.SeenAt.UnixMicro(), r.AppVersion, r.Pending, durationMicros(r.OldestUnsent), tenantID, deviceID)
	if err != nil {
		return fmt.Errorf("report device %s: %w", deviceID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "device %s not found", deviceID)
	}
	return nil
}

// LedgerState returns the tenant's counters in this snapshot. Returns
// ledger.CodeNotFound.
func (r *readTx) LedgerState(ctx context.Context, tenantID uuid.UUID) (ledger.LedgerState, error) {
	var s ledger.LedgerState
	err := r.tx.QueryRowContext(ctx, `SELECT next_position, next_change FROM tenants WHERE tenant_id = ?`, tenantID).
		Scan(&s.NextPosition, &s.NextChange)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ledger.Errorf(ledger.CodeNotFound, "tenant %s not found", tenantID)
	}
	if err != nil {
		return s, fmt.Errorf("read ledger state of tenant %s: %w", tenantID, err)
	}
	return s, nil
}

// API keys.

const apiKeyCols = `tenant_id, key_id, name, role, key_hash, created_at, revoked_at`

func scanAPIKey(sc scanner) (ledger.APIKey, error) {
	var k ledger.APIKey
	var created int64
	var revoked sql.NullInt64
	err := sc.Scan(&k.TenantID, &k.ID, &k.Name, &k.Role, &k.Hash, &created, &revoked)
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = fromNullMicros(revoked)
	return k, err
}

// APIKeyByHash returns the key stored under hash, revoked or not. Returns
// ledger.CodeNotFound.
func (r *readTx) APIKeyByHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (ledger.APIKey, error) {
	k, err := scanAPIKey(r.tx.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys
		WHERE tenant_id = ? AND key_hash = ?`, tenantID, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, ledger.Errorf(ledger.CodeNotFound, "API key not found")
	}
	if err != nil {
		return k, fmt.Errorf("read API key: %w", err)
	}
	return k, nil
}

// APIKeys lists the tenant's keys by creation time.
func (r *readTx) APIKeys(ctx context.Context, tenantID uuid.UUID) ([]ledger.APIKey, error) {
	ks, err := queryRows(ctx, r.tx, scanAPIKey, `SELECT `+apiKeyCols+` FROM api_keys
		WHERE tenant_id = ? ORDER BY created_at, key_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return ks, nil
}

// Enrollment codes and device tokens.

// EnrollmentCodeByHash finds a code of any tenant. Returns
// ledger.CodeNotFound.
func (r *readTx) EnrollmentCodeByHash(ctx context.Context, hash []byte) (ledger.EnrollmentCode, error) {
	var c ledger.EnrollmentCode
	var created, expires int64
	var used sql.NullInt64
	var device sql.NullString
	err := r.tx.QueryRowContext(ctx, `SELECT tenant_id, code_id, warehouse_id, code_hash, created_at, expires_at, used_at, device_id
		FROM enrollment_codes WHERE code_hash = ?`, hash).
		Scan(&c.TenantID, &c.ID, &c.WarehouseID, &c.Hash, &created, &expires, &used, &device)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ledger.Errorf(ledger.CodeNotFound, "enrollment code not found")
	}
	if err != nil {
		return c, fmt.Errorf("read enrollment code: %w", err)
	}
	c.CreatedAt, c.ExpiresAt, c.UsedAt = fromMicros(created), fromMicros(expires), fromNullMicros(used)
	if device.Valid {
		if c.DeviceID, err = uuid.Parse(device.String); err != nil {
			return c, fmt.Errorf("read enrollment code: device: %w", err)
		}
	}
	return c, nil
}

// ClaimEnrollmentCode marks an unused code used by deviceID. The writer
// holds the database's write lock, so two claims cannot interleave.
// Returns ledger.CodeConflict when it was used already and
// ledger.CodeNotFound when missing.
func (t *writeTx) ClaimEnrollmentCode(ctx context.Context, tenantID, codeID, deviceID uuid.UUID, at time.Time) error {
	if err := t.own(tenantID); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE enrollment_codes SET used_at = ?, device_id = ?
		WHERE tenant_id = ? AND code_id = ? AND used_at IS NULL`, at.UnixMicro(), deviceID, tenantID, codeID)
	if err != nil {
		return fmt.Errorf("claim enrollment code %s: %w", codeID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var exists bool
	if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM enrollment_codes WHERE tenant_id = ? AND code_id = ?)`,
		tenantID, codeID).Scan(&exists); err != nil {
		return fmt.Errorf("claim enrollment code %s: %w", codeID, err)
	}
	if exists {
		return ledger.Errorf(ledger.CodeConflict, "enrollment code %s was already used", codeID)
	}
	return ledger.Errorf(ledger.CodeNotFound, "enrollment code %s not found", codeID)
}

// InsertDeviceToken stores a device token's hash. Returns
// ledger.CodeConflict if the hash is taken, and ledger.CodeNotFound (at
// commit) for an unknown device.
func (t *writeTx) InsertDeviceToken(ctx context.Context, tok ledger.DeviceToken) error {
	return each(ctx, t, "insert device token", `INSERT INTO device_tokens (tenant_id, token_hash, device_id, created_at)
		VALUES (?, ?, ?, ?)`, []ledger.DeviceToken{tok},
		func(tok ledger.DeviceToken) ([]any, error) {
			return []any{tok.TenantID, tok.Hash, tok.DeviceID, tok.CreatedAt.UnixMicro()}, t.own(tok.TenantID)
		},
		func(ledger.DeviceToken) error {
			return ledger.Errorf(ledger.CodeConflict, "insert device token: already exists")
		})
}

// DeviceByTokenHash returns the device a token hash belongs to, revoked or
// not. Returns ledger.CodeNotFound.
func (r *readTx) DeviceByTokenHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (ledger.Device, error) {
	d, err := scanDevice(r.tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices
		WHERE tenant_id = ?1 AND device_id = (SELECT device_id FROM device_tokens WHERE tenant_id = ?1 AND token_hash = ?2)`,
		tenantID, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return d, ledger.Errorf(ledger.CodeNotFound, "device token not found")
	}
	if err != nil {
		return d, fmt.Errorf("read device by token: %w", err)
	}
	d.TenantID = tenantID
	return d, nil
}

// The pull feed. Each query is one index range scan: rows of the tenant
// with changed <= upto strictly after the position after, in (changed, id)
// order. UUIDs are canonical lowercase text, whose BINARY order is the
// bytewise order of ledger.Key.Less and PostgreSQL's uuid.

// ItemsChanged returns the items of the feed page, each with all its
// barcodes.
func (r *readTx) ItemsChanged(ctx context.Context, tenantID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Item, error) {
	its, err := queryRows(ctx, r.tx, withTenant(tenantID, scanItem, setItemTenant),
		`SELECT `+itemCols+` FROM items i
		WHERE i.tenant_id = ? AND i.changed <= ? AND (i.changed, i.item_id) > (?, ?)
		ORDER BY i.changed, i.item_id LIMIT ?`, tenantID, upto, after.Changed, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("read items by change: %w", err)
	}
	return its, nil
}

// BatchesChanged returns the batches of the feed page.
func (r *readTx) BatchesChanged(ctx context.Context, tenantID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Batch, error) {
	bs, err := queryRows(ctx, r.tx, withTenant(tenantID, scanBatch, setBatchTenant),
		`SELECT `+batchCols+` FROM batches
		WHERE tenant_id = ? AND changed <= ? AND (changed, batch_id) > (?, ?)
		ORDER BY changed, batch_id LIMIT ?`, tenantID, upto, after.Changed, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("read batches by change: %w", err)
	}
	return bs, nil
}

// LocationsChanged returns the locations of one warehouse of the feed page.
func (r *readTx) LocationsChanged(ctx context.Context, tenantID, warehouseID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Location, error) {
	ls, err := queryRows(ctx, r.tx, withTenant(tenantID, scanLocation, setLocationTenant),
		`SELECT `+locationCols+` FROM locations
		WHERE tenant_id = ? AND warehouse_id = ? AND changed <= ? AND (changed, location_id) > (?, ?)
		ORDER BY changed, location_id LIMIT ?`, tenantID, warehouseID, upto, after.Changed, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("read locations by change: %w", err)
	}
	return ls, nil
}

// BalancesChanged returns the balances of one warehouse of the feed page,
// with their codes, in (changed, location, item, batch) order.
func (r *readTx) BalancesChanged(ctx context.Context, tenantID, warehouseID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.BalanceRow, error) {
	rows, err := queryRows(ctx, r.tx, func(sc scanner) (ledger.BalanceRow, error) {
		var b ledger.BalanceRow
		err := sc.Scan(&b.LocationID, &b.ItemID, &b.BatchID, &b.Warehouse, &b.Location, &b.SKU, &b.Batch, &b.OnHand, &b.Changed)
		return b, err
	}, `SELECT m.location_id, m.item_id, m.batch_id, w.code, l.code, i.sku, coalesce(b.code, ''), m.on_hand, m.changed
		FROM balances m`+keyNames("m")+`
		WHERE m.tenant_id = ? AND l.warehouse_id = ? AND m.changed <= ?
		  AND (m.changed, m.location_id, m.item_id, m.batch_id) > (?, ?, ?, ?)
		ORDER BY m.changed, m.location_id, m.item_id, m.batch_id LIMIT ?`,
		tenantID, warehouseID, upto, after.Changed, after.Key.LocationID, after.Key.ItemID, after.Key.BatchID, limit)
	if err != nil {
		return nil, fmt.Errorf("read balances by change: %w", err)
	}
	return rows, nil
}

// DeviceReviewsChanged returns the reviews of the feed page that involve an
// operation of the device, with all their operations.
func (r *readTx) DeviceReviewsChanged(ctx context.Context, tenantID, deviceID uuid.UUID, after ledger.FeedKey, upto int64, limit int) ([]ledger.Review, error) {
	rvs, err := r.queryReviews(ctx, tenantID, `SELECT `+reviewCols+` FROM reviews r
		WHERE r.tenant_id = ?1
		  AND r.review_id IN (SELECT x.review_id FROM review_ops x WHERE x.tenant_id = ?1 AND x.device_id = ?2)
		  AND r.changed <= ?3 AND (r.changed, r.review_id) > (?4, ?5)
		ORDER BY r.changed, r.review_id LIMIT ?6`, tenantID, deviceID, upto, after.Changed, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("read reviews of device %s by change: %w", deviceID, err)
	}
	return rvs, nil
}
