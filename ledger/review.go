package ledger

import (
	"time"

	"github.com/google/uuid"
)

// ReviewKind is the kind of conflict a review is about.
type ReviewKind string

// Review kinds of DESIGN.md section 3.
const (
	ReviewWrongBatchReturn ReviewKind = "wrong_batch_return"
	ReviewOverReturn       ReviewKind = "over_return"
	ReviewUnknownOrder     ReviewKind = "unknown_order"
	ReviewNegativeStock    ReviewKind = "negative_stock"
	ReviewCountVariance    ReviewKind = "count_variance"
	ReviewCountAmbiguous   ReviewKind = "count_ambiguous"
	ReviewUnknownReference ReviewKind = "unknown_reference"
	ReviewExpiredBatch     ReviewKind = "expired_batch"
)

// CountReviewKind reports whether reviews of kind k are about one count
// (opened by it): Store.OpenReviews leaves them out, and a merge looks them
// up by their count.
func CountReviewKind(k ReviewKind) bool {
	return k == ReviewCountVariance || k == ReviewCountAmbiguous
}

// Severity ranks reviews for a manager's queue.
type Severity string

// Severities, from most to least urgent.
const (
	SeverityHigh   Severity = "high"
	SeverityMedium Severity = "medium"
	SeverityLow    Severity = "low"
)

// ReviewStatus is open until a person (or a late operation) settles it.
type ReviewStatus string

// Review statuses.
const (
	ReviewOpen     ReviewStatus = "open"
	ReviewResolved ReviewStatus = "resolved"
)

// Action is what a resolution does.
type Action string

// Resolution actions of DESIGN.md section 3.
const (
	// ActionAccept keeps what was posted (for a held operation: leaves it
	// unposted for good).
	ActionAccept Action = "accept"
	// ActionReassignBatch moves the operation's quantity to another batch.
	ActionReassignBatch Action = "reassign_batch"
	// ActionReverse posts the negation of every movement of the operation.
	ActionReverse Action = "reverse"
	// ActionAdjust posts a signed quantity on the review's key.
	ActionAdjust Action = "adjust"
	// ActionMapReference maps an unknown SKU, barcode or location to a known
	// one and posts the held operation.
	ActionMapReference Action = "map_reference"
	// ActionSettled is recorded when a late operation made the review's
	// condition false; nobody chose it.
	ActionSettled Action = "settled"
)

// Reference is one reference an operation made that the catalog lacks.
type Reference struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// BatchQty is a quantity of one batch.
type BatchQty struct {
	Batch string `json:"batch"`
	Qty   int64  `json:"qty"`
}

// Evidence is what a manager needs to decide a review. Only the fields that
// apply to the review's kind are set.
type Evidence struct {
	Warehouse string `json:"warehouse,omitempty"`
	Location  string `json:"location,omitempty"`
	SKU       string `json:"sku,omitempty"`
	Batch     string `json:"batch,omitempty"`
	Order     string `json:"order,omitempty"`
	// OnHand is the balance right after the operation.
	OnHand *int64 `json:"on_hand,omitempty"`
	// Shipped and Returned are the order's totals per batch of the item.
	Shipped  []BatchQty `json:"shipped,omitempty"`
	Returned []BatchQty `json:"returned,omitempty"`
	Qty      int64      `json:"qty,omitempty"`
	// Excess is how much of a return that came without a batch was put on
	// this batch beyond what the order had left to return; a later
	// shipment of another batch takes it over.
	Excess int64  `json:"excess,omitempty"`
	Expiry string `json:"expiry,omitempty"`
	// Counted, Expected and Threshold describe a count.
	Counted   *int64 `json:"counted,omitempty"`
	Expected  *int64 `json:"expected,omitempty"`
	Threshold *int64 `json:"threshold,omitempty"`
	// Nearby are movements within the clock uncertainty of a count, the
	// first MaxNearby of them; NearbyMore counts the others. All of them
	// are among the review's operations.
	Nearby     []NearbyMovement `json:"nearby,omitempty"`
	NearbyMore int              `json:"nearby_more,omitempty"`
	// Unknown lists the references the catalog lacks.
	Unknown []Reference `json:"unknown,omitempty"`
	Detail  string      `json:"detail,omitempty"`
}

