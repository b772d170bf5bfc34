-- The ledger on embedded SQLite (DESIGN.md section 3).
--
-- Conventions, shared with the PostgreSQL schema so the stores behave alike:
--   * tenant_id leads every primary key and every index, so the layout can
--     be distributed by tenant without change. The one exception is the
--     global slug lookup on tenants, which is how a tenant is found at all.
--   * UUIDs are TEXT in canonical form. Key columns (location, item, batch)
--     are never NULL: "no batch" and the unknown references of a review are
--     the nil UUID '00000000-0000-0000-0000-000000000000', so they take part
--     in keys and equality. Optional references (a movement's review, the
--     operation it corrects) are NULL when absent.
--   * Times are INTEGER unix microseconds UTC; dates (batch expiry) are TEXT
--     YYYY-MM-DD or NULL; durations are INTEGER microseconds; JSON is TEXT.
--   * changed is the change number of the last transaction that wrote the
--     row; the pull feed pages by it.
--   * Tables are STRICT so a value of the wrong type fails loudly instead of
--     being stored as something the other store would not accept.
--   * Foreign keys are DEFERRABLE INITIALLY DEFERRED: they are checked at
--     commit, so the merge may write rows in whatever order suits it within
--     one transaction.

CREATE TABLE tenants (
    tenant_id                TEXT    NOT NULL PRIMARY KEY,
    slug                     TEXT    NOT NULL,
    name                     TEXT    NOT NULL,
    count_variance_threshold INTEGER NOT NULL,
    clock_uncertainty        INTEGER NOT NULL, -- microseconds
    created_at               INTEGER NOT NULL,
    next_position            INTEGER NOT NULL DEFAULT 1,
    next_change              INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE UNIQUE INDEX tenants_slug ON tenants (slug);

CREATE TABLE warehouses (
    tenant_id    TEXT    NOT NULL REFERENCES tenants (tenant_id) DEFERRABLE INITIALLY DEFERRED,
    warehouse_id TEXT    NOT NULL,
    code         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    changed      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, warehouse_id),
    UNIQUE (tenant_id, code)
) STRICT;

CREATE INDEX warehouses_changed ON warehouses (tenant_id, changed);

CREATE TABLE locations (
    tenant_id    TEXT    NOT NULL,
    location_id  TEXT    NOT NULL,
    warehouse_id TEXT    NOT NULL,
    code         TEXT    NOT NULL,
    changed      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, location_id),
    UNIQUE (tenant_id, warehouse_id, code),
    FOREIGN KEY (tenant_id, warehouse_id) REFERENCES warehouses (tenant_id, warehouse_id)
        DEFERRABLE INITIALLY DEFERRED
) STRICT;

CREATE INDEX locations_changed ON locations (tenant_id, changed);

CREATE TABLE items (
    tenant_id      TEXT    NOT NULL REFERENCES tenants (tenant_id) DEFERRABLE INITIALLY DEFERRED,
    item_id        TEXT    NOT NULL,
    sku            TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    unit           TEXT    NOT NULL,
    batch_tracked  INTEGER NOT NULL,
    expiry_tracked INTEGER NOT NULL,
    changed        INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, item_id),
    UNIQUE (tenant_id, sku)
) STRICT;

CREATE INDEX items_changed ON items (tenant_id, changed);

-- A barcode names exactly one item; moving it to another item rewrites the
-- row (and the store stamps the item that lost it as changed).
CREATE TABLE barcodes (
    tenant_id TEXT    NOT NULL,
    barcode   TEXT    NOT NULL,
    item_id   TEXT    NOT NULL,
    changed   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, barcode),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id) DEFERRABLE INITIALLY DEFERRED
) STRICT, WITHOUT ROWID;

-- Covers an item's barcodes in order, which is how items are read back.
CREATE INDEX barcodes_item ON barcodes (tenant_id, item_id, barcode);

CREATE TABLE batches (
    tenant_id TEXT    NOT NULL,
    batch_id  TEXT    NOT NULL,
    item_id   TEXT    NOT NULL,
    code      TEXT    NOT NULL,
    expiry    TEXT,             -- YYYY-MM-DD, NULL when the batch has none
    generated INTEGER NOT NULL,
    changed   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, batch_id),
    UNIQUE (tenant_id, item_id, code),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id) DEFERRABLE INITIALLY DEFERRED
) STRICT;

CREATE INDEX batches_changed ON batches (tenant_id, changed);

CREATE TABLE devices (
    tenant_id    TEXT    NOT NULL,
    device_id    TEXT    NOT NULL,
    warehouse_id TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    batch_prefix TEXT    NOT NULL,
    acked_seq    INTEGER NOT NULL,
    clock_offset INTEGER NOT NULL, -- microseconds, server minus device
    last_seen_at INTEGER,          -- NULL until the first push
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,          -- NULL while the device may push
    PRIMARY KEY (tenant_id, device_id),
    UNIQUE (tenant_id, batch_prefix),
    FOREIGN KEY (tenant_id, warehouse_id) REFERENCES warehouses (tenant_id, warehouse_id)
        DEFERRABLE INITIALLY DEFERRED
) STRICT;

-- The op log: every operation received, rejected ones included. A device's
-- seq is taken at most once; an op_id is canonical at most once per tenant.
CREATE TABLE ops (
    tenant_id    TEXT    NOT NULL,
    device_id    TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    op_id        TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL, -- canonical JSON without seq
    payload_hash BLOB    NOT NULL,
    received_at  INTEGER NOT NULL,
    effective_at INTEGER NOT NULL,
    result       TEXT    NOT NULL, -- ledger.Result as JSON
    status       TEXT    NOT NULL, -- result.status, for filtering
    canonical    INTEGER NOT NULL,
    posted       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, device_id, seq),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id) DEFERRABLE INITIALLY DEFERRED
) STRICT;

