package postgres_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

func (f *fixture) op(kind ledger.Kind, sku, loc string, qty int64, at time.Time) ledger.Operation {
	return ledger.Operation{OpID: newID(), Kind: kind, OccurredAt: at, SKU: sku, Location: loc, Qty: qty}
}

func TestOpsInsertAndLookup(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3, 40} { // one INSERT, and COPY
		t.Run(map[int]string{3: "insert", 40: "copy"}[n], func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			tid := f.tenant.ID
			other := ledger.Device{TenantID: tid, ID: newID(), WarehouseID: f.wh.ID, Name: "hh-2", BatchPrefix: "HH2", CreatedAt: f.t0}
			var recs []ledger.OpRecord
			for i := 1; i <= n; i++ {
				r := f.opRecord(t, int64(i), f.op(ledger.KindReceive, "PLAIN", "A", int64(i), f.t0.Add(time.Duration(i)*time.Second)), ledger.StatusApplied)
				if i == 2 {
					r.Result = ledger.Result{OpID: r.OpID, Seq: 2, Status: ledger.StatusFlagged, Code: "negative_stock",
						Message: "oversold", ReviewIDs: []uuid.UUID{newID()}, Batch: "B7", Allocations: []ledger.Allocation{{Batch: "B7", Qty: 2}}}
				}
				recs = append(recs, r)
			}
			// Seq 2 of the device again, as a non-canonical renumbered replay
			// would be logged under a new seq: here seq n+1 records op 2.
			renumbered := recs[1]
			renumbered.Seq, renumbered.Canonical, renumbered.Posted = int64(n+1), false, false
			renumbered.EffectiveAt = time.Time{}
			renumbered.Result = ledger.Result{OpID: renumbered.OpID, Seq: int64(n + 1), Status: ledger.StatusApplied, Replayed: true}
			recs = append(recs, renumbered)
			// An op of another device, found only by op_id.
			foreign := f.opRecord(t, 1, f.op(ledger.KindPick, "PLAIN", "A", 1, f.t0), ledger.StatusHeld)
			foreign.DeviceID = other.ID
			f.write(t, func(tx ledger.Tx) error {
				if err := tx.InsertDevice(ctx, other); err != nil {
					return err
				}
				if err := tx.InsertOps(ctx, recs); err != nil {
					return err
				}
				return tx.InsertOps(ctx, []ledger.OpRecord{foreign})
			})

			f.read(t, func(tx ledger.ReadTx) error {
				got, err := tx.LookupOps(ctx, tid, f.device.ID, 2, 3, []uuid.UUID{recs[1].OpID, foreign.OpID, newID()})
				if err != nil {
					return err
				}
				mustEqual(t, "seq range and op_id hits, each once", got, []ledger.OpRecord{recs[1], recs[2], foreign})
				got, err = tx.LookupOps(ctx, tid, f.device.ID, int64(n+1), int64(n+5), nil)
				if err != nil {
					return err
				}
				mustEqual(t, "non-canonical entries in range", got, []ledger.OpRecord{renumbered})
				got, err = tx.LookupOps(ctx, tid, other.ID, 5, 9, []uuid.UUID{recs[0].OpID})
				if err != nil {
					return err
				}
				mustEqual(t, "op_id of another device", got, []ledger.OpRecord{recs[0]})
				got, err = tx.LookupOps(ctx, newID(), f.device.ID, 1, 100, []uuid.UUID{recs[0].OpID})
				if err != nil {
					return err
				}
				mustEqual(t, "other tenant", len(got), 0)
				return nil
			})

			// A seq is taken once; an op_id is canonical once.
			dupSeq := f.opRecord(t, 1, f.op(ledger.KindReceive, "PLAIN", "A", 1, f.t0), ledger.StatusApplied)
			wantCode(t, "seq taken", f.store.Write(ctx, tid, func(tx ledger.Tx) error {
				return tx.InsertOps(ctx, []ledger.OpRecord{dupSeq})
			}), ledger.CodeConflict)
			dupOp := recs[0]
			dupOp.Seq = 1000
			wantCode(t, "canonical op_id taken", f.store.Write(ctx, tid, func(tx ledger.Tx) error {
				return tx.InsertOps(ctx, []ledger.OpRecord{dupOp})
			}), ledger.CodeConflict)

			held := foreign
			f.write(t, func(tx ledger.Tx) error { return tx.MarkOpsPosted(ctx, tid, []uuid.UUID{held.OpID, renumbered.OpID}) })
			f.read(t, func(tx ledger.ReadTx) error {
				got, err := tx.LookupOps(ctx, tid, f.device.ID, int64(n+1), int64(n+1), []uuid.UUID{held.OpID})
				if err != nil {
					return err
				}
				held.Posted = true
				// Only canonical entries are marked: the renumbered one stays.
				mustEqual(t, "posted", got, []ledger.OpRecord{renumbered, held})
				return nil
			})
		})
	}
}

