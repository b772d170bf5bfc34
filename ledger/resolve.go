package ledger

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// ResolveReview applies a manager's decision to an open review in one
// transaction: it posts the correcting movements, records who decided, when
// and why, and stamps the review so the decision reaches the devices whose
// operations it involves.
//
// Returns CodeNotFound for an unknown review (or a target batch, SKU or
// location that does not exist), CodeAlreadyResolved when the review was
// already decided, and CodeInvalid for an action that does not fit the
// review.
func (l *Ledger) ResolveReview(ctx context.Context, tenantID, reviewID uuid.UUID, res Resolution) (Review, error) {
	res.By = strings.TrimSpace(res.By)
	if res.By == "" {
		return Review{}, Errorf(CodeInvalid, "a resolution needs who decided (by)")
	}
	if len(res.Note) > MaxNoteLen {
		return Review{}, Errorf(CodeTooLong, "note is longer than %d characters", MaxNoteLen)
	}
	now := l.clock()
	var out Review
	err := l.write(ctx, tenantID, func(tx Tx) error {
		tenant, err := tx.Tenant(ctx, tenantID)
		if err != nil {
			return err
		}
		stored, err := tx.Review(ctx, tenantID, reviewID)
		if err != nil {
			return err
		}
		if stored.Status != ReviewOpen {
			how := ""
			if stored.Resolution != nil {
				how = fmt.Sprintf(" (%s by %s at %s)", stored.Resolution.Action, stored.Resolution.By, stored.Resolution.At.Format("2006-01-02 15:04:05Z07:00"))
			}
			return Errorf(CodeAlreadyResolved, "review %s was already resolved%s", reviewID, how)
		}
		w := newWork(ctx, tx, tenant, now)
		r := w.addReview(&stored)
		rs := &resolver{work: w, r: r, res: res}
		if err := rs.apply(); err != nil {
			return err
		}
		positions := make([]int64, 0, len(w.movements))
		for _, m := range w.movements {
			positions = append(positions, m.Position)
		}
		r.Status = ReviewResolved
		r.Resolution = &ResolutionRecord{Action: res.Action, By: res.By, At: now, Note: res.Note,
			Batch: res.Batch, Qty: res.Qty, SKU: res.SKU, Location: res.Location, Positions: positions}
		w.touchReview(r)
		if err := w.flush(); err != nil {
			return err
		}
		out = *r
		return nil
	})
	return out, err
}

// checkFields refuses a target the action does not use: the audit record
// must never name a SKU, batch or location that played no part.
func (res Resolution) checkFields() error {
	used := map[Action]string{
		ActionAccept: "", ActionReverse: "", ActionReassignBatch: "batch",
		ActionAdjust: "qty location batch", ActionMapReference: "sku location to_location",
	}
	allowed, ok := used[res.Action]
	if !ok {
		return nil // an unknown action is refused by apply
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"batch", res.Batch != ""}, {"qty", res.Qty != 0}, {"sku", res.SKU != ""}, {"location", res.Location != ""}, {"to_location", res.ToLocation != ""}} {
		if f.set && !strings.Contains(" "+allowed+" ", " "+f.name+" ") {
			return Errorf(CodeInvalid, "%s takes no %s", res.Action, f.name)
		}
	}
	return nil
}

type resolver struct {
	*work
	r   *Review
	res Resolution
	// before holds the balance of each key the resolution touched, before
	// it did, so its net effect is judged like an operation's.
	before  map[Key]int64
	touched []Key
}

func (rs *resolver) apply() error {
	r, res := rs.r, rs.res
	rec, err := rs.opRecord(r.OpID)
	if err != nil {
		return err
	}
	held := rec != nil && !rec.Posted
	if err := res.checkFields(); err != nil {
		return err
	}
	switch res.Action {
	case ActionAccept:
		return nil
	case ActionReverse:
		if held {
			return Errorf(CodeInvalid, "operation %s was never posted; there is nothing to reverse (accept dismisses it)", r.OpID)
		}
		err = rs.reverse(rec)
	case ActionReassignBatch:
		err = rs.reassign(rec, held)
	case ActionAdjust:
		err = rs.adjust()
	case ActionMapReference:
		if r.Kind != ReviewUnknownReference {
			return Errorf(CodeInvalid, "map_reference only resolves unknown_reference reviews, not %s", r.Kind)
		}
		if rec == nil || !held {
			return Errorf(CodeInvalid, "operation %s is not held", r.OpID)
		}
		return rs.mapReference(rec)
	case ActionSettled:
		return Errorf(CodeInvalid, "settled is recorded by the ledger, not chosen")
	default:
		return Errorf(CodeInvalid, "unknown action %q (accept, reassign_batch, reverse, adjust, map_reference)", res.Action)
	}
	if err != nil {
		return err
	}
	return rs.judgeStock()
}

