package bench

// The shift-end workload of issue 5: a catalog, opening stock, and every
// device's operations, all derived from Config.Seed so that two runs with
// the same flags send byte-identical operations.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// Config sizes the workload. DefaultConfig is the full size.
type Config struct {
	Devices      int `json:"devices"`
	OpsPerDevice int `json:"ops_per_device"`
	SKUs         int `json:"skus"`
	Locations    int `json:"locations"`
	// BatchSize is the operations per push (at most
	// syncproto.MaxOpsPerPush).
	BatchSize int `json:"batch_size"`
	// DuplicateRate is the share of pushes delivered twice, as a handheld
	// whose answer was lost sends the same push again.
	DuplicateRate float64 `json:"duplicate_rate"`
	Seed          int64   `json:"seed"`
}

// DefaultConfig is the workload of issue 5: 300 devices × 3,000 operations
// on 10,000 SKUs in 50 locations, 1,000-operation pushes, 2% of them
// delivered twice.
func DefaultConfig() Config {
	return Config{Devices: 300, OpsPerDevice: 3000, SKUs: 10_000, Locations: 50, BatchSize: 1000, DuplicateRate: 0.02, Seed: 1}
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name      string
		v, lo, hi int
	}{
		{"devices", c.Devices, 1, 100_000},
		{"ops", c.OpsPerDevice, 1, 10_000_000},
		{"skus", c.SKUs, 1, 10_000_000},
		{"locations", c.Locations, 2, 100_000},
		{"batch", c.BatchSize, 1, maxPushOps},
	} {
		if f.v < f.lo || f.v > f.hi {
			errs = append(errs, fmt.Errorf("--%s must be from %d to %d, got %d", f.name, f.lo, f.hi, f.v))
		}
	}
	if c.DuplicateRate < 0 || c.DuplicateRate > 1 {
		errs = append(errs, fmt.Errorf("the duplicate rate must be from 0 to 1, got %g", c.DuplicateRate))
	}
	return errors.Join(errs...)
}

// maxPushOps is the protocol's limit on operations per push
// (syncproto.MaxOpsPerPush).
const maxPushOps = 1000

// The workload's fixed shape.
const (
	benchWarehouse = "MAIN"
	// benchShift is how long the shift lasts; the devices' occurred_at
	// times are spread over it.
	benchShift = 8 * time.Hour
	// benchExpiry is the expiry of the expiry-tracked lots: after the
	// shift, so no pick is of an expired batch.
	benchExpiry = "2030-06-30"
	// hotShare of the operations fall on hotKeyShare of the keys in the
	// hot-keys workload.
	hotShare    = 0.80
	hotKeyShare = 0.01
)

// benchShiftStart is when the shift starts: a fixed time, so the workload
// (op ids included, which carry their time) depends on the seed alone.
var benchShiftStart = time.Date(2025, 6, 2, 6, 0, 0, 0, time.UTC)

// Workload is everything one scenario sends to one tenant.
type Workload struct {
	Config Config
	// Hot is true for the hot-keys workload: 80% of the operations on 1%
	// of the keys.
	Hot bool
	// Catalog is loaded with Ledger.UpsertCatalog before anything else.
	Catalog ledger.Catalog
	// Opening is the opening stock: one receipt per stocked key, sent by a
	// device named "seed" before the shift (untimed), enough that no
	// decrement of the shift takes a key below zero.
	Opening []ledger.Operation
	// Devices are the handhelds of the shift.
	Devices []DeviceWork
	// Keys is the stocked keys, HotKeys the hot ones among them, and
	// HotKeyOps the devices' operations on a hot key.
	Keys, HotKeys, HotKeyOps int
}

// DeviceWork is one handheld's shift: its operations in seq order (seq 1
// is Ops[0]) and the pushes that deliver them.
type DeviceWork struct {
	Name string
	Ops  []ledger.Operation
	// Deliveries are the pushes in the order the device sends them; a
	// push whose answer was lost appears twice in a row, the second time
	// with Repeat set.
	Deliveries []Delivery
}

// Delivery is one push: Ops[From:To].
type Delivery struct {
	From, To int
	Repeat   bool
}

// Len is the number of operations the push carries.
func (d Delivery) Len() int { return d.To - d.From }

