package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// opCtx is one operation being applied, with its resolved references.
type opCtx struct {
	op       Operation
	rec      *OpRecord
	deviceID uuid.UUID
	eff      time.Time
	item     *Item
	loc      *Location
	toLoc    *Location
	// batchPrefix is the recording device's prefix for generated batches.
	batchPrefix string
	// chosenBatch: a manager chose the batch of this held return; it posts
	// there without being matched against the order again.
	chosenBatch bool
	// reviewID is set when the operation is posted by a review resolution
	// (a held operation being released).
	reviewID uuid.UUID
	// before holds the balance of each touched key before the operation,
	// so negative stock is judged on the operation's net effect.
	before  map[Key]int64
	touched []Key
}

// flag records that the operation opened or joined a review.
func (oc *opCtx) flag(r *Review, msg string) {
	res := &oc.rec.Result
	if slices.Contains(res.ReviewIDs, r.ID) {
		return
	}
	res.ReviewIDs = append(res.ReviewIDs, r.ID)
	if res.Status == StatusApplied {
		res.Status = StatusFlagged
		res.Code = Code(r.Kind)
		res.Message = msg
	}
}

// hold records that the operation is stored but not posted.
func (oc *opCtx) hold(r *Review, msg string) {
	res := &oc.rec.Result
	res.Status = StatusHeld
	res.Code = Code(r.Kind)
	res.Message = msg
	res.ReviewIDs = append([]uuid.UUID{r.ID}, res.ReviewIDs...)
}

func (oc *opCtx) key(loc *Location, batchID uuid.UUID) Key {
	return Key{LocationID: loc.ID, ItemID: oc.item.ID, BatchID: batchID}
}

// post posts one of the operation's own movements and re-derives any count
// it lands before.
func (w *work) post(oc *opCtx, k Key, qty int64, kind MovementKind) (Movement, error) {
	if oc.before == nil {
		oc.before = map[Key]int64{}
	}
	if _, ok := oc.before[k]; !ok {
		bal, err := w.balance(k)
		if err != nil {
			return Movement{}, err
		}
		oc.before[k] = bal
		oc.touched = append(oc.touched, k)
	}
	order := ""
	if kind == MovePick || kind == MoveReturn {
		order = oc.op.Order
	}
	mv, err := w.move(Movement{Key: k, Qty: qty, Kind: kind, EffectiveAt: oc.eff, OpID: oc.op.OpID,
		DeviceID: oc.deviceID, ReviewID: oc.reviewID, Order: order})
	if err != nil {
		return mv, err
	}
	if qty != 0 {
		if err := w.rederive(oc, mv); err != nil {
			return mv, err
		}
	}
	return mv, nil
}

// apply applies a valid operation whose references all resolved.
func (w *work) apply(oc *opCtx) error {
	op := oc.op
	var err error
	switch op.Kind {
	case KindReceive:
		err = w.applyReceive(oc)
	case KindPick:
		err = w.applyPick(oc)
	case KindReturn:
		err = w.applyReturn(oc)
	case KindTransfer:
		var b *Batch
		if b, err = w.opBatch(oc); err == nil {
			if _, err = w.post(oc, oc.key(oc.loc, batchID(b)), -op.Qty, MoveTransferOut); err == nil {
				_, err = w.post(oc, oc.key(oc.toLoc, batchID(b)), op.Qty, MoveTransferIn)
			}
		}
	case KindCount:
		err = w.applyCount(oc)
	case KindAdjust:
		var b *Batch
		if b, err = w.opBatch(oc); err == nil {
			_, err = w.post(oc, oc.key(oc.loc, batchID(b)), op.Qty, MoveAdjust)
		}
	default:
		return fmt.Errorf("apply: unexpected kind %q", op.Kind)
	}
	if err != nil {
		return err
	}
	return w.afterOp(oc)
}

func batchID(b *Batch) uuid.UUID {
	if b == nil {
		return NoBatch
	}
	return b.ID
}

// opBatch returns the operation's batch, creating a batch first seen here
// (received on a device that has not synced yet). Nil for untracked items.
func (w *work) opBatch(oc *opCtx) (*Batch, error) {
	if !oc.item.BatchTracked || oc.op.Batch == "" {
		return nil, nil
	}
	var expiry time.Time
	if oc.op.Expiry != "" {
		expiry, _ = ParseDate(oc.op.Expiry) // validated
	}
	return w.ensureBatch(oc.item.ID, oc.op.Batch, expiry, false)
}

