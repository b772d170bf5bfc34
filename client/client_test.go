package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"stocksync/syncproto"
)

// testClock is the device clock of a test; it moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is what a client test needs: a client on a real SQLite file, its
// clock, the backoff waits it asked for, and a protocol server.
type fixture struct {
	c      *Client
	path   string
	opts   Options
	clock  *testClock
	srv    *testServer
	mu     sync.Mutex
	sleeps []time.Duration
}

// setup opens a client on a fresh database file. Backoff waits are
// recorded instead of slept, so retry tests take no time; edit may change
// the options before the client opens.
func setup(t *testing.T, edit ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "device", "device.db"),
		clock: &testClock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}, srv: newTestServer(t)}
	f.opts = Options{Now: f.clock.Now, AppVersion: "test", Rand: rand.New(rand.NewPCG(1, 2)),
		Sleep: func(ctx context.Context, d time.Duration) error {
			f.mu.Lock()
			f.sleeps = append(f.sleeps, d)
			f.mu.Unlock()
			return ctx.Err()
		}}
	for _, e := range edit {
		e(&f.opts)
	}
	f.open(t)
	return f
}

func (f *fixture) open(t *testing.T) {
	t.Helper()
	c, err := Open(context.Background(), f.path, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	t.Cleanup(func() { c.Close() })
}

// reopen closes the client and opens the same file again, as after a
// restart of the app.
func (f *fixture) reopen(t *testing.T) {
	t.Helper()
	if err := f.c.Close(); err != nil {
		t.Fatal(err)
	}
	f.open(t)
}

func (f *fixture) waits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// enroll enrolls the device with the test server and pulls its catalog.
func (f *fixture) enroll(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.c.Enroll(ctx, f.srv.URL(), testCode, "handheld 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Sync(ctx, SyncOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) record(t *testing.T, in OpInput) Recorded {
	t.Helper()
	r, err := f.c.Record(context.Background(), in)
	if err != nil {
		t.Fatalf("record %+v: %v", in, err)
	}
	return r
}

func (f *fixture) sync(t *testing.T) SyncReport {
	t.Helper()
	rep, err := f.c.Sync(context.Background(), SyncOptions{})
	if err != nil {
		t.Fatalf("sync: %v (report %+v)", err, rep)
	}
	return rep
}

func (f *fixture) ops(t *testing.T, filter OpsFilter) []OpView {
	t.Helper()
	ops, err := f.c.Ops(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func (f *fixture) status(t *testing.T) Status {
	t.Helper()
	s, err := f.c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) stock(t *testing.T, filter StockFilter) map[stockKey]StockRow {
	t.Helper()
	rows, err := f.c.Stock(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	m := map[stockKey]StockRow{}
	for _, r := range rows {
		m[stockKey{r.Location, r.SKU, r.Batch}] = r
	}
	return m
}

func pick(sku string, qty int64, loc string) OpInput {
	return OpInput{Kind: syncproto.KindPick, SKU: sku, Qty: qty, Location: loc}
}

func TestRecordAssignsContiguousSeqsAndSurvivesReopen(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var recorded []Recorded
	for i := range 5 {
		f.clock.Advance(time.Minute)
		recorded = append(recorded, f.record(t, pick("BOLT", int64(i+1), "A1")))
	}
	f.reopen(t)
	ops := f.ops(t, OpsFilter{})
	if len(ops) != 5 {
		t.Fatalf("after reopen: %d ops, want 5", len(ops))
	}
	for i, v := range ops {
		want := recorded[i].Op
		if v.Op != want || v.Op.Seq != int64(i+1) || !v.Pending {
			t.Errorf("op %d: got %+v, want %+v pending at seq %d", i, v.Op, want, i+1)
		}
		if v.Op.OpID.Version() != 7 {
			t.Errorf("op %d: op id %s is not a UUIDv7", i, v.Op.OpID)
		}
	}
	next := f.record(t, pick("BOLT", 1, "A1"))
	if next.Op.Seq != 6 {
		t.Errorf("seq after reopen: %d, want 6", next.Op.Seq)
	}
	st := f.status(t)
	if st.Enrolled || st.Pending != 6 || st.LastSeq != 6 || st.OldestUnsent != 4*time.Minute {
		t.Errorf("status: %+v; want not enrolled, 6 pending, last seq 6, oldest unsent 4m", st)
	}
}

func TestRecordConcurrentlyKeepsSeqsContiguous(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if _, err := f.c.Record(context.Background(), pick("BOLT", 1, "A1")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	ops := f.ops(t, OpsFilter{})
	seen := map[string]bool{}
	for i, v := range ops {
		if v.Op.Seq != int64(i+1) {
			t.Fatalf("op %d has seq %d: seqs are not 1..%d", i, v.Op.Seq, len(ops))
		}
		seen[v.Op.OpID.String()] = true
	}
	if len(ops) != 40 || len(seen) != 40 {
		t.Fatalf("%d ops with %d distinct ids, want 40", len(ops), len(seen))
	}
}

func TestRecordRefusesWhatTheServerWouldReject(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	long := strings.Repeat("x", syncproto.MaxCodeLen+1)
	for _, tc := range []struct {
		name string
		in   OpInput
		code syncproto.Code
	}{
		{"no kind", OpInput{SKU: "BOLT", Qty: 1, Location: "A1"}, syncproto.CodeMissingField},
		{"unknown kind", OpInput{Kind: "steal", SKU: "BOLT", Qty: 1, Location: "A1"}, syncproto.CodeUnknownKind},
		{"pick of zero", pick("BOLT", 0, "A1"), syncproto.CodeInvalidQty},
		{"negative receive", OpInput{Kind: "receive", SKU: "BOLT", Qty: -2, Location: "A1"}, syncproto.CodeInvalidQty},
		{"negative count", OpInput{Kind: "count", SKU: "BOLT", Qty: -1, Location: "A1"}, syncproto.CodeInvalidQty},
		{"zero adjust", OpInput{Kind: "adjust", SKU: "BOLT", Qty: 0, Location: "A1", Reason: "damaged"}, syncproto.CodeInvalidQty},
		{"adjust without reason", OpInput{Kind: "adjust", SKU: "BOLT", Qty: -1, Location: "A1"}, syncproto.CodeReasonRequired},
		{"huge qty", pick("BOLT", maxQty+1, "A1"), syncproto.CodeInvalidQty},
		{"no item", OpInput{Kind: "pick", Qty: 1, Location: "A1"}, syncproto.CodeMissingField},
		{"no location", OpInput{Kind: "pick", SKU: "BOLT", Qty: 1}, syncproto.CodeMissingField},
		{"transfer without target", OpInput{Kind: "transfer", SKU: "BOLT", Qty: 1, Location: "A1"}, syncproto.CodeMissingField},
		{"transfer to itself", OpInput{Kind: "transfer", SKU: "BOLT", Qty: 1, Location: "A1", ToLocation: "A1"}, syncproto.CodeSameLocation},
		{"pick with a target", OpInput{Kind: "pick", SKU: "BOLT", Qty: 1, Location: "A1", ToLocation: "A2"}, syncproto.CodeUnexpectedField},
		{"pick with a reason", OpInput{Kind: "pick", SKU: "BOLT", Qty: 1, Location: "A1", Reason: "x"}, syncproto.CodeUnexpectedField},
		{"count with an order", OpInput{Kind: "count", SKU: "BOLT", Qty: 1, Location: "A1", Order: "SO-1"}, syncproto.CodeUnexpectedField},
		{"bad expiry", OpInput{Kind: "receive", SKU: "MILK", Qty: 1, Location: "COLD", Batch: "M-2", Expiry: "27/01/2027"}, syncproto.CodeInvalidExpiry},
		{"exchange without order", OpInput{Kind: "pick", SKU: "BOLT", Qty: 1, Location: "A1", ExchangeOf: "019a1f3c-6f1e-7c3a-9d2b-4e8f00a1b2c3"}, syncproto.CodeInvalidExchange},
		{"in the future", OpInput{Kind: "pick", SKU: "BOLT", Qty: 1, Location: "A1", OccurredAt: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}, syncproto.CodeInvalidTime},
		{"too long", pick(long, 1, "A1"), syncproto.CodeTooLong},
		{"NUL in a field", pick("BO\x00LT", 1, "A1"), syncproto.CodeInvalidText},
		{"barcode of another item", OpInput{Kind: "pick", SKU: "BOLT", Barcode: "4000002", Qty: 1, Location: "A1"}, syncproto.CodeBarcodeMismatch},
		{"batch on an untracked item", OpInput{Kind: "pick", SKU: "BOLT", Batch: "X", Qty: 1, Location: "A1"}, syncproto.CodeBatchNotTracked},
		{"pick of a tracked item without batch", pick("PAINT", 1, "A2"), syncproto.CodeBatchRequired},
		{"receive without expiry", OpInput{Kind: "receive", SKU: "MILK", Qty: 1, Location: "COLD", Batch: "M-9"}, syncproto.CodeExpiryRequired},
		{"receive with another expiry", OpInput{Kind: "receive", SKU: "MILK", Qty: 1, Location: "COLD", Batch: "M-1", Expiry: "2027-02-02"}, syncproto.CodeExpiryConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.c.Record(context.Background(), tc.in)
			var pe *syncproto.Error
			if !errors.As(err, &pe) || pe.Code != tc.code || pe.Message == "" {
				t.Fatalf("got %v, want a %s refusal with a message", err, tc.code)
			}
		})
	}
	if st := f.status(t); st.LastSeq != 0 || st.Pending != 0 {
		t.Errorf("refused operations took seqs: %+v", st)
	}
	// A known batch with its expiry, a return by order without batch,
	// and a receive of an expiry-tracked batch the catalog knows pass.
	for _, in := range []OpInput{
		{Kind: "receive", SKU: "MILK", Qty: 2, Location: "COLD", Batch: "M-1"},
		{Kind: "return", SKU: "PAINT", Qty: 1, Location: "A2", Order: "SO-1", Reason: "damaged"},
		{Kind: "count", Barcode: "4000001", Qty: 0, Location: "A1"},
		{Kind: "adjust", SKU: "BOLT", Qty: -3, Location: "A1", Reason: "broken"},
	} {
		if _, err := f.c.Record(context.Background(), in); err != nil {
			t.Errorf("record %+v: %v", in, err)
		}
	}
}

func TestRecordUnknownReferencesWithAWarning(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	r := f.record(t, OpInput{Kind: "pick", Barcode: "999999", Qty: 1, Location: "Z9"})
	if len(r.Warnings) != 2 || r.Warnings[0].Field != "barcode" || r.Warnings[1].Field != "location" ||
		r.Warnings[0].Code != syncproto.CodeUnknownReference {
		t.Fatalf("warnings: %+v; want unknown barcode and location", r.Warnings)
	}
	ops := f.ops(t, OpsFilter{Pending: true})
	if len(ops) != 1 || len(ops[0].Warnings) != 2 {
		t.Fatalf("stored op: %+v; want it pending with its warnings", ops)
	}
	rep := f.sync(t)
	if rep.Held != 1 {
		t.Fatalf("sync: %+v; want the operation held by the server", rep)
	}
	probs := f.ops(t, OpsFilter{Problems: true})
	if len(probs) != 1 || probs[0].Status != syncproto.StatusHeld || len(probs[0].Decisions) != 1 ||
		probs[0].Decisions[0].Status != syncproto.ReviewOpen {
		t.Fatalf("problems: %+v; want the held op with its open review", probs)
	}
}

func TestRecordGeneratesTheServersBatchCode(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	r := f.record(t, OpInput{Kind: "receive", SKU: "PAINT", Qty: 6, Location: "A2"})
	want := syncproto.GeneratedBatchCode(testPrefix, r.Op.OpID, r.Op.OccurredAt)
	if !r.GeneratedBatch || r.Batch != want || r.Op.Batch != "" {
		t.Fatalf("recorded %+v; want generated batch %s and the scanned (empty) batch in the op", r, want)
	}
	before := f.stock(t, StockFilter{SKU: "PAINT"})
	if row := before[stockKey{"A2", "PAINT", want}]; row.OnHand != 0 || row.Pending != 6 || row.Stock != 6 {
		t.Fatalf("stock before sync: %+v", before)
	}
	rep := f.sync(t)
	if rep.Applied != 1 {
		t.Fatalf("sync: %+v", rep)
	}
	after := f.stock(t, StockFilter{SKU: "PAINT"})
	if row := after[stockKey{"A2", "PAINT", want}]; row.OnHand != 6 || row.Pending != 0 || row.Stock != 6 {
		t.Fatalf("stock after sync: %+v; want the server's balance under the same batch", after)
	}
	if ops := f.ops(t, OpsFilter{}); ops[0].Batch != want {
		t.Errorf("op batch %q, want %q", ops[0].Batch, want)
	}
}

func TestOptimisticStock(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.enroll(t)
	// Pulled: A1/BOLT 10, COLD/MILK/M-1 5, A2/PAINT/L-1 4.
	f.record(t, pick("BOLT", 3, "A1"))
	f.record(t, OpInput{Kind: "transfer", Barcode: "4000001", Qty: 2, Location: "A1", ToLocation: "A2"})
	f.record(t, OpInput{Kind: "receive", SKU: "MILK", Batch: "M-1", Qty: 7, Location: "COLD"})
	f.record(t, OpInput{Kind: "count", SKU: "PAINT", Batch: "L-1", Qty: 1, Location: "A2"})
	f.record(t, OpInput{Kind: "adjust", SKU: "PAINT", Batch: "L-1", Qty: 2, Location: "A2", Reason: "found"})
	f.record(t, pick("NOPE", 1, "A1"))                                                      // unknown: held, no effect
	f.record(t, OpInput{Kind: "pick", SKU: "BOLT", Qty: 1, Location: "A1", Note: "reject"}) // rejected after sync
	want := map[stockKey][2]int64{                                                          // on hand, stock
		{"A1", "BOLT", ""}:      {10, 4}, // -3 -2 -1: the pick to be rejected counts until the server says so
		{"A2", "BOLT", ""}:      {0, 2},
		{"COLD", "MILK", "M-1"}: {5, 12},
		{"A2", "PAINT", "L-1"}:  {4, 3},
	}
	check := func(when string, want map[stockKey][2]int64) {
		t.Helper()
		got := f.stock(t, StockFilter{})
		if len(got) != len(want) {
			t.Errorf("%s: %d rows %+v, want %d", when, len(got), got, len(want))
		}
		for k, w := range want {
			if r := got[k]; r.OnHand != w[0] || r.Stock != w[1] || r.Pending != w[1]-w[0] {
				t.Errorf("%s: %v = %+v, want on hand %d, stock %d", when, k, r, w[0], w[1])
			}
		}
	}
	check("before sync", want)
	if rows := f.stock(t, StockFilter{SKU: "4000001", Location: "A2"}); len(rows) != 1 {
		t.Errorf("filter by barcode and location: %+v", rows)
	}

	rep := f.sync(t)
	if rep.Pushed != 7 || rep.Held != 1 || rep.Rejected != 1 {
		t.Fatalf("sync: %+v", rep)
	}
	// After the pull the balances hold everything; the rejected pick no
	// longer counts.
	check("after sync", map[stockKey][2]int64{
		{"A1", "BOLT", ""}:      {5, 5},
		{"A2", "BOLT", ""}:      {2, 2},
		{"COLD", "MILK", "M-1"}: {12, 12},
		{"A2", "PAINT", "L-1"}:  {3, 3},
	})
}

func TestRecordAfterCloseFails(t *testing.T) {
	f := setup(t)
	if err := f.c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Record(context.Background(), pick("BOLT", 1, "A1")); err == nil {
		t.Fatal("Record on a closed client succeeded")
	}
	f.open(t)
	if r := f.record(t, pick("BOLT", 1, "A1")); r.Op.Seq != 1 {
		t.Fatalf("after reopening, the first record got seq %d, want 1", r.Op.Seq)
	}
}
