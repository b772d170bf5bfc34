package ledger

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store is a ledger backend. It owns transactions and SQL; the rules live in
// Ledger, written once over the Tx interface, so both backends behave alike.
type Store interface {
	// CreateTenant inserts a new tenant with its counters at 1. Returns
	// CodeConflict if the slug is taken.
	CreateTenant(ctx context.Context, t Tenant) error
	// Write runs fn in one read-write transaction that holds the tenant's
	// ledger lock from start to commit: every writer of one tenant is
	// serialized in the database, never in process memory. It commits when
	// fn returns nil and rolls back otherwise. Returns CodeNotFound if the
	// tenant does not exist.
	Write(ctx context.Context, tenantID uuid.UUID, fn func(Tx) error) error
	// Read runs fn in a read-only transaction over one consistent snapshot.
	Read(ctx context.Context, fn func(ReadTx) error) error
	// Close releases the store's connections.
	Close() error

	// Credentials and device reports are single statements outside the
	// tenant's ledger lock: they never touch the ledger.

	// InsertAPIKey stores a new API key.
	InsertAPIKey(ctx context.Context, k APIKey) error
	// RevokeAPIKey sets RevokedAt (once; a second call keeps the first
	// time). Returns CodeNotFound.
	RevokeAPIKey(ctx context.Context, tenantID, keyID uuid.UUID, at time.Time) error
	// InsertEnrollmentCode stores a new enrollment code.
	InsertEnrollmentCode(ctx context.Context, c EnrollmentCode) error
	// ReportDevice stores LastSeenAt, AppVersion (when not empty), Pending
	// and OldestUnsent. Returns CodeNotFound.
	ReportDevice(ctx context.Context, tenantID, deviceID uuid.UUID, r DeviceReport) error

	// Users and sessions of the web console (ledger/users.go). Like the
	// other credentials, these are single statements outside the ledger
	// lock: signing in must not wait for a merge.

	// InsertUser stores a new user with its password hash (a PHC string).
	// Returns CodeNotFound for an unknown tenant and CodeConflict if the
	// login (or ID) is taken in the tenant.
	InsertUser(ctx context.Context, u User, passwordHash string) error
	// InsertSession stores a session under the SHA-256 hash of its secret,
	// in one statement, and only while its user is enabled and still has
	// passwordHash: a sign-in that raced with a password change or a
	// disable never outlives them. Returns CodeConflict when the user was
	// changed meanwhile and CodeNotFound when it does not exist.
	InsertSession(ctx context.Context, s Session, hash []byte, passwordHash string) error
	// DeleteSession deletes the session stored under hash, if any.
	DeleteSession(ctx context.Context, tenantID uuid.UUID, hash []byte) error
	// DeleteExpiredSessions deletes the tenant's sessions whose ExpiresAt
	// is at or before now.
	DeleteExpiredSessions(ctx context.Context, tenantID uuid.UUID, now time.Time) error
}

