package ledgertest

import (
	"errors"
	"strings"
	"testing"

	"stocksync/ledger"
)

func testCatalog(t *testing.T, nf Factory) {
	f := setup(t, nf)
	// Upserting the same catalog again changes nothing but the counts.
	res, err := f.l.UpsertCatalog(f.ctx, f.tenant.ID, baseCatalog)
	if err != nil {
		t.Fatal(err)
	}
	if res.Warehouses != 1 || res.Locations != 4 || res.Items != 3 || res.Batches != 5 {
		t.Fatalf("result = %+v", res)
	}
	// An update renames, adds a barcode, and a later upsert can refer to
	// rows of the same request.
	_, err = f.l.UpsertCatalog(f.ctx, f.tenant.ID, ledger.Catalog{
		Warehouses: []ledger.WarehouseInput{{Code: "W2", Name: "Overflow"}},
		Locations:  []ledger.LocationInput{{Warehouse: "W2", Code: "A1"}},
		Items:      []ledger.ItemInput{{SKU: "WIDGET", Name: "Widget v2", Unit: "pcs", Barcodes: []string{"4000001000099"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = f.store.Read(f.ctx, func(tx ledger.ReadTx) error {
		items, err := tx.ItemsBySKU(f.ctx, f.tenant.ID, []string{"WIDGET", "MILK", "NOPE"})
		if err != nil {
			return err
		}
		if len(items) != 2 {
			t.Fatalf("items = %+v", items)
		}
		for _, it := range items {
			switch it.SKU {
			case "WIDGET":
				if it.Name != "Widget v2" || strings.Join(it.Barcodes, ",") != "4000001000013,4000001000099" {
					t.Errorf("widget = %+v", it)
				}
			case "MILK":
				if !it.BatchTracked || !it.ExpiryTracked {
					t.Errorf("milk = %+v", it)
				}
			}
		}
		byCode, err := tx.ItemsByBarcode(f.ctx, f.tenant.ID, []string{"4000001000099", "4000002000012", "000"})
		if err != nil {
			return err
		}
		if len(byCode) != 2 || byCode["4000001000099"].SKU != "WIDGET" || byCode["4000002000012"].SKU != "BOLT" {
			t.Errorf("by barcode = %+v", byCode)
		}
		whs, err := tx.Warehouses(f.ctx, f.tenant.ID, nil)
		if err != nil {
			return err
		}
		if len(whs) != 2 {
			t.Errorf("warehouses = %+v", whs)
		}
		for _, w := range whs {
			locs, err := tx.LocationsByCode(f.ctx, f.tenant.ID, w.ID, []string{"A1", "B1"})
			if err != nil {
				return err
			}
			want := map[string]int{"W1": 2, "W2": 1}[w.Code]
			if len(locs) != want {
				t.Errorf("warehouse %s: %d locations, want %d", w.Code, len(locs), want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testCatalogRowErrors(t *testing.T, nf Factory) {
	f := setup(t, nf)
	_, err := f.l.UpsertCatalog(f.ctx, f.tenant.ID, ledger.Catalog{
		Locations: []ledger.LocationInput{{Warehouse: "W1", Code: "OK"}, {Warehouse: "W1", Code: ""}},
		Items: []ledger.ItemInput{{SKU: "X", Name: "", Unit: "pcs"}, {SKU: "Y", Name: "Y", Unit: "pcs", ExpiryTracked: true},
			{SKU: "Z", Name: "Z", Unit: "pcs", Barcodes: []string{"4000001000013x", "4000001000013x"}}},
		Batches: []ledger.BatchInput{{SKU: "BOLT", Code: "L9", Expiry: "2026-13-01"}},
	})
	var ce *ledger.CatalogError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *CatalogError", err)
	}
	wantCode(t, err, ledger.CodeInvalid)
	got := map[string]bool{}
	for _, r := range ce.Rows {
		got[r.String()] = true
	}
	for _, want := range []string{"locations[1].code: is required", "items[0].name: must be 1-200 characters of UTF-8 text",
		"items[1].expiry_tracked: an expiry-tracked item must be batch-tracked: expiry belongs to a batch",
		`batches[0].expiry: "2026-13-01" is not a date (YYYY-MM-DD)`} {
		if !got[want] {
			t.Errorf("missing row error %q in %v", want, ce.Rows)
		}
	}
	// Nothing was written: the valid location OK does not exist.
	rows, err := f.l.Balances(f.ctx, f.tenant.ID, ledger.BalanceFilter{})
	if err != nil || len(rows) != 0 {
		t.Fatalf("balances = %v, %v", rows, err)
	}
	if r := f.push1(f.devs[0], receive("WIDGET", "OK", 1, "", "")); r.Status != ledger.StatusHeld {
		t.Errorf("location OK exists after a failed upsert: %+v", r)
	}

	// Errors found against the database: unknown warehouse, unknown item,
	// untracked item's batch, flipping batch tracking.
	_, err = f.l.UpsertCatalog(f.ctx, f.tenant.ID, ledger.Catalog{
		Locations: []ledger.LocationInput{{Warehouse: "NOPE", Code: "X1"}},
		Items:     []ledger.ItemInput{{SKU: "WIDGET", Name: "Widget", Unit: "pcs", BatchTracked: true}},
		Batches:   []ledger.BatchInput{{SKU: "GHOST", Code: "G1"}, {SKU: "WIDGET", Code: "W1"}},
	})
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *CatalogError", err)
	}
	if len(ce.Rows) != 4 {
		t.Fatalf("row errors = %v", ce.Rows)
	}
	for i, want := range []string{"locations[0].warehouse", "items[0].batch_tracked", "batches[0].sku", "batches[1].sku"} {
		if got := ce.Rows[i].Section + "[" + string(rune('0'+ce.Rows[i].Row)) + "]." + ce.Rows[i].Field; got != want {
			t.Errorf("row error %d = %s, want %s", i, got, want)
		}
	}
}
