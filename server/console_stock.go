package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"stocksync/ledger"
)

// Bounds of the stock pages.
const (
	stockShowMax = 2000
	// itemMovementsMax is how many of an item's latest movements its
	// stock card lists.
	itemMovementsMax = 200
	// itemWindowStart is the first span of recorded positions searched
	// for an item's latest movements; it grows eightfold until enough are
	// found. The ledger lists movements by ascending position, so this is
	// how the newest come without reading the item's whole history.
	itemWindowStart = 2000
)

type stockFilter struct {
	Warehouse, Location, SKU, Batch string
	// AsOf is the as-of field as typed (datetime-local, server time zone).
	AsOf string
	// All shows keys whose quantity is zero too.
	All bool
}

type balanceView struct {
	Warehouse, Location, SKU, Name, Unit, Batch string
	Expiry                                      time.Time
	Expired                                     bool
	OnHand                                      int64
}

type stockData struct {
	Filter stockFilter
	AsOf   time.Time
	Rows   []balanceView
	// More is true when more rows match than are shown.
	More       bool
	Warehouses []string
}

// consoleTimeLayouts are what the as-of field accepts: a browser's
// datetime-local value (with or without seconds), a date, or RFC 3339.
var consoleTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02"}

// parseConsoleTime reads a time typed into the console, in the server's
// time zone unless it names its own offset.
func parseConsoleTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range consoleTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time such as 2026-11-27T18:00", s)
}

// stockPage is GET /stock: balances by warehouse, location, item and
// batch, now or as of an effective time.
func (cn *console) stockPage(c *gin.Context) {
	ctx, tid := c.Request.Context(), tenantID(c)
	q := c.Request.URL.Query()
	d := stockData{Filter: stockFilter{Warehouse: strings.TrimSpace(q.Get("warehouse")), Location: strings.TrimSpace(q.Get("location")),
		SKU: strings.TrimSpace(q.Get("sku")), Batch: strings.TrimSpace(q.Get("batch")), AsOf: strings.TrimSpace(q.Get("as_of")),
		All: q.Get("show") == "all"}}
	f := ledger.BalanceFilter{Warehouse: d.Filter.Warehouse, Location: d.Filter.Location, SKU: d.Filter.SKU, Batch: d.Filter.Batch,
		NonZero: !d.Filter.All}
	status := http.StatusOK
	if d.Filter.AsOf != "" {
		t, err := parseConsoleTime(d.Filter.AsOf)
		if err != nil {
			notice(c, "error", "As of: "+err.Error()+"; showing the stock now.")
			status = http.StatusBadRequest
		} else {
			f.AsOf, d.AsOf = t, t
		}
	}
	var err error
	d.Rows, d.More, err = cn.balances(ctx, tid, f, stockShowMax)
	if err != nil {
		cn.fail(c, err)
		return
	}
	codes, err := cn.s.warehouseCodes(ctx, tid)
	if err != nil {
		cn.fail(c, err)
		return
	}
	for _, code := range codes {
		d.Warehouses = append(d.Warehouses, code)
	}
	sort.Strings(d.Warehouses)
	cn.render(c, status, "stock", "Stock", "stock", d)
}

// balances reads balances with their items' names and units and their
// batches' expiry, at most limit of them, and whether there are more. A
// batch is marked expired as of f.AsOf when set (the stock as it stood
// then), as of now otherwise.
func (cn *console) balances(ctx context.Context, tid uuid.UUID, f ledger.BalanceFilter, limit int) ([]balanceView, bool, error) {
	var out []balanceView
	more := false
	at := cn.s.now()
	if !f.AsOf.IsZero() {
		at = f.AsOf
	}
	f.Limit = limit + 1
	err := cn.s.ledger.Store().Read(ctx, func(tx ledger.ReadTx) error {
		rows, err := tx.QueryBalances(ctx, tid, f)
		if err != nil {
			return err
		}
		if len(rows) > limit {
			rows, more = rows[:limit], true
		}
		var itemIDs, batchIDs []uuid.UUID
		for _, b := range rows {
			itemIDs = append(itemIDs, b.ItemID)
			if b.BatchID != ledger.NoBatch {
				batchIDs = append(batchIDs, b.BatchID)
			}
		}
		items, err := tx.ItemsByID(ctx, tid, uniq(itemIDs))
		if err != nil {
			return err
		}
		byItem := map[uuid.UUID]ledger.Item{}
		for _, it := range items {
			byItem[it.ID] = it
		}
		batches, err := tx.BatchesByID(ctx, tid, uniq(batchIDs))
		if err != nil {
			return err
		}
		expiry := map[uuid.UUID]time.Time{}
		for _, b := range batches {
			expiry[b.ID] = b.Expiry
		}
		for _, b := range rows {
			it := byItem[b.ItemID]
			v := balanceView{Warehouse: b.Warehouse, Location: b.Location, SKU: b.SKU, Name: it.Name, Unit: it.Unit, Batch: b.Batch,
				Expiry: expiry[b.BatchID], OnHand: b.OnHand}
			// A batch is good through its expiry date.
			v.Expired = !v.Expiry.IsZero() && !at.Before(v.Expiry.AddDate(0, 0, 1))
			out = append(out, v)
		}
		return nil
	})
	return out, more, err
}