// GeneratedBatchCode is the code the ledger gives a received lot that came
// without one: the device's prefix, the UTC date of occurred_at as the
// device recorded it, and 40 bits of a digest of the op_id. A replay, a
// second server, or the device itself offline computes the same code.
func GeneratedBatchCode(prefix string, opID uuid.UUID, occurredAt time.Time) string {
	sum := sha256.Sum256(opID[:])
	if prefix == "" {
		prefix = "G"
	}
	return fmt.Sprintf("%s-%s-%s", prefix, occurredAt.UTC().Format("060102"), strings.ToUpper(hex.EncodeToString(sum[:5])))
}

// generatedBatchFallback is the code used in the (one in a trillion a day)
// case that GeneratedBatchCode is already taken: more of the same digest,
// so it is still derived from the operation alone.
func generatedBatchFallback(prefix string, opID uuid.UUID, occurredAt time.Time) string {
	sum := sha256.Sum256(opID[:])
	return GeneratedBatchCode(prefix, opID, occurredAt) + "-" + strings.ToUpper(hex.EncodeToString(sum[5:10]))
}

func (w *work) applyReceive(oc *opCtx) error {
	b, err := w.opBatch(oc)
	if err != nil {
		return err
	}
	if oc.item.BatchTracked && b == nil {
		var expiry time.Time
		if oc.op.Expiry != "" {
			expiry, _ = ParseDate(oc.op.Expiry)
		}
		code := GeneratedBatchCode(oc.batchPrefix, oc.op.OpID, oc.op.OccurredAt)
		taken, err := w.batchByCode(oc.item.ID, code)
		if err != nil {
			return err
		}
		if taken != nil && taken.Generated {
			// Another receipt's generated lot: never merge two lots
			// silently. (A lot with this code that is not generated was
			// first seen on a pick of the printed label that synced
			// before this receipt: it is this lot.)
			code = generatedBatchFallback(oc.batchPrefix, oc.op.OpID, oc.op.OccurredAt)
		}
		if b, err = w.ensureBatch(oc.item.ID, code, expiry, true); err != nil {
			return err
		}
		oc.rec.Result.Batch = code
	}
	if b != nil && !b.Expiry.IsZero() && oc.op.Expiry != "" && oc.op.Expiry != FormatDate(b.Expiry) {
		// Checked in checkItem; kept here so a released held receipt is
		// judged the same way.
		return Errorf(CodeExpiryConflict, "batch %s of %s expires %s, the receipt says %s", b.Code, oc.item.SKU, FormatDate(b.Expiry), oc.op.Expiry)
	}
	if b != nil && b.Expiry.IsZero() && oc.op.Expiry != "" {
		// The lot was first seen on a pick that synced before this receipt:
		// it learns its expiry now, and the picks already made of it are
		// judged against it.
		b.Expiry, _ = ParseDate(oc.op.Expiry)
		w.touchBatch(b)
		if err := w.recheckExpiredPicks(b); err != nil {
			return err
		}
	}
	_, err = w.post(oc, oc.key(oc.loc, batchID(b)), oc.op.Qty, MoveReceive)
	return err
}

// recheckExpiredPicks opens expired_batch for every pick of the batch made
// on or after the day after its expiry that has none open.
func (w *work) recheckExpiredPicks(b *Batch) error {
	it, err := w.item(b.ItemID)
	if err != nil {
		return err
	}
	rows, err := w.tx.QueryMovements(w.ctx, w.tenantID(), MovementFilter{SKU: it.SKU, Batch: b.Code})
	if err != nil {
		return err
	}
	movs := make([]Movement, 0, len(rows))
	for _, r := range rows {
		movs = append(movs, r.Movement)
	}
	for _, i := range w.movesByKeyBatch(b.ID) {
		movs = append(movs, w.movements[i])
	}
	expired := b.Expiry.AddDate(0, 0, 1)
	for _, m := range movs {
		if m.Kind != MovePick || m.EffectiveAt.Before(expired) {
			continue
		}
		open, err := w.openOpReviews(ReviewExpiredBatch, m.OpID, m.Key)
		if err != nil {
			return err
		}
		if len(open) > 0 {
			continue
		}
		w.openReview(ReviewExpiredBatch, m.OpID, m.DeviceID, m.Key, m.Order, Evidence{Expiry: FormatDate(b.Expiry), Qty: -m.Qty,
			Detail: "the batch's expiry arrived with a receipt after this pick synced"}, []Suggestion{
			{Action: ActionAccept, Label: "accept: the expired goods left as picked"},
			{Action: ActionReverse, Label: "reverse the pick: the goods were put back"},
		})
	}
	return nil
}

