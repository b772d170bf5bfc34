package ledgertest

// Regressions found by a review of the merge rules and resolutions: each
// asserts the correct behaviour through the public API, and failed before
// its fix. They run in the conformance suite (see Run).

import (
	"crypto/sha256"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// An exchange pick whose exchange_of names a return on ANOTHER order is
// rejected when the return is already known, but posted when it arrives
// first: the same two operations leave different stock.
func regressionExchangeArrivalOrder(t *testing.T, nf Factory) {
	retID := uuid.Must(uuid.NewV7())
	run := func(returnFirst bool) string {
		f := setupWith(t, nf, nil)
		f.push(f.devs[0], op(ledger.KindReceive, "WIDGET", "A1", 10, "", ""), op(ledger.KindPick, "WIDGET", "A1", 2, "", "SO-1"))
		ret := op(ledger.KindReturn, "WIDGET", "B1", 1, "", "SO-1")
		ret.OpID = retID
		exch := op(ledger.KindPick, "WIDGET", "A1", 1, "", "SO-2")
		exch.ExchangeOf = retID.String()
		if returnFirst {
			f.push(f.devs[1], ret)
			f.push(f.devs[2], exch)
		} else {
			f.push(f.devs[2], exch)
			f.push(f.devs[1], ret)
		}
		f.checkConsistent()
		return f.outcome().String()
	}
	sameOutcome(t, "return first", "pick first", run)
}

// reverse negates "the operation's movements and every correction of it",
// but an adjust resolution on another review of the same operation is
// stamped Corrects=op too, so a later reverse silently undoes the
// manager's adjustment (here on another bin).
func regressionReverseUndoesUnrelatedAdjust(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	// An expired lot picked from an empty bin: expired_batch + negative_stock.
	r := f.push1(f.devs[0], op(ledger.KindPick, "MILK", "A1", 1, "M-OLD", "SO-1"))
	if len(r.ReviewIDs) != 2 {
		t.Fatalf("want expired_batch and negative_stock, got %+v", r)
	}
	var expired, negative uuid.UUID
	for _, id := range r.ReviewIDs {
		rv, _ := f.l.Review(f.ctx, f.tenant.ID, id)
		switch rv.Kind {
		case ledger.ReviewExpiredBatch:
			expired = id
		case ledger.ReviewNegativeStock:
			negative = id
		}
	}
	// Negative stock: the 5 units were found in A2 -> adjust A2 +5.
	f.resolve(negative, ledger.Resolution{Action: ledger.ActionAdjust, Qty: 5, Location: "A2"})
	// Expired batch: the pick was put back -> reverse the pick.
	f.resolve(expired, ledger.Resolution{Action: ledger.ActionReverse})
	if got := f.balance("A2", "MILK", "M-OLD"); got != 5 {
		t.Errorf("A2/MILK/M-OLD = %d after reversing the pick, want 5 (the adjust must survive)", got)
	}
	if got := f.balance("A1", "MILK", "M-OLD"); got != 0 {
		t.Errorf("A1/MILK/M-OLD = %d, want 0 (pick -1, reversed +1)", got)
	}
	f.checkConsistent()
}

// Same family, same bin: adjust to zero then reverse the pick posts nothing.
func regressionReverseAfterAdjustSameBinPostsNothing(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	r := f.push1(f.devs[0], op(ledger.KindPick, "MILK", "A1", 2, "M-OLD", "SO-1"))
	var expired, negative uuid.UUID
	for _, id := range r.ReviewIDs {
		rv, _ := f.l.Review(f.ctx, f.tenant.ID, id)
		if rv.Kind == ledger.ReviewExpiredBatch {
			expired = id
		} else {
			negative = id
		}
	}
	f.resolve(negative, ledger.Resolution{Action: ledger.ActionAdjust, Qty: 2}) // found 2 more
	rv := f.resolve(expired, ledger.Resolution{Action: ledger.ActionReverse})
	if got := f.balance("A1", "MILK", "M-OLD"); got != 2 {
		t.Errorf("A1/MILK/M-OLD = %d, want 2 (-2 pick, +2 found, +2 put back); reverse posted %v", got, rv.Resolution.Positions)
	}
}

// reassign_batch on a pick on an order moves the stock to the right batch
// but leaves the order's shipped totals on the wrong batch, so a later
// return of the batch that really shipped is judged wrong.
func regressionReassignPickKeepsOrderShippedOnOldBatch(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	f.push(f.devs[0], op(ledger.KindReceive, "BOLT", "A1", 5, "L2", ""))
	// Picker scanned the L1 label but took L2: A1/L1 goes negative.
	r := f.push1(f.devs[0], op(ledger.KindPick, "BOLT", "A1", 2, "L1", "SO-1"))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	f.resolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionReassignBatch, Batch: "L2"})
	if f.balance("A1", "BOLT", "L1") != 0 || f.balance("A1", "BOLT", "L2") != 3 {
		t.Fatalf("stock after reassign: L1 %d L2 %d", f.balance("A1", "BOLT", "L1"), f.balance("A1", "BOLT", "L2"))
	}
	// The customer returns the L2 units that were shipped.
	ret := f.push1(f.devs[1], op(ledger.KindReturn, "BOLT", "B1", 2, "L2", "SO-1"))
	if ret.Status != ledger.StatusApplied {
		t.Errorf("return of the shipped batch L2 = %s/%s (%s), want applied", ret.Status, ret.Code, ret.Message)
	}
	// And a return with no batch is matched to what shipped: L2.
	ret2 := f.push1(f.devs[1], op(ledger.KindReturn, "BOLT", "B1", 1, "", "SO-1"))
	if ret2.Batch == "L1" {
		t.Errorf("return with no batch matched to L1, which the order never shipped after the reassignment")
	}
	f.checkConsistent()
}