// ReadTx reads one consistent snapshot. Every method is scoped to one tenant.
// Methods that return one row return CodeNotFound when it does not exist;
// methods that return many return what exists, in no promised order unless
// they say so.
type ReadTx interface {
	Tenant(ctx context.Context, tenantID uuid.UUID) (Tenant, error)
	TenantBySlug(ctx context.Context, slug string) (Tenant, error)
	// Tenants lists tenants, oldest first, at most limit of them (all when
	// limit is not positive).
	Tenants(ctx context.Context, limit int) ([]Tenant, error)

	Device(ctx context.Context, tenantID, deviceID uuid.UUID) (Device, error)
	Devices(ctx context.Context, tenantID uuid.UUID) ([]Device, error)
	// LedgerState returns the tenant's counters as committed in this
	// snapshot.
	LedgerState(ctx context.Context, tenantID uuid.UUID) (LedgerState, error)

	// APIKeyByHash returns the key stored under hash, revoked or not.
	APIKeyByHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (APIKey, error)
	// APIKeys lists the tenant's keys by creation time.
	APIKeys(ctx context.Context, tenantID uuid.UUID) ([]APIKey, error)
	// EnrollmentCodeByHash finds a code of any tenant: a handheld types
	// only the code. It is the one lookup besides the tenant slug that is
	// not under a tenant_id.
	EnrollmentCodeByHash(ctx context.Context, hash []byte) (EnrollmentCode, error)
	// DeviceByTokenHash returns the device a token hash belongs to, revoked
	// or not.
	DeviceByTokenHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (Device, error)

	// The pull feed: rows with changed <= upto that come strictly after
	// the position after in (changed, id) order, at most limit of them, in
	// that order. Balances order by (changed, location, item, batch) and
	// compare after.Key; the others compare after.ID. Locations and
	// balances are those of one warehouse; DeviceReviewsChanged returns
	// the reviews with an operation of the device, with all their Ops.
	ItemsChanged(ctx context.Context, tenantID uuid.UUID, after FeedKey, upto int64, limit int) ([]Item, error)
	BatchesChanged(ctx context.Context, tenantID uuid.UUID, after FeedKey, upto int64, limit int) ([]Batch, error)
	LocationsChanged(ctx context.Context, tenantID, warehouseID uuid.UUID, after FeedKey, upto int64, limit int) ([]Location, error)
	BalancesChanged(ctx context.Context, tenantID, warehouseID uuid.UUID, after FeedKey, upto int64, limit int) ([]BalanceRow, error)
	DeviceReviewsChanged(ctx context.Context, tenantID, deviceID uuid.UUID, after FeedKey, upto int64, limit int) ([]Review, error)

	// Warehouses returns the warehouses with the given codes, all of them
	// when codes is nil.
	Warehouses(ctx context.Context, tenantID uuid.UUID, codes []string) ([]Warehouse, error)
	// LocationsByCode returns the locations of one warehouse with the codes.
	LocationsByCode(ctx context.Context, tenantID, warehouseID uuid.UUID, codes []string) ([]Location, error)
	LocationsByID(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) ([]Location, error)
	// Items by SKU, by ID and by barcode, each with all its barcodes.
	ItemsBySKU(ctx context.Context, tenantID uuid.UUID, skus []string) ([]Item, error)
	ItemsByID(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) ([]Item, error)
	// ItemsByBarcode maps each known barcode among barcodes to its item.
	ItemsByBarcode(ctx context.Context, tenantID uuid.UUID, barcodes []string) (map[string]Item, error)
	BatchesByCode(ctx context.Context, tenantID uuid.UUID, refs []BatchRef) ([]Batch, error)
	BatchesByID(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) ([]Batch, error)

	// LookupOps is the merge's one deduplication query: the canonical op
	// log entries of the device with fromSeq <= seq <= toSeq, and the
	// canonical entries (of any device of the tenant) whose op_id is in
	// opIDs. Non-canonical entries in the seq range are returned too.
	LookupOps(ctx context.Context, tenantID, deviceID uuid.UUID, fromSeq, toSeq int64, opIDs []uuid.UUID) ([]OpRecord, error)
	// Balances returns the on-hand quantity of each key that has a
	// balance row; missing keys are zero.
	Balances(ctx context.Context, tenantID uuid.UUID, keys []Key) (map[Key]int64, error)
	// StockAsOf sums the movements of key whose effective time is at or
	// before at. A balance always equals the sum of its key's movements,
	// so a store may answer with the balance less the movements after at.
	StockAsOf(ctx context.Context, tenantID uuid.UUID, key Key, at time.Time) (int64, error)
	// MovementsBetween returns the movements of key with from <= effective
	// time <= to, ordered by position.
	MovementsBetween(ctx context.Context, tenantID uuid.UUID, key Key, from, to time.Time) ([]Movement, error)
	// KeyWindows answers StockAsOf(Key, At) and MovementsBetween(Key,
	// From, To) for each window, in order: a merge asks both for every
	// count it posts, and one round trip for a push's counts costs far
	// less than two per count.
	KeyWindows(ctx context.Context, tenantID uuid.UUID, windows []KeyWindow) ([]KeyWindowState, error)
	// MovementsOfOp returns the movements produced by, or correcting, an
	// operation (OpID or Corrects equal to opID), ordered by position.
	MovementsOfOp(ctx context.Context, tenantID, opID uuid.UUID) ([]Movement, error)
	// OrderLines returns the lines of the given orders.
	OrderLines(ctx context.Context, tenantID uuid.UUID, orders []string) ([]OrderLine, error)
	// CountsOnKeys returns the posted counts on the keys.
	CountsOnKeys(ctx context.Context, tenantID uuid.UUID, keys []Key) ([]CountRecord, error)
	// OpenReviews returns the open reviews on any of the keys, except the
	// count reviews (CountReviewKind), and the open reviews on any of the
	// orders, ordered by opening time. Count reviews are found by their
	// count with OpenReviewsOfOps: on a busy key they pile up during a
	// shift, and a merge needs only a few of them.
	//
	// Both are the merge's reads: their reviews' Ops hold only the opening
	// operation (Review.KeepOpeningOp). A merge only adds operations, and
	// UpsertReviews skips those already linked.
	OpenReviews(ctx context.Context, tenantID uuid.UUID, keys []Key, orders []string) ([]Review, error)
	// OpenReviewsOfOps returns the open reviews that any of the operations
	// opened, ordered by opening time, with only their opening operation.
	OpenReviewsOfOps(ctx context.Context, tenantID uuid.UUID, opIDs []uuid.UUID) ([]Review, error)
	Review(ctx context.Context, tenantID, reviewID uuid.UUID) (Review, error)

	// Queries for people and integrations.
	QueryBalances(ctx context.Context, tenantID uuid.UUID, f BalanceFilter) ([]BalanceRow, error)
	QueryMovements(ctx context.Context, tenantID uuid.UUID, f MovementFilter) ([]MovementRow, error)
	QueryReviews(ctx context.Context, tenantID uuid.UUID, f ReviewFilter) ([]Review, error)
	// CountReviews counts the reviews QueryReviews would return for f
	// without its Limit, by kind; kinds with none are absent.
	CountReviews(ctx context.Context, tenantID uuid.UUID, f ReviewFilter) (map[ReviewKind]int, error)
	// ReviewFlow counts how the tenant's review backlog moved over n
	// periods of length step after from (see ReviewFlow), with a few
	// aggregate queries: however many reviews there are, it reads none of
	// them.
	ReviewFlow(ctx context.Context, tenantID uuid.UUID, from time.Time, step time.Duration, n int) (ReviewFlow, error)
	QueryOpLog(ctx context.Context, tenantID uuid.UUID, f OpLogFilter) ([]OpLogEntry, error)

	// CheckConsistency returns every discrepancy between the stored state
	// and what the movements imply (see Discrepancy).
	CheckConsistency(ctx context.Context, tenantID uuid.UUID) ([]Discrepancy, error)

	// Users and sessions of the web console (ledger/users.go).

	// User returns one user. Returns CodeNotFound.
	User(ctx context.Context, tenantID, userID uuid.UUID) (User, error)
	// UserByLogin returns the user with the (normalized) login and its
	// password hash. Returns CodeNotFound.
	UserByLogin(ctx context.Context, tenantID uuid.UUID, login string) (User, string, error)
	// Users lists the tenant's users, disabled ones included, by login.
	Users(ctx context.Context, tenantID uuid.UUID) ([]User, error)
	// SessionByHash returns the session stored under hash, expired or not.
	// Returns CodeNotFound.
	SessionByHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (Session, error)
}