func TestQueryOpLogWithConflicts(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tid := f.tenant.ID
	r1 := f.opRecord(t, 1, f.op(ledger.KindReceive, "PLAIN", "A", 1, f.t0), ledger.StatusApplied)
	r2 := f.opRecord(t, 2, f.op(ledger.KindPick, "PLAIN", "A", 1, f.t0), ledger.StatusRejected)
	r3 := f.opRecord(t, 3, f.op(ledger.KindPick, "PLAIN", "A", 1, f.t0), ledger.StatusApplied)
	c2op := f.op(ledger.KindAdjust, "PLAIN", "A", 1, f.t0)
	conflict := ledger.OpConflict{TenantID: tid, ID: newID(), DeviceID: f.device.ID, Seq: 2, OpID: c2op.OpID,
		Payload: f.opRecord(t, 2, c2op, ledger.StatusRejected).Payload, PayloadHash: []byte{1, 2, 3},
		ReceivedAt: f.t0.Add(time.Hour), Result: ledger.Result{OpID: c2op.OpID, Seq: 2, Status: ledger.StatusRejected, Code: ledger.CodeOpConflict}}
	f.write(t, func(tx ledger.Tx) error {
		if err := tx.InsertOps(ctx, []ledger.OpRecord{r1, r2, r3}); err != nil {
			return err
		}
		return tx.InsertOpConflicts(ctx, []ledger.OpConflict{conflict})
	})
	asEntry := ledger.OpLogEntry{Conflict: true, OpRecord: ledger.OpRecord{
		TenantID: tid, DeviceID: conflict.DeviceID, Seq: 2, OpID: conflict.OpID, Kind: ledger.KindAdjust,
		Payload: conflict.Payload, PayloadHash: conflict.PayloadHash, ReceivedAt: conflict.ReceivedAt, Result: conflict.Result,
	}}
	e := func(r ledger.OpRecord) ledger.OpLogEntry { return ledger.OpLogEntry{OpRecord: r} }
	cases := []struct {
		name   string
		filter ledger.OpLogFilter
		want   []ledger.OpLogEntry
	}{
		{"all", ledger.OpLogFilter{}, []ledger.OpLogEntry{e(r1), e(r2), asEntry, e(r3)}},
		{"device", ledger.OpLogFilter{DeviceID: f.device.ID}, []ledger.OpLogEntry{e(r1), e(r2), asEntry, e(r3)}},
		{"other device", ledger.OpLogFilter{DeviceID: newID()}, nil},
		{"rejected", ledger.OpLogFilter{Status: ledger.StatusRejected}, []ledger.OpLogEntry{e(r2), asEntry}},
		{"after seq", ledger.OpLogFilter{AfterSeq: 1}, []ledger.OpLogEntry{e(r2), asEntry, e(r3)}},
		{"limit", ledger.OpLogFilter{Limit: 3}, []ledger.OpLogEntry{e(r1), e(r2), asEntry}},
	}
	for _, c := range cases {
		f.read(t, func(tx ledger.ReadTx) error {
			got, err := tx.QueryOpLog(ctx, tid, c.filter)
			if err != nil {
				return err
			}
			if len(c.want) == 0 {
				mustEqual(t, c.name, len(got), 0)
			} else {
				mustEqual(t, c.name, got, c.want)
			}
			return nil
		})
	}
}