// reverse of a pick on an order ("the goods were put back") leaves the
// order's shipped total as it was, so a return of goods that never left is
// accepted as a normal return instead of opening a review.
func regressionReversePickKeepsOrderShipped(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	r := f.push1(f.devs[0], op(ledger.KindPick, "WIDGET", "A1", 2, "", "SO-1"))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	f.resolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionReverse, Note: "put back, never shipped"})
	ret := f.push1(f.devs[1], op(ledger.KindReturn, "WIDGET", "B1", 2, "", "SO-1"))
	if ret.Status == ledger.StatusApplied {
		t.Errorf("return on an order whose only pick was reversed was applied silently; want a review (unknown_order/over_return)")
	}
}

// A split return's excess goes to the last shipped batch with over_return.
// When a shipment of another batch of the order arrives later, the review is
// re-checked per line only, so it stays open; had the pick arrived first,
// the return would have been allocated in full with no review.
func regressionSplitOverReturnArrivalOrder(t *testing.T, nf Factory) {
	run := func(lateShipmentFirst bool) string {
		f := setupWith(t, nf, nil)
		f.push(f.devs[0], op(ledger.KindReceive, "BOLT", "A1", 2, "L1", ""), op(ledger.KindReceive, "BOLT", "A1", 1, "L2", ""))
		f.push(f.devs[0], op(ledger.KindPick, "BOLT", "A1", 2, "L1", "SO-1"))
		ret := op(ledger.KindReturn, "BOLT", "B1", 3, "", "SO-1")
		late := op(ledger.KindPick, "BOLT", "A1", 1, "L2", "SO-1")
		if lateShipmentFirst {
			f.push(f.devs[1], late)
			f.push(f.devs[2], ret)
		} else {
			f.push(f.devs[2], ret)
			f.push(f.devs[1], late)
		}
		f.checkConsistent()
		return f.outcome().String()
	}
	sameOutcome(t, "pick first", "return first", run)
}

