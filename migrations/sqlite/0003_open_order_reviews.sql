-- As in the PostgreSQL schema: only open reviews that name an order are
-- looked up by order, so only they are in the index.
DROP INDEX reviews_open_order;
CREATE INDEX reviews_open_order ON reviews (tenant_id, order_ref) WHERE status = 'open' AND order_ref IS NOT NULL;
