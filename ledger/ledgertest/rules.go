package ledgertest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

func testNegativeStock(t *testing.T, nf Factory) {
	f := setup(t, nf)
	picker, receiver := f.devs[0], f.devs[1]
	// Picks sync before the receipt that covers them.
	r1 := f.push1(picker, pick("WIDGET", "A1", 3, "", "SO-1"))
	wantStatus(t, r1, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	r2 := f.push1(picker, pick("WIDGET", "A1", 2, "", "SO-2"))
	wantStatus(t, r2, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	if r1.ReviewID() != r2.ReviewID() {
		t.Errorf("a key has one open negative_stock review; got %s and %s", r1.ReviewID(), r2.ReviewID())
	}
	rv := f.onlyOpen(ledger.ReviewNegativeStock)
	if rv.Evidence.OnHand == nil || *rv.Evidence.OnHand != -5 || rv.Evidence.SKU != "WIDGET" || rv.Evidence.Location != "A1" ||
		len(rv.Ops) != 2 || rv.Ops[0].OpID != r1.OpID || rv.Severity != ledger.SeverityHigh || len(rv.Suggestions) == 0 {
		t.Errorf("review = %+v", rv)
	}
	// A partial receipt leaves it open; the rest settles it.
	f.push1(receiver, receive("WIDGET", "A1", 4, "", ""))
	f.onlyOpen(ledger.ReviewNegativeStock)
	settler := f.push1(receiver, receive("WIDGET", "A1", 6, "", ""))
	wantStatus(t, settler, ledger.StatusApplied, "")
	got := f.review(rv.ID)
	if got.Status != ledger.ReviewResolved || got.Resolution == nil || got.Resolution.Action != ledger.ActionSettled ||
		got.Resolution.SettledBy != settler.OpID || got.Resolution.Note == "" {
		t.Fatalf("review after covering receipt = %+v %+v", got, got.Resolution)
	}
	f.wantBalance("A1", "WIDGET", "", 5)
	f.checkConsistent()
}

func testLastUnitTwoDevices(t *testing.T, nf Factory) {
	f := setup(t, nf)
	f.push(f.devs[0], receive("WIDGET", "B1", 1, "", ""))
	a := f.push1(f.devs[1], pick("WIDGET", "B1", 1, "", "SO-A"))
	b := f.push1(f.devs[2], pick("WIDGET", "B1", 1, "", "SO-B"))
	wantStatus(t, a, ledger.StatusApplied, "")
	wantStatus(t, b, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	rv := f.onlyOpen(ledger.ReviewNegativeStock)
	if rv.DeviceID != f.devs[2].ID || rv.OpID != b.OpID {
		t.Errorf("review names %s/%s, want the second picker", rv.DeviceID, rv.OpID)
	}
	f.wantBalance("B1", "WIDGET", "", -1)
	f.checkConsistent()
}

// ship receives and picks a batch-tracked item on an order.
func (f *fixture) ship(order string, lots ...struct {
	batch string
	qty   int64
}) {
	f.t.Helper()
	for _, l := range lots {
		f.push(f.devs[0], receive("BOLT", "A1", l.qty, l.batch, ""))
		if r := f.push1(f.devs[0], pick("BOLT", "A1", l.qty, l.batch, order)); r.Status != ledger.StatusApplied {
			f.t.Fatalf("ship %s: %+v", order, r)
		}
	}
}

type lot = struct {
	batch string
	qty   int64
}

func testReturnMatching(t *testing.T, nf Factory) {
	f := setup(t, nf)
	f.ship("SO-7", lot{"L2", 5})
	r := f.push1(f.devs[1], ret("BOLT", "B1", 2, "", "SO-7"))
	wantStatus(t, r, ledger.StatusApplied, "")
	if r.Batch != "L2" || len(r.Allocations) != 1 || r.Allocations[0] != (ledger.Allocation{Batch: "L2", Qty: 2}) {
		t.Fatalf("return result = %+v", r)
	}
	f.wantBalance("B1", "BOLT", "L2", 2)
	// An untracked item matches by order too.
	f.push(f.devs[0], receive("WIDGET", "A1", 3, "", ""), pick("WIDGET", "A1", 3, "", "SO-8"))
	wantStatus(t, f.push1(f.devs[1], ret("WIDGET", "B1", 3, "", "SO-8")), ledger.StatusApplied, "")
	wantStatus(t, f.push1(f.devs[1], ret("WIDGET", "B1", 1, "", "SO-8")), ledger.StatusFlagged, ledger.Code(ledger.ReviewOverReturn))
	movs, err := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{Order: "SO-7"})
	if err != nil || len(movs) != 2 || movs[0].Kind != ledger.MovePick || movs[1].Kind != ledger.MoveReturn {
		t.Fatalf("order movements = %+v, %v", movs, err)
	}
	f.checkConsistent()
}

func testReturnSplit(t *testing.T, nf Factory) {
	f := setup(t, nf)
	f.ship("SO-9", lot{"L3", 2}, lot{"L1", 3})
	wantStatus(t, f.push1(f.devs[1], ret("BOLT", "B1", 1, "L3", "SO-9")), ledger.StatusApplied, "")
	r := f.push1(f.devs[1], ret("BOLT", "B1", 3, "", "SO-9"))
	wantStatus(t, r, ledger.StatusApplied, "")
	// Shipment order: L3 first (1 left to return), then L1.
	want := []ledger.Allocation{{Batch: "L3", Qty: 1}, {Batch: "L1", Qty: 2}}
	if len(r.Allocations) != 2 || r.Allocations[0] != want[0] || r.Allocations[1] != want[1] || r.Batch != "L3,L1" {
		t.Fatalf("allocations = %+v (batch %q), want %+v", r.Allocations, r.Batch, want)
	}
	f.wantBalance("B1", "BOLT", "L3", 2)
	f.wantBalance("B1", "BOLT", "L1", 2)
	f.checkConsistent()
}

func testWrongBatchReturn(t *testing.T, nf Factory) {
	f := setup(t, nf)
	f.ship("SO-3", lot{"L1", 4})
	r := f.push1(f.devs[2], ret("BOLT", "B1", 2, "L2", "SO-3"))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewWrongBatchReturn))
	f.wantBalance("B1", "BOLT", "L2", 2) // physical truth: posted to the scanned batch
	rv := f.review(r.ReviewID())
	if rv.Kind != ledger.ReviewWrongBatchReturn || rv.Order != "SO-3" || rv.Evidence.Batch != "L2" ||
		len(rv.Evidence.Shipped) != 1 || rv.Evidence.Shipped[0] != (ledger.BatchQty{Batch: "L1", Qty: 4}) {
		t.Fatalf("review = %+v", rv)
	}
	if s := rv.Suggestions[0]; s.Action != ledger.ActionReassignBatch || s.Batch != "L1" {
		t.Errorf("first suggestion = %+v, want reassign to L1", s)
	}
	f.checkConsistent()
}

