package ledgertest

// Regressions found by a second, independent review of the merge rules and
// resolutions. Each asserts the behaviour DESIGN.md and docs/ledger.md call
// for, and failed before its fix. They run in the conformance suite.

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// A receive without a lot gets a generated code the device computes offline
// and prints on a label. When a pick scanning that label syncs before the
// receive (another handheld, picked minutes later), the pick creates the lot
// on first sight; the receive then sees the code "taken" and posts to a
// second, fallback lot. The same two operations leave one lot at 3 in one
// arrival order, and a lot at -2 (negative_stock) plus a lot at 5 in the
// other.
func regression2GeneratedLotFirstSeenOnPick(t *testing.T, nf Factory) {
	rcvID := uuid.Must(uuid.NewV7())
	run := func(receiveFirst bool) (string, ledger.Result, string) {
		f := setupWith(t, nf, nil)
		label := ledger.GeneratedBatchCode(f.devs[0].BatchPrefix, rcvID, Start)
		rcv := at(receive("BOLT", "A1", 5, "", ""), Start)
		rcv.OpID = rcvID
		f.clock.Advance(10 * time.Minute)
		pk := pick("BOLT", "A1", 2, label, "SO-1") // scanned from the printed label
		var rr ledger.Result
		if receiveFirst {
			rr = f.push1(f.devs[0], rcv)
			f.push1(f.devs[1], pk)
		} else {
			f.push1(f.devs[1], pk)
			rr = f.push1(f.devs[0], rcv)
		}
		f.checkConsistent()
		return f.outcome().String(), rr, label
	}
	a, ra, label := run(true)
	b, rb, _ := run(false)
	if rb.Batch != label {
		t.Errorf("receive synced after a pick of its printed label %s was filed under lot %q", label, rb.Batch)
	}
	if a != b {
		t.Errorf("final state depends on arrival order:\n receive first: %s (batch %s)\n pick first:    %s (batch %s)", a, ra.Batch, b, rb.Batch)
	}
}

// When a late shipment re-matches the excess of a return (return_rematch),
// the correcting movements are effective at the server's now instead of at
// the return's effective time, and bypass count re-derivation. A count of
// the bin taken between the return and the sync of the late pick has
// already absorbed the "excess" as a negative variance; the rematch then
// takes the same unit off again. Pick first: B1/L1 = 2 (what was counted).
// Pick last: B1/L1 = 1 and a count_variance review stays open.
func regression2RematchIgnoresCounts(t *testing.T, nf Factory) {
	run := func(pickFirst bool) string {
		f := setupWith(t, nf, nil)
		m := func(n int) time.Time { return Start.Add(time.Duration(n) * time.Minute) }
		f.clock.Advance(time.Hour)
		f.push(f.devs[0], at(receive("BOLT", "A1", 2, "L1", ""), m(0)), at(receive("BOLT", "A1", 1, "L2", ""), m(0)),
			at(pick("BOLT", "A1", 2, "L1", "SO-1"), m(1)))
		late := at(pick("BOLT", "A1", 1, "L2", "SO-1"), m(5))
		if pickFirst {
			f.push(f.devs[0], late)
		}
		// The customer returns 3 (2 of L1, 1 of L2); the desk scans no batch.
		f.push(f.devs[1], at(ret("BOLT", "B1", 3, "", "SO-1"), m(10)))
		// Someone counts B1/L1 and finds the 2 units of L1.
		f.push(f.devs[2], at(count("BOLT", "B1", 2, "L1"), m(30)))
		if !pickFirst {
			f.clock.Advance(time.Minute)
			f.push(f.devs[0], late)
		}
		f.checkConsistent()
		return f.outcome().String()
	}
	sameOutcome(t, "pick first", "pick last", run)
}

