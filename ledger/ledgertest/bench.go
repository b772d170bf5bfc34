package ledgertest

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// BenchMerge measures Ledger.Merge of shift-end pushes (1,000 mixed
// operations each: 30% receipts, 55% picks on orders, 10% transfers, 4%
// adjustments, 1% counts) against the raw write of the same op log rows and
// movements through the store's bulk writers (COPY on PostgreSQL, prepared
// inserts on SQLite) in one transaction, timed side by side in the same loop.
// It reports both rates and their ratio (merge/raw). The baseline writes
// under another tenant, so the two never touch each other's rows.
func BenchMerge(b *testing.B, store ledger.Store) {
	ctx := context.Background()
	const opsPerPush, items, bins = 1000, 400, 60
	l := ledger.New(store, ledger.Options{})
	tenant, err := l.CreateTenant(ctx, "bench", "", &ledger.Settings{CountVarianceThreshold: 1000, ClockUncertainty: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	baseline, err := l.CreateTenant(ctx, "baseline", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	cat := ledger.Catalog{Warehouses: []ledger.WarehouseInput{{Code: "W1", Name: "Main"}}}
	for i := 0; i < bins; i++ {
		cat.Locations = append(cat.Locations, ledger.LocationInput{Warehouse: "W1", Code: fmt.Sprintf("B%02d", i)})
	}
	for i := 0; i < items; i++ {
		cat.Items = append(cat.Items, ledger.ItemInput{SKU: fmt.Sprintf("SKU%04d", i), Name: "item", Unit: "pcs",
			Barcodes: []string{fmt.Sprintf("40%011d", i)}, BatchTracked: i%5 == 0})
	}
	for _, t := range []uuid.UUID{tenant.ID, baseline.ID} {
		if _, err := l.UpsertCatalog(ctx, t, cat); err != nil {
			b.Fatal(err)
		}
	}
	ids, err := catalogIDs(ctx, store, baseline.ID)
	if err != nil {
		b.Fatal(err)
	}
	gen := &shiftGen{rng: rand.New(rand.NewSource(1)), items: items, bins: bins}
	var mergeTime, rawTime time.Duration
	var merged int
	position := int64(1)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		dev, err := l.RegisterDevice(ctx, tenant.ID, ledger.DeviceInput{Warehouse: "W1", Name: fmt.Sprintf("hh-%d", n)})
		if err != nil {
			b.Fatal(err)
		}
		rawDev, err := l.RegisterDevice(ctx, baseline.ID, ledger.DeviceInput{Warehouse: "W1", Name: fmt.Sprintf("hh-%d", n)})
		if err != nil {
			b.Fatal(err)
		}
		ops := gen.push(opsPerPush)
		recs, movs := rawRows(baseline.ID, rawDev.ID, ids, ops, &position)
		b.StartTimer()

		start := time.Now()
		resp, err := l.Merge(ctx, ledger.MergeRequest{TenantID: tenant.ID, DeviceID: dev.ID, DeviceTime: time.Now(), Ops: ops})
		mergeTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range resp.Results {
			if r.Status == ledger.StatusRejected || r.Status == ledger.StatusHeld {
				b.Fatalf("bench op not merged: %+v", r)
			}
		}
		merged += len(ops)

		start = time.Now()
		err = store.Write(ctx, baseline.ID, func(tx ledger.Tx) error {
			if err := tx.InsertOps(ctx, recs); err != nil {
				return err
			}
			return tx.InsertMovements(ctx, movs)
		})
		if err != nil {
			b.Fatal(err)
		}
		rawTime += time.Since(start)
	}
	b.StopTimer()
	mergeRate := float64(merged) / mergeTime.Seconds()
	rawRate := float64(merged) / rawTime.Seconds()
	b.ReportMetric(mergeRate, "merged-ops/s")
	b.ReportMetric(rawRate, "raw-ops/s")
	b.ReportMetric(mergeRate/rawRate, "merge/raw")
	if ds, err := l.Check(ctx, tenant.ID); err != nil || len(ds) > 0 {
		b.Fatalf("check after bench: %v %v", ds, err)
	}
}

// stockedKey is a bin, item and batch that has received stock.
type stockedKey struct {
	item  int
	bin   string
	batch string
}

// shiftGen makes shift-end pushes: receipts into bins, and picks on orders,
// transfers and adjustments of what was received before, with the odd
// cycle count, so most operations apply cleanly as on a real floor.
type shiftGen struct {
	rng     *rand.Rand
	items   int
	bins    int
	stocked []stockedKey
	pushes  int
}

func (g *shiftGen) push(n int) []ledger.Operation {
	g.pushes++
	ops := make([]ledger.Operation, n)
	t := time.Now().Add(-8 * time.Hour)
	for i := range ops {
		op := ledger.Operation{OpID: uuid.Must(uuid.NewV7()), Seq: int64(i + 1),
			OccurredAt: t.Add(time.Duration(i) * 20 * time.Second), Actor: "badge-17"}
		r := g.rng.Intn(100)
		if r < 30 || len(g.stocked) < 50 {
			k := stockedKey{item: g.rng.Intn(g.items), bin: fmt.Sprintf("B%02d", g.rng.Intn(g.bins))}
			if k.item%5 == 0 {
				k.batch = fmt.Sprintf("LOT%d", g.rng.Intn(3))
			}
			g.stocked = append(g.stocked, k)
			op.Kind, op.Ref, op.Qty = ledger.KindReceive, "PO-1", int64(20+g.rng.Intn(30))
			op.SKU, op.Location, op.Batch = fmt.Sprintf("SKU%04d", k.item), k.bin, k.batch
			ops[i] = op
			continue
		}
		k := g.stocked[g.rng.Intn(len(g.stocked))]
		op.SKU, op.Location, op.Batch, op.Qty = fmt.Sprintf("SKU%04d", k.item), k.bin, k.batch, int64(1+g.rng.Intn(2))
		switch {
		case r < 85:
			// Orders of this push: about 150, a few lines each.
			op.Kind, op.Order = ledger.KindPick, fmt.Sprintf("SO-%d-%d", g.pushes, g.rng.Intn(150))
		case r < 95:
			op.Kind, op.ToLocation = ledger.KindTransfer, fmt.Sprintf("B%02d", g.rng.Intn(g.bins))
			if op.ToLocation == op.Location {
				op.Kind, op.ToLocation, op.Order = ledger.KindPick, "", fmt.Sprintf("SO-%d-0", g.pushes)
			}
		case r < 99:
			op.Kind, op.Reason, op.Qty = ledger.KindAdjust, "damaged", -1
		default:
			op.Kind, op.Qty = ledger.KindCount, 5
		}
		ops[i] = op
	}
	return ops
}

// rawRows builds, for the baseline tenant, one op log row per operation and
// the movements an ordinary merge of them would write.
func rawRows(tenantID, deviceID uuid.UUID, ids map[string]uuid.UUID, ops []ledger.Operation, position *int64) ([]ledger.OpRecord, []ledger.Movement) {
	recs := make([]ledger.OpRecord, len(ops))
	var movs []ledger.Movement
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i, op := range ops {
		payload := fmt.Appendf(nil, `{"op_id":%q,"kind":%q,"occurred_at":%q,"sku":%q,"qty":%d,"location":%q}`,
			op.OpID, op.Kind, op.OccurredAt.Format(time.RFC3339Nano), op.SKU, op.Qty, op.Location)
		recs[i] = ledger.OpRecord{TenantID: tenantID, DeviceID: deviceID, Seq: op.Seq, OpID: op.OpID, Kind: op.Kind,
			Payload: payload, PayloadHash: payload[:32], ReceivedAt: now, EffectiveAt: op.OccurredAt.UTC().Truncate(time.Microsecond),
			Result: ledger.Result{OpID: op.OpID, Seq: op.Seq, Status: ledger.StatusApplied}, Canonical: true, Posted: true}
		n := 1
		if op.Kind == ledger.KindTransfer {
			n = 2
		}
		for j := 0; j < n; j++ {
			loc := op.Location
			if j == 1 {
				loc = op.ToLocation
			}
			movs = append(movs, ledger.Movement{TenantID: tenantID, Position: *position,
				Key: ledger.Key{LocationID: ids[loc], ItemID: ids[op.SKU]}, Qty: op.Qty,
				Kind: ledger.MoveReceive, EffectiveAt: recs[i].EffectiveAt, RecordedAt: now, OpID: op.OpID, DeviceID: deviceID, Order: op.Order})
			*position++
		}
	}
	return recs, movs
}

// catalogIDs maps the bench catalog's bin codes and SKUs to their IDs.
func catalogIDs(ctx context.Context, store ledger.Store, tenantID uuid.UUID) (map[string]uuid.UUID, error) {
	ids := map[string]uuid.UUID{}
	err := store.Read(ctx, func(tx ledger.ReadTx) error {
		whs, err := tx.Warehouses(ctx, tenantID, nil)
		if err != nil {
			return err
		}
		if len(whs) != 1 {
			return fmt.Errorf("bench catalog has %d warehouses, want 1", len(whs))
		}
		var bins, skus []string
		for i := 0; i < 100; i++ {
			bins = append(bins, fmt.Sprintf("B%02d", i))
		}
		for i := 0; i < 1000; i++ {
			skus = append(skus, fmt.Sprintf("SKU%04d", i))
		}
		locs, err := tx.LocationsByCode(ctx, tenantID, whs[0].ID, bins)
		if err != nil {
			return err
		}
		for _, l := range locs {
			ids[l.Code] = l.ID
		}
		items, err := tx.ItemsBySKU(ctx, tenantID, skus)
		for _, it := range items {
			ids[it.SKU] = it.ID
		}
		return err
	})
	return ids, err
}
