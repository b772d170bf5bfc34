-- The ledger on PostgreSQL (DESIGN.md section 3).
--
-- Conventions, shared with the SQLite schema so the two stores behave alike:
--   * tenant_id leads every primary key and every index, so the schema can be
--     distributed by tenant (Citus) without change. The one exception is the
--     global slug lookup on tenants, which is how a tenant is found at all;
--     tenants would be a reference table.
--   * Key columns (location, item, batch) are uuid NOT NULL: "no batch" and
--     the unknown references of a review are the nil UUID, so they take part
--     in keys and equality. Optional references (a movement's operation,
--     device, review, the operation it corrects, its order) are NULL when
--     absent, which keeps the partial indexes on them small.
--   * Times are timestamptz (microseconds, like Go times truncated by the
--     ledger); dates (batch expiry) are date, NULL for none; durations are
--     bigint microseconds; JSON is jsonb.
--   * changed is the change number of the last transaction that wrote the
--     row; the pull feed pages by it.
--   * Catalog tables have foreign keys, deferred to commit so the ledger may
--     write rows in any order within a transaction. The high-volume tables
--     (ops, movements, balances, counts, order lines, reviews) have none: a
--     per-row foreign key check would cost a large share of the ingest rate,
--     and the ledger writes them only after resolving the catalog rows under
--     the tenant lock. CheckConsistency verifies what matters about them.

CREATE TABLE tenants (
    tenant_id                uuid        NOT NULL PRIMARY KEY,
    slug                     text        NOT NULL,
    name                     text        NOT NULL,
    count_variance_threshold bigint      NOT NULL,
    clock_uncertainty        bigint      NOT NULL, -- microseconds
    created_at               timestamptz NOT NULL,
    -- The ledger counters, read and written under the row lock that
    -- serializes every writer of the tenant (SELECT ... FOR UPDATE).
    next_position            bigint      NOT NULL DEFAULT 1,
    next_change              bigint      NOT NULL DEFAULT 1
);

CREATE UNIQUE INDEX tenants_slug ON tenants (slug);

CREATE TABLE warehouses (
    tenant_id    uuid   NOT NULL REFERENCES tenants (tenant_id) DEFERRABLE INITIALLY DEFERRED,
    warehouse_id uuid   NOT NULL,
    code         text   NOT NULL,
    name         text   NOT NULL,
    changed      bigint NOT NULL,
    PRIMARY KEY (tenant_id, warehouse_id),
    CONSTRAINT warehouses_code UNIQUE (tenant_id, code)
);

CREATE INDEX warehouses_changed ON warehouses (tenant_id, changed);

CREATE TABLE locations (
    tenant_id    uuid   NOT NULL,
    location_id  uuid   NOT NULL,
    warehouse_id uuid   NOT NULL,
    code         text   NOT NULL,
    changed      bigint NOT NULL,
    PRIMARY KEY (tenant_id, location_id),
    CONSTRAINT locations_code UNIQUE (tenant_id, warehouse_id, code),
    FOREIGN KEY (tenant_id, warehouse_id) REFERENCES warehouses (tenant_id, warehouse_id)
        DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX locations_changed ON locations (tenant_id, changed);

CREATE TABLE items (
    tenant_id      uuid    NOT NULL REFERENCES tenants (tenant_id) DEFERRABLE INITIALLY DEFERRED,
    item_id        uuid    NOT NULL,
    sku            text    NOT NULL,
    name           text    NOT NULL,
    unit           text    NOT NULL,
    batch_tracked  boolean NOT NULL,
    expiry_tracked boolean NOT NULL,
    changed        bigint  NOT NULL,
    PRIMARY KEY (tenant_id, item_id),
    CONSTRAINT items_sku UNIQUE (tenant_id, sku)
);

CREATE INDEX items_changed ON items (tenant_id, changed);

-- A barcode names exactly one item; moving it to another item rewrites the
-- row, and the store stamps the item that lost it as changed.
CREATE TABLE barcodes (
    tenant_id uuid   NOT NULL,
    barcode   text   NOT NULL,
    item_id   uuid   NOT NULL,
    changed   bigint NOT NULL,
    PRIMARY KEY (tenant_id, barcode),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id) DEFERRABLE INITIALLY DEFERRED
);

