package mobile

import (
	"time"

	"stocksync/client"
	"stocksync/syncproto"
)

// Operation kinds, for Operation.Kind (docs/protocol.md, "Operations").
const (
	KindReceive  = syncproto.KindReceive
	KindPick     = syncproto.KindPick
	KindReturn   = syncproto.KindReturn
	KindTransfer = syncproto.KindTransfer
	KindCount    = syncproto.KindCount
	KindAdjust   = syncproto.KindAdjust
)

// Operation is one stock movement as the picker recorded it. Build one
// with new Operation() in Java or Operation() in Swift, set the fields the
// kind takes, and pass it to Record. Empty strings and zeros mean "not
// given".
//
//	kind      fields
//	receive   item, batch?, expiry?, qty > 0, location, ref? (purchase order)
//	pick      item, batch?, qty > 0, location, order?
//	return    item, batch?, qty > 0, location, order?, reason?
//	transfer  item, batch?, qty > 0, location, to location
//	count     item, batch?, location, qty >= 0 (what was counted)
//	adjust    item, batch?, location, qty != 0 (signed), reason
//
// The item is given by SKU or by a scanned Barcode.
type Operation struct {
	Kind    string
	SKU     string
	Barcode string
	Batch   string
	// Expiry is a date, YYYY-MM-DD (receive of an expiry-tracked item).
	Expiry     string
	Qty        int64
	Location   string
	ToLocation string
	// Order is the sales order a pick ships or a return comes back from.
	Order string
	// Ref is the purchase order of a receive.
	Ref    string
	Reason string
	// ExchangeOf is the op id of the return a pick replaces.
	ExchangeOf string
	// Actor is the staff badge; empty takes the Device's SetActor.
	Actor string
	Note  string
	// OccurredAtMillis is when it happened on the floor, in Unix
	// milliseconds; 0 means now.
	OccurredAtMillis int64
}

// Recorded is an operation Record stored: it survives a crash or a
// pulled battery, and the next Sync sends it.
type Recorded struct {
	// OpID is the operation's id (a UUID), Seq its number on this device.
	OpID string
	Seq  int64
	Kind string
	// Batch is the batch the movement counts under: the scanned one, or
	// for a receive of a batch-tracked item without one, the code made on
	// the device (GeneratedBatch), which the server makes identically;
	// print it on the label.
	Batch          string
	GeneratedBatch bool
	// Warnings are the references the downloaded catalog does not know
	// (code unknown_reference): the operation is recorded all the same,
	// and the server holds it until a manager maps them.
	Warnings *WarningList
}

// Warning is something the picker should know about an operation that was
// recorded all the same.
type Warning struct {
	Code string
	// Field and Value are the reference concerned, e.g. "barcode" and
	// what was scanned.
	Field   string
	Value   string
	Message string
}

// WarningList is a list of warnings.
type WarningList struct{ items []*Warning }

// Len returns the number of warnings.
func (l *WarningList) Len() int { return len(l.items) }

// Get returns warning i (0 <= i < Len), nil when out of range.
func (l *WarningList) Get(i int) *Warning { return get(l.items, i) }

func warningsOf(ws []client.Warning) *WarningList {
	l := &WarningList{items: make([]*Warning, 0, len(ws))}
	for _, w := range ws {
		l.items = append(l.items, &Warning{Code: string(w.Code), Field: w.Field, Value: w.Value, Message: w.Message})
	}
	return l
}

// get returns s[i], nil when i is out of range: a Java or Swift caller
// gets null rather than a crash of the whole app.
func get[T any](s []*T, i int) *T {
	if i < 0 || i >= len(s) {
		return nil
	}
	return s[i]
}