func TestMovementsAndBalances(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tid := f.tenant.ID
	kA := f.key(f.binA, f.plain, ledger.Batch{})
	kB := f.key(f.binB, f.plain, ledger.Batch{})
	kL1 := f.key(f.binA, f.lot, f.l1)
	recv, correctsOp, review := newID(), newID(), newID()
	first := f.post(t,
		ledger.Movement{Key: kA, Qty: 10, Kind: ledger.MoveReceive, EffectiveAt: f.t0, OpID: recv, DeviceID: f.device.ID},
		ledger.Movement{Key: kA, Qty: -4, Kind: ledger.MoveTransferOut, EffectiveAt: f.t0.Add(time.Minute), OpID: correctsOp, DeviceID: f.device.ID},
		ledger.Movement{Key: kB, Qty: 4, Kind: ledger.MoveTransferIn, EffectiveAt: f.t0.Add(time.Minute), OpID: correctsOp, DeviceID: f.device.ID},
	)
	// Enough rows for the COPY path, including NULL-able fields set and unset.
	var many []ledger.Movement
	for i := range 30 {
		m := ledger.Movement{Key: kL1, Qty: 1, Kind: ledger.MovePick, EffectiveAt: f.t0.Add(time.Duration(i) * time.Hour), OpID: newID(), DeviceID: f.device.ID, Order: "SO-1"}
		if i == 29 {
			m = ledger.Movement{Key: kA, Qty: 2, Kind: ledger.MoveResolution, EffectiveAt: f.t0.Add(48 * time.Hour), ReviewID: review, Corrects: correctsOp}
		}
		many = append(many, m)
	}
	many = f.post(t, many...)

	f.read(t, func(tx ledger.ReadTx) error {
		bal, err := tx.Balances(ctx, tid, []ledger.Key{kA, kB, kL1, f.key(f.binB, f.lot, f.l2)})
		if err != nil {
			return err
		}
		mustEqual(t, "balances accumulate", bal, map[ledger.Key]int64{kA: 8, kB: 4, kL1: 29})

		n, err := tx.StockAsOf(ctx, tid, kA, f.t0.Add(30*time.Second))
		if err != nil {
			return err
		}
		mustEqual(t, "stock as of before the transfer", n, int64(10))
		n, err = tx.StockAsOf(ctx, tid, kA, f.t0.Add(time.Minute))
		if err != nil {
			return err
		}
		mustEqual(t, "stock as of the transfer's time (inclusive)", n, int64(6))
		n, err = tx.StockAsOf(ctx, tid, kA, f.t0.Add(-time.Second))
		if err != nil {
			return err
		}
		mustEqual(t, "stock before anything", n, int64(0))

		ms, err := tx.MovementsBetween(ctx, tid, kL1, f.t0.Add(2*time.Hour), f.t0.Add(4*time.Hour))
		if err != nil {
			return err
		}
		mustEqual(t, "movements between", ms, many[2:5])

		ms, err = tx.MovementsOfOp(ctx, tid, correctsOp)
		if err != nil {
			return err
		}
		mustEqual(t, "movements of op, with its correction", ms, []ledger.Movement{first[1], first[2], many[29]})
		return nil
	})

	// Balances of one key accumulate across transactions; positions and
	// change numbers are stamped.
	f.post(t, ledger.Movement{Key: kA, Qty: -8, Kind: ledger.MovePick, EffectiveAt: f.t0})
	var onHand, last, changed int64
	err := f.store.Pool().QueryRow(ctx, `SELECT on_hand, last_position, changed FROM balances
		WHERE tenant_id = $1 AND location_id = $2 AND item_id = $3 AND batch_id = $4`, tid, kA.LocationID, kA.ItemID, kA.BatchID).
		Scan(&onHand, &last, &changed)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "balance row", [3]int64{onHand, last, changed}, [3]int64{0, 34, 3})

	wantCode(t, "position taken", f.store.Write(ctx, tid, func(tx ledger.Tx) error {
		return tx.InsertMovements(ctx, []ledger.Movement{{TenantID: tid, Position: 1, Key: kA, Qty: 1, Kind: ledger.MoveAdjust, EffectiveAt: f.t0, RecordedAt: f.t0}})
	}), ledger.CodeConflict)
}

