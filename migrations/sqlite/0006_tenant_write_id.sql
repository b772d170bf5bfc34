-- As in the PostgreSQL schema: the tenant's write ID, a new random value
-- stored by every committed write transaction of the tenant
-- (ledger.Tx.WriteIDs), so that a process finding the ID its own last
-- write left knows nobody has written the tenant since (ledger/known.go).
-- NULL until the first write after this migration.
ALTER TABLE tenants ADD COLUMN write_id TEXT;
