package scan

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"stocksync/client"
	"stocksync/syncproto"
)

// Undo never deletes: what was recorded happened as far as the ledger
// knows, and may already be on the server. It records the operation that
// reverses the last one recorded from this app, pointing at it with a
// note "undo of <op_id> (<kind> #<seq>)":
//
//   - receive: adjust −qty at the same location and batch, reason "undo";
//   - pick on an order: a return of the same batch on that order, reason
//     "undo", so the order's shipped quantity nets to what really left;
//     a pick without an order: adjust +qty, reason "undo";
//   - return on an order: a pick of the same batch on that order (each
//     batch the server matched it to); without an order: adjust −qty;
//   - transfer: a transfer back, from the target to the source;
//   - adjust: adjust by the opposite quantity, reason "undo";
//   - count: cannot be reversed, because a count records what was on the
//     shelf, not a change: count again, and the later count wins.
//
// An operation the server rejected changed nothing, and one it holds or
// flagged for a review (open or decided) is for the manager's review to
// reverse: a manager's correction plus an undo would reverse it twice, and
// an undo could settle an open review behind the manager's back. None of
// them gets a reversal.
//
// A return split over batches is reversed by one operation per batch,
// recorded one after the other. When one of them fails, the ones recorded
// stay, the error says which, and the next Undo records only the parts
// that have no reversal yet (an operation whose note reads "undo of
// <op_id>" with the same kind, batch, quantity and location).

// undoReason is the reason code of reversing adjusts and returns.
const undoReason = "undo"

// undoNotePrefix starts the note of every reversal, followed by the op_id
// of the operation it reverses.
const undoNotePrefix = "undo of "

// reversalOf returns the operation op reverses, when it is a reversal the
// app recorded.
func reversalOf(op syncproto.Op) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(op.Note, undoNotePrefix)
	if !ok || len(rest) < 36 {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest[:36])
	return id, err == nil
}

// undoResponse is what an undo did.
type undoResponse struct {
	// Undone is the operation reversed (or found beyond reversal).
	Undone   opRow             `json:"undone"`
	Recorded []client.Recorded `json:"recorded"`
	Message  string            `json:"message"`
	Tone     string            `json:"tone"`
}

// undoRefusal is an undo the app cannot do, with what to do instead. pop
// says whether the operation leaves the undo stack (nothing the app can
// do will ever reverse it, so the next undo goes to the one before).
type undoRefusal struct {
	code, msg string
	pop       bool
}

func (e *undoRefusal) Error() string { return e.msg }

// undoPartial is an undo that recorded part of a reversal and then
// failed: its message says what was recorded and what was not.
type undoPartial struct {
	msg string
	err error
}

func (e *undoPartial) Error() string { return e.msg }
func (e *undoPartial) Unwrap() error { return e.err }