func TestQueryBalances(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tid := f.tenant.ID
	kA := f.key(f.binA, f.plain, ledger.Batch{})
	kB := f.key(f.binB, f.plain, ledger.Batch{})
	kL1 := f.key(f.binA, f.lot, f.l1)
	kL2 := f.key(f.binA, f.lot, f.l2)
	f.post(t,
		ledger.Movement{Key: kA, Qty: 10, Kind: ledger.MoveReceive, EffectiveAt: f.t0},
		ledger.Movement{Key: kB, Qty: 3, Kind: ledger.MoveReceive, EffectiveAt: f.t0.Add(2 * time.Hour)},
		ledger.Movement{Key: kL1, Qty: 5, Kind: ledger.MoveReceive, EffectiveAt: f.t0},
		ledger.Movement{Key: kL2, Qty: 7, Kind: ledger.MoveReceive, EffectiveAt: f.t0},
		ledger.Movement{Key: kL2, Qty: -7, Kind: ledger.MovePick, EffectiveAt: f.t0.Add(3 * time.Hour)},
		// Late arrival: effective before the pick, recorded after it.
		ledger.Movement{Key: kA, Qty: -4, Kind: ledger.MovePick, EffectiveAt: f.t0.Add(time.Hour)},
	)
	row := func(k ledger.Key, loc, sku, batch string, n int64) ledger.BalanceRow {
		return ledger.BalanceRow{Key: k, Warehouse: "W1", Location: loc, SKU: sku, Batch: batch, OnHand: n}
	}
	cases := []struct {
		name   string
		filter ledger.BalanceFilter
		want   []ledger.BalanceRow
	}{
		{"all, ordered by warehouse, location, sku, batch", ledger.BalanceFilter{},
			[]ledger.BalanceRow{row(kL1, "A", "LOT", "L1", 5), row(kL2, "A", "LOT", "L2", 0), row(kA, "A", "PLAIN", "", 6), row(kB, "B", "PLAIN", "", 3)}},
		{"non-zero", ledger.BalanceFilter{NonZero: true},
			[]ledger.BalanceRow{row(kL1, "A", "LOT", "L1", 5), row(kA, "A", "PLAIN", "", 6), row(kB, "B", "PLAIN", "", 3)}},
		{"location", ledger.BalanceFilter{Warehouse: "W1", Location: "B"}, []ledger.BalanceRow{row(kB, "B", "PLAIN", "", 3)}},
		{"sku and batch", ledger.BalanceFilter{SKU: "LOT", Batch: "L2"}, []ledger.BalanceRow{row(kL2, "A", "LOT", "L2", 0)}},
		{"unknown warehouse", ledger.BalanceFilter{Warehouse: "W9"}, nil},
		{"as of: movements effective by then", ledger.BalanceFilter{AsOf: f.t0.Add(90 * time.Minute)},
			[]ledger.BalanceRow{row(kL1, "A", "LOT", "L1", 5), row(kL2, "A", "LOT", "L2", 7), row(kA, "A", "PLAIN", "", 6)}},
		{"as of, inclusive", ledger.BalanceFilter{AsOf: f.t0.Add(3 * time.Hour), NonZero: true},
			[]ledger.BalanceRow{row(kL1, "A", "LOT", "L1", 5), row(kA, "A", "PLAIN", "", 6), row(kB, "B", "PLAIN", "", 3)}},
		{"as of before the late pick", ledger.BalanceFilter{AsOf: f.t0.Add(59 * time.Minute), SKU: "PLAIN"},
			[]ledger.BalanceRow{row(kA, "A", "PLAIN", "", 10)}},
	}
	for _, c := range cases {
		f.read(t, func(tx ledger.ReadTx) error {
			got, err := tx.QueryBalances(ctx, tid, c.filter)
			if err != nil {
				return err
			}
			st, err := tx.LedgerState(ctx, tid)
			if err != nil {
				return err
			}
			if len(c.want) == 0 {
				mustEqual(t, c.name, len(got), 0)
			} else {
				// Current balances carry the change f.post stamped; stock
				// as of a time has none.
				want := slices.Clone(c.want)
				for i := range want {
					if c.filter.AsOf.IsZero() {
						want[i].Changed = st.NextChange - 1
					}
				}
				mustEqual(t, c.name, got, want)
			}
			return nil
		})
	}
}

