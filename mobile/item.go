package mobile

// Item is an item of the downloaded catalog with its batches and the
// device's optimistic stock of it.
type Item struct {
	SKU           string
	Name          string
	Unit          string
	BatchTracked  bool
	ExpiryTracked bool
	Barcodes      *StringList
	Batches       *BatchList
	// Stock is the optimistic stock by location and batch: the last
	// downloaded balance plus this device's operations the server has not
	// counted yet. Total is its sum over every location and batch.
	Stock *StockList
	Total int64
}

// Batch is a batch (lot) of an item.
type Batch struct {
	Code string
	// Expiry is YYYY-MM-DD, empty when the batch has none.
	Expiry string
}

// StockRow is the stock of one item in one location and batch.
type StockRow struct {
	Location string
	// Batch is empty for items that are not batch-tracked.
	Batch string
	// OnHand is the server's balance as last downloaded; Pending the
	// effect of this device's operations it does not include yet; Stock
	// their sum, what the picker should find on the shelf.
	OnHand  int64
	Pending int64
	Stock   int64
}

// StringList is a list of strings.
type StringList struct{ items []string }

// Len returns the number of strings.
func (l *StringList) Len() int { return len(l.items) }

// Get returns string i (0 <= i < Len), "" when out of range.
func (l *StringList) Get(i int) string {
	if i < 0 || i >= len(l.items) {
		return ""
	}
	return l.items[i]
}

// BatchList is a list of batches.
type BatchList struct{ items []*Batch }

// Len returns the number of batches.
func (l *BatchList) Len() int { return len(l.items) }

// Get returns batch i (0 <= i < Len), nil when out of range.
func (l *BatchList) Get(i int) *Batch { return get(l.items, i) }

// StockList is a list of stock rows, by location then batch.
type StockList struct{ items []*StockRow }

// Len returns the number of rows.
func (l *StockList) Len() int { return len(l.items) }

// Get returns row i (0 <= i < Len), nil when out of range.
func (l *StockList) Get(i int) *StockRow { return get(l.items, i) }

// LookupItem finds an item of the downloaded catalog by SKU or by scanned
// barcode (a SKU first). It works offline. Returns CodeNotFound when the
// catalog has neither (sync first, or record the operation anyway: the
// server holds it for a manager to map), CodeStorage, CodeClosed.
func (d *Device) LookupItem(barcodeOrSKU string) (*Item, error) {
	end, err := d.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	it, err := d.c.Item(d.ctx, barcodeOrSKU)
	if err != nil {
		return nil, wrapError(err, CodeStorage)
	}
	out := &Item{SKU: it.SKU, Name: it.Name, Unit: it.Unit, BatchTracked: it.BatchTracked, ExpiryTracked: it.ExpiryTracked,
		Barcodes: &StringList{items: append([]string{}, it.Barcodes...)},
		Batches:  &BatchList{items: make([]*Batch, 0, len(it.Batches))},
		Stock:    &StockList{items: make([]*StockRow, 0, len(it.Stock))}}
	for _, b := range it.Batches {
		out.Batches.items = append(out.Batches.items, &Batch{Code: b.Code, Expiry: b.Expiry})
	}
	for _, r := range it.Stock {
		out.Stock.items = append(out.Stock.items, &StockRow{Location: r.Location, Batch: r.Batch, OnHand: r.OnHand, Pending: r.Pending, Stock: r.Stock})
		out.Total += r.Stock
	}
	return out, nil
}
