package ledger

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Codes travel unchanged to
// devices and integrations, so they are never renamed.
type Code string

// Request-level codes, shared with the sync protocol.
const (
	CodeInvalid      Code = "invalid"
	CodeUnauthorized Code = "unauthorized"
	CodeForbidden    Code = "forbidden"
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"
	CodeSeqGap       Code = "seq_gap"
	// CodeSeqBehind: the device was restored from a backup; see
	// MergeRequest.KnownAckedSeq.
	CodeSeqBehind       Code = "seq_behind"
	CodeAlreadyResolved Code = "already_resolved"
	CodeInternal        Code = "internal"
)

// Operation-level codes: the reason a single operation was rejected. They are
// stored with the operation and shown on the device that recorded it.
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

// Error is the ledger's error type: a code for programs and a message for
// people. Stores and the ledger return it for every expected failure.
type Error struct {
	Code    Code
	Message string
	// AckedSeq is set with CodeSeqGap: the highest contiguous sequence number
	// the ledger holds for the device, so it knows where to resume.
	AckedSeq int64
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err when it is, or wraps, an *Error, and
// CodeInternal for any other non-nil error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the human message of err: the *Error's message, or
// a generic text for internal errors so details never leak to callers.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
