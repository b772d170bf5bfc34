package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Ledger applies stocksync's rules over a Store. It keeps no state of its own
// between calls: everything that must be serialized is serialized by the
// store's per-tenant lock, so any number of Ledgers may share one database.
type Ledger struct {
	store Store
	queue writeQueue
	known knownStates
	now   func() time.Time
	log   *slog.Logger
}

// Options configure a Ledger. The zero value is usable.
type Options struct {
	// Now is the clock; tests inject one. Defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// KnownEntries bounds what the ledger keeps in memory of its tenants'
	// state between merges (ledger/known.go): 0 means
	// DefaultKnownEntries, a negative value keeps nothing.
	KnownEntries int
}

// New returns a Ledger over store.
func New(store Store, opts Options) *Ledger {
	l := &Ledger{store: store, now: opts.Now, log: opts.Logger}
	l.known.max = opts.KnownEntries
	if l.known.max == 0 {
		l.known.max = DefaultKnownEntries
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l
}

// Store returns the ledger's store.
func (l *Ledger) Store() Store { return l.store }

func (l *Ledger) clock() time.Time { return l.now().UTC().Truncate(time.Microsecond) }

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// CreateTenant creates a tenant with the given slug. Returns CodeInvalid for
// a malformed slug and CodeConflict if the slug is taken.
func (l *Ledger) CreateTenant(ctx context.Context, slug, name string, settings *Settings) (Tenant, error) {
	if !slugPattern.MatchString(slug) {
		return Tenant{}, Errorf(CodeInvalid, "tenant slug %q must be 2-63 lowercase letters, digits or dashes", slug)
	}
	if name == "" {
		name = slug
	}
	t := Tenant{ID: uuid.Must(uuid.NewV7()), Slug: slug, Name: name, Settings: DefaultSettings, CreatedAt: l.clock(), LedgerID: uuid.New()}
	if settings != nil {
		if err := settings.validate(); err != nil {
			return Tenant{}, err
		}
		t.Settings = *settings
	}
	if err := l.store.CreateTenant(ctx, t); err != nil {
		return Tenant{}, err
	}
	return t, nil
}

func (s Settings) validate() error {
	if s.CountVarianceThreshold < 0 {
		return Errorf(CodeInvalid, "count_variance_threshold must not be negative")
	}
	if s.ClockUncertainty < 0 || s.ClockUncertainty > 72*time.Hour {
		return Errorf(CodeInvalid, "clock_uncertainty must be between 0 and 72h")
	}
	return nil
}

// UpdateSettings changes a tenant's settings. Returns CodeNotFound or
// CodeInvalid.
func (l *Ledger) UpdateSettings(ctx context.Context, tenantID uuid.UUID, s Settings) error {
	if err := s.validate(); err != nil {
		return err
	}
	return l.writeKeepingKnown(ctx, tenantID, func(tx Tx) error { return tx.UpdateSettings(ctx, tenantID, s) })
}

// Tenant returns a tenant. Returns CodeNotFound.
func (l *Ledger) Tenant(ctx context.Context, tenantID uuid.UUID) (t Tenant, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { t, err = tx.Tenant(ctx, tenantID); return err })
	return t, err
}

// TenantBySlug returns a tenant by its slug. Returns CodeNotFound.
func (l *Ledger) TenantBySlug(ctx context.Context, slug string) (t Tenant, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { t, err = tx.TenantBySlug(ctx, slug); return err })
	return t, err
}

// Tenants lists every tenant, oldest first.
func (l *Ledger) Tenants(ctx context.Context) ([]Tenant, error) { return l.TenantsUpTo(ctx, 0) }

// TenantsUpTo lists at most limit tenants (all when limit is not
// positive), oldest first: enough to tell whether a server has one.
func (l *Ledger) TenantsUpTo(ctx context.Context, limit int) (ts []Tenant, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { ts, err = tx.Tenants(ctx, limit); return err })
	return ts, err
}

// DeviceInput registers a device in a warehouse.
type DeviceInput struct {
	Warehouse string
	Name      string
	// BatchPrefix defaults to a short prefix derived from the device ID.
	BatchPrefix string
}

