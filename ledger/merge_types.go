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
}

// MergeResponse has one result per operation, in request order.
type MergeResponse struct {
	AckedSeq   int64
	Results    []Result
	ServerTime time.Time
}
