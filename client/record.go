package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"stocksync/syncproto"
)

// OpInput is one stock movement as the picker recorded it: a syncproto.Op
// without op_id and seq, which Record assigns. Which fields each kind takes
// is the table of docs/protocol.md ("Operations").
type OpInput struct {
	Kind string `json:"kind"`
	// OccurredAt is when it happened on the floor; zero means now.
	OccurredAt time.Time `json:"occurred_at"`
	SKU        string    `json:"sku,omitempty"`
	Barcode    string    `json:"barcode,omitempty"`
	Batch      string    `json:"batch,omitempty"`
	// Expiry is a date, YYYY-MM-DD.
	Expiry     string `json:"expiry,omitempty"`
	Qty        int64  `json:"qty"`
	Location   string `json:"location,omitempty"`
	ToLocation string `json:"to_location,omitempty"`
	Order      string `json:"order,omitempty"`
	Ref        string `json:"ref,omitempty"`
	Reason     string `json:"reason,omitempty"`
	ExchangeOf string `json:"exchange_of,omitempty"`
	Actor      string `json:"actor,omitempty"`
	Note       string `json:"note,omitempty"`
}

// Warning is something the picker should know about an operation that was
// recorded all the same, such as a barcode the pulled catalog does not
// know: the server will hold it for a manager rather than refuse it.
type Warning struct {
	Code    syncproto.Code `json:"code"`
	Field   string         `json:"field,omitempty"`
	Value   string         `json:"value,omitempty"`
	Message string         `json:"message"`
}

// Recorded is an operation Record stored: it is durable and will be pushed
// on the next Sync.
type Recorded struct {
	// Op is the operation exactly as it will be pushed.
	Op syncproto.Op `json:"op"`
	// Batch is the batch the movement is counted under in optimistic
	// stock: the scanned one, or for a receive of a batch-tracked item
	// without one, the code generated on the device (GeneratedBatch),
	// which the server generates identically; print it on the label.
	Batch          string `json:"batch,omitempty"`
	GeneratedBatch bool   `json:"generated_batch,omitempty"`
	// Warnings are the catalog gaps the server will hold the operation
	// for; empty when the pulled catalog knows every reference.
	Warnings []Warning `json:"warnings,omitempty"`
}

// maxQty mirrors the server's bound on a quantity (docs/protocol.md:
// "beyond 10¹²"), so no sum of quantities can overflow.
const maxQty = 1_000_000_000_000

// maxFuture is how far ahead of the device clock occurred_at may be. The
// server refuses effective times beyond its clock uncertainty (at least a
// minute); on the device the only way past it is a typed time.
const maxFuture = time.Minute

