package mobile

import (
	"context"
	"errors"
	"strings"

	"stocksync/client"
	"stocksync/syncproto"
)

// Error codes. Every error this package returns has one: the protocol's
// code when the server answered (docs/protocol.md, "Errors" and
// "Results"), the operation-level code the server would have answered
// when Record refuses an operation on the device (invalid_qty,
// missing_field, batch_required, ... listed in Record's doc), or one of
// the device's own codes below. Java sees a constant such as
// Mobile.CodeNetwork, Swift MobileCodeNetwork.
const (
	// The server's request-level codes that an app acts on.

	// CodeInvalid: a malformed request or argument, such as a server
	// address that is not an http(s) URL.
	CodeInvalid = string(syncproto.CodeInvalid)
	// CodeUnauthorized: the enrollment code is unknown, used or expired,
	// or the device was revoked. Keep the device and ask a manager for a
	// new enrollment (its unsent operations are kept).
	CodeUnauthorized = string(syncproto.CodeUnauthorized)
	// CodeForbidden: the token is not for what was asked; a bug.
	CodeForbidden = string(syncproto.CodeForbidden)
	// CodeNotFound: no such item in the downloaded catalog (LookupItem),
	// or no such route on the server.
	CodeNotFound = string(syncproto.CodeNotFound)
	// CodeRateLimited: the server asks the device to slow down; Sync
	// already retried. Try again later.
	CodeRateLimited = string(syncproto.CodeRateLimited)
	// CodeUnsupportedProtocol: the server no longer speaks this app's
	// protocol; the app must be updated.
	CodeUnsupportedProtocol = string(syncproto.CodeUnsupportedProtocol)
	// CodeInternal: the server failed; Sync already retried.
	CodeInternal = string(syncproto.CodeInternal)
	// CodeUnavailable: the server, or a proxy in front of it, is not
	// serving; Sync already retried.
	CodeUnavailable = string(syncproto.CodeUnavailable)

	// The device's own codes.

	// CodeNetwork: the server could not be reached (no signal, connection
	// refused, timeout), after the retries Sync makes.
	CodeNetwork = "network"
	// CodeCanceled: Cancel, Close or SyncFor's time limit ended the call.
	CodeCanceled = "canceled"
	// CodeNotEnrolled: Sync needs an enrolled device.
	CodeNotEnrolled = "not_enrolled"
	// CodeAlreadyEnrolled: Enroll refuses to replace the device's
	// identity, which would orphan the operations recorded under it.
	CodeAlreadyEnrolled = "already_enrolled"
	// CodeClosed: the Device was closed.
	CodeClosed = "closed"
	// CodeStorage: the device database failed (disk full, file removed).
	CodeStorage = "storage"
)

// codedError is every error this package returns. It is unexported
// because gobind hands errors over as a plain Java exception or NSError
// whatever their Go type: callers read the code with ErrorCode, or from
// the text, which starts with it.
type codedError struct {
	code    string
	message string
	// err is the error underneath, for errors.Is and errors.As in Go.
	err error
}

func (e *codedError) Error() string { return e.code + ": " + e.message }
func (e *codedError) Unwrap() error { return e.err }

func newError(code, message string) error {
	return &codedError{code: code, message: message}
}

// wrapError gives err its code: the server's or Record's code when it has
// one, CodeCanceled for a cancelled context, the device's codes for the
// client's own errors, and otherwise fallback (CodeNetwork where a server
// was being called, CodeStorage for local calls). The message is the one
// meant for people: the server's or Record's message as is, else err's
// text.
func wrapError(err error, fallback string) error {
	if err == nil {
		return nil
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return err
	}
	var pe *syncproto.Error
	switch {
	case errors.As(err, &pe):
		return &codedError{code: string(pe.Code), message: pe.Message, err: err}
	case errors.Is(err, context.Canceled):
		return &codedError{code: CodeCanceled, message: err.Error(), err: err}
	case errors.Is(err, client.ErrNotEnrolled):
		return &codedError{code: CodeNotEnrolled, message: err.Error(), err: err}
	case errors.Is(err, client.ErrAlreadyEnrolled):
		return &codedError{code: CodeAlreadyEnrolled, message: err.Error(), err: err}
	}
	return &codedError{code: fallback, message: err.Error(), err: err}
}

// wrapCallError is wrapError for a call that ran under ctx (Sync, SyncFor,
// Enroll): the error is CodeCanceled only when ctx itself ended (Cancel,
// Close, SyncFor's deadline). A timeout of the HTTP client or the server
// also matches context.DeadlineExceeded, but nobody cancelled the call: it
// is fallback (CodeNetwork).
func wrapCallError(ctx context.Context, err error, fallback string) error {
	if err == nil {
		return nil
	}
	var pe *syncproto.Error
	if ctx.Err() != nil && !errors.As(err, &pe) {
		return &codedError{code: CodeCanceled, message: err.Error(), err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &codedError{code: fallback, message: err.Error(), err: err}
	}
	return wrapError(err, fallback)
}

// ErrorCode returns the code of an error this package returned (one of the
// Code constants, or an operation-level code of docs/protocol.md), and ""
// for nil or any other error.
//
// From Java pass the caught exception: Mobile.errorCode(e). Its message is
// also "code: message". From Swift pass the thrown error; where it has
// crossed as a plain NSError, its localizedDescription starts with the
// code the same way.
func ErrorCode(err error) string {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	if err != nil {
		// An error that came back through another language as text.
		if code, _, ok := splitError(err.Error()); ok {
			return code
		}
	}
	return ""
}

// ErrorMessage returns the message of an error this package returned,
// without its code: the text to show a picker. For any other error it is
// the error's whole text, and "" for nil.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.message
	}
	if _, msg, ok := splitError(err.Error()); ok {
		return msg
	}
	return err.Error()
}

// splitError splits the text of a codedError, "code: message", where the
// code is lowercase letters and underscores.
func splitError(s string) (code, message string, ok bool) {
	code, message, ok = strings.Cut(s, ": ")
	if !ok || code == "" {
		return "", "", false
	}
	for _, r := range code {
		if (r < 'a' || r > 'z') && r != '_' {
			return "", "", false
		}
	}
	return code, message, true
}