func (w *work) applyPick(oc *opCtx) error {
	b, err := w.opBatch(oc)
	if err != nil {
		return err
	}
	k := oc.key(oc.loc, batchID(b))
	if b != nil && !b.Expiry.IsZero() && !oc.eff.Before(b.Expiry.AddDate(0, 0, 1)) {
		ev := Evidence{Expiry: FormatDate(b.Expiry), Qty: oc.op.Qty}
		r := w.openReview(ReviewExpiredBatch, oc.op.OpID, oc.deviceID, k, oc.op.Order, ev, []Suggestion{
			{Action: ActionAccept, Label: "accept: the expired goods left as picked"},
			{Action: ActionReverse, Label: "reverse the pick: the goods were put back"},
		})
		oc.flag(r, fmt.Sprintf("batch %s expired on %s", b.Code, FormatDate(b.Expiry)))
	}
	mv, err := w.post(oc, k, -oc.op.Qty, MovePick)
	if err != nil {
		return err
	}
	if oc.op.Order == "" {
		return nil
	}
	line, err := w.orderLine(oc.op.Order, oc.item.ID, batchID(b))
	if err != nil {
		return err
	}
	if line.Shipped == 0 && line.FirstPosition == 0 {
		line.FirstPosition = mv.Position
	}
	line.Shipped += oc.op.Qty
	return w.recheckReturns(oc.op.OpID, oc.op.Order, oc.item.ID)
}

// shippedEvidence lists what an order shipped and got back of one item.
func (w *work) shippedEvidence(order string, itemID uuid.UUID) ([]BatchQty, []BatchQty, error) {
	lines, err := w.orderLines(order, itemID)
	if err != nil {
		return nil, nil, err
	}
	var shipped, returned []BatchQty
	for _, l := range lines {
		code := w.batchCode(l.BatchID)
		if l.Shipped > 0 {
			shipped = append(shipped, BatchQty{code, l.Shipped})
		}
		if l.Returned > 0 {
			returned = append(returned, BatchQty{code, l.Returned})
		}
	}
	return shipped, returned, nil
}

// returnReview opens a return conflict on behalf of the return operation,
// with the order's shipments as evidence.
func (w *work) returnReview(kind ReviewKind, opID, deviceID uuid.UUID, k Key, order string, qty int64) (*Review, error) {
	shipped, returned, err := w.shippedEvidence(order, k.ItemID)
	if err != nil {
		return nil, err
	}
	ev := Evidence{Shipped: shipped, Returned: returned, Qty: qty}
	var sugg []Suggestion
	switch kind {
	case ReviewWrongBatchReturn:
		for _, s := range shipped {
			sugg = append(sugg, Suggestion{Action: ActionReassignBatch, Batch: s.Batch,
				Label: fmt.Sprintf("reassign to shipped batch %s", s.Batch)})
		}
		sugg = append(sugg, Suggestion{Action: ActionAccept, Label: "accept the scanned batch"})
	case ReviewOverReturn:
		sugg = []Suggestion{{Action: ActionAccept, Label: "accept: more came back than the ledger shipped"},
			{Action: ActionReverse, Label: "reverse the return"}}
	case ReviewUnknownOrder:
		sugg = []Suggestion{{Action: ActionAccept, Label: "accept the return without a shipment"},
			{Action: ActionReverse, Label: "reverse the return"}}
	}
	return w.openReview(kind, opID, deviceID, k, order, ev, sugg), nil
}