-- Covers an item's barcodes, which is how items are read back.
CREATE INDEX barcodes_item ON barcodes (tenant_id, item_id, barcode);

CREATE TABLE batches (
    tenant_id uuid    NOT NULL,
    batch_id  uuid    NOT NULL,
    item_id   uuid    NOT NULL,
    code      text    NOT NULL,
    expiry    date,             -- NULL when the batch has none
    generated boolean NOT NULL,
    changed   bigint  NOT NULL,
    PRIMARY KEY (tenant_id, batch_id),
    CONSTRAINT batches_code UNIQUE (tenant_id, item_id, code),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id) DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX batches_changed ON batches (tenant_id, changed);

CREATE TABLE devices (
    tenant_id    uuid        NOT NULL,
    device_id    uuid        NOT NULL,
    warehouse_id uuid        NOT NULL,
    name         text        NOT NULL,
    batch_prefix text        NOT NULL,
    acked_seq    bigint      NOT NULL,
    clock_offset bigint      NOT NULL, -- microseconds, server minus device
    last_seen_at timestamptz,          -- NULL until the first push
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,          -- NULL while the device may push
    PRIMARY KEY (tenant_id, device_id),
    CONSTRAINT devices_batch_prefix UNIQUE (tenant_id, batch_prefix),
    FOREIGN KEY (tenant_id, warehouse_id) REFERENCES warehouses (tenant_id, warehouse_id)
        DEFERRABLE INITIALLY DEFERRED
);

-- The op log: every operation received, rejected ones included. A device's
-- seq is taken at most once; an op_id is canonical at most once per tenant.
CREATE TABLE ops (
    tenant_id    uuid        NOT NULL,
    device_id    uuid        NOT NULL,
    seq          bigint      NOT NULL,
    op_id        uuid        NOT NULL,
    kind         text        NOT NULL,
    payload      bytea       NOT NULL, -- canonical JSON without seq, byte for byte
    payload_hash bytea       NOT NULL,
    received_at  timestamptz NOT NULL,
    effective_at timestamptz,          -- NULL for entries that never had one
    result       jsonb       NOT NULL, -- ledger.Result
    status       text        NOT NULL, -- result.status, for filtering
    canonical    boolean     NOT NULL,
    posted       boolean     NOT NULL,
    PRIMARY KEY (tenant_id, device_id, seq)
);

CREATE UNIQUE INDEX ops_op_id ON ops (tenant_id, op_id) WHERE canonical;

-- Rejected operations that reused a seq the device had already used.
CREATE TABLE op_conflicts (
    tenant_id    uuid        NOT NULL,
    conflict_id  uuid        NOT NULL,
    device_id    uuid        NOT NULL,
    seq          bigint      NOT NULL,
    op_id        uuid        NOT NULL,
    kind         text        NOT NULL, -- from the payload, '' when it has none
    payload      bytea       NOT NULL,
    payload_hash bytea       NOT NULL,
    received_at  timestamptz NOT NULL,
    result       jsonb       NOT NULL,
    status       text        NOT NULL,
    PRIMARY KEY (tenant_id, conflict_id)
);

CREATE INDEX op_conflicts_device ON op_conflicts (tenant_id, device_id, seq, received_at);

-- The ledger. Rows are never updated or deleted.
CREATE TABLE movements (
    tenant_id    uuid        NOT NULL,
    position     bigint      NOT NULL,
    location_id  uuid        NOT NULL,
    item_id      uuid        NOT NULL,
    batch_id     uuid        NOT NULL, -- nil UUID for no batch
    qty          bigint      NOT NULL,
    kind         text        NOT NULL,
    effective_at timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    op_id        uuid,                 -- NULL for a resolution posting no operation
    device_id    uuid,
    review_id    uuid,
    corrects     uuid,
    order_ref    text,                 -- NULL when not on an order
    PRIMARY KEY (tenant_id, position)
);

