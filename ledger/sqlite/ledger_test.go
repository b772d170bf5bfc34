package sqlite_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

func (b *bundle) op(dev ledger.Device, seq int64, opID uuid.UUID, canonical bool, status ledger.Status) ledger.OpRecord {
	return ledger.OpRecord{TenantID: b.tenant.ID, DeviceID: dev.ID, Seq: seq, OpID: opID, Kind: ledger.KindReceive,
		Payload: []byte(`{"op_id":"` + opID.String() + `","kind":"receive"}`), PayloadHash: []byte{1, 2, byte(seq)},
		ReceivedAt: t0.Add(time.Duration(seq) * time.Second), EffectiveAt: t0.Add(-time.Duration(seq) * time.Second),
		Result:    ledger.Result{OpID: opID, Seq: seq, Status: status, ReviewIDs: []uuid.UUID{newID()}, Batch: "GEN-1"},
		Canonical: canonical}
}

func TestOps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tid := b.tenant.ID
	dev2 := ledger.Device{TenantID: tid, ID: newID(), WarehouseID: b.wh.ID, Name: "hh-2", BatchPrefix: "HH2", CreatedAt: t0}
	x, y, z, w := newID(), newID(), newID(), newID()
	// dev: seq 1 (x), 2 (y), 3 renumbered replay of x (non-canonical), 4 (z).
	// dev2: seq 1 (w), seq 2 non-canonical entry of y.
	ops := []ledger.OpRecord{
		b.op(b.dev, 1, x, true, ledger.StatusApplied),
		b.op(b.dev, 2, y, true, ledger.StatusFlagged),
		b.op(b.dev, 3, x, false, ledger.StatusApplied),
		b.op(b.dev, 4, z, true, ledger.StatusRejected),
		b.op(dev2, 1, w, true, ledger.StatusHeld),
		b.op(dev2, 2, y, false, ledger.StatusRejected),
	}
	b.write(t, func(tx ledger.Tx) error {
		return errors.Join(tx.InsertDevice(b.ctx, dev2), tx.InsertOps(b.ctx, ops), tx.MarkOpsPosted(b.ctx, tid, []uuid.UUID{x, y}))
	})
	ops[0].Posted, ops[1].Posted = true, true

	b.read(t, func(tx ledger.ReadTx) error {
		// Seq range 2..3 of dev, plus op_ids w (dev2, canonical), y (already
		// in the range: returned once) and x (canonical at dev seq 1).
		got, err := tx.LookupOps(b.ctx, tid, b.dev.ID, 2, 3, []uuid.UUID{w, y, x, newID()})
		if err != nil {
			return err
		}
		want := []ledger.OpRecord{ops[0], ops[1], ops[2], ops[4]}
		slices.SortFunc(want, func(a, c ledger.OpRecord) int {
			if a.DeviceID != c.DeviceID {
				return compare(a.DeviceID.String(), c.DeviceID.String())
			}
			return int(a.Seq - c.Seq)
		})
		equal(t, "lookup ops", got, want)
		// Only canonical entries answer by op_id: y's non-canonical entry on
		// dev2 is not returned outside its seq range.
		got, _ = tx.LookupOps(b.ctx, tid, uuid.Nil, 1, 0, []uuid.UUID{y})
		equal(t, "lookup by op_id", got, []ledger.OpRecord{ops[1]})
		got, _ = tx.LookupOps(b.ctx, tid, dev2.ID, 1, 2, nil)
		equal(t, "lookup seq range", got, []ledger.OpRecord{ops[4], ops[5]})
		got, _ = tx.LookupOps(b.ctx, newID(), b.dev.ID, 1, 9, []uuid.UUID{x})
		equal(t, "other tenant", len(got), 0)
		return nil
	})

	// MarkOpsPosted touches canonical entries only.
	b.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.LookupOps(b.ctx, tid, b.dev.ID, 3, 3, nil)
		if len(got) != 1 || got[0].Posted {
			t.Errorf("non-canonical entry posted: %+v", got)
		}
		return err
	})

	for name, row := range map[string]ledger.OpRecord{
		"seq taken":              b.op(b.dev, 2, newID(), true, ledger.StatusApplied),
		"canonical op_id taken":  b.op(b.dev, 5, z, true, ledger.StatusApplied),
		"canonical op_id, dev 2": b.op(dev2, 3, x, true, ledger.StatusApplied),
	} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, b.store.Write(b.ctx, tid, func(tx ledger.Tx) error { return tx.InsertOps(b.ctx, []ledger.OpRecord{row}) }),
				ledger.CodeConflict)
		})
	}
	// A non-canonical entry may repeat a canonical op_id under a new seq.
	b.write(t, func(tx ledger.Tx) error {
		return tx.InsertOps(b.ctx, []ledger.OpRecord{b.op(b.dev, 5, z, false, ledger.StatusRejected)})
	})
}