// uniq sorts ids (by their bytes) and drops repeats.
func uniq(ids []uuid.UUID) []uuid.UUID {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(ids)
}

type itemData struct {
	Item     ledger.Item
	Balances []balanceView
	// MoreBalances is true when the item has more balances than shown,
	// and Total sums only those shown.
	MoreBalances bool
	Total        int64
	Movements    []movementView
	More         bool
}

// itemPage is GET /stock/item?sku=...: an item's stock card, its balances
// and its latest movements, newest first. The SKU is a query parameter,
// not a path segment, because it may hold "/".
func (cn *console) itemPage(c *gin.Context) {
	ctx, tid, sku := c.Request.Context(), tenantID(c), c.Query("sku")
	if sku == "" {
		c.Redirect(http.StatusSeeOther, "/stock")
		return
	}
	var d itemData
	err := cn.s.ledger.Store().Read(ctx, func(tx ledger.ReadTx) error {
		items, err := tx.ItemsBySKU(ctx, tid, []string{sku})
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return ledger.Errorf(ledger.CodeNotFound, "There is no item with the SKU %q.", sku)
		}
		d.Item = items[0]
		state, err := tx.LedgerState(ctx, tid)
		if err != nil {
			return err
		}
		var rows []ledger.MovementRow
		for window := int64(itemWindowStart); ; window *= 8 {
			after := max(0, state.NextPosition-1-window)
			rows, err = tx.QueryMovements(ctx, tid, ledger.MovementFilter{SKU: sku, AfterPosition: after})
			if err != nil {
				return err
			}
			// One more than is shown tells whether there are more.
			if len(rows) > itemMovementsMax || after == 0 {
				break
			}
		}
		d.More = len(rows) > itemMovementsMax
		rows = rows[max(0, len(rows)-itemMovementsMax):]
		slices.Reverse(rows)
		lk, _, _ := lookupFor(nil)
		ds, err := tx.Devices(ctx, tid)
		if err != nil {
			return err
		}
		for _, dv := range ds {
			lk.devices[dv.ID] = dv
		}
		var opIDs []uuid.UUID
		for _, m := range rows {
			opIDs = append(opIDs, m.OpID)
		}
		if err := lk.readOps(ctx, tx, tid, uniq(opIDs)); err != nil {
			return err
		}
		for _, m := range rows {
			d.Movements = append(d.Movements, movementView{Position: m.Position, Kind: string(m.Kind), Qty: m.Qty,
				EffectiveAt: m.EffectiveAt, RecordedAt: m.RecordedAt, Location: m.Warehouse + " / " + m.Location, Batch: m.Batch,
				Order: m.Order, Device: lk.deviceName(m.DeviceID), Actor: lk.actor(m.OpID), OpID: m.OpID, ReviewID: m.ReviewID})
		}
		return nil
	})
	if err != nil {
		cn.fail(c, err)
		return
	}
	d.Balances, d.MoreBalances, err = cn.balances(ctx, tid, ledger.BalanceFilter{SKU: sku, NonZero: true}, stockShowMax)
	if err != nil {
		cn.fail(c, err)
		return
	}
	for _, b := range d.Balances {
		d.Total += b.OnHand
	}
	cn.render(c, http.StatusOK, "item", d.Item.SKU+" · "+d.Item.Name, "stock", d)
}
