-- The open reviews of an order are looked up by order_ref only, and most
-- open reviews (negative stock, counts) are about no order. Indexing only
-- the ones that name an order keeps the index small and out of the way of
-- the per-key lookups: with every open review in it, the planner, short of
-- statistics, could pick it for a key lookup and filter the tenant's whole
-- queue for every key of a push.
DROP INDEX reviews_open_order;
CREATE INDEX reviews_open_order ON reviews (tenant_id, order_ref) WHERE status = 'open' AND order_ref IS NOT NULL;
