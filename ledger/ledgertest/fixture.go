// Package ledgertest is the conformance suite every ledger.Store must pass:
// the same rules, exercised through ledger.Ledger, against each backend.
package ledgertest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// Factory returns a new, empty store for one test; it registers its own
// cleanup. Tests call it in parallel.
type Factory func(t *testing.T) ledger.Store

// Clock is a settable clock for the ledger.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Start is when every fixture's clock starts: a Monday morning shift.
var Start = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

// fixture is a tenant with a small warehouse catalog and three handhelds.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	store  ledger.Store
	l      *ledger.Ledger
	clock  *Clock
	tenant ledger.Tenant
	devs   []ledger.Device
	seq    map[uuid.UUID]int64
}

// baseCatalog: an untracked item, a batch-tracked one, a batch- and
// expiry-tracked one, in one warehouse with a few bins.
var baseCatalog = ledger.Catalog{
	Warehouses: []ledger.WarehouseInput{{Code: "W1", Name: "Main"}},
	Locations: []ledger.LocationInput{{Warehouse: "W1", Code: "A1"}, {Warehouse: "W1", Code: "A2"},
		{Warehouse: "W1", Code: "B1"}, {Warehouse: "W1", Code: "DOCK"}},
	Items: []ledger.ItemInput{
		{SKU: "WIDGET", Name: "Widget", Unit: "pcs", Barcodes: []string{"4000001000013"}},
		{SKU: "BOLT", Name: "Bolt M8", Unit: "pcs", Barcodes: []string{"4000002000012"}, BatchTracked: true},
		{SKU: "MILK", Name: "Milk 1l", Unit: "pcs", BatchTracked: true, ExpiryTracked: true},
	},
	Batches: []ledger.BatchInput{{SKU: "BOLT", Code: "L1"}, {SKU: "BOLT", Code: "L2"}, {SKU: "BOLT", Code: "L3"},
		{SKU: "MILK", Code: "M-OLD", Expiry: "2026-11-20"}, {SKU: "MILK", Code: "M-NEW", Expiry: "2026-12-20"}},
}

func setup(t *testing.T, newStore Factory) *fixture {
	t.Helper()
	return setupWith(t, newStore, nil)
}

func setupWith(t *testing.T, newStore Factory, settings *ledger.Settings) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), store: newStore(t), clock: NewClock(Start), seq: map[uuid.UUID]int64{}}
	f.l = ledger.New(f.store, ledger.Options{Now: f.clock.Now})
	var err error
	f.tenant, err = f.l.CreateTenant(f.ctx, "acme", "Acme Wholesale", settings)
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	if _, err := f.l.UpsertCatalog(f.ctx, f.tenant.ID, baseCatalog); err != nil {
		t.Fatalf("upsert catalog: %v", err)
	}
	for _, name := range []string{"hh-1", "hh-2", "hh-3"} {
		d, err := f.l.RegisterDevice(f.ctx, f.tenant.ID, ledger.DeviceInput{Warehouse: "W1", Name: name,
			BatchPrefix: strings.ToUpper(strings.ReplaceAll(name, "-", ""))})
		if err != nil {
			t.Fatalf("register device: %v", err)
		}
		f.devs = append(f.devs, d)
	}
	return f
}

// prepare fills op ids, seqs and times for a device's next operations.
func (f *fixture) prepare(dev ledger.Device, ops ...ledger.Operation) []ledger.Operation {
	f.t.Helper()
	out := make([]ledger.Operation, len(ops))
	for i, op := range ops {
		if op.OpID == uuid.Nil {
			op.OpID = uuid.Must(uuid.NewV7())
		}
		f.seq[dev.ID]++
		op.Seq = f.seq[dev.ID]
		if op.OccurredAt.IsZero() {
			op.OccurredAt = f.clock.Now()
		}
		out[i] = op
	}
	return out
}

// merge pushes prepared operations with the device's clock in sync.
func (f *fixture) merge(dev ledger.Device, ops []ledger.Operation) ledger.MergeResponse {
	f.t.Helper()
	resp, err := f.l.Merge(f.ctx, ledger.MergeRequest{TenantID: f.tenant.ID, DeviceID: dev.ID, DeviceTime: f.clock.Now(), Ops: ops})
	if err != nil {
		f.t.Fatalf("merge %d ops from %s: %v", len(ops), dev.Name, err)
	}
	if len(resp.Results) != len(ops) {
		f.t.Fatalf("merge: %d results for %d ops", len(resp.Results), len(ops))
	}
	return resp
}

// push prepares and merges, and returns the results.
func (f *fixture) push(dev ledger.Device, ops ...ledger.Operation) []ledger.Result {
	f.t.Helper()
	return f.merge(dev, f.prepare(dev, ops...)).Results
}

// push1 pushes one operation and returns its result.
func (f *fixture) push1(dev ledger.Device, op ledger.Operation) ledger.Result {
	f.t.Helper()
	return f.push(dev, op)[0]
}

func (f *fixture) balance(loc, sku, batch string) int64 {
	f.t.Helper()
	rows, err := f.l.Balances(f.ctx, f.tenant.ID, ledger.BalanceFilter{Location: loc, SKU: sku, Batch: batch})
	if err != nil {
		f.t.Fatalf("balances: %v", err)
	}
	var sum int64
	for _, r := range rows {
		if r.Batch == batch {
			sum += r.OnHand
		}
	}
	return sum
}

