package ledgertest

// The pull feed (DESIGN.md section 4, "Pull"): a device's scope is the
// catalog, the locations and balances of its warehouse, and the reviews
// involving its operations; the cursor never skips a row.

import (
	"encoding/base64"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// picture is what a device knows after applying pull pages in order, keyed
// by natural keys as a device keeps them.
type picture struct {
	items     map[string]ledger.Item        // by SKU
	batches   map[[2]string]ledger.BatchRow // by SKU and code
	locations map[string]ledger.Location    // by code
	balances  map[[3]string]ledger.BalanceRow
	reviews   map[uuid.UUID]ledger.Review
}

func newPicture() *picture {
	return &picture{items: map[string]ledger.Item{}, batches: map[[2]string]ledger.BatchRow{},
		locations: map[string]ledger.Location{}, balances: map[[3]string]ledger.BalanceRow{}, reviews: map[uuid.UUID]ledger.Review{}}
}

func balanceKey(b ledger.BalanceRow) [3]string { return [3]string{b.Location, b.SKU, b.Batch} }

// apply applies one page; a Reset page starts over.
func (p *picture) apply(page ledger.PullPage) {
	if page.Reset {
		*p = *newPicture()
	}
	for _, it := range page.Items {
		p.items[it.SKU] = it
	}
	for _, b := range page.Batches {
		p.batches[[2]string{b.SKU, b.Code}] = b
	}
	for _, l := range page.Locations {
		p.locations[l.Code] = l
	}
	for _, b := range page.Balances {
		p.balances[balanceKey(b)] = b
	}
	for _, r := range page.Reviews {
		p.reviews[r.ID] = r
	}
}

func pageRows(p ledger.PullPage) int {
	return len(p.Items) + len(p.Batches) + len(p.Locations) + len(p.Balances) + len(p.Reviews)
}

// pullRound pulls pages from cursor until More is false, calling between
// (when set) after every page but the last, and returns the pages and the
// last cursor. It checks what every page must hold.
func (f *fixture) pullRound(dev ledger.Device, cursor string, limit int, between func()) ([]ledger.PullPage, string) {
	f.t.Helper()
	var pages []ledger.PullPage
	for {
		page, err := f.l.Pull(f.ctx, ledger.PullRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, Cursor: cursor, Limit: limit})
		if err != nil {
			f.t.Fatalf("pull page %d for %s: %v", len(pages)+1, dev.Name, err)
		}
		if page.LedgerID != f.tenant.LedgerID || page.Warehouse.ID != dev.WarehouseID || page.Cursor == "" {
			f.t.Fatalf("page %d: ledger %s, warehouse %+v, cursor %q; want ledger %s, warehouse %s",
				len(pages)+1, page.LedgerID, page.Warehouse, page.Cursor, f.tenant.LedgerID, dev.WarehouseID)
		}
		if n := pageRows(page); n > limit || (page.More && n != limit) {
			f.t.Fatalf("page %d: %d rows with limit %d, more %v", len(pages)+1, n, limit, page.More)
		}
		if len(pages) > 0 && page.Reset {
			f.t.Fatalf("page %d of a round resets", len(pages)+1)
		}
		pages = append(pages, page)
		cursor = page.Cursor
		if !page.More {
			return pages, cursor
		}
		if len(pages) > 10_000 {
			f.t.Fatalf("pull does not end")
		}
		if between != nil {
			between()
		}
	}
}

// committed is the last change number committed in the tenant's ledger.
func (f *fixture) committed() int64 {
	f.t.Helper()
	var s ledger.LedgerState
	err := f.store.Read(f.ctx, func(tx ledger.ReadTx) (err error) { s, err = tx.LedgerState(f.ctx, f.tenant.ID); return err })
	if err != nil {
		f.t.Fatal(err)
	}
	return s.NextChange - 1
}