// Batch returns the operations of one push.
func (d DeviceWork) Batch(dl Delivery) []ledger.Operation { return d.Ops[dl.From:dl.To] }

// DeviceOps is the number of distinct operations the devices record.
func (w *Workload) DeviceOps() int {
	n := 0
	for _, d := range w.Devices {
		n += len(d.Ops)
	}
	return n
}

// DeliveredOps is the number of operations the devices push, repeated
// pushes counted each time.
func (w *Workload) DeliveredOps() int {
	n := 0
	for _, d := range w.Devices {
		for _, dl := range d.Deliveries {
			n += dl.Len()
		}
	}
	return n
}

// Pushes counts the devices' pushes, and the repeated ones among them.
func (w *Workload) Pushes() (total, repeats int) {
	for _, d := range w.Devices {
		total += len(d.Deliveries)
		for _, dl := range d.Deliveries {
			if dl.Repeat {
				repeats++
			}
		}
	}
	return total, repeats
}

// KindCounts counts the devices' operations by kind.
func (w *Workload) KindCounts() map[string]int {
	m := map[string]int{}
	for _, d := range w.Devices {
		for _, op := range d.Ops {
			m[string(op.Kind)]++
		}
	}
	return m
}

// stockKey is a stocked balance key: an item in a location, in the item's
// lot when it is batch-tracked.
type stockKey struct {
	item int
	loc  int
	lot  string
}

// wlItem is what the generator knows of a catalog item.
type wlItem struct {
	sku, barcode  string
	batchTracked  bool
	expiryTracked bool
	lot           string
}

// generator holds the catalog while the devices' operations are made.
type generator struct {
	cfg   Config
	items []wlItem
	locs  []string
	keys  []stockKey
	// hot marks the hot keys; hotList lists them.
	hot     []bool
	hotList []int
	// hotOps counts the operations on a hot key.
	hotOps int
}

// NewWorkload builds the workload cfg describes (cfg must be valid), the
// hot-keys variant when hot is set. The same cfg and hot give the same
// operations, op ids included.
func NewWorkload(cfg Config, hot bool) *Workload {
	g := &generator{cfg: cfg}
	w := &Workload{Config: cfg, Hot: hot}
	w.Catalog = g.catalog()
	g.stockKeys()

	// The devices' shifts, tallying what leaves each key.
	decrements := make([]int64, len(g.keys))
	type countRef struct{ dev, op, key int }
	var counts []countRef
	for d := range cfg.Devices {
		dw, cs := g.device(d, hot, decrements)
		for _, c := range cs {
			counts = append(counts, countRef{d, c[0], c[1]})
		}
		w.Devices = append(w.Devices, dw)
	}
	w.Keys, w.HotKeys, w.HotKeyOps = len(g.keys), len(g.hotList), g.hotOps

	// Opening stock: what the shift takes out, and a margin. A count
	// finds the opening quantity, so after it the key still holds at
	// least what the rest of the shift takes out.
	opening := make([]int64, len(g.keys))
	for k := range g.keys {
		opening[k] = decrements[k] + 10 + int64(k%17)
	}
	for _, c := range counts {
		w.Devices[c.dev].Ops[c.op].Qty = opening[c.key]
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed))
	at := benchShiftStart.Add(-time.Hour)
	for k, key := range g.keys {
		it := g.items[key.item]
		op := ledger.Operation{OpID: uuidV7(at, rng), Seq: int64(k + 1), Kind: ledger.KindReceive, OccurredAt: at,
			SKU: it.sku, Batch: key.lot, Qty: opening[k], Location: g.locs[key.loc], Ref: "OPENING", Actor: "stocktake"}
		if it.expiryTracked {
			op.Expiry = benchExpiry
		}
		w.Opening = append(w.Opening, op)
		at = at.Add(time.Millisecond)
	}
	return w
}