func (a *App) handleUndo(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	out, err := a.undo(r.Context())
	var ref *undoRefusal
	if errors.As(err, &ref) {
		writeError(w, http.StatusConflict, ref.code, ref.msg)
		return
	}
	var part *undoPartial
	if errors.As(err, &part) {
		code := "partly_undone"
		if c := client.ErrorCode(err); c != "" {
			code = string(c)
		}
		writeError(w, http.StatusUnprocessableEntity, code, part.msg)
		return
	}
	if err != nil {
		a.recordError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// undo records the reversal of the newest operation on the undo stack.
func (a *App) undo(ctx context.Context) (undoResponse, error) {
	a.undoMu.Lock()
	defer a.undoMu.Unlock()
	if len(a.undoStack) == 0 {
		return undoResponse{}, &undoRefusal{code: "nothing_to_undo",
			msg: "Nothing to undo: Undo reverses what was recorded in this app since it started, newest first."}
	}
	id := a.undoStack[len(a.undoStack)-1]
	v, err := a.findOp(ctx, id)
	if err != nil {
		return undoResponse{}, err
	}
	ins, refusal := a.reversal(ctx, v)
	if refusal != nil {
		if refusal.pop {
			a.undoStack = a.undoStack[:len(a.undoStack)-1]
		}
		return undoResponse{}, refusal
	}
	out := undoResponse{Undone: opRow{OpView: v, Title: describeOp(v.Op, v.Batch)}, Tone: ToneSuccess}
	// An undo that failed part-way recorded some parts already: those
	// are not recorded again.
	ins, earlier, err := a.notYetReversed(ctx, id, ins)
	if err != nil {
		return undoResponse{}, err
	}
	var done []string
	for i, in := range ins {
		rec, err := a.c.Record(ctx, in)
		if err != nil {
			if len(out.Recorded)+len(earlier) == 0 {
				return undoResponse{}, err
			}
			// Part of a split return was reversed: say what was and what
			// was not, and leave the operation on the stack for the rest.
			recorded := append(slices.Clone(earlier), done...)
			var left []string
			for _, l := range ins[i:] {
				left = append(left, fmt.Sprintf("%s %d × %s (batch %s)", l.Kind, l.Qty, cmp.Or(l.SKU, l.Barcode), cmp.Or(l.Batch, "-")))
			}
			return undoResponse{}, &undoPartial{err: err, msg: fmt.Sprintf(
				"Undo of %s is only partly recorded: recorded %s; not recorded %s (%s). Undo again to record the rest: what was recorded is not repeated.",
				out.Undone.Title, strings.Join(recorded, " and "), strings.Join(left, " and "), undoCause(err))}
		}
		out.Recorded = append(out.Recorded, rec)
		done = append(done, describeOp(rec.Op, rec.Batch))
	}
	a.undoStack = a.undoStack[:len(a.undoStack)-1]
	all := append(slices.Clone(earlier), done...)
	out.Message = fmt.Sprintf("Undone %s: recorded %s. Nothing was deleted.", out.Undone.Title, strings.Join(all, " and "))
	return out, nil
}

// undoCause is why recording a reversal failed, for a person.
func undoCause(err error) string {
	var pe *syncproto.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// notYetReversed drops from ins the reversals of id already recorded (by
// an undo that failed part-way), and describes those.
func (a *App) notYetReversed(ctx context.Context, id uuid.UUID, ins []client.OpInput) ([]client.OpInput, []string, error) {
	ops, err := a.c.Ops(ctx, client.OpsFilter{Limit: opsWindow})
	if err != nil {
		return nil, nil, err
	}
	var earlier []client.OpView
	for _, v := range ops {
		if rid, ok := reversalOf(v.Op); ok && rid == id {
			earlier = append(earlier, v)
		}
	}
	if len(earlier) == 0 {
		return ins, nil, nil
	}
	var rest []client.OpInput
	var done []string
	for _, in := range ins {
		i := slices.IndexFunc(earlier, func(v client.OpView) bool {
			op := v.Op
			return op.Kind == in.Kind && op.Qty == in.Qty && op.Location == in.Location &&
				op.ToLocation == in.ToLocation && op.Order == in.Order && (op.Batch == in.Batch || v.Batch == in.Batch)
		})
		if i < 0 {
			rest = append(rest, in)
			continue
		}
		done = append(done, describeOp(earlier[i].Op, earlier[i].Batch))
		earlier = slices.Delete(earlier, i, i+1)
	}
	return rest, done, nil
}

// findOp returns the operation with id from the device's list.
func (a *App) findOp(ctx context.Context, id uuid.UUID) (client.OpView, error) {
	for _, limit := range []int{opsWindow, 0} {
		ops, err := a.c.Ops(ctx, client.OpsFilter{Limit: limit})
		if err != nil {
			return client.OpView{}, err
		}
		if i := slices.IndexFunc(ops, func(v client.OpView) bool { return v.Op.OpID == id }); i >= 0 {
			return ops[i], nil
		}
	}
	return client.OpView{}, fmt.Errorf("operation %s is not in this device's database", id)
}

// reversal builds the operations that reverse v, or says why there are
// none.
func (a *App) reversal(ctx context.Context, v client.OpView) ([]client.OpInput, *undoRefusal) {
	op := v.Op
	what := describeOp(op, v.Batch)
	switch v.Status {
	case syncproto.StatusRejected:
		return nil, &undoRefusal{code: "cannot_undo", pop: true,
			msg: fmt.Sprintf("Nothing to undo: the server rejected %s (%s), so it changed no stock.", what, v.Message)}
	case syncproto.StatusHeld:
		return nil, &undoRefusal{code: "cannot_undo", pop: true,
			msg: fmt.Sprintf("Not undone: the server holds %s for a manager (%s). Ask the manager to reverse it in the review; the next Undo goes to the operation before it.", what, v.Message)}
	}
	if len(v.ReviewIDs) > 0 || len(v.Decisions) > 0 {
		// A flagged operation: the manager's review owns its correction.
		return nil, &undoRefusal{code: "cannot_undo", pop: true,
			msg: fmt.Sprintf("Not undone: %s is under a manager's review. Ask a manager to reverse it in the review, so it is not corrected twice; the next Undo goes to the operation before it.", what)}
	}
	if op.Kind == syncproto.KindCount {
		return nil, &undoRefusal{code: "cannot_undo",
			msg: fmt.Sprintf("A count cannot be undone: %s records what was on the shelf, not a change. If it was wrong, count again: the later count wins.", what)}
	}
	tracked := false
	ref := cmp.Or(op.SKU, op.Barcode)
	if it, err := a.c.Item(ctx, ref); err == nil {
		tracked = it.BatchTracked
	}
	batch := op.Batch
	if tracked {
		batch = v.Batch
	}
	base := client.OpInput{SKU: op.SKU, Barcode: op.Barcode, Actor: op.Actor,
		Note: fmt.Sprintf("%s%s (%s #%d)", undoNotePrefix, op.OpID, op.Kind, op.Seq)}
	with := func(f func(*client.OpInput)) client.OpInput {
		in := base
		f(&in)
		return in
	}
	adjust := func(qty int64, batch string) client.OpInput {
		return with(func(in *client.OpInput) {
			in.Kind, in.Qty, in.Location, in.Batch, in.Reason = syncproto.KindAdjust, qty, op.Location, batch, undoReason
		})
	}
	switch op.Kind {
	case syncproto.KindReceive:
		if tracked && batch == "" {
			return nil, &undoRefusal{code: "cannot_undo",
				msg: fmt.Sprintf("Not undone yet: the batch of %s is not known on this device. Sync, then undo.", what)}
		}
		return []client.OpInput{adjust(-op.Qty, batch)}, nil
	case syncproto.KindPick:
		if op.Order == "" {
			return []client.OpInput{adjust(op.Qty, batch)}, nil
		}
		return []client.OpInput{with(func(in *client.OpInput) {
			in.Kind, in.Qty, in.Location, in.Batch, in.Order, in.Reason = syncproto.KindReturn, op.Qty, op.Location, batch, op.Order, undoReason
		})}, nil
	case syncproto.KindReturn:
		parts := []syncproto.Allocation{{Batch: batch, Qty: op.Qty}}
		if tracked && len(v.Allocations) > 0 {
			parts = v.Allocations
		} else if tracked && batch == "" {
			return nil, &undoRefusal{code: "cannot_undo",
				msg: fmt.Sprintf("Not undone yet: the server has not matched %s to a batch. Sync, then undo.", what)}
		}
		var ins []client.OpInput
		for _, p := range parts {
			if op.Order == "" {
				ins = append(ins, adjust(-p.Qty, p.Batch))
				continue
			}
			ins = append(ins, with(func(in *client.OpInput) {
				in.Kind, in.Qty, in.Location, in.Batch, in.Order = syncproto.KindPick, p.Qty, op.Location, p.Batch, op.Order
			}))
		}
		return ins, nil
	case syncproto.KindTransfer:
		return []client.OpInput{with(func(in *client.OpInput) {
			in.Kind, in.Qty, in.Location, in.ToLocation, in.Batch = syncproto.KindTransfer, op.Qty, op.ToLocation, op.Location, batch
		})}, nil
	case syncproto.KindAdjust:
		return []client.OpInput{adjust(-op.Qty, batch)}, nil
	}
	return nil, &undoRefusal{code: "cannot_undo", msg: fmt.Sprintf("%s cannot be undone from this app.", what)}
}
