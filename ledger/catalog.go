package ledger

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Catalog is a bulk upsert of catalog rows, matched by natural key: a
// warehouse by code, a location by warehouse and code, an item by SKU, a
// batch by SKU and code. Rows are only added or updated, never deleted.
type Catalog struct {
	Warehouses []WarehouseInput `json:"warehouses,omitempty"`
	Locations  []LocationInput  `json:"locations,omitempty"`
	Items      []ItemInput      `json:"items,omitempty"`
	Batches    []BatchInput     `json:"batches,omitempty"`
}

// WarehouseInput is a warehouse row of a catalog upsert.
type WarehouseInput struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// LocationInput is a location row; Warehouse is the warehouse's code.
type LocationInput struct {
	Warehouse string `json:"warehouse"`
	Code      string `json:"code"`
}

// ItemInput is an item row. Barcodes are added to the item (a barcode that
// belonged to another item moves to this one).
type ItemInput struct {
	SKU           string   `json:"sku"`
	Name          string   `json:"name"`
	Unit          string   `json:"unit"`
	Barcodes      []string `json:"barcodes,omitempty"`
	BatchTracked  bool     `json:"batch_tracked"`
	ExpiryTracked bool     `json:"expiry_tracked"`
}

// BatchInput is a batch row; Expiry is YYYY-MM-DD or empty.
type BatchInput struct {
	SKU    string `json:"sku"`
	Code   string `json:"code"`
	Expiry string `json:"expiry,omitempty"`
}

// CatalogResult counts the rows written per section.
type CatalogResult struct {
	Warehouses int `json:"warehouses"`
	Locations  int `json:"locations"`
	Items      int `json:"items"`
	Batches    int `json:"batches"`
}