func compare(a, c string) int {
	switch {
	case a < c:
		return -1
	case a > c:
		return 1
	}
	return 0
}

func TestMovementsAndBalances(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tid := b.tenant.ID
	kw := b.key(b.a1, b.widget, ledger.NoBatch)
	kb := b.key(b.a1, b.bolt, b.l1.ID)
	kw2 := b.key(b.a2, b.widget, ledger.NoBatch)
	op1, op2, op3, review := newID(), newID(), newID(), newID()
	m1 := b.movement(1, kw, 10, op1)
	m2 := b.movement(2, kb, 5, op2)
	m2.Order = "SO-1"
	m3 := b.movement(3, kw, -4, op3)
	m3.Kind = ledger.MovePick
	m4 := b.movement(4, kw, 1, uuid.Nil) // a resolution correcting op3: no op, no device
	m4.Kind, m4.DeviceID, m4.ReviewID, m4.Corrects = ledger.MoveResolution, uuid.Nil, review, op3
	b.post(t, m1, m2)
	b.post(t, m3, m4)

	b.read(t, func(tx ledger.ReadTx) error {
		bal, err := tx.Balances(b.ctx, tid, []ledger.Key{kw, kb, kw2})
		equal(t, "balances", bal, map[ledger.Key]int64{kw: 7, kb: 5})
		// Stock as of a time: m1 at +1m, m3 at +3m, m4 at +4m.
		for _, c := range []struct {
			at   time.Time
			want int64
		}{{t0, 0}, {m1.EffectiveAt, 10}, {m3.EffectiveAt.Add(-time.Microsecond), 10}, {m3.EffectiveAt, 6}, {m4.EffectiveAt, 7}} {
			got, err := tx.StockAsOf(b.ctx, tid, kw, c.at)
			if err != nil || got != c.want {
				t.Errorf("stock as of %v = %d, %v; want %d", c.at, got, err, c.want)
			}
		}
		between, _ := tx.MovementsBetween(b.ctx, tid, kw, m1.EffectiveAt.Add(time.Microsecond), m4.EffectiveAt)
		equal(t, "movements between", between, []ledger.Movement{m3, m4})
		ofOp, _ := tx.MovementsOfOp(b.ctx, tid, op3)
		equal(t, "movements of op (own and correcting)", ofOp, []ledger.Movement{m3, m4})
		ofOp, _ = tx.MovementsOfOp(b.ctx, tid, op2)
		equal(t, "movements of op with order", ofOp, []ledger.Movement{m2})
		return err
	})

	// last_position never moves back, changed is the change given.
	b.write(t, func(tx ledger.Tx) error {
		return tx.AddBalances(b.ctx, tid, 77, []ledger.BalanceDelta{{Key: kw, Delta: 0, LastPosition: 2}})
	})
	var last, changed int64
	if err := b.store.DB().QueryRowContext(context.Background(), `SELECT last_position, changed FROM balances WHERE tenant_id = ? AND location_id = ?
		AND item_id = ? AND batch_id = ?`, tid, kw.LocationID, kw.ItemID, kw.BatchID).Scan(&last, &changed); err != nil {
		t.Fatal(err)
	}
	if last != 4 || changed != 77 {
		t.Fatalf("last_position, changed = %d, %d; want 4, 77", last, changed)
	}
	var nilBatch string
	if err := b.store.DB().QueryRowContext(context.Background(), `SELECT batch_id FROM movements WHERE tenant_id = ? AND position = 1`, tid).Scan(&nilBatch); err != nil ||
		nilBatch != "00000000-0000-0000-0000-000000000000" {
		t.Fatalf("no-batch key stored as %q, %v", nilBatch, err)
	}

	wantCode(t, b.store.Write(b.ctx, tid, func(tx ledger.Tx) error {
		return tx.InsertMovements(b.ctx, []ledger.Movement{b.movement(2, kw, 1, newID())})
	}), ledger.CodeConflict)
}

