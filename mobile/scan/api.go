package scan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"stocksync/client"
	"stocksync/syncproto"
)

// Feedback tones: the page colours its banner and picks its beep by them.
const (
	ToneSuccess = "success"
	ToneWarning = "warning"
	ToneError   = "error"
)

// Scan targets: what a scan filled on the page.
const (
	TargetItem       = "item"
	TargetLocation   = "location"
	TargetToLocation = "to_location"
	TargetOrder      = "order"
)

type enrollRequest struct {
	Server string `json:"server"`
	Code   string `json:"code"`
	Name   string `json:"name"`
}

type enrollResponse struct {
	Identity client.Identity `json:"identity"`
	Sync     syncOutcome     `json:"sync"`
	Message  string          `json:"message"`
	Tone     string          `json:"tone"`
}

func (a *App) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req enrollRequest
	if !readJSON(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Server) == "" || strings.TrimSpace(req.Code) == "" {
		writeError(w, http.StatusUnprocessableEntity, "invalid", "Enter the server's address and the enrollment code a manager gave you.")
		return
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = "handheld"
	}
	id, err := a.c.Enroll(r.Context(), req.Server, req.Code, name)
	if err != nil {
		var pe *syncproto.Error
		switch {
		case errors.Is(err, client.ErrAlreadyEnrolled):
			writeError(w, http.StatusConflict, "already_enrolled", err.Error())
		case errors.As(err, &pe) && pe.Code == syncproto.CodeUnauthorized:
			writeError(w, http.StatusUnprocessableEntity, string(pe.Code), "The code was not accepted: "+pe.Message+". Ask a manager for a new one.")
		case errors.As(err, &pe):
			writeError(w, http.StatusUnprocessableEntity, string(pe.Code), pe.Message)
		default:
			writeError(w, http.StatusBadGateway, "network", "Could not enroll: "+err.Error())
		}
		return
	}
	// The first sync pulls the catalog the scans are checked against.
	out := enrollResponse{Identity: id, Sync: a.runSync(r.Context(), "enroll"), Tone: ToneSuccess}
	out.Message = fmt.Sprintf("Enrolled as %q in warehouse %s.", id.Name, id.Warehouse)
	if out.Sync.Error != nil {
		out.Tone = ToneWarning
		out.Message += " The catalog could not be pulled yet: " + out.Sync.Message
	}
	writeJSON(w, http.StatusOK, out)
}

type scanRequest struct {
	// Code is what the scanner typed (or the person), without the Enter.
	Code string `json:"code"`
	// Slot is the field the page is waiting for: item (the default),
	// location, to_location or order.
	Slot string `json:"slot"`
}

// scanView is what a scan filled.
type scanView struct {
	Scan
	// Target is what the scan was taken as: item, location, to_location
	// or order; Value is the location or order code.
	Target string `json:"target"`
	Value  string `json:"value,omitempty"`
	// Item is the catalog item, nil when the device does not know it.
	Item *client.Item `json:"item,omitempty"`
	// SKU and Barcode are what a recorded operation names the item by.
	SKU     string `json:"sku,omitempty"`
	Barcode string `json:"barcode,omitempty"`
	// Known is false for a barcode the pulled catalog lacks: it can be
	// recorded all the same, and the server holds it for a manager.
	Known   bool   `json:"known"`
	Tone    string `json:"tone"`
	Message string `json:"message"`
	// Stock is the optimistic stock at a scanned location.
	Stock []client.StockRow `json:"stock,omitempty"`
}