// scope is the current state of a device's scope, read through the
// ledger's queries (not the feed): the items and batches named, the
// locations of the device's warehouse with the codes, its balances, and the
// reviews of its operations.
func (f *fixture) scope(dev ledger.Device, wh string, skus []string, batches map[string][]string, locs []string) *picture {
	f.t.Helper()
	p := newPicture()
	err := f.store.Read(f.ctx, func(tx ledger.ReadTx) error {
		items, err := tx.ItemsBySKU(f.ctx, f.tenant.ID, skus)
		if err != nil {
			return err
		}
		var refs []ledger.BatchRef
		skuOf := map[uuid.UUID]string{}
		for _, it := range items {
			p.items[it.SKU] = it
			skuOf[it.ID] = it.SKU
			for _, code := range batches[it.SKU] {
				refs = append(refs, ledger.BatchRef{ItemID: it.ID, Code: code})
			}
		}
		bs, err := tx.BatchesByCode(f.ctx, f.tenant.ID, refs)
		if err != nil {
			return err
		}
		for _, b := range bs {
			p.batches[[2]string{skuOf[b.ItemID], b.Code}] = ledger.BatchRow{Batch: b, SKU: skuOf[b.ItemID]}
		}
		ls, err := tx.LocationsByCode(f.ctx, f.tenant.ID, dev.WarehouseID, locs)
		if err != nil {
			return err
		}
		for _, l := range ls {
			p.locations[l.Code] = l
		}
		bals, err := tx.QueryBalances(f.ctx, f.tenant.ID, ledger.BalanceFilter{Warehouse: wh})
		if err != nil {
			return err
		}
		for _, b := range bals {
			p.balances[balanceKey(b)] = b
		}
		rvs, err := tx.QueryReviews(f.ctx, f.tenant.ID, ledger.ReviewFilter{DeviceID: dev.ID})
		if err != nil {
			return err
		}
		for _, r := range rvs {
			p.reviews[r.ID] = r
		}
		return nil
	})
	if err != nil {
		f.t.Fatalf("read scope: %v", err)
	}
	return p
}