func testOverReturn(t *testing.T, nf Factory) {
	f := setup(t, nf)
	f.ship("SO-4", lot{"L1", 2})
	wantStatus(t, f.push1(f.devs[1], ret("BOLT", "B1", 1, "L1", "SO-4")), ledger.StatusApplied, "")
	r := f.push1(f.devs[1], ret("BOLT", "B1", 2, "L1", "SO-4"))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewOverReturn))
	// With no batch, the excess goes to the last shipped batch.
	r2 := f.push1(f.devs[1], ret("BOLT", "B1", 1, "", "SO-4"))
	wantStatus(t, r2, ledger.StatusFlagged, ledger.Code(ledger.ReviewOverReturn))
	f.wantBalance("B1", "BOLT", "L1", 4)
	// A late pick of more on the order settles both.
	f.push(f.devs[0], receive("BOLT", "A1", 5, "L1", ""))
	f.push1(f.devs[0], pick("BOLT", "A1", 2, "L1", "SO-4"))
	if open := f.reviews(ledger.ReviewOpen, ledger.ReviewOverReturn); len(open) != 0 {
		t.Errorf("over_return still open after the shipment: %+v", open)
	}
	f.checkConsistent()
}

func testUnknownOrder(t *testing.T, nf Factory) {
	f := setup(t, nf)
	r := f.push1(f.devs[1], ret("BOLT", "B1", 2, "L2", "SO-LATE"))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewUnknownOrder))
	f.wantBalance("B1", "BOLT", "L2", 2)
	// The shipment arrives with another batch: unknown_order settles, and
	// the return is now a wrong-batch return.
	f.ship("SO-LATE", lot{"L1", 2})
	if got := f.review(r.ReviewID()); got.Status != ledger.ReviewResolved || got.Resolution.Action != ledger.ActionSettled {
		t.Fatalf("unknown_order after shipment = %+v", got)
	}
	wb := f.onlyOpen(ledger.ReviewWrongBatchReturn)
	if wb.OpID != r.OpID || wb.DeviceID != f.devs[1].ID {
		t.Errorf("wrong_batch_return names %s, want the return %s", wb.OpID, r.OpID)
	}
	// An order whose shipment matches settles with nothing left open.
	r2 := f.push1(f.devs[1], ret("WIDGET", "B1", 1, "", "SO-X"))
	wantStatus(t, r2, ledger.StatusFlagged, ledger.Code(ledger.ReviewUnknownOrder))
	f.push(f.devs[0], receive("WIDGET", "A1", 1, "", ""), pick("WIDGET", "A1", 1, "", "SO-X"))
	if open := f.reviews(ledger.ReviewOpen, ""); len(open) != 1 || open[0].Kind != ledger.ReviewWrongBatchReturn {
		t.Errorf("open reviews = %+v", open)
	}
	f.checkConsistent()
}