func (a *App) handleScan(w http.ResponseWriter, r *http.Request) {
	var req scanRequest
	if !readJSON(w, r, &req) {
		return
	}
	v, err := a.scan(r.Context(), req)
	var pe *ParseError
	switch {
	case errors.As(err, &pe):
		writeError(w, http.StatusUnprocessableEntity, "invalid_barcode", pe.Error())
	case err != nil:
		a.internalError(w, "look up the scan", err)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

// scan reads one scan and decides what it fills. A GS1 scan or a code the
// catalog knows as an item is an item, whatever the page waits for; any
// other code fills the location or order the page waits for, numeric codes
// that happen to carry a valid EAN/UPC check digit among them; an unknown
// code in the item slot is an unknown item the server will hold.
func (a *App) scan(ctx context.Context, req scanRequest) (scanView, error) {
	sc, err := ParseAt(req.Code, a.now())
	if err != nil {
		return scanView{}, err
	}
	v := scanView{Scan: sc, Target: TargetItem}
	if req.Slot == TargetOrder {
		order := ""
		if sc.Kind == KindInternal {
			order = sc.Code
		}
		for _, e := range sc.Elements {
			if e.AI == "400" { // the customer's purchase order number
				order = e.Value
			}
		}
		if order != "" {
			v.Target, v.Value, v.Tone, v.Message = TargetOrder, order, ToneSuccess, "Order "+order
			return v, nil
		}
		// A product's barcode: the item, and the order still to scan.
	}
	if sc.Kind == KindGS1 && sc.GTIN == "" {
		return scanView{}, &ParseError{Msg: "this label carries no item number (AI 01): scan the product's own barcode"}
	}
	it, barcode, err := a.lookup(ctx, sc)
	if err != nil {
		return scanView{}, err
	}
	if it != nil {
		v.Item, v.SKU, v.Barcode, v.Known = it, it.SKU, barcode, true
		v.Tone, v.Message = ToneSuccess, describeItem(it, sc)
		if !it.BatchTracked && (sc.Batch != "" || sc.Expiry != "") {
			v.Batch, v.Expiry = "", ""
			v.Tone = ToneWarning
			v.Message += fmt.Sprintf(" — %s is not batch-tracked: the label's batch and expiry are ignored.", it.SKU)
		}
		if v.Expiry != "" && v.Expiry < a.now().Format(time.DateOnly) {
			v.Tone = ToneWarning
			v.Message += fmt.Sprintf(" — EXPIRED on %s.", v.Expiry)
		}
		switch req.Slot {
		case TargetLocation, TargetToLocation:
			v.Message += " Now scan the location."
		case TargetOrder:
			v.Message += " Now scan the order."
		}
		return v, nil
	}
	if req.Slot == TargetOrder && sc.Kind != KindGS1 {
		// Not an item: an order number that looks like a product code.
		v.Target, v.Value, v.Tone, v.Message = TargetOrder, sc.Code, ToneSuccess, "Order "+sc.Code
		return v, nil
	}
	if (req.Slot == TargetLocation || req.Slot == TargetToLocation) && sc.Kind != KindGS1 {
		v.Target, v.Value, v.Tone = req.Slot, sc.Code, ToneSuccess
		label := "Location"
		if req.Slot == TargetToLocation {
			label = "To location"
		}
		rows, err := a.c.Stock(ctx, client.StockFilter{Location: sc.Code})
		if err != nil {
			return scanView{}, err
		}
		v.Stock = rows
		if len(rows) == 0 {
			v.Message = fmt.Sprintf("%s %s: no stock known here.", label, sc.Code)
		} else {
			v.Message = fmt.Sprintf("%s %s: %s in stock.", label, sc.Code, units(rows))
		}
		return v, nil
	}
	if sc.Kind != KindGS1 {
		// Not an item, but a bin this device knows stock in: a location
		// scanned while the page waits for an item (a picker confirming
		// the bin, or moving on to the next one).
		rows, err := a.c.Stock(ctx, client.StockFilter{Location: sc.Code})
		if err != nil {
			return scanView{}, err
		}
		if len(rows) > 0 {
			v.Target, v.Value, v.Tone, v.Stock = TargetLocation, sc.Code, ToneSuccess, rows
			v.Message = fmt.Sprintf("Location %s: %s in stock.", sc.Code, units(rows))
			return v, nil
		}
	}
	// An item the pulled catalog lacks: record it as scanned; the server
	// holds the operation until a manager maps the barcode.
	v.Barcode = unknownBarcode(sc)
	v.Tone = ToneWarning
	v.Message = fmt.Sprintf("Unknown code %s: not in this device's catalog. You can record it anyway (the server holds it for a manager to map), or sync to pull the latest catalog.", v.Barcode)
	if sc.Kind == KindInternal {
		v.Message += " To set the location instead, tap Location first."
	}
	if sc.Note != "" {
		v.Message += " (" + sc.Note + ")"
	}
	return v, nil
}

// unknownBarcode is the code an unknown item is recorded under: a GTIN in
// its shortest usual form (an EAN-13 rather than its GTIN-14), anything
// else as scanned.
func unknownBarcode(sc Scan) string {
	if sc.Kind == KindGS1 && sc.GTIN != "" {
		c := BarcodeCandidates(sc.GTIN)
		if len(c) > 1 {
			return c[1]
		}
		return sc.GTIN
	}
	return sc.Code
}

// lookup finds the catalog item of a scan, trying every form the catalog
// may store its barcode under; nil when there is none. barcode is the
// catalog's barcode that matched, or "" when the scan named the SKU.
func (a *App) lookup(ctx context.Context, sc Scan) (*client.Item, string, error) {
	var cands []string
	if sc.Code != "" {
		cands = BarcodeCandidates(sc.Code)
	}
	if sc.GTIN != "" {
		for _, c := range BarcodeCandidates(sc.GTIN) {
			if !slices.Contains(cands, c) {
				cands = append(cands, c)
			}
		}
	}
	for _, code := range cands {
		it, err := a.c.Item(ctx, code)
		if client.ErrorCode(err) == syncproto.CodeNotFound {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		barcode := ""
		if slices.Contains(it.Barcodes, code) {
			barcode = code
		}
		return &it, barcode, nil
	}
	return nil, "", nil
}

func describeItem(it *client.Item, sc Scan) string {
	s := it.SKU
	if it.Name != "" {
		s += " · " + it.Name
	}
	if sc.Batch != "" {
		s += " · batch " + sc.Batch
	}
	if sc.Expiry != "" {
		s += " · exp " + sc.Expiry
	}
	if sc.Qty > 0 {
		s += fmt.Sprintf(" · %d per scan", sc.Qty)
	}
	return s
}

// recordResponse is what recording answered.
type recordResponse struct {
	Recorded client.Recorded `json:"recorded"`
	Message  string          `json:"message"`
	Tone     string          `json:"tone"`
}

func (a *App) handleRecord(w http.ResponseWriter, r *http.Request) {
	var in client.OpInput
	if !readJSON(w, r, &in) {
		return
	}
	in.OccurredAt = time.Time{} // the device's clock says when, not the page
	rec, err := a.c.Record(r.Context(), in)
	if err != nil {
		a.recordError(w, err)
		return
	}
	a.undoMu.Lock()
	a.undoStack = append(a.undoStack, rec.Op.OpID)
	a.undoMu.Unlock()
	out := recordResponse{Recorded: rec, Tone: ToneSuccess, Message: "Recorded " + describeOp(rec.Op, rec.Batch) + "."}
	if rec.GeneratedBatch {
		out.Message += " New batch " + rec.Batch + ": write it on the label."
	}
	for _, wn := range rec.Warnings {
		out.Tone = ToneWarning
		out.Message += " " + wn.Message
	}
	writeJSON(w, http.StatusOK, out)
}

// recordError answers a refused operation with the code the server would
// have answered, and anything else as an internal error.
func (a *App) recordError(w http.ResponseWriter, err error) {
	var pe *syncproto.Error
	if errors.As(err, &pe) {
		writeError(w, http.StatusUnprocessableEntity, string(pe.Code), "Not recorded: "+pe.Message)
		return
	}
	a.internalError(w, "record", err)
}

// describeOp says what an operation did, for a person: "receive #4: 2 ×
// BOLT (batch L1) at A1".
func describeOp(op syncproto.Op, batch string) string {
	item := op.SKU
	if item == "" {
		item = op.Barcode
	}
	qty := strconv.FormatInt(op.Qty, 10)
	if op.Kind == syncproto.KindAdjust && op.Qty > 0 {
		qty = "+" + qty
	}
	s := fmt.Sprintf("%s #%d: %s × %s", op.Kind, op.Seq, qty, item)
	if op.Kind == syncproto.KindCount {
		s = fmt.Sprintf("count #%d: %s counted %s", op.Seq, item, qty)
	}
	if batch != "" {
		s += " (batch " + batch + ")"
	}
	s += " at " + op.Location
	if op.ToLocation != "" {
		s += " → " + op.ToLocation
	}
	if op.Order != "" {
		s += " on order " + op.Order
	}
	return s
}

// opRow is one operation as the page lists it.
type opRow struct {
	client.OpView
	Title    string `json:"title"`
	ItemName string `json:"item_name,omitempty"`
	// State is pending (not acknowledged yet) or the server's status.
	State string `json:"state"`
	// ReversalOf names the operation this one undoes; ReversedBy the
	// operation that undid this one.
	ReversalOf    string `json:"reversal_of,omitempty"`
	ReversalOfSeq int64  `json:"reversal_of_seq,omitempty"`
	ReversedBy    string `json:"reversed_by,omitempty"`
	ReversedBySeq int64  `json:"reversed_by_seq,omitempty"`
	// Decision says where the managers' reviews of it stand.
	Decision string `json:"decision,omitempty"`
}

// opsWindow is how many recent operations the lists look through to link
// reversals to what they undo.
const opsWindow = 500

func (a *App) handleOps(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 10
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > opsWindow {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("limit must be a number from 1 to %d", opsWindow))
			return
		}
		limit = n
	}
	problems := q.Get("problems") == "1" || q.Get("problems") == "true"
	rows, err := a.opRows(r.Context(), problems, limit)
	if err != nil {
		a.internalError(w, "list operations", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ops": rows})
}

// opRows lists the most recent operations, newest first, or only the
// problems (flagged, held, rejected), newest first.
func (a *App) opRows(ctx context.Context, problems bool, limit int) ([]opRow, error) {
	recent, err := a.c.Ops(ctx, client.OpsFilter{Limit: opsWindow})
	if err != nil {
		return nil, err
	}
	list := recent
	if problems {
		if list, err = a.c.Ops(ctx, client.OpsFilter{Problems: true}); err != nil {
			return nil, err
		}
	}
	seqOf := map[uuid.UUID]int64{}
	reversedBy := map[uuid.UUID]syncproto.Op{}
	for _, v := range recent {
		seqOf[v.Op.OpID] = v.Op.Seq
		if id, ok := reversalOf(v.Op); ok {
			reversedBy[id] = v.Op
		}
	}
	names := map[string]string{}
	out := make([]opRow, 0, min(limit, len(list)))
	for i := len(list) - 1; i >= 0 && len(out) < limit; i-- {
		v := list[i]
		row := opRow{OpView: v, Title: describeOp(v.Op, v.Batch), State: string(v.Status)}
		if v.Pending {
			row.State = "pending"
		}
		if id, ok := reversalOf(v.Op); ok {
			row.ReversalOf, row.ReversalOfSeq = id.String(), seqOf[id]
		}
		if rev, ok := reversedBy[v.Op.OpID]; ok {
			row.ReversedBy, row.ReversedBySeq = rev.OpID.String(), rev.Seq
		}
		ref := v.Op.SKU
		if ref == "" {
			ref = v.Op.Barcode
		}
		name, ok := names[ref]
		if !ok {
			if it, err := a.c.Item(ctx, ref); err == nil {
				name = it.Name
			}
			names[ref] = name
		}
		row.ItemName = name
		row.Decision = describeDecisions(v)
		out = append(out, row)
	}
	return out, nil
}

// describeDecisions says where the reviews of an operation stand.
func describeDecisions(v client.OpView) string {
	if len(v.Decisions) == 0 {
		if len(v.ReviewIDs) > 0 {
			return "Waiting for a manager's decision."
		}
		return ""
	}
	var parts []string
	for _, d := range v.Decisions {
		kind := strings.ReplaceAll(d.Kind, "_", " ")
		if d.Status != syncproto.ReviewResolved {
			parts = append(parts, fmt.Sprintf("Review (%s) open: waiting for a manager's decision.", kind))
			continue
		}
		s := fmt.Sprintf("Manager's decision on %s: %s", kind, strings.ReplaceAll(d.Action, "_", " "))
		if d.Action == "settled" {
			s = fmt.Sprintf("Review (%s) settled by a later operation", kind)
		}
		if d.DecidedBy != "" {
			s += " by " + d.DecidedBy
		}
		if d.Note != "" {
			s += ": “" + d.Note + "”"
		}
		parts = append(parts, s+".")
	}
	return strings.Join(parts, " ")
}

// orderLine is one item and batch of an order.
type orderLine struct {
	SKU      string `json:"sku"`
	ItemName string `json:"item_name,omitempty"`
	Batch    string `json:"batch,omitempty"`
	Qty      int64  `json:"qty"`
	// Pending counts the part this device recorded and has not had
	// acknowledged by the server yet; it is included in Qty.
	Pending int64 `json:"pending,omitempty"`
}

// Where an orderView's lines come from.
const (
	// orderFromServer: what the order shipped and got back over every
	// device, as the server has merged it, plus this device's unsent
	// picks and returns on it.
	orderFromServer = "server"
	// orderFromDevice: only what this device recorded on the order; the
	// server could not be asked.
	orderFromDevice = "device"
)

// orderView is what the return screen shows of an order.
type orderView struct {
	Order    string      `json:"order"`
	Shipped  []orderLine `json:"shipped"`
	Returned []orderLine `json:"returned"`
	// Source is orderFromServer or orderFromDevice.
	Source string `json:"source"`
	// Known is true when the order is known to have shipped something.
	Known bool `json:"known"`
	// Note says, when Source is orderFromDevice, why the server was not
	// asked or did not answer.
	Note    string `json:"note,omitempty"`
	Message string `json:"message"`
}

func (a *App) handleOrder(w http.ResponseWriter, r *http.Request) {
	order := strings.TrimSpace(r.PathValue("order"))
	if order == "" {
		writeError(w, http.StatusBadRequest, "invalid", "name the order")
		return
	}
	v, err := a.order(r.Context(), order)
	if err != nil {
		a.internalError(w, "read the order", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// order gathers what an order shipped and got back. The device pulls no
// orders, and a returns desk is rarely the device that picked, so it asks
// the server (what every device shipped, as merged) and adds its own unsent
// picks and returns on the order. When the server cannot be asked it shows
// what this device recorded, and says so.
func (a *App) order(ctx context.Context, order string) (orderView, error) {
	v := orderView{Order: order, Shipped: []orderLine{}, Returned: []orderLine{}, Source: orderFromDevice}
	local := client.OpsFilter{Order: order}
	info, err := a.c.Order(ctx, order)
	switch {
	case err == nil:
		v.Source, local.Pending = orderFromServer, true
		for _, l := range info.Lines {
			addOrderLine(&v.Shipped, l.SKU, l.Batch, l.Shipped, false)
			addOrderLine(&v.Returned, l.SKU, l.Batch, l.Returned, false)
		}
	case ctx.Err() != nil:
		return orderView{}, ctx.Err()
	case errors.Is(err, client.ErrNotEnrolled):
		v.Note = "This device is not enrolled, so it cannot ask the server."
	case client.ErrorCode(err) == syncproto.CodeUnauthorized:
		v.Note = "The server refused this device (revoked or unknown): ask a manager."
	default:
		a.log.InfoContext(ctx, "order lookup failed; showing what this device recorded", "order", order, "err", err)
		v.Note = "The server could not be reached."
	}
	// Only the order's operations, read in SQL: the whole history of a
	// busy device is tens of thousands of them. Online, only the unsent
	// ones are added: the server has the rest. (One whose push was merged
	// but whose answer was lost counts twice until the next sync.)
	ops, err := a.c.Ops(ctx, local)
	if err != nil {
		return orderView{}, err
	}
	for _, o := range ops {
		op := o.Op
		if op.Order != order || o.Status == syncproto.StatusRejected || o.Status == syncproto.StatusHeld {
			continue
		}
		sku := op.SKU
		if sku == "" {
			sku = op.Barcode
			if it, err := a.c.Item(ctx, op.Barcode); err == nil {
				sku = it.SKU
			}
		}
		switch op.Kind {
		case syncproto.KindPick:
			addOrderLine(&v.Shipped, sku, o.Batch, op.Qty, o.Pending)
		case syncproto.KindReturn:
			if len(o.Allocations) > 0 {
				for _, al := range o.Allocations {
					addOrderLine(&v.Returned, sku, al.Batch, al.Qty, o.Pending)
				}
				continue
			}
			addOrderLine(&v.Returned, sku, o.Batch, op.Qty, o.Pending)
		}
	}
	for _, lines := range [][]orderLine{v.Shipped, v.Returned} {
		for i := range lines {
			if it, err := a.c.Item(ctx, lines[i].SKU); err == nil {
				lines[i].ItemName = it.Name
			}
		}
	}
	v.Known = len(v.Shipped) > 0
	const matched = "the server matches the return against what the order shipped, and flags a batch it never shipped for a manager."
	switch {
	case v.Source == orderFromServer && v.Known:
		v.Message = fmt.Sprintf("What %s shipped and got back, from every device (unsent: what this device has not synced yet). The server checks the return against it, and flags a batch it never shipped for a manager.", order)
	case v.Source == orderFromServer:
		v.Message = fmt.Sprintf("The server knows no shipment on %s (its picks may not be synced yet), so this device cannot show what the order shipped. Record the return as it is: %s", order, matched)
	case v.Known:
		v.Message = fmt.Sprintf("%s This is what this device picked on %s. Other devices may have picked more: %s", v.Note, order, matched)
	default:
		v.Message = fmt.Sprintf("%s This device recorded no picks on %s, so it cannot show what the order shipped. Record the return as it is: %s", v.Note, order, matched)
	}
	return v, nil
}

// addOrderLine adds qty of an item and batch to lines (pending when the
// device has not sent it yet); a zero qty adds nothing.
func addOrderLine(lines *[]orderLine, sku, batch string, qty int64, pending bool) {
	if qty == 0 {
		return
	}
	var p int64
	if pending {
		p = qty
	}
	for i := range *lines {
		if l := &(*lines)[i]; l.SKU == sku && l.Batch == batch {
			l.Qty += qty
			l.Pending += p
			return
		}
	}
	*lines = append(*lines, orderLine{SKU: sku, Batch: batch, Qty: qty, Pending: p})
}

// units sums the stock of rows for a person: "12 units".
func units(rows []client.StockRow) string {
	var n int64
	for _, r := range rows {
		n += r.Stock
	}
	return fmt.Sprintf("%d %s", n, plural(int(n), "unit", "units"))
}