// catalog makes the items (a fifth batch-tracked, half of those also
// expiry-tracked, each with one lot), their barcodes and the locations of
// one warehouse.
func (g *generator) catalog() ledger.Catalog {
	c := ledger.Catalog{Warehouses: []ledger.WarehouseInput{{Code: benchWarehouse, Name: "Main warehouse"}}}
	for l := range g.cfg.Locations {
		code := fmt.Sprintf("A%02d-%03d", l/100, l%100)
		g.locs = append(g.locs, code)
		c.Locations = append(c.Locations, ledger.LocationInput{Warehouse: benchWarehouse, Code: code})
	}
	for i := range g.cfg.SKUs {
		it := wlItem{sku: fmt.Sprintf("SKU-%05d", i), barcode: fmt.Sprintf("40%011d", i),
			batchTracked: i%5 == 0, expiryTracked: i%10 == 0}
		in := ledger.ItemInput{SKU: it.sku, Name: fmt.Sprintf("Item %d", i), Unit: "pcs", Barcodes: []string{it.barcode},
			BatchTracked: it.batchTracked, ExpiryTracked: it.expiryTracked}
		if it.batchTracked {
			it.lot = fmt.Sprintf("LOT-%05d-A", i)
			b := ledger.BatchInput{SKU: it.sku, Code: it.lot}
			if it.expiryTracked {
				b.Expiry = benchExpiry
			}
			c.Batches = append(c.Batches, b)
		}
		g.items = append(g.items, it)
		c.Items = append(c.Items, in)
	}
	return c
}

// stockKeys places every item in two locations, and picks the hot keys:
// every hundredth key, so they mix batch-tracked and untracked items.
func (g *generator) stockKeys() {
	n := g.cfg.Locations
	for i, it := range g.items {
		a := i % n
		b := (i*7 + n/2 + 1) % n
		if b == a {
			b = (a + 1) % n
		}
		g.keys = append(g.keys, stockKey{item: i, loc: a, lot: it.lot}, stockKey{item: i, loc: b, lot: it.lot})
	}
	g.hot = make([]bool, len(g.keys))
	every := int(1 / hotKeyShare)
	for k := 0; k < len(g.keys); k += every {
		g.hot[k] = true
		g.hotList = append(g.hotList, k)
	}
}

// key picks a stocked key: uniformly, or for the hot workload one of the
// hot keys 80% of the time and one of the others otherwise.
func (g *generator) key(rng *rand.Rand, hot bool) int {
	if hot && rng.Float64() < hotShare {
		return g.hotList[rng.IntN(len(g.hotList))]
	}
	k := rng.IntN(len(g.keys))
	if hot && g.hot[k] && len(g.hotList) < len(g.keys) {
		for g.hot[k] {
			k = (k + 1) % len(g.keys)
		}
	}
	return k
}

// wlPick is a recent pick on an order, which a return may bring back.
type wlPick struct {
	key      int
	order    string
	qty, ret int64
}