// testUnknownOrderHeld: a return with no batch on an order the ledger has
// not seen cannot be posted to any batch; it is held, and posted matched
// when the shipment syncs.
func testUnknownOrderHeld(t *testing.T, nf Factory) {
	f := setup(t, nf)
	r := f.push1(f.devs[1], ret("BOLT", "B1", 2, "", "SO-HELD"))
	wantStatus(t, r, ledger.StatusHeld, ledger.Code(ledger.ReviewUnknownOrder))
	if rows, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{OpID: r.OpID}); len(rows) != 0 {
		t.Fatalf("held op posted %+v", rows)
	}
	f.checkConsistent()
	f.ship("SO-HELD", lot{"L3", 5})
	f.wantBalance("B1", "BOLT", "L3", 2)
	if got := f.review(r.ReviewID()); got.Status != ledger.ReviewResolved {
		t.Fatalf("review = %+v", got)
	}
	log, _ := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{DeviceID: f.devs[1].ID})
	if len(log) != 1 || !log[0].Posted || log[0].Result.Status != ledger.StatusHeld {
		t.Errorf("op log = %+v", log)
	}
	f.checkConsistent()
}

func testExchange(t *testing.T, nf Factory) {
	f := setup(t, nf)
	f.ship("SO-EX", lot{"L1", 3})
	f.push(f.devs[0], receive("BOLT", "A1", 5, "L2", ""))
	ops := f.prepare(f.devs[1], ret("BOLT", "B1", 1, "L1", "SO-EX"))
	exch := pick("BOLT", "A1", 1, "L2", "SO-EX")
	exch.ExchangeOf = ops[0].OpID.String()
	ops = append(ops, f.prepare(f.devs[1], exch)...)
	resp := f.merge(f.devs[1], ops)
	wantStatus(t, resp.Results[0], ledger.StatusApplied, "")
	wantStatus(t, resp.Results[1], ledger.StatusApplied, "")
	// The link is recorded, not judged: the return it names may sync
	// later from another device, and a physical pick is never rejected.
	other := pick("BOLT", "A1", 1, "L2", "SO-OTHER")
	other.ExchangeOf = uuid.Must(uuid.NewV7()).String()
	wantStatus(t, f.push1(f.devs[1], other), ledger.StatusApplied, "")
	// exchange_of must be an operation id, on a pick, with an order.
	bad := pick("BOLT", "A1", 1, "L2", "")
	bad.ExchangeOf = ops[0].OpID.String()
	wantStatus(t, f.push1(f.devs[1], bad), ledger.StatusRejected, ledger.CodeInvalidExchange)
	onReturn := ret("BOLT", "B1", 1, "L1", "SO-EX")
	onReturn.ExchangeOf = ops[0].OpID.String()
	wantStatus(t, f.push1(f.devs[1], onReturn), ledger.StatusRejected, ledger.CodeUnexpectedField)
	f.wantBalance("B1", "BOLT", "L1", 1)
	f.wantBalance("A1", "BOLT", "L2", 3)
	log, _ := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{DeviceID: f.devs[1].ID})
	if op, err := log[1].Operation(); err != nil || op.ExchangeOf != ops[0].OpID.String() {
		t.Errorf("exchange link not kept in the op log: %+v %v", op, err)
	}
	f.checkConsistent()
}