func (w *work) applyReturn(oc *opCtx) error {
	op := oc.op
	b, err := w.opBatch(oc)
	if err != nil {
		return err
	}
	if op.Order == "" {
		_, err := w.post(oc, oc.key(oc.loc, batchID(b)), op.Qty, MoveReturn)
		return err
	}
	if oc.chosenBatch {
		k, line, err := w.postReturn(oc, batchID(b), op.Qty)
		if err != nil {
			return err
		}
		if line.Shipped > 0 && line.Returned > line.Shipped {
			r, err := w.returnReview(ReviewOverReturn, op.OpID, oc.deviceID, k, op.Order, op.Qty)
			if err != nil {
				return err
			}
			oc.flag(r, fmt.Sprintf("order %s shipped %d of batch %s, %d now returned", op.Order, line.Shipped, b.Code, line.Returned))
		}
		return nil
	}
	lines, err := w.orderLines(op.Order, oc.item.ID)
	if err != nil {
		return err
	}
	var shipped []*OrderLine
	for _, l := range lines {
		if l.Shipped > 0 {
			shipped = append(shipped, l)
		}
	}
	noBatch := oc.item.BatchTracked && b == nil

	if len(shipped) == 0 {
		// No known shipment: post what can be posted, hold what cannot.
		k := oc.key(oc.loc, batchID(b))
		if noBatch {
			r, err := w.returnReview(ReviewUnknownOrder, op.OpID, oc.deviceID, k, op.Order, op.Qty)
			if err != nil {
				return err
			}
			r.Suggestions = []Suggestion{{Action: ActionReassignBatch, Label: "post the return to a batch you choose"},
				{Action: ActionAccept, Label: "dismiss: leave the return unposted"}}
			oc.hold(r, fmt.Sprintf("order %s has no known shipment of %s; held until it syncs or a manager decides", op.Order, oc.item.SKU))
			return nil
		}
		if _, _, err := w.postReturn(oc, batchID(b), op.Qty); err != nil {
			return err
		}
		r, err := w.returnReview(ReviewUnknownOrder, op.OpID, oc.deviceID, k, op.Order, op.Qty)
		if err != nil {
			return err
		}
		oc.flag(r, fmt.Sprintf("order %s has no known shipment of %s", op.Order, oc.item.SKU))
		return nil
	}

	if !noBatch {
		k, line, err := w.postReturn(oc, batchID(b), op.Qty)
		if err != nil {
			return err
		}
		switch {
		case oc.item.BatchTracked && line.Shipped == 0:
			r, err := w.returnReview(ReviewWrongBatchReturn, op.OpID, oc.deviceID, k, op.Order, op.Qty)
			if err != nil {
				return err
			}
			oc.flag(r, fmt.Sprintf("order %s never shipped batch %s of %s", op.Order, b.Code, oc.item.SKU))
		case line.Returned > line.Shipped:
			r, err := w.returnReview(ReviewOverReturn, op.OpID, oc.deviceID, k, op.Order, op.Qty)
			if err != nil {
				return err
			}
			oc.flag(r, fmt.Sprintf("order %s shipped %d of %s, %d now returned", op.Order, line.Shipped, oc.item.SKU, line.Returned))
		}
		return nil
	}

	// No batch scanned: split across the shipped batches in shipment order.
	remaining := op.Qty
	var allocs []Allocation
	for _, l := range shipped {
		take := min(max(l.Shipped-l.Returned, 0), remaining)
		if take == 0 {
			continue
		}
		if err := w.allocateReturn(oc, l, take, &allocs); err != nil {
			return err
		}
		remaining -= take
	}
	if remaining > 0 {
		// More than was shipped and not yet returned: the excess goes to the
		// last shipped batch, and a person looks at it.
		l := shipped[len(shipped)-1]
		if err := w.allocateReturn(oc, l, remaining, &allocs); err != nil {
			return err
		}
		r, err := w.returnReview(ReviewOverReturn, op.OpID, oc.deviceID, oc.key(oc.loc, l.BatchID), op.Order, op.Qty)
		if err != nil {
			return err
		}
		r.Evidence.Excess = remaining
		oc.flag(r, fmt.Sprintf("order %s has %d of %s left to return, %d came back", op.Order, op.Qty-remaining, oc.item.SKU, op.Qty))
	}
	oc.rec.Result.Allocations = allocs
	codes := make([]string, len(allocs))
	for i, a := range allocs {
		codes[i] = a.Batch
	}
	oc.rec.Result.Batch = strings.Join(codes, ",")
	return nil
}

// postReturn posts qty of a return on an order to a batch at the return's
// location, and counts it as returned on the order's line for that batch.
func (w *work) postReturn(oc *opCtx, batchID uuid.UUID, qty int64) (Key, *OrderLine, error) {
	k := oc.key(oc.loc, batchID)
	if _, err := w.post(oc, k, qty, MoveReturn); err != nil {
		return k, nil, err
	}
	line, err := w.orderLine(oc.op.Order, oc.item.ID, batchID)
	if err != nil {
		return k, nil, err
	}
	line.Returned += qty
	return k, line, nil
}

func (w *work) allocateReturn(oc *opCtx, l *OrderLine, qty int64, allocs *[]Allocation) error {
	if _, _, err := w.postReturn(oc, l.BatchID, qty); err != nil {
		return err
	}
	code := w.batchCode(l.BatchID)
	for i := range *allocs {
		if (*allocs)[i].Batch == code {
			(*allocs)[i].Qty += qty
			return nil
		}
	}
	*allocs = append(*allocs, Allocation{Batch: code, Qty: qty})
	return nil
}