// diffPicture compares a device's picture with the current scope after a
// round up to change upto: every current row with changed <= upto must be
// in the picture exactly as it is (the feed never skips a row); rows
// changed later may be stale or missing. Every row of the picture must
// exist in the scope (nothing of another warehouse or tenant). With exact,
// the two must be equal.
func diffPicture(got, want *picture, upto int64, exact bool) []string {
	var diffs []string
	check := func(kind string, key any, g, w any, changed int64, ok bool) {
		if !ok {
			if changed <= upto || exact {
				diffs = append(diffs, fmt.Sprintf("%s %v (changed %d <= %d) missing", kind, key, changed, upto))
			}
			return
		}
		if (changed <= upto || exact) && !reflect.DeepEqual(g, w) {
			diffs = append(diffs, fmt.Sprintf("%s %v (changed %d <= %d):\n    got  %+v\n    want %+v", kind, key, changed, upto, g, w))
		}
	}
	for k, w := range want.items {
		g, ok := got.items[k]
		check("item", k, g, w, w.Changed, ok)
	}
	for k, w := range want.batches {
		g, ok := got.batches[k]
		check("batch", k, g, w, w.Changed, ok)
	}
	for k, w := range want.locations {
		g, ok := got.locations[k]
		check("location", k, g, w, w.Changed, ok)
	}
	for k, w := range want.balances {
		g, ok := got.balances[k]
		check("balance", k, g, w, w.Changed, ok)
	}
	for k, w := range want.reviews {
		g, ok := got.reviews[k]
		check("review", k, g, w, w.Changed, ok)
	}
	for k := range got.items {
		if _, ok := want.items[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("item %v is not in the scope", k))
		}
	}
	for k := range got.batches {
		if _, ok := want.batches[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("batch %v is not in the scope", k))
		}
	}
	for k, l := range got.locations {
		if _, ok := want.locations[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("location %v (warehouse %s) is not in the scope", k, l.WarehouseID))
		}
	}
	for k, b := range got.balances {
		if _, ok := want.balances[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("balance %v (warehouse %s) is not in the scope", k, b.Warehouse))
		}
	}
	for k := range got.reviews {
		if _, ok := want.reviews[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("review %v is not in the scope", k))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// pullFixture: the base fixture plus a second warehouse W2 with bins X1 and
// X2 and a handheld there, stock and a negative_stock review in each
// warehouse, and a second tenant with the same catalog and stock.
type pullFixture struct {
	*fixture
	w2dev ledger.Device
	other *fixture
}

var baseSKUs = []string{"WIDGET", "BOLT", "MILK"}

var baseBatches = map[string][]string{"BOLT": {"L1", "L2", "L3"}, "MILK": {"M-OLD", "M-NEW"}}

var baseLocations = []string{"A1", "A2", "B1", "DOCK"}

func setupPull(t *testing.T, nf Factory) *pullFixture {
	t.Helper()
	f := setup(t, nf)
	pf := &pullFixture{fixture: f}
	if _, err := f.l.UpsertCatalog(f.ctx, f.tenant.ID, ledger.Catalog{
		Warehouses: []ledger.WarehouseInput{{Code: "W2", Name: "Annex"}},
		Locations:  []ledger.LocationInput{{Warehouse: "W2", Code: "X1"}, {Warehouse: "W2", Code: "X2"}},
	}); err != nil {
		t.Fatal(err)
	}
	var err error
	pf.w2dev, err = f.l.RegisterDevice(f.ctx, f.tenant.ID, ledger.DeviceInput{Warehouse: "W2", Name: "hh-w2", BatchPrefix: "HHW2"})
	if err != nil {
		t.Fatal(err)
	}
	// One change on many keys, whose order by location differs from their
	// order by item: a page boundary falls inside it.
	f.push(f.devs[0], receive("WIDGET", "A1", 10, "", ""), receive("BOLT", "A1", 2, "L1", ""),
		receive("WIDGET", "A2", 3, "", ""), receive("BOLT", "A2", 5, "L1", ""),
		receive("WIDGET", "B1", 1, "", ""), receive("MILK", "B1", 3, "M-NEW", "2026-12-20"))
	wantStatus(t, f.push1(f.devs[0], pick("WIDGET", "A1", 12, "", "")), ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	wantStatus(t, f.push1(f.devs[1], pick("BOLT", "A2", 6, "L1", "")), ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	f.push(pf.w2dev, receive("WIDGET", "X1", 7, "", ""), receive("BOLT", "X2", 4, "L2", ""))
	wantStatus(t, f.push1(pf.w2dev, pick("WIDGET", "X1", 9, "", "")), ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))

	// Another tenant, alike, in its own store view.
	other := &fixture{t: t, ctx: f.ctx, store: f.store, l: f.l, clock: f.clock, seq: map[uuid.UUID]int64{}}
	if other.tenant, err = f.l.CreateTenant(f.ctx, "globex", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.UpsertCatalog(f.ctx, other.tenant.ID, baseCatalog); err != nil {
		t.Fatal(err)
	}
	od, err := f.l.RegisterDevice(f.ctx, other.tenant.ID, ledger.DeviceInput{Warehouse: "W1", Name: "g-1", BatchPrefix: "G1"})
	if err != nil {
		t.Fatal(err)
	}
	other.devs = []ledger.Device{od}
	other.push(od, receive("WIDGET", "A1", 100, "", ""), receive("BOLT", "B1", 1, "L9", ""))
	wantStatus(t, other.push1(od, pick("WIDGET", "DOCK", 1, "", "")), ledger.StatusFlagged, ledger.Code(ledger.ReviewNegativeStock))
	pf.other = other
	return pf
}

// testPullFullDownload: a first pull with a small limit returns every row of
// the device's scope exactly once and nothing else.
func testPullFullDownload(t *testing.T, nf Factory) {
	f := setupPull(t, nf)
	for _, tc := range []struct {
		dev  ledger.Device
		wh   string
		locs []string
	}{
		{f.devs[0], "W1", baseLocations},
		{f.w2dev, "W2", []string{"X1", "X2"}},
	} {
		dev := tc.dev
		pages, cursor := f.pullRound(dev, "", 3, nil)
		if !pages[0].Reset || pages[0].AckedSeq != f.seq[dev.ID] || pages[0].Warehouse.Code != tc.wh {
			t.Fatalf("%s: first page reset %v, acked %d, warehouse %q; want true, %d, %s",
				dev.Name, pages[0].Reset, pages[0].AckedSeq, pages[0].Warehouse.Code, f.seq[dev.ID], tc.wh)
		}
		seen := map[string]int{}
		got := newPicture()
		for _, p := range pages {
			got.apply(p)
			for _, it := range p.Items {
				seen["item "+it.SKU]++
			}
			for _, b := range p.Batches {
				seen["batch "+b.SKU+"/"+b.Code]++
			}
			for _, l := range p.Locations {
				seen["location "+l.Code]++
			}
			for _, b := range p.Balances {
				seen[fmt.Sprint("balance ", balanceKey(b))]++
			}
			for _, r := range p.Reviews {
				seen["review "+r.ID.String()]++
			}
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("%s: %s sent %d times in one download", dev.Name, k, n)
			}
		}
		want := f.scope(dev, tc.wh, baseSKUs, baseBatches, tc.locs)
		if d := diffPicture(got, want, f.committed(), true); len(d) > 0 {
			t.Errorf("%s: full download differs from the scope:\n  %s", dev.Name, strings.Join(d, "\n  "))
		}
		if len(want.reviews) != 1 || len(want.balances) == 0 || len(want.locations) != len(tc.locs) || len(want.batches) != 5 {
			t.Fatalf("%s: scope has %d reviews, %d balances, %d locations, %d batches",
				dev.Name, len(want.reviews), len(want.balances), len(want.locations), len(want.batches))
		}
		for _, r := range want.reviews {
			if !slices.ContainsFunc(r.Ops, func(o ledger.ReviewOp) bool { return o.DeviceID == dev.ID }) {
				t.Errorf("%s: review %s involves none of its operations", dev.Name, r.ID)
			}
		}

		// Nothing changed: the next pull is empty, in the same ledger.
		pages, _ = f.pullRound(dev, cursor, 3, nil)
		if len(pages) != 1 || pageRows(pages[0]) != 0 || pages[0].Reset {
			t.Errorf("%s: pull with nothing changed = %+v", dev.Name, pages)
		}
	}
}

// testPullIncremental: after a full download, a round returns only what
// changed in the device's scope, including a review decided since.
func testPullIncremental(t *testing.T, nf Factory) {
	f := setupPull(t, nf)
	dev := f.devs[0]
	pages, cursor := f.pullRound(dev, "", 1000, nil)
	got := newPicture()
	for _, p := range pages {
		got.apply(p)
	}
	mine := f.onlyOpenOf(dev)

	f.clock.Advance(time.Minute)
	f.push(f.devs[1], receive("WIDGET", "A2", 4, "", ""))             // a W1 balance, by another device
	f.push(f.w2dev, receive("WIDGET", "X2", 1, "", ""))               // W2: not in scope
	f.other.push(f.other.devs[0], receive("WIDGET", "A2", 1, "", "")) // another tenant
	if _, err := f.l.UpsertCatalog(f.ctx, f.tenant.ID, ledger.Catalog{
		Items:     []ledger.ItemInput{{SKU: "BOLT", Name: "Bolt M8 zinc", Unit: "pcs", BatchTracked: true}},
		Locations: []ledger.LocationInput{{Warehouse: "W1", Code: "C1"}, {Warehouse: "W2", Code: "X9"}},
	}); err != nil {
		t.Fatal(err)
	}
	f.resolve(mine.ID, ledger.Resolution{Action: ledger.ActionAccept, Note: "oversold, counted later"})

	pages, _ = f.pullRound(dev, cursor, 1000, nil)
	if len(pages) != 1 || pages[0].Reset {
		t.Fatalf("incremental pull: %d pages, reset %v", len(pages), pages[0].Reset)
	}
	p := pages[0]
	var names []string
	for _, it := range p.Items {
		names = append(names, "item "+it.SKU+" "+it.Name)
	}
	for _, b := range p.Batches {
		names = append(names, "batch "+b.Code)
	}
	for _, l := range p.Locations {
		names = append(names, "location "+l.Code)
	}
	for _, b := range p.Balances {
		names = append(names, fmt.Sprintf("balance %s/%s %d", b.Location, b.SKU, b.OnHand))
	}
	for _, r := range p.Reviews {
		names = append(names, fmt.Sprintf("review %s %s", r.Kind, r.Status))
	}
	want := []string{"item BOLT Bolt M8 zinc", "location C1", "balance A2/WIDGET 7", "review negative_stock resolved"}
	if !slices.Equal(names, want) {
		t.Errorf("incremental pull:\n got  %q\n want %q", names, want)
	}
	if len(p.Reviews) == 1 && (p.Reviews[0].ID != mine.ID || p.Reviews[0].Resolution == nil ||
		p.Reviews[0].Resolution.Action != ledger.ActionAccept) {
		t.Errorf("resolved review = %+v", p.Reviews[0])
	}
	got.apply(p)
	scope := f.scope(dev, "W1", baseSKUs, baseBatches, append(slices.Clone(baseLocations), "C1"))
	if d := diffPicture(got, scope, f.committed(), true); len(d) > 0 {
		t.Errorf("after the incremental pull the picture differs from the scope:\n  %s", strings.Join(d, "\n  "))
	}
}

// onlyOpenOf returns the one open review opened by dev.
func (f *fixture) onlyOpenOf(dev ledger.Device) ledger.Review {
	f.t.Helper()
	rs, err := f.l.Reviews(f.ctx, f.tenant.ID, ledger.ReviewFilter{Status: ledger.ReviewOpen, DeviceID: dev.ID})
	if err != nil || len(rs) != 1 {
		f.t.Fatalf("open reviews of %s: %+v, %v; want one", dev.Name, rs, err)
	}
	return rs[0]
}

// testPullCursor: a cursor of another ledger or another device starts
// over, a malformed one is refused, and every tenant's ledger has its own
// ID.
func testPullCursor(t *testing.T, nf Factory) {
	f := setupPull(t, nf)
	dev := f.devs[0]
	if f.tenant.LedgerID == uuid.Nil || f.tenant.LedgerID == f.other.tenant.LedgerID {
		t.Fatalf("ledger ids %s and %s", f.tenant.LedgerID, f.other.tenant.LedgerID)
	}
	for _, tn := range []ledger.Tenant{f.tenant, f.other.tenant} {
		stored, err := f.l.Tenant(f.ctx, tn.ID)
		if err != nil || stored.LedgerID != tn.LedgerID {
			t.Errorf("stored tenant %s: ledger id %s, %v; want %s", tn.Slug, stored.LedgerID, err, tn.LedgerID)
		}
	}

	// A cursor of another tenant's ledger, mid-round and between rounds.
	op, err := f.l.Pull(f.ctx, ledger.PullRequest{TenantID: f.other.tenant.ID, DeviceID: f.other.devs[0].ID, Limit: 2})
	if err != nil || !op.More {
		t.Fatalf("other tenant's first page: more %v, %v", op.More, err)
	}
	_, otherEnd := f.other.pullRound(f.other.devs[0], "", 1000, nil)
	// Another device's cursor of this ledger: its position says nothing
	// about what this device has (it may even be of another warehouse).
	_, w2End := f.pullRound(f.w2dev, "", 1000, nil)
	_, siblingEnd := f.pullRound(f.devs[1], "", 1000, nil)
	for _, c := range []string{op.Cursor, otherEnd, w2End, siblingEnd} {
		pages, _ := f.pullRound(dev, c, 1000, nil)
		if !pages[0].Reset || pages[0].LedgerID != f.tenant.LedgerID {
			t.Errorf("a foreign cursor: reset %v, ledger %s", pages[0].Reset, pages[0].LedgerID)
		}
		// Its own cursor, from then on, is incremental.
		if again, _ := f.pullRound(dev, pages[len(pages)-1].Cursor, 1000, nil); again[0].Reset || pageRows(again[0]) != 0 {
			t.Errorf("own cursor after a reset: reset %v, %d rows", again[0].Reset, pageRows(again[0]))
		}
		got := newPicture()
		for _, p := range pages {
			got.apply(p)
		}
		if d := diffPicture(got, f.scope(dev, "W1", baseSKUs, baseBatches, baseLocations), f.committed(), true); len(d) > 0 {
			t.Errorf("download after a foreign cursor differs:\n  %s", strings.Join(d, "\n  "))
		}
	}

	for name, c := range map[string]string{
		"not base64":         "!!!",
		"not json":           base64.RawURLEncoding.EncodeToString([]byte("cursor")),
		"unknown version":    base64.RawURLEncoding.EncodeToString([]byte(`{"v":9}`)),
		"negative since":     base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"s":-1}`)),
		"phase out of range": base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"u":3,"p":99}`)),
	} {
		_, err := f.l.Pull(f.ctx, ledger.PullRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, Cursor: c})
		if ledger.ErrorCode(err) != ledger.CodeInvalid {
			t.Errorf("%s cursor: %v, want invalid", name, err)
		}
	}
	// A new ledger ID (the step after restoring a backup) sends the
	// device's own up-to-date cursor back to a full download.
	_, end := f.pullRound(dev, "", 1000, nil)
	newID, err := f.l.NewLedgerID(f.ctx, f.tenant.ID)
	if err != nil || newID == f.tenant.LedgerID {
		t.Fatalf("NewLedgerID: %s, %v", newID, err)
	}
	f.tenant.LedgerID = newID
	pages, _ := f.pullRound(dev, end, 1000, nil)
	if !pages[0].Reset || pages[0].LedgerID != newID || pageRows(pages[0]) == 0 {
		t.Errorf("after a new ledger id: reset %v, ledger %s, %d rows; want a full download under %s",
			pages[0].Reset, pages[0].LedgerID, pageRows(pages[0]), newID)
	}
	if other, _ := f.l.Tenant(f.ctx, f.other.tenant.ID); other.LedgerID != f.other.tenant.LedgerID {
		t.Errorf("another tenant's ledger id changed")
	}
	_, err = f.l.NewLedgerID(f.ctx, uuid.Must(uuid.NewV7()))
	wantCode(t, err, ledger.CodeNotFound)

	_, err = f.l.Pull(f.ctx, ledger.PullRequest{TenantID: f.tenant.ID, DeviceID: uuid.Must(uuid.NewV7())})
	wantCode(t, err, ledger.CodeNotFound)
	// A device is pulled under its own tenant only.
	_, err = f.l.Pull(f.ctx, ledger.PullRequest{TenantID: f.other.tenant.ID, DeviceID: dev.ID})
	wantCode(t, err, ledger.CodeNotFound)
}