// correct posts one resolution movement, effective now: a correction is a
// new fact about the ledger, not a rewrite of when things happened. Only a
// reversal or a reassignment corrects the review's operation (Corrects);
// an adjustment is a fact of its own.
func (rs *resolver) correct(k Key, qty int64, correctsOp bool) error {
	if qty == 0 {
		return nil
	}
	if err := rs.track(k); err != nil {
		return err
	}
	m := Movement{Key: k, Qty: qty, Kind: MoveResolution, EffectiveAt: rs.now, ReviewID: rs.r.ID}
	if correctsOp {
		m.Corrects = rs.r.OpID
	}
	_, err := rs.move(m)
	return err
}

// track records a key's balance before the resolution first touches it.
func (rs *resolver) track(k Key) error {
	if rs.before == nil {
		rs.before = map[Key]int64{}
	}
	if _, ok := rs.before[k]; ok {
		return nil
	}
	bal, err := rs.balance(k)
	if err != nil {
		return err
	}
	rs.before[k] = bal
	rs.touched = append(rs.touched, k)
	return nil
}

// judgeStock applies the negative-stock rule to the resolution's net effect
// on each key: a key it took below zero opens (or joins) negative_stock, a
// key it brought back to zero or above settles the open one. The review
// being resolved is left alone: it is closing.
func (rs *resolver) judgeStock() error {
	for _, k := range rs.touched {
		before, after := rs.before[k], rs.balances[k]
		open, err := rs.openReviews(ReviewNegativeStock, k)
		if err != nil {
			return err
		}
		open = slices.DeleteFunc(open, func(o *Review) bool { return o.ID == rs.r.ID })
		if after < 0 && rs.r.Kind == ReviewNegativeStock && rs.r.Key == k && len(open) == 0 && len(rs.r.Ops) > 1 &&
			(rs.res.Action == ActionReverse || rs.res.Action == ActionReassignBatch) {
			// The decision was about the opening operation; the others
			// that took the key below zero still need one.
			onHand := after
			next := rs.openReview(ReviewNegativeStock, rs.r.Ops[1].OpID, rs.r.Ops[1].DeviceID, k, "",
				Evidence{OnHand: &onHand, Detail: fmt.Sprintf("still negative after the resolution of review %s", rs.r.ID)},
				negativeSuggestions(after))
			for _, o := range rs.r.Ops[2:] {
				rs.joinReview(next, o.OpID, o.DeviceID)
			}
			continue
		}
		switch {
		case after < 0 && after < before:
			onHand := after
			if len(open) > 0 {
				open[0].Evidence.OnHand = &onHand
				rs.touchReview(open[0])
				continue
			}
			rs.openReview(ReviewNegativeStock, rs.r.OpID, rs.r.DeviceID, k, "",
				Evidence{OnHand: &onHand, Detail: fmt.Sprintf("after the resolution of review %s", rs.r.ID)},
				negativeSuggestions(after))
		case after >= 0:
			for _, o := range open {
				rs.settle(o, uuid.Nil, fmt.Sprintf("resolution of review %s brought the stock back to %d", rs.r.ID, after))
			}
		}
	}
	return nil
}

// netByKey sums an operation's stock movements per key: its own, and every
// correction of it. A correction the operation caused to another operation
// (a count absorbing it, a return re-matched by it) belongs to that other
// operation, so each correction is reversed with exactly one of them.
func (rs *resolver) netByKey() (map[Key]int64, []Key, error) {
	movs, err := rs.movementsOfOp(rs.r.OpID)
	if err != nil {
		return nil, nil, err
	}
	net := map[Key]int64{}
	var keys []Key
	for _, m := range movs {
		if m.Corrects != rs.r.OpID && m.Corrects != uuid.Nil {
			continue
		}
		if _, ok := net[m.Key]; !ok {
			keys = append(keys, m.Key)
		}
		net[m.Key] += m.Qty
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Less(keys[j]) })
	return net, keys, nil
}