func testCountVariance(t *testing.T, nf Factory) {
	f := setupWith(t, nf, &ledger.Settings{CountVarianceThreshold: 2, ClockUncertainty: time.Minute})
	dev := f.devs[0]
	f.push(dev, receive("WIDGET", "A1", 10, "", ""))
	f.clock.Advance(time.Hour)
	wantStatus(t, f.push1(dev, count("WIDGET", "A1", 9, "")), ledger.StatusApplied, "") // -1: within threshold
	f.wantBalance("A1", "WIDGET", "", 9)
	f.clock.Advance(time.Hour)
	r := f.push1(dev, count("WIDGET", "A1", 4, ""))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewCountVariance))
	rv := f.review(r.ReviewID())
	if *rv.Evidence.Counted != 4 || *rv.Evidence.Expected != 9 || *rv.Evidence.Threshold != 2 || rv.Evidence.Qty != -5 {
		t.Errorf("evidence = %+v", rv.Evidence)
	}
	f.wantBalance("A1", "WIDGET", "", 4)
	// A count of an untouched key posts its variance as an adjustment, and a
	// zero-variance count still records a movement.
	wantStatus(t, f.push1(dev, count("WIDGET", "A1", 4, "")), ledger.StatusApplied, "")
	movs, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{SKU: "WIDGET"})
	if len(movs) != 4 || movs[3].Qty != 0 || movs[3].Kind != ledger.MoveCount {
		t.Errorf("movements = %+v", movs)
	}
	f.checkConsistent()
}

// testCountRederived: a count is measured against stock as of its effective
// time, and a movement dated before it that syncs later re-derives it.
func testCountRederived(t *testing.T, nf Factory) {
	f := setupWith(t, nf, &ledger.Settings{CountVarianceThreshold: 0, ClockUncertainty: time.Minute})
	counter, picker := f.devs[0], f.devs[1]
	f.push(counter, receive("WIDGET", "A1", 10, "", ""))
	t0 := f.clock.Now()
	f.clock.Advance(2 * time.Hour)
	// The picker picked 3 at t0+30m but is offline. The counter counts 7
	// at t0+1h: what is really there.
	cr := f.push1(counter, at(count("WIDGET", "A1", 7, ""), t0.Add(time.Hour)))
	wantStatus(t, cr, ledger.StatusFlagged, ledger.Code(ledger.ReviewCountVariance))
	f.wantBalance("A1", "WIDGET", "", 7)
	// The late pick arrives: the count absorbs it, the stock stays 7, and
	// the variance (now zero) settles the review.
	pr := f.push1(picker, at(pick("WIDGET", "A1", 3, "", "SO-1"), t0.Add(30*time.Minute)))
	wantStatus(t, pr, ledger.StatusApplied, "")
	f.wantBalance("A1", "WIDGET", "", 7)
	if got := f.review(cr.ReviewID()); got.Status != ledger.ReviewResolved || got.Resolution.SettledBy != pr.OpID {
		t.Errorf("count_variance after re-derivation = %+v", got)
	}
	if got := f.balanceAsOf("A1", "WIDGET", "", t0.Add(45*time.Minute)); got != 7 {
		t.Errorf("stock as of t0+45m = %d, want 7", got)
	}
	if got := f.balanceAsOf("A1", "WIDGET", "", t0.Add(time.Hour)); got != 7 {
		t.Errorf("stock as of the count = %d, want 7", got)
	}
	movs, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{OpID: cr.OpID})
	var correction *ledger.MovementRow
	for i := range movs {
		if movs[i].Kind == ledger.MoveCountCorrection {
			correction = &movs[i]
		}
	}
	if correction == nil || correction.Qty != 3 || correction.OpID != pr.OpID || correction.Corrects != cr.OpID ||
		!correction.EffectiveAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("correction = %+v in %+v", correction, movs)
	}
	// A pick after the count is not absorbed.
	f.push1(picker, at(pick("WIDGET", "A1", 2, "", "SO-2"), t0.Add(90*time.Minute)))
	f.wantBalance("A1", "WIDGET", "", 5)
	f.checkConsistent()
}