// pullPropertySeeds run by default; STOCKSYNC_PROPERTY_SEED(S) select others
// as for testInterleavings.
var pullPropertySeeds = []int64{1, 2, 3, 4}

// pullPropertyWrites is how many writes each seed interleaves.
const pullPropertyWrites = 80

// testPullNeverSkips is the feed's promise as a seeded property: catalog
// upserts (new items, barcodes moving between items, renames, new batches
// and bins in both warehouses), merges from devices of both warehouses and
// of another tenant, and review decisions are interleaved between pages of
// limit 2. At the end of every round, every row of the device's scope that
// was not rewritten since the round began is in the device's picture as it
// is now; once writes stop, one more round makes the picture equal the
// scope.
func testPullNeverSkips(t *testing.T, nf Factory) {
	for _, seed := range propertySeedList(t, pullPropertySeeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			t.Logf("seed %d (STOCKSYNC_PROPERTY_SEED=%d to rerun)", seed, seed)
			runPullProperty(t, nf, seed)
		})
	}
}

// pullWorld is the generator's view of what exists, so the scope can be
// read back by natural key.
type pullWorld struct {
	*pullFixture
	rng      *rand.Rand
	skus     []string
	barcodes []string
	batches  map[string][]string
	w1Locs   []string
	w2Locs   []string
	n        int
	log      []string
	// mu guards the lists above when writes run concurrently with pulls.
	mu sync.Mutex
}

