package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// DemoTenant is the slug of the tenant that demo creates.
const DemoTenant = "demo"

// demoCatalog is a small wholesale site: one warehouse with a goods-in dock,
// a dispatch dock, a returns bay, shelving and two cold rooms; hardware sold
// by the piece, cable sold by length (in centimetres), paint by lot, and
// dairy by lot with a best-before date.
func demoCatalog(today time.Time) ledger.Catalog {
	date := func(days int) string { return ledger.FormatDate(today.AddDate(0, 0, days)) }
	c := ledger.Catalog{
		Warehouses: []ledger.WarehouseInput{{Code: "MAIN", Name: "Main warehouse"}},
		Items: []ledger.ItemInput{
			{SKU: "BOLT-M8X40", Name: "Hex bolt M8x40, zinc plated", Unit: "pcs", Barcodes: []string{"4006381333931"}},
			{SKU: "GLOVE-NIT-L", Name: "Nitrile gloves, size L, box of 100", Unit: "box", Barcodes: []string{"4012345000016"}},
			{SKU: "CABLE-NYM-3X1.5", Name: "Installation cable NYM-J 3x1.5 mm², by length", Unit: "cm", Barcodes: []string{"4012345000023"}},
			{SKU: "PAINT-WHT-10L", Name: "Interior wall paint, white, 10 l", Unit: "pail", Barcodes: []string{"4012345000030"}, BatchTracked: true},
			{SKU: "MILK-UHT-1L", Name: "UHT whole milk 1 l", Unit: "carton", Barcodes: []string{"4012345000047"}, BatchTracked: true, ExpiryTracked: true},
			// Two barcodes: the current label and the supplier's previous one.
			{SKU: "YOGURT-NAT-500", Name: "Natural yogurt 500 g", Unit: "pot", Barcodes: []string{"4012345000054", "4012345000061"}, BatchTracked: true, ExpiryTracked: true},
		},
		Batches: []ledger.BatchInput{
			{SKU: "PAINT-WHT-10L", Code: "L24-1107"},
			{SKU: "PAINT-WHT-10L", Code: "L24-1202"},
			{SKU: "MILK-UHT-1L", Code: "M-4471", Expiry: date(60)},
			{SKU: "MILK-UHT-1L", Code: "M-4502", Expiry: date(75)},
			{SKU: "YOGURT-NAT-500", Code: "Y-2210", Expiry: date(12)},
		},
	}
	for _, code := range []string{"DOCK-IN", "DOCK-OUT", "RETURNS", "A-01-01", "A-01-02", "A-01-03",
		"A-02-01", "A-02-02", "B-01-01", "B-01-02", "COLD-01", "COLD-02"} {
		c.Locations = append(c.Locations, ledger.LocationInput{Warehouse: "MAIN", Code: code})
	}
	return c
}

// demoDevice is one handheld of the demo and the shift it recorded offline.
type demoDevice struct {
	name  string
	actor string
	// start is when its shift began, relative to now.
	start time.Duration
	ops   []demoOp
}

// demoOp is an operation at a number of minutes into its device's shift.
type demoOp struct {
	at time.Duration
	op ledger.Operation
}

