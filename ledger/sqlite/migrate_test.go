package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/migrations"
)

// TestMigrateAccessBackfills upgrades a database made by 0001 alone, with
// tenants and a device in it: every tenant gets its own random ledger ID
// and the device reads back with empty report fields.
func TestMigrateAccessBackfills(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := migrations.SQLite.ReadFile("sqlite/0001_ledger.sql")
	if err != nil {
		t.Fatal(err)
	}
	tenants := []uuid.UUID{newID(), newID(), newID()}
	wh, dev := newID(), newID()
	stmts := []struct {
		sql  string
		args []any
	}{
		{string(v1), nil},
		{`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`, nil},
		{`INSERT INTO schema_migrations VALUES ('0001_ledger', 1)`, nil},
		{`INSERT INTO tenants (tenant_id, slug, name, count_variance_threshold, clock_uncertainty, created_at)
			VALUES (?, 'a', 'A', 0, 0, 1), (?, 'b', 'B', 0, 0, 2), (?, 'c', 'C', 0, 0, 3)`,
			[]any{tenants[0], tenants[1], tenants[2]}},
		{`INSERT INTO warehouses VALUES (?, ?, 'W1', 'Main', 1)`, []any{tenants[0], wh}},
		{`INSERT INTO devices (tenant_id, device_id, warehouse_id, name, batch_prefix, acked_seq, clock_offset, created_at)
			VALUES (?, ?, ?, 'hh-1', 'HH1', 7, 0, 5)`, []any{tenants[0], dev, wh}},
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s.sql, s.args...); err != nil {
			t.Fatalf("%s: %v", s.sql, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, path)
	l := ledger.New(s, ledger.Options{})
	ts, err := l.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uuid.UUID]bool{}
	for _, tn := range ts {
		if tn.LedgerID.Version() != 4 || tn.LedgerID.Variant() != uuid.RFC4122 || seen[tn.LedgerID] {
			t.Errorf("tenant %s: ledger id %s (version %d, variant %s), seen before %v",
				tn.Slug, tn.LedgerID, tn.LedgerID.Version(), tn.LedgerID.Variant(), seen[tn.LedgerID])
		}
		if tn.LedgerID.String() == "" || len(tn.LedgerID.String()) != 36 {
			t.Errorf("tenant %s: ledger id %q", tn.Slug, tn.LedgerID)
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
	// The stored text is canonical lowercase, as the store writes UUIDs.
	var raw string
	if err := s.DB().QueryRowContext(ctx, `SELECT ledger_id FROM tenants WHERE slug = 'a'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if want := uuid.MustParse(raw).String(); raw != want {
		t.Errorf("backfilled ledger_id %q, canonical %q", raw, want)
	}
	// The upgraded database takes the new rows.
	if err := l.ReportDevice(ctx, tenants[0], dev, ledger.DeviceReport{SeenAt: time.Unix(100, 0).UTC(), AppVersion: "1.0"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.CreateEnrollmentCode(ctx, tenants[0], "W1", 0); err != nil {
		t.Fatal(err)
	}
}
