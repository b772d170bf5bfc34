package mobile

import (
	"time"

	"stocksync/client"
	"stocksync/syncproto"
)

// SyncReport is what one Sync did.
type SyncReport struct {
	// Pushed is the operations the server acknowledged in this sync,
	// counted again by outcome: Applied, and the problems Flagged
	// (posted, a manager will look), Held (waiting for a manager) and
	// Rejected (never posted; the message says why). Problems is their
	// sum; Problems() lists them.
	Pushed   int
	Applied  int
	Flagged  int
	Held     int
	Rejected int
	Problems int
	// Replayed is how many the server already had (an answer lost on
	// the way): nothing was counted twice.
	Replayed int
	// Pulled is the rows downloaded: items, batches, locations, balances
	// and managers' decisions.
	Pulled int
	// Pending is the operations still waiting for the server afterwards.
	Pending int
	// LedgerChanged is true when the server's database was replaced and
	// the device downloaded everything again (its unsent operations were
	// kept and sent).
	LedgerChanged bool
}

// Sync sends every recorded operation the server has not acknowledged,
// stores each result, and downloads the catalog, stock and managers'
// decisions, retrying with backoff while the server cannot be reached. It
// blocks until done: run it on a background thread (Android WorkManager,
// iOS BGTaskScheduler at shift end). Syncs run one at a time.
//
// Nothing recorded is ever lost when Sync fails; the next Sync sends it.
// Returns CodeNotEnrolled, CodeNetwork (after the retries), CodeCanceled
// (Cancel or Close), CodeUnauthorized (device revoked: enroll again),
// CodeUnsupportedProtocol (update the app), CodeRateLimited,
// CodeUnavailable, CodeInternal, CodeClosed. Status shows the outcome
// too.
func (d *Device) Sync() (*SyncReport, error) {
	return d.SyncFor(0)
}

// SyncFor is Sync that gives up after seconds (0 or less: no limit), with
// CodeCanceled: for a background job with a deadline.
func (d *Device) SyncFor(seconds int64) (*SyncReport, error) {
	end, err := d.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	ctx, cancel := d.run(time.Duration(seconds) * time.Second)
	defer cancel()
	rep, err := d.c.Sync(ctx, client.SyncOptions{})
	if err != nil {
		return nil, wrapCallError(ctx, err, CodeNetwork)
	}
	return &SyncReport{Pushed: rep.Pushed, Applied: rep.Applied, Flagged: rep.Flagged, Held: rep.Held,
		Rejected: rep.Rejected, Problems: rep.Problems(), Replayed: rep.Replayed, Pulled: rep.Pulled,
		Pending: rep.Pending, LedgerChanged: rep.LedgerChanged}, nil
}

// Problems lists this device's operations that came back flagged, held or
// rejected, oldest first, each with the server's code and message and the
// managers' decisions on it as last downloaded (Sync to get new ones).
// Returns CodeStorage, CodeClosed.
func (d *Device) Problems() (*OpList, error) {
	end, err := d.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	views, err := d.c.Ops(d.ctx, client.OpsFilter{Problems: true})
	if err != nil {
		return nil, wrapError(err, CodeStorage)
	}
	l := &OpList{items: make([]*OpView, 0, len(views))}
	for _, v := range views {
		l.items = append(l.items, opView(v))
	}
	return l, nil
}

// OpView is a recorded operation with what became of it.
type OpView struct {
	OpID       string
	Seq        int64
	Kind       string
	SKU        string
	Barcode    string
	Qty        int64
	Location   string
	ToLocation string
	Order      string
	Reason     string
	Actor      string
	Note       string
	// Batch is the batch the movement counts under: the one the server
	// matched or made, else the one made on the device, else the scanned
	// one.
	Batch string
	// OccurredAtMillis is when it happened, RecordedAtMillis when it was
	// recorded, both Unix milliseconds.
	OccurredAtMillis int64
	RecordedAtMillis int64
	// Pending is true until the server acknowledged the operation.
	Pending bool
	// Status is the server's outcome: "applied", "flagged", "held" or
	// "rejected", empty until it arrives. Code and Message say why, e.g.
	// wrong_batch_return or negative_stock for a flagged operation.
	Status  string
	Code    string
	Message string
	// Warnings are what the device warned of when it was recorded.
	Warnings *WarningList
	// Decisions are the reviews of this operation, open or decided;
	// OpenReviews counts those a manager has yet to decide.
	Decisions   *DecisionList
	OpenReviews int
}

// Decision is a review a manager opened on an operation, and once decided
// what they did.
type Decision struct {
	ReviewID string
	// Kind is what the review is about, e.g. wrong_batch_return.
	Kind string
	// Status is "open" or "resolved".
	Status string
	// Action is what was decided: accept, reassign_batch, reverse,
	// adjust, map_reference, or settled when a later operation settled
	// it; empty while open.
	Action          string
	Note            string
	DecidedBy       string
	DecidedAtMillis int64
}

// OpList is a list of operations.
type OpList struct{ items []*OpView }

// Len returns the number of operations.
func (l *OpList) Len() int { return len(l.items) }

// Get returns operation i (0 <= i < Len), nil when out of range.
func (l *OpList) Get(i int) *OpView { return get(l.items, i) }

// DecisionList is a list of decisions.
type DecisionList struct{ items []*Decision }

// Len returns the number of decisions.
func (l *DecisionList) Len() int { return len(l.items) }

// Get returns decision i (0 <= i < Len), nil when out of range.
func (l *DecisionList) Get(i int) *Decision { return get(l.items, i) }

func opView(v client.OpView) *OpView {
	out := &OpView{OpID: v.Op.OpID.String(), Seq: v.Op.Seq, Kind: v.Op.Kind, SKU: v.Op.SKU, Barcode: v.Op.Barcode,
		Qty: v.Op.Qty, Location: v.Op.Location, ToLocation: v.Op.ToLocation, Order: v.Op.Order, Reason: v.Op.Reason,
		Actor: v.Op.Actor, Note: v.Op.Note, Batch: v.Batch,
		OccurredAtMillis: v.Op.OccurredAt.UnixMilli(), RecordedAtMillis: v.RecordedAt.UnixMilli(),
		Pending: v.Pending, Status: string(v.Status), Code: string(v.Code), Message: v.Message,
		Warnings:  warningsOf(v.Warnings),
		Decisions: &DecisionList{items: make([]*Decision, 0, len(v.Decisions))}}
	for _, dec := range v.Decisions {
		out.Decisions.items = append(out.Decisions.items, &Decision{ReviewID: dec.ReviewID.String(), Kind: dec.Kind,
			Status: dec.Status, Action: dec.Action, Note: dec.Note, DecidedBy: dec.DecidedBy, DecidedAtMillis: millis(dec.DecidedAt)})
		if dec.Status == syncproto.ReviewOpen {
			out.OpenReviews++
		}
	}
	return out
}
