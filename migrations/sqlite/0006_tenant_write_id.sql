-- As in the PostgreSQL schema: the tenant's write ID, a new random value
-- stored by every committed write transaction of the tenant
-- (ledger.Tx.WriteIDs), so that a process finding the ID its own last
-- write left knows nobody has written the tenant since (ledger/known.go).
-- NULL until the first write after this migration.
ALTER TABLE tenants ADD COLUMN write_id TEXT;

-- As in the PostgreSQL schema: an update of the row that does not set a new
-- write ID (a process that predates it, a hand-written UPDATE) clears it.
CREATE TRIGGER tenants_write_id AFTER UPDATE ON tenants
    WHEN NEW.write_id IS OLD.write_id AND NEW.write_id IS NOT NULL
BEGIN
    UPDATE tenants SET write_id = NULL WHERE tenant_id = NEW.tenant_id;
END;
