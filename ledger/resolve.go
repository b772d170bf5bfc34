package ledger

import (
	"context"
	"fmt"
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
	err := l.store.Write(ctx, tenantID, func(tx Tx) error {
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

type resolver struct {
	*work
	r   *Review
	res Resolution
	// touched keys, for settling negative stock the resolution covered.
	touched []Key
}

func (rs *resolver) apply() error {
	r, res := rs.r, rs.res
	rec, err := rs.opRecord(r.OpID)
	if err != nil {
		return err
	}
	held := rec != nil && !rec.Posted
	switch res.Action {
	case ActionAccept:
		return nil
	case ActionReverse:
		if held {
			return Errorf(CodeInvalid, "operation %s was never posted; there is nothing to reverse (accept dismisses it)", r.OpID)
		}
		return rs.reverse()
	case ActionReassignBatch:
		return rs.reassign(rec, held)
	case ActionAdjust:
		return rs.adjust()
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
}

// correct posts one resolution movement, effective now: a correction is a
// new fact about the ledger, not a rewrite of when things happened.
func (rs *resolver) correct(k Key, qty int64) error {
	if qty == 0 {
		return nil
	}
	if _, err := rs.move(Movement{Key: k, Qty: qty, Kind: MoveResolution, EffectiveAt: rs.now,
		ReviewID: rs.r.ID, Corrects: rs.r.OpID}); err != nil {
		return err
	}
	rs.touched = append(rs.touched, k)
	return rs.settleCovered(k)
}

// settleCovered settles negative_stock on a key the resolution brought back
// to zero or above.
func (rs *resolver) settleCovered(k Key) error {
	bal, err := rs.balance(k)
	if err != nil || bal < 0 {
		return err
	}
	open, err := rs.openReviews(ReviewNegativeStock, k)
	if err != nil {
		return err
	}
	for _, o := range open {
		if o.ID != rs.r.ID {
			rs.settle(o, uuid.Nil, fmt.Sprintf("resolution of review %s brought the stock back to %d", rs.r.ID, bal))
		}
	}
	return nil
}

// netByKey sums an operation's movements (its own, and every correction of
// it) per key.
func (rs *resolver) netByKey() (map[Key]int64, []Key, error) {
	movs, err := rs.movementsOfOp(rs.r.OpID)
	if err != nil {
		return nil, nil, err
	}
	net := map[Key]int64{}
	var keys []Key
	for _, m := range movs {
		if _, ok := net[m.Key]; !ok {
			keys = append(keys, m.Key)
		}
		net[m.Key] += m.Qty
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Less(keys[j]) })
	return net, keys, nil
}

func (rs *resolver) reverse() error {
	net, keys, err := rs.netByKey()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := rs.correct(k, -net[k]); err != nil {
			return err
		}
	}
	return rs.moveOrderReturns(keys, net, nil)
}

// moveOrderReturns keeps an order's returned totals true when a resolution
// moves or removes a return's quantity. to is nil for a reversal.
func (rs *resolver) moveOrderReturns(keys []Key, net map[Key]int64, to *uuid.UUID) error {
	rec, err := rs.opRecord(rs.r.OpID)
	if err != nil || rec == nil || rec.Kind != KindReturn {
		return err
	}
	op, err := rec.Operation()
	if err != nil || op.Order == "" {
		return err
	}
	for _, k := range keys {
		if net[k] == 0 {
			continue
		}
		from, err := rs.orderLine(op.Order, k.ItemID, k.BatchID)
		if err != nil {
			return err
		}
		from.Returned -= net[k]
		if to != nil {
			dst, err := rs.orderLine(op.Order, k.ItemID, *to)
			if err != nil {
				return err
			}
			dst.Returned += net[k]
		}
	}
	return nil
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
		return rs.releaseHeld(rec, r, target.ID)
	}
	net, keys, err := rs.netByKey()
	if err != nil {
		return err
	}
	moved := false
	for _, k := range keys {
		if k.BatchID == target.ID || net[k] == 0 || (r.BatchID != NoBatch && k.BatchID != r.BatchID) {
			continue
		}
		dst := Key{LocationID: k.LocationID, ItemID: k.ItemID, BatchID: target.ID}
		if err := rs.correct(k, -net[k]); err != nil {
			return err
		}
		if err := rs.correct(dst, net[k]); err != nil {
			return err
		}
		moved = true
	}
	if !moved {
		return Errorf(CodeInvalid, "operation %s has nothing posted to move to batch %s", r.OpID, res.Batch)
	}
	var sel []Key
	for _, k := range keys {
		if k.BatchID != target.ID && (r.BatchID == NoBatch || k.BatchID == r.BatchID) {
			sel = append(sel, k)
		}
	}
	return rs.moveOrderReturns(sel, net, &target.ID)
}

func (rs *resolver) adjust() error {
	r, res := rs.r, rs.res
	if res.Qty == 0 {
		return Errorf(CodeInvalid, "adjust needs a non-zero qty")
	}
	k := r.Key
	if k.LocationID == uuid.Nil || k.ItemID == uuid.Nil {
		return Errorf(CodeInvalid, "review %s has no stock key to adjust", r.ID)
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
		b, err := rs.batchByCode(k.ItemID, res.Batch)
		if err != nil {
			return err
		}
		if b == nil {
			return Errorf(CodeNotFound, "batch %s not found", res.Batch)
		}
		k.BatchID = b.ID
	}
	return rs.correct(k, res.Qty)
}

// mapReference maps the held operation's unknown references and posts it.
// A barcode mapped to a SKU is added to that item, so the next scan of it
// resolves; a location code mapped to itself creates that location.
func (rs *resolver) mapReference(rec *OpRecord) error {
	r, res := rs.r, rs.res
	dev, err := rs.tx.Device(rs.ctx, rs.tenantID(), rec.DeviceID)
	if err != nil {
		return err
	}
	k := r.Key
	for _, u := range r.Evidence.Unknown {
		switch u.Field {
		case "sku", "barcode":
			if res.SKU == "" {
				return Errorf(CodeInvalid, "unknown %s %q: map_reference needs the sku it stands for", u.Field, u.Value)
			}
			it, err := rs.itemBySKU(res.SKU)
			if err != nil {
				return err
			}
			if it == nil {
				return Errorf(CodeNotFound, "sku %s not found", res.SKU)
			}
			if u.Field == "barcode" {
				it.Barcodes = append(it.Barcodes, u.Value)
				rs.itemsByBarcode[u.Value] = it
				rs.newItems = append(rs.newItems, it)
			}
			k.ItemID = it.ID
		case "location", "to_location":
			code := res.Location
			if u.Field == "to_location" {
				code = res.ToLocation
			}
			if code == "" {
				return Errorf(CodeInvalid, "unknown %s %q: map_reference needs the location it stands for", u.Field, u.Value)
			}
			loc, err := rs.locationByCode(dev.WarehouseID, code)
			if err != nil {
				return err
			}
			if loc == nil {
				if code != u.Value {
					return Errorf(CodeNotFound, "location %s not found (map the code to itself to create it)", code)
				}
				loc = rs.addLocation(Location{TenantID: rs.tenantID(), ID: uuid.Must(uuid.NewV7()), WarehouseID: dev.WarehouseID, Code: code})
				rs.newLocs = append(rs.newLocs, loc)
			}
			if u.Field == "location" {
				k.LocationID = loc.ID
			}
		}
	}
	op, err := rec.Operation()
	if err != nil {
		return err
	}
	// The operation is re-read under the mapped references.
	mapped := *rec
	if res.SKU != "" {
		op.SKU, op.Barcode = res.SKU, ""
	}
	if res.ToLocation != "" {
		op.ToLocation = res.ToLocation
	}
	payload, _ := op.canonicalPayload()
	mapped.Payload = payload
	r.Key = k
	return rs.releaseHeld(&mapped, r, uuid.Nil)
}