func TestQueryMovements(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tid := f.tenant.ID
	kA := f.key(f.binA, f.plain, ledger.Batch{})
	kL1 := f.key(f.binB, f.lot, f.l1)
	op1, op2 := newID(), newID()
	ms := f.post(t,
		ledger.Movement{Key: kA, Qty: 10, Kind: ledger.MoveReceive, EffectiveAt: f.t0, OpID: op1, DeviceID: f.device.ID},
		ledger.Movement{Key: kL1, Qty: 5, Kind: ledger.MoveReceive, EffectiveAt: f.t0, OpID: op2, DeviceID: f.device.ID},
		ledger.Movement{Key: kA, Qty: -2, Kind: ledger.MovePick, EffectiveAt: f.t0, OpID: newID(), DeviceID: f.device.ID, Order: "SO-9"},
		ledger.Movement{Key: kL1, Qty: -1, Kind: ledger.MovePick, EffectiveAt: f.t0, OpID: newID(), DeviceID: f.device.ID, Order: "SO-9"},
		ledger.Movement{Key: kA, Qty: 1, Kind: ledger.MoveResolution, EffectiveAt: f.t0, Corrects: op1, ReviewID: newID()},
	)
	row := func(m ledger.Movement) ledger.MovementRow {
		r := ledger.MovementRow{Movement: m, Warehouse: "W1", Location: "A", SKU: "PLAIN"}
		if m.Key == kL1 {
			r.Location, r.SKU, r.Batch = "B", "LOT", "L1"
		}
		return r
	}
	cases := []struct {
		name   string
		filter ledger.MovementFilter
		want   []int
	}{
		{"all", ledger.MovementFilter{}, []int{0, 1, 2, 3, 4}},
		{"location", ledger.MovementFilter{Warehouse: "W1", Location: "B"}, []int{1, 3}},
		{"sku", ledger.MovementFilter{SKU: "PLAIN"}, []int{0, 2, 4}},
		{"batch", ledger.MovementFilter{Batch: "L1"}, []int{1, 3}},
		{"order", ledger.MovementFilter{Order: "SO-9"}, []int{2, 3}},
		{"op and its corrections", ledger.MovementFilter{OpID: op1}, []int{0, 4}},
		{"after position, limit", ledger.MovementFilter{AfterPosition: 1, Limit: 2}, []int{1, 2}},
		{"nothing", ledger.MovementFilter{Order: "SO-0"}, nil},
	}
	for _, c := range cases {
		f.read(t, func(tx ledger.ReadTx) error {
			got, err := tx.QueryMovements(ctx, tid, c.filter)
			if err != nil {
				return err
			}
			var want []ledger.MovementRow
			for _, i := range c.want {
				want = append(want, row(ms[i]))
			}
			if len(want) == 0 {
				mustEqual(t, c.name, len(got), 0)
			} else {
				mustEqual(t, c.name, got, want)
			}
			return nil
		})
	}
}