// A batch first seen on a pick is created without expiry; the receive that
// later brings its expiry is ignored (ensureBatch returns the existing
// batch), so picks of the expired lot never open expired_batch. The same
// operations in the other order do open it.
func regressionExpiryLostWhenBatchFirstSeenOnPick(t *testing.T, nf Factory) {
	run := func(receiveFirst bool) (string, int) {
		f := setupWith(t, nf, nil)
		rcv := at(ledger.Operation{Kind: ledger.KindReceive, SKU: "MILK", Location: "A1", Qty: 5, Batch: "M-X", Expiry: "2026-11-01"}, Start.Add(-30*24*time.Hour))
		pk := op(ledger.KindPick, "MILK", "A1", 1, "M-X", "SO-1")
		if receiveFirst {
			f.push(f.devs[0], rcv)
			f.push(f.devs[1], pk)
		} else {
			f.push(f.devs[1], pk)
			f.push(f.devs[0], rcv)
		}
		// A later pick of the same (expired) lot.
		f.clock.Advance(time.Minute)
		f.push(f.devs[1], op(ledger.KindPick, "MILK", "A1", 1, "M-X", "SO-2"))
		return f.outcome().String(), len(f.reviews(ledger.ReviewOpen, ledger.ReviewExpiredBatch))
	}
	a, na := run(true)
	b, nb := run(false)
	if nb == 0 {
		t.Errorf("batch M-X expired 2026-11-01 but no expired_batch review when the pick synced before the receive")
	}
	if a != b {
		t.Errorf("final state depends on arrival order:\n receive first: %s (%d expired)\n pick first:    %s (%d expired)", a, na, b, nb)
	}
}

// Two counts of one bin at the same effective time: the one that arrives
// second is absorbed by the first (rederive targets counts at or after the
// movement, including the count's own time), so the final stock is
// whichever count arrived FIRST.
func regressionSameTimeCountsArrivalOrder(t *testing.T, nf Factory) {
	run := func(sevenFirst bool) string {
		f := setupWith(t, nf, nil)
		f.push(f.devs[0], op(ledger.KindReceive, "WIDGET", "A1", 10, "", ""))
		f.clock.Advance(time.Hour)
		when := f.clock.Now().Add(-10 * time.Minute)
		c5 := at(op(ledger.KindCount, "WIDGET", "A1", 5, "", ""), when)
		c7 := at(op(ledger.KindCount, "WIDGET", "A1", 7, "", ""), when)
		c5.OpID, c7.OpID = uuid.MustParse("00000000-0000-7000-8000-000000000005"), uuid.MustParse("00000000-0000-7000-8000-000000000007")
		if sevenFirst {
			f.push(f.devs[1], c7)
			f.push(f.devs[2], c5)
		} else {
			f.push(f.devs[2], c5)
			f.push(f.devs[1], c7)
		}
		f.checkConsistent()
		return f.outcome().String()
	}
	sameOutcome(t, "7 first", "5 first", run)
}

// qty has no upper bound: two receives that overflow int64 on one key are
// accepted and leave a wrapped balance; the consistency check then cannot
// even sum the movements. Across two pushes the second push fails with an
// internal error on every retry, wedging the device.
func regressionQtyOverflow(t *testing.T, nf Factory) {
	t.Run("one push", func(t *testing.T) {
		f := setupWith(t, nf, nil)
		rs := f.push(f.devs[0], op(ledger.KindReceive, "WIDGET", "A1", math.MaxInt64, "", ""), op(ledger.KindReceive, "WIDGET", "A1", 1, "", ""))
		if rs[0].Status != ledger.StatusRejected && rs[1].Status != ledger.StatusRejected {
			t.Errorf("int64 overflow accepted: %+v / %+v; balance now %d", rs[0], rs[1], f.balance("A1", "WIDGET", ""))
		}
		f.checkConsistent()
	})
	t.Run("two pushes", func(t *testing.T) {
		f := setupWith(t, nf, nil)
		f.push(f.devs[0], op(ledger.KindReceive, "WIDGET", "A1", math.MaxInt64, "", ""))
		op := op(ledger.KindReceive, "WIDGET", "A1", 1, "", "")
		op.OpID, op.Seq, op.OccurredAt = uuid.Must(uuid.NewV7()), 2, f.clock.Now()
		_, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: f.devs[0].ID, Ops: []ledger.Operation{op}})
		if err != nil {
			t.Errorf("push wedged: %v (code %s)", err, ledger.ErrorCode(err))
		}
	})
}

