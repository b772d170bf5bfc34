-- As in the PostgreSQL schema: open reviews are found by key (every kind
-- but the count reviews), by opening operation (the count reviews) and by
-- order (only reviews that name one), each through an index of its own.
DROP INDEX reviews_open_key;
CREATE INDEX reviews_open_key ON reviews (tenant_id, location_id, item_id, batch_id)
    WHERE status = 'open' AND kind NOT IN ('count_variance', 'count_ambiguous');
CREATE INDEX reviews_open_op ON reviews (tenant_id, op_id) WHERE status = 'open';
DROP INDEX reviews_open_order;
CREATE INDEX reviews_open_order ON reviews (tenant_id, order_ref) WHERE status = 'open' AND order_ref IS NOT NULL;
