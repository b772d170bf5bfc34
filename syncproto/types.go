package syncproto

import (
	"time"

	"github.com/google/uuid"
)

// Op kinds.
const (
	KindReceive  = "receive"
	KindPick     = "pick"
	KindReturn   = "return"
	KindTransfer = "transfer"
	KindCount    = "count"
	KindAdjust   = "adjust"
)

// Kinds lists every operation kind.
var Kinds = []string{KindReceive, KindPick, KindReturn, KindTransfer, KindCount, KindAdjust}

// Op is one stock movement recorded on a device. Which fields each kind
// takes is specified in docs/protocol.md; the server answers a misuse with
// a rejected result, never by refusing the whole push.
type Op struct {
	OpID       uuid.UUID `json:"op_id"`
	Seq        int64     `json:"seq"`
	Kind       string    `json:"kind"`
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

// PushRequest is the body of POST /v1/sync/push.
type PushRequest struct {
	DeviceID   uuid.UUID `json:"device_id"`
	DeviceTime time.Time `json:"device_time"`
	Ops        []Op      `json:"ops"`
}

// Status is the outcome of one operation.
type Status string

// Statuses.
const (
	// StatusApplied: posted to the ledger.
	StatusApplied Status = "applied"
	// StatusFlagged: posted, and a review was opened for a manager.
	StatusFlagged Status = "flagged"
	// StatusHeld: stored but not posted until a manager decides.
	StatusHeld Status = "held"
	// StatusRejected: invalid; stored with the reason, never posted.
	StatusRejected Status = "rejected"
)

// Allocation is one part of a return matched to a batch the order shipped.
type Allocation struct {
	Batch string `json:"batch"`
	Qty   int64  `json:"qty"`
}

// Result is the outcome of one operation, identical on every replay apart
// from Replayed.
type Result struct {
	OpID    uuid.UUID `json:"op_id"`
	Seq     int64     `json:"seq"`
	Status  Status    `json:"status"`
	Code    Code      `json:"code,omitempty"`
	Message string    `json:"message,omitempty"`
	// ReviewID is the review that names Code; ReviewIDs every review the
	// operation opened or joined, ReviewID first.
	ReviewID  *uuid.UUID  `json:"review_id,omitempty"`
	ReviewIDs []uuid.UUID `json:"review_ids,omitempty"`
	// Batch is the batch the ledger chose or generated for the operation.
	Batch       string       `json:"batch,omitempty"`
	Allocations []Allocation `json:"allocations,omitempty"`
	Replayed    bool         `json:"replayed,omitempty"`
}

// PushResponse answers a push: one result per operation, in request order.
type PushResponse struct {
	AckedSeq   int64     `json:"acked_seq"`
	Results    []Result  `json:"results"`
	ServerTime time.Time `json:"server_time"`
}

// PullResponse is one page of GET /v1/sync/pull: what changed in the
// device's scope since the cursor. The device applies the page, stores the
// cursor, and pulls again while More is true.
type PullResponse struct {
	// LedgerID names the server's ledger. When it differs from the one the
	// device stored, the server's database was replaced: the device drops
	// what it pulled and downloads its scope again from an empty cursor,
	// keeping every unsent operation.
	LedgerID string `json:"ledger_id"`
	Cursor   string `json:"cursor"`
	More     bool   `json:"more"`
	// Reset is true on the first page of a full download (an empty cursor
	// or one from another ledger): the device replaces what it pulled.
	Reset bool `json:"reset,omitempty"`
	// AckedSeq is the server's acked_seq for this device.
	AckedSeq   int64      `json:"acked_seq"`
	ServerTime time.Time  `json:"server_time"`
	Warehouse  Warehouse  `json:"warehouse"`
	Items      []Item     `json:"items"`
	Locations  []Location `json:"locations"`
	Batches    []Batch    `json:"batches"`
	Balances   []Balance  `json:"balances"`
	Decisions  []Decision `json:"decisions"`
}

// Warehouse is the device's warehouse.
type Warehouse struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// Item is a catalog item with all its barcodes; a pulled item replaces the
// device's copy, barcodes included.
type Item struct {
	SKU           string   `json:"sku"`
	Name          string   `json:"name"`
	Unit          string   `json:"unit"`
	Barcodes      []string `json:"barcodes"`
	BatchTracked  bool     `json:"batch_tracked"`
	ExpiryTracked bool     `json:"expiry_tracked"`
}

// Location is a bin of the device's warehouse.
type Location struct {
	Code string `json:"code"`
}

// Batch is a lot of an item; Expiry is YYYY-MM-DD or empty.
type Batch struct {
	SKU    string `json:"sku"`
	Code   string `json:"code"`
	Expiry string `json:"expiry,omitempty"`
}

// Balance is the server's on-hand quantity of one key of the device's
// warehouse. Batch is empty for items that are not batch-tracked.
type Balance struct {
	Location string `json:"location"`
	SKU      string `json:"sku"`
	Batch    string `json:"batch,omitempty"`
	OnHand   int64  `json:"on_hand"`
}

// Review statuses.
const (
	ReviewOpen     = "open"
	ReviewResolved = "resolved"
)

// Decision is the state of a review that involves operations of this
// device: opened, and later decided by a manager (or settled by a later
// operation, Action "settled").
type Decision struct {
	ReviewID uuid.UUID `json:"review_id"`
	Kind     string    `json:"kind"`
	Status   string    `json:"status"`
	// OpIDs are this device's operations in the review.
	OpIDs     []uuid.UUID `json:"op_ids"`
	Action    string      `json:"action,omitempty"`
	Note      string      `json:"note,omitempty"`
	DecidedBy string      `json:"decided_by,omitempty"`
	DecidedAt *time.Time  `json:"decided_at,omitempty"`
}

// EnrollRequest is the body of POST /v1/devices/enroll.
type EnrollRequest struct {
	Code       string `json:"code"`
	Name       string `json:"name"`
	AppVersion string `json:"app_version"`
}

// EnrollResponse gives the device its identity. The token is shown once;
// the server keeps only its hash.
type EnrollResponse struct {
	DeviceID  uuid.UUID `json:"device_id"`
	Token     string    `json:"token"`
	Warehouse string    `json:"warehouse"`
	// BatchPrefix starts every batch code the device generates offline.
	BatchPrefix string `json:"batch_prefix"`
	LedgerID    string `json:"ledger_id"`
}

// OrderResponse answers GET /v1/sync/orders/{order}: what an order of the
// device's tenant shipped and got back, over every device, as merged so
// far. An order the server knows nothing of has no lines; it is not an
// error, since its picks may simply not have been synced yet.
type OrderResponse struct {
	Order      string      `json:"order"`
	Lines      []OrderLine `json:"lines"`
	ServerTime time.Time   `json:"server_time"`
}

// OrderLine is what an order shipped (its picks) and got back (its
// returns) of one item and batch. Batch is empty for items that are not
// batch-tracked.
type OrderLine struct {
	SKU      string `json:"sku"`
	Batch    string `json:"batch,omitempty"`
	Shipped  int64  `json:"shipped"`
	Returned int64  `json:"returned"`
}
