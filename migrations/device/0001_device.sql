-- The handheld's own database (DESIGN.md section 5): who the device is, the
-- operations it recorded (the outbox and their history, never deleted), and
-- what it pulled from the server (catalog, balances, review decisions).
--
-- Conventions:
--   * UUIDs are TEXT in canonical form; times are INTEGER unix microseconds
--     UTC; dates (batch expiry) are TEXT YYYY-MM-DD or ''; JSON is TEXT.
--   * Tables are STRICT so a value of the wrong type fails loudly.
--   * Pulled tables carry no foreign keys between them: a page may bring a
--     balance before the item it names, and the server is the authority on
--     what exists. Operations never reference pulled rows either: an
--     operation on an unknown barcode is recorded all the same.

-- device_state has exactly one row: the device's identity once enrolled and
-- the sync bookkeeping.
CREATE TABLE device_state (
    id              INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    server_url      TEXT    NOT NULL DEFAULT '',
    device_id       TEXT    NOT NULL DEFAULT '',
    device_name     TEXT    NOT NULL DEFAULT '',
    token           TEXT    NOT NULL DEFAULT '',
    warehouse       TEXT    NOT NULL DEFAULT '',
    warehouse_name  TEXT    NOT NULL DEFAULT '',
    batch_prefix    TEXT    NOT NULL DEFAULT '',
    enrolled_at     INTEGER,
    -- ledger_id names the server ledger the pulled rows came from; cursor
    -- is the opaque pull position within it.
    ledger_id       TEXT    NOT NULL DEFAULT '',
    cursor          TEXT    NOT NULL DEFAULT '',
    -- next_seq is the seq the next recorded operation gets; it only grows
    -- (and jumps forward when pending operations are renumbered).
    next_seq        INTEGER NOT NULL DEFAULT 1 CHECK (next_seq >= 1),
    -- acked_seq is the server's acked_seq as last heard.
    acked_seq       INTEGER NOT NULL DEFAULT 0,
    -- reflected_seq: the pulled balances include the effect of every
    -- operation up to this seq (the acked_seq of the last complete pull),
    -- so optimistic stock adds only the operations after it.
    reflected_seq   INTEGER NOT NULL DEFAULT 0,
    last_sync_at    INTEGER, -- last sync that finished without error
    last_attempt_at INTEGER, -- last sync started
    last_error      TEXT    NOT NULL DEFAULT '',
    last_error_code TEXT    NOT NULL DEFAULT ''
) STRICT;

INSERT INTO device_state (id) VALUES (1);

-- ops is the outbox and the history: every operation recorded here, with
-- the result the server gave it. Rows are never deleted: a server restored
-- from a backup may ask for acknowledged operations again (seq_gap).
CREATE TABLE ops (
    op_id        TEXT    NOT NULL PRIMARY KEY,
    seq          INTEGER NOT NULL UNIQUE CHECK (seq >= 1),
    kind         TEXT    NOT NULL,
    -- payload is the wire operation as JSON without its seq, which
    -- renumbering may change; it is what is pushed, byte for byte.
    payload      TEXT    NOT NULL,
    occurred_at  INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL,
    -- local_batch is the batch code generated on the device for a receive
    -- of a batch-tracked item without one (the server generates the same).
    local_batch  TEXT    NOT NULL DEFAULT '',
    -- warnings are what recording told the picker (unknown references).
    warnings     TEXT    NOT NULL DEFAULT '[]',
    sent_at      INTEGER, -- last push that carried it
    send_count   INTEGER NOT NULL DEFAULT 0,
    acked        INTEGER NOT NULL DEFAULT 0 CHECK (acked IN (0, 1)),
    acked_at     INTEGER,
    -- The server's result; status is '' until one arrived.
    status       TEXT    NOT NULL DEFAULT '',
    code         TEXT    NOT NULL DEFAULT '',
    message      TEXT    NOT NULL DEFAULT '',
    review_ids   TEXT    NOT NULL DEFAULT '[]',
    result_batch TEXT    NOT NULL DEFAULT '',
    allocations  TEXT    NOT NULL DEFAULT '[]',
    replayed     INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX ops_pending ON ops (acked, seq);
CREATE INDEX ops_status ON ops (status, seq);

CREATE TABLE items (
    sku            TEXT    NOT NULL PRIMARY KEY,
    name           TEXT    NOT NULL,
    unit           TEXT    NOT NULL,
    batch_tracked  INTEGER NOT NULL,
    expiry_tracked INTEGER NOT NULL
) STRICT;

-- A barcode names one item; a pulled item replaces its barcodes, and a
-- barcode given to another item moves with it.
CREATE TABLE barcodes (
    barcode TEXT NOT NULL PRIMARY KEY,
    sku     TEXT NOT NULL
) STRICT;

CREATE INDEX barcodes_sku ON barcodes (sku);

CREATE TABLE batches (
    sku    TEXT NOT NULL,
    code   TEXT NOT NULL,
    expiry TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (sku, code)
) STRICT;

CREATE TABLE locations (
    code TEXT NOT NULL PRIMARY KEY
) STRICT;

-- balances are the server's on-hand quantities of the device's warehouse;
-- batch is '' for items that are not batch-tracked.
CREATE TABLE balances (
    location TEXT    NOT NULL,
    sku      TEXT    NOT NULL,
    batch    TEXT    NOT NULL DEFAULT '',
    on_hand  INTEGER NOT NULL,
    PRIMARY KEY (location, sku, batch)
) STRICT;

CREATE INDEX balances_sku ON balances (sku, location, batch);

-- decisions are the reviews that involve this device's operations, open or
-- decided by a manager.
CREATE TABLE decisions (
    review_id  TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    action     TEXT    NOT NULL DEFAULT '',
    note       TEXT    NOT NULL DEFAULT '',
    decided_by TEXT    NOT NULL DEFAULT '',
    decided_at INTEGER
) STRICT;

CREATE TABLE decision_ops (
    review_id TEXT NOT NULL REFERENCES decisions (review_id) ON DELETE CASCADE,
    op_id     TEXT NOT NULL,
    PRIMARY KEY (review_id, op_id)
) STRICT;

CREATE INDEX decision_ops_op ON decision_ops (op_id, review_id);
