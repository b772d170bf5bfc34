package ledgertest

// Store contract tests: what ledger/store.go promises, and parity between
// the stores, found by a review of both. Each failed on one store before
// its fix. RunStore runs them; every store's tests call it.

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

var rvT0 = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

func rvID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// rvLedger is a ledger with one tenant, warehouse W1 with bin A1, item
// WIDGET (barcode 4000001000013) and batch-tracked item BOLT with batch L1.
type rvLedger struct {
	store  ledger.Store
	l      *ledger.Ledger
	tenant ledger.Tenant
}

func rvSetup(t *testing.T, nf Factory) *rvLedger {
	t.Helper()
	ctx := context.Background()
	s := nf(t)
	f := &rvLedger{store: s, l: ledger.New(s, ledger.Options{Now: func() time.Time { return rvT0 }})}
	var err error
	if f.tenant, err = f.l.CreateTenant(ctx, "acme", "Acme", nil); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	_, err = f.l.UpsertCatalog(ctx, f.tenant.ID, ledger.Catalog{
		Warehouses: []ledger.WarehouseInput{{Code: "W1", Name: "Main"}},
		Locations:  []ledger.LocationInput{{Warehouse: "W1", Code: "A1"}},
		Items: []ledger.ItemInput{
			{SKU: "WIDGET", Name: "Widget", Unit: "pcs", Barcodes: []string{"4000001000013"}},
			{SKU: "BOLT", Name: "Bolt", Unit: "pcs", BatchTracked: true},
		},
		Batches: []ledger.BatchInput{{SKU: "BOLT", Code: "L1"}},
	})
	if err != nil {
		t.Fatalf("upsert catalog: %v", err)
	}
	return f
}

func (f *rvLedger) device(t *testing.T, name, prefix string) ledger.Device {
	t.Helper()
	d, err := f.l.RegisterDevice(context.Background(), f.tenant.ID, ledger.DeviceInput{Warehouse: "W1", Name: name, BatchPrefix: prefix})
	if err != nil {
		t.Fatalf("register device %s: %v", name, err)
	}
	return d
}