// reverse of a return that a later count absorbed: the net on the key is
// zero, so moveOrderReturns skips it and the order still counts the
// reversed return as returned; the next genuine return is over_return.
func regressionReverseAbsorbedReturnKeepsOrderReturned(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	f.push(f.devs[0], op(ledger.KindReceive, "WIDGET", "A1", 2, "", ""), op(ledger.KindPick, "WIDGET", "A1", 2, "", "SO-1"))
	t0 := f.clock.Now()
	f.clock.Advance(time.Hour)
	f.push(f.devs[0], at(op(ledger.KindCount, "WIDGET", "B1", 0, "", ""), t0.Add(40*time.Minute)))
	// A return of 3 (one more than shipped) dated before the count syncs late.
	r := f.push1(f.devs[1], at(op(ledger.KindReturn, "WIDGET", "B1", 3, "", "SO-1"), t0.Add(10*time.Minute)))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewOverReturn))
	f.resolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionReverse, Note: "scanned in error"})
	// The customer really returns the 2 shipped units now.
	r2 := f.push1(f.devs[1], op(ledger.KindReturn, "WIDGET", "B1", 2, "", "SO-1"))
	if r2.Status != ledger.StatusApplied {
		t.Errorf("return of the 2 shipped units after reversing the earlier return = %s/%s (%s), want applied", r2.Status, r2.Code, r2.Message)
	}
	f.checkConsistent()
}

// Resolving a held unknown_order return with reassign_batch posts it and
// immediately opens a new unknown_order review for the same return (the
// condition the manager just decided), and the movements it posted carry
// no ReviewID although a review resolution posted them.
func regressionReassignHeldReturnReopensReview(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	r := f.push1(f.devs[1], op(ledger.KindReturn, "BOLT", "B1", 2, "", "SO-GONE"))
	wantStatus(t, r, ledger.StatusHeld, ledger.Code(ledger.ReviewUnknownOrder))
	got := f.resolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionReassignBatch, Batch: "L2"})
	if open := f.reviews(ledger.ReviewOpen, ledger.ReviewUnknownOrder); len(open) != 0 {
		t.Errorf("after the manager posted the held return to L2, %d unknown_order review(s) are open again: %+v", len(open), open[0])
	}
	movs, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{OpID: r.OpID})
	for _, m := range movs {
		if m.ReviewID != got.ID {
			t.Errorf("movement %d posted by resolution of %s has ReviewID %s", m.Position, got.ID, m.ReviewID)
		}
	}
}

// adjust on a review whose key has no batch (a held return of a
// batch-tracked item) posts stock to the "no batch" key of a batch-tracked
// item, a key that no operation can ever touch again.
func regressionAdjustNoBatchOnTrackedItem(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	r := f.push1(f.devs[1], op(ledger.KindReturn, "BOLT", "B1", 2, "", "SO-GONE"))
	wantStatus(t, r, ledger.StatusHeld, ledger.Code(ledger.ReviewUnknownOrder))
	_, err := f.tryResolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionAdjust, Qty: 2})
	if ledger.ErrorCode(err) != ledger.CodeInvalid {
		t.Errorf("adjust without batch on a batch-tracked item: err = %v, want invalid; B1/BOLT/<no batch> = %d", err, f.balance("B1", "BOLT", ""))
	}
}

// map_reference can map a transfer's unknown to_location onto its own
// source bin: a transfer from A1 to A1, which validation rejects as
// same_location when scanned, is posted.
func regressionMapReferenceSelfTransfer(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	f.push(f.devs[0], op(ledger.KindReceive, "WIDGET", "A1", 5, "", ""))
	tr := ledger.Operation{Kind: ledger.KindTransfer, SKU: "WIDGET", Location: "A1", ToLocation: "Z9", Qty: 2}
	r := f.push1(f.devs[0], tr)
	wantStatus(t, r, ledger.StatusHeld, ledger.Code(ledger.ReviewUnknownReference))
	_, err := f.tryResolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionMapReference, ToLocation: "A1"})
	if ledger.ErrorCode(err) != ledger.CodeInvalid {
		movs, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{OpID: r.OpID})
		t.Errorf("map to_location onto the source bin: err = %v, want invalid; posted %d movements", err, len(movs))
	}
}