func newPullWorld(t *testing.T, nf Factory, seed int64) *pullWorld {
	return &pullWorld{pullFixture: setupPull(t, nf), rng: rand.New(rand.NewSource(seed)),
		skus: slices.Clone(baseSKUs), barcodes: []string{"4000001000013", "4000002000012"},
		batches: map[string][]string{"BOLT": slices.Clone(baseBatches["BOLT"]), "MILK": slices.Clone(baseBatches["MILK"])},
		w1Locs:  slices.Clone(baseLocations), w2Locs: []string{"X1", "X2"}}
}

// currentScope reads the device's scope by what the world holds now.
func (w *pullWorld) currentScope(dev ledger.Device) *picture {
	w.t.Helper()
	w.mu.Lock()
	skus, locs := slices.Clone(w.skus), slices.Clone(w.w1Locs)
	batches := map[string][]string{}
	for k, v := range w.batches {
		batches[k] = slices.Clone(v)
	}
	w.mu.Unlock()
	return w.scope(dev, "W1", skus, batches, locs)
}

func runPullProperty(t *testing.T, nf Factory, seed int64) {
	w := newPullWorld(t, nf, seed)
	dev := w.devs[0]
	got := newPicture()
	cursor := ""
	between := func() {
		for n := w.rng.Intn(4); n > 0; n-- {
			w.write()
		}
	}
	fail := func(what string, diffs []string) {
		t.Helper()
		t.Fatalf("seed %d: %s:\n  %s\nwrites:\n  %s", seed, what, strings.Join(diffs, "\n  "), strings.Join(w.log, "\n  "))
	}
	totalPages := 0
	for round := 0; w.n < pullPropertyWrites; round++ {
		between()             // writes between rounds too: a round may be one page
		upto := w.committed() // the Upto the round's first page fixes
		pages, next := w.pullRound(dev, cursor, 2, between)
		totalPages += len(pages)
		for _, p := range pages {
			got.apply(p)
		}
		cursor = next
		if d := diffPicture(got, w.currentScope(dev), upto, false); len(d) > 0 {
			fail(fmt.Sprintf("after round %d (%d pages, upto %d) a row unchanged since is not as it is", round, len(pages), upto), d)
		}
	}
	pages, _ := w.pullRound(dev, cursor, 2, nil)
	for _, p := range pages {
		got.apply(p)
	}
	if d := diffPicture(got, w.currentScope(dev), w.committed(), true); len(d) > 0 {
		fail("after writes stopped and one more round, the picture differs from the scope", d)
	}
	w.checkConsistent()
	t.Logf("%d writes between %d pages; the scope ends with %d items, %d balances, %d reviews",
		w.n, totalPages+len(pages), len(got.items), len(got.balances), len(got.reviews))
}

