package ledgertest

import (
	"sync"
	"testing"

	"github.com/google/uuid"

	"stocksync/ledger"
)

func testResolveAccept(t *testing.T, nf Factory) {
	f := setup(t, nf)
	r := f.push1(f.devs[0], pick("WIDGET", "A1", 2, "", ""))
	got := f.resolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionAccept, By: "ana", Note: "receipt is on the truck"})
	if got.Status != ledger.ReviewResolved || got.Resolution.By != "ana" || got.Resolution.Note != "receipt is on the truck" ||
		!got.Resolution.At.Equal(f.clock.Now()) || len(got.Resolution.Positions) != 0 || got.Changed == 0 {
		t.Fatalf("accepted = %+v %+v", got, got.Resolution)
	}
	// Stored as decided, and refused a second time.
	if stored := f.review(got.ID); stored.Resolution == nil || stored.Resolution.Action != ledger.ActionAccept {
		t.Fatalf("stored = %+v", stored)
	}
	_, err := f.l.ResolveReview(f.ctx, f.tenant.ID, got.ID, ledger.Resolution{Action: ledger.ActionReverse, By: "bob"})
	wantCode(t, err, ledger.CodeAlreadyResolved)
	f.wantBalance("A1", "WIDGET", "", -2)
	f.checkConsistent()
}

func testResolveReassignBatch(t *testing.T, nf Factory) {
	f := setup(t, nf)
	f.ship("SO-3", lot{"L1", 4})
	r := f.push1(f.devs[2], ret("BOLT", "B1", 3, "L2", "SO-3"))
	rv := f.review(r.ReviewID())
	s := rv.Suggestions[0]
	got := f.resolve(rv.ID, ledger.Resolution{Action: s.Action, Batch: s.Batch, Note: "label misread"})
	if len(got.Resolution.Positions) != 2 || got.Resolution.Batch != "L1" {
		t.Fatalf("resolution = %+v", got.Resolution)
	}
	f.wantBalance("B1", "BOLT", "L2", 0)
	f.wantBalance("B1", "BOLT", "L1", 3)
	movs, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{OpID: r.OpID})
	if len(movs) != 3 || movs[1].Kind != ledger.MoveResolution || movs[1].ReviewID != rv.ID || movs[1].Corrects != r.OpID {
		t.Fatalf("movements = %+v", movs)
	}
	// The order now knows the return was of L1: one more of L1 fits, a
	// second would be too many.
	wantStatus(t, f.push1(f.devs[2], ret("BOLT", "B1", 1, "L1", "SO-3")), ledger.StatusApplied, "")
	wantStatus(t, f.push1(f.devs[2], ret("BOLT", "B1", 1, "L1", "SO-3")), ledger.StatusFlagged, ledger.Code(ledger.ReviewOverReturn))
	f.checkConsistent()
}

func testResolveReverse(t *testing.T, nf Factory) {
	f := setup(t, nf)
	f.push(f.devs[0], receive("WIDGET", "A1", 1, "", ""))
	r := f.push1(f.devs[0], transfer("WIDGET", "A1", "A2", 3, ""))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	got := f.resolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionReverse, Note: "scanned the wrong bin"})
	if len(got.Resolution.Positions) != 2 {
		t.Fatalf("resolution = %+v", got.Resolution)
	}
	f.wantBalance("A1", "WIDGET", "", 1)
	f.wantBalance("A2", "WIDGET", "", 0)
	// Nothing posted is edited: the transfer's movements are still there.
	movs, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{OpID: r.OpID})
	if len(movs) != 4 {
		t.Fatalf("movements = %+v", movs)
	}
	f.checkConsistent()
}

