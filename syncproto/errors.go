package syncproto

import "fmt"

// Code is a stable, machine-readable error code. Request-level codes come
// in an error body; operation-level codes in a result's code field.
type Code string

// Request-level codes: the whole request failed and nothing was applied.
const (
	// CodeInvalid (400): the request is malformed: bad JSON, an unknown
	// field, a missing field, seqs not ascending and contiguous.
	CodeInvalid Code = "invalid"
	// CodeUnauthorized (401): no credential, an unknown one, or one that
	// was revoked. A device should stop syncing and ask to be enrolled.
	CodeUnauthorized Code = "unauthorized"
	// CodeForbidden (403): the credential is valid but may not do this.
	CodeForbidden Code = "forbidden"
	// CodeNotFound (404): the route or the object does not exist for this
	// tenant.
	CodeNotFound Code = "not_found"
	// CodeConflict (409): the request contradicts the current state, for
	// example a slug that is taken.
	CodeConflict Code = "conflict"
	// CodeSeqGap (409): the push's first seq is beyond acked_seq + 1. The
	// error carries acked_seq; the device resends from acked_seq + 1.
	CodeSeqGap Code = "seq_gap"
	// CodeSeqBehind (409): the device reported a lower acked_seq than the
	// server's and sent a different operation under a seq the server
	// already holds: it was restored from a backup. The error carries
	// acked_seq; the device renumbers its pending operations after it,
	// keeping their op_ids, and pushes again.
	CodeSeqBehind Code = "seq_behind"
	// CodeAlreadyResolved (409): the review was decided before.
	CodeAlreadyResolved Code = "already_resolved"
	// CodeTooLarge (413): the body or the number of operations is over
	// the limit. Send fewer operations per push.
	CodeTooLarge Code = "too_large"
	// CodeUnsupportedProtocol (426): the Stocksync-Protocol header is
	// missing or names a version the server does not speak; the error
	// carries the versions it speaks.
	CodeUnsupportedProtocol Code = "unsupported_protocol"
	// CodeRateLimited (429): too many requests; retry after the
	// Retry-After header's seconds.
	CodeRateLimited Code = "rate_limited"
	// CodeInternal (500): a server fault. Retry with backoff.
	CodeInternal Code = "internal"
	// CodeUnavailable (503): the server is starting or shutting down, or
	// its database is unreachable. Retry with backoff.
	CodeUnavailable Code = "unavailable"
)

// Operation-level codes: why one operation was rejected, flagged or held.
// They appear in Result.Code; the request itself succeeded.
const (
	CodeOpConflict      Code = "op_conflict"
	CodeUnknownKind     Code = "unknown_kind"
	CodeMissingField    Code = "missing_field"
	CodeUnexpectedField Code = "unexpected_field"
	CodeInvalidQty      Code = "invalid_qty"
	CodeInvalidTime     Code = "invalid_time"
	CodeInvalidExpiry   Code = "invalid_expiry"
	CodeBatchRequired   Code = "batch_required"
	CodeBatchNotTracked Code = "batch_not_tracked"
	CodeExpiryRequired  Code = "expiry_required"
	CodeReasonRequired  Code = "reason_required"
	CodeSameLocation    Code = "same_location"
	CodeInvalidExchange Code = "invalid_exchange"
	CodeBarcodeMismatch Code = "barcode_mismatch"
	CodeTooLong         Code = "too_long"
	CodeInvalidText     Code = "invalid_text"
	CodeExpiryConflict  Code = "expiry_conflict"
)

// Review kinds double as the code of a flagged or held result: the code
// names the conflict that opened the review.
const (
	CodeWrongBatchReturn Code = "wrong_batch_return"
	CodeOverReturn       Code = "over_return"
	CodeUnknownOrder     Code = "unknown_order"
	CodeNegativeStock    Code = "negative_stock"
	CodeCountVariance    Code = "count_variance"
	CodeCountAmbiguous   Code = "count_ambiguous"
	CodeUnknownReference Code = "unknown_reference"
	CodeExpiredBatch     Code = "expired_batch"
)

// Retryable reports whether a request that failed with code may succeed if
// sent again unchanged after a backoff.
func (c Code) Retryable() bool {
	switch c {
	case CodeRateLimited, CodeInternal, CodeUnavailable:
		return true
	}
	return false
}

// Error is a request-level error, the body of every non-2xx answer:
// {"error": {"code": ..., "message": ...}}.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// AckedSeq is the server's acked_seq, with seq_gap and seq_behind.
	AckedSeq *int64 `json:"acked_seq,omitempty"`
	// Versions are the protocol versions the server speaks, with
	// unsupported_protocol.
	Versions []int `json:"versions,omitempty"`
	// RowErrors name each invalid row of a catalog upload.
	RowErrors []RowError `json:"rows,omitempty"`

	// Status is the HTTP status the error came with (client side only).
	Status int `json:"-"`
}

// RowError names one invalid row of a catalog upload: its section, its
// index within the section (0-based for JSON, the line number for CSV),
// the field and what is wrong.
type RowError struct {
	Section string `json:"section"`
	Row     int    `json:"row"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// ErrorBody is the JSON envelope of an Error.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}