// RegisterDevice creates a device in a warehouse of the tenant. Returns
// CodeNotFound for an unknown warehouse and CodeInvalid for a bad name.
func (l *Ledger) RegisterDevice(ctx context.Context, tenantID uuid.UUID, in DeviceInput) (Device, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > MaxCodeLen {
		return Device{}, Errorf(CodeInvalid, "device name must be 1-%d characters", MaxCodeLen)
	}
	d := Device{TenantID: tenantID, ID: uuid.Must(uuid.NewV7()), Name: name, CreatedAt: l.clock()}
	d.BatchPrefix = in.BatchPrefix
	if d.BatchPrefix == "" {
		// The random tail of a v7 UUID; unique enough per tenant, and the
		// store's unique index catches the rare clash.
		d.BatchPrefix = strings.ToUpper(strings.ReplaceAll(d.ID.String(), "-", "")[24:30])
	}
	err := l.writeKeepingKnown(ctx, tenantID, func(tx Tx) error {
		whs, err := tx.Warehouses(ctx, tenantID, []string{in.Warehouse})
		if err != nil {
			return err
		}
		if len(whs) == 0 {
			return Errorf(CodeNotFound, "warehouse %q not found", in.Warehouse)
		}
		d.WarehouseID = whs[0].ID
		return tx.InsertDevice(ctx, d)
	})
	return d, err
}

// Device returns one device. Returns CodeNotFound.
func (l *Ledger) Device(ctx context.Context, tenantID, deviceID uuid.UUID) (d Device, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { d, err = tx.Device(ctx, tenantID, deviceID); return err })
	return d, err
}

// Devices lists the tenant's devices.
func (l *Ledger) Devices(ctx context.Context, tenantID uuid.UUID) (ds []Device, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { ds, err = tx.Devices(ctx, tenantID); return err })
	return ds, err
}

// RevokeDevice marks a device revoked: its pushes are refused from then on.
// Returns CodeNotFound.
func (l *Ledger) RevokeDevice(ctx context.Context, tenantID, deviceID uuid.UUID) error {
	return l.writeKeepingKnown(ctx, tenantID, func(tx Tx) error {
		d, err := tx.Device(ctx, tenantID, deviceID)
		if err != nil {
			return err
		}
		if !d.RevokedAt.IsZero() {
			return nil
		}
		d.RevokedAt = l.clock()
		return tx.UpdateDevice(ctx, d)
	})
}

// Balances returns balances matching f: current ones, or as of f.AsOf.
func (l *Ledger) Balances(ctx context.Context, tenantID uuid.UUID, f BalanceFilter) (rows []BalanceRow, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { rows, err = tx.QueryBalances(ctx, tenantID, f); return err })
	return rows, err
}

// OrderLineView is what an order shipped and got back of one item and
// batch, with the SKU and batch code resolved (Batch is empty for an item
// that is not batch-tracked).
type OrderLineView struct {
	SKU      string
	Batch    string
	Shipped  int64
	Returned int64
}