// rematchReturn moves the excess of the whole order line (from.Returned -
// from.Shipped), not the excess of the return whose review it is handling,
// and it moves it at that return's location. Two no-batch returns of one
// order land in different bins, each with its own over_return; the late
// shipment moves both excesses out of the first return's bin, leaving B1/L1
// at 1 (only 2 of L1 came back there, from a shipment of 2) and A2/L1 at 1
// (L1 was fully returned already).
func regression2RematchMovesAnotherReturnsExcess(t *testing.T, nf Factory) {
	run := func(pickFirst bool) string {
		f := setupWith(t, nf, nil)
		f.push(f.devs[0], receive("BOLT", "A1", 2, "L1", ""), receive("BOLT", "A1", 5, "L2", ""),
			pick("BOLT", "A1", 2, "L1", "SO-1"))
		late := pick("BOLT", "A1", 5, "L2", "SO-1")
		if pickFirst {
			f.push(f.devs[0], late)
		}
		f.push(f.devs[1], ret("BOLT", "B1", 3, "", "SO-1"))
		f.push(f.devs[2], ret("BOLT", "A2", 1, "", "SO-1"))
		if !pickFirst {
			f.push(f.devs[0], late)
		}
		f.checkConsistent()
		return f.outcome().String()
	}
	sameOutcome(t, "pick first", "pick last", run)
}

// When a late shipment settles several unknown_order reviews of posted
// returns on one order line, evaluateReturn judges each return against the
// line's final total: every one of them opens over_return. Had the pick
// synced first, only the return that went over would have.
func regression2LateShipmentDoubleOverReturn(t *testing.T, nf Factory) {
	run := func(pickFirst bool) string {
		f := setupWith(t, nf, nil)
		f.push(f.devs[0], receive("WIDGET", "A1", 5, "", ""))
		pk := pick("WIDGET", "A1", 1, "", "SO-1")
		if pickFirst {
			f.push(f.devs[0], pk)
		}
		f.push(f.devs[1], ret("WIDGET", "B1", 1, "", "SO-1"))
		f.push(f.devs[2], ret("WIDGET", "B1", 1, "", "SO-1"))
		if !pickFirst {
			f.push(f.devs[0], pk)
		}
		f.checkConsistent()
		return f.outcome().String()
	}
	sameOutcome(t, "pick first", "pick last", run)
}

// A count absorbs a late pick with a count_correction movement whose OpID is
// the pick and whose Corrects is the count, so both operations claim it:
// reversing the pick nets it in (posting nothing), and reversing the count
// nets it in again (undoing the absorption). With both reversed, the stock
// should be what the receive alone left (5); it is 3, the reversed pick
// still taking its 2.
func regression2ReverseCountAndAbsorbedPick(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	m := func(n int) time.Time { return Start.Add(time.Duration(n) * time.Minute) }
	f.clock.Advance(time.Hour)
	f.push(f.devs[0], at(receive("MILK", "A1", 5, "M-OLD", ""), m(0)))
	cr := f.push1(f.devs[1], at(count("MILK", "A1", 5, "M-OLD"), m(30)))
	wantStatus(t, cr, ledger.StatusApplied, "")
	// A pick of the expired lot, made before the count, syncs late.
	pr := f.push1(f.devs[2], at(pick("MILK", "A1", 2, "M-OLD", "SO-1"), m(10)))
	wantStatus(t, pr, ledger.StatusFlagged, ledger.Code(ledger.ReviewExpiredBatch))
	variance := f.onlyOpen(ledger.ReviewCountVariance)
	// The pick was put back; and the count was wrong.
	f.resolve(pr.ReviewID(), ledger.Resolution{Action: ledger.ActionReverse, Note: "put back"})
	f.resolve(variance.ID, ledger.Resolution{Action: ledger.ActionReverse, Note: "miscounted"})
	if got := f.balance("A1", "MILK", "M-OLD"); got != 5 {
		t.Errorf("A1/MILK/M-OLD = %d after reversing both the pick and the count, want 5 (the receive)", got)
	}
	f.checkConsistent()
}

