package postgres_test

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/ledger/postgres"
	"stocksync/ledger/postgres/pgtest"
	"stocksync/migrations"
)

func TestOpenMigratesOnceConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(ctx, url)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var n int
	var version string
	if err := stores[0].Pool().QueryRow(ctx, `SELECT count(*), min(version) FROM schema_migrations`).Scan(&n, &version); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(migrations.Postgres, "postgres/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(files) || version != "0001_ledger" {
		t.Fatalf("schema_migrations has %d rows, first %q; want %d, 0001_ledger", n, version, len(files))
	}
	// A later start finds nothing to do.
	again, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	again.Close()
}

func TestTenants(t *testing.T) {
	t.Parallel()
	f := setup(t)
	s := f.store
	f.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.Tenant(ctx, f.tenant.ID)
		if err != nil {
			return err
		}
		mustEqual(t, "tenant", got, f.tenant)
		got, err = tx.TenantBySlug(ctx, f.tenant.Slug)
		if err != nil {
			return err
		}
		mustEqual(t, "tenant by slug", got, f.tenant)
		all, err := tx.Tenants(ctx, 0)
		if err != nil {
			return err
		}
		mustEqual(t, "tenants", all, []ledger.Tenant{f.tenant})
		_, err = tx.Tenant(ctx, newID())
		wantCode(t, "unknown tenant", err, ledger.CodeNotFound)
		_, err = tx.TenantBySlug(ctx, "nope")
		wantCode(t, "unknown slug", err, ledger.CodeNotFound)
		return nil
	})

	dup := f.tenant
	dup.ID = newID()
	wantCode(t, "duplicate slug", s.CreateTenant(ctx, dup), ledger.CodeConflict)
	wantCode(t, "write to unknown tenant", s.Write(ctx, newID(), func(ledger.Tx) error { return nil }), ledger.CodeNotFound)

	settings := ledger.Settings{CountVarianceThreshold: 10, ClockUncertainty: 5 * time.Minute}
	f.write(t, func(tx ledger.Tx) error { return tx.UpdateSettings(ctx, f.tenant.ID, settings) })
	f.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.Tenant(ctx, f.tenant.ID)
		mustEqual(t, "settings", got.Settings, settings)
		return err
	})
}

