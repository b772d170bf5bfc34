package ledger

import (
	"context"
	"encoding/base64"
	"encoding/json"

	"github.com/google/uuid"
)

// Pull page limits.
const (
	DefaultPullLimit = 1000
	MaxPullLimit     = 5000
)

// FeedKey is a position in one table of the pull feed: rows are ordered by
// (changed, id), or (changed, key) for balances, and a page resumes strictly
// after the last row it returned.
type FeedKey struct {
	Changed int64
	ID      uuid.UUID
	Key     Key
}

// feedStart is the position before every row changed after since.
func feedStart(since int64) FeedKey {
	return FeedKey{Changed: since, ID: uuid.Max, Key: Key{LocationID: uuid.Max, ItemID: uuid.Max, BatchID: uuid.Max}}
}

// PullRequest asks for the next page of a device's pull feed.
type PullRequest struct {
	TenantID uuid.UUID
	DeviceID uuid.UUID
	// Cursor is the opaque cursor of the previous page, "" for a full
	// download.
	Cursor string
	Limit  int
}

// BatchRow is a batch with its item's SKU.
type BatchRow struct {
	Batch
	SKU string
}

// PullPage is one page of the pull feed of a device: the catalog rows,
// balances of its warehouse, and reviews involving its operations that
// changed since the cursor.
type PullPage struct {
	LedgerID uuid.UUID
	Cursor   string
	More     bool
	// Reset is true when this page starts a full download.
	Reset     bool
	AckedSeq  int64
	Warehouse Warehouse
	Items     []Item
	Batches   []BatchRow
	Locations []Location
	Balances  []BalanceRow
	// Reviews involve at least one operation of the device (Review.Ops
	// names each operation's device).
	Reviews []Review
}

// feedPhase is one table of the feed, walked in this order so a device
// gets items before the balances that name them.
type feedPhase int

const (
	phaseItems feedPhase = iota
	phaseBatches
	phaseLocations
	phaseBalances
	phaseReviews
	phaseCount
)

// feedCursor is the decoded cursor. A round delivers every row with
// Since < changed <= Upto; Upto is fixed at the round's first page from the
// snapshot's next change number, and every transaction that commits later
// stamps a higher number, so no row is ever skipped: a row rewritten during
// the round moves past Upto and comes in the next round.
type feedCursor struct {
	Version  int       `json:"v"`
	LedgerID uuid.UUID `json:"l"`
	// Device is the device whose scope the cursor walks: another device's
	// position (a handheld re-enrolled, perhaps into another warehouse,
	// that kept its cursor) would skip every row of this scope that
	// changed before it.
	Device uuid.UUID `json:"d"`
	Since  int64     `json:"s"`
	// Upto is 0 between rounds: the next page starts a new one.
	Upto  int64     `json:"u,omitempty"`
	Phase feedPhase `json:"p,omitempty"`
	After *FeedKey  `json:"a,omitempty"`
}

func (c feedCursor) encode() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // plain values only
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (feedCursor, error) {
	var c feedCursor
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil || c.Version != 1 || c.Since < 0 || c.Upto < 0 || (c.Upto != 0 && c.Upto < c.Since) ||
		c.Phase < 0 || c.Phase >= phaseCount || (c.Upto == 0 && (c.Phase != 0 || c.After != nil)) {
		return feedCursor{}, Errorf(CodeInvalid, "the cursor is malformed; pull with an empty cursor to start over")
	}
	return c, nil
}

// NewLedgerID gives the tenant's ledger a new ID, which sends every device
// of the tenant back to a full download on its next pull. It is the step
// to take after restoring the database from a backup: the restored change
// numbers are reused by new writes, so an old cursor could otherwise skip
// rows. Unsent operations on the devices are pushed again and deduplicated
// by op_id. Returns CodeNotFound.
func (l *Ledger) NewLedgerID(ctx context.Context, tenantID uuid.UUID) (uuid.UUID, error) {
	id := uuid.New()
	err := l.write(ctx, tenantID, func(tx Tx) error { return tx.SetLedgerID(ctx, tenantID, id) })
	return id, err
}

