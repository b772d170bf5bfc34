package ledgertest

// What a ledger keeps of a tenant's state between its merges
// (ledger/known.go): used only while nobody else wrote the tenant.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// testKnownStateAcrossWriters: two ledgers over one store stand for two
// servers on one database. Each merge must see what the other wrote, in
// balances, open reviews, counts and order lines, although each ledger keeps
// what its own last merge left.
func testKnownStateAcrossWriters(t *testing.T, nf Factory) {
	f := setup(t, nf)
	other := ledger.New(f.store, ledger.Options{Now: f.clock.Now})
	a, b := f.devs[0], f.devs[1]
	pushOther := func(ops ...ledger.Operation) []ledger.Result {
		t.Helper()
		resp, err := other.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: b.ID, DeviceTime: f.clock.Now(),
			Ops: f.prepare(b, ops...)})
		if err != nil {
			t.Fatalf("merge on the other ledger: %v", err)
		}
		return resp.Results
	}

	// Balances: 10 received here, 3 picked there; a pick of 8 here finds 7.
	f.push(a, receive("WIDGET", "A1", 10, "", ""))
	pushOther(pick("WIDGET", "A1", 3, "", "SO-1"))
	r := f.push1(a, pick("WIDGET", "A1", 8, "", "SO-2"))
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	f.wantBalance("A1", "WIDGET", "", -1)

	// Open reviews: the other ledger settles the negative stock with a
	// receipt; a pick here must not join a review that is no longer open.
	pushOther(receive("WIDGET", "A1", 5, "", ""))
	if rs := f.reviews(ledger.ReviewOpen, ledger.ReviewNegativeStock); len(rs) != 0 {
		t.Fatalf("negative stock still open after the receipt: %+v", rs)
	}
	wantStatus(t, f.push1(a, pick("WIDGET", "A1", 4, "", "SO-3")), ledger.StatusApplied, "")
	f.wantBalance("A1", "WIDGET", "", 0)
	// ...and the other way round: a review opened there is joined here.
	r = pushOther(pick("WIDGET", "A1", 2, "", "SO-4"))[0]
	wantStatus(t, r, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	r2 := f.push1(a, pick("WIDGET", "A1", 1, "", "SO-5"))
	wantStatus(t, r2, ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	if r2.ReviewID() != r.ReviewID() {
		t.Errorf("the second negative pick opened review %s, want it to join %s opened on the other ledger", r2.ReviewID(), r.ReviewID())
	}

	// Counts: a count posted there is re-derived by a late receipt here.
	f.push(a, receive("BOLT", "A1", 20, "L1", ""))
	t0 := f.clock.Now()
	f.clock.Advance(time.Hour)
	pushOther(at(count("BOLT", "A1", 20, "L1"), t0.Add(30*time.Minute)))
	wantStatus(t, f.push1(a, at(receive("BOLT", "A1", 5, "L1", ""), t0.Add(10*time.Minute))), ledger.StatusApplied, "")
	f.wantBalance("A1", "BOLT", "L1", 20)

	// Order lines: what the other ledger shipped on an order, a return
	// here matches.
	pushOther(pick("BOLT", "A1", 2, "L1", "SO-7"))
	wantStatus(t, f.push1(a, ret("BOLT", "A1", 2, "L1", "SO-7")), ledger.StatusApplied, "")
	f.wantBalance("A1", "BOLT", "L1", 20)

	// A manager's decision through the other ledger changes what this
	// one knows too: the open negative stock is resolved by an adjustment.
	rv := f.onlyOpen(ledger.ReviewNegativeStock)
	if _, err := other.ResolveReview(f.ctx, f.tenant.ID, rv.ID, ledger.Resolution{Action: ledger.ActionAdjust, Qty: 3, By: "manager@acme"}); err != nil {
		t.Fatalf("resolve on the other ledger: %v", err)
	}
	f.wantBalance("A1", "WIDGET", "", 0)
	wantStatus(t, f.push1(a, pick("WIDGET", "A1", 1, "", "SO-8")), ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	f.wantBalance("A1", "WIDGET", "", -1)
	if n := len(f.reviews(ledger.ReviewOpen, ledger.ReviewNegativeStock)); n != 1 {
		t.Errorf("%d open negative stock reviews, want the new one only", n)
	}

	// The catalog: after a merge here resolved WIDGET's barcode, a catalog
	// upload here moves that barcode to a new item; the next scan of it is
	// the new item's.
	byBarcode := ledger.Operation{Kind: ledger.KindReceive, Barcode: "4000001000013", Location: "A2", Qty: 1}
	wantStatus(t, f.push1(a, byBarcode), ledger.StatusApplied, "")
	_, err := f.l.UpsertCatalog(f.ctx, f.tenant.ID, ledger.Catalog{Items: []ledger.ItemInput{
		{SKU: "WIDGET-2", Name: "Widget, new label", Unit: "pcs", Barcodes: []string{"4000001000013"}}}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.push1(a, byBarcode), ledger.StatusApplied, "")
	f.wantBalance("A2", "WIDGET", "", 1)
	f.wantBalance("A2", "WIDGET-2", "", 1)
	f.checkConsistent()
}

// testKnownStateSavesReads: a ledger that merged a key last reads its
// balance from memory, not the store, and reads it again once anything
// else wrote the tenant, even a write that changed nothing.
func testKnownStateSavesReads(t *testing.T, nf Factory) {
	f := setup(t, nf)
	counted := &balanceReadCounter{Store: f.store}
	l := ledger.New(counted, ledger.Options{Now: f.clock.Now})
	dev := f.devs[0]
	push := func(ops ...ledger.Operation) {
		t.Helper()
		if _, err := l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, DeviceTime: f.clock.Now(),
			Ops: f.prepare(dev, ops...)}); err != nil {
			t.Fatalf("merge: %v", err)
		}
	}
	push(receive("WIDGET", "A1", 10, "", ""))
	before := counted.keys.Load()
	push(pick("WIDGET", "A1", 3, "", "SO-1"))
	if n := counted.keys.Load() - before; n != 0 {
		t.Errorf("the second merge on a key read %d balances from the store, want 0", n)
	}
	if err := f.store.Write(f.ctx, f.tenant.ID, func(ledger.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	before = counted.keys.Load()
	push(pick("WIDGET", "A1", 3, "", "SO-2"))
	if n := counted.keys.Load() - before; n != 1 {
		t.Errorf("after another write of the tenant the merge read %d balances from the store, want 1", n)
	}
	f.wantBalance("A1", "WIDGET", "", 4)

	// A ledger told to keep nothing reads every time.
	none := &balanceReadCounter{Store: f.store}
	l = ledger.New(none, ledger.Options{Now: f.clock.Now, KnownEntries: -1})
	push(pick("WIDGET", "A1", 1, "", "SO-3"))
	push(pick("WIDGET", "A1", 1, "", "SO-4"))
	if n := none.keys.Load(); n != 2 {
		t.Errorf("with KnownEntries < 0, two merges read %d balances, want 2", n)
	}
	f.wantBalance("A1", "WIDGET", "", 2)
	f.checkConsistent()
}

// balanceReadCounter counts the keys whose balances are read through it.
type balanceReadCounter struct {
	ledger.Store
	keys atomic.Int64
}

func (s *balanceReadCounter) Read(ctx context.Context, fn func(ledger.ReadTx) error) error {
	return s.Store.Read(ctx, func(tx ledger.ReadTx) error { return fn(countingReadTx{tx, s}) })
}

func (s *balanceReadCounter) Write(ctx context.Context, tenantID uuid.UUID, fn func(ledger.Tx) error) error {
	return s.Store.Write(ctx, tenantID, func(tx ledger.Tx) error { return fn(countingTx{tx, s}) })
}

type countingReadTx struct {
	ledger.ReadTx
	s *balanceReadCounter
}

func (t countingReadTx) Balances(ctx context.Context, tenantID uuid.UUID, keys []ledger.Key) (map[ledger.Key]int64, error) {
	t.s.keys.Add(int64(len(keys)))
	return t.ReadTx.Balances(ctx, tenantID, keys)
}

type countingTx struct {
	ledger.Tx
	s *balanceReadCounter
}

func (t countingTx) Balances(ctx context.Context, tenantID uuid.UUID, keys []ledger.Key) (map[ledger.Key]int64, error) {
	t.s.keys.Add(int64(len(keys)))
	return t.Tx.Balances(ctx, tenantID, keys)
}

// testKnownStateSameOutcome: pushes on two busy bins, with counts, late
// movements within and beyond the clock uncertainty, picks and returns on
// orders, merged by a ledger that keeps state and by one that keeps
// nothing, end with the same results, balances and reviews, evidence
// included.
func testKnownStateSameOutcome(t *testing.T, nf Factory) {
	settings := &ledger.Settings{CountVarianceThreshold: 2, ClockUncertainty: 5 * time.Minute}
	for seed := int64(1); seed <= 3; seed++ {
		keeping, none := setupWith(t, nf, settings), setupWith(t, nf, settings)
		none.l = ledger.New(none.store, ledger.Options{Now: none.clock.Now, KnownEntries: -1})
		rng := rand.New(rand.NewSource(seed))
		start := keeping.clock.Now()
		var pushes [][]ledger.Operation
		var devs []int
		for p := 0; p < 12; p++ {
			var ops []ledger.Operation
			for range 2 + rng.Intn(8) {
				// Floor times spread over two hours, so many arrive late.
				when := start.Add(time.Duration(rng.Intn(120)) * time.Minute)
				bin := []string{"A1", "A2"}[rng.Intn(2)]
				var op ledger.Operation
				switch r := rng.Intn(10); {
				case r < 3:
					op = receive("WIDGET", bin, int64(1+rng.Intn(9)), "", "")
				case r < 5:
					op = pick("WIDGET", bin, int64(1+rng.Intn(5)), "", fmt.Sprintf("SO-%d", rng.Intn(3)))
				case r < 6:
					op = ret("WIDGET", bin, 1, "", fmt.Sprintf("SO-%d", rng.Intn(3)))
				case r < 8:
					op = count("WIDGET", bin, int64(rng.Intn(20)), "")
				case r < 9:
					op = receive("BOLT", bin, int64(1+rng.Intn(9)), "L1", "")
				default:
					op = pick("BOLT", bin, int64(1+rng.Intn(3)), "L1", fmt.Sprintf("SO-%d", rng.Intn(3)))
				}
				op.OpID = uuid.Must(uuid.NewV7())
				ops = append(ops, at(op, when))
			}
			pushes = append(pushes, ops)
			devs = append(devs, rng.Intn(3))
		}
		var results [2][]string
		for i, f := range []*fixture{keeping, none} {
			f.clock.Advance(3 * time.Hour)
			for p, ops := range pushes {
				f.clock.Advance(time.Minute)
				for _, r := range f.push(f.devs[devs[p]], slices.Clone(ops)...) {
					results[i] = append(results[i], fmt.Sprintf("%s %s/%s", r.OpID, r.Status, r.Code))
				}
			}
			f.checkConsistent()
		}
		if !slices.Equal(results[0], results[1]) {
			t.Errorf("seed %d: results differ:\n keeping state: %v\n keeping none:  %v", seed, results[0], results[1])
		}
		if a, b := keeping.outcome().String(), none.outcome().String(); a != b {
			t.Errorf("seed %d: outcomes differ:\n keeping state: %s\n keeping none:  %s", seed, a, b)
		}
		if a, b := reviewDump(keeping), reviewDump(none); a != b {
			t.Errorf("seed %d: reviews differ:\n keeping state: %s\n keeping none:  %s", seed, a, b)
		} else if !strings.Contains(a, "count_ambiguous") || !strings.Contains(a, "count_variance") {
			t.Errorf("seed %d: the pushes opened no count reviews of both kinds, so they test little: %s", seed, a)
		}
	}
}

// reviewDump lists every review of the fixture's tenant by its opening
// operation, with what a merge decides of it: kind, status, the operations
// involved, evidence and resolution. IDs and devices differ between
// fixtures and are left out.
func reviewDump(f *fixture) string {
	f.t.Helper()
	var all []ledger.Review
	for _, st := range []ledger.ReviewStatus{ledger.ReviewOpen, ledger.ReviewResolved} {
		all = append(all, f.reviews(st, "")...)
	}
	slices.SortFunc(all, func(a, b ledger.Review) int {
		if c := strings.Compare(a.OpID.String(), b.OpID.String()); c != 0 {
			return c
		}
		return strings.Compare(string(a.Kind), string(b.Kind))
	})
	var b strings.Builder
	for _, r := range all {
		var ops []string
		for _, o := range r.Ops {
			ops = append(ops, o.OpID.String())
		}
		ev, _ := json.Marshal(r.Evidence)
		res := ""
		if r.Resolution != nil {
			res = fmt.Sprintf("%s %s %q %s", r.Resolution.Action, r.Resolution.By, r.Resolution.Note, r.Resolution.SettledBy)
		}
		fmt.Fprintf(&b, "\n  %s %s %s ops=%v evidence=%s resolution=%s", r.OpID, r.Kind, r.Status, ops, ev, res)
	}
	return b.String()
}