func TestCatalogRoundTrip(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tid := f.tenant.ID
	f.read(t, func(tx ledger.ReadTx) error {
		whs, err := tx.Warehouses(ctx, tid, nil)
		if err != nil {
			return err
		}
		mustEqual(t, "all warehouses", whs, []ledger.Warehouse{f.wh})
		whs, err = tx.Warehouses(ctx, tid, []string{"W1", "W9"})
		if err != nil {
			return err
		}
		mustEqual(t, "warehouses by code", whs, []ledger.Warehouse{f.wh})
		whs, err = tx.Warehouses(ctx, tid, []string{})
		if err != nil {
			return err
		}
		mustEqual(t, "no codes", len(whs), 0)
		whs, err = tx.Warehouses(ctx, newID(), nil)
		if err != nil {
			return err
		}
		mustEqual(t, "other tenant's warehouses", len(whs), 0)

		locs, err := tx.LocationsByCode(ctx, tid, f.wh.ID, []string{"B", "A", "Z"})
		if err != nil {
			return err
		}
		mustEqual(t, "locations by code", locs, []ledger.Location{f.binA, f.binB})
		locs, err = tx.LocationsByID(ctx, tid, []uuid.UUID{f.binB.ID})
		if err != nil {
			return err
		}
		mustEqual(t, "locations by id", locs, []ledger.Location{f.binB})

		items, err := tx.ItemsBySKU(ctx, tid, []string{"PLAIN"})
		if err != nil {
			return err
		}
		mustEqual(t, "items by sku (barcodes sorted)", items, []ledger.Item{f.plain})
		items, err = tx.ItemsByID(ctx, tid, []uuid.UUID{f.lot.ID})
		if err != nil {
			return err
		}
		mustEqual(t, "items by id (no barcodes)", items, []ledger.Item{f.lot})
		byCode, err := tx.ItemsByBarcode(ctx, tid, []string{"100", "999"})
		if err != nil {
			return err
		}
		mustEqual(t, "items by barcode", byCode, map[string]ledger.Item{"100": f.plain})

		batches, err := tx.BatchesByCode(ctx, tid, []ledger.BatchRef{{ItemID: f.lot.ID, Code: "L1"}, {ItemID: f.lot.ID, Code: "L1"},
			{ItemID: f.plain.ID, Code: "L2"}})
		if err != nil {
			return err
		}
		mustEqual(t, "batches by code (expiry kept, duplicates once)", batches, []ledger.Batch{f.l1})
		batches, err = tx.BatchesByID(ctx, tid, []uuid.UUID{f.l2.ID})
		if err != nil {
			return err
		}
		mustEqual(t, "batches by id (no expiry)", batches, []ledger.Batch{f.l2})
		return nil
	})

	// Updates by ID; a barcode moves to the item that lists it last, and
	// the item that lost it is stamped with the change.
	other := ledger.Item{TenantID: tid, ID: newID(), SKU: "OTHER", Name: "Other", Unit: "pcs", Barcodes: []string{"200", "300"}, Changed: 7}
	wh := f.wh
	wh.Name, wh.Changed = "Main renamed", 7
	l1 := f.l1
	l1.Expiry, l1.Changed = time.Time{}, 7
	f.write(t, func(tx ledger.Tx) error {
		if err := tx.UpsertWarehouses(ctx, []ledger.Warehouse{wh}); err != nil {
			return err
		}
		if err := tx.UpsertBatches(ctx, []ledger.Batch{l1}); err != nil {
			return err
		}
		return tx.UpsertItems(ctx, []ledger.Item{other})
	})
	f.read(t, func(tx ledger.ReadTx) error {
		items, err := tx.ItemsBySKU(ctx, tid, []string{"OTHER", "PLAIN"})
		if err != nil {
			return err
		}
		got := map[string]ledger.Item{}
		for _, it := range items {
			got[it.SKU] = it
		}
		mustEqual(t, "item that took a barcode", got["OTHER"], other)
		plain := f.plain
		plain.Barcodes, plain.Changed = []string{"100"}, 7
		mustEqual(t, "item that lost a barcode", got["PLAIN"], plain)
		whs, err := tx.Warehouses(ctx, tid, nil)
		if err != nil {
			return err
		}
		mustEqual(t, "renamed warehouse", whs, []ledger.Warehouse{wh})
		batches, err := tx.BatchesByID(ctx, tid, []uuid.UUID{l1.ID})
		if err != nil {
			return err
		}
		mustEqual(t, "batch expiry cleared", batches, []ledger.Batch{l1})
		return nil
	})

	// Natural keys are unique.
	clash := []struct {
		name string
		fn   func(tx ledger.Tx) error
	}{
		{"warehouse code", func(tx ledger.Tx) error {
			return tx.UpsertWarehouses(ctx, []ledger.Warehouse{{TenantID: tid, ID: newID(), Code: "W1"}})
		}},
		{"location code", func(tx ledger.Tx) error {
			return tx.UpsertLocations(ctx, []ledger.Location{{TenantID: tid, ID: newID(), WarehouseID: f.wh.ID, Code: "A"}})
		}},
		{"sku", func(tx ledger.Tx) error {
			return tx.UpsertItems(ctx, []ledger.Item{{TenantID: tid, ID: newID(), SKU: "PLAIN", Name: "x", Unit: "x"}})
		}},
		{"batch code", func(tx ledger.Tx) error {
			return tx.UpsertBatches(ctx, []ledger.Batch{{TenantID: tid, ID: newID(), ItemID: f.lot.ID, Code: "L2"}})
		}},
	}
	for _, c := range clash {
		wantCode(t, c.name, f.store.Write(ctx, tid, c.fn), ledger.CodeConflict)
	}
	// A location in a warehouse that does not exist fails at commit.
	err := f.store.Write(ctx, tid, func(tx ledger.Tx) error {
		return tx.UpsertLocations(ctx, []ledger.Location{{TenantID: tid, ID: newID(), WarehouseID: newID(), Code: "Q"}})
	})
	wantCode(t, "location in unknown warehouse", err, ledger.CodeNotFound)
}