func demoShifts(today time.Time) []demoDevice {
	expiry := func(days int) string { return ledger.FormatDate(today.AddDate(0, 0, days)) }
	mins := func(n int) time.Duration { return time.Duration(n) * time.Minute }
	return []demoDevice{
		{
			name: "Handheld 1 (goods in)", actor: "B-1041", start: -4 * time.Hour,
			ops: []demoOp{
				// Two purchase orders arrive at the dock.
				{mins(0), ledger.Operation{Kind: ledger.KindReceive, Barcode: "4006381333931", Qty: 1000, Location: "DOCK-IN", Ref: "PO-24-0311"}},
				{mins(6), ledger.Operation{Kind: ledger.KindReceive, SKU: "PAINT-WHT-10L", Batch: "L24-1107", Qty: 24, Location: "DOCK-IN", Ref: "PO-24-0311"}},
				{mins(9), ledger.Operation{Kind: ledger.KindReceive, SKU: "PAINT-WHT-10L", Batch: "L24-1202", Qty: 12, Location: "DOCK-IN", Ref: "PO-24-0311"}},
				{mins(15), ledger.Operation{Kind: ledger.KindReceive, SKU: "MILK-UHT-1L", Batch: "M-4471", Expiry: expiry(60), Qty: 96, Location: "COLD-01", Ref: "PO-24-0312"}},
				{mins(18), ledger.Operation{Kind: ledger.KindReceive, Barcode: "4012345000054", Batch: "Y-2210", Expiry: expiry(12), Qty: 48, Location: "COLD-02", Ref: "PO-24-0312"}},
				{mins(25), ledger.Operation{Kind: ledger.KindReceive, SKU: "GLOVE-NIT-L", Qty: 40, Location: "DOCK-IN", Ref: "PO-24-0313"}},
				{mins(27), ledger.Operation{Kind: ledger.KindReceive, SKU: "CABLE-NYM-3X1.5", Qty: 50000, Location: "DOCK-IN", Ref: "PO-24-0313", Note: "one 500 m drum"}},
				// Put away from the dock to the shelves.
				{mins(35), ledger.Operation{Kind: ledger.KindTransfer, SKU: "BOLT-M8X40", Qty: 1000, Location: "DOCK-IN", ToLocation: "A-01-01"}},
				{mins(40), ledger.Operation{Kind: ledger.KindTransfer, SKU: "PAINT-WHT-10L", Batch: "L24-1107", Qty: 24, Location: "DOCK-IN", ToLocation: "B-01-01"}},
				{mins(42), ledger.Operation{Kind: ledger.KindTransfer, SKU: "PAINT-WHT-10L", Batch: "L24-1202", Qty: 12, Location: "DOCK-IN", ToLocation: "B-01-02"}},
				{mins(47), ledger.Operation{Kind: ledger.KindTransfer, SKU: "GLOVE-NIT-L", Qty: 40, Location: "DOCK-IN", ToLocation: "A-02-01"}},
				{mins(50), ledger.Operation{Kind: ledger.KindTransfer, SKU: "CABLE-NYM-3X1.5", Qty: 50000, Location: "DOCK-IN", ToLocation: "A-02-02"}},
				// A cycle count finds four bolts short: posted, and flagged
				// for a manager as count_variance.
				{mins(70), ledger.Operation{Kind: ledger.KindCount, SKU: "BOLT-M8X40", Qty: 996, Location: "A-01-01"}},
				{mins(80), ledger.Operation{Kind: ledger.KindAdjust, SKU: "GLOVE-NIT-L", Qty: -1, Location: "A-02-01", Reason: "damaged", Note: "box torn open, gloves soiled"}},
			},
		},
		{
			name: "Handheld 2 (picking)", actor: "B-1077", start: -2 * time.Hour,
			ops: []demoOp{
				{mins(0), ledger.Operation{Kind: ledger.KindPick, SKU: "BOLT-M8X40", Qty: 200, Location: "A-01-01", Order: "SO-24-1001"}},
				{mins(3), ledger.Operation{Kind: ledger.KindPick, SKU: "PAINT-WHT-10L", Batch: "L24-1107", Qty: 4, Location: "B-01-01", Order: "SO-24-1001"}},
				{mins(10), ledger.Operation{Kind: ledger.KindPick, SKU: "MILK-UHT-1L", Batch: "M-4471", Qty: 24, Location: "COLD-01", Order: "SO-24-1002"}},
				{mins(12), ledger.Operation{Kind: ledger.KindPick, SKU: "YOGURT-NAT-500", Batch: "Y-2210", Qty: 12, Location: "COLD-02", Order: "SO-24-1002"}},
				{mins(20), ledger.Operation{Kind: ledger.KindPick, Barcode: "4012345000023", Qty: 2500, Location: "A-02-02", Order: "SO-24-1003"}},
				{mins(22), ledger.Operation{Kind: ledger.KindPick, SKU: "GLOVE-NIT-L", Qty: 2, Location: "A-02-01", Order: "SO-24-1003"}},
				// A customer brings back a dented pail; the label is gone,
				// so the ledger matches it to the lot the order shipped.
				{mins(60), ledger.Operation{Kind: ledger.KindReturn, SKU: "PAINT-WHT-10L", Qty: 1, Location: "RETURNS", Order: "SO-24-1001", Reason: "damaged_in_transit"}},
				{mins(65), ledger.Operation{Kind: ledger.KindTransfer, SKU: "MILK-UHT-1L", Batch: "M-4471", Qty: 24, Location: "COLD-01", ToLocation: "COLD-02", Note: "consolidate cold rooms"}},
				{mins(80), ledger.Operation{Kind: ledger.KindCount, SKU: "YOGURT-NAT-500", Batch: "Y-2210", Qty: 36, Location: "COLD-02"}},
			},
		},
	}
}