// Pull returns the next page of the device's pull feed. A cursor from
// another ledger or another device, or from ahead of this ledger (a
// database restored from a backup), starts a full download with Reset set. Returns CodeInvalid for a
// malformed cursor and CodeNotFound for an unknown device.
func (l *Ledger) Pull(ctx context.Context, req PullRequest) (PullPage, error) {
	if req.Limit <= 0 {
		req.Limit = DefaultPullLimit
	}
	req.Limit = min(req.Limit, MaxPullLimit)
	var cur feedCursor
	if req.Cursor != "" {
		var err error
		if cur, err = decodeCursor(req.Cursor); err != nil {
			return PullPage{}, err
		}
	}
	var page PullPage
	err := l.store.Read(ctx, func(tx ReadTx) error {
		page = PullPage{}
		t, err := tx.Tenant(ctx, req.TenantID)
		if err != nil {
			return err
		}
		d, err := tx.Device(ctx, req.TenantID, req.DeviceID)
		if err != nil {
			return err
		}
		state, err := tx.LedgerState(ctx, req.TenantID)
		if err != nil {
			return err
		}
		whs, err := tx.Warehouses(ctx, req.TenantID, nil)
		if err != nil {
			return err
		}
		for _, w := range whs {
			if w.ID == d.WarehouseID {
				page.Warehouse = w
			}
		}
		page.LedgerID, page.AckedSeq = t.LedgerID, d.AckedSeq
		c := cur
		committed := state.NextChange - 1
		if req.Cursor == "" || c.LedgerID != t.LedgerID || c.Device != d.ID || c.Since > committed || c.Upto > committed {
			c = feedCursor{Version: 1, LedgerID: t.LedgerID, Device: d.ID}
			page.Reset = true
		}
		if c.Upto == 0 {
			c.Upto, c.Phase, c.After = committed, 0, nil
		}
		room := req.Limit
		for ; c.Phase < phaseCount; c.Phase, c.After = c.Phase+1, nil {
			after := feedStart(c.Since)
			if c.After != nil {
				after = *c.After
			}
			last, n, err := l.pullPhase(ctx, tx, &page, d, c.Phase, after, c.Upto, room)
			if err != nil {
				return err
			}
			room -= n
			if room == 0 {
				c.After = &last
				page.More = true
				page.Cursor = c.encode()
				return nil
			}
		}
		page.Cursor = feedCursor{Version: 1, LedgerID: t.LedgerID, Device: d.ID, Since: c.Upto}.encode()
		return nil
	})
	return page, err
}

// pullPhase appends up to limit rows of one table to the page and returns
// the feed position of the last one and how many it added.
func (l *Ledger) pullPhase(ctx context.Context, tx ReadTx, page *PullPage, d Device, phase feedPhase, after FeedKey, upto int64, limit int) (FeedKey, int, error) {
	tenantID := d.TenantID
	switch phase {
	case phaseItems:
		rows, err := tx.ItemsChanged(ctx, tenantID, after, upto, limit)
		if err != nil || len(rows) == 0 {
			return after, 0, err
		}
		page.Items = append(page.Items, rows...)
		r := rows[len(rows)-1]
		return FeedKey{Changed: r.Changed, ID: r.ID}, len(rows), nil
	case phaseBatches:
		rows, err := tx.BatchesChanged(ctx, tenantID, after, upto, limit)
		if err != nil || len(rows) == 0 {
			return after, 0, err
		}
		ids := make([]uuid.UUID, 0, len(rows))
		for _, b := range rows {
			ids = append(ids, b.ItemID)
		}
		items, err := tx.ItemsByID(ctx, tenantID, ids)
		if err != nil {
			return after, 0, err
		}
		skus := make(map[uuid.UUID]string, len(items))
		for _, it := range items {
			skus[it.ID] = it.SKU
		}
		for _, b := range rows {
			page.Batches = append(page.Batches, BatchRow{Batch: b, SKU: skus[b.ItemID]})
		}
		r := rows[len(rows)-1]
		return FeedKey{Changed: r.Changed, ID: r.ID}, len(rows), nil
	case phaseLocations:
		rows, err := tx.LocationsChanged(ctx, tenantID, d.WarehouseID, after, upto, limit)
		if err != nil || len(rows) == 0 {
			return after, 0, err
		}
		page.Locations = append(page.Locations, rows...)
		r := rows[len(rows)-1]
		return FeedKey{Changed: r.Changed, ID: r.ID}, len(rows), nil
	case phaseBalances:
		rows, err := tx.BalancesChanged(ctx, tenantID, d.WarehouseID, after, upto, limit)
		if err != nil || len(rows) == 0 {
			return after, 0, err
		}
		page.Balances = append(page.Balances, rows...)
		r := rows[len(rows)-1]
		return FeedKey{Changed: r.Changed, Key: r.Key}, len(rows), nil
	case phaseReviews:
		rows, err := tx.DeviceReviewsChanged(ctx, tenantID, d.ID, after, upto, limit)
		if err != nil || len(rows) == 0 {
			return after, 0, err
		}
		page.Reviews = append(page.Reviews, rows...)
		r := rows[len(rows)-1]
		return FeedKey{Changed: r.Changed, ID: r.ID}, len(rows), nil
	}
	return after, 0, nil
}