func testCountAmbiguous(t *testing.T, nf Factory) {
	f := setupWith(t, nf, &ledger.Settings{CountVarianceThreshold: 100, ClockUncertainty: 5 * time.Minute})
	counter, picker := f.devs[0], f.devs[1]
	f.push(counter, receive("WIDGET", "A1", 10, "", ""))
	t0 := f.clock.Now()
	f.clock.Advance(time.Hour)
	cr := f.push1(counter, at(count("WIDGET", "A1", 8, ""), t0.Add(30*time.Minute)))
	wantStatus(t, cr, ledger.StatusApplied, "")
	// A pick two minutes before the count, by a device's clock: too close
	// to tell whether the counter saw those units.
	pr := f.push1(picker, at(pick("WIDGET", "A1", 2, "", "SO-1"), t0.Add(28*time.Minute)))
	wantStatus(t, pr, ledger.StatusFlagged, ledger.Code(ledger.ReviewCountAmbiguous))
	rv := f.onlyOpen(ledger.ReviewCountAmbiguous)
	if rv.OpID != cr.OpID || len(rv.Ops) != 2 || rv.Ops[1].OpID != pr.OpID || len(rv.Evidence.Nearby) != 1 {
		t.Errorf("review = %+v", rv)
	}
	// Ordered by effective time, the count absorbed the pick.
	f.wantBalance("A1", "WIDGET", "", 8)
	// The other arrival order opens the same review on the count.
	g := setupWith(t, nf, &ledger.Settings{CountVarianceThreshold: 100, ClockUncertainty: 5 * time.Minute})
	g.push(g.devs[0], receive("WIDGET", "A1", 10, "", ""))
	g.clock.Advance(time.Hour)
	g.push1(g.devs[1], at(pick("WIDGET", "A1", 2, "", "SO-1"), t0.Add(28*time.Minute)))
	c2 := g.push1(g.devs[0], at(count("WIDGET", "A1", 8, ""), t0.Add(30*time.Minute)))
	wantStatus(t, c2, ledger.StatusFlagged, ledger.Code(ledger.ReviewCountAmbiguous))
	if rv2 := g.onlyOpen(ledger.ReviewCountAmbiguous); rv2.OpID != c2.OpID {
		t.Errorf("review = %+v", rv2)
	}
	g.wantBalance("A1", "WIDGET", "", 8)
	// Every suggestion applies with one click: the review offers nothing
	// that needs a quantity it does not carry (the fault simulation found
	// an adjust suggestion with qty 0).
	rv2 := g.onlyOpen(ledger.ReviewCountAmbiguous)
	for _, s := range rv2.Suggestions {
		if s.Action == ledger.ActionAdjust && s.Qty == 0 {
			t.Errorf("suggestion %+v cannot apply: adjust needs a quantity", s)
		}
	}
	if _, err := g.tryResolve(rv2.ID, ledger.Resolution{Action: rv2.Suggestions[0].Action, Batch: rv2.Suggestions[0].Batch,
		Qty: rv2.Suggestions[0].Qty, SKU: rv2.Suggestions[0].SKU, Location: rv2.Suggestions[0].Location}); err != nil {
		t.Errorf("the first suggestion %+v does not apply: %v", rv2.Suggestions[0], err)
	}
	f.checkConsistent()
	g.checkConsistent()
}