func (f *fixture) balanceAsOf(loc, sku, batch string, at time.Time) int64 {
	f.t.Helper()
	rows, err := f.l.Balances(f.ctx, f.tenant.ID, ledger.BalanceFilter{Location: loc, SKU: sku, Batch: batch, AsOf: at})
	if err != nil {
		f.t.Fatalf("balances as of: %v", err)
	}
	var sum int64
	for _, r := range rows {
		if r.Batch == batch {
			sum += r.OnHand
		}
	}
	return sum
}

func (f *fixture) wantBalance(loc, sku, batch string, want int64) {
	f.t.Helper()
	if got := f.balance(loc, sku, batch); got != want {
		f.t.Errorf("balance %s/%s/%s = %d, want %d", loc, sku, batch, got, want)
	}
}

func (f *fixture) reviews(status ledger.ReviewStatus, kind ledger.ReviewKind) []ledger.Review {
	f.t.Helper()
	rs, err := f.l.Reviews(f.ctx, f.tenant.ID, ledger.ReviewFilter{Status: status, Kind: kind})
	if err != nil {
		f.t.Fatalf("reviews: %v", err)
	}
	return rs
}

func (f *fixture) review(id uuid.UUID) ledger.Review {
	f.t.Helper()
	r, err := f.l.Review(f.ctx, f.tenant.ID, id)
	if err != nil {
		f.t.Fatalf("review %s: %v", id, err)
	}
	return r
}

// onlyOpen asserts exactly one open review of the kind and returns it.
func (f *fixture) onlyOpen(kind ledger.ReviewKind) ledger.Review {
	f.t.Helper()
	rs := f.reviews(ledger.ReviewOpen, kind)
	if len(rs) != 1 {
		f.t.Fatalf("want 1 open %s review, got %d: %+v", kind, len(rs), rs)
	}
	return rs[0]
}

// tryResolve resolves a review and returns the error, for tests of refusals.
func (f *fixture) tryResolve(id uuid.UUID, res ledger.Resolution) (ledger.Review, error) {
	if res.By == "" {
		res.By = "manager@acme"
	}
	return f.l.ResolveReview(f.ctx, f.tenant.ID, id, res)
}

func (f *fixture) resolve(id uuid.UUID, res ledger.Resolution) ledger.Review {
	f.t.Helper()
	if res.By == "" {
		res.By = "manager@acme"
	}
	r, err := f.l.ResolveReview(f.ctx, f.tenant.ID, id, res)
	if err != nil {
		f.t.Fatalf("resolve %s with %s: %v", id, res.Action, err)
	}
	return r
}

// checkConsistent runs the consistency check and fails on any discrepancy.
func (f *fixture) checkConsistent() {
	f.t.Helper()
	ds, err := f.l.Check(f.ctx, f.tenant.ID)
	if err != nil {
		f.t.Fatalf("check: %v", err)
	}
	for _, d := range ds {
		f.t.Errorf("discrepancy: %+v", d)
	}
}

// sameOutcome runs a scenario in two arrival orders (run(true), then
// run(false)) and fails when the outcomes differ.
func sameOutcome(t *testing.T, first, second string, run func(bool) string) {
	t.Helper()
	if a, b := run(true), run(false); a != b {
		t.Errorf("final state depends on arrival order:\n %s: %s\n %s: %s", first, a, second, b)
	}
}

func wantStatus(t *testing.T, r ledger.Result, status ledger.Status, code ledger.Code) {
	t.Helper()
	if r.Status != status || r.Code != code {
		t.Fatalf("result = %s/%s (%s), want %s/%s", r.Status, r.Code, r.Message, status, code)
	}
}

func wantCode(t *testing.T, err error, code ledger.Code) {
	t.Helper()
	if got := ledger.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// Operation constructors keep the tests readable.
func receive(sku, loc string, qty int64, batch, expiry string) ledger.Operation {
	return ledger.Operation{Kind: ledger.KindReceive, SKU: sku, Location: loc, Qty: qty, Batch: batch, Expiry: expiry}
}

func pick(sku, loc string, qty int64, batch, order string) ledger.Operation {
	return ledger.Operation{Kind: ledger.KindPick, SKU: sku, Location: loc, Qty: qty, Batch: batch, Order: order}
}

func ret(sku, loc string, qty int64, batch, order string) ledger.Operation {
	return ledger.Operation{Kind: ledger.KindReturn, SKU: sku, Location: loc, Qty: qty, Batch: batch, Order: order}
}

func transfer(sku, from, to string, qty int64, batch string) ledger.Operation {
	return ledger.Operation{Kind: ledger.KindTransfer, SKU: sku, Location: from, ToLocation: to, Qty: qty, Batch: batch}
}

func count(sku, loc string, qty int64, batch string) ledger.Operation {
	return ledger.Operation{Kind: ledger.KindCount, SKU: sku, Location: loc, Qty: qty, Batch: batch}
}

func adjust(sku, loc string, qty int64, batch, reason string) ledger.Operation {
	return ledger.Operation{Kind: ledger.KindAdjust, SKU: sku, Location: loc, Qty: qty, Batch: batch, Reason: reason}
}

func op(kind ledger.Kind, sku, loc string, qty int64, batch, order string) ledger.Operation {
	return ledger.Operation{Kind: kind, SKU: sku, Location: loc, Qty: qty, Batch: batch, Order: order}
}

func at(op ledger.Operation, t time.Time) ledger.Operation {
	op.OccurredAt = t
	return op
}