// Record checks op as far as the device can and stores it with the next
// seq before returning. A SKU, barcode or location the downloaded catalog
// does not know is not refused (the goods moved whatever the catalog
// says): the operation is recorded with a Warning.
//
// An operation the server would certainly reject is refused with the code
// the server would answer: unknown_kind, missing_field, unexpected_field,
// invalid_qty, invalid_time, invalid_expiry, reason_required,
// same_location, invalid_exchange, too_long, invalid_text, and against the
// downloaded catalog barcode_mismatch, batch_not_tracked, batch_required,
// expiry_required, expiry_conflict. Also CodeInvalid for a nil op,
// CodeStorage, CodeClosed.
func (d *Device) Record(op *Operation) (*Recorded, error) {
	if op == nil {
		return nil, newError(CodeInvalid, "record: no operation")
	}
	end, err := d.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	in := client.OpInput{
		Kind: op.Kind, SKU: op.SKU, Barcode: op.Barcode, Batch: op.Batch, Expiry: op.Expiry, Qty: op.Qty,
		Location: op.Location, ToLocation: op.ToLocation, Order: op.Order, Ref: op.Ref, Reason: op.Reason,
		ExchangeOf: op.ExchangeOf, Actor: op.Actor, Note: op.Note,
	}
	if in.Actor == "" {
		in.Actor = d.Actor()
	}
	if op.OccurredAtMillis != 0 {
		in.OccurredAt = time.UnixMilli(op.OccurredAtMillis)
	}
	rec, err := d.c.Record(d.ctx, in)
	if err != nil {
		return nil, wrapError(err, CodeStorage)
	}
	return &Recorded{OpID: rec.Op.OpID.String(), Seq: rec.Op.Seq, Kind: rec.Op.Kind, Batch: rec.Batch,
		GeneratedBatch: rec.GeneratedBatch, Warnings: warningsOf(rec.Warnings)}, nil
}

// The Record* methods record one kind each, with its usual fields; Record
// takes every field. sku is the item's SKU, as LookupItem returns it for a
// scanned barcode; to record a scan as is (a barcode the downloaded
// catalog does not know, say), use Record with Barcode. Empty strings mean
// "not given". They return what Record returns. (They are not named
// Receive, Return and so on because return is a reserved word in Java and
// Swift.)

// RecordReceive records goods received into location, under batch (empty
// for items that are not batch-tracked, or to have a batch code made) with
// expiry (YYYY-MM-DD, empty when not tracked).
func (d *Device) RecordReceive(sku, location string, qty int64, batch, expiry string) (*Recorded, error) {
	return d.Record(&Operation{Kind: KindReceive, SKU: sku, Location: location, Qty: qty, Batch: batch, Expiry: expiry})
}

// RecordPick records goods picked from location, shipped on order (empty
// for a pick that ships nothing).
func (d *Device) RecordPick(sku, location string, qty int64, batch, order string) (*Recorded, error) {
	return d.Record(&Operation{Kind: KindPick, SKU: sku, Location: location, Qty: qty, Batch: batch, Order: order})
}

// RecordReturn records goods returned into location from order, with a
// reason code. With an order and no batch, the server matches the return
// to the batches the order shipped.
func (d *Device) RecordReturn(sku, location string, qty int64, batch, order, reason string) (*Recorded, error) {
	return d.Record(&Operation{Kind: KindReturn, SKU: sku, Location: location, Qty: qty, Batch: batch, Order: order, Reason: reason})
}

// RecordTransfer records goods moved from location to toLocation.
func (d *Device) RecordTransfer(sku, location, toLocation string, qty int64, batch string) (*Recorded, error) {
	return d.Record(&Operation{Kind: KindTransfer, SKU: sku, Location: location, ToLocation: toLocation, Qty: qty, Batch: batch})
}

// RecordCount records that qty was counted at location; the server posts
// the difference from its stock at the time of the count.
func (d *Device) RecordCount(sku, location string, qty int64, batch string) (*Recorded, error) {
	return d.Record(&Operation{Kind: KindCount, SKU: sku, Location: location, Qty: qty, Batch: batch})
}

// RecordAdjust records a signed correction at location (positive adds,
// negative removes) with its mandatory reason code.
func (d *Device) RecordAdjust(sku, location string, qty int64, batch, reason string) (*Recorded, error) {
	return d.Record(&Operation{Kind: KindAdjust, SKU: sku, Location: location, Qty: qty, Batch: batch, Reason: reason})
}
