package postgres

import (
	"fmt"
	"unsafe"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// pgx knows google/uuid's UUID only as a generic value: it encodes one
// through reflection and text (about 5µs each, measured) and scans one
// through sql.Scanner and a string (about 0.5µs). A merge of a thousand
// operations moves tens of thousands of UUIDs, so the encoding alone would
// cost more than the COPY it feeds. registerUUID hands uuid.UUID values to
// pgx's binary UUID codec directly, as a pgtype.UUIDValuer, for single
// values and array elements alike. Scanning cannot be redirected the same
// way (pgx prefers sql.Scanner, which uuid.UUID implements), so hot loops
// scan through id(&x) instead.

// registerUUID installs the encode plan on a connection's type map.
func registerUUID(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapUUIDEncodePlan}, m.TryWrapEncodePlanFuncs...)
}

// id lets pgx scan a non-NULL uuid column straight into *u in binary.
func id(u *uuid.UUID) *pgUUID { return (*pgUUID)(u) }

// pgUUID is uuid.UUID with the methods pgx's UUID codec looks for.
type pgUUID uuid.UUID

// UUIDValue encodes a UUID, uuid.Nil included: key columns store the nil
// UUID, and optional columns pass pgtype.UUID to mean NULL.
func (u pgUUID) UUIDValue() (pgtype.UUID, error) {
	return pgtype.UUID{Bytes: u, Valid: true}, nil
}

// ScanUUID refuses NULL: nullable columns are scanned into pgtype.UUID.
func (u *pgUUID) ScanUUID(v pgtype.UUID) error {
	if !v.Valid {
		return fmt.Errorf("cannot scan NULL into uuid.UUID")
	}
	*u = v.Bytes
	return nil
}

func tryWrapUUIDEncodePlan(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	switch v := value.(type) {
	case uuid.UUID:
		return &wrapUUIDEncodePlan{}, pgUUID(v), true
	case []uuid.UUID:
		// Left to pgx, a slice is walked through reflection, element by
		// element; as a FlatArray of pgUUID it is indexed directly.
		return &wrapUUIDSliceEncodePlan{}, pgUUIDs(v), true
	}
	return nil, nil, false
}

// pgUUIDs views a slice of UUIDs as pgUUIDs (the same bytes) without a copy.
func pgUUIDs(v []uuid.UUID) pgtype.FlatArray[pgUUID] {
	if v == nil {
		return nil
	}
	return unsafe.Slice((*pgUUID)(unsafe.SliceData(v)), len(v))
}

type wrapUUIDSliceEncodePlan struct{ next pgtype.EncodePlan }

func (p *wrapUUIDSliceEncodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *wrapUUIDSliceEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(pgUUIDs(value.([]uuid.UUID)), buf)
}

type wrapUUIDEncodePlan struct{ next pgtype.EncodePlan }

func (p *wrapUUIDEncodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *wrapUUIDEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(pgUUID(value.(uuid.UUID)), buf)
}
