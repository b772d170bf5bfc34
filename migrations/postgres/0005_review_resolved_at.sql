-- When each review was resolved, as a column of its own (the time in its
-- resolution's JSON, ledger.ResolutionRecord.At; NULL while open), so the
-- console's audit trail filters, orders and limits decisions by it in SQL,
-- and its backlog chart counts resolutions per day without reading them.
-- UpsertReviews keeps it in step with the resolution.

ALTER TABLE reviews ADD COLUMN resolved_at timestamptz;
UPDATE reviews SET resolved_at = (resolution ->> 'at')::timestamptz WHERE resolution IS NOT NULL;

-- Decisions newest first, within a tenant; the review_id completes the
-- order so a page of them is one index range scan. Open reviews (NULL)
-- sort after every decision and are never read through it.
CREATE INDEX reviews_resolved ON reviews (tenant_id, resolved_at, review_id);

-- Every console page shows how many reviews are open, by kind: a count
-- this index answers alone (an index-only scan), however long the queue.
CREATE INDEX reviews_status_kind ON reviews (tenant_id, status, kind);