func TestDevices(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tid := f.tenant.ID
	second := ledger.Device{TenantID: tid, ID: newID(), WarehouseID: f.wh.ID, Name: "a-second", BatchPrefix: "HH2", CreatedAt: f.t0}
	third := ledger.Device{TenantID: tid, ID: newID(), WarehouseID: f.wh.ID, Name: "early", BatchPrefix: "HH3", CreatedAt: f.t0.Add(-time.Hour)}
	f.write(t, func(tx ledger.Tx) error {
		if err := tx.InsertDevice(ctx, second); err != nil {
			return err
		}
		return tx.InsertDevice(ctx, third)
	})
	wantCode(t, "batch prefix taken", f.store.Write(ctx, tid, func(tx ledger.Tx) error {
		return tx.InsertDevice(ctx, ledger.Device{TenantID: tid, ID: newID(), WarehouseID: f.wh.ID, Name: "x", BatchPrefix: "HH1", CreatedAt: f.t0})
	}), ledger.CodeConflict)

	upd := f.device
	upd.AckedSeq, upd.ClockOffset = 42, -1500*time.Millisecond+3*time.Microsecond
	upd.LastSeenAt, upd.RevokedAt = f.t0.Add(time.Hour), f.t0.Add(2*time.Hour)
	f.write(t, func(tx ledger.Tx) error { return tx.UpdateDevice(ctx, upd) })
	wantCode(t, "update unknown device", f.store.Write(ctx, tid, func(tx ledger.Tx) error {
		return tx.UpdateDevice(ctx, ledger.Device{TenantID: tid, ID: newID()})
	}), ledger.CodeNotFound)

	f.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.Device(ctx, tid, f.device.ID)
		if err != nil {
			return err
		}
		mustEqual(t, "updated device", got, upd)
		_, err = tx.Device(ctx, tid, newID())
		wantCode(t, "unknown device", err, ledger.CodeNotFound)
		_, err = tx.Device(ctx, newID(), f.device.ID)
		wantCode(t, "device of another tenant", err, ledger.CodeNotFound)
		all, err := tx.Devices(ctx, tid)
		if err != nil {
			return err
		}
		mustEqual(t, "devices by created_at, name", all, []ledger.Device{third, second, upd})
		return nil
	})
}