func TestQueryBalancesAndMovements(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tid := b.tenant.ID
	w2 := ledger.Warehouse{TenantID: tid, ID: newID(), Code: "W0", Name: "Annex"}
	z1 := ledger.Location{TenantID: tid, ID: newID(), WarehouseID: w2.ID, Code: "Z1"}
	b.write(t, func(tx ledger.Tx) error {
		return errors.Join(tx.UpsertWarehouses(b.ctx, []ledger.Warehouse{w2}), tx.UpsertLocations(b.ctx, []ledger.Location{z1}))
	})
	kw := b.key(b.a1, b.widget, ledger.NoBatch)
	kb := b.key(b.a1, b.bolt, b.l1.ID)
	kw2 := b.key(b.a2, b.widget, ledger.NoBatch)
	kz := b.key(z1, b.widget, ledger.NoBatch)
	op1 := newID()
	m1 := b.movement(1, kw, 10, op1)
	m2 := b.movement(2, kb, 5, newID())
	m2.Order = "SO-1"
	m3 := b.movement(3, kw2, 3, newID())
	m4 := b.movement(4, kw2, -3, newID())
	m5 := b.movement(5, kz, 2, newID())
	m6 := b.movement(6, kw, 1, newID())
	m6.Corrects = op1
	b.post(t, m1, m2, m3, m4, m5, m6)

	row := func(k ledger.Key, wh, loc, sku, batch string, n int64) ledger.BalanceRow {
		return ledger.BalanceRow{Key: k, Warehouse: wh, Location: loc, SKU: sku, Batch: batch, OnHand: n}
	}
	rz := row(kz, "W0", "Z1", "WIDGET", "", 2)
	rb := row(kb, "W1", "A1", "BOLT", "L1", 5)
	rw := row(kw, "W1", "A1", "WIDGET", "", 11)
	rw2 := row(kw2, "W1", "A2", "WIDGET", "", 0)
	b.read(t, func(tx ledger.ReadTx) error {
		st, err := tx.LedgerState(b.ctx, tid)
		if err != nil {
			return err
		}
		posted := st.NextChange - 1 // the change b.post stamped
		for _, c := range []struct {
			name string
			f    ledger.BalanceFilter
			want []ledger.BalanceRow
		}{
			{"all, ordered by warehouse, location, sku", ledger.BalanceFilter{}, []ledger.BalanceRow{rz, rb, rw, rw2}},
			{"non-zero", ledger.BalanceFilter{NonZero: true}, []ledger.BalanceRow{rz, rb, rw}},
			{"warehouse", ledger.BalanceFilter{Warehouse: "W1", NonZero: true}, []ledger.BalanceRow{rb, rw}},
			{"location", ledger.BalanceFilter{Location: "A2"}, []ledger.BalanceRow{rw2}},
			{"sku", ledger.BalanceFilter{SKU: "WIDGET", Warehouse: "W1"}, []ledger.BalanceRow{rw, rw2}},
			{"batch", ledger.BalanceFilter{Batch: "L1"}, []ledger.BalanceRow{rb}},
			{"as of before anything", ledger.BalanceFilter{AsOf: t0}, []ledger.BalanceRow{}},
			// m1 (+1m), m2 (+2m), m3 (+3m) only.
			{"as of +3m", ledger.BalanceFilter{AsOf: m3.EffectiveAt},
				[]ledger.BalanceRow{rb, row(kw, "W1", "A1", "WIDGET", "", 10), row(kw2, "W1", "A2", "WIDGET", "", 3)}},
			{"as of +4m, non-zero", ledger.BalanceFilter{AsOf: m4.EffectiveAt, NonZero: true},
				[]ledger.BalanceRow{rb, row(kw, "W1", "A1", "WIDGET", "", 10)}},
			{"as of +4m, with a zero", ledger.BalanceFilter{AsOf: m4.EffectiveAt, SKU: "WIDGET"},
				[]ledger.BalanceRow{row(kw, "W1", "A1", "WIDGET", "", 10), rw2}},
		} {
			got, err := tx.QueryBalances(b.ctx, tid, c.f)
			if err != nil {
				return err
			}
			equal(t, c.name, got, withChanged(c.want, c.f, posted))
		}

		mrow := func(m ledger.Movement, wh, loc, sku, batch string) ledger.MovementRow {
			return ledger.MovementRow{Movement: m, Warehouse: wh, Location: loc, SKU: sku, Batch: batch}
		}
		r1, r2 := mrow(m1, "W1", "A1", "WIDGET", ""), mrow(m2, "W1", "A1", "BOLT", "L1")
		r3, r4 := mrow(m3, "W1", "A2", "WIDGET", ""), mrow(m4, "W1", "A2", "WIDGET", "")
		r5, r6 := mrow(m5, "W0", "Z1", "WIDGET", ""), mrow(m6, "W1", "A1", "WIDGET", "")
		for _, c := range []struct {
			name string
			f    ledger.MovementFilter
			want []ledger.MovementRow
		}{
			{"all by position", ledger.MovementFilter{}, []ledger.MovementRow{r1, r2, r3, r4, r5, r6}},
			{"warehouse", ledger.MovementFilter{Warehouse: "W0"}, []ledger.MovementRow{r5}},
			{"location and sku", ledger.MovementFilter{Location: "A1", SKU: "WIDGET"}, []ledger.MovementRow{r1, r6}},
			{"batch", ledger.MovementFilter{Batch: "L1"}, []ledger.MovementRow{r2}},
			{"order", ledger.MovementFilter{Order: "SO-1"}, []ledger.MovementRow{r2}},
			{"op and its corrections", ledger.MovementFilter{OpID: op1}, []ledger.MovementRow{r1, r6}},
			{"after position, limit", ledger.MovementFilter{AfterPosition: 2, Limit: 2}, []ledger.MovementRow{r3, r4}},
		} {
			got, err := tx.QueryMovements(b.ctx, tid, c.f)
			if err != nil {
				return err
			}
			for i := range got {
				got[i].TenantID = b.tenant.ID
			}
			equal(t, c.name, got, c.want)
		}
		return nil
	})
}

func TestOrderLinesAndCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tid := b.tenant.ID
	l1 := ledger.OrderLine{Order: "SO-1", ItemID: b.bolt.ID, BatchID: b.l1.ID, Shipped: 5, FirstPosition: 3}
	l2 := ledger.OrderLine{Order: "SO-1", ItemID: b.widget.ID, BatchID: ledger.NoBatch, Shipped: 2, FirstPosition: 1}
	l3 := ledger.OrderLine{Order: "SO-2", ItemID: b.widget.ID, BatchID: ledger.NoBatch, Shipped: 1, FirstPosition: 7}
	kw := b.key(b.a1, b.widget, ledger.NoBatch)
	kb := b.key(b.a1, b.bolt, b.l1.ID)
	c1 := ledger.CountRecord{OpID: newID(), DeviceID: b.dev.ID, Key: kw, EffectiveAt: t0.Add(time.Hour), Counted: 9, Expected: 10, Adjusted: -1}
	c2 := ledger.CountRecord{OpID: newID(), DeviceID: b.dev.ID, Key: kw, EffectiveAt: t0, Counted: 4, Expected: 4}
	c3 := ledger.CountRecord{OpID: newID(), DeviceID: b.dev.ID, Key: kb, EffectiveAt: t0, Counted: 1, Expected: 0, Adjusted: 1}
	b.write(t, func(tx ledger.Tx) error {
		return errors.Join(tx.UpsertOrderLines(b.ctx, tid, []ledger.OrderLine{l1, l2, l3}),
			tx.UpsertCounts(b.ctx, tid, []ledger.CountRecord{c1, c2, c3}))
	})
	// Full lines, not deltas.
	l1.Returned, l1.Shipped = 2, 6
	c1.Expected, c1.Adjusted = 8, 1
	b.write(t, func(tx ledger.Tx) error {
		return errors.Join(tx.UpsertOrderLines(b.ctx, tid, []ledger.OrderLine{l1}), tx.UpsertCounts(b.ctx, tid, []ledger.CountRecord{c1}))
	})
	b.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.OrderLines(b.ctx, tid, []string{"SO-1", "SO-9"})
		equal(t, "order lines", got, []ledger.OrderLine{l2, l1})
		counts, _ := tx.CountsOnKeys(b.ctx, tid, []ledger.Key{kw, b.key(b.a2, b.widget, ledger.NoBatch)})
		equal(t, "counts on keys", counts, []ledger.CountRecord{c2, c1})
		return err
	})
}

