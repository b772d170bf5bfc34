package ledger

import (
	"time"

	"github.com/google/uuid"
)

// MergeRequest is one push from one device: operations in ascending,
// contiguous seq order.
type MergeRequest struct {
	TenantID uuid.UUID
	DeviceID uuid.UUID
	// DeviceTime is the device's clock when it sent the push; the ledger
	// measures the device's clock offset from it. Zero keeps the last offset.
	DeviceTime time.Time
	Ops        []Operation
	// KnownAckedSeq, when the device reports it, is the acked seq it last
	// heard from the server. A device restored from an old backup knows
	// less than the server has acked, and reuses seqs the server already
	// holds for other operations. When the push then carries, at a seq the
	// device did not know was acked, an operation other than the one the
	// server holds there, Merge refuses the whole push with CodeSeqBehind
	// and the server's AckedSeq, so the device renumbers its pending
	// operations instead of having them rejected as op_conflict. A lost
	// answer looks the same from the device but carries the same
	// operations, which replay as usual.
	KnownAckedSeq *int64
}

// MergeResponse has one result per operation, in request order.
type MergeResponse struct {
	AckedSeq   int64
	Results    []Result
	ServerTime time.Time
}