// recheckReturns re-evaluates the open return reviews on an order after a
// shipment of the item arrived: a late pick can settle them.
func (w *work) recheckReturns(by uuid.UUID, order string, itemID uuid.UUID) error {
	reviews, err := w.openOrderReviews(order, itemID)
	if err != nil {
		return err
	}
	// Returns posted while the order had no known shipment are judged in
	// the order they arrived, each against what came back before it, as if
	// the shipment had been known all along.
	returnedBefore := map[uuid.UUID]int64{}
	for _, r := range reviews {
		if r.Kind == ReviewUnknownOrder {
			if _, ok := returnedBefore[r.BatchID]; !ok {
				line, err := w.orderLine(order, itemID, r.BatchID)
				if err != nil {
					return err
				}
				returnedBefore[r.BatchID] = line.Returned
			}
			returnedBefore[r.BatchID] -= r.Evidence.Qty
		}
	}
	for _, r := range reviews {
		switch r.Kind {
		case ReviewUnknownOrder:
			rec, err := w.opRecord(r.OpID)
			if err != nil {
				return err
			}
			if rec == nil {
				continue
			}
			w.settle(r, by, fmt.Sprintf("operation %s shipped order %s", by, order))
			if !rec.Posted {
				// The held return can be matched now.
				if err := w.releaseHeld(rec, r, uuid.Nil, false); err != nil {
					return err
				}
				continue
			}
			returnedBefore[r.BatchID] += r.Evidence.Qty
			if err := w.evaluateReturn(r.OpID, r.DeviceID, r.Key, order, r.Evidence.Qty, returnedBefore[r.BatchID]); err != nil {
				return err
			}
		case ReviewWrongBatchReturn:
			line, err := w.orderLine(order, itemID, r.BatchID)
			if err != nil {
				return err
			}
			if line.Shipped > 0 {
				w.settle(r, by, fmt.Sprintf("operation %s shipped batch %s on order %s", by, w.batchCode(r.BatchID), order))
				if line.Returned > line.Shipped {
					if _, err := w.returnReview(ReviewOverReturn, r.OpID, r.DeviceID, r.Key, order, r.Evidence.Qty); err != nil {
						return err
					}
				}
			}
		case ReviewOverReturn:
			if r.Evidence.Excess > 0 {
				if err := w.rematchReturn(r, by); err != nil {
					return err
				}
				line, err := w.orderLine(order, itemID, r.BatchID)
				if err != nil {
					return err
				}
				if r.Evidence.Excess == 0 || line.Returned <= line.Shipped {
					w.settle(r, by, fmt.Sprintf("operation %s shipped what the return's excess belonged to on order %s", by, order))
				}
				continue
			}
			line, err := w.orderLine(order, itemID, r.BatchID)
			if err != nil {
				return err
			}
			if line.Returned <= line.Shipped {
				w.settle(r, by, fmt.Sprintf("operation %s shipped enough on order %s", by, order))
			}
		}
	}
	return nil
}

// rematchReturn handles a late shipment for a return that came without a
// batch and had its excess put on the last shipped batch (r.Evidence.Excess):
// the excess moves to batches the order has shipped since, at the return's
// location and effective time, as if they had been there when the return
// was matched, so arrival order does not decide the batch. A count that
// measured the bin since re-derives as it would for any late movement.
func (w *work) rematchReturn(r *Review, by uuid.UUID) error {
	rec, err := w.opRecord(r.OpID)
	if err != nil || rec == nil || rec.Kind != KindReturn {
		return err
	}
	from, err := w.orderLine(r.Order, r.ItemID, r.BatchID)
	if err != nil {
		return err
	}
	lines, err := w.orderLines(r.Order, r.ItemID)
	if err != nil {
		return err
	}
	// The rematch is judged like the return it corrects (negative stock,
	// count re-derivation), with flags on a scratch result: the return's
	// stored result does not change.
	op, err := rec.Operation()
	if err != nil {
		return err
	}
	oc := &opCtx{op: op, rec: &OpRecord{Result: Result{Status: StatusApplied}}, deviceID: rec.DeviceID, before: map[Key]int64{}}
	for _, to := range lines {
		take := min(r.Evidence.Excess, to.Shipped-to.Returned)
		if to == from || take <= 0 {
			continue
		}
		dst := Key{LocationID: r.LocationID, ItemID: r.ItemID, BatchID: to.BatchID}
		for _, m := range []Movement{{Key: r.Key, Qty: -take}, {Key: dst, Qty: take}} {
			m.Kind, m.EffectiveAt, m.OpID, m.DeviceID, m.Corrects, m.Order = MoveReturnRematch, rec.EffectiveAt, by, rec.DeviceID, r.OpID, r.Order
			if _, seen := oc.before[m.Key]; !seen {
				bal, err := w.balance(m.Key)
				if err != nil {
					return err
				}
				oc.before[m.Key] = bal
				oc.touched = append(oc.touched, m.Key)
			}
			mv, err := w.move(m)
			if err != nil {
				return err
			}
			if err := w.rederive(oc, mv); err != nil {
				return err
			}
		}
		from.Returned -= take
		to.Returned += take
		w.dirtyLines[orderLineRef{r.Order, lineRef{to.ItemID, to.BatchID}}] = to
		r.Evidence.Excess -= take
		w.touchReview(r)
	}
	return w.afterOp(oc)
}

