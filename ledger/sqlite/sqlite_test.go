package sqlite_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/ledger/sqlite"
	"stocksync/migrations"
)

// t0 has microsecond precision, the precision the store keeps.
var t0 = time.Date(2026, 11, 23, 6, 0, 0, 123456000, time.UTC)

// bundle is a store with one tenant and a small catalog: warehouse W1 with
// bins A1 and A2, WIDGET (not batch-tracked) and BOLT (batch-tracked, batch
// L1 expiring), and one device.
type bundle struct {
	ctx    context.Context
	path   string
	store  *sqlite.Store
	tenant ledger.Tenant
	wh     ledger.Warehouse
	a1, a2 ledger.Location
	widget ledger.Item
	bolt   ledger.Item
	l1     ledger.Batch
	dev    ledger.Device
}

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{ctx: context.Background(), path: filepath.Join(t.TempDir(), "data", "ledger.db")}
	b.store = openStore(t, b.path)
	b.tenant = ledger.Tenant{ID: newID(), Slug: "acme", Name: "Acme", Settings: ledger.DefaultSettings, CreatedAt: t0}
	if err := b.store.CreateTenant(b.ctx, b.tenant); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	tid := b.tenant.ID
	b.wh = ledger.Warehouse{TenantID: tid, ID: newID(), Code: "W1", Name: "Main", Changed: 1}
	b.a1 = ledger.Location{TenantID: tid, ID: newID(), WarehouseID: b.wh.ID, Code: "A1", Changed: 1}
	b.a2 = ledger.Location{TenantID: tid, ID: newID(), WarehouseID: b.wh.ID, Code: "A2", Changed: 1}
	b.widget = ledger.Item{TenantID: tid, ID: newID(), SKU: "WIDGET", Name: "Widget", Unit: "pcs",
		Barcodes: []string{"4000001000013"}, Changed: 1}
	b.bolt = ledger.Item{TenantID: tid, ID: newID(), SKU: "BOLT", Name: "Bolt", Unit: "pcs", BatchTracked: true, Changed: 1}
	b.l1 = ledger.Batch{TenantID: tid, ID: newID(), ItemID: b.bolt.ID, Code: "L1",
		Expiry: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC), Changed: 1}
	b.dev = ledger.Device{TenantID: tid, ID: newID(), WarehouseID: b.wh.ID, Name: "hh-1", BatchPrefix: "HH1",
		CreatedAt: t0}
	b.write(t, func(tx ledger.Tx) error {
		return errors.Join(
			tx.UpsertWarehouses(b.ctx, []ledger.Warehouse{b.wh}),
			tx.UpsertLocations(b.ctx, []ledger.Location{b.a1, b.a2}),
			tx.UpsertItems(b.ctx, []ledger.Item{b.widget, b.bolt}),
			tx.UpsertBatches(b.ctx, []ledger.Batch{b.l1}),
			tx.InsertDevice(b.ctx, b.dev),
		)
	})
	return b
}