CREATE UNIQUE INDEX ops_op_id ON ops (tenant_id, op_id) WHERE canonical = 1;

-- Rejected operations that reused a seq the device had already used.
CREATE TABLE op_conflicts (
    tenant_id    TEXT    NOT NULL,
    conflict_id  TEXT    NOT NULL,
    device_id    TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    op_id        TEXT    NOT NULL,
    kind         TEXT    NOT NULL, -- from the payload, '' when it has none
    payload      TEXT    NOT NULL,
    payload_hash BLOB    NOT NULL,
    received_at  INTEGER NOT NULL,
    result       TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, conflict_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, device_id) DEFERRABLE INITIALLY DEFERRED
) STRICT;

CREATE INDEX op_conflicts_device ON op_conflicts (tenant_id, device_id, seq);

-- The ledger. Rows are never updated or deleted.
CREATE TABLE movements (
    tenant_id    TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    location_id  TEXT    NOT NULL,
    item_id      TEXT    NOT NULL,
    batch_id     TEXT    NOT NULL, -- nil UUID for no batch
    qty          INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    effective_at INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    op_id        TEXT,             -- NULL for a resolution posting no operation
    device_id    TEXT,
    review_id    TEXT,
    corrects     TEXT,
    order_ref    TEXT,             -- NULL when not on an order
    PRIMARY KEY (tenant_id, position),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, location_id)
        DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id) DEFERRABLE INITIALLY DEFERRED
) STRICT;

-- qty is carried in the key index so stock as of a time, and the sums of the
-- consistency check, are read from the index alone.
CREATE INDEX movements_key ON movements (tenant_id, location_id, item_id, batch_id, effective_at, qty);
CREATE INDEX movements_op ON movements (tenant_id, op_id);
CREATE INDEX movements_corrects ON movements (tenant_id, corrects);
CREATE INDEX movements_order ON movements (tenant_id, order_ref);

-- Current stock per key on the recorded axis: always the sum of its movements.
CREATE TABLE balances (
    tenant_id     TEXT    NOT NULL,
    location_id   TEXT    NOT NULL,
    item_id       TEXT    NOT NULL,
    batch_id      TEXT    NOT NULL,
    on_hand       INTEGER NOT NULL,
    last_position INTEGER NOT NULL,
    changed       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, location_id, item_id, batch_id),
    FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, location_id)
        DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, item_id) DEFERRABLE INITIALLY DEFERRED
) STRICT, WITHOUT ROWID;

CREATE INDEX balances_changed ON balances (tenant_id, changed);

-- What each order shipped and got back, per item and batch.
CREATE TABLE order_lines (
    tenant_id      TEXT    NOT NULL,
    order_ref      TEXT    NOT NULL,
    item_id        TEXT    NOT NULL,
    batch_id       TEXT    NOT NULL,
    shipped        INTEGER NOT NULL,
    returned       INTEGER NOT NULL,
    first_position INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, order_ref, item_id, batch_id)
) STRICT, WITHOUT ROWID;

-- Posted counts, re-derived when an earlier-dated movement arrives late.
CREATE TABLE counts (
    tenant_id    TEXT    NOT NULL,
    op_id        TEXT    NOT NULL,
    device_id    TEXT    NOT NULL,
    location_id  TEXT    NOT NULL,
    item_id      TEXT    NOT NULL,
    batch_id     TEXT    NOT NULL,
    effective_at INTEGER NOT NULL,
    counted      INTEGER NOT NULL,
    expected     INTEGER NOT NULL,
    adjusted     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, op_id)
) STRICT;

CREATE INDEX counts_key ON counts (tenant_id, location_id, item_id, batch_id, effective_at);

CREATE TABLE reviews (
    tenant_id   TEXT    NOT NULL,
    review_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    severity    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    op_id       TEXT    NOT NULL, -- the opening operation
    device_id   TEXT    NOT NULL,
    location_id TEXT    NOT NULL, -- nil UUID when unknown
    item_id     TEXT    NOT NULL, -- nil UUID when unknown
    batch_id    TEXT    NOT NULL, -- nil UUID for no batch
    order_ref   TEXT,
    evidence    TEXT    NOT NULL,
    suggestions TEXT    NOT NULL,
    resolution  TEXT,             -- NULL while open
    opened_at   INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, review_id)
) STRICT;

CREATE INDEX reviews_queue ON reviews (tenant_id, status, opened_at);
CREATE INDEX reviews_open_key ON reviews (tenant_id, location_id, item_id, batch_id) WHERE status = 'open';
CREATE INDEX reviews_open_order ON reviews (tenant_id, order_ref) WHERE status = 'open';
CREATE INDEX reviews_changed ON reviews (tenant_id, changed);

-- The operations involved in a review; ord 0 is the one that opened it.
CREATE TABLE review_ops (
    tenant_id TEXT    NOT NULL,
    review_id TEXT    NOT NULL,
    op_id     TEXT    NOT NULL,
    device_id TEXT    NOT NULL,
    ord       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, review_id, op_id),
    FOREIGN KEY (tenant_id, review_id) REFERENCES reviews (tenant_id, review_id) DEFERRABLE INITIALLY DEFERRED
) STRICT, WITHOUT ROWID;

CREATE INDEX review_ops_device ON review_ops (tenant_id, device_id);
CREATE INDEX review_ops_op ON review_ops (tenant_id, op_id);