// map_reference with a SKU when only the location was unknown: the SKU is
// recorded in the resolution but silently ignored; stock posts to the
// original item.
func regressionMapReferenceIgnoresSKU(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	r := f.push1(f.devs[0], op(ledger.KindReceive, "WIDGET", "Z9", 3, "", ""))
	wantStatus(t, r, ledger.StatusHeld, ledger.Code(ledger.ReviewUnknownReference))
	rv, err := f.tryResolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionMapReference, Location: "A1", SKU: "BOLT"})
	if err == nil && rv.Resolution.SKU == "BOLT" && f.balance("A1", "WIDGET", "") == 3 {
		t.Errorf("resolution records sku BOLT but posted 3 WIDGET; want invalid (sku was not an unknown reference) or BOLT posted")
	}
}

// docs/ledger.md: "fields that mean nothing for a kind are rejected
// (unexpected_field)". ref (a PO) on a pick/transfer/count/adjust, and
// reason on a receive/pick/transfer/count, are accepted silently.
func regressionUnexpectedRefReasonAccepted(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	f.push(f.devs[0], op(ledger.KindReceive, "WIDGET", "A1", 50, "", ""))
	cases := []ledger.Operation{
		{Kind: ledger.KindPick, SKU: "WIDGET", Location: "A1", Qty: 1, Ref: "PO-1"},
		{Kind: ledger.KindTransfer, SKU: "WIDGET", Location: "A1", ToLocation: "A2", Qty: 1, Ref: "PO-1"},
		{Kind: ledger.KindCount, SKU: "WIDGET", Location: "A1", Qty: 1, Reason: "damaged"},
		{Kind: ledger.KindReceive, SKU: "WIDGET", Location: "A1", Qty: 1, Reason: "damaged"},
		{Kind: ledger.KindAdjust, SKU: "WIDGET", Location: "A1", Qty: 1, Reason: "found", Ref: "PO-1"},
	}
	for _, op := range cases {
		r := f.push1(f.devs[0], op)
		if r.Status != ledger.StatusRejected || r.Code != ledger.CodeUnexpectedField {
			t.Errorf("%s with ref=%q reason=%q: %s/%s, want rejected/unexpected_field", op.Kind, op.Ref, op.Reason, r.Status, r.Code)
		}
	}
}

// Generated batch codes carry only 24 bits of the op_id digest: two
// receives without lot on one device and day can get the same code, and
// the second is silently posted into the first's lot (with the first's
// expiry).
func regressionGeneratedBatchCollision(t *testing.T, nf Factory) {
	seen := map[[3]byte]uuid.UUID{}
	var a, b uuid.UUID
	for i := 0; i < 1<<16 && a == uuid.Nil; i++ {
		id := uuid.Must(uuid.NewV7())
		sum := sha256.Sum256(id[:])
		k := [3]byte{sum[0], sum[1], sum[2]}
		if prev, ok := seen[k]; ok {
			a, b = prev, id
		}
		seen[k] = id
	}
	if a == uuid.Nil {
		t.Skip("no 24-bit collision found")
	}
	f := setupWith(t, nf, nil)
	r1 := ledger.Operation{Kind: ledger.KindReceive, SKU: "MILK", Location: "A1", Qty: 5, Expiry: "2026-12-01", OpID: a}
	r2 := ledger.Operation{Kind: ledger.KindReceive, SKU: "MILK", Location: "A2", Qty: 7, Expiry: "2027-03-01", OpID: b}
	rs := f.push(f.devs[0], r1, r2)
	if rs[0].Batch == rs[1].Batch {
		t.Errorf("two different receives got the same generated lot %s (op %s and %s); the 2027-03-01 lot now carries the 2026-12-01 expiry", rs[0].Batch, a, b)
	}
}