func (b *bundle) write(t *testing.T, fn func(ledger.Tx) error) {
	t.Helper()
	if err := b.store.Write(b.ctx, b.tenant.ID, fn); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (b *bundle) read(t *testing.T, fn func(ledger.ReadTx) error) {
	t.Helper()
	if err := b.store.Read(b.ctx, fn); err != nil {
		t.Fatalf("read: %v", err)
	}
}

func (b *bundle) key(loc ledger.Location, it ledger.Item, batch uuid.UUID) ledger.Key {
	return ledger.Key{LocationID: loc.ID, ItemID: it.ID, BatchID: batch}
}

// movement returns a movement of qty on k at position pos, effective at
// t0 plus pos minutes.
func (b *bundle) movement(pos int64, k ledger.Key, qty int64, op uuid.UUID) ledger.Movement {
	return ledger.Movement{TenantID: b.tenant.ID, Position: pos, Key: k, Qty: qty, Kind: ledger.MoveReceive,
		EffectiveAt: t0.Add(time.Duration(pos) * time.Minute), RecordedAt: t0.Add(time.Hour), OpID: op, DeviceID: b.dev.ID}
}

// post writes movements and their balances in one transaction, advancing the
// counters the way the ledger does.
func (b *bundle) post(t *testing.T, ms ...ledger.Movement) {
	t.Helper()
	b.write(t, func(tx ledger.Tx) error {
		st := tx.Ledger()
		var deltas []ledger.BalanceDelta
		for _, m := range ms {
			deltas = append(deltas, ledger.BalanceDelta{Key: m.Key, Delta: m.Qty, LastPosition: m.Position})
			st.NextPosition = max(st.NextPosition, m.Position+1)
		}
		if err := tx.InsertMovements(b.ctx, ms); err != nil {
			return err
		}
		if err := tx.AddBalances(b.ctx, b.tenant.ID, st.NextChange, deltas); err != nil {
			return err
		}
		st.NextChange++
		return tx.SetLedger(b.ctx, st)
	})
}

func wantCode(t *testing.T, err error, code ledger.Code) {
	t.Helper()
	if got := ledger.ErrorCode(err); got != code {
		t.Fatalf("err = %v (code %q), want code %q", err, got, code)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func TestOpenCreatesDirMigratesOnceAndReopens(t *testing.T) {
	t.Parallel()
	b := setup(t) // the path is in a directory Open had to create
	var applied int64
	var n int
	if err := b.store.DB().QueryRowContext(context.Background(), `SELECT count(*), max(applied_at) FROM schema_migrations`).Scan(&n, &applied); err != nil {
		t.Fatal(err)
	}
	if n != migrationFiles(t) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, migrationFiles(t))
	}
	var mode string
	var fk int
	if err := b.store.DB().QueryRowContext(context.Background(), `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	if err := b.store.DB().QueryRowContext(context.Background(), `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v", fk, err)
	}
	if err := b.store.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, b.path)
	var n2 int
	var applied2 int64
	if err := s.DB().QueryRowContext(context.Background(), `SELECT count(*), max(applied_at) FROM schema_migrations`).Scan(&n2, &applied2); err != nil {
		t.Fatal(err)
	}
	if n2 != n || applied2 != applied {
		t.Fatalf("after reopen: %d migrations applied at %d, want %d at %d", n2, applied2, n, applied)
	}
	err := s.Read(b.ctx, func(tx ledger.ReadTx) error {
		got, err := tx.Tenant(b.ctx, b.tenant.ID)
		if err != nil {
			return err
		}
		equal(t, "tenant after reopen", got, b.tenant)
		items, err := tx.ItemsBySKU(b.ctx, b.tenant.ID, []string{"WIDGET"})
		equal(t, "items after reopen", items, []ledger.Item{b.widget})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?b.db")} {
		if s, err := sqlite.Open(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestTenants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := ledger.Tenant{ID: newID(), Slug: "beta", Name: "Beta",
		Settings: ledger.Settings{CountVarianceThreshold: 5, ClockUncertainty: 90 * time.Second}, CreatedAt: t0.Add(time.Second)}
	if err := b.store.CreateTenant(b.ctx, other); err != nil {
		t.Fatal(err)
	}
	dup := other
	dup.ID = newID()
	wantCode(t, b.store.CreateTenant(b.ctx, dup), ledger.CodeConflict)

	b.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.TenantBySlug(b.ctx, "beta")
		if err != nil {
			return err
		}
		equal(t, "tenant by slug", got, other)
		all, err := tx.Tenants(b.ctx, 0)
		equal(t, "tenants", all, []ledger.Tenant{b.tenant, other})
		_, err2 := tx.Tenant(b.ctx, newID())
		wantCode(t, err2, ledger.CodeNotFound)
		_, err2 = tx.TenantBySlug(b.ctx, "nope")
		wantCode(t, err2, ledger.CodeNotFound)
		return err
	})

	s := ledger.Settings{CountVarianceThreshold: 3, ClockUncertainty: 1500 * time.Millisecond}
	b.write(t, func(tx ledger.Tx) error { return tx.UpdateSettings(b.ctx, b.tenant.ID, s) })
	b.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.Tenant(b.ctx, b.tenant.ID)
		equal(t, "settings", got.Settings, s)
		return err
	})
	wantCode(t, b.store.Write(b.ctx, newID(), func(ledger.Tx) error { return nil }), ledger.CodeNotFound)
}

func TestWriteCommitsAndRollsBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.write(t, func(tx ledger.Tx) error {
		equal(t, "initial state", tx.Ledger(), ledger.LedgerState{NextPosition: 1, NextChange: 1})
		return nil
	})
	boom := errors.New("boom")
	err := b.store.Write(b.ctx, b.tenant.ID, func(tx ledger.Tx) error {
		if err := tx.SetLedger(b.ctx, ledger.LedgerState{NextPosition: 50, NextChange: 60}); err != nil {
			return err
		}
		equal(t, "state after SetLedger", tx.Ledger(), ledger.LedgerState{NextPosition: 50, NextChange: 60})
		if err := tx.UpsertWarehouses(b.ctx, []ledger.Warehouse{{TenantID: b.tenant.ID, ID: newID(), Code: "W2", Name: "x"}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom unchanged", err)
	}
	b.write(t, func(tx ledger.Tx) error {
		equal(t, "state after rollback", tx.Ledger(), ledger.LedgerState{NextPosition: 1, NextChange: 1})
		whs, err := tx.Warehouses(b.ctx, b.tenant.ID, []string{"W2"})
		equal(t, "rolled back warehouse", len(whs), 0)
		return err
	})

	// A panic in fn rolls back too and leaves the writer usable.
	func() {
		defer func() { _ = recover() }()
		_ = b.store.Write(b.ctx, b.tenant.ID, func(tx ledger.Tx) error {
			_ = tx.SetLedger(b.ctx, ledger.LedgerState{NextPosition: 99, NextChange: 99})
			panic("boom")
		})
	}()
	b.write(t, func(tx ledger.Tx) error {
		equal(t, "state after panic", tx.Ledger(), ledger.LedgerState{NextPosition: 1, NextChange: 1})
		return nil
	})
}

func TestForeignKeysCheckedAtCommit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ghost := ledger.Location{ID: newID()}
	err := b.store.Write(b.ctx, b.tenant.ID, func(tx ledger.Tx) error {
		// Deferred: the insert itself succeeds, the commit refuses it.
		return tx.InsertMovements(b.ctx, []ledger.Movement{b.movement(1, b.key(ghost, b.widget, ledger.NoBatch), 1, newID())})
	})
	if err == nil {
		t.Fatal("movement on an unknown location committed")
	}
	// The failed commit left no transaction open on the writer.
	b.post(t, b.movement(1, b.key(b.a1, b.widget, ledger.NoBatch), 1, newID()))
}

func TestWriteRefusesOtherTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	err := b.store.Write(b.ctx, b.tenant.ID, func(tx ledger.Tx) error {
		return tx.UpsertWarehouses(b.ctx, []ledger.Warehouse{{TenantID: newID(), ID: newID(), Code: "X", Name: "X"}})
	})
	if err == nil {
		t.Fatal("wrote a row of another tenant")
	}
}

