package client

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"stocksync/syncproto"
)

// Status is what a handheld shows about itself: who it is, what is waiting
// for the server, and how the last sync went.
type Status struct {
	Enrolled      bool       `json:"enrolled"`
	DeviceID      string     `json:"device_id,omitempty"`
	DeviceName    string     `json:"device_name,omitempty"`
	Server        string     `json:"server,omitempty"`
	Warehouse     string     `json:"warehouse,omitempty"`
	WarehouseName string     `json:"warehouse_name,omitempty"`
	LedgerID      string     `json:"ledger_id,omitempty"`
	EnrolledAt    *time.Time `json:"enrolled_at,omitempty"`
	// Pending is the operations the server has not acknowledged;
	// OldestUnsent the age of the oldest of them (0 when none).
	Pending             int           `json:"pending"`
	OldestUnsent        time.Duration `json:"-"`
	OldestUnsentSeconds int64         `json:"oldest_unsent_seconds"`
	// AckedSeq is the server's acked_seq as last heard; LastSeq the
	// highest seq this device assigned.
	AckedSeq int64 `json:"acked_seq"`
	LastSeq  int64 `json:"last_seq"`
	// Problems is the operations that came back flagged, held or
	// rejected; OpenReviews the reviews of them a manager has not decided.
	Problems    int `json:"problems"`
	OpenReviews int `json:"open_reviews"`
	// Items, Locations and Balances count the pulled catalog and stock.
	Items     int `json:"items"`
	Locations int `json:"locations"`
	Balances  int `json:"balances"`
	// LastSync is when a sync last finished without error; LastAttempt
	// when one last started; LastError why the last one failed, with
	// LastErrorCode the server's code, "network" or "canceled".
	LastSync      *time.Time `json:"last_sync,omitempty"`
	LastAttempt   *time.Time `json:"last_attempt,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastErrorCode string     `json:"last_error_code,omitempty"`
}

// problemStatuses are the results a picker must see again.
const problemStatuses = `('flagged', 'held', 'rejected')`

// Status reads the device's state from its database; it never calls the
// server.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.read(ctx, func(tx *sql.Tx) error {
		st, err := loadState(ctx, tx)
		if err != nil {
			return err
		}
		s = Status{Enrolled: st.enrolled(), DeviceID: st.DeviceID, DeviceName: st.DeviceName, Server: st.ServerURL,
			Warehouse: st.Warehouse, WarehouseName: st.WarehouseName, LedgerID: st.LedgerID,
			EnrolledAt: nullTime(st.EnrolledAt), AckedSeq: st.AckedSeq, LastSeq: st.NextSeq - 1,
			LastSync: nullTime(st.LastSyncAt), LastAttempt: nullTime(st.LastAttemptAt),
			LastError: st.LastError, LastErrorCode: st.LastErrorCode}
		var oldest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT count(*), min(recorded_at) FROM ops WHERE acked = 0`).Scan(&s.Pending, &oldest); err != nil {
			return err
		}
		if oldest.Valid {
			s.OldestUnsent = max(c.now().Sub(fromMicros(oldest.Int64)), 0)
			s.OldestUnsentSeconds = int64(s.OldestUnsent / time.Second)
		}
		for _, q := range []struct {
			dst   *int
			query string
		}{
			{&s.Problems, `SELECT count(*) FROM ops WHERE status IN ` + problemStatuses},
			{&s.OpenReviews, `SELECT count(*) FROM decisions WHERE status = 'open'`},
			{&s.Items, `SELECT count(*) FROM items`},
			{&s.Locations, `SELECT count(*) FROM locations`},
			{&s.Balances, `SELECT count(*) FROM balances`},
		} {
			if err := tx.QueryRowContext(ctx, q.query).Scan(q.dst); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Status{}, fmt.Errorf("device status: %w", err)
	}
	return s, nil
}

