-- Credentials, device reports and the pull feed (DESIGN.md section 4).
--
-- Secrets are stored only as SHA-256 hashes (BLOB). Every credential table
-- is keyed by tenant_id first like the rest of the schema; a credential
-- names its tenant in clear, so the lookup stays under the tenant's key. The
-- one exception is the enrollment code, which a handheld types without
-- knowing its tenant: its hash is unique on its own.

-- ledger_id names the tenant's ledger on the wire; a device that sees it
-- change re-downloads its scope. SQLite adds a NOT NULL column only with a
-- constant default, so the default is '' and the store always writes a
-- UUID; existing tenants get a random version 4 UUID in canonical form.
-- Each randomblob call is evaluated per row, so every tenant gets its own.
ALTER TABLE tenants ADD COLUMN ledger_id TEXT NOT NULL DEFAULT '';
UPDATE tenants SET ledger_id = lower(
    hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
    substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)));

-- What a device last reported about itself with a sync request.
ALTER TABLE devices ADD COLUMN app_version TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;       -- unacknowledged operations
ALTER TABLE devices ADD COLUMN oldest_unsent INTEGER NOT NULL DEFAULT 0; -- microseconds, age of the oldest one

CREATE TABLE api_keys (
    tenant_id  TEXT    NOT NULL REFERENCES tenants (tenant_id) DEFERRABLE INITIALLY DEFERRED,
    key_id     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    key_hash   BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,          -- NULL while the key is live
    PRIMARY KEY (tenant_id, key_id),
    UNIQUE (tenant_id, key_hash)
) STRICT;

CREATE TABLE enrollment_codes (
    tenant_id    TEXT    NOT NULL,
    code_id      TEXT    NOT NULL,
    warehouse_id TEXT    NOT NULL,
    code_hash    BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,          -- NULL until a device enrolled with it
    device_id    TEXT,             -- the device that did
    PRIMARY KEY (tenant_id, code_id),
    FOREIGN KEY (tenant_id, warehouse_id) REFERENCES warehouses (tenant_id, warehouse_id)
        DEFERRABLE INITIALLY DEFERRED
) STRICT;

-- The documented exception to tenant_id leading every index: the code is
-- all a handheld has.
CREATE UNIQUE INDEX enrollment_codes_hash ON enrollment_codes (code_hash);

CREATE TABLE device_tokens (
    tenant_id  TEXT    NOT NULL,
    token_hash BLOB    NOT NULL,
    device_id  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id) DEFERRABLE INITIALLY DEFERRED
) STRICT, WITHOUT ROWID;

CREATE INDEX device_tokens_device ON device_tokens (tenant_id, device_id);

-- The pull feed pages each table by (changed, id) within a tenant, and
-- locations within one warehouse: the id completes the order so a page
-- resumes with one index range scan. UUIDs are canonical lowercase TEXT,
-- whose BINARY order is the bytewise order PostgreSQL gives its uuid type.
DROP INDEX items_changed;
CREATE INDEX items_changed ON items (tenant_id, changed, item_id);
DROP INDEX batches_changed;
CREATE INDEX batches_changed ON batches (tenant_id, changed, batch_id);
DROP INDEX locations_changed;
CREATE INDEX locations_changed ON locations (tenant_id, warehouse_id, changed, location_id);
-- Balances have no warehouse column: the feed walks the tenant's balances
-- in (changed, key) order and keeps those whose location is in the
-- device's warehouse.
DROP INDEX balances_changed;
CREATE INDEX balances_changed ON balances (tenant_id, changed, location_id, item_id, batch_id);
DROP INDEX reviews_changed;
CREATE INDEX reviews_changed ON reviews (tenant_id, changed, review_id);
-- A device's reviews: found through the operations of the device.
DROP INDEX review_ops_device;
CREATE INDEX review_ops_device ON review_ops (tenant_id, device_id, review_id);