func TestConcurrentWritesSerialize(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A second store on the same file stands in for a second process: only
	// SQLite's lock serializes the two.
	other := openStore(t, b.path)
	const workers, rounds = 8, 25
	errs := make(chan error, workers)
	for w := range workers {
		s := b.store
		if w%2 == 1 {
			s = other
		}
		go func() {
			for range rounds {
				err := s.Write(b.ctx, b.tenant.ID, func(tx ledger.Tx) error {
					st := tx.Ledger()
					st.NextPosition++
					return tx.SetLedger(b.ctx, st)
				})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	b.write(t, func(tx ledger.Tx) error {
		equal(t, "next position", tx.Ledger().NextPosition, int64(1+workers*rounds))
		return nil
	})
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tid := b.tenant.ID
	b.read(t, func(tx ledger.ReadTx) error {
		all, err := tx.Warehouses(b.ctx, tid, nil)
		equal(t, "all warehouses", all, []ledger.Warehouse{b.wh})
		none, _ := tx.Warehouses(b.ctx, tid, []string{})
		equal(t, "no codes", len(none), 0)
		some, _ := tx.Warehouses(b.ctx, tid, []string{"W1", "NOPE"})
		equal(t, "warehouses by code", some, []ledger.Warehouse{b.wh})
		locs, _ := tx.LocationsByCode(b.ctx, tid, b.wh.ID, []string{"A2", "A1", "ZZ"})
		equal(t, "locations by code", locs, []ledger.Location{b.a1, b.a2})
		locs, _ = tx.LocationsByCode(b.ctx, tid, newID(), []string{"A1"})
		equal(t, "locations of another warehouse", len(locs), 0)
		locs, _ = tx.LocationsByID(b.ctx, tid, []uuid.UUID{b.a2.ID})
		equal(t, "locations by id", locs, []ledger.Location{b.a2})
		items, _ := tx.ItemsByID(b.ctx, tid, []uuid.UUID{b.bolt.ID, b.widget.ID})
		equal(t, "items by id", items, []ledger.Item{b.bolt, b.widget})
		bs, _ := tx.BatchesByCode(b.ctx, tid, []ledger.BatchRef{{ItemID: b.bolt.ID, Code: "L1"},
			{ItemID: b.widget.ID, Code: "L1"}, {ItemID: b.bolt.ID, Code: "L1"}})
		equal(t, "batches by code", bs, []ledger.Batch{b.l1})
		bs, _ = tx.BatchesByID(b.ctx, tid, []uuid.UUID{b.l1.ID})
		equal(t, "batches by id", bs, []ledger.Batch{b.l1})
		// Another tenant sees none of it.
		items, _ = tx.ItemsBySKU(b.ctx, newID(), []string{"WIDGET"})
		equal(t, "other tenant's items", len(items), 0)
		return err
	})

	// Updates by ID; a batch without expiry; barcodes sorted; a barcode
	// moving from WIDGET to BOLT stamps WIDGET as changed.
	b.widget.Name, b.widget.Changed = "Widget v2", 2
	b.widget.Barcodes = []string{"zz-2", "aa-1"}
	b.bolt.Barcodes, b.bolt.Changed = []string{"4000001000013"}, 3
	l2 := ledger.Batch{TenantID: tid, ID: newID(), ItemID: b.bolt.ID, Code: "GEN-1", Generated: true, Changed: 3}
	b.wh.Name, b.wh.Changed = "Main site", 2
	b.write(t, func(tx ledger.Tx) error {
		return errors.Join(
			tx.UpsertWarehouses(b.ctx, []ledger.Warehouse{b.wh}),
			tx.UpsertItems(b.ctx, []ledger.Item{b.widget}),
			tx.UpsertItems(b.ctx, []ledger.Item{b.bolt}),
			tx.UpsertBatches(b.ctx, []ledger.Batch{l2}),
		)
	})
	b.read(t, func(tx ledger.ReadTx) error {
		items, err := tx.ItemsBySKU(b.ctx, tid, []string{"WIDGET", "BOLT"})
		want := b.widget
		want.Barcodes, want.Changed = []string{"aa-1", "zz-2"}, 3
		equal(t, "items after update", items, []ledger.Item{b.bolt, want})
		byCode, _ := tx.ItemsByBarcode(b.ctx, tid, []string{"4000001000013", "zz-2", "unknown"})
		equal(t, "items by barcode", byCode, map[string]ledger.Item{"4000001000013": b.bolt, "zz-2": want})
		bs, _ := tx.BatchesByID(b.ctx, tid, []uuid.UUID{l2.ID})
		equal(t, "batch without expiry", bs, []ledger.Batch{l2})
		whs, _ := tx.Warehouses(b.ctx, tid, nil)
		equal(t, "warehouse after update", whs, []ledger.Warehouse{b.wh})
		return err
	})

	// Natural keys are unique.
	for name, fn := range map[string]func(tx ledger.Tx) error{
		"warehouse code": func(tx ledger.Tx) error {
			return tx.UpsertWarehouses(b.ctx, []ledger.Warehouse{{TenantID: tid, ID: newID(), Code: "W1"}})
		},
		"location code": func(tx ledger.Tx) error {
			return tx.UpsertLocations(b.ctx, []ledger.Location{{TenantID: tid, ID: newID(), WarehouseID: b.wh.ID, Code: "A1"}})
		},
		"sku": func(tx ledger.Tx) error {
			return tx.UpsertItems(b.ctx, []ledger.Item{{TenantID: tid, ID: newID(), SKU: "BOLT"}})
		},
		"batch code": func(tx ledger.Tx) error {
			return tx.UpsertBatches(b.ctx, []ledger.Batch{{TenantID: tid, ID: newID(), ItemID: b.bolt.ID, Code: "L1"}})
		},
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, b.store.Write(b.ctx, tid, fn), ledger.CodeConflict) })
	}
}

