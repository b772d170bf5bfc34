-- The tenant's write ID: a new random value stored by every committed write
-- transaction of the tenant (ledger.Tx.WriteIDs). A server that remembers
-- the ID its own last write left knows, when it next holds the tenant's
-- lock and finds that same ID, that nobody has written the tenant since,
-- and may trust what it kept in memory of the ledger's state
-- (ledger/known.go). NULL until the first write after this migration.
ALTER TABLE tenants ADD COLUMN write_id uuid;