// evaluateReturn opens the review a posted return deserves now that its
// order has shipments.
// returned is what the order's line had got back up to and including this
// return.
func (w *work) evaluateReturn(opID, deviceID uuid.UUID, k Key, order string, qty, returned int64) error {
	it, err := w.item(k.ItemID)
	if err != nil {
		return err
	}
	line, err := w.orderLine(order, k.ItemID, k.BatchID)
	if err != nil {
		return err
	}
	switch {
	case it.BatchTracked && line.Shipped == 0:
		_, err = w.returnReview(ReviewWrongBatchReturn, opID, deviceID, k, order, qty)
	case returned > line.Shipped:
		_, err = w.returnReview(ReviewOverReturn, opID, deviceID, k, order, qty)
	}
	return err
}

// releaseHeld posts a held operation: its references are known now (a
// shipment arrived, or a manager mapped them). Reviews it opens name it.
// batchOverride, when set, is the batch a manager chose; byResolution marks
// the movements as posted by the resolution of review r.
func (w *work) releaseHeld(rec *OpRecord, r *Review, batchOverride uuid.UUID, byResolution bool) error {
	op, err := rec.Operation()
	if err != nil {
		return fmt.Errorf("decode held op %s: %w", rec.OpID, err)
	}
	it, err := w.item(r.ItemID)
	if err != nil {
		return err
	}
	loc, err := w.location(r.LocationID)
	if err != nil {
		return err
	}
	// Results of a released operation are not stored: the device keeps the
	// held result and learns the outcome from the review.
	scratch := *rec
	dev, err := w.tx.Device(w.ctx, w.tenantID(), rec.DeviceID)
	if err != nil {
		return err
	}
	oc := &opCtx{op: op, rec: &scratch, deviceID: rec.DeviceID, batchPrefix: dev.BatchPrefix, eff: rec.EffectiveAt, item: it, loc: loc}
	oc.rec.Result = Result{Status: StatusApplied}
	if err := w.checkItem(oc); err != nil {
		return Errorf(CodeInvalid, "operation %s cannot be posted: %s", rec.OpID, ErrorMessage(err))
	}
	if byResolution {
		oc.reviewID = r.ID
	}
	if batchOverride != uuid.Nil {
		b, err := w.batch(batchOverride)
		if err != nil {
			return err
		}
		oc.op.Batch, oc.chosenBatch = b.Code, true
	}
	if op.ToLocation != "" {
		oc.toLoc, err = w.locationByCode(loc.WarehouseID, op.ToLocation)
		if err != nil {
			return err
		}
		if oc.toLoc == nil {
			return Errorf(CodeInvalid, "to_location %q does not exist", op.ToLocation)
		}
	}
	if err := w.apply(oc); err != nil {
		return err
	}
	if oc.rec.Result.Status == StatusHeld {
		return nil
	}
	w.markPosted(rec)
	return nil
}

// afterOp judges the operation's net effect on each key it touched: a key
// it took below zero opens (or joins) negative_stock; a key it brought back
// to zero or above settles the open one.
func (w *work) afterOp(oc *opCtx) error {
	for _, k := range oc.touched {
		before, after := oc.before[k], w.balances[k]
		open, err := w.openReviews(ReviewNegativeStock, k)
		if err != nil {
			return err
		}
		switch {
		case after < 0 && after < before:
			onHand := after
			if len(open) > 0 {
				r := open[0]
				w.joinReview(r, oc.op.OpID, oc.deviceID)
				r.Evidence.OnHand = &onHand
				r.Suggestions = negativeSuggestions(after)
				oc.flag(r, fmt.Sprintf("stock of %s at %s is %d", r.Evidence.SKU, r.Evidence.Location, after))
				continue
			}
			r := w.openReview(ReviewNegativeStock, oc.op.OpID, oc.deviceID, k, "",
				Evidence{OnHand: &onHand, Qty: oc.op.Qty}, negativeSuggestions(after))
			oc.flag(r, fmt.Sprintf("stock of %s at %s is %d", r.Evidence.SKU, r.Evidence.Location, after))
		case after >= 0:
			for _, r := range open {
				w.settle(r, oc.op.OpID, fmt.Sprintf("operation %s brought the stock back to %d", oc.op.OpID, after))
			}
		}
	}
	return nil
}