// write makes one random change.
func (w *pullWorld) write() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	w.clock.Advance(time.Minute)
	pickOf := func(s []string) string { return s[w.rng.Intn(len(s))] }
	stockSKU := func() (string, string) { // a SKU and batch that take plain receives and picks
		skus := []string{"WIDGET", "BOLT"}
		for _, s := range w.skus {
			if strings.HasPrefix(s, "P") {
				skus = append(skus, s)
			}
		}
		sku := pickOf(skus)
		if sku == "BOLT" {
			return sku, pickOf(w.batches["BOLT"])
		}
		return sku, ""
	}
	switch k := w.rng.Intn(10); {
	case k == 0: // a new item, maybe taking a barcode from another
		sku, codes := fmt.Sprintf("P%d", w.n), []string{fmt.Sprintf("20000%08d", w.n)}
		if w.rng.Intn(2) == 0 {
			codes = append(codes, pickOf(w.barcodes))
		}
		w.upsert(ledger.Catalog{Items: []ledger.ItemInput{{SKU: sku, Name: "Part " + sku, Unit: "pcs", Barcodes: codes}}})
		w.skus, w.barcodes = append(w.skus, sku), append(w.barcodes, codes[0])
	case k == 1: // rename an item, maybe moving a barcode to it
		sku := pickOf(w.skus)
		var it ledger.Item
		err := w.store.Read(w.ctx, func(tx ledger.ReadTx) error {
			its, err := tx.ItemsBySKU(w.ctx, w.tenant.ID, []string{sku})
			if err == nil {
				it = its[0]
			}
			return err
		})
		if err != nil {
			w.t.Fatal(err)
		}
		in := ledger.ItemInput{SKU: sku, Name: fmt.Sprintf("%s v%d", sku, w.n), Unit: it.Unit, BatchTracked: it.BatchTracked, ExpiryTracked: it.ExpiryTracked}
		if w.rng.Intn(2) == 0 {
			in.Barcodes = []string{pickOf(w.barcodes)}
		}
		w.upsert(ledger.Catalog{Items: []ledger.ItemInput{in}})
	case k == 2: // a new batch
		code := fmt.Sprintf("N%d", w.n)
		w.upsert(ledger.Catalog{Batches: []ledger.BatchInput{{SKU: "BOLT", Code: code}}})
		w.batches["BOLT"] = append(w.batches["BOLT"], code)
	case k == 3: // a new bin in either warehouse
		code := fmt.Sprintf("C%d", w.n)
		if w.rng.Intn(2) == 0 {
			w.upsert(ledger.Catalog{Locations: []ledger.LocationInput{{Warehouse: "W1", Code: code}}})
			w.w1Locs = append(w.w1Locs, code)
		} else {
			w.upsert(ledger.Catalog{Locations: []ledger.LocationInput{{Warehouse: "W2", Code: code}}})
			w.w2Locs = append(w.w2Locs, code)
		}
	case k <= 7: // stock moves in W1 by the device or another one, in one merge
		dev := w.devs[w.rng.Intn(2)]
		var ops []ledger.Operation
		for n := 1 + w.rng.Intn(4); n > 0; n-- {
			sku, batch := stockSKU()
			from := pickOf(w.w1Locs)
			var o ledger.Operation
			switch w.rng.Intn(4) {
			case 0:
				to := pickOf(w.w1Locs)
				if to == from {
					to = from + "X" // unknown bin: held, with a review
				}
				o = transfer(sku, from, to, int64(1+w.rng.Intn(3)), batch)
			case 1:
				o = pick(sku, from, int64(1+w.rng.Intn(5)), batch, "")
			default:
				o = receive(sku, from, int64(1+w.rng.Intn(5)), batch, "")
			}
			w.log = append(w.log, fmt.Sprintf("%s: %s %s %s %s %d", dev.Name, o.Kind, o.SKU, o.Batch, o.Location, o.Qty))
			ops = append(ops, o)
		}
		w.push(dev, ops...)
	case k == 8: // elsewhere: W2, or the other tenant
		sku, batch := stockSKU()
		if w.rng.Intn(2) == 0 && !strings.HasPrefix(sku, "P") {
			w.other.push(w.other.devs[0], receive(sku, "A1", 2, batch, ""))
			w.log = append(w.log, "other tenant: receive "+sku)
		} else {
			w.push(w.w2dev, pick(sku, pickOf(w.w2Locs), 1, batch, ""))
			w.log = append(w.log, "hh-w2: pick "+sku)
		}
	default: // a manager decides an open review
		rs := w.reviews(ledger.ReviewOpen, "")
		if len(rs) == 0 {
			return
		}
		r := rs[w.rng.Intn(len(rs))]
		if _, err := w.tryResolve(r.ID, ledger.Resolution{Action: ledger.ActionAccept}); err != nil {
			w.t.Fatalf("accept review %s (%s): %v", r.ID, r.Kind, err)
		}
		w.log = append(w.log, fmt.Sprintf("accept %s %s", r.Kind, r.ID))
	}
}