// OpsFilter selects operations for Ops.
type OpsFilter struct {
	// Problems keeps only operations that came back flagged, held or
	// rejected: the list a picker and a manager go through.
	Problems bool
	// Pending keeps only operations the server has not acknowledged.
	Pending bool
	// Order, when set, keeps only operations on this order (compared
	// exactly, as recorded), so a return screen need not read the whole
	// history.
	Order string
	// Limit keeps the most recent Limit operations; 0 keeps all.
	Limit int
}

// OpView is one recorded operation with what became of it.
type OpView struct {
	Op         syncproto.Op `json:"op"`
	RecordedAt time.Time    `json:"recorded_at"`
	// Pending is true until the server acknowledged the operation.
	Pending   bool       `json:"pending"`
	SentCount int        `json:"sent_count"`
	LastSent  *time.Time `json:"last_sent,omitempty"`
	// The server's result; Status is empty until one arrived.
	Status      syncproto.Status       `json:"status,omitempty"`
	Code        syncproto.Code         `json:"code,omitempty"`
	Message     string                 `json:"message,omitempty"`
	ReviewIDs   []uuid.UUID            `json:"review_ids,omitempty"`
	Allocations []syncproto.Allocation `json:"allocations,omitempty"`
	Replayed    bool                   `json:"replayed,omitempty"`
	// Batch is the batch the movement counts under: the one the server
	// chose or generated, else the one generated on the device, else the
	// scanned one.
	Batch    string    `json:"batch,omitempty"`
	Warnings []Warning `json:"warnings,omitempty"`
	// Decisions are the reviews of this operation, open or decided, as
	// last pulled.
	Decisions []syncproto.Decision `json:"decisions,omitempty"`
}

// Ops lists recorded operations in seq order, with their results and the
// managers' decisions on them.
func (c *Client) Ops(ctx context.Context, f OpsFilter) ([]OpView, error) {
	where := "1 = 1"
	if f.Problems {
		where += " AND status IN " + problemStatuses
	}
	if f.Pending {
		where += " AND acked = 0"
	}
	args := []any{}
	if f.Order != "" {
		where += " AND json_extract(payload, '$.order') = ?"
		args = append(args, f.Order)
	}
	limit := -1
	if f.Limit > 0 {
		limit = f.Limit
	}
	var out []OpView
	err := c.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT seq, payload, recorded_at, acked, send_count, sent_at, status, code, message,
				review_ids, result_batch, local_batch, allocations, replayed, warnings
			FROM ops WHERE `+where+` ORDER BY seq DESC LIMIT ?`, append(args, limit)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v OpView
			var payload, status, code, reviewIDs, resultBatch, localBatch, allocs, warnings string
			var recordedAt int64
			var acked bool
			var sentAt sql.NullInt64
			if err := rows.Scan(&v.Op.Seq, &payload, &recordedAt, &acked, &v.SentCount, &sentAt, &status, &code, &v.Message,
				&reviewIDs, &resultBatch, &localBatch, &allocs, &v.Replayed, &warnings); err != nil {
				return err
			}
			seq := v.Op.Seq
			if err := json.Unmarshal([]byte(payload), &v.Op); err != nil {
				return fmt.Errorf("stored op at seq %d: %w", seq, err)
			}
			v.Op.Seq = seq
			v.RecordedAt, v.Pending, v.LastSent = fromMicros(recordedAt), !acked, nullTime(sentAt)
			v.Status, v.Code = syncproto.Status(status), syncproto.Code(code)
			v.Batch = cmp.Or(resultBatch, localBatch, v.Op.Batch)
			for _, j := range []struct {
				src string
				dst any
			}{{reviewIDs, &v.ReviewIDs}, {allocs, &v.Allocations}, {warnings, &v.Warnings}} {
				if err := json.Unmarshal([]byte(j.src), j.dst); err != nil {
					return fmt.Errorf("stored op at seq %d: %w", seq, err)
				}
			}
			out = append(out, v)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		decisions, err := loadDecisions(ctx, tx)
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Decisions = decisions[out[i].Op.OpID]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list ops: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// loadDecisions returns every pulled decision by the operations it names.
// A device holds only the reviews of its own operations, so they are few.
func loadDecisions(ctx context.Context, tx *sql.Tx) (map[uuid.UUID][]syncproto.Decision, error) {
	byReview := map[string]*syncproto.Decision{}
	var order []string
	rows, err := tx.QueryContext(ctx, `SELECT review_id, kind, status, action, note, decided_by, decided_at FROM decisions ORDER BY review_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var d syncproto.Decision
		var decidedAt sql.NullInt64
		if err := rows.Scan(&id, &d.Kind, &d.Status, &d.Action, &d.Note, &d.DecidedBy, &decidedAt); err != nil {
			return nil, err
		}
		if d.ReviewID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("stored review id %q: %w", id, err)
		}
		d.DecidedAt = nullTime(decidedAt)
		d.OpIDs = []uuid.UUID{}
		byReview[id] = &d
		order = append(order, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	links, err := tx.QueryContext(ctx, `SELECT review_id, op_id FROM decision_ops ORDER BY review_id, op_id`)
	if err != nil {
		return nil, err
	}
	defer links.Close()
	for links.Next() {
		var rid, oid string
		if err := links.Scan(&rid, &oid); err != nil {
			return nil, err
		}
		if d := byReview[rid]; d != nil {
			if id, err := uuid.Parse(oid); err == nil {
				d.OpIDs = append(d.OpIDs, id)
			}
		}
	}
	if err := links.Err(); err != nil {
		return nil, err
	}
	out := map[uuid.UUID][]syncproto.Decision{}
	for _, rid := range order {
		d := byReview[rid]
		for _, op := range d.OpIDs {
			out[op] = append(out[op], *d)
		}
	}
	return out, nil
}

