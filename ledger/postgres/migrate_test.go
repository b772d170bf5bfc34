package postgres_test

import (
	"testing"
	"time"

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

// TestMigrateResolvedAtBackfills upgrades a schema made by 0001-0004 with
// reviews in it: each resolved review's resolved_at is read from its
// resolution's time, to the microsecond, whatever the zone Go wrote; open
// reviews have none.
func TestMigrateResolvedAtBackfills(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version text NOT NULL PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0001_ledger", "0002_access", "0003_open_review_lookups", "0004_users"} {
		b, err := migrations.Postgres.ReadFile("postgres/" + v + ".sql")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
			t.Fatal(err)
		}
	}
	tenant := newID()
	if _, err := conn.Exec(ctx, `INSERT INTO tenants (tenant_id, slug, name, count_variance_threshold, clock_uncertainty, created_at, ledger_id)
		VALUES ($1, 'a', 'A', 0, 0, now(), $2)`, tenant, newID()); err != nil {
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
		if _, err := conn.Exec(ctx, `INSERT INTO reviews (tenant_id, review_id, kind, severity, status, op_id, device_id,
			location_id, item_id, batch_id, order_ref, evidence, suggestions, resolution, opened_at, changed)
			VALUES ($1, $2, 'negative_stock', 'high', $3, $4, $5, $6, $6, $6, NULL, '{}', '[]', $7::jsonb, $8, 1)`,
			tenant, ids[i], status, newID(), newID(), uuid.Nil, resolution, base); err != nil {
			t.Fatal(err)
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
	for i, c := range cases {
		rs, err := l.Reviews(ctx, tenant, ledger.ReviewFilter{IDs: []uuid.UUID{ids[i]}, ResolvedAfter: base.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if c.at == "" {
			if len(rs) != 0 {
				t.Errorf("open review counted as resolved")
			}
			continue
		}
		rs, err = l.Reviews(ctx, tenant, ledger.ReviewFilter{ResolvedAfter: c.want, ResolvedBefore: c.want.Add(time.Microsecond)})
		if err != nil || len(rs) != 1 || rs[0].ID != ids[i] {
			t.Errorf("%s: reviews resolved at %s: %v, %v", c.at, c.want, rs, err)
		}
	}
	rs, err := l.Reviews(ctx, tenant, ledger.ReviewFilter{Order: ledger.ReviewsNewestResolved, Limit: 2})
	if err != nil || len(rs) != 2 || rs[0].ID != ids[4] || rs[1].ID != ids[3] {
		t.Errorf("newest two decisions: %v, %v", rs, err)
	}
}