// runDemo seeds the demo tenant: catalog, two devices, and a shift merged
// from each. It does nothing when the tenant already exists.
func (m *Main) runDemo(ctx context.Context) error {
	t, err := m.open(ctx, false)
	if err != nil {
		return err
	}
	l := m.ledger
	if existing, err := l.TenantBySlug(ctx, DemoTenant); err == nil {
		fmt.Fprintf(m.Stdout, "tenant %q already exists (%s) in %s; nothing to do\n", DemoTenant, existing.ID, t.display)
		return nil
	} else if ledger.ErrorCode(err) != ledger.CodeNotFound {
		return fmt.Errorf("demo: look up tenant %q: %w", DemoTenant, err)
	}

	tenant, err := l.CreateTenant(ctx, DemoTenant, "Demo Wholesale Ltd", nil)
	if ledger.ErrorCode(err) == ledger.CodeConflict {
		// Another demo created it between the look-up and here.
		fmt.Fprintf(m.Stdout, "tenant %q already exists in %s; nothing to do\n", DemoTenant, t.display)
		return nil
	} else if err != nil {
		return fmt.Errorf("demo: create tenant: %w", err)
	}
	fmt.Fprintf(m.Stdout, "created tenant %q (%s) in %s\n", tenant.Slug, tenant.ID, t.display)

	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	cat, err := l.UpsertCatalog(ctx, tenant.ID, demoCatalog(today))
	if err != nil {
		return fmt.Errorf("demo: upsert catalog: %w", err)
	}
	fmt.Fprintf(m.Stdout, "catalog: %d warehouse, %d locations, %d items, %d batches\n",
		cat.Warehouses, cat.Locations, cat.Items, cat.Batches)

	counts := map[ledger.Status]int{}
	type notable struct {
		device string
		op     ledger.Operation
		res    ledger.Result
	}
	var notes []notable
	for _, dd := range demoShifts(today) {
		dev, err := l.RegisterDevice(ctx, tenant.ID, ledger.DeviceInput{Warehouse: "MAIN", Name: dd.name})
		if err != nil {
			return fmt.Errorf("demo: register device %q: %w", dd.name, err)
		}
		ops := make([]ledger.Operation, len(dd.ops))
		for i, o := range dd.ops {
			op := o.op
			op.OpID = uuid.Must(uuid.NewV7())
			op.Seq = int64(i + 1)
			op.OccurredAt = now.Add(dd.start + o.at)
			op.Actor = dd.actor
			ops[i] = op
		}
		// The device pushes its whole shift at once when it finds signal.
		resp, err := l.Merge(ctx, ledger.MergeRequest{TenantID: tenant.ID, DeviceID: dev.ID, DeviceTime: time.Now().UTC(), Ops: ops})
		if err != nil {
			return fmt.Errorf("demo: merge shift of %q: %w", dd.name, err)
		}
		fmt.Fprintf(m.Stdout, "device %q (%s): merged %d operations, acked_seq %d\n", dev.Name, dev.ID, len(ops), resp.AckedSeq)
		for i, r := range resp.Results {
			counts[r.Status]++
			if r.Status != ledger.StatusApplied {
				notes = append(notes, notable{dev.Name, ops[i], r})
			}
		}
	}

	var byStatus []string
	for _, s := range []ledger.Status{ledger.StatusApplied, ledger.StatusFlagged, ledger.StatusHeld, ledger.StatusRejected} {
		if counts[s] > 0 {
			byStatus = append(byStatus, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(m.Stdout, "results: %s\n", strings.Join(byStatus, ", "))
	for _, n := range notes {
		fmt.Fprintf(m.Stdout, "  %s: %q seq %d %s %s: %s: %s", n.res.Status, n.device, n.op.Seq, n.op.Kind, opSubject(n.op), n.res.Code, n.res.Message)
		if id := n.res.ReviewID(); id != uuid.Nil {
			fmt.Fprintf(m.Stdout, " (review %s)", id)
		}
		fmt.Fprintln(m.Stdout)
	}
	next := "stocksync check"
	if m.DB != DefaultDB {
		next += " --db " + shellQuote(t.display)
	}
	fmt.Fprintf(m.Stdout, "next: verify the ledger with: %s\n", next)
	return nil
}

// opSubject names what an operation is about, the way a picker would say it.
func opSubject(op ledger.Operation) string {
	s := op.SKU
	if s == "" {
		s = "barcode " + op.Barcode
	}
	if op.Batch != "" {
		s += " batch " + op.Batch
	}
	return s + " at " + op.Location
}

// shellQuote quotes s for a POSIX shell when it has anything but plain
// path and URL characters, so a suggested command can be pasted as is.
func shellQuote(s string) string {
	plain := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !plain(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