// Tx is a read-write transaction holding one tenant's ledger lock. The
// ledger only writes rows whose catalog references exist; a store may refuse
// others (CodeNotFound, at the latest on commit) but need not: the SQLite
// store has foreign keys on every table, the PostgreSQL store only on the
// catalog, to keep ingest fast.
type Tx interface {
	ReadTx
	// Ledger returns the tenant's counters as read under the lock.
	Ledger() LedgerState
	// SetLedger stores the tenant's counters.
	SetLedger(ctx context.Context, s LedgerState) error
	// WriteIDs returns the tenant's write ID as this transaction found it
	// under the lock (Nil when none was stored yet), and the new, random
	// one it stores when it commits. Every committed Write of a tenant
	// changes it, whatever fn wrote, so a process that remembers the ID its
	// own last write left can tell whether anyone wrote the tenant since.
	WriteIDs() (found, leaves uuid.UUID)
	UpdateSettings(ctx context.Context, tenantID uuid.UUID, s Settings) error
	// SetLedgerID gives the tenant's ledger a new ID. Returns CodeNotFound.
	SetLedgerID(ctx context.Context, tenantID, ledgerID uuid.UUID) error

	// Upserts by ID: the ledger assigns IDs and looks up natural keys first.
	UpsertWarehouses(ctx context.Context, rows []Warehouse) error
	UpsertLocations(ctx context.Context, rows []Location) error
	// UpsertItems writes the items and adds their barcodes (a barcode
	// already on another item moves to this one).
	UpsertItems(ctx context.Context, rows []Item) error
	UpsertBatches(ctx context.Context, rows []Batch) error

	InsertDevice(ctx context.Context, d Device) error
	// ClaimEnrollmentCode marks an unused code used by deviceID. Returns
	// CodeConflict when it was used already, CodeNotFound when missing.
	ClaimEnrollmentCode(ctx context.Context, tenantID, codeID, deviceID uuid.UUID, at time.Time) error
	InsertDeviceToken(ctx context.Context, t DeviceToken) error
	// UpdateDevice stores AckedSeq, ClockOffset, LastSeenAt and RevokedAt.
	UpdateDevice(ctx context.Context, d Device) error

	InsertOps(ctx context.Context, rows []OpRecord) error
	// MarkOpsPosted sets Posted on canonical op log entries.
	MarkOpsPosted(ctx context.Context, tenantID uuid.UUID, opIDs []uuid.UUID) error
	InsertOpConflicts(ctx context.Context, rows []OpConflict) error
	InsertMovements(ctx context.Context, rows []Movement) error
	// AddBalances adds each delta to its balance, creating it at zero if
	// needed, in the order given (sorted by key), stamping change.
	AddBalances(ctx context.Context, tenantID uuid.UUID, change int64, deltas []BalanceDelta) error
	// UpsertOrderLines writes the full lines (not deltas).
	UpsertOrderLines(ctx context.Context, tenantID uuid.UUID, rows []OrderLine) error
	UpsertCounts(ctx context.Context, tenantID uuid.UUID, rows []CountRecord) error
	// UpsertReviews writes the reviews and adds any new ReviewOps.
	UpsertReviews(ctx context.Context, rows []Review) error

	// Users and sessions of the web console (ledger/users.go). Changes to
	// roles and to who may sign in take the tenant's lock, so two admins
	// demoting each other at once cannot leave the tenant without one.

	// UpdateUser stores Name, Role and DisabledAt. Returns CodeNotFound.
	UpdateUser(ctx context.Context, u User) error
	// SetUserPasswordHash stores a new password hash (a PHC string).
	// Returns CodeNotFound.
	SetUserPasswordHash(ctx context.Context, tenantID, userID uuid.UUID, passwordHash string) error
	// DeleteUserSessions deletes every session of the user.
	DeleteUserSessions(ctx context.Context, tenantID, userID uuid.UUID) error
}