// MaxNearby bounds the movements a count's evidence lists. On a busy bin
// a count's ambiguity review gathers hundreds over a shift; a manager needs
// a sample and the number, and every push that touches the review reads and
// rewrites its evidence.
const MaxNearby = 50

// NearbyMovement is a movement whose effective time is too close to a
// count's to say which came first.
type NearbyMovement struct {
	OpID        uuid.UUID `json:"op_id"`
	Kind        string    `json:"kind"`
	Qty         int64     `json:"qty"`
	EffectiveAt time.Time `json:"effective_at"`
}

// Suggestion is a resolution a manager can apply with one click.
type Suggestion struct {
	Action   Action `json:"action"`
	Label    string `json:"label"`
	Batch    string `json:"batch,omitempty"`
	Qty      int64  `json:"qty,omitempty"`
	SKU      string `json:"sku,omitempty"`
	Location string `json:"location,omitempty"`
}

// ReviewOp is an operation involved in a review.
type ReviewOp struct {
	OpID     uuid.UUID `json:"op_id"`
	DeviceID uuid.UUID `json:"device_id"`
}

// Review is a conflict waiting for a person.
type Review struct {
	TenantID uuid.UUID
	ID       uuid.UUID
	Kind     ReviewKind
	Severity Severity
	Status   ReviewStatus
	// OpID and DeviceID are the operation that opened the review.
	OpID     uuid.UUID
	DeviceID uuid.UUID
	// Ops are all operations involved, the opening one first.
	Ops []ReviewOp
	// Key is the balance the review is about; BatchID is NoBatch where the
	// batch is unknown or does not apply. LocationID and ItemID are Nil
	// when the reference itself is unknown.
	Key
	Order       string
	Evidence    Evidence
	Suggestions []Suggestion
	OpenedAt    time.Time
	// Changed is the change number of the last transaction that touched it.
	Changed    int64
	Resolution *ResolutionRecord
}

// KeepOpeningOp drops from Ops every operation but the opening one. Stores
// read the merge's open reviews this way (see Store.OpenReviews): a merge
// only ever adds operations to a review, and on a busy bin a count's review
// gathers hundreds of them over a shift.
func (r *Review) KeepOpeningOp() {
	r.Ops = nil
	if r.OpID != uuid.Nil {
		r.Ops = []ReviewOp{{OpID: r.OpID, DeviceID: r.DeviceID}}
	}
}

// ResolvedByLedger is who a resolution names (ResolutionRecord.By) when a
// late operation settled the review and nobody decided.
const ResolvedByLedger = "stocksync"

// ResolutionRecord is the audited decision on a review.
type ResolutionRecord struct {
	Action Action    `json:"action"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Note   string    `json:"note,omitempty"`
	// SettledBy is the operation that settled the review on its own.
	SettledBy uuid.UUID `json:"settled_by,omitempty"`
	Batch     string    `json:"batch,omitempty"`
	Qty       int64     `json:"qty,omitempty"`
	SKU       string    `json:"sku,omitempty"`
	Location  string    `json:"location,omitempty"`
	// Positions are the recorded positions of the movements it posted.
	Positions []int64 `json:"positions,omitempty"`
}

// Resolution is a manager's decision on a review.
type Resolution struct {
	Action Action
	// Batch is the target of reassign_batch (and, for adjust, the batch
	// to adjust when the review has none).
	Batch string
	// Qty is the signed quantity of adjust.
	Qty int64
	// SKU and Location are the targets of map_reference (Location also
	// names another bin to adjust). Mapping a location code to itself
	// creates that location in the device's warehouse.
	SKU        string
	Location   string
	ToLocation string
	// By is who decided (user or API key name); Note says why.
	By   string
	Note string
}

var reviewSeverity = map[ReviewKind]Severity{
	ReviewWrongBatchReturn: SeverityMedium,
	ReviewOverReturn:       SeverityMedium,
	ReviewUnknownOrder:     SeverityMedium,
	ReviewNegativeStock:    SeverityHigh,
	ReviewCountVariance:    SeverityMedium,
	ReviewCountAmbiguous:   SeverityLow,
	ReviewUnknownReference: SeverityHigh,
	ReviewExpiredBatch:     SeverityHigh,
}