func testResolveAdjust(t *testing.T, nf Factory) {
	f := setup(t, nf)
	r := f.push1(f.devs[0], pick("BOLT", "A1", 2, "L1", ""))
	rv := f.review(r.ReviewID())
	var sugg ledger.Suggestion
	for _, s := range rv.Suggestions {
		if s.Action == ledger.ActionAdjust {
			sugg = s
		}
	}
	if sugg.Qty != 2 {
		t.Fatalf("adjust suggestion = %+v", rv.Suggestions)
	}
	f.resolve(rv.ID, ledger.Resolution{Action: ledger.ActionAdjust, Qty: sugg.Qty, Note: "found in the returns cage"})
	f.wantBalance("A1", "BOLT", "L1", 0)
	// adjust may name another bin or batch of the same item.
	r2 := f.push1(f.devs[0], pick("BOLT", "A1", 1, "L2", ""))
	f.resolve(r2.ReviewID(), ledger.Resolution{Action: ledger.ActionAdjust, Qty: 5, Location: "A2", Batch: "L3"})
	f.wantBalance("A2", "BOLT", "L3", 5)
	// The key is still negative: the review was decided, and a new
	// decrement opens a new one.
	f.wantBalance("A1", "BOLT", "L2", -1)
	wantStatus(t, f.push1(f.devs[0], pick("BOLT", "A1", 1, "L2", "")), ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	f.checkConsistent()
}

func testResolveHeldReturn(t *testing.T, nf Factory) {
	f := setup(t, nf)
	r := f.push1(f.devs[1], ret("BOLT", "B1", 2, "", "SO-GONE"))
	wantStatus(t, r, ledger.StatusHeld, ledger.Code(ledger.ReviewUnknownOrder))
	_, err := f.l.ResolveReview(f.ctx, f.tenant.ID, r.ReviewID(), ledger.Resolution{Action: ledger.ActionReverse, By: "ana"})
	wantCode(t, err, ledger.CodeInvalid)
	f.resolve(r.ReviewID(), ledger.Resolution{Action: ledger.ActionReassignBatch, Batch: "L2", Note: "customer kept the label"})
	f.wantBalance("B1", "BOLT", "L2", 2)
	log, _ := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{DeviceID: f.devs[1].ID})
	if len(log) != 1 || !log[0].Posted {
		t.Fatalf("op log = %+v", log)
	}
	f.checkConsistent()
}

func testResolveErrors(t *testing.T, nf Factory) {
	f := setup(t, nf)
	r := f.push1(f.devs[0], pick("WIDGET", "A1", 1, "", ""))
	id := r.ReviewID()
	cases := []struct {
		name string
		res  ledger.Resolution
		code ledger.Code
	}{
		{"no one decided", ledger.Resolution{Action: ledger.ActionAccept}, ledger.CodeInvalid},
		{"unknown action", ledger.Resolution{Action: "shrug", By: "x"}, ledger.CodeInvalid},
		{"settled is not a choice", ledger.Resolution{Action: ledger.ActionSettled, By: "x"}, ledger.CodeInvalid},
		{"map on negative stock", ledger.Resolution{Action: ledger.ActionMapReference, SKU: "WIDGET", By: "x"}, ledger.CodeInvalid},
		{"reassign untracked", ledger.Resolution{Action: ledger.ActionReassignBatch, Batch: "L1", By: "x"}, ledger.CodeInvalid},
		{"adjust zero", ledger.Resolution{Action: ledger.ActionAdjust, By: "x"}, ledger.CodeInvalid},
		{"adjust unknown bin", ledger.Resolution{Action: ledger.ActionAdjust, Qty: 1, Location: "NOPE", By: "x"}, ledger.CodeNotFound},
	}
	for _, tc := range cases {
		_, err := f.l.ResolveReview(f.ctx, f.tenant.ID, id, tc.res)
		if ledger.ErrorCode(err) != tc.code {
			t.Errorf("%s: err = %v, want %s", tc.name, err, tc.code)
		}
	}
	_, err := f.l.ResolveReview(f.ctx, f.tenant.ID, uuid.Must(uuid.NewV7()), ledger.Resolution{Action: ledger.ActionAccept, By: "x"})
	wantCode(t, err, ledger.CodeNotFound)
	// Failed attempts changed nothing: still open, no movements beyond the pick.
	if rv := f.review(id); rv.Status != ledger.ReviewOpen {
		t.Fatalf("review = %+v", rv)
	}
	f.wantBalance("A1", "WIDGET", "", -1)
	f.checkConsistent()
}

// testConcurrentResolve: two managers decide the same review at once; the
// database lets exactly one win.
func testConcurrentResolve(t *testing.T, nf Factory) {
	f := setup(t, nf)
	r := f.push1(f.devs[0], pick("WIDGET", "A1", 1, "", ""))
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = f.l.ResolveReview(f.ctx, f.tenant.ID, r.ReviewID(), ledger.Resolution{Action: ledger.ActionAdjust, Qty: 1, By: "m"})
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch ledger.ErrorCode(err) {
		case "":
			ok++
		case ledger.CodeAlreadyResolved:
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d resolutions succeeded, want exactly 1", ok)
	}
	f.wantBalance("A1", "WIDGET", "", 0)
	f.checkConsistent()
}
