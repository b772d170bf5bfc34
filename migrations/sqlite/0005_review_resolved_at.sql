-- As in the PostgreSQL schema: when each review was resolved, as a column
-- of its own (the time in its resolution's JSON, ledger.ResolutionRecord.At;
-- NULL while open), in microseconds since the Unix epoch like every time
-- here. The audit trail filters, orders and limits by it in SQL, and the
-- backlog chart counts resolutions per day without reading them.
-- UpsertReviews keeps it in step with the resolution.
--
-- The resolution holds the time as Go writes it, RFC 3339 with up to nine
-- fractional digits (trailing zeros dropped) and a zone, "Z" or "+hh:mm":
-- unixepoch reads the whole seconds and the zone, and the fraction is
-- padded to six digits here, since SQLite's date functions keep only
-- milliseconds of it.
ALTER TABLE reviews ADD COLUMN resolved_at INTEGER;

UPDATE reviews SET resolved_at = unixepoch(t.at) * 1000000 + CASE
        WHEN substr(t.at, 20, 1) = '.' THEN CAST(substr(
            substr(t.at, 21, length(t.at) - 20 - CASE WHEN t.at LIKE '%Z' THEN 1 ELSE 6 END) || '000000', 1, 6) AS INTEGER)
        ELSE 0 END
FROM (SELECT rowid AS id, json_extract(resolution, '$.at') AS at FROM reviews WHERE resolution IS NOT NULL) AS t
WHERE reviews.rowid = t.id;

-- Decisions newest first, within a tenant; the review_id completes the
-- order so a page of them is one index range scan.
CREATE INDEX reviews_resolved ON reviews (tenant_id, resolved_at, review_id);

-- Every console page shows how many reviews are open, by kind: a count
-- this covering index answers alone, however long the queue.
CREATE INDEX reviews_status_kind ON reviews (tenant_id, status, kind);