func TestOrderLinesAndCounts(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tid := f.tenant.ID
	lines := []ledger.OrderLine{
		{Order: "SO-1", ItemID: f.lot.ID, BatchID: f.l2.ID, Shipped: 3, FirstPosition: 7},
		{Order: "SO-1", ItemID: f.lot.ID, BatchID: f.l1.ID, Shipped: 5, Returned: 1, FirstPosition: 2},
		{Order: "SO-2", ItemID: f.plain.ID, BatchID: ledger.NoBatch, Shipped: 1, FirstPosition: 9},
	}
	kA := f.key(f.binA, f.plain, ledger.Batch{})
	count := ledger.CountRecord{OpID: newID(), DeviceID: f.device.ID, Key: kA, EffectiveAt: f.t0, Counted: 7, Expected: 5, Adjusted: 2}
	f.write(t, func(tx ledger.Tx) error {
		if err := tx.UpsertOrderLines(ctx, tid, lines); err != nil {
			return err
		}
		return tx.UpsertCounts(ctx, tid, []ledger.CountRecord{count})
	})
	// Full values, not deltas.
	lines[0].Shipped, lines[0].Returned = 4, 2
	count.Expected, count.Adjusted = 6, 1
	f.write(t, func(tx ledger.Tx) error {
		if err := tx.UpsertOrderLines(ctx, tid, lines[:1]); err != nil {
			return err
		}
		return tx.UpsertCounts(ctx, tid, []ledger.CountRecord{count})
	})
	f.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.OrderLines(ctx, tid, []string{"SO-1", "SO-3"})
		if err != nil {
			return err
		}
		mustEqual(t, "order lines", got, []ledger.OrderLine{lines[1], lines[0]})
		counts, err := tx.CountsOnKeys(ctx, tid, []ledger.Key{kA, f.key(f.binB, f.plain, ledger.Batch{})})
		if err != nil {
			return err
		}
		mustEqual(t, "counts", counts, []ledger.CountRecord{count})
		return nil
	})
}