// testCountAmbiguousBusyBin: on a busy bin a count's ambiguity review
// gathers many movements over several pushes. Its evidence lists the first
// MaxNearby and counts the rest; its operations hold every one.
func testCountAmbiguousBusyBin(t *testing.T, nf Factory) {
	f := setupWith(t, nf, &ledger.Settings{CountVarianceThreshold: 1000, ClockUncertainty: 5 * time.Minute})
	counter, picker := f.devs[0], f.devs[1]
	f.push(counter, receive("WIDGET", "A1", 1000, "", ""))
	t0 := f.clock.Now()
	f.clock.Advance(time.Hour)
	cr := f.push1(counter, at(count("WIDGET", "A1", 1000, ""), t0.Add(30*time.Minute)))
	wantStatus(t, cr, ledger.StatusApplied, "")
	const picks = ledger.MaxNearby + 17
	for sent := 0; sent < picks; {
		var ops []ledger.Operation
		for range min(20, picks-sent) {
			sent++
			ops = append(ops, at(pick("WIDGET", "A1", 1, "", ""), t0.Add(28*time.Minute+time.Duration(sent)*time.Second)))
		}
		for _, r := range f.push(picker, ops...) {
			wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewCountAmbiguous))
		}
	}
	rv := f.onlyOpen(ledger.ReviewCountAmbiguous)
	if rv.OpID != cr.OpID || len(rv.Ops) != picks+1 {
		t.Errorf("review opened by %s with %d operations, want the count %s and all %d picks", rv.OpID, len(rv.Ops), cr.OpID, picks)
	}
	if len(rv.Evidence.Nearby) != ledger.MaxNearby || rv.Evidence.NearbyMore != picks-ledger.MaxNearby {
		t.Errorf("evidence lists %d nearby movements and %d more, want %d and %d",
			len(rv.Evidence.Nearby), rv.Evidence.NearbyMore, ledger.MaxNearby, picks-ledger.MaxNearby)
	}
	f.wantBalance("A1", "WIDGET", "", 1000)
	f.checkConsistent()
}

func testExpiredBatch(t *testing.T, nf Factory) {
	f := setup(t, nf)
	f.push(f.devs[0], receive("MILK", "A1", 5, "M-OLD", ""), receive("MILK", "A1", 5, "M-NEW", ""))
	r := f.push1(f.devs[0], pick("MILK", "A1", 1, "M-OLD", "SO-1"))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewExpiredBatch))
	if rv := f.review(r.ReviewID()); rv.Evidence.Expiry != "2026-11-20" || rv.Evidence.Batch != "M-OLD" {
		t.Errorf("evidence = %+v", rv.Evidence)
	}
	wantStatus(t, f.push1(f.devs[0], pick("MILK", "A1", 1, "M-NEW", "SO-1")), ledger.StatusApplied, "")
	f.wantBalance("A1", "MILK", "M-OLD", 4)
	f.checkConsistent()
}

func testUnknownReference(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	r := f.push1(dev, ledger.Operation{Kind: ledger.KindReceive, Barcode: "999000111", Location: "A1", Qty: 6})
	wantStatus(t, r, ledger.StatusHeld, ledger.Code(ledger.ReviewUnknownReference))
	rl := f.push1(dev, receive("WIDGET", "Z9", 2, "", ""))
	wantStatus(t, rl, ledger.StatusHeld, ledger.Code(ledger.ReviewUnknownReference))
	f.wantBalance("A1", "WIDGET", "", 0)
	f.checkConsistent() // held operations have no movements and need none

	rv := f.review(r.ReviewID())
	if len(rv.Evidence.Unknown) != 1 || rv.Evidence.Unknown[0] != (ledger.Reference{Field: "barcode", Value: "999000111"}) {
		t.Fatalf("evidence = %+v", rv.Evidence)
	}
	// Map the barcode: the operation posts and the barcode now scans.
	got := f.resolve(rv.ID, ledger.Resolution{Action: ledger.ActionMapReference, SKU: "WIDGET", Note: "new label"})
	if got.Status != ledger.ReviewResolved || len(got.Resolution.Positions) != 1 {
		t.Fatalf("resolved = %+v %+v", got, got.Resolution)
	}
	f.wantBalance("A1", "WIDGET", "", 6)
	wantStatus(t, f.push1(dev, ledger.Operation{Kind: ledger.KindPick, Barcode: "999000111", Location: "A1", Qty: 1}), ledger.StatusApplied, "")
	// Map the location code to itself: it is created and the op posts.
	f.resolve(rl.ReviewID(), ledger.Resolution{Action: ledger.ActionMapReference, Location: "Z9"})
	f.wantBalance("Z9", "WIDGET", "", 2)
	log, _ := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{DeviceID: dev.ID, Status: ledger.StatusHeld})
	for _, e := range log {
		if !e.Posted {
			t.Errorf("op %s still unposted after map_reference", e.OpID)
		}
	}
	f.checkConsistent()
}
