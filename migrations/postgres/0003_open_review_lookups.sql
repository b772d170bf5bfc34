-- How a merge finds the open reviews it may join or settle (ledger.Store
-- OpenReviews and OpenReviewsOfOps), each through an index of its own:
--
-- * by key, every kind but the count reviews: on a busy bin the count
--   reviews pile up during a shift (nobody resolves them before it ends),
--   and a merge needs only those of the counts its movements land next to,
--   which it finds by their count;
-- * by opening operation: the count reviews;
-- * by order: only reviews that name one. With every open review in it, the
--   planner, short of statistics, could pick this index for a key lookup
--   and filter the tenant's whole queue for every key of a push.
DROP INDEX reviews_open_key;
CREATE INDEX reviews_open_key ON reviews (tenant_id, location_id, item_id, batch_id)
    WHERE status = 'open' AND kind NOT IN ('count_variance', 'count_ambiguous');
CREATE INDEX reviews_open_op ON reviews (tenant_id, op_id) WHERE status = 'open';
DROP INDEX reviews_open_order;
CREATE INDEX reviews_open_order ON reviews (tenant_id, order_ref) WHERE status = 'open' AND order_ref IS NOT NULL;