// orderNet is what a pick shipped, or a return brought back, on its order,
// per batch: its own pick or return movements and the resolutions and
// re-matches that moved them, but not the count corrections that absorbed
// them (those change stock, not what left or came back on the order).
func (rs *resolver) orderNet(rec *OpRecord) (op Operation, byBatch map[uuid.UUID]int64, err error) {
	if rec == nil || (rec.Kind != KindPick && rec.Kind != KindReturn) {
		return op, nil, nil
	}
	if op, err = rec.Operation(); err != nil || op.Order == "" {
		return op, nil, err
	}
	movs, err := rs.movementsOfOp(rec.OpID)
	if err != nil {
		return op, nil, err
	}
	byBatch = map[uuid.UUID]int64{}
	for _, m := range movs {
		own := m.OpID == rec.OpID && (m.Kind == MovePick || m.Kind == MoveReturn)
		moved := m.Corrects == rec.OpID && (m.Kind == MoveResolution || m.Kind == MoveReturnRematch)
		if own || moved {
			qty := m.Qty
			if rec.Kind == KindPick {
				qty = -qty
			}
			byBatch[m.BatchID] += qty
		}
	}
	return op, byBatch, nil
}

// moveOrderQty takes qty of what the operation shipped or returned off the
// order's line for batch from, and puts it on the line for batch to (or
// nowhere, for a reversal).
func (rs *resolver) moveOrderQty(rec *OpRecord, op Operation, itemID, from uuid.UUID, to *uuid.UUID, qty int64) error {
	if qty == 0 {
		return nil
	}
	src, err := rs.orderLine(op.Order, itemID, from)
	if err != nil {
		return err
	}
	var dst *OrderLine
	if to != nil {
		if dst, err = rs.orderLine(op.Order, itemID, *to); err != nil {
			return err
		}
	}
	if rec.Kind == KindPick {
		src.Shipped -= qty
		if dst != nil {
			if dst.Shipped == 0 && dst.FirstPosition == 0 {
				dst.FirstPosition = rs.state.NextPosition - 1
			}
			dst.Shipped += qty
		}
		return nil
	}
	src.Returned -= qty
	if dst != nil {
		dst.Returned += qty
	}
	return nil
}

func (rs *resolver) reverse(rec *OpRecord) error {
	// What the order shipped or got back is read before the corrections
	// below change it.
	op, byBatch, err := rs.orderNet(rec)
	if err != nil {
		return err
	}
	net, keys, err := rs.netByKey()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := rs.correct(k, -net[k], true); err != nil {
			return err
		}
	}
	if byBatch == nil {
		return nil
	}
	item, err := rs.item(rs.r.ItemID)
	if err != nil {
		return err
	}
	for _, b := range sortedBatchIDs(byBatch) {
		if err := rs.moveOrderQty(rec, op, item.ID, b, nil, byBatch[b]); err != nil {
			return err
		}
	}
	return nil
}

func sortedBatchIDs(m map[uuid.UUID]int64) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return compareUUID(ids[i], ids[j]) < 0 })
	return ids
}