func TestReviews(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tid := f.tenant.ID
	kA := f.key(f.binA, f.plain, ledger.Batch{})
	dev2 := newID()
	onHand := int64(-2)
	neg := ledger.Review{TenantID: tid, ID: newID(), Kind: ledger.ReviewNegativeStock, Severity: ledger.SeverityHigh,
		Status: ledger.ReviewOpen, OpID: newID(), DeviceID: f.device.ID, Key: kA, OpenedAt: f.t0, Changed: 1,
		Evidence: ledger.Evidence{Warehouse: "W1", Location: "A", SKU: "PLAIN", OnHand: &onHand,
			Nearby: []ledger.NearbyMovement{{OpID: newID(), Kind: "pick", Qty: -3, EffectiveAt: f.t0}}},
		Suggestions: []ledger.Suggestion{{Action: ledger.ActionAdjust, Label: "Adjust", Qty: 2}},
	}
	unknown := ledger.Review{TenantID: tid, ID: newID(), Kind: ledger.ReviewUnknownOrder, Severity: ledger.SeverityMedium,
		Status: ledger.ReviewOpen, OpID: newID(), DeviceID: dev2, Key: f.key(f.binB, f.lot, f.l1), Order: "SO-7",
		OpenedAt: f.t0.Add(time.Minute), Changed: 1,
		Evidence: ledger.Evidence{Unknown: []ledger.Reference{{Field: "sku", Value: "X"}}}}
	other := ledger.Review{TenantID: tid, ID: newID(), Kind: ledger.ReviewUnknownReference, Severity: ledger.SeverityHigh,
		Status: ledger.ReviewOpen, OpID: newID(), DeviceID: f.device.ID, OpenedAt: f.t0.Add(2 * time.Minute), Changed: 1}
	f.write(t, func(tx ledger.Tx) error { return tx.UpsertReviews(ctx, []ledger.Review{neg, unknown, other}) })
	neg.Ops = []ledger.ReviewOp{{OpID: neg.OpID, DeviceID: neg.DeviceID}}
	unknown.Ops = []ledger.ReviewOp{{OpID: unknown.OpID, DeviceID: dev2}}
	other.Ops = []ledger.ReviewOp{{OpID: other.OpID, DeviceID: other.DeviceID}}

	// A second operation joins, passed with the full list; a third is
	// passed alone. The opening operation stays first.
	joined1 := ledger.ReviewOp{OpID: uuid.MustParse("00000000-0000-7000-8000-000000000001"), DeviceID: dev2}
	joined2 := ledger.ReviewOp{OpID: uuid.MustParse("00000000-0000-7000-8000-000000000000"), DeviceID: f.device.ID}
	neg.Ops = append(neg.Ops, joined1)
	neg.Changed = 2
	f.write(t, func(tx ledger.Tx) error { return tx.UpsertReviews(ctx, []ledger.Review{neg}) })
	neg.Ops = []ledger.ReviewOp{joined2}
	f.write(t, func(tx ledger.Tx) error { return tx.UpsertReviews(ctx, []ledger.Review{neg}) })
	neg.Ops = []ledger.ReviewOp{{OpID: neg.OpID, DeviceID: neg.DeviceID}, joined1, joined2}

	f.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.Review(ctx, tid, neg.ID)
		if err != nil {
			return err
		}
		mustEqual(t, "review with ops in order", got, neg)
		_, err = tx.Review(ctx, tid, newID())
		wantCode(t, "unknown review", err, ledger.CodeNotFound)

		open, err := tx.OpenReviews(ctx, tid, []ledger.Key{kA}, []string{"SO-7"})
		if err != nil {
			return err
		}
		// The merge's reads carry only each review's opening operation.
		negOpening := neg
		negOpening.KeepOpeningOp()
		mustEqual(t, "open reviews by key or order", open, []ledger.Review{negOpening, unknown})
		open, err = tx.OpenReviews(ctx, tid, nil, []string{"SO-7"})
		if err != nil {
			return err
		}
		mustEqual(t, "open reviews by order", open, []ledger.Review{unknown})
		return nil
	})

	// Resolve one: it leaves the open set.
	neg.Status, neg.Changed = ledger.ReviewResolved, 3
	neg.Resolution = &ledger.ResolutionRecord{Action: ledger.ActionAdjust, By: "boss", At: f.t0.Add(time.Hour), Qty: 2, Positions: []int64{5}}
	f.write(t, func(tx ledger.Tx) error { return tx.UpsertReviews(ctx, []ledger.Review{neg}) })

	cases := []struct {
		name   string
		filter ledger.ReviewFilter
		want   []ledger.Review
	}{
		{"all by opened_at", ledger.ReviewFilter{}, []ledger.Review{neg, unknown, other}},
		{"open", ledger.ReviewFilter{Status: ledger.ReviewOpen}, []ledger.Review{unknown, other}},
		{"resolved", ledger.ReviewFilter{Status: ledger.ReviewResolved}, []ledger.Review{neg}},
		{"kind", ledger.ReviewFilter{Kind: ledger.ReviewUnknownOrder}, []ledger.Review{unknown}},
		{"device, any op", ledger.ReviewFilter{DeviceID: dev2}, []ledger.Review{neg, unknown}},
		{"op that joined", ledger.ReviewFilter{OpID: joined2.OpID}, []ledger.Review{neg}},
		{"limit", ledger.ReviewFilter{Limit: 2}, []ledger.Review{neg, unknown}},
		{"none", ledger.ReviewFilter{OpID: newID()}, nil},
	}
	for _, c := range cases {
		f.read(t, func(tx ledger.ReadTx) error {
			got, err := tx.QueryReviews(ctx, tid, c.filter)
			if err != nil {
				return err
			}
			if len(c.want) == 0 {
				mustEqual(t, c.name, len(got), 0)
			} else {
				mustEqual(t, c.name, got, c.want)
			}
			return nil
		})
	}
	f.read(t, func(tx ledger.ReadTx) error {
		open, err := tx.OpenReviews(ctx, tid, []ledger.Key{kA}, nil)
		if err != nil {
			return err
		}
		mustEqual(t, "resolved review is not open", len(open), 0)
		return nil
	})
}