// StockFilter narrows Stock; empty fields match everything.
type StockFilter struct {
	// SKU may also be a barcode of the item.
	SKU      string
	Location string
	Batch    string
}

// StockRow is the optimistic stock of one key (location, item, batch).
type StockRow struct {
	Location string `json:"location"`
	SKU      string `json:"sku"`
	// Batch is empty for items that are not batch-tracked, and for a
	// return the server has yet to match to a shipped batch.
	Batch string `json:"batch,omitempty"`
	// OnHand is the server's balance as last pulled; Pending the effect
	// of this device's operations the pulled balance does not include
	// yet; Stock their sum, what the picker should find on the shelf.
	OnHand  int64 `json:"on_hand"`
	Pending int64 `json:"pending"`
	Stock   int64 `json:"stock"`
}

type stockKey struct{ location, sku, batch string }

// Stock is the device's optimistic stock: the last pulled balances plus the
// effect of its own operations that those balances do not hold yet (not
// pushed, or pushed after the last complete pull). Operations the server
// held or rejected, and those whose item or location the pulled catalog
// does not know (the server will hold them), change nothing. A count sets
// its key to what was counted.
func (c *Client) Stock(ctx context.Context, f StockFilter) ([]StockRow, error) {
	rows := map[stockKey]*StockRow{}
	err := c.read(ctx, func(tx *sql.Tx) error {
		st, err := loadState(ctx, tx)
		if err != nil {
			return err
		}
		if f.SKU != "" {
			if it, err := itemBySKU(ctx, tx, f.SKU); err != nil {
				return err
			} else if it == nil {
				if it, err := itemByBarcode(ctx, tx, f.SKU); err != nil {
					return err
				} else if it != nil {
					f.SKU = it.SKU
				}
			}
		}
		match := func(k stockKey) bool {
			return (f.SKU == "" || k.sku == f.SKU) && (f.Location == "" || k.location == f.Location) && (f.Batch == "" || k.batch == f.Batch)
		}
		bal, err := tx.QueryContext(ctx, `SELECT location, sku, batch, on_hand FROM balances
			WHERE (?1 = '' OR sku = ?1) AND (?2 = '' OR location = ?2) AND (?3 = '' OR batch = ?3)`, f.SKU, f.Location, f.Batch)
		if err != nil {
			return err
		}
		defer bal.Close()
		for bal.Next() {
			var r StockRow
			if err := bal.Scan(&r.Location, &r.SKU, &r.Batch, &r.OnHand); err != nil {
				return err
			}
			r.Stock = r.OnHand
			rows[stockKey{r.Location, r.SKU, r.Batch}] = &r
		}
		if err := bal.Err(); err != nil {
			return err
		}
		effects, err := pendingEffects(ctx, tx, st.ReflectedSeq)
		if err != nil {
			return err
		}
		for _, e := range effects {
			if !match(e.key) {
				continue
			}
			r := rows[e.key]
			if r == nil {
				r = &StockRow{Location: e.key.location, SKU: e.key.sku, Batch: e.key.batch}
				rows[e.key] = r
			}
			delta := e.delta
			if e.count {
				delta = e.delta - r.Stock
			}
			r.Pending += delta
			r.Stock += delta
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	out := make([]StockRow, 0, len(rows))
	for _, r := range rows {
		if r.OnHand != 0 || r.Pending != 0 || r.Stock != 0 {
			out = append(out, *r)
		}
	}
	slices.SortFunc(out, func(a, b StockRow) int {
		return cmp.Or(cmp.Compare(a.Location, b.Location), cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Batch, b.Batch))
	})
	return out, nil
}

// effect is one change an operation makes to one key; a count sets the
// key to delta instead of adding it.
type effect struct {
	key   stockKey
	delta int64
	count bool
}

// unreflectedOp is an operation whose effect the pulled balances may not
// hold yet.
type unreflectedOp struct {
	op                      syncproto.Op
	resultBatch, localBatch string
	allocations             []syncproto.Allocation
}

// unreflectedOps lists, in seq order, the operations after reflectedSeq
// that the server did not hold or reject.
func unreflectedOps(ctx context.Context, tx *sql.Tx, reflectedSeq int64) ([]unreflectedOp, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, payload, result_batch, local_batch, allocations
		FROM ops WHERE seq > ? AND NOT (acked = 1 AND status IN ('held', 'rejected')) ORDER BY seq`, reflectedSeq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ops []unreflectedOp
	for rows.Next() {
		var p unreflectedOp
		var payload, allocs string
		var seq int64
		if err := rows.Scan(&seq, &payload, &p.resultBatch, &p.localBatch, &allocs); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(payload), &p.op); err != nil {
			return nil, fmt.Errorf("stored op at seq %d: %w", seq, err)
		}
		if err := json.Unmarshal([]byte(allocs), &p.allocations); err != nil {
			return nil, fmt.Errorf("stored op at seq %d: %w", seq, err)
		}
		p.op.Seq = seq
		ops = append(ops, p)
	}
	return ops, rows.Err()
}

// pendingEffects lists, in seq order, the stock effects of the operations
// after reflectedSeq that the server did not hold or reject.
func pendingEffects(ctx context.Context, tx *sql.Tx, reflectedSeq int64) ([]effect, error) {
	ops, err := unreflectedOps(ctx, tx, reflectedSeq)
	if err != nil {
		return nil, err
	}

	// The catalog decides the key: the item's SKU whether it was scanned
	// by SKU or barcode, and no batch for items that are not tracked.
	items := map[string]*syncproto.Item{}
	locations := map[string]bool{}
	resolve := func(op syncproto.Op) (*syncproto.Item, error) {
		ref := "sku:" + op.SKU
		if op.SKU == "" {
			ref = "barcode:" + op.Barcode
		}
		if it, ok := items[ref]; ok {
			return it, nil
		}
		var it *syncproto.Item
		var err error
		if op.SKU != "" {
			it, err = itemBySKU(ctx, tx, op.SKU)
		} else {
			it, err = itemByBarcode(ctx, tx, op.Barcode)
		}
		items[ref] = it
		return it, err
	}
	knownLocation := func(code string) (bool, error) {
		if known, ok := locations[code]; ok {
			return known, nil
		}
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM locations WHERE code = ?`, code).Scan(&n)
		locations[code] = n > 0
		return n > 0, err
	}

	var out []effect
	for _, p := range ops {
		op := p.op
		it, err := resolve(op)
		if err != nil {
			return nil, err
		}
		if it == nil {
			continue
		}
		ok, err := knownLocation(op.Location)
		if err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		if op.ToLocation != "" {
			if ok, err := knownLocation(op.ToLocation); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
		}
		batch := ""
		if it.BatchTracked {
			batch = cmp.Or(p.resultBatch, p.localBatch, op.Batch)
		}
		key := func(loc, b string) stockKey { return stockKey{loc, it.SKU, b} }
		switch op.Kind {
		case syncproto.KindReceive:
			out = append(out, effect{key: key(op.Location, batch), delta: op.Qty})
		case syncproto.KindPick:
			out = append(out, effect{key: key(op.Location, batch), delta: -op.Qty})
		case syncproto.KindReturn:
			if it.BatchTracked && len(p.allocations) > 0 {
				for _, a := range p.allocations {
					out = append(out, effect{key: key(op.Location, a.Batch), delta: a.Qty})
				}
				continue
			}
			out = append(out, effect{key: key(op.Location, batch), delta: op.Qty})
		case syncproto.KindTransfer:
			out = append(out, effect{key: key(op.Location, batch), delta: -op.Qty},
				effect{key: key(op.ToLocation, batch), delta: op.Qty})
		case syncproto.KindAdjust:
			out = append(out, effect{key: key(op.Location, batch), delta: op.Qty})
		case syncproto.KindCount:
			out = append(out, effect{key: key(op.Location, batch), delta: op.Qty, count: true})
		}
	}
	return out, nil
}