func negativeSuggestions(onHand int64) []Suggestion {
	return []Suggestion{
		{Action: ActionAccept, Label: "accept: a receipt will sync later"},
		{Action: ActionAdjust, Qty: -onHand, Label: fmt.Sprintf("adjust +%d to bring the stock to zero", -onHand)},
		{Action: ActionReverse, Label: "reverse the operation"},
	}
}

func (w *work) applyCount(oc *opCtx) error {
	b, err := w.opBatch(oc)
	if err != nil {
		return err
	}
	k := oc.key(oc.loc, batchID(b))
	expected, err := w.stockAsOf(k, oc.eff)
	if err != nil {
		return err
	}
	// A count at the same time that sorts after this one (by op_id) is not
	// part of what this count measured.
	counts, err := w.countsOn(k)
	if err != nil {
		return err
	}
	for _, c := range counts {
		if c.EffectiveAt.Equal(oc.eff) && compareUUID(c.OpID, oc.op.OpID) > 0 {
			expected -= c.Adjusted
		}
	}
	counted := oc.op.Qty
	// The count posts even with no variance: the zero movement records that
	// the key was counted, and every posted operation has a movement.
	if _, err := w.post(oc, k, counted-expected, MoveCount); err != nil {
		return err
	}
	c := &CountRecord{OpID: oc.op.OpID, DeviceID: oc.deviceID, Key: k, EffectiveAt: oc.eff,
		Counted: counted, Expected: expected, Adjusted: counted - expected}
	if err := w.preloadCounts([]Key{k}); err != nil {
		return err
	}
	w.addCount(c)
	if err := w.checkVariance(c, oc.op.OpID, oc); err != nil {
		return err
	}

	// Movements already posted within the clock uncertainty of the count
	// cannot be ordered against it with confidence.
	u := w.tenant.Settings.ClockUncertainty
	if u <= 0 {
		return nil
	}
	from, to := countWindow(oc.eff, u)
	near, err := w.movementsBetween(k, from, to)
	if err != nil {
		return err
	}
	var nearby []NearbyMovement
	for _, m := range near {
		if m.OpID != oc.op.OpID && isPrimary(m.Kind) && m.Kind != MoveCount {
			nearby = append(nearby, NearbyMovement{OpID: m.OpID, Kind: string(m.Kind), Qty: m.Qty, EffectiveAt: m.EffectiveAt})
		}
	}
	if len(nearby) > 0 {
		r, err := w.ambiguityReview(c)
		if err != nil {
			return err
		}
		addNearby(&r.Evidence, nearby...)
		oc.flag(r, fmt.Sprintf("%d movement(s) within %s of the count", len(nearby), u))
	}
	return nil
}

// countWindow is the window of effective times a count at t cannot be
// ordered against with confidence: strictly within u of it.
func countWindow(t time.Time, u time.Duration) (from, to time.Time) {
	return t.Add(-u + time.Microsecond), t.Add(u - time.Microsecond)
}

// addNearby adds movements to a count's evidence, each operation's
// movement of a kind once, counting those beyond MaxNearby.
func addNearby(ev *Evidence, add ...NearbyMovement) {
	for _, n := range add {
		switch {
		case slices.ContainsFunc(ev.Nearby, func(x NearbyMovement) bool { return x.OpID == n.OpID && x.Kind == n.Kind }):
		case len(ev.Nearby) < MaxNearby:
			ev.Nearby = append(ev.Nearby, n)
		default:
			// A movement is posted once, so it cannot come back here.
			ev.NearbyMore++
		}
	}
}

// isPrimary is true for movements an operation posts for itself, as opposed
// to corrections the ledger or a manager posts.
func isPrimary(k MovementKind) bool {
	return k != MoveCountCorrection && k != MoveResolution
}