func (rs *resolver) reassign(rec *OpRecord, held bool) error {
	r, res := rs.r, rs.res
	if res.Batch == "" {
		return Errorf(CodeInvalid, "reassign_batch needs the target batch")
	}
	it, err := rs.item(r.ItemID)
	if err != nil {
		return Errorf(CodeInvalid, "review %s is not about an item", r.ID)
	}
	if !it.BatchTracked {
		return Errorf(CodeInvalid, "%s is not batch-tracked", it.SKU)
	}
	target, err := rs.batchByCode(it.ID, res.Batch)
	if err != nil {
		return err
	}
	if target == nil {
		return Errorf(CodeNotFound, "batch %s of %s not found", res.Batch, it.SKU)
	}
	if held {
		if r.Kind == ReviewUnknownReference {
			return Errorf(CodeInvalid, "the operation's references are unknown; map them first (map_reference)")
		}
		return rs.releaseHeld(rec, r, target.ID, true)
	}
	moves := func(b uuid.UUID) bool { return b != target.ID && (r.BatchID == NoBatch || b == r.BatchID) }
	op, byBatch, err := rs.orderNet(rec)
	if err != nil {
		return err
	}
	net, keys, err := rs.netByKey()
	if err != nil {
		return err
	}
	moved := false
	for _, k := range keys {
		if !moves(k.BatchID) || net[k] == 0 {
			continue
		}
		dst := Key{LocationID: k.LocationID, ItemID: k.ItemID, BatchID: target.ID}
		if err := rs.correct(k, -net[k], true); err != nil {
			return err
		}
		if err := rs.correct(dst, net[k], true); err != nil {
			return err
		}
		moved = true
	}
	if !moved {
		return Errorf(CodeInvalid, "operation %s has nothing posted to move to batch %s", r.OpID, res.Batch)
	}
	if err := rs.undoAbsorptions(moves); err != nil {
		return err
	}
	if byBatch == nil {
		return nil
	}
	for _, b := range sortedBatchIDs(byBatch) {
		if moves(b) {
			if err := rs.moveOrderQty(rec, op, it.ID, b, &target.ID, byBatch[b]); err != nil {
				return err
			}
		}
	}
	if rec.Kind == KindPick {
		// The order shipped the target batch after all: returns waiting
		// on it may settle.
		return rs.recheckReturns(rec.OpID, op.Order, it.ID)
	}
	// A return now on the target batch is judged there like any other.
	line, err := rs.orderLine(op.Order, it.ID, target.ID)
	if err != nil {
		return err
	}
	if line.Shipped > 0 && line.Returned > line.Shipped {
		k := Key{LocationID: r.LocationID, ItemID: it.ID, BatchID: target.ID}
		if _, err := rs.returnReview(ReviewOverReturn, r.OpID, r.DeviceID, k, op.Order, line.Returned-line.Shipped); err != nil {
			return err
		}
	}
	return nil
}