// OrderLines returns what an order of the tenant shipped and got back, per
// item and batch, in the order of the first shipment of each: the same
// lines the return rules match a return against. It counts posted
// operations only (a held pick ships nothing yet). An order with no known
// shipment or return is not an error: the result is empty.
func (l *Ledger) OrderLines(ctx context.Context, tenantID uuid.UUID, order string) ([]OrderLineView, error) {
	// Stored orders are trimmed (Operation.normalize); a lookup is too.
	order = strings.TrimSpace(order)
	if order == "" {
		return []OrderLineView{}, nil
	}
	out := []OrderLineView{}
	err := l.store.Read(ctx, func(tx ReadTx) error {
		lines, err := tx.OrderLines(ctx, tenantID, []string{order})
		if err != nil {
			return err
		}
		var itemIDs, batchIDs []uuid.UUID
		for _, ln := range lines {
			itemIDs = append(itemIDs, ln.ItemID)
			if ln.BatchID != NoBatch {
				batchIDs = append(batchIDs, ln.BatchID)
			}
		}
		skus, codes := map[uuid.UUID]string{}, map[uuid.UUID]string{}
		if len(itemIDs) > 0 {
			items, err := tx.ItemsByID(ctx, tenantID, itemIDs)
			if err != nil {
				return err
			}
			for _, it := range items {
				skus[it.ID] = it.SKU
			}
		}
		if len(batchIDs) > 0 {
			batches, err := tx.BatchesByID(ctx, tenantID, batchIDs)
			if err != nil {
				return err
			}
			for _, b := range batches {
				codes[b.ID] = b.Code
			}
		}
		for _, ln := range lines {
			if ln.Shipped == 0 && ln.Returned == 0 {
				continue
			}
			out = append(out, OrderLineView{SKU: skus[ln.ItemID], Batch: codes[ln.BatchID], Shipped: ln.Shipped, Returned: ln.Returned})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read order %q: %w", order, err)
	}
	return out, nil
}

// Movements returns movements matching f, by recorded position.
func (l *Ledger) Movements(ctx context.Context, tenantID uuid.UUID, f MovementFilter) (rows []MovementRow, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { rows, err = tx.QueryMovements(ctx, tenantID, f); return err })
	return rows, err
}

// Reviews returns reviews matching f.
func (l *Ledger) Reviews(ctx context.Context, tenantID uuid.UUID, f ReviewFilter) (rows []Review, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { rows, err = tx.QueryReviews(ctx, tenantID, f); return err })
	return rows, err
}

// CountReviews counts the reviews matching f, by kind.
func (l *Ledger) CountReviews(ctx context.Context, tenantID uuid.UUID, f ReviewFilter) (n map[ReviewKind]int, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { n, err = tx.CountReviews(ctx, tenantID, f); return err })
	return n, err
}

// ReviewFlow counts how the tenant's review backlog moved over n periods
// of length step after from (see ReviewFlow). Returns CodeInvalid unless
// step is positive and n is 1 to MaxFlowPeriods.
func (l *Ledger) ReviewFlow(ctx context.Context, tenantID uuid.UUID, from time.Time, step time.Duration, n int) (f ReviewFlow, err error) {
	if step <= 0 || n < 1 || n > MaxFlowPeriods {
		return ReviewFlow{}, Errorf(CodeInvalid, "a review flow needs a positive step and 1-%d periods", MaxFlowPeriods)
	}
	err = l.store.Read(ctx, func(tx ReadTx) error { f, err = tx.ReviewFlow(ctx, tenantID, from, step, n); return err })
	return f, err
}

// Review returns one review. Returns CodeNotFound.
func (l *Ledger) Review(ctx context.Context, tenantID, reviewID uuid.UUID) (r Review, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { r, err = tx.Review(ctx, tenantID, reviewID); return err })
	return r, err
}

// OpLog returns op log entries matching f, rejected ones included.
func (l *Ledger) OpLog(ctx context.Context, tenantID uuid.UUID, f OpLogFilter) (rows []OpLogEntry, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { rows, err = tx.QueryOpLog(ctx, tenantID, f); return err })
	return rows, err
}

// Check verifies one tenant's ledger, or every tenant's when tenantID is Nil:
// every balance equals the sum of its movements, every posted operation has
// its movements, positions are gap-free. It returns what it found wrong.
func (l *Ledger) Check(ctx context.Context, tenantID uuid.UUID) ([]Discrepancy, error) {
	var out []Discrepancy
	err := l.store.Read(ctx, func(tx ReadTx) error {
		ids := []uuid.UUID{tenantID}
		if tenantID == uuid.Nil {
			ts, err := tx.Tenants(ctx, 0)
			if err != nil {
				return err
			}
			ids = ids[:0]
			for _, t := range ts {
				ids = append(ids, t.ID)
			}
		}
		for _, id := range ids {
			ds, err := tx.CheckConsistency(ctx, id)
			if err != nil {
				return fmt.Errorf("check tenant %s: %w", id, err)
			}
			out = append(out, ds...)
		}
		return nil
	})
	return out, err
}
