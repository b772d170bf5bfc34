package sim

import (
	"crypto/rand"
	"fmt"
	"time"

	"stocksync/client"
	"stocksync/ledger"
	"stocksync/syncproto"
)

var cryptoRead = rand.Read

// catItem is one item of a simulated catalog.
type catItem struct {
	sku, barcode string
	// batches are the item's lots (none for an item that is not
	// batch-tracked), with their expiry for an expiry-tracked item.
	batches []catBatch
	expiry  bool
}

type catBatch struct{ code, expiry string }

// catalog is one tenant's catalog. Both tenants have warehouse MAIN with
// the same bin codes and the item SHARED with the same barcode, so a query
// that forgot its tenant would find the other tenant's rows.
type catalog struct {
	items     []catItem
	locations []string
}

func newCatalog(tenantIdx int) catalog {
	p := fmt.Sprintf("T%c", 'A'+tenantIdx)
	c := catalog{locations: []string{"BIN-1", "BIN-2", "BIN-3", "BIN-4"}}
	c.items = []catItem{
		{sku: p + "-1", barcode: fmt.Sprintf("40%d0000000011", tenantIdx)},
		{sku: p + "-2", barcode: fmt.Sprintf("40%d0000000028", tenantIdx)},
		{sku: p + "-LOT", barcode: fmt.Sprintf("40%d0000000035", tenantIdx),
			batches: []catBatch{{code: "L1"}, {code: "L2"}}},
		// OLD expired before the run starts, so picking it is flagged.
		{sku: p + "-EXP", barcode: fmt.Sprintf("40%d0000000042", tenantIdx), expiry: true,
			batches: []catBatch{{code: "E1", expiry: "2030-01-01"}, {code: "OLD", expiry: "2020-01-01"}}},
		{sku: "SHARED", barcode: "5000000000005"},
	}
	return c
}

func (c catalog) input() ledger.Catalog {
	in := ledger.Catalog{Warehouses: []ledger.WarehouseInput{{Code: "MAIN", Name: "Main"}}}
	for _, l := range c.locations {
		in.Locations = append(in.Locations, ledger.LocationInput{Warehouse: "MAIN", Code: l})
	}
	for _, it := range c.items {
		in.Items = append(in.Items, ledger.ItemInput{SKU: it.sku, Name: it.sku, Unit: "each",
			Barcodes: []string{it.barcode}, BatchTracked: len(it.batches) > 0, ExpiryTracked: it.expiry})
		for _, b := range it.batches {
			in.Batches = append(in.Batches, ledger.BatchInput{SKU: it.sku, Code: b.code, Expiry: b.expiry})
		}
	}
	return in
}

// nextOp makes a device's next operation: one the device accepts, and
// whose batch is always named (so no code is generated from a random
// op_id, which would differ between two runs of a seed).
func (r *run) nextOp(d *device) (client.OpInput, recorded) {
	cat := d.t.cat
	it := cat.items[r.rng.IntN(len(cat.items))]
	in := client.OpInput{
		Location: cat.locations[r.rng.IntN(len(cat.locations))],
		Qty:      1 + r.rng.Int64N(8),
		Actor:    fmt.Sprintf("SIM-%d", d.idx),
	}
	if r.rng.IntN(4) == 0 {
		// Written down on paper and keyed in later.
		in.OccurredAt = d.opts.Now().Add(-time.Duration(r.rng.Int64N(int64(time.Hour))))
	}
	rec := recorded{sku: it.sku, jumps: d.jumps}
	expiry := ""
	if r.rng.IntN(2) == 0 {
		in.Barcode = it.barcode
	} else {
		in.SKU = it.sku
	}
	if len(it.batches) > 0 {
		b := it.batches[r.rng.IntN(len(it.batches))]
		in.Batch = b.code
		expiry = b.expiry
	}
	w := r.rng.IntN(100)
	switch {
	case w < 6:
		// A reference the catalog lacks: held for a manager.
		rec.unknown = true
		in.Kind = syncproto.KindReceive
		if r.rng.IntN(2) == 0 {
			in.SKU, in.Barcode, in.Batch = fmt.Sprintf("GHOST-%d", r.rng.IntN(3)), "", ""
			rec.sku = in.SKU
		} else {
			in.Location = "BIN-9"
			in.Expiry = expiry
		}
	case w < 40:
		in.Kind = syncproto.KindReceive
		in.Ref = fmt.Sprintf("PO-%d", r.rng.IntN(5))
		in.Expiry = expiry // only a receive says when its lot expires
	case w < 65:
		in.Kind = syncproto.KindPick
		if r.rng.IntN(2) == 0 {
			d.orders++
			in.Order = fmt.Sprintf("SO-%d-%d", d.idx, d.orders)
		}
	case w < 80:
		in.Kind = syncproto.KindTransfer
		for in.ToLocation == "" || in.ToLocation == in.Location {
			in.ToLocation = cat.locations[r.rng.IntN(len(cat.locations))]
		}
	case w < 90 || !r.full:
		in.Kind = syncproto.KindAdjust
		in.Reason = "damaged"
		if r.rng.IntN(3) == 0 {
			in.Reason = "found"
		} else {
			in.Qty = -in.Qty
		}
	case w < 95:
		in.Kind = syncproto.KindCount
		in.Qty = r.rng.Int64N(20)
	default:
		in.Kind = syncproto.KindReturn
		in.Reason = "customer_return"
		if len(d.shipped) == 0 {
			in.Order = fmt.Sprintf("SO-UNKNOWN-%d", r.rng.IntN(3))
			break
		}
		s := d.shipped[r.rng.IntN(len(d.shipped))]
		in.Order, in.SKU, in.Barcode, in.Batch = s.order, s.sku, "", s.batch
		rec.sku = s.sku
		if r.rng.IntN(3) == 0 {
			// The label is gone: the server matches the shipped batch.
			in.Batch = ""
		}
	}
	rec.in = in
	return in, rec
}

// modelKey is a balance key by its codes.
type modelKey struct{ loc, sku, batch string }

func (k modelKey) String() string { return k.loc + "|" + k.sku + "|" + k.batch }

// modelBalances is what the balances must be when every posted operation
// is a receive, pick, transfer or adjust: per key, the sum of the
// operations' effects. Operations that were held post nothing.
func modelBalances(ops []recorded, posted func(recorded) bool) map[modelKey]int64 {
	m := map[modelKey]int64{}
	for _, o := range ops {
		if !posted(o) {
			continue
		}
		k := modelKey{o.in.Location, o.sku, o.in.Batch}
		switch o.in.Kind {
		case syncproto.KindReceive, syncproto.KindAdjust:
			m[k] += o.in.Qty
		case syncproto.KindPick:
			m[k] -= o.in.Qty
		case syncproto.KindTransfer:
			m[k] -= o.in.Qty
			m[modelKey{o.in.ToLocation, o.sku, o.in.Batch}] += o.in.Qty
		}
	}
	return m
}