// Same family with return_rematch: the rematch movements carry the late
// pick's OpID (and Corrects = the return), so reversing the pick undoes the
// return's rematch, and reversing the return counts the rematch again. With
// both reversed, B1 ends at L1 = +1 and L2 = -1 instead of 0 and 0.
func regression2ReversePickAndRematchedReturn(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	f.push(f.devs[0], receive("BOLT", "A1", 2, "L1", ""), pick("BOLT", "A1", 2, "L1", "SO-1"))
	rr := f.push1(f.devs[1], ret("BOLT", "B1", 4, "", "SO-1"))
	wantStatus(t, rr, ledger.StatusFlagged, ledger.Code(ledger.ReviewOverReturn))
	// A late pick of L2 (from an empty bin) re-matches 1 of the excess.
	pr := f.push1(f.devs[2], pick("BOLT", "A1", 1, "L2", "SO-1"))
	wantStatus(t, pr, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	if f.balance("B1", "BOLT", "L2") != 1 {
		t.Fatalf("rematch did not happen: B1/L2 = %d", f.balance("B1", "BOLT", "L2"))
	}
	f.resolve(rr.ReviewID(), ledger.Resolution{Action: ledger.ActionReverse, Note: "scanned in error"})
	f.resolve(pr.ReviewID(), ledger.Resolution{Action: ledger.ActionReverse, Note: "never picked"})
	l1, l2 := f.balance("B1", "BOLT", "L1"), f.balance("B1", "BOLT", "L2")
	if l1 != 0 || l2 != 0 {
		t.Errorf("after reversing both the return and the late pick, B1/BOLT L1 = %d, L2 = %d; want 0 and 0", l1, l2)
	}
	f.checkConsistent()
}

// reassign_batch adds the operation's NET on the source batch to the target.
// A pick absorbed by a later count nets to zero on its batch, so the
// reassignment is refused ("nothing posted to move") although the picked
// goods really came from the target lot: M-NEW is never decremented and the
// order keeps M-OLD as shipped. (reverse handles this case: it fixes the
// order totals; reassign should post the pick's own quantity to the target
// and remove its net from the source.)
func regression2ReassignAbsorbedPick(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	m := func(n int) time.Time { return Start.Add(time.Duration(n) * time.Minute) }
	f.clock.Advance(time.Hour)
	f.push(f.devs[0], at(receive("MILK", "A1", 5, "M-OLD", ""), m(0)), at(receive("MILK", "A1", 5, "M-NEW", ""), m(0)))
	f.push(f.devs[1], at(count("MILK", "A1", 5, "M-OLD"), m(30)))
	pr := f.push1(f.devs[2], at(pick("MILK", "A1", 2, "M-OLD", "SO-1"), m(10)))
	wantStatus(t, pr, ledger.StatusFlagged, ledger.Code(ledger.ReviewExpiredBatch))
	// The picker scanned the old label but took the new lot.
	_, err := f.tryResolve(pr.ReviewID(), ledger.Resolution{Action: ledger.ActionReassignBatch, Batch: "M-NEW"})
	if err != nil {
		t.Errorf("reassign of a pick a count absorbed: %v; A1/M-NEW stays %d though 2 were picked from it", err, f.balance("A1", "MILK", "M-NEW"))
		return
	}
	if got := f.balance("A1", "MILK", "M-NEW"); got != 3 {
		t.Errorf("A1/MILK/M-NEW = %d after reassigning the pick to it, want 3", got)
	}
	if got := f.balance("A1", "MILK", "M-OLD"); got != 5 {
		t.Errorf("A1/MILK/M-OLD = %d, want 5 (what the count found)", got)
	}
	f.checkConsistent()
}

// occurred_at is only checked to be in 2000..2999: an operation dated a
// month after the push's device_time (impossible: it was recorded before the
// push) is accepted. A count so dated sorts after every later movement of
// its key and absorbs each one with a count_correction, so the bin's stock
// is frozen at the counted value: a receive of 10 leaves it unchanged.
func regression2FutureDatedCountFreezesStock(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	f.push1(f.devs[0], receive("WIDGET", "A1", 5, "", ""))
	cr := f.push1(f.devs[1], at(count("WIDGET", "A1", 5, ""), f.clock.Now().Add(30*24*time.Hour)))
	f.clock.Advance(time.Hour)
	f.push1(f.devs[0], receive("WIDGET", "A1", 10, "", ""))
	// The count is posted at its receive time (the device clock was
	// wrong), so the later receive is after it and counts. (It is close
	// to the first receive, so it may be flagged count_ambiguous.)
	if cr.Status == ledger.StatusRejected || cr.Message == "" || f.balance("A1", "WIDGET", "") != 15 {
		t.Errorf("count dated 30 days after the push's device_time = %s/%s %q; after receiving 10 more A1/WIDGET = %d (want posted with a message, and 15)",
			cr.Status, cr.Code, cr.Message, f.balance("A1", "WIDGET", ""))
	}
	f.checkConsistent()
}

// negative_stock has one review per key that later operations join.
// Resolving it with reverse reverses only the opening operation and closes
// the review; the key stays below zero from the joined operation with no
// open review (DESIGN goal 2: never silent).
func regression2ReverseJoinedNegativeStockGoesSilent(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	r1 := f.push1(f.devs[0], pick("WIDGET", "A1", 2, "", "SO-1"))
	r2 := f.push1(f.devs[1], pick("WIDGET", "A1", 3, "", "SO-2"))
	if r1.ReviewID() != r2.ReviewID() {
		t.Fatalf("expected the second pick to join the first's review")
	}
	f.resolve(r1.ReviewID(), ledger.Resolution{Action: ledger.ActionReverse, Note: "first pick never happened"})
	bal := f.balance("A1", "WIDGET", "")
	if open := f.reviews(ledger.ReviewOpen, ledger.ReviewNegativeStock); bal < 0 && len(open) == 0 {
		t.Errorf("A1/WIDGET = %d after the review was resolved, and no negative_stock review is open (the joined pick of 3 was never decided)", bal)
	}
	f.checkConsistent()
}

// docs/ledger.md: a lot first seen on a pick learns its expiry later, "and
// the picks already posted from it are judged against it (expired_batch), so
// the outcome does not depend on which synced first". That holds for a
// receive bringing the expiry, not for a manager entering it through
// UpsertCatalog: the picks already made of the expired lot are never
// judged, while the same pick after the catalog entry opens expired_batch.
func regression2CatalogExpiryNotJudged(t *testing.T, nf Factory) {
	run := func(catalogFirst bool) int {
		f := setupWith(t, nf, nil)
		f.push(f.devs[0], receive("MILK", "A1", 5, "M-OLD", ""))
		cat := ledger.Catalog{Batches: []ledger.BatchInput{{SKU: "MILK", Code: "M-X", Expiry: "2026-11-01"}}}
		upsert := func() {
			if _, err := f.l.UpsertCatalog(f.ctx, f.tenant.ID, cat); err != nil {
				t.Fatal(err)
			}
		}
		if catalogFirst {
			upsert()
		}
		f.push(f.devs[1], pick("MILK", "A1", 1, "M-X", "SO-1"))
		if !catalogFirst {
			upsert()
		}
		return len(f.reviews(ledger.ReviewOpen, ledger.ReviewExpiredBatch))
	}
	a, b := run(true), run(false)
	if a != b {
		t.Errorf("open expired_batch reviews: %d when the catalog knew the expiry first, %d when the pick synced first", a, b)
	}
}

// map_reference adds a barcode that was unknown when the operation was held
// to the chosen item, without checking it is still unknown. If a manager has
// since put the barcode on another item through the catalog, the resolution
// silently moves it away from that item: the next scan of the barcode posts
// to the wrong SKU.
func regression2MapReferenceStealsCatalogBarcode(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	held := f.push1(f.devs[0], ledger.Operation{Kind: ledger.KindReceive, Barcode: "999000", Location: "A1", Qty: 1})
	wantStatus(t, held, ledger.StatusHeld, ledger.Code(ledger.ReviewUnknownReference))
	// The catalog learns that 999000 is a WIDGET barcode.
	if _, err := f.l.UpsertCatalog(f.ctx, f.tenant.ID, ledger.Catalog{Items: []ledger.ItemInput{
		{SKU: "WIDGET", Name: "Widget", Unit: "pcs", Barcodes: []string{"4000001000013", "999000"}}}}); err != nil {
		t.Fatal(err)
	}
	// An old review is resolved by someone who maps it to BOLT.
	_, err := f.tryResolve(held.ReviewID(), ledger.Resolution{Action: ledger.ActionMapReference, SKU: "BOLT"})
	var owner string
	if rerr := f.l.Store().Read(context.Background(), func(tx ledger.ReadTx) error {
		m, err := tx.ItemsByBarcode(f.ctx, f.tenant.ID, []string{"999000"})
		owner = m["999000"].SKU
		return err
	}); rerr != nil {
		t.Fatal(rerr)
	}
	if owner != "WIDGET" {
		t.Errorf("barcode 999000, put on WIDGET by the catalog, now belongs to %q after a map_reference resolution (err %v)", owner, err)
	}
}

// adjust takes a location and a batch; an SKU is silently ignored, yet the
// resolution records it: the audit says GADGET, the stock went to WIDGET.
// (The same class as the fixed map_reference regression.)
func regression2AdjustIgnoresSKU(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	if _, err := f.l.UpsertCatalog(f.ctx, f.tenant.ID, ledger.Catalog{Items: []ledger.ItemInput{{SKU: "GADGET", Name: "Gadget", Unit: "pcs"}}}); err != nil {
		t.Fatal(err)
	}
	r := f.push1(f.devs[0], pick("WIDGET", "A1", 2, "", "SO-1"))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	rv, err := f.tryResolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionAdjust, Qty: 2, SKU: "GADGET"})
	if err == nil && rv.Resolution.SKU == "GADGET" && f.balance("A1", "GADGET", "") == 0 {
		t.Errorf("adjust recorded sku GADGET but posted %d to WIDGET; want invalid (adjust takes no sku) or GADGET adjusted",
			f.balance("A1", "WIDGET", "")+2)
	}
}