// KeyWindow is a time on a key and a window of effective times around it
// (see ReadTx.KeyWindows).
type KeyWindow struct {
	Key
	At       time.Time
	From, To time.Time
}

// KeyWindowState is what a store holds for a KeyWindow: the stock as of At
// and the movements effective in [From, To], ordered by position.
type KeyWindowState struct {
	StockAsOf int64
	Between   []Movement
}

// BatchRef names a batch by its item and code.
type BatchRef struct {
	ItemID uuid.UUID
	Code   string
}

// BalanceFilter selects balances. Empty fields select everything.
type BalanceFilter struct {
	Warehouse string
	Location  string
	SKU       string
	Batch     string
	// AsOf, when set, derives stock as of this effective time from the
	// movements instead of reading current balances.
	AsOf time.Time
	// NonZero leaves out keys whose quantity is zero.
	NonZero bool
	// Limit returns at most this many rows, the first in the result's
	// order (all when 0).
	Limit int
}

// BalanceRow is a balance with its human-readable key.
type BalanceRow struct {
	Key
	Warehouse string
	Location  string
	SKU       string
	Batch     string
	OnHand    int64
	// Changed is the change number of the last write to the balance.
	Changed int64
}

// MovementFilter selects movements; at least one field is usually set.
type MovementFilter struct {
	Warehouse string
	Location  string
	SKU       string
	Batch     string
	Order     string
	OpID      uuid.UUID
	// AfterPosition pages: only positions greater than it.
	AfterPosition int64
	Limit         int
}

// MovementRow is a movement with its human-readable key.
type MovementRow struct {
	Movement
	Warehouse string
	Location  string
	SKU       string
	Batch     string
}