func (f *rvLedger) write(t *testing.T, fn func(tx ledger.Tx) error) {
	t.Helper()
	if err := f.store.Write(context.Background(), f.tenant.ID, fn); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// review reads one review back, with its operations.
func (f *rvLedger) review(t *testing.T, id uuid.UUID) ledger.Review {
	t.Helper()
	var got ledger.Review
	err := f.store.Read(context.Background(), func(tx ledger.ReadTx) error {
		var err error
		got, err = tx.Review(context.Background(), f.tenant.ID, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (f *rvLedger) warehouse(t *testing.T) ledger.Warehouse {
	t.Helper()
	var whs []ledger.Warehouse
	err := f.store.Read(context.Background(), func(tx ledger.ReadTx) error {
		var err error
		whs, err = tx.Warehouses(context.Background(), f.tenant.ID, []string{"W1"})
		return err
	})
	if err != nil || len(whs) != 1 {
		t.Fatalf("warehouse W1: %v %v", whs, err)
	}
	return whs[0]
}

func (f *rvLedger) items(t *testing.T, skus ...string) map[string]ledger.Item {
	t.Helper()
	out := map[string]ledger.Item{}
	err := f.store.Read(context.Background(), func(tx ledger.ReadTx) error {
		its, err := tx.ItemsBySKU(context.Background(), f.tenant.ID, skus)
		for _, it := range its {
			out[it.SKU] = it
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *rvLedger) locationA1(t *testing.T) ledger.Location {
	t.Helper()
	var ls []ledger.Location
	err := f.store.Read(context.Background(), func(tx ledger.ReadTx) error {
		var err error
		ls, err = tx.LocationsByCode(context.Background(), f.tenant.ID, f.warehouse(t).ID, []string{"A1"})
		return err
	})
	if err != nil || len(ls) != 1 {
		t.Fatalf("location A1: %v %v", ls, err)
	}
	return ls[0]
}

// storeNulByteInOperationFailsWholePush: a string field of an
// operation may contain U+0000 (valid JSON, "\u0000"); nothing in
// Operation.Validate refuses it. PostgreSQL text and jsonb cannot store it,
// so the whole push fails with an internal error, every time it is retried:
// the device can never sync past that operation. SQLite stores it and
// answers with a per-operation result, as DESIGN.md section 3 requires
// ("conflicts never block sync").
func storeNulByteInOperationFailsWholePush(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	cases := []struct {
		name string
		op   ledger.Operation
	}{
		// Rejected (unknown_kind), but the op log row's kind column holds it.
		{"kind", ledger.Operation{Kind: "pick\x00", SKU: "WIDGET", Location: "A1", Qty: 1}},
		// A shipment: movements.order_ref and order_lines.order_ref hold it.
		{"order", ledger.Operation{Kind: ledger.KindPick, SKU: "WIDGET", Location: "A1", Qty: 1, Order: "SO-1\x00"}},
		// Held: the unknown_reference review's evidence (jsonb) holds it.
		{"unknown sku", ledger.Operation{Kind: ledger.KindReceive, SKU: "NEW\x00", Location: "A1", Qty: 1}},
	}
	for i, c := range cases {
		dev := f.device(t, "hh-"+c.name, "P"+string(rune('A'+i)))
		// A good operation first: it is lost with the bad one.
		good := ledger.Operation{OpID: rvID(), Seq: 1, Kind: ledger.KindReceive, OccurredAt: rvT0, SKU: "WIDGET", Location: "A1", Qty: 5}
		bad := c.op
		bad.OpID, bad.Seq, bad.OccurredAt = rvID(), 2, rvT0
		resp, err := f.l.Merge(ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, DeviceTime: rvT0,
			Ops: []ledger.Operation{good, bad}})
		if err != nil {
			t.Errorf("%s: a NUL byte in one operation fails the whole push (code %s: %v); the device is stuck behind it",
				c.name, ledger.ErrorCode(err), err)
			continue
		}
		if resp.AckedSeq != 2 {
			t.Errorf("%s: acked seq %d, want 2", c.name, resp.AckedSeq)
		}
	}
}

// storeForeignKeyViolationIsNotFound: a row referring to a
// missing catalog row fails at commit (the foreign keys are deferred).
// PostgreSQL maps that to CodeNotFound; SQLite returns the driver's error,
// which callers see as CodeInternal.
func storeForeignKeyViolationIsNotFound(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	err := f.store.Write(ctx, f.tenant.ID, func(tx ledger.Tx) error {
		return tx.UpsertLocations(ctx, []ledger.Location{{TenantID: f.tenant.ID, ID: rvID(), WarehouseID: rvID(), Code: "X1", Changed: 9}})
	})
	if got := ledger.ErrorCode(err); got != ledger.CodeNotFound {
		t.Fatalf("location in a missing warehouse: err %v (code %q), want code %q", err, got, ledger.CodeNotFound)
	}
}

// storeErrorMessagesLeakDriverDetail: ledger.ErrorMessage
// returns an *Error's message to callers as is ("so details never leak").
// The PostgreSQL store builds CodeConflict and CodeNotFound messages from
// the driver's Detail (and constraint name): table columns and the tenant's
// internal UUID reach an API caller. Reachable through RegisterDevice with
// a batch prefix that is already taken.
func storeErrorMessagesLeakDriverDetail(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	f.device(t, "hh-1", "HH1")
	_, err := f.l.RegisterDevice(ctx, f.tenant.ID, ledger.DeviceInput{Warehouse: "W1", Name: "hh-2", BatchPrefix: "HH1"})
	if got := ledger.ErrorCode(err); got != ledger.CodeConflict {
		t.Fatalf("duplicate batch prefix: err %v (code %q), want %q", err, got, ledger.CodeConflict)
	}
	fkErr := f.store.Write(ctx, f.tenant.ID, func(tx ledger.Tx) error {
		return tx.UpsertLocations(ctx, []ledger.Location{{TenantID: f.tenant.ID, ID: rvID(), WarehouseID: rvID(), Code: "X1", Changed: 9}})
	})
	for what, e := range map[string]error{"conflict": err, "foreign key": fkErr} {
		msg := ledger.ErrorMessage(e)
		for _, leak := range []string{f.tenant.ID.String(), "Key (", "tenant_id", "constraint", "_fkey", "SQLSTATE"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: message shown to callers contains %q: %q", what, leak, msg)
			}
		}
	}
}

// storeEmptyResultsNilOnOneStoreOnly: a list method that
// finds nothing returns a non-nil empty slice on PostgreSQL
// (pgx.CollectRows) and nil on SQLite (queryRows), so results differ under
// reflect.DeepEqual and in JSON ([] against null). The assertion takes
// the PostgreSQL behaviour.
func storeEmptyResultsNilOnOneStoreOnly(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	item := f.items(t, "WIDGET")["WIDGET"]
	k := ledger.Key{LocationID: f.locationA1(t).ID, ItemID: item.ID, BatchID: ledger.NoBatch}
	var nilOnes []string
	err := f.store.Read(ctx, func(tx ledger.ReadTx) error {
		check := func(name string, isNil bool, err error) {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if isNil {
				nilOnes = append(nilOnes, name)
			}
		}
		tid := f.tenant.ID
		devs, err := tx.Devices(ctx, tid)
		check("Devices", devs == nil, err)
		bs, err := tx.BatchesByID(ctx, tid, []uuid.UUID{rvID()})
		check("BatchesByID", bs == nil, err)
		ops, err := tx.LookupOps(ctx, tid, rvID(), 1, 10, []uuid.UUID{rvID()})
		check("LookupOps", ops == nil, err)
		mb, err := tx.MovementsBetween(ctx, tid, k, rvT0.Add(-time.Hour), rvT0)
		check("MovementsBetween", mb == nil, err)
		mo, err := tx.MovementsOfOp(ctx, tid, rvID())
		check("MovementsOfOp", mo == nil, err)
		ol, err := tx.OrderLines(ctx, tid, []string{"SO-1"})
		check("OrderLines", ol == nil, err)
		cs, err := tx.CountsOnKeys(ctx, tid, []ledger.Key{k})
		check("CountsOnKeys", cs == nil, err)
		qb, err := tx.QueryBalances(ctx, tid, ledger.BalanceFilter{})
		check("QueryBalances", qb == nil, err)
		qm, err := tx.QueryMovements(ctx, tid, ledger.MovementFilter{})
		check("QueryMovements", qm == nil, err)
		qr, err := tx.QueryReviews(ctx, tid, ledger.ReviewFilter{})
		check("QueryReviews", qr == nil, err)
		ql, err := tx.QueryOpLog(ctx, tid, ledger.OpLogFilter{})
		check("QueryOpLog", ql == nil, err)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(nilOnes) > 0 {
		t.Fatalf("these return nil, not an empty slice, when nothing matches (the other store returns []): %v", nilOnes)
	}
}

// storeTenantsOrderDiffers: PostgreSQL lists tenants oldest
// first (created_at, slug); SQLite by slug. Ledger.Tenants and `stocksync
// check` therefore list tenants in a different order per store. The
// assertion takes the PostgreSQL order.
func storeTenantsOrderDiffers(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	s := nf(t)
	ctx := context.Background()
	older := ledger.Tenant{ID: rvID(), Slug: "zeta", Name: "Zeta", Settings: ledger.DefaultSettings, CreatedAt: rvT0}
	newer := ledger.Tenant{ID: rvID(), Slug: "alpha", Name: "Alpha", Settings: ledger.DefaultSettings, CreatedAt: rvT0.Add(time.Hour)}
	for _, tn := range []ledger.Tenant{older, newer} {
		if err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	var slugs []string
	err := s.Read(ctx, func(tx ledger.ReadTx) error {
		ts, err := tx.Tenants(ctx, 0)
		for _, tn := range ts {
			slugs = append(slugs, tn.Slug)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slugs, []string{"zeta", "alpha"}) {
		t.Fatalf("Tenants = %v, want oldest first [zeta alpha] as the other store lists them", slugs)
	}
}

// storeCountsOnKeysOrderDiffers: PostgreSQL returns counts by
// key, then effective time; SQLite by effective time only. The assertion
// takes the PostgreSQL order.
func storeCountsOnKeysOrderDiffers(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	its := f.items(t, "WIDGET", "BOLT")
	loc := f.locationA1(t)
	k1 := ledger.Key{LocationID: loc.ID, ItemID: its["WIDGET"].ID, BatchID: ledger.NoBatch}
	k2 := ledger.Key{LocationID: loc.ID, ItemID: its["BOLT"].ID, BatchID: ledger.NoBatch}
	lo, hi := k1, k2
	if hi.Less(lo) {
		lo, hi = hi, lo
	}
	// The higher key's count is the earlier one.
	cLate := ledger.CountRecord{OpID: rvID(), DeviceID: rvID(), Key: lo, EffectiveAt: rvT0.Add(time.Hour), Counted: 1, Adjusted: 1}
	cEarly := ledger.CountRecord{OpID: rvID(), DeviceID: rvID(), Key: hi, EffectiveAt: rvT0, Counted: 2, Adjusted: 2}
	f.write(t, func(tx ledger.Tx) error {
		return tx.UpsertCounts(ctx, f.tenant.ID, []ledger.CountRecord{cLate, cEarly})
	})
	var got []uuid.UUID
	err := f.store.Read(ctx, func(tx ledger.ReadTx) error {
		cs, err := tx.CountsOnKeys(ctx, f.tenant.ID, []ledger.Key{k1, k2})
		for _, c := range cs {
			got = append(got, c.OpID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []uuid.UUID{cLate.OpID, cEarly.OpID}) {
		t.Fatalf("CountsOnKeys order = %v, want by key then time %v", got, []uuid.UUID{cLate.OpID, cEarly.OpID})
	}
}

// storeBatchExpiryOfNonUTCTime: Batch.Expiry is a date. SQLite
// stores ledger.FormatDate(expiry), the UTC date; PostgreSQL's date codec
// takes the year, month and day in the time's own location. A time.Time at
// local midnight east of UTC is stored as different dates. The assertion
// takes ledger.FormatDate's (UTC) reading.
func storeBatchExpiryOfNonUTCTime(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	bolt := f.items(t, "BOLT")["BOLT"]
	expiry := time.Date(2026, 1, 31, 0, 0, 0, 0, time.FixedZone("EET", 2*3600))
	b := ledger.Batch{TenantID: f.tenant.ID, ID: rvID(), ItemID: bolt.ID, Code: "L9", Expiry: expiry, Changed: 9}
	f.write(t, func(tx ledger.Tx) error { return tx.UpsertBatches(ctx, []ledger.Batch{b}) })
	var got []ledger.Batch
	err := f.store.Read(ctx, func(tx ledger.ReadTx) error {
		var err error
		got, err = tx.BatchesByID(ctx, f.tenant.ID, []uuid.UUID{b.ID})
		return err
	})
	if err != nil || len(got) != 1 {
		t.Fatalf("read batch: %v %v", got, err)
	}
	if g, w := ledger.FormatDate(got[0].Expiry), ledger.FormatDate(expiry); g != w {
		t.Fatalf("expiry read back as %s, want %s (ledger.FormatDate of what was written)", g, w)
	}
}

// storeUpsertReviewsSameReviewTwiceLosesOps: store.go promises
// UpsertReviews "adds any new ReviewOps". PostgreSQL keeps only the last row
// of each review ID (lastByKey) before collecting operations, so the
// operations only an earlier row lists are dropped; SQLite links them.
func storeUpsertReviewsSameReviewTwiceLosesOps(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	opener, second, dev := rvID(), rvID(), rvID()
	r := ledger.Review{TenantID: f.tenant.ID, ID: rvID(), Kind: ledger.ReviewNegativeStock, Severity: ledger.SeverityHigh,
		Status: ledger.ReviewOpen, OpID: opener, DeviceID: dev, OpenedAt: rvT0, Changed: 1,
		Ops: []ledger.ReviewOp{{OpID: opener, DeviceID: dev}, {OpID: second, DeviceID: dev}}}
	again := r
	again.Ops = []ledger.ReviewOp{{OpID: opener, DeviceID: dev}}
	f.write(t, func(tx ledger.Tx) error { return tx.UpsertReviews(ctx, []ledger.Review{r, again}) })
	got := f.review(t, r.ID)
	if !slices.ContainsFunc(got.Ops, func(o ledger.ReviewOp) bool { return o.OpID == second }) {
		t.Fatalf("review ops = %v: the operation listed by the first row was dropped", got.Ops)
	}
}

// storeReviewLinksAcrossUpserts: the merge passes a review's full Ops
// again on every upsert that touches it, and commit a073b2c skips the links
// already stored before the next ord is looked for. Across upserts, the
// operations keep the order in which they joined, the opener first, each
// once, with its device, whether a call passes every link, only new ones,
// or old ones in another order.
func storeReviewLinksAcrossUpserts(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	devA, devB := rvID(), rvID()
	// IDs made in the reverse of the order the operations join, so an
	// order that fell back to the op_id would show.
	e, d, c, b, a, opener := rvID(), rvID(), rvID(), rvID(), rvID(), rvID()
	r := ledger.Review{TenantID: f.tenant.ID, ID: rvID(), Kind: ledger.ReviewCountAmbiguous, Severity: ledger.SeverityMedium,
		Status: ledger.ReviewOpen, OpID: opener, DeviceID: devA, OpenedAt: rvT0, Changed: 1}
	link := func(id, dev uuid.UUID) ledger.ReviewOp { return ledger.ReviewOp{OpID: id, DeviceID: dev} }
	want := []ledger.ReviewOp{link(opener, devA)}
	for i, ops := range [][]ledger.ReviewOp{
		{link(opener, devA), link(a, devB)},                               // opened, one joins
		{link(opener, devA), link(a, devB), link(b, devA)},                // all again, one new
		{link(opener, devA), link(a, devB), link(b, devA), link(c, devB)}, // and again
		{link(d, devA)}, // only the new one
		{link(c, devB), link(e, devB), link(a, devB), link(opener, devA)},                               // old ones around a new one
		{link(opener, devA), link(a, devB), link(b, devA), link(c, devB), link(d, devA), link(e, devB)}, // nothing new
	} {
		r.Ops, r.Changed = ops, int64(i+1)
		f.write(t, func(tx ledger.Tx) error { return tx.UpsertReviews(ctx, []ledger.Review{r}) })
		for _, o := range ops {
			if !slices.Contains(want, o) {
				want = append(want, o)
			}
		}
		if got := f.review(t, r.ID); !slices.Equal(got.Ops, want) {
			t.Fatalf("upsert %d: review ops\n got %v\nwant %v", i+1, got.Ops, want)
		}
	}
}

// storeAddBalancesSameKeyTwice: store.go says AddBalances "adds
// each delta to its balance ... in the order given". SQLite adds both
// deltas of a key listed twice; PostgreSQL's single INSERT ... ON CONFLICT DO
// UPDATE fails ("cannot affect row a second time") with an internal error.
// Every other bulk upsert of the PostgreSQL store deduplicates its rows
// (lastByKey); this one cannot, since deltas add up.
func storeAddBalancesSameKeyTwice(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	k := ledger.Key{LocationID: f.locationA1(t).ID, ItemID: f.items(t, "WIDGET")["WIDGET"].ID, BatchID: ledger.NoBatch}
	err := f.store.Write(ctx, f.tenant.ID, func(tx ledger.Tx) error {
		return tx.AddBalances(ctx, f.tenant.ID, 7, []ledger.BalanceDelta{{Key: k, Delta: 1, LastPosition: 1}, {Key: k, Delta: 2, LastPosition: 2}})
	})
	if err != nil {
		t.Fatalf("AddBalances with one key twice: %v", err)
	}
	var got map[ledger.Key]int64
	err = f.store.Read(ctx, func(tx ledger.ReadTx) error {
		var err error
		got, err = tx.Balances(ctx, f.tenant.ID, []ledger.Key{k})
		return err
	})
	if err != nil || got[k] != 3 {
		t.Fatalf("balance = %v (%v), want 3", got[k], err)
	}
}

// storeWaitingWritersStarveOtherTenants: Write takes a pooled
// connection and then waits, with no lock_timeout, for the tenant's row
// lock. While one push of tenant A runs, further pushes of A each hold a
// connection doing nothing; once they fill the pool, reads and writes of
// every other tenant wait for A. One busy tenant (a shift of handhelds
// reconnecting at once) stalls the whole server. SQLite reads have their
// own pool and go on.
func storeWaitingWritersStarveOtherTenants(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	s := smallPool(t)
	ctx := context.Background()
	a := ledger.Tenant{ID: rvID(), Slug: "busy", Name: "Busy", Settings: ledger.DefaultSettings, CreatedAt: rvT0}
	b := ledger.Tenant{ID: rvID(), Slug: "quiet", Name: "Quiet", Settings: ledger.DefaultSettings, CreatedAt: rvT0}
	for _, tn := range []ledger.Tenant{a, b} {
		if err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	hold, inside := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.Write(ctx, a.ID, func(ledger.Tx) error { close(inside); <-hold; return nil })
	}()
	<-inside
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Write(ctx, a.ID, func(ledger.Tx) error { return nil }) }()
	}
	time.Sleep(300 * time.Millisecond) // the queued writers take their connections
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := s.Read(rctx, func(tx ledger.ReadTx) error { _, err := tx.Tenant(rctx, b.ID); return err })
	cancel()
	close(hold)
	wg.Wait()
	if err != nil {
		t.Fatalf("reading tenant %s while tenant %s's writers queue: %v", b.Slug, a.Slug, err)
	}
}

// storeOpenReviewLookups: OpenReviews finds the open reviews on a key but
// leaves out the count reviews, which OpenReviewsOfOps finds by the count
// that opened them; resolved reviews are found by neither, a review on a
// key that names an order comes once, and both bring only each review's
// opening operation.
func storeOpenReviewLookups(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	loc, item := rvID(), rvID()
	k := ledger.Key{LocationID: loc, ItemID: item}
	dev := rvID()
	review := func(kind ledger.ReviewKind, status ledger.ReviewStatus, order string, at time.Duration) ledger.Review {
		op := rvID()
		return ledger.Review{TenantID: f.tenant.ID, ID: rvID(), Kind: kind, Severity: ledger.SeverityMedium, Status: status,
			OpID: op, DeviceID: dev, Key: k, Order: order, OpenedAt: rvT0.Add(at), Changed: 1,
			Ops: []ledger.ReviewOp{{OpID: op, DeviceID: dev}}}
	}
	negative := review(ledger.ReviewNegativeStock, ledger.ReviewOpen, "", 0)
	variance := review(ledger.ReviewCountVariance, ledger.ReviewOpen, "", time.Minute)
	ambiguous := review(ledger.ReviewCountAmbiguous, ledger.ReviewOpen, "", 2*time.Minute)
	wrongBatch := review(ledger.ReviewWrongBatchReturn, ledger.ReviewOpen, "SO-9", 3*time.Minute)
	settled := review(ledger.ReviewCountVariance, ledger.ReviewResolved, "", 4*time.Minute)
	settled.Resolution = &ledger.ResolutionRecord{Action: ledger.ActionAccept, By: "boss", At: rvT0.Add(time.Hour)}
	// Operations that joined: the merge's reads leave them out.
	negative.Ops = append(negative.Ops, ledger.ReviewOp{OpID: rvID(), DeviceID: dev})
	ambiguous.Ops = append(ambiguous.Ops, ledger.ReviewOp{OpID: rvID(), DeviceID: dev}, ledger.ReviewOp{OpID: rvID(), DeviceID: dev})
	f.write(t, func(tx ledger.Tx) error {
		return tx.UpsertReviews(ctx, []ledger.Review{negative, variance, ambiguous, wrongBatch, settled})
	})
	ids := func(rs []ledger.Review) []uuid.UUID {
		out := []uuid.UUID{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	err := f.store.Read(ctx, func(tx ledger.ReadTx) error {
		byKey, err := tx.OpenReviews(ctx, f.tenant.ID, []ledger.Key{k}, []string{"SO-9"})
		if err != nil {
			return err
		}
		if got, want := ids(byKey), []uuid.UUID{negative.ID, wrongBatch.ID}; !slices.Equal(got, want) {
			t.Errorf("open reviews by key and order = %v, want negative stock and wrong batch once each %v", got, want)
		}
		byOp, err := tx.OpenReviewsOfOps(ctx, f.tenant.ID, []uuid.UUID{ambiguous.OpID, variance.OpID, settled.OpID, rvID()})
		if err != nil {
			return err
		}
		if got, want := ids(byOp), []uuid.UUID{variance.ID, ambiguous.ID}; !slices.Equal(got, want) {
			t.Errorf("open reviews of the counts = %v, want the two open count reviews by opening time %v", got, want)
		}
		if len(byOp) == 2 && (len(byOp[1].Ops) != 1 || byOp[1].Ops[0].OpID != ambiguous.OpID) {
			t.Errorf("open review of a count by its count: Ops = %+v, want only the opening operation %s", byOp[1].Ops, ambiguous.OpID)
		}
		if len(byKey) == 2 && (len(byKey[0].Ops) != 1 || byKey[0].Ops[0].OpID != negative.OpID) {
			t.Errorf("open review by key: Ops = %+v, want only the opening operation %s", byKey[0].Ops, negative.OpID)
		}
		full, err := tx.Review(ctx, f.tenant.ID, ambiguous.ID)
		if err != nil {
			return err
		}
		if len(full.Ops) != 3 {
			t.Errorf("review %s read by ID has %d operations, want all 3", ambiguous.ID, len(full.Ops))
		}
		none, err := tx.OpenReviewsOfOps(ctx, f.tenant.ID, nil)
		if err != nil || len(none) != 0 {
			t.Errorf("open reviews of no operation = %v, %v; want none", none, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// RunStore runs the store contract tests. smallPool makes a store whose
// connection pool holds at most two connections (or nf itself where that
// means nothing).
func RunStore(t *testing.T, nf, smallPool Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory, Factory)
	}{
		{"NulByteInOperationFailsWholePush", storeNulByteInOperationFailsWholePush},
		{"ForeignKeyViolationIsNotFound", storeForeignKeyViolationIsNotFound},
		{"ErrorMessagesLeakDriverDetail", storeErrorMessagesLeakDriverDetail},
		{"EmptyResultsNilOnOneStoreOnly", storeEmptyResultsNilOnOneStoreOnly},
		{"TenantsOrderDiffers", storeTenantsOrderDiffers},
		{"CountsOnKeysOrderDiffers", storeCountsOnKeysOrderDiffers},
		{"BatchExpiryOfNonUTCTime", storeBatchExpiryOfNonUTCTime},
		{"UpsertReviewsSameReviewTwiceLosesOps", storeUpsertReviewsSameReviewTwiceLosesOps},
		{"AddBalancesSameKeyTwice", storeAddBalancesSameKeyTwice},
		{"ReviewLinksAcrossUpserts", storeReviewLinksAcrossUpserts},
		{"WaitingWritersStarveOtherTenants", storeWaitingWritersStarveOtherTenants},
		{"OpenReviewLookups", storeOpenReviewLookups},
		{"KeyWindowsAnswerAsOneByOne", storeKeyWindowsAnswerAsOneByOne},
		{"WriteIDChangesWithEveryCommit", storeWriteIDChangesWithEveryCommit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, nf, smallPool) })
	}
}

// storeKeyWindowsAnswerAsOneByOne: KeyWindows answers, window by window and
// in the order asked, what StockAsOf and MovementsBetween answer one at a
// time: on a key with movements before, inside and after the window, a key
// with none, a window asked twice and windows out of key order.
func storeKeyWindowsAnswerAsOneByOne(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	dev := f.device(t, "hh", "PW")
	base := rvT0.Add(-time.Hour) // in the past: nothing is clamped to now
	var ops []ledger.Operation
	for i, q := range []int64{10, -3, 4, -2, 7} {
		kind := ledger.KindReceive
		if q < 0 {
			kind, q = ledger.KindPick, -q
		}
		ops = append(ops, ledger.Operation{OpID: rvID(), Seq: int64(i + 1), Kind: kind, OccurredAt: base.Add(time.Duration(i) * time.Minute),
			SKU: "WIDGET", Location: "A1", Qty: q})
	}
	ops = append(ops, ledger.Operation{OpID: rvID(), Seq: 6, Kind: ledger.KindReceive, OccurredAt: base, SKU: "BOLT", Batch: "L1", Location: "A1", Qty: 3})
	if _, err := f.l.Merge(ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, DeviceTime: rvT0, Ops: ops}); err != nil {
		t.Fatal(err)
	}
	its := f.items(t, "WIDGET", "BOLT")
	loc := f.locationA1(t)
	widget := ledger.Key{LocationID: loc.ID, ItemID: its["WIDGET"].ID, BatchID: ledger.NoBatch}
	empty := ledger.Key{LocationID: loc.ID, ItemID: its["BOLT"].ID, BatchID: ledger.NoBatch}
	var bolt ledger.Key
	err := f.store.Read(ctx, func(tx ledger.ReadTx) error {
		bs, err := tx.BatchesByCode(ctx, f.tenant.ID, []ledger.BatchRef{{ItemID: its["BOLT"].ID, Code: "L1"}})
		if err != nil || len(bs) != 1 {
			t.Fatalf("batch L1: %v %v", bs, err)
		}
		bolt = ledger.Key{LocationID: loc.ID, ItemID: its["BOLT"].ID, BatchID: bs[0].ID}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	windows := []ledger.KeyWindow{
		{Key: widget, At: at(2), From: at(1), To: at(3)},
		{Key: bolt, At: at(0), From: at(-1), To: at(1)},
		{Key: empty, At: at(2), From: at(0), To: at(9)},
		{Key: widget, At: at(-1), From: at(-5), To: at(-1)},
		{Key: widget, At: at(9), From: at(0), To: at(9)},
		{Key: widget, At: at(2), From: at(1), To: at(3)},
	}
	err = f.store.Read(ctx, func(tx ledger.ReadTx) error {
		got, err := tx.KeyWindows(ctx, f.tenant.ID, windows)
		if err != nil {
			return err
		}
		if len(got) != len(windows) {
			t.Fatalf("KeyWindows answered %d windows of %d", len(got), len(windows))
		}
		for i, w := range windows {
			stock, err := tx.StockAsOf(ctx, f.tenant.ID, w.Key, w.At)
			if err != nil {
				return err
			}
			between, err := tx.MovementsBetween(ctx, f.tenant.ID, w.Key, w.From, w.To)
			if err != nil {
				return err
			}
			if got[i].StockAsOf != stock {
				t.Errorf("window %d: stock as of %s = %d, StockAsOf says %d", i, w.At.Format(time.TimeOnly), got[i].StockAsOf, stock)
			}
			if len(got[i].Between) != len(between) {
				t.Errorf("window %d: %d movements, MovementsBetween has %d", i, len(got[i].Between), len(between))
				continue
			}
			for j := range between {
				if got[i].Between[j] != between[j] {
					t.Errorf("window %d, movement %d: %+v, MovementsBetween has %+v", i, j, got[i].Between[j], between[j])
				}
			}
		}
		// The expected values themselves, so that both methods being wrong
		// alike cannot pass: 10-3 by 06:02, 10-3+4-2+7 by 06:09.
		if got[0].StockAsOf != 11 || got[4].StockAsOf != 16 || got[3].StockAsOf != 0 || got[1].StockAsOf != 3 || got[2].StockAsOf != 0 {
			t.Errorf("stocks as of = %d %d %d %d %d, want 11 3 0 0 16", got[0].StockAsOf, got[1].StockAsOf, got[2].StockAsOf, got[3].StockAsOf, got[4].StockAsOf)
		}
		if len(got[0].Between) != 3 || len(got[4].Between) != 5 || len(got[2].Between) != 0 {
			t.Errorf("movements in windows = %d %d %d, want 3 5 0", len(got[0].Between), len(got[4].Between), len(got[2].Between))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storeWriteIDChangesWithEveryCommit: a Write finds the write ID the last
// committed Write of the tenant left, whether or not it called SetLedger;
// a rolled-back Write leaves nothing; each tenant has its own.
func storeWriteIDChangesWithEveryCommit(t *testing.T, nf, smallPool Factory) {
	t.Parallel()
	f := rvSetup(t, nf)
	ctx := context.Background()
	write := func(fn func(ledger.Tx) error) (found, leaves uuid.UUID, err error) {
		err = f.store.Write(ctx, f.tenant.ID, func(tx ledger.Tx) error {
			found, leaves = tx.WriteIDs()
			return fn(tx)
		})
		return found, leaves, err
	}
	_, left, err := write(func(ledger.Tx) error { return nil })
	if err != nil || left == uuid.Nil {
		t.Fatalf("first write: leaves %s, %v", left, err)
	}
	found, left2, err := write(func(tx ledger.Tx) error { return tx.SetLedger(ctx, tx.Ledger()) })
	if err != nil || found != left || left2 == left {
		t.Fatalf("a write with nothing but SetLedger found %s (want %s) and leaves %s: %v", found, left, left2, err)
	}
	_, _, err = write(func(ledger.Tx) error { return ledger.Errorf(ledger.CodeInvalid, "roll back") })
	if ledger.ErrorCode(err) != ledger.CodeInvalid {
		t.Fatalf("rolled back write: %v", err)
	}
	found, _, err = write(func(ledger.Tx) error { return nil })
	if err != nil || found != left2 {
		t.Fatalf("after a rollback the write ID is %s, want %s left by the last commit: %v", found, left2, err)
	}
	other, err := f.l.CreateTenant(ctx, "other", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = f.store.Write(ctx, other.ID, func(tx ledger.Tx) error {
		if found, _ := tx.WriteIDs(); found == left2 {
			t.Errorf("another tenant found this tenant's write ID %s", found)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