func TestCheckConsistency(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tid := f.tenant.ID
	kA := f.key(f.binA, f.plain, ledger.Batch{})
	kB := f.key(f.binB, f.plain, ledger.Batch{})
	rec := f.opRecord(t, 1, f.op(ledger.KindReceive, "PLAIN", "A", 10, f.t0), ledger.StatusApplied)
	f.write(t, func(tx ledger.Tx) error { return tx.InsertOps(ctx, []ledger.OpRecord{rec}) })
	f.post(t,
		ledger.Movement{Key: kA, Qty: 10, Kind: ledger.MoveReceive, EffectiveAt: f.t0, OpID: rec.OpID},
		ledger.Movement{Key: kB, Qty: 3, Kind: ledger.MoveReceive, EffectiveAt: f.t0},
		ledger.Movement{Key: kB, Qty: -3, Kind: ledger.MovePick, EffectiveAt: f.t0},
	)
	check := func() []ledger.Discrepancy {
		t.Helper()
		var ds []ledger.Discrepancy
		f.read(t, func(tx ledger.ReadTx) error {
			var err error
			ds, err = tx.CheckConsistency(ctx, tid)
			return err
		})
		for i := range ds {
			ds[i].Message = "" // checked for presence below, not wording
		}
		return ds
	}
	mustEqual(t, "clean ledger", len(check()), 0)

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := f.store.Pool().Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	// Corrupt a balance, drop another (its movements sum to zero: fine),
	// post an op with no movements, and leave a gap in the positions.
	exec(`UPDATE balances SET on_hand = 7 WHERE tenant_id = $1 AND location_id = $2`, tid, kA.LocationID)
	exec(`DELETE FROM balances WHERE tenant_id = $1 AND location_id = $2`, tid, kB.LocationID)
	lost := f.opRecord(t, 2, f.op(ledger.KindReceive, "PLAIN", "A", 1, f.t0), ledger.StatusApplied)
	f.write(t, func(tx ledger.Tx) error { return tx.InsertOps(ctx, []ledger.OpRecord{lost}) })
	exec(`UPDATE movements SET position = 5 WHERE tenant_id = $1 AND position = 3`, tid)

	want := []ledger.Discrepancy{
		{Kind: "balance_mismatch", Key: kA, Want: 10, Got: 7},
		{Kind: "missing_movements", OpID: lost.OpID},
		{Kind: "position_gap", Want: 3, Got: 5},
		{Kind: "counter_behind", Want: 6, Got: 4},
	}
	mustEqual(t, "corrupted ledger", check(), want)

	// A key with movements but no balance row counts when the sum is not
	// zero.
	exec(`DELETE FROM balances WHERE tenant_id = $1 AND location_id = $2`, tid, kA.LocationID)
	want[0].Got = 0
	mustEqual(t, "missing balance", check()[0], want[0])

	// Another tenant of the same database is checked on its own rows.
	other := ledger.Tenant{ID: newID(), Slug: "other", Name: "Other", Settings: ledger.DefaultSettings, CreatedAt: f.t0}
	if err := f.store.CreateTenant(ctx, other); err != nil {
		t.Fatal(err)
	}
	f.read(t, func(tx ledger.ReadTx) error {
		ds, err := tx.CheckConsistency(ctx, other.ID)
		mustEqual(t, "other tenant", len(ds), 0)
		return err
	})
}
