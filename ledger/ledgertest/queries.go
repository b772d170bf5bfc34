package ledgertest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"stocksync/ledger"
)

func testQueries(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	t0 := f.clock.Now()
	f.push(dev, receive("BOLT", "A1", 10, "L1", ""), receive("BOLT", "A2", 4, "L2", ""), receive("WIDGET", "A1", 7, "", ""))
	f.clock.Advance(time.Hour)
	f.push(dev, pick("BOLT", "A1", 3, "L1", "SO-1"), pick("WIDGET", "A1", 7, "", "SO-1"))

	rows, err := f.l.Balances(f.ctx, f.tenant.ID, ledger.BalanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range rows {
		got[fmt.Sprintf("%s/%s/%s/%s", r.Warehouse, r.Location, r.SKU, r.Batch)] = r.OnHand
	}
	want := map[string]int64{"W1/A1/BOLT/L1": 7, "W1/A2/BOLT/L2": 4, "W1/A1/WIDGET/": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("balances = %v, want %v", got, want)
	}
	nonZero, _ := f.l.Balances(f.ctx, f.tenant.ID, ledger.BalanceFilter{NonZero: true})
	if len(nonZero) != 2 {
		t.Errorf("non-zero balances = %+v", nonZero)
	}
	bySKU, _ := f.l.Balances(f.ctx, f.tenant.ID, ledger.BalanceFilter{SKU: "BOLT", Batch: "L2"})
	if len(bySKU) != 1 || bySKU[0].OnHand != 4 || bySKU[0].Location != "A2" {
		t.Errorf("BOLT/L2 = %+v", bySKU)
	}
	asOf, _ := f.l.Balances(f.ctx, f.tenant.ID, ledger.BalanceFilter{Warehouse: "W1", Location: "A1", AsOf: t0.Add(30 * time.Minute)})
	gotAsOf := map[string]int64{}
	for _, r := range asOf {
		gotAsOf[r.SKU+"/"+r.Batch] = r.OnHand
	}
	if gotAsOf["BOLT/L1"] != 10 || gotAsOf["WIDGET/"] != 7 || len(gotAsOf) != 2 {
		t.Errorf("as of t0+30m = %v", gotAsOf)
	}
	before, _ := f.l.Balances(f.ctx, f.tenant.ID, ledger.BalanceFilter{AsOf: t0.Add(-time.Second), NonZero: true})
	if len(before) != 0 {
		t.Errorf("as of before anything = %+v", before)
	}

	// Movements of a key, of an order, paged.
	key, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{Location: "A1", SKU: "BOLT", Batch: "L1"})
	if len(key) != 2 || key[0].Qty != 10 || key[1].Qty != -3 || key[1].Order != "SO-1" || key[0].Warehouse != "W1" {
		t.Errorf("key movements = %+v", key)
	}
	order, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{Order: "SO-1"})
	if len(order) != 2 || order[0].Position != 4 || order[1].Position != 5 {
		t.Errorf("order movements = %+v", order)
	}
	page, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{AfterPosition: 2, Limit: 2})
	if len(page) != 2 || page[0].Position != 3 || page[1].Position != 4 {
		t.Errorf("page = %+v", page)
	}

	// Reviews by state and kind.
	f.push(dev, pick("WIDGET", "A1", 1, "", ""), pick("MILK", "A1", 1, "M-OLD", ""))
	open := f.reviews(ledger.ReviewOpen, "")
	if len(open) != 3 { // negative WIDGET, expired MILK, negative MILK
		t.Fatalf("open reviews = %+v", open)
	}
	if neg := f.reviews(ledger.ReviewOpen, ledger.ReviewNegativeStock); len(neg) != 2 {
		t.Errorf("negative_stock = %+v", neg)
	}
	f.resolve(f.reviews(ledger.ReviewOpen, ledger.ReviewExpiredBatch)[0].ID, ledger.Resolution{Action: ledger.ActionAccept})
	if res := f.reviews(ledger.ReviewResolved, ""); len(res) != 1 || res[0].Kind != ledger.ReviewExpiredBatch {
		t.Errorf("resolved = %+v", res)
	}
	byDev, _ := f.l.Reviews(f.ctx, f.tenant.ID, ledger.ReviewFilter{DeviceID: dev.ID})
	other, _ := f.l.Reviews(f.ctx, f.tenant.ID, ledger.ReviewFilter{DeviceID: f.devs[1].ID})
	if len(byDev) != 3 || len(other) != 0 {
		t.Errorf("reviews by device: %d and %d", len(byDev), len(other))
	}
	f.checkConsistent()
}

func testOpLog(t *testing.T, nf Factory) {
	f := setup(t, nf)
	dev := f.devs[0]
	res := f.push(dev, receive("WIDGET", "A1", 1, "", ""), pick("WIDGET", "A1", 0, "", ""), receive("NOPE", "A1", 1, "", ""))
	f.push(f.devs[1], receive("WIDGET", "A1", 1, "", ""))
	log, err := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{DeviceID: dev.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 3 {
		t.Fatalf("op log = %+v", log)
	}
	for i, e := range log {
		if e.OpID != res[i].OpID || e.Seq != int64(i+1) || e.Result.Status != res[i].Status || e.DeviceID != dev.ID ||
			len(e.PayloadHash) != 32 || !e.ReceivedAt.Equal(f.clock.Now()) {
			t.Errorf("entry %d = %+v, result %+v", i, e, res[i])
		}
	}
	op, err := log[1].Operation()
	if err != nil || op.Kind != ledger.KindPick || op.Seq != 2 {
		t.Errorf("decoded payload = %+v, %v", op, err)
	}
	if !log[0].Posted || log[1].Posted || log[2].Posted {
		t.Errorf("posted flags: %v %v %v", log[0].Posted, log[1].Posted, log[2].Posted)
	}
	rejected, _ := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{Status: ledger.StatusRejected})
	if len(rejected) != 1 || rejected[0].Result.Code != ledger.CodeInvalidQty {
		t.Errorf("rejected = %+v", rejected)
	}
	all, _ := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{})
	after, _ := f.l.OpLog(f.ctx, f.tenant.ID, ledger.OpLogFilter{DeviceID: dev.ID, AfterSeq: 2})
	if len(all) != 4 || len(after) != 1 || after[0].Seq != 3 {
		t.Errorf("all = %d, after seq 2 = %+v", len(all), after)
	}
}