func (w *pullWorld) upsert(c ledger.Catalog) {
	w.t.Helper()
	if _, err := w.l.UpsertCatalog(w.ctx, w.tenant.ID, c); err != nil {
		w.t.Fatalf("upsert %+v: %v", c, err)
	}
	w.log = append(w.log, fmt.Sprintf("catalog %+v", c))
}

// testPullConcurrentWrites runs the property with the writes on another
// goroutine while the device pulls, so pages and commits interleave as the
// database orders them (on PostgreSQL, snapshots and the tenant lock). The
// round's Upto is at least the change committed before its first page, so
// the per-round check holds with that bound.
func testPullConcurrentWrites(t *testing.T, nf Factory) {
	w := newPullWorld(t, nf, 42)
	dev := w.devs[0]
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range pullPropertyWrites {
			w.write()
		}
	}()
	got := newPicture()
	cursor := ""
	rounds := 0
	for running := true; running; rounds++ {
		select {
		case <-done:
			running = false
		default:
		}
		upto := w.committed()
		pages, next := w.pullRound(dev, cursor, 2, nil)
		for _, p := range pages {
			got.apply(p)
		}
		cursor = next
		if d := diffPicture(got, w.currentScope(dev), upto, false); len(d) > 0 {
			t.Fatalf("after round %d (upto at least %d) a row unchanged since is not as it is:\n  %s", rounds, upto, strings.Join(d, "\n  "))
		}
	}
	<-done
	pages, _ := w.pullRound(dev, cursor, 2, nil)
	for _, p := range pages {
		got.apply(p)
	}
	if d := diffPicture(got, w.currentScope(dev), w.committed(), true); len(d) > 0 {
		t.Fatalf("after writes stopped and one more round, the picture differs from the scope:\n  %s", strings.Join(d, "\n  "))
	}
	w.checkConsistent()
	t.Logf("%d rounds while %d writes ran", rounds, w.n)
}