// Record validates in as far as the device can and stores it with the next
// seq, in one transaction, before returning: once Record returns, the
// operation survives a crash or a pulled battery.
//
// An operation the server would certainly reject is refused with a
// *syncproto.Error carrying the operation-level code the server would have
// answered (CodeUnknownKind, CodeMissingField, CodeUnexpectedField,
// CodeInvalidQty, CodeInvalidTime, CodeInvalidExpiry, CodeReasonRequired,
// CodeSameLocation, CodeInvalidExchange, CodeTooLong, CodeInvalidText, and
// against the pulled catalog CodeBarcodeMismatch, CodeBatchNotTracked,
// CodeBatchRequired, CodeExpiryRequired, CodeExpiryConflict) and a message
// for the picker. A SKU, barcode or location the pulled catalog lacks is
// never refused: the operation is recorded with a Warning, because the
// goods moved whatever the catalog says, and the server holds it for a
// manager to map.
func (c *Client) Record(ctx context.Context, in OpInput) (Recorded, error) {
	now := c.now()
	op := syncproto.Op{
		Kind: strings.TrimSpace(in.Kind), OccurredAt: in.OccurredAt,
		SKU: in.SKU, Barcode: in.Barcode, Batch: in.Batch, Expiry: in.Expiry, Qty: in.Qty,
		Location: in.Location, ToLocation: in.ToLocation, Order: in.Order, Ref: in.Ref,
		Reason: in.Reason, ExchangeOf: in.ExchangeOf, Actor: in.Actor, Note: in.Note,
	}
	if op.OccurredAt.IsZero() {
		op.OccurredAt = now
	}
	op = normalize(op)
	if err := validate(op, now); err != nil {
		return Recorded{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Recorded{}, fmt.Errorf("record %s: make op id: %w", op.Kind, err)
	}
	op.OpID = id

	var rec Recorded
	err = c.write(ctx, func(tx *sql.Tx) error {
		var prefix string
		var pulled bool
		if err := txScan(ctx, tx, c.stmts.recordState, nil, &op.Seq, &prefix, &pulled); err != nil {
			return fmt.Errorf("read device state: %w", err)
		}
		cat, err := checkCatalog(catalogTx{ctx: ctx, tx: tx, s: c.stmts}, op, pulled)
		if err != nil {
			return err
		}
		rec = Recorded{Op: op, Batch: op.Batch, Warnings: cat.warnings}
		if cat.item != nil && cat.item.BatchTracked && op.Kind == syncproto.KindReceive && op.Batch == "" && prefix != "" {
			// The payload keeps the batch empty, as scanned: the server
			// generates the same code from the same inputs.
			rec.Batch = syncproto.GeneratedBatchCode(prefix, op.OpID, op.OccurredAt)
			rec.GeneratedBatch = true
		}
		return c.insertOp(ctx, tx, op, rec, now)
	})
	if err != nil {
		var pe *syncproto.Error
		if errors.As(err, &pe) {
			return Recorded{}, err
		}
		return Recorded{}, fmt.Errorf("record %s: %w", op.Kind, err)
	}
	return rec, nil
}

// insertOp stores the operation under op.Seq and moves the seq counter
// past it.
func (c *Client) insertOp(ctx context.Context, tx *sql.Tx, op syncproto.Op, rec Recorded, now time.Time) error {
	payload, err := payloadOf(op)
	if err != nil {
		return err
	}
	warnings, err := json.Marshal(nonNil(rec.Warnings))
	if err != nil {
		return err
	}
	localBatch := ""
	if rec.GeneratedBatch {
		localBatch = rec.Batch
	}
	if _, err := txExec(ctx, tx, c.stmts.insertOp,
		op.OpID.String(), op.Seq, op.Kind, string(payload), micros(op.OccurredAt), micros(now), localBatch, string(warnings)); err != nil {
		return fmt.Errorf("insert op: %w", err)
	}
	if _, err := txExec(ctx, tx, c.stmts.advanceSeq, op.Seq+1); err != nil {
		return fmt.Errorf("advance seq: %w", err)
	}
	return nil
}

// payloadOf is the stored form of an operation: its wire JSON without the
// seq, which renumbering after a restore may change.
func payloadOf(op syncproto.Op) ([]byte, error) {
	op.Seq = 0
	return json.Marshal(op)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// normalize trims the code fields and brings the time to UTC with the
// microsecond precision the server keeps, so what is stored is what the
// server will see.
func normalize(op syncproto.Op) syncproto.Op {
	for _, s := range []*string{&op.SKU, &op.Barcode, &op.Batch, &op.Expiry, &op.Location,
		&op.ToLocation, &op.Order, &op.Ref, &op.Reason, &op.ExchangeOf, &op.Actor} {
		*s = strings.TrimSpace(*s)
	}
	op.OccurredAt = op.OccurredAt.UTC().Truncate(time.Microsecond)
	return op
}

func refuse(code syncproto.Code, format string, args ...any) error {
	return syncproto.Errorf(code, format, args...)
}

// validate mirrors the catalog-free checks the server applies to every
// operation (ledger.Operation.Validate): what fails here would certainly
// come back rejected, so the picker hears it now, on the floor.
func validate(op syncproto.Op, now time.Time) error {
	switch op.Kind {
	case "":
		return refuse(syncproto.CodeMissingField, "kind is required: one of %s", strings.Join(syncproto.Kinds, ", "))
	default:
		if !slices.Contains(syncproto.Kinds, op.Kind) {
			return refuse(syncproto.CodeUnknownKind, "unknown kind %q: use one of %s", op.Kind, strings.Join(syncproto.Kinds, ", "))
		}
	}
	fields := []struct{ name, v string }{{"sku", op.SKU}, {"barcode", op.Barcode}, {"batch", op.Batch},
		{"expiry", op.Expiry}, {"location", op.Location}, {"to_location", op.ToLocation}, {"order", op.Order},
		{"ref", op.Ref}, {"reason", op.Reason}, {"exchange_of", op.ExchangeOf}, {"actor", op.Actor}}
	for _, f := range append(fields, struct{ name, v string }{"note", op.Note}) {
		if !utf8.ValidString(f.v) || strings.ContainsRune(f.v, 0) {
			return refuse(syncproto.CodeInvalidText, "%s is not valid text", f.name)
		}
	}
	for _, f := range fields {
		if len(f.v) > syncproto.MaxCodeLen {
			return refuse(syncproto.CodeTooLong, "%s is longer than %d characters", f.name, syncproto.MaxCodeLen)
		}
	}
	if len(op.Note) > syncproto.MaxTextLen {
		return refuse(syncproto.CodeTooLong, "note is longer than %d characters", syncproto.MaxTextLen)
	}
	if y := op.OccurredAt.Year(); y < 2000 || y > 2999 {
		return refuse(syncproto.CodeInvalidTime, "occurred_at %s is out of range", op.OccurredAt.Format(time.RFC3339))
	}
	if op.OccurredAt.After(now.Add(maxFuture)) {
		return refuse(syncproto.CodeInvalidTime, "occurred_at %s is in the future (device clock %s)",
			op.OccurredAt.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if op.Qty > maxQty || op.Qty < -maxQty {
		return refuse(syncproto.CodeInvalidQty, "qty %d is beyond the limit of %d", op.Qty, int64(maxQty))
	}
	if op.SKU == "" && op.Barcode == "" {
		return refuse(syncproto.CodeMissingField, "%s needs a SKU or a scanned barcode", op.Kind)
	}
	if op.Location == "" {
		return refuse(syncproto.CodeMissingField, "%s needs a location", op.Kind)
	}
	if op.Expiry != "" {
		if _, err := time.Parse(time.DateOnly, op.Expiry); err != nil {
			return refuse(syncproto.CodeInvalidExpiry, "expiry %q is not a date (YYYY-MM-DD)", op.Expiry)
		}
	}
	if op.ExchangeOf != "" {
		if _, err := uuid.Parse(op.ExchangeOf); err != nil {
			return refuse(syncproto.CodeInvalidExchange, "exchange_of %q is not an operation id", op.ExchangeOf)
		}
		if op.Order == "" {
			return refuse(syncproto.CodeInvalidExchange, "exchange_of needs the order of the exchange")
		}
	}

	// Per kind: the quantity rule, the fields it needs, and the fields
	// that mean nothing for it (the server rejects those rather than drop
	// intent silently).
	var unexpected []string
	if op.Kind != syncproto.KindReceive && op.Ref != "" {
		unexpected = append(unexpected, "ref")
	}
	if op.Kind != syncproto.KindReturn && op.Kind != syncproto.KindAdjust && op.Reason != "" {
		unexpected = append(unexpected, "reason")
	}
	check := func(name, v string) {
		if v != "" {
			unexpected = append(unexpected, name)
		}
	}
	switch op.Kind {
	case syncproto.KindReceive, syncproto.KindPick, syncproto.KindReturn, syncproto.KindTransfer:
		if op.Qty <= 0 {
			return refuse(syncproto.CodeInvalidQty, "%s qty must be positive, got %d", op.Kind, op.Qty)
		}
	case syncproto.KindCount:
		if op.Qty < 0 {
			return refuse(syncproto.CodeInvalidQty, "count qty is what was counted and must not be negative, got %d", op.Qty)
		}
	case syncproto.KindAdjust:
		if op.Qty == 0 {
			return refuse(syncproto.CodeInvalidQty, "adjust qty must not be zero (positive adds, negative removes)")
		}
		if op.Reason == "" {
			return refuse(syncproto.CodeReasonRequired, "adjust needs a reason code")
		}
	}
	switch op.Kind {
	case syncproto.KindReceive:
		check("to_location", op.ToLocation)
		check("order", op.Order)
		check("exchange_of", op.ExchangeOf)
	case syncproto.KindPick:
		check("to_location", op.ToLocation)
		check("expiry", op.Expiry)
	case syncproto.KindReturn:
		check("to_location", op.ToLocation)
		check("expiry", op.Expiry)
		check("exchange_of", op.ExchangeOf)
	case syncproto.KindTransfer:
		if op.ToLocation == "" {
			return refuse(syncproto.CodeMissingField, "transfer needs to_location")
		}
		if op.ToLocation == op.Location {
			return refuse(syncproto.CodeSameLocation, "transfer from %s to itself", op.Location)
		}
		check("order", op.Order)
		check("expiry", op.Expiry)
		check("exchange_of", op.ExchangeOf)
	case syncproto.KindCount, syncproto.KindAdjust:
		check("to_location", op.ToLocation)
		check("order", op.Order)
		check("expiry", op.Expiry)
		check("exchange_of", op.ExchangeOf)
	}
	if len(unexpected) > 0 {
		return refuse(syncproto.CodeUnexpectedField, "%s does not take %s", op.Kind, strings.Join(unexpected, ", "))
	}
	return nil
}

// catalogCheck is what the pulled catalog says about an operation.
type catalogCheck struct {
	// item is nil when the operation's item is unknown locally.
	item     *syncproto.Item
	warnings []Warning
}

// catalogTx looks up the pulled catalog inside Record's transaction with
// the prepared statements. Its items carry what the checks need: SKU and
// flags, no name, unit or barcodes.
type catalogTx struct {
	ctx context.Context
	tx  *sql.Tx
	s   *stmts
}

func (c catalogTx) item(st *sql.Stmt, ref string) (*syncproto.Item, error) {
	var it syncproto.Item
	err := txScan(c.ctx, c.tx, st, []any{ref}, &it.SKU, &it.BatchTracked, &it.ExpiryTracked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up item %q: %w", ref, err)
	}
	return &it, nil
}

func (c catalogTx) itemBySKU(sku string) (*syncproto.Item, error) { return c.item(c.s.itemBySKU, sku) }

func (c catalogTx) itemByBarcode(barcode string) (*syncproto.Item, error) {
	return c.item(c.s.itemByBarcode, barcode)
}

func (c catalogTx) hasLocation(code string) (bool, error) {
	var known bool
	if err := txScan(c.ctx, c.tx, c.s.hasLocation, []any{code}, &known); err != nil {
		return false, fmt.Errorf("look up location: %w", err)
	}
	return known, nil
}

// batchExpiry returns the pulled batch's expiry and whether it is known.
func (c catalogTx) batchExpiry(sku, code string) (string, bool, error) {
	var expiry string
	err := txScan(c.ctx, c.tx, c.s.batchExpiry, []any{sku, code}, &expiry)
	switch {
	case err == nil:
		return expiry, true, nil
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	}
	return "", false, fmt.Errorf("look up batch: %w", err)
}

// checkCatalog applies the server's item rules (batch and expiry) when the
// pulled catalog knows the item, and lists as warnings the references the
// server would hold the operation for. It mirrors how the server resolves
// an item: by SKU when one is given, else by barcode; a barcode that names
// another item than the SKU is a mistake in the scan and is refused.
// pulled says whether the device has pulled a catalog at all.
func checkCatalog(cat catalogTx, op syncproto.Op, pulled bool) (catalogCheck, error) {
	var cc catalogCheck
	hint := ""
	if !pulled {
		hint = " (this device has not pulled a catalog yet: sync it)"
	}
	unknown := func(field, v string) {
		cc.warnings = append(cc.warnings, Warning{Code: syncproto.CodeUnknownReference, Field: field, Value: v,
			Message: fmt.Sprintf("unknown %s %q: recorded, and the server will hold it until a manager maps it%s", strings.ReplaceAll(field, "_", " "), v, hint)})
	}
	if op.SKU != "" {
		it, err := cat.itemBySKU(op.SKU)
		if err != nil {
			return cc, err
		}
		cc.item = it
		if it == nil {
			unknown("sku", op.SKU)
		}
	}
	if op.Barcode != "" {
		byBarcode, err := cat.itemByBarcode(op.Barcode)
		if err != nil {
			return cc, err
		}
		switch {
		case op.SKU == "" && byBarcode == nil:
			unknown("barcode", op.Barcode)
		case op.SKU == "":
			cc.item = byBarcode
		case cc.item != nil && byBarcode != nil && byBarcode.SKU != cc.item.SKU:
			return cc, refuse(syncproto.CodeBarcodeMismatch, "barcode %s belongs to %s, not %s", op.Barcode, byBarcode.SKU, op.SKU)
		}
	}
	for _, l := range []struct{ field, code string }{{"location", op.Location}, {"to_location", op.ToLocation}} {
		if l.code == "" {
			continue
		}
		known, err := cat.hasLocation(l.code)
		if err != nil {
			return cc, err
		}
		if !known {
			unknown(l.field, l.code)
		}
	}
	if cc.item == nil {
		return cc, nil
	}
	return cc, checkItem(cat, op, cc.item)
}

// checkItem mirrors the server's batch and expiry rules for a known item.
func checkItem(cat catalogTx, op syncproto.Op, it *syncproto.Item) error {
	if !it.BatchTracked {
		if op.Batch != "" {
			return refuse(syncproto.CodeBatchNotTracked, "%s is not batch-tracked; scan it without a batch", it.SKU)
		}
		if op.Expiry != "" {
			return refuse(syncproto.CodeUnexpectedField, "%s is not batch-tracked, so it has no expiry", it.SKU)
		}
		return nil
	}
	if op.Batch == "" {
		switch {
		case op.Kind == syncproto.KindReceive:
			// A batch code is generated.
		case op.Kind == syncproto.KindReturn && op.Order != "":
			// The server matches it to what the order shipped.
		default:
			return refuse(syncproto.CodeBatchRequired, "%s is batch-tracked; scan the batch", it.SKU)
		}
	}
	if op.Kind != syncproto.KindReceive {
		return nil
	}
	expiry := ""
	known := false
	if op.Batch != "" {
		var err error
		if expiry, known, err = cat.batchExpiry(it.SKU, op.Batch); err != nil {
			return err
		}
	}
	if known && expiry != "" && op.Expiry != "" && expiry != op.Expiry {
		return refuse(syncproto.CodeExpiryConflict, "batch %s of %s expires %s, the receipt says %s", op.Batch, it.SKU, expiry, op.Expiry)
	}
	if it.ExpiryTracked && op.Expiry == "" && expiry == "" {
		return refuse(syncproto.CodeExpiryRequired, "%s is expiry-tracked; scan or enter the expiry date", it.SKU)
	}
	return nil
}

// queryer is what both transactions and pools offer for reads.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// itemBySKU returns the pulled item with sku, or nil.
func itemBySKU(ctx context.Context, q queryer, sku string) (*syncproto.Item, error) {
	return scanItem(ctx, q, `SELECT sku, name, unit, batch_tracked, expiry_tracked FROM items WHERE sku = ?`, sku)
}

// itemByBarcode returns the pulled item with barcode, or nil.
func itemByBarcode(ctx context.Context, q queryer, barcode string) (*syncproto.Item, error) {
	return scanItem(ctx, q, `SELECT i.sku, i.name, i.unit, i.batch_tracked, i.expiry_tracked
		FROM barcodes b JOIN items i ON i.sku = b.sku WHERE b.barcode = ?`, barcode)
}

func scanItem(ctx context.Context, q queryer, query, arg string) (*syncproto.Item, error) {
	var it syncproto.Item
	err := q.QueryRowContext(ctx, query, arg).Scan(&it.SKU, &it.Name, &it.Unit, &it.BatchTracked, &it.ExpiryTracked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up item %q: %w", arg, err)
	}
	rows, err := q.QueryContext(ctx, `SELECT barcode FROM barcodes WHERE sku = ? ORDER BY barcode`, it.SKU)
	if err != nil {
		return nil, fmt.Errorf("barcodes of %s: %w", it.SKU, err)
	}
	defer rows.Close()
	it.Barcodes = []string{}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		it.Barcodes = append(it.Barcodes, b)
	}
	return &it, rows.Err()
}