// testTenantIsolation: two tenants with the same codes never see each
// other's rows.
func testTenantIsolation(t *testing.T, nf Factory) {
	f := setup(t, nf)
	other, err := f.l.CreateTenant(f.ctx, "globex", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.CreateTenant(f.ctx, "globex", "", nil); ledger.ErrorCode(err) != ledger.CodeConflict {
		t.Fatalf("duplicate slug: %v", err)
	}
	if _, err := f.l.UpsertCatalog(f.ctx, other.ID, baseCatalog); err != nil {
		t.Fatal(err)
	}
	od, err := f.l.RegisterDevice(f.ctx, other.ID, ledger.DeviceInput{Warehouse: "W1", Name: "g-1"})
	if err != nil {
		t.Fatal(err)
	}
	f.push(f.devs[0], receive("WIDGET", "A1", 5, "", ""), pick("WIDGET", "A1", 9, "", "SO-1"))
	ops := f.prepare(od, receive("WIDGET", "A1", 100, "", ""))
	if _, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: other.ID, DeviceID: od.ID, Ops: ops}); err != nil {
		t.Fatal(err)
	}
	// A device of one tenant cannot push into the other.
	_, err = f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: other.ID, DeviceID: f.devs[0].ID, Ops: f.prepare(f.devs[0], receive("WIDGET", "A1", 1, "", ""))})
	wantCode(t, err, ledger.CodeNotFound)
	f.wantBalance("A1", "WIDGET", "", -4)
	ob, _ := f.l.Balances(f.ctx, other.ID, ledger.BalanceFilter{})
	if len(ob) != 1 || ob[0].OnHand != 100 {
		t.Errorf("other tenant balances = %+v", ob)
	}
	if rs, _ := f.l.Reviews(f.ctx, other.ID, ledger.ReviewFilter{}); len(rs) != 0 {
		t.Errorf("other tenant sees reviews %+v", rs)
	}
	rv := f.onlyOpen(ledger.ReviewNegativeStock)
	if _, err := f.l.Review(f.ctx, other.ID, rv.ID); ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Errorf("review across tenants: %v", err)
	}
	if _, err := f.l.ResolveReview(f.ctx, other.ID, rv.ID, ledger.Resolution{Action: ledger.ActionAccept, By: "x"}); ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Errorf("resolve across tenants: %v", err)
	}
	if _, err := f.l.Device(f.ctx, other.ID, f.devs[0].ID); ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Errorf("device across tenants: %v", err)
	}
	if log, _ := f.l.OpLog(f.ctx, other.ID, ledger.OpLogFilter{}); len(log) != 1 {
		t.Errorf("other op log = %+v", log)
	}
	if movs, _ := f.l.Movements(f.ctx, other.ID, ledger.MovementFilter{}); len(movs) != 1 || movs[0].Position != 1 {
		t.Errorf("other movements = %+v", movs)
	}
	ds, err := f.l.Check(f.ctx, [16]byte{})
	if err != nil || len(ds) != 0 {
		t.Errorf("check all tenants: %v %v", ds, err)
	}
}

// testConcurrentPushes: devices push at once; positions stay gap-free and
// balances exact because the database serializes each tenant's writers.
func testConcurrentPushes(t *testing.T, nf Factory) {
	f := setup(t, nf)
	const rounds, perPush = 15, 20
	var wg sync.WaitGroup
	errs := make(chan error, len(f.devs)*rounds)
	for _, dev := range f.devs {
		batches := make([][]ledger.Operation, rounds)
		for r := range batches {
			ops := make([]ledger.Operation, perPush)
			for i := range ops {
				ops[i] = receive("WIDGET", "A1", 1, "", "")
				if i%2 == 1 {
					ops[i] = pick("WIDGET", "A2", 1, "", "")
				}
			}
			batches[r] = f.prepare(dev, ops...)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, ops := range batches {
				if _, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, Ops: ops}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := int64(len(f.devs) * rounds * perPush / 2)
	f.wantBalance("A1", "WIDGET", "", total)
	f.wantBalance("A2", "WIDGET", "", -total)
	movs, _ := f.l.Movements(f.ctx, f.tenant.ID, ledger.MovementFilter{})
	if int64(len(movs)) != 2*total || movs[len(movs)-1].Position != 2*total {
		t.Errorf("%d movements, last position %d", len(movs), movs[len(movs)-1].Position)
	}
	if n := len(f.reviews(ledger.ReviewOpen, ledger.ReviewNegativeStock)); n != 1 {
		t.Errorf("%d open negative_stock reviews, want 1", n)
	}
	f.checkConsistent()
}