// The generated lot code takes its date from the server-corrected effective
// time, which a handheld cannot know offline: a device whose clock is 20
// minutes behind, receiving at 23:50 on its clock (00:10 server time),
// prints a label with the 22nd while the ledger files the lot under the 23rd.
// A later pick scanning the printed label then creates a second, empty lot.
func regressionGeneratedBatchCodeNotReproducibleOffline(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	f.clock.Advance(18*time.Hour + 10*time.Minute) // server: 2026-11-24 00:10
	devNow := f.clock.Now().Add(-20 * time.Minute) // device: 2026-11-23 23:50
	op := ledger.Operation{Kind: ledger.KindReceive, SKU: "BOLT", Location: "A1", Qty: 4,
		OpID: uuid.Must(uuid.NewV7()), Seq: 1, OccurredAt: devNow}
	resp, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: f.devs[0].ID, DeviceTime: devNow, Ops: []ledger.Operation{op}})
	if err != nil {
		t.Fatal(err)
	}
	offline := ledger.GeneratedBatchCode(f.devs[0].BatchPrefix, op.OpID, op.OccurredAt)
	if got := resp.Results[0].Batch; got != offline {
		t.Errorf("server generated %s, the device can only compute %s offline", got, offline)
	}
}

// Resolution movements never open negative_stock: reversing a transfer
// whose goods were since picked at the destination leaves the destination
// at -3 with no review (DESIGN: a decrement below zero opens negative_stock).
func regressionResolutionDrivesStockNegativeSilently(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	f.push(f.devs[0], op(ledger.KindReceive, "WIDGET", "A1", 1, "", ""))
	tr := f.push1(f.devs[0], ledger.Operation{Kind: ledger.KindTransfer, SKU: "WIDGET", Location: "A1", ToLocation: "A2", Qty: 3})
	wantStatus(t, tr, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	f.push(f.devs[1], op(ledger.KindPick, "WIDGET", "A2", 3, "", "SO-1"))
	f.resolve(tr.ReviewID(), ledger.Resolution{Action: ledger.ActionReverse})
	if got := f.balance("A2", "WIDGET", ""); got >= 0 {
		t.Fatalf("A2 = %d, expected the reversal to take it below zero", got)
	}
	if open := f.reviews(ledger.ReviewOpen, ledger.ReviewNegativeStock); len(open) == 0 {
		t.Errorf("A2/WIDGET is %d after the reversal and no negative_stock review is open", f.balance("A2", "WIDGET", ""))
	}
	f.checkConsistent()
}

// reassign_batch moves a wrong-batch return onto the shipped batch and its
// order line, but never re-judges that line: 3 returned against 1 shipped
// leaves no over_return, whereas the same return scanned as L1 opens one.
func regressionReassignReturnOverReturnUnflagged(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	f.push(f.devs[0], op(ledger.KindReceive, "BOLT", "A1", 1, "L1", ""), op(ledger.KindPick, "BOLT", "A1", 1, "L1", "SO-3"))
	r := f.push1(f.devs[1], op(ledger.KindReturn, "BOLT", "B1", 3, "L2", "SO-3"))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewWrongBatchReturn))
	f.resolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionReassignBatch, Batch: "L1"})
	if f.balance("B1", "BOLT", "L1") != 3 {
		t.Fatalf("B1/BOLT/L1 = %d", f.balance("B1", "BOLT", "L1"))
	}
	if open := f.reviews(ledger.ReviewOpen, ledger.ReviewOverReturn); len(open) == 0 {
		t.Errorf("order SO-3 shipped 1 of L1 and now has 3 returned on L1, but no over_return is open")
	}
	f.checkConsistent()
}

// The first operation with no op_id is rejected (missing_field) but stored
// as the tenant's CANONICAL entry for op_id 000..., so every later op with
// no op_id, from any device of the tenant, is answered op_conflict naming
// an unrelated device's seq instead of missing_field.
func regressionNilOpIDTakesCanonicalSlot(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	bad := ledger.Operation{Kind: ledger.KindReceive, SKU: "WIDGET", Location: "A1", Qty: 1, OccurredAt: f.clock.Now()}
	bad.Seq = 1
	r1, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: f.devs[0].ID, Ops: []ledger.Operation{bad}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r1.Results[0], ledger.StatusRejected, ledger.CodeMissingField)
	other := bad
	other.Qty = 2
	r2, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: f.devs[1].ID, Ops: []ledger.Operation{other}})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Results[0].Code != ledger.CodeMissingField {
		t.Errorf("op with no op_id from another device: %s/%s (%s), want rejected/missing_field", r2.Results[0].Status, r2.Results[0].Code, r2.Results[0].Message)
	}
}
