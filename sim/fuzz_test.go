package sim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/ledger/postgres/pgtest"
	"stocksync/ledger/sqlite"
)

// fuzzTenants names the tenants FuzzDifferential makes, one per input.
var fuzzTenants atomic.Int64

// decodeOps turns fuzz bytes into pushes of one device: five bytes per
// operation (kind, item, location, quantity, and whether a new push starts
// after it). Every operation is one the ledger accepts; which ones break
// stock is up to the bytes.
func decodeOps(data []byte, cat catalog) [][]ledger.Operation {
	var pushes [][]ledger.Operation
	var cur []ledger.Operation
	base := simEpoch.Add(-24 * time.Hour)
	for i := 0; i+5 <= len(data) && i/5 < 200; i += 5 {
		b := data[i : i+5]
		it := cat.items[int(b[1])%len(cat.items)]
		op := ledger.Operation{
			OpID: uuid.Must(uuid.NewV7()), Seq: int64(i/5 + 1),
			OccurredAt: base.Add(time.Duration(i/5) * time.Minute),
			SKU:        it.sku,
			Location:   cat.locations[int(b[2])%len(cat.locations)],
			Qty:        1 + int64(b[3]%16),
		}
		if len(it.batches) > 0 {
			bt := it.batches[int(b[3]>>4)%len(it.batches)]
			op.Batch = bt.code
			if b[0]%4 == 0 {
				op.Expiry = bt.expiry
			}
		}
		switch b[0] % 4 {
		case 0:
			op.Kind = ledger.KindReceive
		case 1:
			op.Kind = ledger.KindPick
		case 2:
			op.Kind = ledger.KindTransfer
			op.ToLocation = cat.locations[(int(b[2])+1+int(b[4]>>1)%3)%len(cat.locations)]
		case 3:
			op.Kind, op.Reason = ledger.KindAdjust, "damaged"
			if b[4]&2 != 0 {
				op.Qty = -op.Qty
			}
		}
		cur = append(cur, op)
		if b[4]&1 != 0 {
			pushes = append(pushes, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		pushes = append(pushes, cur)
	}
	return pushes
}

// differentialOutcome is what one store made of an operation stream.
type differentialOutcome struct {
	statuses []string
	balances map[modelKey]int64
}

// applyStream merges the pushes as one device of a new tenant of store.
func applyStream(ctx context.Context, store ledger.Store, cat catalog, pushes [][]ledger.Operation) (differentialOutcome, error) {
	out := differentialOutcome{balances: map[modelKey]int64{}}
	clock := NewClock()
	l := ledger.New(store, ledger.Options{Now: clock.Now})
	tn, err := l.CreateTenant(ctx, fmt.Sprintf("fuzz-%d-%d", os.Getpid(), fuzzTenants.Add(1)), "fuzz", nil)
	if err != nil {
		return out, err
	}
	if _, err := l.UpsertCatalog(ctx, tn.ID, cat.input()); err != nil {
		return out, err
	}
	dev, err := l.RegisterDevice(ctx, tn.ID, ledger.DeviceInput{Warehouse: "MAIN", Name: "fuzz"})
	if err != nil {
		return out, err
	}
	for _, p := range pushes {
		clock.Advance(time.Second)
		resp, err := l.Merge(ctx, ledger.MergeRequest{TenantID: tn.ID, DeviceID: dev.ID, DeviceTime: clock.Now(), Ops: p})
		if err != nil {
			return out, err
		}
		for _, r := range resp.Results {
			out.statuses = append(out.statuses, fmt.Sprintf("%d %s %s", r.Seq, r.Status, r.Code))
		}
	}
	ds, err := l.Check(ctx, tn.ID)
	if err != nil {
		return out, err
	}
	if len(ds) > 0 {
		return out, fmt.Errorf("check found %d discrepancies, the first: %+v", len(ds), ds[0])
	}
	rows, err := l.Balances(ctx, tn.ID, ledger.BalanceFilter{NonZero: true})
	if err != nil {
		return out, err
	}
	for _, b := range rows {
		out.balances[modelKey{b.Location, b.SKU, b.Batch}] = b.OnHand
	}
	return out, nil
}

// FuzzDifferential feeds one operation stream to a SQLite store, a
// PostgreSQL store (when STOCKSYNC_TEST_DATABASE_URL is set) and the model:
// statuses must agree between the stores, every operation must be applied
// or flagged (flagged whenever it leaves a key below zero), and every
// balance must be the model's sum of effects.
func FuzzDifferential(f *testing.F) {
	ctx := context.Background()
	for _, s := range [][]byte{
		{0, 0, 0, 5, 0, 1, 0, 0, 3, 1},
		{0, 2, 1, 0x17, 0, 1, 2, 1, 0x13, 0, 2, 2, 1, 4, 1, 3, 2, 2, 2, 3},
		{1, 0, 0, 9, 1},
		{0, 1, 3, 15, 0, 2, 1, 3, 7, 2, 3, 1, 0, 2, 0, 1, 1, 0, 20, 1},
	} {
		f.Add(s)
	}
	stores := map[string]ledger.Store{}
	s, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	stores["sqlite"] = s
	if os.Getenv(pgtest.EnvURL) != "" {
		stores["postgres"] = pgtest.New(f)
	}
	cat := newCatalog(0)
	f.Fuzz(func(t *testing.T, data []byte) {
		pushes := decodeOps(data, cat)
		outs := map[string]differentialOutcome{}
		for name, st := range stores {
			o, err := applyStream(ctx, st, cat, pushes)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			outs[name] = o
		}
		if a, b := outs["sqlite"], outs["postgres"]; b.balances != nil && !slices.Equal(a.statuses, b.statuses) {
			t.Errorf("statuses differ:\nsqlite   %v\npostgres %v", a.statuses, b.statuses)
		}
		// The model.
		want := map[modelKey]int64{}
		i := 0
		got := outs["sqlite"]
		for _, p := range pushes {
			for _, op := range p {
				k := modelKey{op.Location, op.SKU, op.Batch}
				below := false
				switch op.Kind {
				case ledger.KindReceive, ledger.KindAdjust:
					want[k] += op.Qty
					below = op.Qty < 0 && want[k] < 0
				case ledger.KindPick:
					want[k] -= op.Qty
					below = want[k] < 0
				case ledger.KindTransfer:
					want[k] -= op.Qty
					below = want[k] < 0
					want[modelKey{op.ToLocation, op.SKU, op.Batch}] += op.Qty
				}
				st := got.statuses[i]
				// An expired lot may name the review first; flagged it is.
				if below && !strings.HasPrefix(st, fmt.Sprintf("%d flagged ", op.Seq)) {
					t.Errorf("op %d (%s %d on %s) leaves %d: got %q, want flagged", op.Seq, op.Kind, op.Qty, k, want[k], st)
				}
				i++
			}
		}
		// Every store's balances against the model, not only SQLite's.
		for name, o := range outs {
			for k, n := range want {
				if n != o.balances[k] {
					t.Errorf("%s balance %s: got %d, the model says %d", name, k, o.balances[k], n)
				}
			}
			for k, n := range o.balances {
				if want[k] != n {
					t.Errorf("%s balance %s: got %d, the model says %d", name, k, n, want[k])
				}
			}
		}
		for _, st := range got.statuses {
			var seq int
			var status, code string
			_, _ = fmt.Sscanf(st, "%d %s %s", &seq, &status, &code)
			if status != "applied" && status != "flagged" {
				t.Errorf("op %s: want applied or flagged", st)
			}
		}
	})
}
