package syncproto

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Decode reads one JSON value from r into v, refusing unknown fields and
// trailing data, so a misspelled or server-owned field is an error instead
// of being silently dropped. Errors are *Error with CodeInvalid.
func Decode(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeInvalid, "request body: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(CodeInvalid, "request body: unexpected data after the JSON value")
	}
	return nil
}

func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "empty body, expected a JSON object"
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s, got %s", typ.Field, typ.Type, typ.Value)
		}
		return fmt.Sprintf("expected %s, got %s", typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return err.Error()
}

// DecodePush decodes and validates a push body (see PushRequest.Validate).
func DecodePush(r io.Reader) (PushRequest, error) {
	var req PushRequest
	if err := Decode(r, &req); err != nil {
		return req, err
	}
	return req, req.Validate()
}

// Validate checks what makes a push malformed as a whole: a missing
// device_id or device_time, more than MaxOpsPerPush operations, a missing
// op_id, or seqs that are not positive, ascending and contiguous. Whether
// each operation makes sense is decided per operation, by the ledger.
func (r PushRequest) Validate() error {
	if r.DeviceID == uuid.Nil {
		return Errorf(CodeInvalid, "device_id is required")
	}
	if r.DeviceTime.IsZero() {
		return Errorf(CodeInvalid, "device_time is required")
	}
	if len(r.Ops) > MaxOpsPerPush {
		return Errorf(CodeTooLarge, "a push holds at most %d operations, got %d", MaxOpsPerPush, len(r.Ops))
	}
	for i, op := range r.Ops {
		if op.OpID == uuid.Nil {
			return Errorf(CodeInvalid, "ops[%d]: op_id is required", i)
		}
		if op.Seq <= 0 {
			return Errorf(CodeInvalid, "ops[%d]: seq must be positive, got %d", i, op.Seq)
		}
		if i > 0 && op.Seq != r.Ops[i-1].Seq+1 {
			return Errorf(CodeInvalid, "ops[%d]: seq %d does not follow %d: seqs must be ascending and contiguous", i, op.Seq, r.Ops[i-1].Seq)
		}
	}
	return nil
}

// Encode returns v as JSON, the way both sides send bodies.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GeneratedBatchCode is the code given to a received lot of a batch-tracked
// item that came without one: the device's batch prefix, the UTC date of
// occurred_at, and 40 bits of a SHA-256 of the op_id, upper-case hex, as in
// "H7K2-261127-0A1B2C3D4E". The device computes it offline and the server
// computes the same, so optimistic stock and the ledger agree on the key.
func GeneratedBatchCode(prefix string, opID uuid.UUID, occurredAt time.Time) string {
	sum := sha256.Sum256(opID[:])
	if prefix == "" {
		prefix = "G"
	}
	return fmt.Sprintf("%s-%s-%s", prefix, occurredAt.UTC().Format("060102"), strings.ToUpper(hex.EncodeToString(sum[:5])))
}

// ParseOrderRef reads the order reference of GET /v1/sync/orders/{order}:
// trimmed of spaces, as the server stores an operation's order, it must be
// 1 to MaxCodeLen bytes of UTF-8 text without NUL. Anything else is an
// *Error with CodeInvalid.
func ParseOrderRef(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", Errorf(CodeInvalid, "the order reference is required")
	case len(s) > MaxCodeLen:
		return "", Errorf(CodeInvalid, "the order reference is longer than %d bytes", MaxCodeLen)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return "", Errorf(CodeInvalid, "the order reference is not valid UTF-8 text (or contains a NUL character)")
	}
	return s, nil
}