func TestDevices(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tid := b.tenant.ID
	// Same creation time as hh-1, earlier name: sorts first.
	d0 := ledger.Device{TenantID: tid, ID: newID(), WarehouseID: b.wh.ID, Name: "hh-0", BatchPrefix: "HH0", CreatedAt: t0}
	d2 := ledger.Device{TenantID: tid, ID: newID(), WarehouseID: b.wh.ID, Name: "a-late", BatchPrefix: "AL", CreatedAt: t0.Add(time.Minute)}
	b.write(t, func(tx ledger.Tx) error {
		return errors.Join(tx.InsertDevice(b.ctx, d2), tx.InsertDevice(b.ctx, d0))
	})
	clash := ledger.Device{TenantID: tid, ID: newID(), WarehouseID: b.wh.ID, Name: "x", BatchPrefix: "HH1", CreatedAt: t0}
	wantCode(t, b.store.Write(b.ctx, tid, func(tx ledger.Tx) error { return tx.InsertDevice(b.ctx, clash) }), ledger.CodeConflict)

	b.dev.AckedSeq = 42
	b.dev.ClockOffset = -3*time.Second - 250*time.Microsecond
	b.dev.LastSeenAt = t0.Add(time.Hour)
	b.write(t, func(tx ledger.Tx) error { return tx.UpdateDevice(b.ctx, b.dev) })
	ghost := b.dev
	ghost.ID = newID()
	wantCode(t, b.store.Write(b.ctx, tid, func(tx ledger.Tx) error { return tx.UpdateDevice(b.ctx, ghost) }), ledger.CodeNotFound)

	b.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.Device(b.ctx, tid, b.dev.ID)
		equal(t, "device", got, b.dev)
		if !got.RevokedAt.IsZero() {
			t.Errorf("RevokedAt = %v, want zero", got.RevokedAt)
		}
		all, _ := tx.Devices(b.ctx, tid)
		equal(t, "devices", all, []ledger.Device{d0, b.dev, d2})
		_, err2 := tx.Device(b.ctx, tid, newID())
		wantCode(t, err2, ledger.CodeNotFound)
		return err
	})

	b.dev.RevokedAt = t0.Add(2 * time.Hour)
	b.write(t, func(tx ledger.Tx) error { return tx.UpdateDevice(b.ctx, b.dev) })
	b.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.Device(b.ctx, tid, b.dev.ID)
		equal(t, "revoked device", got, b.dev)
		return err
	})
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.db")
	const n = 4
	stores := make(chan *sqlite.Store, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			s, err := sqlite.Open(context.Background(), path)
			errs <- err
			stores <- s
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		s := <-stores
		t.Cleanup(func() { s.Close() })
	}
	s := openStore(t, path)
	var count int
	if err := s.DB().QueryRowContext(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&count); err != nil || count != migrationFiles(t) {
		t.Fatalf("%d migrations recorded, %v; want %d", count, err, migrationFiles(t))
	}
}

// migrationFiles is the number of embedded SQLite migrations.
func migrationFiles(t *testing.T) int {
	t.Helper()
	names, err := fs.Glob(migrations.SQLite, "sqlite/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %v, %d files", err, len(names))
	}
	return len(names)
}

func TestReadSeesOneSnapshot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	names := func(tx ledger.ReadTx) string {
		t.Helper()
		whs, err := tx.Warehouses(b.ctx, b.tenant.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		var s string
		for _, w := range whs {
			s += w.Code + " "
		}
		return s
	}
	b.read(t, func(tx ledger.ReadTx) error {
		before := names(tx)
		// A write commits while the read is open; the reader pool does not
		// wait for it, and the snapshot does not see it.
		b.write(t, func(tx ledger.Tx) error {
			return tx.UpsertWarehouses(b.ctx, []ledger.Warehouse{{TenantID: b.tenant.ID, ID: newID(), Code: "W2", Name: "x"}})
		})
		equal(t, "warehouses in the snapshot", names(tx), before)
		return nil
	})
	b.read(t, func(tx ledger.ReadTx) error {
		equal(t, "warehouses after", names(tx), "W1 W2 ")
		return nil
	})
}

// TestUpdateWithoutWriteIDClearsIt: a process that predates the write ID
// (or a hand-written UPDATE) changes the tenant's row without setting a new
// one; the trigger of migration 0006 clears it, so no ledger trusts what it
// kept across that write.
func TestUpdateWithoutWriteIDClearsIt(t *testing.T) {
	b := setup(t)
	var left uuid.UUID
	write := func(fn func(tx ledger.Tx) error) {
		t.Helper()
		if err := b.store.Write(b.ctx, b.tenant.ID, fn); err != nil {
			t.Fatal(err)
		}
	}
	write(func(tx ledger.Tx) error { _, left = tx.WriteIDs(); return nil })
	write(func(tx ledger.Tx) error {
		if found, _ := tx.WriteIDs(); found != left {
			t.Errorf("write ID %s, want %s", found, left)
		}
		return nil
	})
	if _, err := b.store.DB().ExecContext(b.ctx, `UPDATE tenants SET next_change = next_change + 1 WHERE tenant_id = ?`, b.tenant.ID); err != nil {
		t.Fatal(err)
	}
	write(func(tx ledger.Tx) error {
		if found, _ := tx.WriteIDs(); found != uuid.Nil {
			t.Errorf("after an update that left the write ID alone it is %s, want none", found)
		}
		return nil
	})
}