// RowError names one invalid row of a catalog upsert: its section, its index
// (from 0) and the field at fault.
type RowError struct {
	Section string `json:"section"`
	Row     int    `json:"row"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e RowError) String() string {
	return fmt.Sprintf("%s[%d].%s: %s", e.Section, e.Row, e.Field, e.Message)
}

// CatalogError is returned when any row of an upsert is invalid; nothing was
// written. Its Code is CodeInvalid.
type CatalogError struct {
	Rows []RowError
}

func (e *CatalogError) Error() string {
	parts := make([]string, 0, len(e.Rows))
	for i, r := range e.Rows {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Rows)-10))
			break
		}
		parts = append(parts, r.String())
	}
	return "invalid: catalog rows: " + strings.Join(parts, "; ")
}

// Unwrap lets ErrorCode see CodeInvalid.
func (e *CatalogError) Unwrap() error {
	return &Error{Code: CodeInvalid, Message: e.Error()}
}

func validCode(s string) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > MaxCodeLen:
		return fmt.Sprintf("is longer than %d characters", MaxCodeLen)
	case strings.TrimSpace(s) != s:
		return "has leading or trailing spaces"
	case strings.ContainsAny(s, "\t\r\n"):
		return "contains a control character"
	case !validText(s):
		return "is not valid UTF-8 text (or contains a NUL character)"
	}
	return ""
}

// validate checks every row without the database and returns all problems.
func (c *Catalog) validate() []RowError {
	var errs []RowError
	bad := func(section string, row int, field, msg string) {
		errs = append(errs, RowError{Section: section, Row: row, Field: field, Message: msg})
	}
	seen := map[string]int{}
	dup := func(section string, row int, field, key string) {
		k := section + "\x00" + key
		if first, ok := seen[k]; ok {
			bad(section, row, field, fmt.Sprintf("duplicates row %d", first))
		}
		seen[k] = row
	}
	for i, w := range c.Warehouses {
		if m := validCode(w.Code); m != "" {
			bad("warehouses", i, "code", m)
		}
		dup("warehouses", i, "code", w.Code)
		if len(w.Name) > 200 || !validText(w.Name) {
			bad("warehouses", i, "name", "is longer than 200 characters")
		}
	}
	for i, l := range c.Locations {
		if m := validCode(l.Warehouse); m != "" {
			bad("locations", i, "warehouse", m)
		}
		if m := validCode(l.Code); m != "" {
			bad("locations", i, "code", m)
		}
		dup("locations", i, "code", l.Warehouse+"\x00"+l.Code)
	}
	barcodes := map[string]int{}
	for i, it := range c.Items {
		if m := validCode(it.SKU); m != "" {
			bad("items", i, "sku", m)
		}
		dup("items", i, "sku", it.SKU)
		if it.Name == "" || len(it.Name) > 200 || !validText(it.Name) {
			bad("items", i, "name", "must be 1-200 characters of UTF-8 text")
		}
		if m := validCode(it.Unit); m != "" {
			bad("items", i, "unit", m)
		}
		for j, b := range it.Barcodes {
			if m := validCode(b); m != "" {
				bad("items", i, fmt.Sprintf("barcodes[%d]", j), m)
			}
			if first, ok := barcodes[b]; ok && first != i {
				bad("items", i, fmt.Sprintf("barcodes[%d]", j), fmt.Sprintf("barcode %q is also on items[%d]", b, first))
			}
			barcodes[b] = i
		}
		if it.ExpiryTracked && !it.BatchTracked {
			bad("items", i, "expiry_tracked", "an expiry-tracked item must be batch-tracked: expiry belongs to a batch")
		}
	}
	for i, b := range c.Batches {
		if m := validCode(b.SKU); m != "" {
			bad("batches", i, "sku", m)
		}
		if m := validCode(b.Code); m != "" {
			bad("batches", i, "code", m)
		}
		dup("batches", i, "code", b.SKU+"\x00"+b.Code)
		if b.Expiry != "" {
			if _, err := ParseDate(b.Expiry); err != nil {
				bad("batches", i, "expiry", fmt.Sprintf("%q is not a date (YYYY-MM-DD)", b.Expiry))
			}
		}
	}
	return errs
}

// UpsertCatalog writes the catalog rows in one transaction. Rows that refer
// to other rows (a location's warehouse, a batch's item) may refer to rows
// of the same upsert. Returns a *CatalogError (code CodeInvalid) listing
// every invalid row, in which case nothing is written.
func (l *Ledger) UpsertCatalog(ctx context.Context, tenantID uuid.UUID, c Catalog) (CatalogResult, error) {
	if errs := c.validate(); len(errs) > 0 {
		return CatalogResult{}, &CatalogError{Rows: errs}
	}
	var res CatalogResult
	// A plain write: what merges keep in memory includes catalog rows.
	err := l.write(ctx, tenantID, func(tx Tx) error {
		state := tx.Ledger()
		change := state.NextChange
		var rowErrs []RowError

		// Warehouses.
		whCodes := make([]string, 0, len(c.Warehouses)+len(c.Locations))
		for _, w := range c.Warehouses {
			whCodes = append(whCodes, w.Code)
		}
		for _, loc := range c.Locations {
			whCodes = append(whCodes, loc.Warehouse)
		}
		existingWh, err := tx.Warehouses(ctx, tenantID, whCodes)
		if err != nil {
			return err
		}
		whByCode := map[string]Warehouse{}
		for _, w := range existingWh {
			whByCode[w.Code] = w
		}
		var whRows []Warehouse
		for _, in := range c.Warehouses {
			w, ok := whByCode[in.Code]
			if !ok {
				w = Warehouse{TenantID: tenantID, ID: uuid.Must(uuid.NewV7()), Code: in.Code}
			}
			w.Name = in.Name
			if w.Name == "" {
				w.Name = in.Code
			}
			w.Changed = change
			whByCode[in.Code] = w
			whRows = append(whRows, w)
		}

		// Locations, grouped by warehouse for the lookup.
		var locRows []Location
		byWh := map[uuid.UUID][]int{}
		for i, in := range c.Locations {
			w, ok := whByCode[in.Warehouse]
			if !ok {
				rowErrs = append(rowErrs, RowError{"locations", i, "warehouse", fmt.Sprintf("warehouse %q does not exist", in.Warehouse)})
				continue
			}
			byWh[w.ID] = append(byWh[w.ID], i)
		}
		for whID, idx := range byWh {
			codes := make([]string, len(idx))
			for j, i := range idx {
				codes[j] = c.Locations[i].Code
			}
			existing, err := tx.LocationsByCode(ctx, tenantID, whID, codes)
			if err != nil {
				return err
			}
			byCode := map[string]Location{}
			for _, loc := range existing {
				byCode[loc.Code] = loc
			}
			for _, i := range idx {
				loc, ok := byCode[c.Locations[i].Code]
				if !ok {
					loc = Location{TenantID: tenantID, ID: uuid.Must(uuid.NewV7()), WarehouseID: whID, Code: c.Locations[i].Code}
				}
				loc.Changed = change
				locRows = append(locRows, loc)
			}
		}

		// Items.
		skus := make([]string, 0, len(c.Items)+len(c.Batches))
		for _, it := range c.Items {
			skus = append(skus, it.SKU)
		}
		for _, b := range c.Batches {
			skus = append(skus, b.SKU)
		}
		existingItems, err := tx.ItemsBySKU(ctx, tenantID, skus)
		if err != nil {
			return err
		}
		itemBySKU := map[string]Item{}
		for _, it := range existingItems {
			itemBySKU[it.SKU] = it
		}
		var itemRows []Item
		for i, in := range c.Items {
			it, ok := itemBySKU[in.SKU]
			if ok && it.BatchTracked != in.BatchTracked {
				// Balances are keyed by batch; flipping tracking would strand them.
				rowErrs = append(rowErrs, RowError{"items", i, "batch_tracked", fmt.Sprintf("item %q already exists with batch_tracked=%v; it cannot change", in.SKU, it.BatchTracked)})
				continue
			}
			if !ok {
				it = Item{TenantID: tenantID, ID: uuid.Must(uuid.NewV7()), SKU: in.SKU}
			}
			it.Name, it.Unit, it.BatchTracked, it.ExpiryTracked = in.Name, in.Unit, in.BatchTracked, in.ExpiryTracked
			it.Barcodes = in.Barcodes
			it.Changed = change
			itemBySKU[in.SKU] = it
			itemRows = append(itemRows, it)
		}

		// Batches.
		var refs []BatchRef
		for _, b := range c.Batches {
			if it, ok := itemBySKU[b.SKU]; ok {
				refs = append(refs, BatchRef{ItemID: it.ID, Code: b.Code})
			}
		}
		existingBatches, err := tx.BatchesByCode(ctx, tenantID, refs)
		if err != nil {
			return err
		}
		batchByRef := map[BatchRef]Batch{}
		for _, b := range existingBatches {
			batchByRef[BatchRef{b.ItemID, b.Code}] = b
		}
		var batchRows, expiryChanged []Batch
		for i, in := range c.Batches {
			it, ok := itemBySKU[in.SKU]
			if !ok {
				rowErrs = append(rowErrs, RowError{"batches", i, "sku", fmt.Sprintf("item %q does not exist", in.SKU)})
				continue
			}
			if !it.BatchTracked {
				rowErrs = append(rowErrs, RowError{"batches", i, "sku", fmt.Sprintf("item %q is not batch-tracked", in.SKU)})
				continue
			}
			b, ok := batchByRef[BatchRef{it.ID, in.Code}]
			if !ok {
				b = Batch{TenantID: tenantID, ID: uuid.Must(uuid.NewV7()), ItemID: it.ID, Code: in.Code}
			}
			if in.Expiry != "" {
				before := b.Expiry
				b.Expiry, _ = ParseDate(in.Expiry) // validated above
				if ok && !b.Expiry.Equal(before) {
					expiryChanged = append(expiryChanged, b)
				}
			}
			b.Changed = change
			batchRows = append(batchRows, b)
		}
		if len(rowErrs) > 0 {
			return &CatalogError{Rows: rowErrs}
		}
		if err := tx.UpsertWarehouses(ctx, whRows); err != nil {
			return err
		}
		if err := tx.UpsertLocations(ctx, locRows); err != nil {
			return err
		}
		if err := tx.UpsertItems(ctx, itemRows); err != nil {
			return err
		}
		if err := tx.UpsertBatches(ctx, batchRows); err != nil {
			return err
		}
		res = CatalogResult{len(whRows), len(locRows), len(itemRows), len(batchRows)}
		if len(expiryChanged) == 0 {
			state.NextChange++
			return tx.SetLedger(ctx, state)
		}
		// A lot that learns (or corrects) its expiry judges the picks
		// already made of it, as a receipt bringing the expiry does.
		tenant, err := tx.Tenant(ctx, tenantID)
		if err != nil {
			return err
		}
		w := newWork(ctx, tx, tenant, l.clock())
		for _, b := range expiryChanged {
			if err := w.recheckExpiredPicks(w.addBatch(b)); err != nil {
				return err
			}
		}
		return w.flush()
	})
	return res, err
}