// A receive of a known lot with an expiry that contradicts the lot's
// recorded one is applied with no review and the scanned expiry is dropped:
// picks of a lot the receipt says expired on 2026-11-01 are never flagged.
// DESIGN goal 2 (never silent) and docs/ledger.md's "silently ignoring them
// would lose intent".
func regression2ReceiveConflictingExpiryIgnored(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	r := f.push1(f.devs[0], receive("MILK", "A1", 5, "M-NEW", "2026-11-01")) // catalog: 2026-12-20
	p := f.push1(f.devs[1], pick("MILK", "A1", 1, "M-NEW", "SO-1"))
	if r.Status == ledger.StatusApplied && p.Status == ledger.StatusApplied {
		t.Errorf("receive of M-NEW with expiry 2026-11-01 (lot recorded 2026-12-20) applied silently, and a pick of it on 2026-11-23 is %s", p.Status)
	}
}

// A no-batch return whose excess lands on a batch it already allocated to
// posts twice on one key; each post re-checks the counts near it, so the
// result lists the same count_ambiguous review twice (and its evidence lists
// the return twice among the nearby movements).
func regression2DuplicateReviewIDs(t *testing.T, nf Factory) {
	f := setupWith(t, nf, nil)
	m := func(n int) time.Time { return Start.Add(time.Duration(n) * time.Minute) }
	f.clock.Advance(time.Hour)
	f.push(f.devs[0], at(receive("BOLT", "A1", 2, "L1", ""), m(0)), at(pick("BOLT", "A1", 2, "L1", "SO-1"), m(1)))
	f.push(f.devs[2], at(count("BOLT", "B1", 0, "L1"), m(10)))
	r := f.push1(f.devs[1], at(ret("BOLT", "B1", 3, "", "SO-1"), m(10).Add(30*time.Second)))
	seen := map[uuid.UUID]bool{}
	for _, id := range r.ReviewIDs {
		if seen[id] {
			rv := f.review(id)
			t.Errorf("result %s/%s lists review %s (%s) twice: %v; nearby evidence %+v", r.Status, r.Code, id, rv.Kind, r.ReviewIDs, rv.Evidence.Nearby)
		}
		seen[id] = true
	}
}
