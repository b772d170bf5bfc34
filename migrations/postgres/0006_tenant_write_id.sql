-- The tenant's write ID: a new random value stored by every committed write
-- transaction of the tenant (ledger.Tx.WriteIDs). A server that remembers
-- the ID its own last write left knows, when it next holds the tenant's
-- lock and finds that same ID, that nobody has written the tenant since,
-- and may trust what it kept in memory of the ledger's state
-- (ledger/known.go). NULL until the first write after this migration.
ALTER TABLE tenants ADD COLUMN write_id uuid;

-- A server that predates the write ID (during a rolling upgrade) updates the
-- tenant's counters and leaves write_id alone; so does a hand-written
-- UPDATE. Any update of the row that does not set a new write ID clears it,
-- and no server trusts what it kept across such a write.
CREATE FUNCTION tenants_clear_write_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.write_id IS NOT DISTINCT FROM OLD.write_id THEN
        NEW.write_id := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tenants_write_id BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_clear_write_id();
