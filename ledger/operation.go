package ledger

import (
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Kind is the kind of an operation.
type Kind string

// The operation kinds of DESIGN.md section 3.
const (
	KindReceive  Kind = "receive"
	KindPick     Kind = "pick"
	KindReturn   Kind = "return"
	KindTransfer Kind = "transfer"
	KindCount    Kind = "count"
	KindAdjust   Kind = "adjust"
)

// Kinds lists every operation kind.
var Kinds = []Kind{KindReceive, KindPick, KindReturn, KindTransfer, KindCount, KindAdjust}

// Operation is one stock movement as recorded on a device. Its JSON form is
// the flat wire object of the sync protocol.
type Operation struct {
	OpID       uuid.UUID `json:"op_id"`
	Seq        int64     `json:"seq"`
	Kind       Kind      `json:"kind"`
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

// Limits on an operation's fields.
const (
	MaxCodeLen = 128
	MaxNoteLen = 1000
	// MaxQty bounds a quantity (in the item's unit, e.g. grams) so that no
	// sum of quantities can overflow: a trillion units per operation leaves
	// room for millions of operations on one key.
	MaxQty = 1_000_000_000_000
)

// Status is the outcome of one operation.
type Status string

// Statuses of DESIGN.md section 4.
const (
	// StatusApplied: posted to the ledger, nothing to review.
	StatusApplied Status = "applied"
	// StatusFlagged: posted, and a review was opened.
	StatusFlagged Status = "flagged"
	// StatusHeld: stored but not posted until a review resolves it.
	StatusHeld Status = "held"
	// StatusRejected: invalid; stored with the reason, never applied.
	StatusRejected Status = "rejected"
)

// Allocation is one part of a return that was matched to a shipped batch.
type Allocation struct {
	Batch string `json:"batch"`
	Qty   int64  `json:"qty"`
}

// Result is the stored outcome of one operation, returned identically on
// every replay (with Replayed set).
type Result struct {
	OpID    uuid.UUID `json:"op_id"`
	Seq     int64     `json:"seq"`
	Status  Status    `json:"status"`
	Code    Code      `json:"code,omitempty"`
	Message string    `json:"message,omitempty"`
	// ReviewIDs are the reviews this operation opened or joined, first the
	// one that names Code.
	ReviewIDs []uuid.UUID `json:"review_ids,omitempty"`
	// Batch is the batch the operation posted to when the ledger chose or
	// generated it; Allocations lists the parts of a split return.
	Batch       string       `json:"batch,omitempty"`
	Allocations []Allocation `json:"allocations,omitempty"`
	Replayed    bool         `json:"replayed,omitempty"`
}

// ReviewID returns the first review of the result, or uuid.Nil.
func (r Result) ReviewID() uuid.UUID {
	if len(r.ReviewIDs) == 0 {
		return uuid.Nil
	}
	return r.ReviewIDs[0]
}

// OpRecord is one entry of the op log: every operation ever received, with
// its canonical payload, hash and stored result.
type OpRecord struct {
	TenantID uuid.UUID
	DeviceID uuid.UUID
	Seq      int64
	OpID     uuid.UUID
	Kind     Kind
	// Payload is the canonical JSON of the operation without its seq, so a
	// renumbered operation (a device restored from backup) hashes the same.
	Payload     []byte
	PayloadHash []byte
	ReceivedAt  time.Time
	EffectiveAt time.Time
	Result      Result
	// Canonical is false for an entry that only records a seq: a renumbered
	// replay of an operation already logged under another seq, or an
	// op_conflict rejected under a new seq.
	Canonical bool
	// Posted is true once the operation's movements are in the ledger (for
	// a held operation, after its review was resolved).
	Posted bool
}

// OpConflict is a rejected operation that reused a sequence number the
// device had already used for another operation; it is kept apart from the
// op log because the seq is taken.
type OpConflict struct {
	TenantID    uuid.UUID
	ID          uuid.UUID
	DeviceID    uuid.UUID
	Seq         int64
	OpID        uuid.UUID
	Payload     []byte
	PayloadHash []byte
	ReceivedAt  time.Time
	Result      Result
}

// Operation decodes the op log entry's payload back into the operation.
func (r OpRecord) Operation() (Operation, error) {
	var op Operation
	if err := json.Unmarshal(r.Payload, &op); err != nil {
		return op, err
	}
	op.Seq = r.Seq
	return op, nil
}

// normalize trims the text fields and brings times to UTC with microsecond
// precision, the precision both stores keep.
func (op Operation) normalize() Operation {
	for _, s := range []*string{&op.SKU, &op.Barcode, &op.Batch, &op.Expiry, &op.Location,
		&op.ToLocation, &op.Order, &op.Ref, &op.Reason, &op.ExchangeOf, &op.Actor} {
		*s = strings.TrimSpace(*s)
	}
	op.OccurredAt = inJSONRange(op.OccurredAt.UTC(), op.OccurredAt).Truncate(time.Microsecond)
	return op
}

// inJSONRange returns t, or else when t's year is outside 0-9999, where a
// time has no JSON form. JSON accepts "0000-01-01T00:00:00+01:00", which
// is year -1 in UTC: converted, it would make the canonical payload (and
// with it every push of the device) fail. Kept as sent, it is stored and
// rejected by Validate like any other time out of range.
func inJSONRange(t, orElse time.Time) time.Time {
	if y := t.Year(); y < 0 || y > 9999 {
		return orElse
	}
	return t
}

// canonicalPayload is the normalized operation as JSON, without the seq.
func (op Operation) canonicalPayload() ([]byte, []byte) {
	op = op.normalize()
	op.Seq = 0
	b, err := json.Marshal(op)
	if err != nil {
		// Every field is a plain value; Marshal cannot fail.
		panic(err)
	}
	sum := sha256.Sum256(b)
	return b, sum[:]
}

// Validate checks what can be checked without the catalog. It returns an
// *Error with an operation-level code naming the first problem found.
func (op Operation) Validate() error {
	for _, f := range []struct{ name, v string }{{"kind", string(op.Kind)}, {"sku", op.SKU}, {"barcode", op.Barcode},
		{"batch", op.Batch}, {"expiry", op.Expiry}, {"location", op.Location}, {"to_location", op.ToLocation},
		{"order", op.Order}, {"ref", op.Ref}, {"reason", op.Reason}, {"exchange_of", op.ExchangeOf},
		{"actor", op.Actor}, {"note", op.Note}} {
		if !validText(f.v) {
			return Errorf(CodeInvalidText, "%s is not valid UTF-8 text (or contains a NUL character)", f.name)
		}
	}
	if op.OpID == uuid.Nil {
		return Errorf(CodeMissingField, "op_id is required")
	}
	if op.Seq <= 0 {
		return Errorf(CodeInvalid, "seq must be positive, got %d", op.Seq)
	}
	if op.OccurredAt.IsZero() {
		return Errorf(CodeInvalidTime, "occurred_at is required")
	}
	if op.OccurredAt.Year() < 2000 || op.OccurredAt.Year() > 2999 {
		return Errorf(CodeInvalidTime, "occurred_at %s is out of range", op.OccurredAt.Format(time.RFC3339))
	}
	for _, f := range []struct{ name, v string }{{"sku", op.SKU}, {"barcode", op.Barcode}, {"batch", op.Batch},
		{"location", op.Location}, {"to_location", op.ToLocation}, {"order", op.Order}, {"ref", op.Ref},
		{"reason", op.Reason}, {"actor", op.Actor}, {"exchange_of", op.ExchangeOf}, {"expiry", op.Expiry}} {
		if len(f.v) > MaxCodeLen {
			return Errorf(CodeTooLong, "%s is longer than %d characters", f.name, MaxCodeLen)
		}
	}
	if len(op.Note) > MaxNoteLen {
		return Errorf(CodeTooLong, "note is longer than %d characters", MaxNoteLen)
	}
	if op.Qty > MaxQty || op.Qty < -MaxQty {
		return Errorf(CodeInvalidQty, "qty %d is beyond the limit of %d", op.Qty, int64(MaxQty))
	}
	if op.SKU == "" && op.Barcode == "" {
		return Errorf(CodeMissingField, "%s needs sku or barcode", op.Kind)
	}
	if op.Location == "" {
		return Errorf(CodeMissingField, "%s needs location", op.Kind)
	}
	if op.Expiry != "" {
		if _, err := ParseDate(op.Expiry); err != nil {
			return Errorf(CodeInvalidExpiry, "expiry %q is not a date (YYYY-MM-DD)", op.Expiry)
		}
	}
	if op.ExchangeOf != "" {
		if _, err := uuid.Parse(op.ExchangeOf); err != nil {
			return Errorf(CodeInvalidExchange, "exchange_of %q is not an operation id", op.ExchangeOf)
		}
		if op.Order == "" {
			return Errorf(CodeInvalidExchange, "exchange_of needs the order of the exchange")
		}
	}
	// Fields that mean nothing for a kind are refused rather than ignored:
	// they reveal a client bug, and ignoring them would silently lose intent.
	unexpected := func(name, v string) error {
		if v != "" {
			return Errorf(CodeUnexpectedField, "%s does not take %s", op.Kind, name)
		}
		return nil
	}
	var errs []error
	if op.Kind != KindReceive {
		errs = append(errs, unexpected("ref", op.Ref))
	}
	if op.Kind != KindReturn && op.Kind != KindAdjust {
		errs = append(errs, unexpected("reason", op.Reason))
	}
	switch op.Kind {
	case KindReceive:
		if op.Qty <= 0 {
			return Errorf(CodeInvalidQty, "receive qty must be positive, got %d", op.Qty)
		}
		errs = append(errs, unexpected("to_location", op.ToLocation), unexpected("order", op.Order), unexpected("exchange_of", op.ExchangeOf))
	case KindPick:
		if op.Qty <= 0 {
			return Errorf(CodeInvalidQty, "pick qty must be positive, got %d", op.Qty)
		}
		errs = append(errs, unexpected("to_location", op.ToLocation), unexpected("expiry", op.Expiry))
	case KindReturn:
		if op.Qty <= 0 {
			return Errorf(CodeInvalidQty, "return qty must be positive, got %d", op.Qty)
		}
		errs = append(errs, unexpected("to_location", op.ToLocation), unexpected("expiry", op.Expiry), unexpected("exchange_of", op.ExchangeOf))
	case KindTransfer:
		if op.Qty <= 0 {
			return Errorf(CodeInvalidQty, "transfer qty must be positive, got %d", op.Qty)
		}
		if op.ToLocation == "" {
			return Errorf(CodeMissingField, "transfer needs to_location")
		}
		if op.ToLocation == op.Location {
			return Errorf(CodeSameLocation, "transfer from %s to itself", op.Location)
		}
		errs = append(errs, unexpected("order", op.Order), unexpected("expiry", op.Expiry), unexpected("exchange_of", op.ExchangeOf))
	case KindCount:
		if op.Qty < 0 {
			return Errorf(CodeInvalidQty, "count qty must not be negative, got %d", op.Qty)
		}
		errs = append(errs, unexpected("to_location", op.ToLocation), unexpected("order", op.Order), unexpected("expiry", op.Expiry), unexpected("exchange_of", op.ExchangeOf))
	case KindAdjust:
		if op.Qty == 0 {
			return Errorf(CodeInvalidQty, "adjust qty must not be zero")
		}
		if op.Reason == "" {
			return Errorf(CodeReasonRequired, "adjust needs a reason code")
		}
		errs = append(errs, unexpected("to_location", op.ToLocation), unexpected("order", op.Order), unexpected("expiry", op.Expiry), unexpected("exchange_of", op.ExchangeOf))
	case "":
		return Errorf(CodeMissingField, "kind is required")
	default:
		return Errorf(CodeUnknownKind, "unknown kind %q", op.Kind)
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// validText reports whether s is UTF-8 without NUL characters: what every
// store can keep as text.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// KnownKind reports whether k is one of Kinds.
func KnownKind(k Kind) bool { return slices.Contains(Kinds, k) }

// DateLayout is how dates (batch expiry) are written.
const DateLayout = "2006-01-02"

// ParseDate parses a YYYY-MM-DD date as midnight UTC.
func ParseDate(s string) (time.Time, error) {
	return time.ParseInLocation(DateLayout, s, time.UTC)
}

// FormatDate formats a date as YYYY-MM-DD, or "" for the zero time.
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(DateLayout)
}
