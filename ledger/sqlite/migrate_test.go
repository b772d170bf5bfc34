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

// TestMigrateResolvedAtBackfills upgrades a database made by 0001-0004
// with reviews in it: each resolved review's resolved_at is read from its
// resolution's time, to the microsecond, whatever the zone and the number
// of fractional digits Go wrote; open reviews have none.
func TestMigrateResolvedAtBackfills(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0001_ledger", "0002_access", "0003_open_review_lookups", "0004_users"} {
		b, err := migrations.SQLite.ReadFile("sqlite/" + v + ".sql")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, 1)`, v); err != nil {
			t.Fatal(err)
		}
	}
	tenant := newID()
	if _, err := db.ExecContext(ctx, `INSERT INTO tenants (tenant_id, slug, name, count_variance_threshold, clock_uncertainty, created_at, ledger_id)
		VALUES (?, 'a', 'A', 0, 0, 1, ?)`, tenant, newID()); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	cases := []struct {
		at   string // as the resolution's JSON holds it; "" for an open review
		want time.Time
	}{
		{"2026-11-23T06:00:00.123456Z", base.Add(123456 * time.Microsecond)},
		{"2026-11-23T06:00:01Z", base.Add(time.Second)},
		{"2026-11-23T06:00:02.5Z", base.Add(2500 * time.Millisecond)},
		{"2026-11-23T06:00:03.000007Z", base.Add(3*time.Second + 7*time.Microsecond)},
		{"2026-11-23T08:00:04.25+02:00", base.Add(4250 * time.Millisecond)},
		{"2026-11-23T01:30:05.999999-04:30", base.Add(5*time.Second + 999999*time.Microsecond)},
		{"", time.Time{}},
	}
	ids := make([]uuid.UUID, len(cases))
	for i, c := range cases {
		ids[i] = newID()
		status, resolution := "open", any(nil)
		if c.at != "" {
			status, resolution = "resolved", `{"action":"accept","by":"x","at":"`+c.at+`"}`
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO reviews (tenant_id, review_id, kind, severity, status, op_id, device_id,
			location_id, item_id, batch_id, order_ref, evidence, suggestions, resolution, opened_at, changed)
			VALUES (?, ?, 'negative_stock', 'high', ?, ?, ?, ?, ?, ?, NULL, '{}', '[]', ?, ?, 1)`,
			tenant, ids[i], status, newID(), newID(), uuid.Nil, uuid.Nil, uuid.Nil, resolution, base.UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, path)
	l := ledger.New(s, ledger.Options{})
	for i, c := range cases {
		var got sql.NullInt64
		if err := s.DB().QueryRowContext(ctx, `SELECT resolved_at FROM reviews WHERE review_id = ?`, ids[i]).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if c.at == "" {
			if got.Valid {
				t.Errorf("open review: resolved_at %d", got.Int64)
			}
			continue
		}
		if !got.Valid || got.Int64 != c.want.UnixMicro() {
			t.Errorf("%s: resolved_at %v, want %d", c.at, got, c.want.UnixMicro())
		}
		rs, err := l.Reviews(ctx, tenant, ledger.ReviewFilter{ResolvedAfter: c.want, ResolvedBefore: c.want.Add(time.Microsecond)})
		if err != nil || len(rs) != 1 || rs[0].ID != ids[i] {
			t.Errorf("%s: reviews resolved at %s: %v, %v", c.at, c.want, rs, err)
		}
	}
	rs, err := l.Reviews(ctx, tenant, ledger.ReviewFilter{Order: ledger.ReviewsNewestResolved, Limit: 2})
	if err != nil || len(rs) != 2 || rs[0].ID != ids[5] || rs[1].ID != ids[4] {
		t.Errorf("newest two decisions: %v, %v", rs, err)
	}
}
