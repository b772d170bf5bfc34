package ledger

import (
	"time"

	"github.com/google/uuid"
)

// NoBatch is the canonical batch key of items that are not batch-tracked, so
// every balance has a full (location, item, batch) key.
var NoBatch = uuid.Nil

// Settings are a tenant's ledger rules that differ from site to site.
type Settings struct {
	// CountVarianceThreshold: a count whose variance, in the item's unit,
	// is larger than this in absolute value opens a count_variance review.
	CountVarianceThreshold int64 `json:"count_variance_threshold"`
	// ClockUncertainty: two effective times closer than this cannot be
	// ordered with confidence, so a count near a movement is ambiguous.
	ClockUncertainty time.Duration `json:"clock_uncertainty"`
}

// DefaultSettings are the settings of a tenant created without any.
var DefaultSettings = Settings{CountVarianceThreshold: 0, ClockUncertainty: 2 * time.Minute}

// Tenant is one customer; nothing of one tenant is visible to another.
type Tenant struct {
	ID        uuid.UUID
	Slug      string
	Name      string
	Settings  Settings
	CreatedAt time.Time
	// LedgerID names this tenant's ledger on the wire. It is random at
	// creation, so a device can tell a replaced database from its own.
	LedgerID uuid.UUID
}

// LedgerState is a tenant's counters, read and written under the tenant's
// ledger lock so that positions are gap-free and assigned in commit order.
type LedgerState struct {
	// NextPosition is the recorded position the next movement gets.
	NextPosition int64
	// NextChange is the change number the next writing transaction stamps
	// on every row it touches; the pull feed pages by it.
	NextChange int64
}

// Warehouse is a site. Locations and devices belong to one.
type Warehouse struct {
	TenantID uuid.UUID
	ID       uuid.UUID
	Code     string
	Name     string
	Changed  int64
}

// Location is a bin inside a warehouse, known by its code.
type Location struct {
	TenantID    uuid.UUID
	ID          uuid.UUID
	WarehouseID uuid.UUID
	Code        string
	Changed     int64
}

// Item is a stock-keeping unit.
type Item struct {
	TenantID      uuid.UUID
	ID            uuid.UUID
	SKU           string
	Name          string
	Unit          string
	Barcodes      []string
	BatchTracked  bool
	ExpiryTracked bool
	Changed       int64
}

// Batch is a lot of an item. Expiry is the zero time when the batch has none.
type Batch struct {
	TenantID  uuid.UUID
	ID        uuid.UUID
	ItemID    uuid.UUID
	Code      string
	Expiry    time.Time
	Generated bool
	Changed   int64
}

// Device is a handheld: the identity operations come from.
type Device struct {
	TenantID    uuid.UUID
	ID          uuid.UUID
	WarehouseID uuid.UUID
	Name        string
	// BatchPrefix makes batch codes generated offline unique per device.
	BatchPrefix string
	// AckedSeq is the highest contiguous sequence number merged from it.
	AckedSeq int64
	// ClockOffset is server time minus device time, measured at its last push.
	ClockOffset time.Duration
	LastSeenAt  time.Time
	CreatedAt   time.Time
	RevokedAt   time.Time
	// AppVersion, Pending and OldestUnsent are what the device last
	// reported: its app, its unacknowledged operations and the age of the
	// oldest one then.
	AppVersion   string
	Pending      int64
	OldestUnsent time.Duration
}

// Key identifies one balance: a location, an item, and a batch (NoBatch for
// items that are not batch-tracked).
type Key struct {
	LocationID uuid.UUID
	ItemID     uuid.UUID
	BatchID    uuid.UUID
}

// Less orders keys; balances are always written in this order so concurrent
// writers never deadlock.
func (k Key) Less(o Key) bool {
	if c := compareUUID(k.LocationID, o.LocationID); c != 0 {
		return c < 0
	}
	if c := compareUUID(k.ItemID, o.ItemID); c != 0 {
		return c < 0
	}
	return compareUUID(k.BatchID, o.BatchID) < 0
}

func compareUUID(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// MovementKind says what produced a movement.
type MovementKind string

// Movement kinds: one per operation kind, plus the corrections the ledger
// posts itself.
const (
	MoveReceive     MovementKind = "receive"
	MovePick        MovementKind = "pick"
	MoveReturn      MovementKind = "return"
	MoveTransferOut MovementKind = "transfer_out"
	MoveTransferIn  MovementKind = "transfer_in"
	MoveCount       MovementKind = "count"
	MoveAdjust      MovementKind = "adjust"
	// MoveCountCorrection re-derives a posted count after an earlier-dated
	// movement arrived late; Corrects names the count.
	MoveCountCorrection MovementKind = "count_correction"
	// MoveResolution is posted by a manager's review resolution.
	MoveResolution MovementKind = "resolution"
	// MoveReturnRematch moves part of a return that came without a batch,
	// and was put on the last shipped batch in excess, to a batch of the
	// order that shipped later; Corrects names the return.
	MoveReturnRematch MovementKind = "return_rematch"
)

// Movement is one immutable ledger row: a signed quantity on one key.
type Movement struct {
	TenantID uuid.UUID
	// Position is the per-tenant, gap-free recorded position.
	Position int64
	Key
	Qty  int64
	Kind MovementKind
	// EffectiveAt is when it happened on the floor (device clock corrected
	// by the device's measured offset).
	EffectiveAt time.Time
	RecordedAt  time.Time
	// OpID is the operation that produced it (uuid.Nil for a resolution
	// that is not the posting of a held operation).
	OpID     uuid.UUID
	DeviceID uuid.UUID
	// ReviewID is set when a review resolution posted it.
	ReviewID uuid.UUID
	// Corrects is the operation whose effect this movement corrects.
	Corrects uuid.UUID
	Order    string
}

// BalanceDelta is an aggregated change to one balance within a transaction.
type BalanceDelta struct {
	Key
	Delta        int64
	LastPosition int64
}

// OrderLine is what one order shipped and got back of one item and batch.
type OrderLine struct {
	Order   string
	ItemID  uuid.UUID
	BatchID uuid.UUID
	// Shipped and Returned are totals over the order's picks and returns.
	Shipped  int64
	Returned int64
	// FirstPosition is the recorded position of the first shipment of this
	// batch on the order; returns with no batch are split in this order.
	FirstPosition int64
}

// CountRecord is a posted count: what was counted, what the ledger expected
// at the count's effective time, and the net adjustment posted so far.
type CountRecord struct {
	OpID     uuid.UUID
	DeviceID uuid.UUID
	Key
	EffectiveAt time.Time
	Counted     int64
	Expected    int64
	// Adjusted is the sum of the count's own movement and its corrections;
	// Expected+Adjusted == Counted always.
	Adjusted int64
}

// Variance is counted minus expected.
func (c CountRecord) Variance() int64 { return c.Counted - c.Expected }