// undoAbsorptions takes back the corrections by which counts on the batches
// the operation moves off had absorbed it: the operation never touched
// those keys, so what the counts found there stands as counted.
func (rs *resolver) undoAbsorptions(moves func(uuid.UUID) bool) error {
	movs, err := rs.movementsOfOp(rs.r.OpID)
	if err != nil {
		return err
	}
	for _, m := range movs {
		if m.Kind != MoveCountCorrection || m.OpID != rs.r.OpID || m.Corrects == rs.r.OpID || !moves(m.BatchID) {
			continue
		}
		counts, err := rs.countsOn(m.Key)
		if err != nil {
			return err
		}
		for _, c := range counts {
			if c.OpID != m.Corrects {
				continue
			}
			if err := rs.track(m.Key); err != nil {
				return err
			}
			if _, err := rs.move(Movement{Key: m.Key, Qty: -m.Qty, Kind: MoveResolution, EffectiveAt: c.EffectiveAt,
				ReviewID: rs.r.ID, Corrects: c.OpID}); err != nil {
				return err
			}
			c.Expected += m.Qty
			c.Adjusted -= m.Qty
			rs.dirtyCounts[c.OpID] = c
			if err := rs.checkVariance(c, rs.r.OpID, &opCtx{rec: &OpRecord{}, deviceID: rs.r.DeviceID}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (rs *resolver) adjust() error {
	r, res := rs.r, rs.res
	if res.Qty == 0 || res.Qty > MaxQty || res.Qty < -MaxQty {
		return Errorf(CodeInvalid, "adjust needs a non-zero qty within %d", int64(MaxQty))
	}
	k := r.Key
	if k.LocationID == uuid.Nil || k.ItemID == uuid.Nil {
		return Errorf(CodeInvalid, "review %s has no stock key to adjust", r.ID)
	}
	it, err := rs.item(k.ItemID)
	if err != nil {
		return err
	}
	if res.Location != "" {
		cur, err := rs.location(k.LocationID)
		if err != nil {
			return err
		}
		loc, err := rs.locationByCode(cur.WarehouseID, res.Location)
		if err != nil {
			return err
		}
		if loc == nil {
			return Errorf(CodeNotFound, "location %s not found", res.Location)
		}
		k.LocationID = loc.ID
	}
	if res.Batch != "" {
		if !it.BatchTracked {
			return Errorf(CodeInvalid, "%s is not batch-tracked; adjust it without a batch", it.SKU)
		}
		b, err := rs.batchByCode(k.ItemID, res.Batch)
		if err != nil {
			return err
		}
		if b == nil {
			return Errorf(CodeNotFound, "batch %s not found", res.Batch)
		}
		k.BatchID = b.ID
	}
	if it.BatchTracked && k.BatchID == NoBatch {
		return Errorf(CodeInvalid, "%s is batch-tracked; name the batch to adjust", it.SKU)
	}
	return rs.correct(k, res.Qty, false)
}

// mapReference maps the held operation's unknown references and posts it.
// A barcode mapped to a SKU is added to that item, so the next scan of it
// resolves; a location code mapped to itself creates that location. A
// target for a reference that was not unknown is refused rather than
// silently ignored or used to re-route the operation.
func (rs *resolver) mapReference(rec *OpRecord) error {
	r, res := rs.r, rs.res
	unknown := map[string]string{}
	for _, u := range r.Evidence.Unknown {
		unknown[u.Field] = u.Value
	}
	_, skuUnknown := unknown["sku"]
	_, barcodeUnknown := unknown["barcode"]
	_, locUnknown := unknown["location"]
	_, toUnknown := unknown["to_location"]
	switch {
	case res.SKU != "" && !skuUnknown && !barcodeUnknown:
		return Errorf(CodeInvalid, "the operation's item is known; map_reference takes no sku")
	case res.Location != "" && !locUnknown:
		return Errorf(CodeInvalid, "the operation's location is known; map_reference takes no location")
	case res.ToLocation != "" && !toUnknown:
		return Errorf(CodeInvalid, "the operation's to_location is known; map_reference takes no to_location")
	}
	dev, err := rs.tx.Device(rs.ctx, rs.tenantID(), rec.DeviceID)
	if err != nil {
		return err
	}
	op, err := rec.Operation()
	if err != nil {
		return err
	}
	k := r.Key
	if skuUnknown || barcodeUnknown {
		field := "sku"
		if !skuUnknown {
			field = "barcode"
		}
		if res.SKU == "" {
			return Errorf(CodeInvalid, "unknown %s %q: map_reference needs the sku it stands for", field, unknown[field])
		}
		it, err := rs.itemBySKU(res.SKU)
		if err != nil {
			return err
		}
		if it == nil {
			return Errorf(CodeNotFound, "sku %s not found", res.SKU)
		}
		if barcodeUnknown {
			code := unknown["barcode"]
			owners, err := rs.tx.ItemsByBarcode(rs.ctx, rs.tenantID(), []string{code})
			if err != nil {
				return err
			}
			switch owner, known := owners[code]; {
			case known && owner.ID != it.ID:
				return Errorf(CodeBarcodeMismatch, "barcode %s has since been given to %s in the catalog; map it to %s", code, owner.SKU, owner.SKU)
			case !known:
				it.Barcodes = append(it.Barcodes, code)
				rs.itemsByBarcode[code] = it
				rs.newItems = append(rs.newItems, it)
			}
		}
		k.ItemID = it.ID
		op.SKU, op.Barcode = res.SKU, ""
	}
	for _, field := range []string{"location", "to_location"} {
		value, ok := unknown[field]
		if !ok {
			continue
		}
		code := res.Location
		if field == "to_location" {
			code = res.ToLocation
		}
		if code == "" {
			return Errorf(CodeInvalid, "unknown %s %q: map_reference needs the location it stands for", field, value)
		}
		loc, err := rs.locationByCode(dev.WarehouseID, code)
		if err != nil {
			return err
		}
		if loc == nil {
			if code != value {
				return Errorf(CodeNotFound, "location %s not found (map the code to itself to create it)", code)
			}
			loc = rs.addLocation(Location{TenantID: rs.tenantID(), ID: uuid.Must(uuid.NewV7()), WarehouseID: dev.WarehouseID, Code: code})
			rs.newLocs = append(rs.newLocs, loc)
		}
		if field == "location" {
			k.LocationID = loc.ID
			op.Location = code
		} else {
			op.ToLocation = code
		}
	}
	// The mapped operation must be one that would have been accepted had
	// it been scanned that way.
	if err := op.Validate(); err != nil {
		return Errorf(CodeInvalid, "the mapped operation is not valid: %s", ErrorMessage(err))
	}
	mapped := *rec
	mapped.Payload, _ = op.canonicalPayload()
	r.Key = k
	return rs.releaseHeld(&mapped, r, uuid.Nil, true)
}