func TestWriteRollsBackOnError(t *testing.T) {
	t.Parallel()
	f := setup(t)
	boom := errors.New("boom")
	err := f.store.Write(ctx, f.tenant.ID, func(tx ledger.Tx) error {
		if err := tx.SetLedger(ctx, ledger.LedgerState{NextPosition: 99, NextChange: 99}); err != nil {
			return err
		}
		if got := tx.Ledger(); got.NextPosition != 99 {
			t.Errorf("Ledger after SetLedger = %+v", got)
		}
		if err := tx.UpsertWarehouses(ctx, []ledger.Warehouse{{TenantID: f.tenant.ID, ID: newID(), Code: "W2"}}); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write returned %v, want fn's error", err)
	}
	f.write(t, func(tx ledger.Tx) error {
		mustEqual(t, "counters after rollback", tx.Ledger(), ledger.LedgerState{NextPosition: 1, NextChange: 1})
		whs, err := tx.Warehouses(ctx, f.tenant.ID, nil)
		mustEqual(t, "warehouses after rollback", len(whs), 1)
		return err
	})
}

func TestWriteRefusesOtherTenants(t *testing.T) {
	t.Parallel()
	f := setup(t)
	other := ledger.Tenant{ID: newID(), Slug: "other", Name: "Other", Settings: ledger.DefaultSettings, CreatedAt: f.t0}
	if err := f.store.CreateTenant(ctx, other); err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name string
		fn   func(tx ledger.Tx) error
	}{
		{"rows", func(tx ledger.Tx) error {
			return tx.UpsertWarehouses(ctx, []ledger.Warehouse{{TenantID: other.ID, ID: newID(), Code: "X"}})
		}},
		{"tenant argument", func(tx ledger.Tx) error {
			return tx.AddBalances(ctx, other.ID, 1, []ledger.BalanceDelta{{Key: ledger.Key{LocationID: newID()}, Delta: 1}})
		}},
	}
	for _, w := range writes {
		wantCode(t, w.name, f.store.Write(ctx, f.tenant.ID, w.fn), ledger.CodeInternal)
	}
	var n int
	if err := f.store.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM warehouses WHERE tenant_id = $1) + (SELECT count(*) FROM balances WHERE tenant_id = $1)`,
		other.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "rows written to the other tenant", n, 0)
}

// TestConcurrentWritesSerialize has goroutines read, increment and store
// the counters through separate pooled connections: only the tenant row
// lock keeps every increment.
func TestConcurrentWritesSerialize(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const workers, rounds = 3, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				err := f.store.Write(ctx, f.tenant.ID, func(tx ledger.Tx) error {
					st := tx.Ledger()
					// Widen the window between read and write.
					if _, err := tx.Balances(ctx, f.tenant.ID, []ledger.Key{{}}); err != nil {
						return err
					}
					st.NextPosition++
					st.NextChange += 2
					return tx.SetLedger(ctx, st)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	f.write(t, func(tx ledger.Tx) error {
		mustEqual(t, "counters", tx.Ledger(), ledger.LedgerState{NextPosition: 1 + workers*rounds, NextChange: 1 + 2*workers*rounds})
		return nil
	})
}

func TestReadSeesOneSnapshot(t *testing.T) {
	t.Parallel()
	f := setup(t)
	k := f.key(f.binA, f.plain, ledger.Batch{})
	f.post(t, ledger.Movement{Key: k, Qty: 5, Kind: ledger.MoveReceive, EffectiveAt: f.t0})
	err := f.store.Read(ctx, func(tx ledger.ReadTx) error {
		before, err := tx.Balances(ctx, f.tenant.ID, []ledger.Key{k})
		if err != nil {
			return err
		}
		f.post(t, ledger.Movement{Key: k, Qty: 1, Kind: ledger.MoveReceive, EffectiveAt: f.t0})
		after, err := tx.Balances(ctx, f.tenant.ID, []ledger.Key{k})
		if err != nil {
			return err
		}
		mustEqual(t, "balance within one read", after, before)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUUIDParametersRoundTrip pins the UUID encode plans (uuid.go): single
// values and slices arrive in PostgreSQL byte for byte, a nil slice as
// NULL and an empty one as an empty array.
func TestUUIDParametersRoundTrip(t *testing.T) {
	s := pgtest.New(t)
	ctx := t.Context()
	ids := []uuid.UUID{uuid.Must(uuid.NewV7()), uuid.Nil, uuid.MustParse("ffffffff-0000-4000-8000-0123456789ab")}
	var text string
	if err := s.Pool().QueryRow(ctx, `SELECT $1::uuid::text`, ids[2]).Scan(&text); err != nil || text != ids[2].String() {
		t.Fatalf("single uuid arrived as %q (%v), want %s", text, err, ids[2])
	}
	var texts []string
	if err := s.Pool().QueryRow(ctx, `SELECT array_agg(u::text ORDER BY n) FROM unnest($1::uuid[]) WITH ORDINALITY AS x(u, n)`, ids).Scan(&texts); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if i >= len(texts) || texts[i] != id.String() {
			t.Fatalf("uuid slice arrived as %v, want %v", texts, ids)
		}
	}
	var isNull bool
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT $1::uuid[] IS NULL, cardinality($2::uuid[])`, []uuid.UUID(nil), []uuid.UUID{}).Scan(&isNull, &n); err != nil {
		t.Fatal(err)
	}
	if !isNull || n != 0 {
		t.Fatalf("nil slice NULL = %v, empty slice cardinality = %d; want true, 0", isNull, n)
	}
}

// TestUpdateWithoutWriteIDClearsIt: a server that predates the write ID
// (or a hand-written UPDATE) changes the tenant's row without setting a new
// one; the trigger of migration 0006 clears it, so no ledger trusts what it
// kept across that write.
func TestUpdateWithoutWriteIDClearsIt(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var left uuid.UUID
	f.write(t, func(tx ledger.Tx) error { _, left = tx.WriteIDs(); return nil })
	f.write(t, func(tx ledger.Tx) error {
		if found, _ := tx.WriteIDs(); found != left {
			t.Errorf("write ID %s, want %s", found, left)
		}
		return nil
	})
	if _, err := f.store.Pool().Exec(ctx, `UPDATE tenants SET next_change = next_change + 1 WHERE tenant_id = $1`, f.tenant.ID); err != nil {
		t.Fatal(err)
	}
	f.write(t, func(tx ledger.Tx) error {
		if found, _ := tx.WriteIDs(); found != uuid.Nil {
			t.Errorf("after an update that left the write ID alone it is %s, want none", found)
		}
		return nil
	})
}