// device makes one handheld's shift. The mix: receipts 25%, picks on
// orders 55%, returns of what an earlier pick of the device shipped 3%,
// transfers 12%, counts 2%, adjustments 3%. Half the items are scanned
// by barcode. It adds what each operation takes out of a stocked key to
// decrements, and returns the counts (op index, key) whose counted
// quantity is set once the opening stock is known.
func (g *generator) device(d int, hot bool, decrements []int64) (DeviceWork, [][2]int) {
	cfg := g.cfg
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(d)+1))
	dw := DeviceWork{Name: fmt.Sprintf("hh-%03d", d+1), Ops: make([]ledger.Operation, 0, cfg.OpsPerDevice)}
	actor := fmt.Sprintf("badge-%03d", d+1)
	step := benchShift / time.Duration(cfg.OpsPerDevice)
	var counts [][2]int
	var recent []wlPick
	order, orderLines, orders, receipts := "", 0, 0, 0
	identify := func(op *ledger.Operation, it wlItem) {
		if rng.IntN(2) == 0 {
			op.Barcode = it.barcode
		} else {
			op.SKU = it.sku
		}
	}
	for i := range cfg.OpsPerDevice {
		at := benchShiftStart.Add(step*time.Duration(i) + time.Duration(rng.Int64N(int64(max(step, 1))))).Truncate(time.Microsecond)
		op := ledger.Operation{OpID: uuidV7(at, rng), Seq: int64(i + 1), OccurredAt: at, Actor: actor}
		r := rng.IntN(100)
		if r >= 80 && r < 83 {
			// A return needs a recent pick with something left to return.
			j := -1
			for try := 0; try < 4 && len(recent) > 0; try++ {
				if c := rng.IntN(len(recent)); recent[c].ret < recent[c].qty {
					j = c
					break
				}
			}
			if j < 0 {
				r = 50 // a pick instead
			} else {
				p := &recent[j]
				key := g.keys[p.key]
				it := g.items[key.item]
				op.Kind, op.Qty, op.Location, op.Order, op.Reason = ledger.KindReturn, 1, g.locs[key.loc], p.order, "customer_return"
				identify(&op, it)
				if it.batchTracked && rng.IntN(2) == 0 {
					op.Batch = key.lot
				}
				p.ret++
				if g.hot[p.key] {
					g.hotOps++
				}
				dw.Ops = append(dw.Ops, op)
				continue
			}
		}
		k := g.key(rng, hot)
		if g.hot[k] {
			g.hotOps++
		}
		key := g.keys[k]
		it := g.items[key.item]
		identify(&op, it)
		op.Location, op.Batch = g.locs[key.loc], key.lot
		switch {
		case r < 25:
			op.Kind, op.Qty = ledger.KindReceive, int64(6+6*rng.IntN(8))
			if receipts%10 == 0 {
				op.Ref = fmt.Sprintf("PO-%03d-%04d", d+1, receipts/10)
			} else {
				op.Ref = dw.Ops[lastReceipt(dw.Ops)].Ref
			}
			receipts++
			if it.expiryTracked {
				op.Expiry = benchExpiry
			}
			if it.batchTracked && rng.IntN(10) == 0 {
				// A new lot with no supplier code: the ledger generates
				// one. It lands on a key of its own.
				op.Batch = ""
			}
		case r < 83:
			if orderLines == 0 {
				orders++
				order = fmt.Sprintf("SO-%03d-%05d", d+1, orders)
				orderLines = 1 + rng.IntN(5)
			}
			orderLines--
			op.Kind, op.Qty, op.Order = ledger.KindPick, int64(1+rng.IntN(3)), order
			decrements[k] += op.Qty
			if len(recent) == 64 {
				recent = append(recent[:0], recent[1:]...)
			}
			recent = append(recent, wlPick{key: k, order: order, qty: op.Qty})
		case r < 95:
			to := (key.loc + 1 + rng.IntN(cfg.Locations-1)) % cfg.Locations
			op.Kind, op.Qty, op.ToLocation = ledger.KindTransfer, int64(1+rng.IntN(4)), g.locs[to]
			decrements[k] += op.Qty
		case r < 97:
			op.Kind = ledger.KindCount
			counts = append(counts, [2]int{i, k})
		default:
			op.Kind, op.Qty, op.Reason = ledger.KindAdjust, -1, "damaged"
			if rng.IntN(10) < 3 {
				op.Qty, op.Reason = 1, "found"
			} else {
				decrements[k]++
			}
		}
		dw.Ops = append(dw.Ops, op)
	}

	// The pushes, a few of them delivered twice. Their own random stream,
	// so the duplicate rate does not change the operations.
	drng := rand.New(rand.NewPCG(uint64(cfg.Seed)^0xd0b1e, uint64(d)+1))
	for from := 0; from < len(dw.Ops); from += cfg.BatchSize {
		dl := Delivery{From: from, To: min(from+cfg.BatchSize, len(dw.Ops))}
		dw.Deliveries = append(dw.Deliveries, dl)
		if drng.Float64() < cfg.DuplicateRate {
			dl.Repeat = true
			dw.Deliveries = append(dw.Deliveries, dl)
		}
	}
	return dw, counts
}

// lastReceipt is the index of the last receipt in ops (there is one: the
// caller asks only after the first).
func lastReceipt(ops []ledger.Operation) int {
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].Kind == ledger.KindReceive {
			return i
		}
	}
	return 0
}

// uuidV7 makes a version 7 UUID for time t from rng, as a device does from
// its clock, so op ids are ordered by time like real ones and the workload
// stays deterministic.
func uuidV7(t time.Time, rng *rand.Rand) uuid.UUID {
	var u uuid.UUID
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	a, b := rng.Uint64(), rng.Uint64()
	u[6], u[7] = byte(a), byte(a>>8)
	for i := range 8 {
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return u
}