func (b *bundle) review(kind ledger.ReviewKind, k ledger.Key, order string, opened time.Time) ledger.Review {
	op := newID()
	return ledger.Review{TenantID: b.tenant.ID, ID: newID(), Kind: kind, Severity: ledger.SeverityMedium,
		Status: ledger.ReviewOpen, OpID: op, DeviceID: b.dev.ID, Ops: []ledger.ReviewOp{{OpID: op, DeviceID: b.dev.ID}},
		Key: k, Order: order, OpenedAt: opened, Changed: 1,
		Evidence:    ledger.Evidence{SKU: "BOLT", Shipped: []ledger.BatchQty{{Batch: "L1", Qty: 3}}},
		Suggestions: []ledger.Suggestion{{Action: ledger.ActionReassignBatch, Label: "reassign", Batch: "L1"}}}
}

func TestReviews(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tid := b.tenant.ID
	dev2 := ledger.Device{TenantID: tid, ID: newID(), WarehouseID: b.wh.ID, Name: "hh-2", BatchPrefix: "HH2", CreatedAt: t0}
	b.write(t, func(tx ledger.Tx) error { return tx.InsertDevice(b.ctx, dev2) })
	kb := b.key(b.a1, b.bolt, b.l1.ID)
	kw := b.key(b.a1, b.widget, ledger.NoBatch)
	// r1: a key and an order; r2: an unknown reference (nil key parts), no
	// suggestions; r3: resolved, on kb.
	r1 := b.review(ledger.ReviewWrongBatchReturn, kb, "SO-1", t0.Add(2*time.Minute))
	r2 := b.review(ledger.ReviewUnknownReference, ledger.Key{}, "", t0.Add(time.Minute))
	r2.Suggestions = nil
	r2.Evidence = ledger.Evidence{Unknown: []ledger.Reference{{Field: "sku", Value: "GHOST"}}}
	r3 := b.review(ledger.ReviewNegativeStock, kb, "", t0)
	r3.Status = ledger.ReviewResolved
	r3.Resolution = &ledger.ResolutionRecord{Action: ledger.ActionAccept, By: "manager", At: t0.Add(time.Hour),
		Note: "ok", Positions: []int64{7, 8}}
	// The opening op listed second still comes first, though its ID sorts
	// after the joined one's.
	joined := ledger.ReviewOp{OpID: uuid.MustParse("00000001-0000-4000-8000-000000000000"), DeviceID: dev2.ID}
	r1.Ops = []ledger.ReviewOp{joined, r1.Ops[0]}
	b.write(t, func(tx ledger.Tx) error { return tx.UpsertReviews(b.ctx, []ledger.Review{r1, r2, r3}) })
	r1.Ops = []ledger.ReviewOp{{OpID: r1.OpID, DeviceID: b.dev.ID}, joined}

	// Joining another op later appends it; updating the row keeps the ops.
	late := ledger.ReviewOp{OpID: newID(), DeviceID: dev2.ID}
	r1.Ops = append(r1.Ops, late)
	r1.Changed = 5
	b.write(t, func(tx ledger.Tx) error { return tx.UpsertReviews(b.ctx, []ledger.Review{r1}) })
	b.write(t, func(tx ledger.Tx) error {
		again := r1
		again.Ops = nil
		return tx.UpsertReviews(b.ctx, []ledger.Review{again})
	})

	b.read(t, func(tx ledger.ReadTx) error {
		got, err := tx.Review(b.ctx, tid, r1.ID)
		equal(t, "review", got, r1)
		got, _ = tx.Review(b.ctx, tid, r2.ID)
		equal(t, "review with nil key", got, r2)
		got, _ = tx.Review(b.ctx, tid, r3.ID)
		equal(t, "resolved review", got, r3)
		_, err2 := tx.Review(b.ctx, tid, newID())
		wantCode(t, err2, ledger.CodeNotFound)

		// The merge's reads carry only each review's opening operation.
		r1Opening := r1
		r1Opening.KeepOpeningOp()
		open, _ := tx.OpenReviews(b.ctx, tid, []ledger.Key{kb, kw}, []string{"SO-1"})
		equal(t, "open reviews by key and order, once", open, []ledger.Review{r1Opening})
		open, _ = tx.OpenReviews(b.ctx, tid, nil, []string{"SO-1"})
		equal(t, "open reviews by order", open, []ledger.Review{r1Opening})
		open, _ = tx.OpenReviews(b.ctx, tid, []ledger.Key{{}}, nil)
		equal(t, "open reviews on the nil key", open, []ledger.Review{r2})

		for _, c := range []struct {
			name string
			f    ledger.ReviewFilter
			want []ledger.Review
		}{
			{"all by opening time", ledger.ReviewFilter{}, []ledger.Review{r3, r2, r1}},
			{"status", ledger.ReviewFilter{Status: ledger.ReviewOpen}, []ledger.Review{r2, r1}},
			{"kind", ledger.ReviewFilter{Kind: ledger.ReviewNegativeStock}, []ledger.Review{r3}},
			{"device of a joined op", ledger.ReviewFilter{DeviceID: dev2.ID}, []ledger.Review{r1}},
			{"joined op", ledger.ReviewFilter{OpID: late.OpID}, []ledger.Review{r1}},
			{"opening op", ledger.ReviewFilter{OpID: r2.OpID}, []ledger.Review{r2}},
			{"limit", ledger.ReviewFilter{Limit: 2}, []ledger.Review{r3, r2}},
		} {
			got, err := tx.QueryReviews(b.ctx, tid, c.f)
			if err != nil {
				return err
			}
			equal(t, c.name, got, c.want)
		}
		return err
	})
}

func TestQueryOpLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tid := b.tenant.ID
	// A device ID that sorts after b.dev's.
	dev2 := ledger.Device{TenantID: tid, ID: uuid.MustParse("ffffffff-0000-7000-8000-000000000000"), WarehouseID: b.wh.ID,
		Name: "hh-2", BatchPrefix: "HH2", CreatedAt: t0}
	o1 := b.op(b.dev, 1, newID(), true, ledger.StatusApplied)
	o2 := b.op(b.dev, 2, newID(), true, ledger.StatusRejected)
	o3 := b.op(b.dev, 3, newID(), true, ledger.StatusApplied)
	o4 := b.op(dev2, 1, newID(), true, ledger.StatusFlagged)
	conflict := func(dev ledger.Device, seq int64, received time.Time) ledger.OpConflict {
		id := newID()
		return ledger.OpConflict{TenantID: tid, ID: newID(), DeviceID: dev.ID, Seq: seq, OpID: id,
			Payload: []byte(`{"kind":"pick","qty":1}`), PayloadHash: []byte{9}, ReceivedAt: received,
			Result: ledger.Result{OpID: id, Seq: seq, Status: ledger.StatusRejected, Code: ledger.CodeOpConflict}}
	}
	// Two conflicts on seq 2, inserted out of receive order.
	c2b := conflict(b.dev, 2, t0.Add(time.Hour))
	c2a := conflict(b.dev, 2, t0.Add(time.Minute))
	c1 := conflict(dev2, 1, t0)
	b.write(t, func(tx ledger.Tx) error {
		return errors.Join(tx.InsertDevice(b.ctx, dev2), tx.InsertOps(b.ctx, []ledger.OpRecord{o4, o3, o2, o1}),
			tx.InsertOpConflicts(b.ctx, []ledger.OpConflict{c2b, c1, c2a}))
	})
	entry := func(o ledger.OpRecord) ledger.OpLogEntry { return ledger.OpLogEntry{OpRecord: o} }
	centry := func(c ledger.OpConflict) ledger.OpLogEntry {
		return ledger.OpLogEntry{Conflict: true, OpRecord: ledger.OpRecord{TenantID: tid, DeviceID: c.DeviceID, Seq: c.Seq,
			OpID: c.OpID, Kind: ledger.KindPick, Payload: c.Payload, PayloadHash: c.PayloadHash, ReceivedAt: c.ReceivedAt,
			Result: c.Result}}
	}
	e1, e2, e3, e4 := entry(o1), entry(o2), entry(o3), entry(o4)
	x2a, x2b, x1 := centry(c2a), centry(c2b), centry(c1)
	b.read(t, func(tx ledger.ReadTx) error {
		for _, c := range []struct {
			name string
			f    ledger.OpLogFilter
			want []ledger.OpLogEntry
		}{
			{"all", ledger.OpLogFilter{}, []ledger.OpLogEntry{e1, e2, x2a, x2b, e3, e4, x1}},
			{"device", ledger.OpLogFilter{DeviceID: dev2.ID}, []ledger.OpLogEntry{e4, x1}},
			{"rejected", ledger.OpLogFilter{Status: ledger.StatusRejected}, []ledger.OpLogEntry{e2, x2a, x2b, x1}},
			{"after seq", ledger.OpLogFilter{DeviceID: b.dev.ID, AfterSeq: 2}, []ledger.OpLogEntry{e3}},
			{"limit", ledger.OpLogFilter{Limit: 3}, []ledger.OpLogEntry{e1, e2, x2a}},
		} {
			got, err := tx.QueryOpLog(b.ctx, tid, c.f)
			if err != nil {
				return err
			}
			equal(t, c.name, got, c.want)
		}
		return nil
	})
}