// ambiguityReview returns the open count_ambiguous review of a count,
// opening it if needed.
func (w *work) ambiguityReview(c *CountRecord) (*Review, error) {
	open, err := w.openOpReviews(ReviewCountAmbiguous, c.OpID, c.Key)
	if err != nil {
		return nil, err
	}
	for _, r := range open {
		w.touchReview(r)
		return r, nil
	}
	counted, expected := c.Counted, c.Expected
	// Only accept is suggested: every suggestion must apply with one
	// click, and no adjustment quantity follows from the evidence (the
	// manager who knows the true order can still resolve with adjust and a
	// quantity).
	return w.openReview(ReviewCountAmbiguous, c.OpID, c.DeviceID, c.Key, "",
		Evidence{Counted: &counted, Expected: &expected}, []Suggestion{
			{Action: ActionAccept, Label: "accept: the ledger ordered them by effective time"},
		}), nil
}

// checkVariance opens, updates or settles a count's count_variance review.
func (w *work) checkVariance(c *CountRecord, by uuid.UUID, oc *opCtx) error {
	found, err := w.openOpReviews(ReviewCountVariance, c.OpID, c.Key)
	if err != nil {
		return err
	}
	var open *Review
	for _, r := range found {
		open = r
	}
	threshold := w.tenant.Settings.CountVarianceThreshold
	variance := c.Variance()
	over := variance > threshold || -variance > threshold
	counted, expected := c.Counted, c.Expected
	switch {
	case over && open == nil:
		r := w.openReview(ReviewCountVariance, c.OpID, c.DeviceID, c.Key, "",
			Evidence{Counted: &counted, Expected: &expected, Threshold: &threshold, Qty: variance}, []Suggestion{
				{Action: ActionAccept, Label: fmt.Sprintf("accept the count: post %+d", variance)},
				{Action: ActionReverse, Label: "reverse the count's adjustment and recount"},
			})
		if by != c.OpID {
			w.joinReview(r, by, oc.deviceID)
		} else {
			oc.flag(r, fmt.Sprintf("counted %d, expected %d", counted, expected))
		}
	case over:
		open.Evidence.Counted, open.Evidence.Expected, open.Evidence.Qty = &counted, &expected, variance
		w.touchReview(open)
	case open != nil:
		w.settle(open, by, fmt.Sprintf("operation %s re-derived the count: variance now %+d", by, variance))
	}
	return nil
}

// countsBefore reports whether movement mv is part of the stock count c
// measured: it is effective at or before the count. Two counts at the same
// time are ordered by op_id, so arrival order never decides which of them
// stands.
func countsBefore(mv Movement, c *CountRecord) bool {
	if mv.Kind == MoveCount && c.EffectiveAt.Equal(mv.EffectiveAt) {
		return compareUUID(mv.OpID, c.OpID) < 0
	}
	return !c.EffectiveAt.Before(mv.EffectiveAt)
}

// rederive keeps posted counts true to their effective time when a movement
// lands before them: the earliest count at or after the movement absorbs it
// with a correcting movement, so the stock as of the count still equals what
// was counted. Counts within the clock uncertainty open count_ambiguous.
func (w *work) rederive(oc *opCtx, mv Movement) error {
	counts, err := w.countsOn(mv.Key)
	if err != nil {
		return err
	}
	if len(counts) == 0 {
		return nil
	}
	u := w.tenant.Settings.ClockUncertainty
	var target *CountRecord
	for _, c := range counts {
		if c.OpID == mv.OpID {
			continue
		}
		if target == nil && countsBefore(mv, c) {
			target = c
		}
		d := c.EffectiveAt.Sub(mv.EffectiveAt)
		if mv.Kind != MoveCount && u > 0 && d < u && d > -u {
			r, err := w.ambiguityReview(c)
			if err != nil {
				return err
			}
			w.joinReview(r, mv.OpID, mv.DeviceID)
			addNearby(&r.Evidence, NearbyMovement{OpID: mv.OpID, Kind: string(mv.Kind), Qty: mv.Qty, EffectiveAt: mv.EffectiveAt})
			oc.flag(r, fmt.Sprintf("within %s of a count on the same bin", u))
		}
	}
	if target == nil {
		return nil
	}
	if _, err := w.move(Movement{Key: mv.Key, Qty: -mv.Qty, Kind: MoveCountCorrection, EffectiveAt: target.EffectiveAt,
		OpID: mv.OpID, DeviceID: mv.DeviceID, ReviewID: mv.ReviewID, Corrects: target.OpID}); err != nil {
		return err
	}
	target.Expected += mv.Qty
	target.Adjusted -= mv.Qty
	w.dirtyCounts[target.OpID] = target
	return w.checkVariance(target, mv.OpID, oc)
}
