package postgres_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"stocksync/ledger"
	"stocksync/ledger/postgres"
	"stocksync/ledger/postgres/pgtest"
	"stocksync/migrations"
)

// TestMigrateAccessBackfills upgrades a schema made by 0001 alone, with
// tenants and a device in it: every tenant gets its own random ledger ID
// and the device reads back with empty report fields.
func TestMigrateAccessBackfills(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := migrations.Postgres.ReadFile("postgres/0001_ledger.sql")
	if err != nil {
		t.Fatal(err)
	}
	tenants := []uuid.UUID{newID(), newID(), newID()}
	wh, dev := newID(), newID()
	if _, err := conn.Exec(ctx, string(v1)+`;
		CREATE TABLE schema_migrations (version text NOT NULL PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO schema_migrations (version) VALUES ('0001_ledger')`); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO tenants (tenant_id, slug, name, count_variance_threshold, clock_uncertainty, created_at)
			VALUES ($1, 'a', 'A', 0, 0, now()), ($2, 'b', 'B', 0, 0, now()), ($3, 'c', 'C', 0, 0, now())`,
			[]any{tenants[0], tenants[1], tenants[2]}},
		{`INSERT INTO warehouses VALUES ($1, $2, 'W1', 'Main', 1)`, []any{tenants[0], wh}},
		{`INSERT INTO devices (tenant_id, device_id, warehouse_id, name, batch_prefix, acked_seq, clock_offset, created_at)
			VALUES ($1, $2, $3, 'hh-1', 'HH1', 7, 0, now())`, []any{tenants[0], dev, wh}},
	} {
		if _, err := conn.Exec(ctx, s.sql, s.args...); err != nil {
			t.Fatalf("%s: %v", s.sql, err)
		}
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}

	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("open and migrate: %v", err)
	}
	defer s.Close()
	l := ledger.New(s, ledger.Options{})
	ts, err := l.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uuid.UUID]bool{}
	for _, tn := range ts {
		if tn.LedgerID.Version() != 4 || seen[tn.LedgerID] {
			t.Errorf("tenant %s: ledger id %s, seen before %v", tn.Slug, tn.LedgerID, seen[tn.LedgerID])
		}
		seen[tn.LedgerID] = true
	}
	if len(ts) != 3 {
		t.Fatalf("%d tenants after the upgrade", len(ts))
	}
	d, err := l.Device(ctx, tenants[0], dev)
	if err != nil {
		t.Fatal(err)
	}
	if d.AckedSeq != 7 || d.AppVersion != "" || d.Pending != 0 || d.OldestUnsent != 0 {
		t.Errorf("device after the upgrade: %+v", d)
	}
	if _, _, err := l.CreateEnrollmentCode(ctx, tenants[0], "W1", 0); err != nil {
		t.Fatal(err)
	}
}