func kinds(ds []ledger.Discrepancy) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Kind)
	}
	return out
}

func TestCheckConsistency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tid := b.tenant.ID
	kw := b.key(b.a1, b.widget, ledger.NoBatch)
	kb := b.key(b.a1, b.bolt, b.l1.ID)
	o1 := b.op(b.dev, 1, newID(), true, ledger.StatusApplied)
	o1.Posted = true
	b.write(t, func(tx ledger.Tx) error { return tx.InsertOps(b.ctx, []ledger.OpRecord{o1}) })
	b.post(t, b.movement(1, kw, 10, o1.OpID), b.movement(2, kb, 4, o1.OpID), b.movement(3, kw, -10, o1.OpID))
	check := func() []ledger.Discrepancy {
		t.Helper()
		var ds []ledger.Discrepancy
		b.read(t, func(tx ledger.ReadTx) (err error) {
			ds, err = tx.CheckConsistency(b.ctx, tid)
			return err
		})
		return ds
	}
	equal(t, "clean ledger", check(), []ledger.Discrepancy(nil))

	db := b.store.DB()
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatal(err)
		}
	}
	// A corrupted balance, and a key whose balance row is gone.
	mustExec(`UPDATE balances SET on_hand = on_hand + 3 WHERE tenant_id = ? AND item_id = ?`, tid, b.bolt.ID)
	mustExec(`DELETE FROM balances WHERE tenant_id = ? AND item_id = ?`, tid, b.widget.ID)
	ds := check()
	equal(t, "kinds", kinds(ds), []string{ledger.DiscrepancyBalanceMismatch})
	equal(t, "mismatch", [3]any{ds[0].Key, ds[0].Want, ds[0].Got}, [3]any{kb, int64(4), int64(7)})
	// kw's movements sum to zero: a missing row there is no discrepancy.
	b.post(t, b.movement(4, kw, 2, o1.OpID))
	mustExec(`DELETE FROM balances WHERE tenant_id = ? AND item_id = ?`, tid, b.widget.ID)
	ds = check()
	equal(t, "kinds", kinds(ds), []string{ledger.DiscrepancyBalanceMismatch, ledger.DiscrepancyBalanceMismatch})
	var missing ledger.Discrepancy
	for _, d := range ds {
		if d.Key == kw {
			missing = d
		}
	}
	equal(t, "missing balance row", [2]int64{missing.Want, missing.Got}, [2]int64{2, 0})
	mustExec(`UPDATE balances SET on_hand = on_hand - 3 WHERE tenant_id = ? AND item_id = ?`, tid, b.bolt.ID)
	b.write(t, func(tx ledger.Tx) error {
		return tx.AddBalances(b.ctx, tid, 9, []ledger.BalanceDelta{{Key: kw, Delta: 2, LastPosition: 4}})
	})
	equal(t, "repaired", check(), []ledger.Discrepancy(nil))

	// A posted op without movements; a non-canonical or unposted one is fine.
	o2 := b.op(b.dev, 2, newID(), true, ledger.StatusApplied)
	o2.Posted = true
	o3 := b.op(b.dev, 3, newID(), true, ledger.StatusHeld)
	o4 := b.op(b.dev, 4, o1.OpID, false, ledger.StatusApplied)
	b.write(t, func(tx ledger.Tx) error { return tx.InsertOps(b.ctx, []ledger.OpRecord{o2, o3, o4}) })
	ds = check()
	equal(t, "missing movements", [2]any{kinds(ds), ds[0].OpID}, [2]any{[]string{ledger.DiscrepancyMissingMovements}, o2.OpID})
	mustExec(`UPDATE ops SET posted = 0 WHERE tenant_id = ? AND op_id = ?`, tid, o2.OpID)

	// A position gap (6 and 7 missing) and a counter that is behind.
	b.post(t, b.movement(5, kw, 1, o1.OpID), b.movement(8, kw, 1, o1.OpID))
	mustExec(`UPDATE tenants SET next_position = 3 WHERE tenant_id = ?`, tid)
	ds = check()
	equal(t, "kinds", kinds(ds), []string{ledger.DiscrepancyPositionGap, ledger.DiscrepancyCounterBehind})
	equal(t, "gap", [2]int64{ds[0].Want, ds[0].Got}, [2]int64{6, 8})
	equal(t, "counter", [2]int64{ds[1].Want, ds[1].Got}, [2]int64{9, 3})

	// Positions must start at 1.
	mustExec(`DELETE FROM movements WHERE tenant_id = ? AND position < 5`, tid)
	mustExec(`UPDATE tenants SET next_position = 9 WHERE tenant_id = ?`, tid)
	ds = check()
	gaps := slices.DeleteFunc(ds, func(d ledger.Discrepancy) bool { return d.Kind != ledger.DiscrepancyPositionGap })
	equal(t, "gaps", len(gaps), 2)
	equal(t, "leading gap", [2]int64{gaps[0].Want, gaps[0].Got}, [2]int64{1, 5})
}

// withChanged returns want with Changed set as QueryBalances fills it: the
// change that wrote each current balance, 0 for stock as of a time.
func withChanged(want []ledger.BalanceRow, f ledger.BalanceFilter, changed int64) []ledger.BalanceRow {
	if !f.AsOf.IsZero() {
		return want
	}
	out := make([]ledger.BalanceRow, len(want))
	for i, r := range want {
		r.Changed = changed
		out[i] = r
	}
	return out
}