-- qty rides in the key index so stock as of a time, and the sums of the
-- consistency check, can be read from the index alone.
CREATE INDEX movements_key ON movements (tenant_id, location_id, item_id, batch_id, effective_at) INCLUDE (qty);
CREATE INDEX movements_op ON movements (tenant_id, op_id);
CREATE INDEX movements_corrects ON movements (tenant_id, corrects) WHERE corrects IS NOT NULL;
CREATE INDEX movements_order ON movements (tenant_id, order_ref) WHERE order_ref IS NOT NULL;

-- Current stock per key on the recorded axis: always the sum of its movements.
CREATE TABLE balances (
    tenant_id     uuid   NOT NULL,
    location_id   uuid   NOT NULL,
    item_id       uuid   NOT NULL,
    batch_id      uuid   NOT NULL,
    on_hand       bigint NOT NULL,
    last_position bigint NOT NULL,
    changed       bigint NOT NULL,
    PRIMARY KEY (tenant_id, location_id, item_id, batch_id)
);

CREATE INDEX balances_changed ON balances (tenant_id, changed);

-- What each order shipped and got back, per item and batch.
CREATE TABLE order_lines (
    tenant_id      uuid   NOT NULL,
    order_ref      text   NOT NULL,
    item_id        uuid   NOT NULL,
    batch_id       uuid   NOT NULL,
    shipped        bigint NOT NULL,
    returned       bigint NOT NULL,
    first_position bigint NOT NULL,
    PRIMARY KEY (tenant_id, order_ref, item_id, batch_id)
);

-- Posted counts, re-derived when an earlier-dated movement arrives late.
CREATE TABLE counts (
    tenant_id    uuid        NOT NULL,
    op_id        uuid        NOT NULL,
    device_id    uuid        NOT NULL,
    location_id  uuid        NOT NULL,
    item_id      uuid        NOT NULL,
    batch_id     uuid        NOT NULL,
    effective_at timestamptz NOT NULL,
    counted      bigint      NOT NULL,
    expected     bigint      NOT NULL,
    adjusted     bigint      NOT NULL,
    PRIMARY KEY (tenant_id, op_id)
);

CREATE INDEX counts_key ON counts (tenant_id, location_id, item_id, batch_id, effective_at);

CREATE TABLE reviews (
    tenant_id   uuid        NOT NULL,
    review_id   uuid        NOT NULL,
    kind        text        NOT NULL,
    severity    text        NOT NULL,
    status      text        NOT NULL,
    op_id       uuid        NOT NULL, -- the opening operation
    device_id   uuid        NOT NULL,
    location_id uuid        NOT NULL, -- nil UUID when unknown
    item_id     uuid        NOT NULL, -- nil UUID when unknown
    batch_id    uuid        NOT NULL, -- nil UUID for no batch
    order_ref   text,                 -- NULL when not about an order
    evidence    jsonb       NOT NULL,
    suggestions jsonb       NOT NULL,
    resolution  jsonb,                -- NULL while open
    opened_at   timestamptz NOT NULL,
    changed     bigint      NOT NULL,
    PRIMARY KEY (tenant_id, review_id)
);

CREATE INDEX reviews_queue ON reviews (tenant_id, status, opened_at, review_id);
CREATE INDEX reviews_open_key ON reviews (tenant_id, location_id, item_id, batch_id) WHERE status = 'open';
CREATE INDEX reviews_open_order ON reviews (tenant_id, order_ref) WHERE status = 'open';
CREATE INDEX reviews_changed ON reviews (tenant_id, changed);

-- The operations involved in a review; ord 0 is the one that opened it.
CREATE TABLE review_ops (
    tenant_id uuid    NOT NULL,
    review_id uuid    NOT NULL,
    op_id     uuid    NOT NULL,
    device_id uuid    NOT NULL,
    ord       integer NOT NULL,
    PRIMARY KEY (tenant_id, review_id, op_id)
);

CREATE INDEX review_ops_device ON review_ops (tenant_id, device_id);
CREATE INDEX review_ops_op ON review_ops (tenant_id, op_id);
