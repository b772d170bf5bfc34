package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/ledger/postgres"
	"stocksync/ledger/postgres/pgtest"
)

// fixture is a store with one tenant and a small catalog: one warehouse W1
// with bins A and B, a plain item PLAIN and a batch-tracked item LOT with
// batches L1 (expiring) and L2, and one device.
type fixture struct {
	store   *postgres.Store
	tenant  ledger.Tenant
	wh      ledger.Warehouse
	binA    ledger.Location
	binB    ledger.Location
	plain   ledger.Item
	lot     ledger.Item
	l1, l2  ledger.Batch
	device  ledger.Device
	t0      time.Time
	nextPos int64
}

var ctx = context.Background()

func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

func setup(t *testing.T) *fixture {
	t.Helper()
	s := pgtest.New(t)
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 891011000, time.UTC)
	f := &fixture{store: s, t0: t0, nextPos: 1}
	f.tenant = ledger.Tenant{ID: newID(), Slug: "acme-" + newID().String()[30:], Name: "Acme",
		Settings: ledger.Settings{CountVarianceThreshold: 3, ClockUncertainty: 90 * time.Second}, CreatedAt: t0}
	if err := s.CreateTenant(ctx, f.tenant); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	tid := f.tenant.ID
	f.wh = ledger.Warehouse{TenantID: tid, ID: newID(), Code: "W1", Name: "Main", Changed: 1}
	f.binA = ledger.Location{TenantID: tid, ID: newID(), WarehouseID: f.wh.ID, Code: "A", Changed: 1}
	f.binB = ledger.Location{TenantID: tid, ID: newID(), WarehouseID: f.wh.ID, Code: "B", Changed: 1}
	f.plain = ledger.Item{TenantID: tid, ID: newID(), SKU: "PLAIN", Name: "Plain", Unit: "pcs", Barcodes: []string{"200", "100"}, Changed: 1}
	f.lot = ledger.Item{TenantID: tid, ID: newID(), SKU: "LOT", Name: "Lot", Unit: "g", BatchTracked: true, ExpiryTracked: true, Changed: 1}
	f.l1 = ledger.Batch{TenantID: tid, ID: newID(), ItemID: f.lot.ID, Code: "L1", Expiry: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), Changed: 1}
	f.l2 = ledger.Batch{TenantID: tid, ID: newID(), ItemID: f.lot.ID, Code: "L2", Generated: true, Changed: 1}
	f.device = ledger.Device{TenantID: tid, ID: newID(), Name: "hh-1", BatchPrefix: "HH1", CreatedAt: t0}
	f.device.WarehouseID = f.wh.ID
	f.write(t, func(tx ledger.Tx) error {
		if err := tx.UpsertWarehouses(ctx, []ledger.Warehouse{f.wh}); err != nil {
			return err
		}
		if err := tx.UpsertLocations(ctx, []ledger.Location{f.binA, f.binB}); err != nil {
			return err
		}
		if err := tx.UpsertItems(ctx, []ledger.Item{f.plain, f.lot}); err != nil {
			return err
		}
		if err := tx.UpsertBatches(ctx, []ledger.Batch{f.l1, f.l2}); err != nil {
			return err
		}
		return tx.InsertDevice(ctx, f.device)
	})
	f.plain.Barcodes = []string{"100", "200"} // as read back: sorted
	return f
}

func (f *fixture) write(t *testing.T, fn func(tx ledger.Tx) error) {
	t.Helper()
	if err := f.store.Write(ctx, f.tenant.ID, fn); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (f *fixture) read(t *testing.T, fn func(tx ledger.ReadTx) error) {
	t.Helper()
	if err := f.store.Read(ctx, fn); err != nil {
		t.Fatalf("read: %v", err)
	}
}

func (f *fixture) key(l ledger.Location, it ledger.Item, b ledger.Batch) ledger.Key {
	return ledger.Key{LocationID: l.ID, ItemID: it.ID, BatchID: b.ID}
}

// post inserts movements at the next positions and adds them to balances,
// the way the merge does, advancing the tenant's counters.
func (f *fixture) post(t *testing.T, ms ...ledger.Movement) []ledger.Movement {
	t.Helper()
	f.write(t, func(tx ledger.Tx) error {
		st := tx.Ledger()
		sums := map[ledger.Key]*ledger.BalanceDelta{}
		var keys []ledger.Key
		for i := range ms {
			ms[i].TenantID = f.tenant.ID
			ms[i].Position = st.NextPosition
			st.NextPosition++
			if ms[i].RecordedAt.IsZero() {
				ms[i].RecordedAt = f.t0
			}
			d := sums[ms[i].Key]
			if d == nil {
				d = &ledger.BalanceDelta{Key: ms[i].Key}
				sums[ms[i].Key] = d
				keys = append(keys, ms[i].Key)
			}
			d.Delta += ms[i].Qty
			d.LastPosition = ms[i].Position
		}
		sortKeys(keys)
		deltas := make([]ledger.BalanceDelta, len(keys))
		for i, k := range keys {
			deltas[i] = *sums[k]
		}
		if err := tx.InsertMovements(ctx, ms); err != nil {
			return err
		}
		if err := tx.AddBalances(ctx, f.tenant.ID, st.NextChange, deltas); err != nil {
			return err
		}
		st.NextChange++
		return tx.SetLedger(ctx, st)
	})
	f.nextPos += int64(len(ms))
	return ms
}

func sortKeys(keys []ledger.Key) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j].Less(keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

// opRecord builds a canonical op log entry for an operation of the device.
func (f *fixture) opRecord(t *testing.T, seq int64, op ledger.Operation, status ledger.Status) ledger.OpRecord {
	t.Helper()
	op.Seq = 0
	payload, err := json.Marshal(op)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	return ledger.OpRecord{
		TenantID: f.tenant.ID, DeviceID: f.device.ID, Seq: seq, OpID: op.OpID, Kind: op.Kind,
		Payload: payload, PayloadHash: sum[:], ReceivedAt: f.t0.Add(time.Minute), EffectiveAt: op.OccurredAt,
		Result:    ledger.Result{OpID: op.OpID, Seq: seq, Status: status},
		Canonical: true, Posted: status == ledger.StatusApplied || status == ledger.StatusFlagged,
	}
}

func mustEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func wantCode(t *testing.T, what string, err error, code ledger.Code) {
	t.Helper()
	if got := ledger.ErrorCode(err); got != code {
		t.Fatalf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}
