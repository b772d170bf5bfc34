-- Credentials, device reports and the pull feed (DESIGN.md section 4).
--
-- Secrets are stored only as SHA-256 hashes (bytea). Every credential table
-- is keyed by tenant_id first like the rest of the schema; a credential
-- names its tenant in clear, so the lookup stays under the tenant's key. The
-- one exception is the enrollment code, which a handheld types without
-- knowing its tenant: its hash is unique on its own.

-- ledger_id names the tenant's ledger on the wire; a device that sees it
-- change re-downloads its scope. Existing tenants get a random one.
ALTER TABLE tenants ADD COLUMN ledger_id uuid;
UPDATE tenants SET ledger_id = gen_random_uuid();
ALTER TABLE tenants ALTER COLUMN ledger_id SET NOT NULL;

-- What a device last reported about itself with a sync request.
ALTER TABLE devices
    ADD COLUMN app_version   text   NOT NULL DEFAULT '',
    ADD COLUMN pending       bigint NOT NULL DEFAULT 0, -- unacknowledged operations
    ADD COLUMN oldest_unsent bigint NOT NULL DEFAULT 0; -- microseconds, age of the oldest one

CREATE TABLE api_keys (
    tenant_id  uuid        NOT NULL REFERENCES tenants (tenant_id) DEFERRABLE INITIALLY DEFERRED,
    key_id     uuid        NOT NULL,
    name       text        NOT NULL,
    role       text        NOT NULL,
    key_hash   bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,          -- NULL while the key is live
    PRIMARY KEY (tenant_id, key_id),
    CONSTRAINT api_keys_hash UNIQUE (tenant_id, key_hash)
);

CREATE TABLE enrollment_codes (
    tenant_id    uuid        NOT NULL,
    code_id      uuid        NOT NULL,
    warehouse_id uuid        NOT NULL,
    code_hash    bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,          -- NULL until a device enrolled with it
    device_id    uuid,                 -- the device that did
    PRIMARY KEY (tenant_id, code_id),
    FOREIGN KEY (tenant_id, warehouse_id) REFERENCES warehouses (tenant_id, warehouse_id)
        DEFERRABLE INITIALLY DEFERRED
);

-- The documented exception to tenant_id leading every index: the code is
-- all a handheld has. It would be a reference table under Citus.
CREATE UNIQUE INDEX enrollment_codes_hash ON enrollment_codes (code_hash);

CREATE TABLE device_tokens (
    tenant_id  uuid        NOT NULL,
    token_hash bytea       NOT NULL,
    device_id  uuid        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id) DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX device_tokens_device ON device_tokens (tenant_id, device_id);

-- The pull feed pages each table by (changed, id) within a tenant, and
-- locations within one warehouse: the id completes the order so a page
-- resumes with one index range scan.
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