// ReviewFilter selects reviews. Empty fields select everything.
type ReviewFilter struct {
	Status ReviewStatus
	Kind   ReviewKind
	// IDs, when not empty, selects only these reviews.
	IDs []uuid.UUID
	// DeviceID and OpID match any operation involved, not only the
	// opening one.
	DeviceID uuid.UUID
	OpID     uuid.UUID
	// WarehouseID selects the reviews of one warehouse: those on a
	// location of it, and those with no known location (LocationID Nil)
	// whose opening device belongs to it.
	WarehouseID uuid.UUID
	// Actor selects the reviews whose opening operation names this staff
	// member (Operation.Actor), exactly.
	Actor string
	// OpenedAfter and OpenedBefore bound the opening time when set:
	// OpenedAfter <= opened at < OpenedBefore. The managers' console uses
	// OpenedBefore for the queue's age filter.
	OpenedAfter  time.Time
	OpenedBefore time.Time
	// ResolvedAfter and ResolvedBefore bound the resolution time
	// (ResolutionRecord.At) when set: ResolvedAfter <= at <
	// ResolvedBefore. Either leaves out the reviews not resolved.
	ResolvedAfter  time.Time
	ResolvedBefore time.Time
	// ResolvedBy and Action select resolutions by who decided (exactly,
	// as ResolutionRecord.By holds it) and by their action.
	ResolvedBy string
	Action     Action
	// Order is the order of the result, and which reviews Limit keeps.
	Order ReviewOrder
	// OpeningOpOnly leaves only the opening operation in each review's
	// Ops (see Review.KeepOpeningOp): lists of reviews need no more, and
	// a count review links hundreds of operations.
	OpeningOpOnly bool
	Limit         int
}

// ReviewOrder is the order QueryReviews returns reviews in.
type ReviewOrder int

// Review orders.
const (
	// ReviewsByOpening orders by opening time, then ID: the queue's
	// order, oldest first.
	ReviewsByOpening ReviewOrder = iota
	// ReviewsNewestResolved orders by resolution time, newest first, then
	// by ID, descending: the audit trail's order. It selects resolved
	// reviews only.
	ReviewsNewestResolved
)

// ReviewFlow is how a tenant's review backlog moved over n periods of one
// length (step) after a start: Open is how many reviews were open at the
// start (opened at or before it and not resolved by then); Opened[i] and
// Resolved[i] how many were opened and resolved in period i, which runs
// from start+i*step, exclusive, to start+(i+1)*step, inclusive. A
// resolution timed before its review was opened (clocks disagree) counts
// as made when the review was opened, so the backlog at the end of period
// i is Open plus the Opened less the Resolved of periods 0 to i.
type ReviewFlow struct {
	Open     int
	Opened   []int
	Resolved []int
}

// MaxFlowPeriods bounds ReviewFlow's n.
const MaxFlowPeriods = 1000

// OpLogFilter selects op log entries of a device (or all devices when
// DeviceID is Nil), ordered by device and seq; conflicts are included.
type OpLogFilter struct {
	DeviceID uuid.UUID
	Status   Status
	AfterSeq int64
	Limit    int
}

// OpLogEntry is an op log row as people see it. Conflict is true for an
// op_conflict kept apart because its seq was taken.
type OpLogEntry struct {
	OpRecord
	Conflict bool
}

// Discrepancy kinds reported by CheckConsistency, with what Want and Got
// hold for each.
const (
	// DiscrepancyBalanceMismatch: a balance differs from the sum of its
	// key's movements, or a key whose movements sum to non-zero has no
	// balance. Want is the sum, Got the balance (0 when missing).
	DiscrepancyBalanceMismatch = "balance_mismatch"
	// DiscrepancyMissingMovements: a canonical operation marked posted has
	// no movement with its op_id. OpID names it.
	DiscrepancyMissingMovements = "missing_movements"
	// DiscrepancyPositionGap: positions are not exactly 1..N. One per gap:
	// Want is the first missing position, Got the next position present.
	DiscrepancyPositionGap = "position_gap"
	// DiscrepancyCounterBehind: the tenant's next position is not one past
	// the highest position. Want is highest+1, Got the counter.
	DiscrepancyCounterBehind = "counter_behind"
)

// Discrepancy is one thing the consistency check found wrong.
type Discrepancy struct {
	// Kind is one of the Discrepancy* constants.
	Kind    string
	Key     Key
	OpID    uuid.UUID
	Want    int64
	Got     int64
	Message string
}