// Item is a catalog item as pulled, with its batches and optimistic stock.
type Item struct {
	syncproto.Item
	Batches []syncproto.Batch `json:"batches"`
	Stock   []StockRow        `json:"stock"`
}

// Item looks up an item of the pulled catalog by SKU or by barcode.
// Returns a *syncproto.Error with CodeNotFound if the catalog has neither.
func (c *Client) Item(ctx context.Context, skuOrBarcode string) (Item, error) {
	var out Item
	err := c.read(ctx, func(tx *sql.Tx) error {
		it, err := itemBySKU(ctx, tx, skuOrBarcode)
		if err == nil && it == nil {
			it, err = itemByBarcode(ctx, tx, skuOrBarcode)
		}
		if err != nil {
			return err
		}
		if it == nil {
			return syncproto.Errorf(syncproto.CodeNotFound, "no item with SKU or barcode %q in the pulled catalog", skuOrBarcode)
		}
		out.Item = *it
		rows, err := tx.QueryContext(ctx, `SELECT sku, code, expiry FROM batches WHERE sku = ? ORDER BY code`, it.SKU)
		if err != nil {
			return err
		}
		defer rows.Close()
		out.Batches = []syncproto.Batch{}
		for rows.Next() {
			var b syncproto.Batch
			if err := rows.Scan(&b.SKU, &b.Code, &b.Expiry); err != nil {
				return err
			}
			out.Batches = append(out.Batches, b)
		}
		return rows.Err()
	})
	if err != nil {
		return Item{}, err
	}
	if out.Stock, err = c.Stock(ctx, StockFilter{SKU: out.SKU}); err != nil {
		return Item{}, err
	}
	return out, nil
}
