package server

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"stocksync/ledger"
)

// Bounds of the review pages.
const (
	// queueShowMax bounds the rows of the queue; the counts above it
	// cover every open review the filters select.
	queueShowMax = 500
	// bulkMax bounds one bulk resolution.
	bulkMax = 500
	// backlogDays is the span of the queue page's backlog chart, one point
	// a day.
	backlogDays = 30
	// auditShowMax bounds the rows of the audit trail.
	auditShowMax = 1000
	// evidenceWindow is how far before the review's first operation the
	// negative-stock evidence lists the key's movements, and how far
	// before a count its late movements are looked for. evidenceAfter is
	// how far past the review's last operation the negative-stock
	// evidence reads: what came after shows how the stock recovered.
	evidenceWindow = 7 * 24 * time.Hour
	evidenceAfter  = time.Hour
	// evidenceRowsMax bounds the rows the evidence lists up to the
	// review's last operation (the latest of them; the review's own
	// operations are always listed), and evidenceTailMax the rows after
	// it.
	evidenceRowsMax = 300
	evidenceTailMax = 50
)

// consoleAges are the queue's age filter: reviews opened longer ago.
var consoleAges = map[string]time.Duration{"1h": time.Hour, "1d": 24 * time.Hour, "1w": 7 * 24 * time.Hour}

// lookup is what review pages need besides the reviews, read in one
// snapshot: devices, warehouse codes by warehouse and by location, and the
// op log entries of the operations involved (whose payload names the
// staff member, the actor).
type lookup struct {
	devices    map[uuid.UUID]ledger.Device
	warehouses map[uuid.UUID]string // warehouse ID -> code
	locWH      map[uuid.UUID]string // location ID -> warehouse code
	ops        map[uuid.UUID]ledger.OpRecord
	decoded    map[uuid.UUID]ledger.Operation
}

// lookupFor returns an empty lookup and the locations and operations the
// reviews name.
func lookupFor(rs []ledger.Review) (*lookup, []uuid.UUID, []uuid.UUID) {
	lk := &lookup{devices: map[uuid.UUID]ledger.Device{}, warehouses: map[uuid.UUID]string{}, locWH: map[uuid.UUID]string{},
		ops: map[uuid.UUID]ledger.OpRecord{}, decoded: map[uuid.UUID]ledger.Operation{}}
	var locIDs, opIDs []uuid.UUID
	seenLoc, seenOp := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	addOp := func(id uuid.UUID) {
		if id != uuid.Nil && !seenOp[id] {
			seenOp[id] = true
			opIDs = append(opIDs, id)
		}
	}
	for _, r := range rs {
		if r.LocationID != uuid.Nil && !seenLoc[r.LocationID] {
			seenLoc[r.LocationID] = true
			locIDs = append(locIDs, r.LocationID)
		}
		addOp(r.OpID)
		for _, o := range r.Ops {
			addOp(o.OpID)
		}
		if r.Resolution != nil {
			addOp(r.Resolution.SettledBy)
		}
	}
	return lk, locIDs, opIDs
}

// read fills the lookup in one snapshot.
func (lk *lookup) read(ctx context.Context, tx ledger.ReadTx, tid uuid.UUID, locIDs, opIDs []uuid.UUID) error {
	if err := lk.readNames(ctx, tx, tid); err != nil {
		return err
	}
	return lk.readRefs(ctx, tx, tid, locIDs, opIDs)
}

// readNames reads the tenant's devices and warehouses.
func (lk *lookup) readNames(ctx context.Context, tx ledger.ReadTx, tid uuid.UUID) error {
	ds, err := tx.Devices(ctx, tid)
	if err != nil {
		return err
	}
	for _, d := range ds {
		lk.devices[d.ID] = d
	}
	whs, err := tx.Warehouses(ctx, tid, nil)
	if err != nil {
		return err
	}
	for _, w := range whs {
		lk.warehouses[w.ID] = w.Code
	}
	return nil
}

// readRefs reads the locations and the op log entries of opIDs; the
// warehouses are read already.
func (lk *lookup) readRefs(ctx context.Context, tx ledger.ReadTx, tid uuid.UUID, locIDs, opIDs []uuid.UUID) error {
	if len(locIDs) > 0 {
		locs, err := tx.LocationsByID(ctx, tid, locIDs)
		if err != nil {
			return err
		}
		for _, l := range locs {
			lk.locWH[l.ID] = lk.warehouses[l.WarehouseID]
		}
	}
	return lk.readOps(ctx, tx, tid, opIDs)
}

// readOps adds the canonical op log entries of opIDs. An empty seq range
// (1..0) makes LookupOps a lookup by op_id alone.
func (lk *lookup) readOps(ctx context.Context, tx ledger.ReadTx, tid uuid.UUID, opIDs []uuid.UUID) error {
	var missing []uuid.UUID
	for _, id := range opIDs {
		if _, ok := lk.ops[id]; !ok && id != uuid.Nil {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	recs, err := tx.LookupOps(ctx, tid, uuid.Nil, 1, 0, missing)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if !rec.Canonical {
			continue
		}
		lk.ops[rec.OpID] = rec
		if op, err := rec.Operation(); err == nil {
			lk.decoded[rec.OpID] = op
		}
	}
	return nil
}

func (lk *lookup) deviceName(id uuid.UUID) string {
	if d, ok := lk.devices[id]; ok {
		return d.Name
	}
	if id == uuid.Nil {
		return ""
	}
	return id.String()[:8]
}

func (lk *lookup) actor(opID uuid.UUID) string { return lk.decoded[opID].Actor }

// reviewRow is one review as the queue and the detail page show it.
type reviewRow struct {
	ledger.Review
	Warehouse, Location, SKU, Batch, Order string
	Device                                 string
	// Actors are the staff members (badges) of the operations in Ops:
	// every operation involved on a review's page, only the one that
	// opened it in the queue and the audit trail.
	Actors    []string
	Age       time.Duration
	Suggested string
	// Choices are the suggestions that need no more input, which a bulk
	// resolution can apply; the first is preselected.
	Choices []suggestionChoice
}

type suggestionChoice struct {
	Index int
	Label string
}

func (cn *console) reviewRow(r ledger.Review, lk *lookup, now time.Time) reviewRow {
	op := lk.decoded[r.OpID]
	row := reviewRow{Review: r, Warehouse: r.Evidence.Warehouse, Location: r.Evidence.Location, SKU: r.Evidence.SKU,
		Batch: r.Evidence.Batch, Order: cmp.Or(r.Order, r.Evidence.Order), Device: lk.deviceName(r.DeviceID), Age: now.Sub(r.OpenedAt)}
	if row.Warehouse == "" {
		row.Warehouse = cmp.Or(lk.locWH[r.LocationID], lk.warehouses[lk.devices[r.DeviceID].WarehouseID])
	}
	// An unknown reference has no key in the catalog: show what was
	// scanned.
	row.Location = cmp.Or(row.Location, op.Location)
	row.SKU = cmp.Or(row.SKU, op.SKU, op.Barcode)
	row.Batch = cmp.Or(row.Batch, op.Batch)
	row.Order = cmp.Or(row.Order, op.Order)
	seen := map[string]bool{}
	for _, o := range r.Ops {
		if a := lk.actor(o.OpID); a != "" && !seen[a] {
			seen[a] = true
			row.Actors = append(row.Actors, a)
		}
	}
	if len(r.Suggestions) > 0 {
		row.Suggested = r.Suggestions[0].Label
	}
	for i, s := range r.Suggestions {
		if !needsInput(s) {
			row.Choices = append(row.Choices, suggestionChoice{Index: i, Label: s.Label})
		}
	}
	return row
}

// needsInput reports whether a suggestion lacks a target only a person
// can give (the batch to post a return to, the SKU an unknown barcode
// stands for), so it cannot be applied with one click.
func needsInput(s ledger.Suggestion) bool {
	switch s.Action {
	case ledger.ActionReassignBatch:
		return s.Batch == ""
	case ledger.ActionMapReference:
		return s.SKU == "" && s.Location == ""
	case ledger.ActionAdjust:
		return s.Qty == 0
	}
	return false
}

// queueFilter is the queue's filter form, as typed (Device normalized).
type queueFilter struct {
	Kind, Warehouse, Device, Actor, Age string
}

type kindChip struct {
	Kind   ledger.ReviewKind
	Label  string
	Count  int
	Active bool
}

type option struct {
	Value, Label string
}

type queueData struct {
	Filter   queueFilter
	Chips    []kindChip
	Total    int
	Rows     []reviewRow
	Shown    int
	Matching int
	// Warehouses and Devices are the filters' choices; Actors the staff
	// members of the rows shown, offered as the staff filter's
	// suggestions.
	Warehouses []string
	Devices    []option
	Actors     []string
	Chart      template.HTML
	// Back is this page with its filters, where a bulk resolution returns.
	Back string
	// Bulk is true when the queue shows one kind, so similar reviews can
	// be resolved together.
	Bulk bool
}

// reviewQueue is GET /reviews: the open reviews, oldest first. Every
// filter is applied by the ledger: the page counts the open reviews it
// selects by kind, and reads only the rows it shows, each with only the
// operation that opened it (whose payload names the staff member).
func (cn *console) reviewQueue(c *gin.Context) {
	ctx, tid, now := c.Request.Context(), tenantID(c), cn.s.now()
	q := c.Request.URL.Query()
	f := queueFilter{Kind: q.Get("kind"), Warehouse: q.Get("warehouse"), Device: q.Get("device"), Actor: strings.TrimSpace(q.Get("actor")),
		Age: q.Get("age")}
	base := ledger.ReviewFilter{Status: ledger.ReviewOpen, Actor: f.Actor}
	if f.Kind != "" && !slices.Contains(reviewKinds, f.Kind) {
		notice(c, "error", fmt.Sprintf("There is no review kind %q; showing every kind.", f.Kind))
		f.Kind = ""
	}
	if d, ok := consoleAges[f.Age]; ok {
		base.OpenedBefore = now.Add(-d)
	} else if f.Age != "" {
		notice(c, "error", fmt.Sprintf("The age filter %q is not one of 1h, 1d, 1w; showing every age.", f.Age))
		f.Age = ""
	}
	if f.Device != "" {
		// Compared as a UUID, in whatever case or form it came.
		id, err := uuid.Parse(f.Device)
		if err != nil {
			notice(c, "error", "The device filter is not a device; showing every device.")
			f.Device = ""
		} else {
			base.DeviceID, f.Device = id, id.String()
		}
	}

	d := queueData{Filter: f, Back: c.Request.URL.RequestURI(), Bulk: f.Kind != ""}
	lk, _, _ := lookupFor(nil)
	err := cn.s.ledger.Store().Read(ctx, func(tx ledger.ReadTx) error {
		if err := lk.readNames(ctx, tx, tid); err != nil {
			return err
		}
		if f.Warehouse != "" {
			for id, code := range lk.warehouses {
				if code == f.Warehouse {
					base.WarehouseID = id
				}
			}
			if base.WarehouseID == uuid.Nil {
				return nil // no such warehouse: nothing matches
			}
		}
		counts, err := tx.CountReviews(ctx, tid, base)
		if err != nil {
			return err
		}
		for _, k := range reviewKinds {
			kind := ledger.ReviewKind(k)
			d.Chips = append(d.Chips, kindChip{Kind: kind, Label: kindLabel(kind), Count: counts[kind], Active: f.Kind == k})
		}
		total := sumCounts(counts)
		d.Total, d.Matching = total, total
		rf := base
		rf.OpeningOpOnly, rf.Limit = true, queueShowMax
		if f.Kind != "" {
			rf.Kind, d.Matching = ledger.ReviewKind(f.Kind), counts[ledger.ReviewKind(f.Kind)]
		}
		rs, err := tx.QueryReviews(ctx, tid, rf)
		if err != nil {
			return err
		}
		_, locIDs, opIDs := lookupFor(rs)
		if err := lk.readRefs(ctx, tx, tid, locIDs, opIDs); err != nil {
			return err
		}
		actors := map[string]bool{}
		for _, r := range rs {
			row := cn.reviewRow(r, lk, now)
			d.Rows = append(d.Rows, row)
			for _, a := range row.Actors {
				actors[a] = true
			}
		}
		for a := range actors {
			d.Actors = append(d.Actors, a)
		}
		return nil
	})
	if err != nil {
		cn.fail(c, err)
		return
	}
	if len(d.Chips) == 0 {
		for _, k := range reviewKinds {
			kind := ledger.ReviewKind(k)
			d.Chips = append(d.Chips, kindChip{Kind: kind, Label: kindLabel(kind), Active: f.Kind == k})
		}
	}
	d.Shown = len(d.Rows)
	sort.Strings(d.Actors)
	for _, code := range lk.warehouses {
		d.Warehouses = append(d.Warehouses, code)
	}
	sort.Strings(d.Warehouses)
	for _, dev := range lk.devices {
		d.Devices = append(d.Devices, option{Value: dev.ID.String(), Label: dev.Name})
	}
	slices.SortFunc(d.Devices, func(a, b option) int { return cmp.Compare(a.Label, b.Label) })

	// The backlog: counted by the ledger per day, whatever the number of
	// reviews.
	from := now.Add(-backlogDays * 24 * time.Hour)
	if flow, err := cn.s.ledger.ReviewFlow(ctx, tid, from, 24*time.Hour, backlogDays); err != nil {
		cn.logFailure(c, "backlog of reviews", err)
	} else {
		d.Chart = backlogChart(backlogSeries(flow, from, 24*time.Hour))
	}
	cn.render(c, http.StatusOK, "reviews", "Review queue", "reviews", d)
}

// opView is one operation involved in a review.
type opView struct {
	OpID        uuid.UUID
	Device      string
	Seq         int64
	Kind        string
	Qty         int64
	EffectiveAt time.Time
	Actor       string
	Status      string
	Note        string
	Opening     bool
}

// movementView is one ledger movement as the console shows it.
type movementView struct {
	Position    int64
	Kind        string
	Qty         int64
	EffectiveAt time.Time
	RecordedAt  time.Time
	Location    string
	SKU         string
	Batch       string
	Order       string
	Device      string
	Actor       string
	OpID        uuid.UUID
	ReviewID    uuid.UUID
	// Balance is the running balance after it, where a list shows one.
	Balance int64
	// Mark highlights the movements of the review's own operations.
	Mark bool
	// Skipped, when not zero, makes this a row standing for that many
	// movements not listed, whose quantities sum to Qty.
	Skipped int
}

type shippedRow struct {
	Batch             string
	Shipped, Returned int64
	Scanned           bool
}

// evidenceView is the evidence of a review laid out for its kind.
type evidenceView struct {
	// Layout is "return", "negative", "count" or "" (fields only).
	Layout string
	// Return kinds: what the order shipped next to what was scanned.
	Shipped       []shippedRow
	ScannedBatch  string
	Qty           int64
	Excess        int64
	ScannedInShip bool
	// Negative stock: the key's movements in effective-time order, with
	// the running balance, from StartAt (the first one listed), when the
	// stock was StartBalance. Cut earlier movements since WindowFrom are
	// summed into StartBalance; Later ones after the last listed are left
	// out.
	Movements    []movementView
	WindowFrom   time.Time
	StartAt      time.Time
	StartBalance int64
	Cut          int
	Later        int
	// Counts.
	Counted, Expected, Threshold *int64
	Variance                     int64
	CountPostings                []movementView
	Late                         []movementView
	Nearby                       []ledger.NearbyMovement
	// Fields are the evidence's other fields, for every kind.
	Fields  []field
	Unknown []ledger.Reference
	Detail  string
}

type field struct{ Name, Value string }

type suggestionView struct {
	Index      int
	Label      string
	Action     ledger.Action
	NeedsInput bool
	Checked    bool
}

// resolveForm is what the resolve form was given, shown again when the
// decision was refused.
type resolveForm struct {
	Choice, Action, Batch, Qty, SKU, Location, ToLocation, Note string
}

type reviewPageData struct {
	Row         reviewRow
	Ops         []opView
	Evidence    evidenceView
	Suggestions []suggestionView
	Form        resolveForm
	Actions     []ledger.Action
	// Result lists the movements the resolution posted.
	Result    []movementView
	SettledBy *opView
}

// reviewPage is GET /reviews/{id}.
func (cn *console) reviewPage(c *gin.Context) {
	id, ok := cn.pathID(c, "review")
	if !ok {
		return
	}
	cn.showReview(c, id, http.StatusOK, resolveForm{})
}

// showReview renders a review's page with status; form refills the
// resolve form after a refused decision.
func (cn *console) showReview(c *gin.Context, id uuid.UUID, status int, form resolveForm) {
	ctx, tid, now := c.Request.Context(), tenantID(c), cn.s.now()
	r, err := cn.s.ledger.Review(ctx, tid, id)
	if err != nil {
		cn.fail(c, err)
		return
	}
	d := reviewPageData{Form: form, Actions: []ledger.Action{ledger.ActionAccept, ledger.ActionReverse, ledger.ActionReassignBatch,
		ledger.ActionAdjust, ledger.ActionMapReference}}
	err = cn.s.ledger.Store().Read(ctx, func(tx ledger.ReadTx) error {
		lk, locIDs, opIDs := lookupFor([]ledger.Review{r})
		if err := lk.read(ctx, tx, tid, locIDs, opIDs); err != nil {
			return err
		}
		d.Row = cn.reviewRow(r, lk, now)
		for i, o := range r.Ops {
			d.Ops = append(d.Ops, cn.opView(o.OpID, o.DeviceID, lk, i == 0))
		}
		if d.Evidence, err = cn.evidence(ctx, tx, tid, r, lk); err != nil {
			return err
		}
		if res := r.Resolution; res != nil {
			if res.SettledBy != uuid.Nil {
				v := cn.opView(res.SettledBy, lk.ops[res.SettledBy].DeviceID, lk, false)
				d.SettledBy = &v
			}
			if d.Result, err = cn.positions(ctx, tx, tid, res.Positions, lk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		cn.fail(c, err)
		return
	}
	// The ledger's first suggestion is chosen for the manager; with none,
	// nothing is, and neither is an action: a held operation must not be
	// accepted (and so dropped for good) by one click on Resolve.
	if form.Choice == "" && len(r.Suggestions) > 0 {
		form.Choice, d.Form.Choice = "0", "0"
	}
	for i, s := range r.Suggestions {
		d.Suggestions = append(d.Suggestions, suggestionView{Index: i, Label: s.Label, Action: s.Action, NeedsInput: needsInput(s),
			Checked: form.Choice == strconv.Itoa(i)})
	}
	title := kindLabel(r.Kind) + " · " + cmp.Or(d.Row.SKU, "review")
	cn.render(c, status, "review", title, "reviews", d)
}

func (cn *console) opView(opID, deviceID uuid.UUID, lk *lookup, opening bool) opView {
	rec, op := lk.ops[opID], lk.decoded[opID]
	return opView{OpID: opID, Device: lk.deviceName(cmp.Or(rec.DeviceID, deviceID)), Seq: rec.Seq, Kind: string(rec.Kind),
		Qty: op.Qty, EffectiveAt: rec.EffectiveAt, Actor: op.Actor, Status: string(rec.Result.Status), Note: op.Note, Opening: opening}
}

// evidence lays out a review's evidence for its kind, reading the ledger
// where the stored evidence only summarizes (the movements on a key).
func (cn *console) evidence(ctx context.Context, tx ledger.ReadTx, tid uuid.UUID, r ledger.Review, lk *lookup) (evidenceView, error) {
	ev := r.Evidence
	v := evidenceView{Detail: ev.Detail, Unknown: ev.Unknown, Qty: ev.Qty}
	add := func(name, value string) {
		if value != "" {
			v.Fields = append(v.Fields, field{name, value})
		}
	}
	// The key and the order are in the page's header; these are the rest.
	if ev.OnHand != nil {
		add("On hand after the operation", strconv.FormatInt(*ev.OnHand, 10))
	}
	if ev.Qty != 0 && !ledger.CountReviewKind(r.Kind) { // a count's Qty is its variance, shown with it
		add("Quantity", strconv.FormatInt(ev.Qty, 10))
	}
	if ev.Excess != 0 {
		add("Put on this batch beyond what the order had left to return", strconv.FormatInt(ev.Excess, 10))
	}
	add("Expiry", ev.Expiry)
	hasKey := r.LocationID != uuid.Nil && r.ItemID != uuid.Nil
	switch r.Kind {
	case ledger.ReviewWrongBatchReturn, ledger.ReviewOverReturn, ledger.ReviewUnknownOrder:
		v.Layout = "return"
		v.ScannedBatch, v.Excess = ev.Batch, ev.Excess
		returned := map[string]int64{}
		for _, b := range ev.Returned {
			returned[b.Batch] += b.Qty
		}
		for _, b := range ev.Shipped {
			row := shippedRow{Batch: b.Batch, Shipped: b.Qty, Returned: returned[b.Batch], Scanned: b.Batch == ev.Batch}
			v.ScannedInShip = v.ScannedInShip || row.Scanned
			delete(returned, b.Batch)
			v.Shipped = append(v.Shipped, row)
		}
		for batch, qty := range returned {
			v.Shipped = append(v.Shipped, shippedRow{Batch: batch, Returned: qty, Scanned: batch == ev.Batch})
		}
	case ledger.ReviewNegativeStock:
		if !hasKey {
			break
		}
		v.Layout = "negative"
		// From a week before the review's first operation to a margin
		// after its last, on the floor's clock: the movements that led
		// there and how the stock recovered, not everything since.
		first := cmp.Or(lk.ops[r.OpID].EffectiveAt, r.OpenedAt)
		last := first
		for _, o := range r.Ops {
			if e := lk.ops[o.OpID].EffectiveAt; !e.IsZero() {
				first, last = minTime(first, e), maxTime(last, e)
			}
		}
		v.WindowFrom = first.Add(-evidenceWindow)
		start, err := tx.StockAsOf(ctx, tid, r.Key, v.WindowFrom.Add(-time.Microsecond))
		if err != nil {
			return v, err
		}
		ms, err := tx.MovementsBetween(ctx, tid, r.Key, v.WindowFrom, last.Add(evidenceAfter))
		if err != nil {
			return v, err
		}
		slices.SortStableFunc(ms, func(a, b ledger.Movement) int {
			return cmp.Or(a.EffectiveAt.Compare(b.EffectiveAt), cmp.Compare(a.Position, b.Position))
		})
		own := map[uuid.UUID]bool{}
		for _, o := range r.Ops {
			own[o.OpID] = true
		}
		rows := evidenceRows(ms, start, func(m ledger.Movement) bool { return own[m.OpID] })
		v.StartBalance, v.Cut, v.Later, v.StartAt = rows.start, rows.cut, rows.later, v.WindowFrom
		var listed []ledger.Movement
		for _, row := range rows.rows {
			if row.skipped == 0 {
				listed = append(listed, row.m)
			}
		}
		if len(listed) > 0 {
			v.StartAt = listed[0].EffectiveAt
		}
		if err := cn.lookupMovementOps(ctx, tx, tid, listed, lk); err != nil {
			return v, err
		}
		for _, row := range rows.rows {
			if row.skipped > 0 {
				v.Movements = append(v.Movements, movementView{Skipped: row.skipped, Qty: row.qty, Balance: row.balance})
				continue
			}
			mv := cn.movementView(row.m, lk, r)
			mv.Balance = row.balance
			v.Movements = append(v.Movements, mv)
		}
	case ledger.ReviewCountVariance, ledger.ReviewCountAmbiguous:
		v.Layout = "count"
		v.Counted, v.Expected, v.Threshold, v.Nearby = ev.Counted, ev.Expected, ev.Threshold, ev.Nearby
		if ev.Counted != nil && ev.Expected != nil {
			v.Variance = *ev.Counted - *ev.Expected
		}
		if !hasKey {
			break
		}
		posts, err := tx.MovementsOfOp(ctx, tid, r.OpID)
		if err != nil {
			return v, err
		}
		countPos := int64(-1)
		for _, m := range posts {
			if m.OpID == r.OpID && (countPos < 0 || m.Position < countPos) {
				countPos = m.Position
			}
		}
		at := cmp.Or(lk.ops[r.OpID].EffectiveAt, r.OpenedAt)
		var late []ledger.Movement
		if countPos >= 0 {
			// Late movements: effective before the count, recorded after
			// it. They are what changed the expected stock.
			ms, err := tx.MovementsBetween(ctx, tid, r.Key, at.Add(-evidenceWindow), at)
			if err != nil {
				return v, err
			}
			for _, m := range ms {
				if m.Position > countPos && m.OpID != r.OpID && m.Corrects != r.OpID && len(late) < evidenceRowsMax {
					late = append(late, m)
				}
			}
		}
		if err := cn.lookupMovementOps(ctx, tx, tid, append(slices.Clone(posts), late...), lk); err != nil {
			return v, err
		}
		for _, m := range posts {
			v.CountPostings = append(v.CountPostings, cn.movementView(m, lk, r))
		}
		for _, m := range late {
			v.Late = append(v.Late, cn.movementView(m, lk, r))
		}
	}
	return v, nil
}

// evidenceRow is one row of the negative-stock evidence: a movement, or
// a run of skipped movements with their total; balance is the running
// balance after it.
type evidenceRow struct {
	m       ledger.Movement
	skipped int
	qty     int64
	balance int64
}

type evidenceList struct {
	rows []evidenceRow
	// start is the balance before the first row; cut movements before
	// it are summed into it. later movements after the last row are left
	// out.
	start      int64
	cut, later int
}

// evidenceRows chooses the rows of the negative-stock evidence from a
// key's movements in effective-time order, the balance before them being
// start: every movement of the review's own operations (own), the
// evidenceRowsMax movements up to the last of them, and at most
// evidenceTailMax after it. Earlier movements are summed into the start
// balance; a run of movements between listed ones becomes one row with
// their total (a lone one is listed), so the running balance stays right
// on every row.
func evidenceRows(ms []ledger.Movement, start int64, own func(ledger.Movement) bool) evidenceList {
	lastOwn := -1
	for i, m := range ms {
		if own(m) {
			lastOwn = i
		}
	}
	end := min(len(ms), evidenceRowsMax)
	if lastOwn >= 0 {
		end = min(len(ms), lastOwn+1+evidenceTailMax)
	}
	out := evidenceList{later: len(ms) - end}
	keep := make([]bool, end)
	for i := range keep {
		keep[i] = i >= max(0, lastOwn+1-evidenceRowsMax) || own(ms[i])
	}
	// A gap of one movement takes as much room as the movement itself.
	for i := 1; i+1 < end; i++ {
		if !keep[i] && keep[i-1] && keep[i+1] {
			keep[i] = true
		}
	}
	bal, i := start, 0
	for ; i < end && !keep[i]; i++ {
		bal += ms[i].Qty
		out.cut++
	}
	out.start = bal
	var gap evidenceRow
	for ; i < end; i++ {
		bal += ms[i].Qty
		if !keep[i] {
			gap.skipped++
			gap.qty += ms[i].Qty
			continue
		}
		if gap.skipped > 0 {
			gap.balance = bal - ms[i].Qty
			out.rows = append(out.rows, gap)
			gap = evidenceRow{}
		}
		out.rows = append(out.rows, evidenceRow{m: ms[i], qty: ms[i].Qty, balance: bal})
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// lookupMovementOps adds the op log entries of the movements' operations
// to lk, for their actors.
func (cn *console) lookupMovementOps(ctx context.Context, tx ledger.ReadTx, tid uuid.UUID, ms []ledger.Movement, lk *lookup) error {
	ids := make([]uuid.UUID, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.OpID)
	}
	return lk.readOps(ctx, tx, tid, ids)
}

// movementView describes a movement of the review's key (whose codes
// the review's row carries).
func (cn *console) movementView(m ledger.Movement, lk *lookup, r ledger.Review) movementView {
	mark := false
	for _, o := range r.Ops {
		if m.OpID == o.OpID {
			mark = true
		}
	}
	return movementView{Position: m.Position, Kind: string(m.Kind), Qty: m.Qty, EffectiveAt: m.EffectiveAt, RecordedAt: m.RecordedAt,
		Order: m.Order, Device: lk.deviceName(m.DeviceID), Actor: lk.actor(m.OpID), OpID: m.OpID, ReviewID: m.ReviewID, Mark: mark}
}

// positions reads the movements at the given recorded positions (those a
// resolution posted, which are few and close together).
func (cn *console) positions(ctx context.Context, tx ledger.ReadTx, tid uuid.UUID, ps []int64, lk *lookup) ([]movementView, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	lo, hi := slices.Min(ps), slices.Max(ps)
	rows, err := tx.QueryMovements(ctx, tid, ledger.MovementFilter{AfterPosition: lo - 1, Limit: int(min(hi-lo+1, 10000))})
	if err != nil {
		return nil, err
	}
	var out []movementView
	for _, m := range rows {
		if !slices.Contains(ps, m.Position) {
			continue
		}
		out = append(out, movementView{Position: m.Position, Kind: string(m.Kind), Qty: m.Qty, EffectiveAt: m.EffectiveAt,
			RecordedAt: m.RecordedAt, Location: m.Location, SKU: m.SKU, Batch: m.Batch, Order: m.Order,
			Device: lk.deviceName(m.DeviceID), OpID: m.OpID, ReviewID: m.ReviewID})
	}
	return out, nil
}

// actionFields are the targets each action takes, as ledger's
// Resolution.checkFields allows them: a suggestion's blanks are filled
// from the form only for these, so the audit record never names a target
// that played no part.
var actionFields = map[ledger.Action][]string{
	ledger.ActionAccept:        nil,
	ledger.ActionReverse:       nil,
	ledger.ActionReassignBatch: {"batch"},
	ledger.ActionAdjust:        {"qty", "location", "batch"},
	ledger.ActionMapReference:  {"sku", "location", "to_location"},
}

// resolution builds a decision from the resolve form: the chosen
// suggestion, or "other" with an action and its targets. It returns a
// message for a person when the form does not make a decision.
func resolution(r ledger.Review, f resolveForm) (ledger.Resolution, string) {
	var res ledger.Resolution
	switch f.Choice {
	case "":
		return res, "Choose a decision: one of the suggestions, or another decision with its action."
	case "other":
		res.Action = ledger.Action(f.Action)
		if _, ok := actionFields[res.Action]; !ok {
			return res, "Choose the action of the other decision."
		}
	default:
		i, err := strconv.Atoi(f.Choice)
		if err != nil || i < 0 || i >= len(r.Suggestions) {
			return res, "That decision is not one of this review's suggestions; reload the page."
		}
		s := r.Suggestions[i]
		res = ledger.Resolution{Action: s.Action, Batch: s.Batch, Qty: s.Qty, SKU: s.SKU, Location: s.Location}
		// The ledger suggests creating an unknown location under
		// Location, whichever of the operation's fields named it.
		if s.Action == ledger.ActionMapReference && s.Location != "" {
			for _, u := range r.Evidence.Unknown {
				if u.Field == "to_location" && u.Value == s.Location {
					res.Location, res.ToLocation = "", s.Location
				}
			}
		}
	}
	for _, name := range actionFields[res.Action] {
		switch name {
		case "batch":
			res.Batch = cmp.Or(res.Batch, strings.TrimSpace(f.Batch))
		case "sku":
			res.SKU = cmp.Or(res.SKU, strings.TrimSpace(f.SKU))
		case "location":
			res.Location = cmp.Or(res.Location, strings.TrimSpace(f.Location))
		case "to_location":
			res.ToLocation = cmp.Or(res.ToLocation, strings.TrimSpace(f.ToLocation))
		case "qty":
			if q := strings.TrimSpace(f.Qty); res.Qty == 0 && q != "" {
				n, err := strconv.ParseInt(strings.TrimPrefix(q, "+"), 10, 64)
				if err != nil {
					return res, fmt.Sprintf("The quantity must be a whole number such as 5 or -3, not %q.", q)
				}
				res.Qty = n
			}
		}
	}
	if res.Action == ledger.ActionReassignBatch && res.Batch == "" {
		return res, "Give the batch to post to."
	}
	if res.Action == ledger.ActionAdjust && res.Qty == 0 {
		return res, "Give the quantity to adjust by."
	}
	res.Note = strings.TrimSpace(f.Note)
	return res, ""
}

// decidedBy is what a resolution records as who decided: "Name (login)".
// A name is neither unique nor reserved (an admin may call someone
// "stocksync", as the ledger signs the reviews that settle themselves);
// the login is unique in the tenant and holds no parentheses, so the
// string names one user and can never be the ledger's own "stocksync".
// The audit trail filters by it exactly.
func decidedBy(u ledger.User) string {
	return fmt.Sprintf("%s (%s)", cmp.Or(strings.TrimSpace(u.Name), u.Login), u.Login)
}

// resolve is POST /reviews/{id}/resolve.
func (cn *console) resolve(c *gin.Context) {
	id, ok := cn.pathID(c, "review")
	if !ok {
		return
	}
	ctx, tid := c.Request.Context(), tenantID(c)
	p := c.Request.PostForm
	form := resolveForm{Choice: p.Get("choice"), Action: p.Get("action"), Batch: p.Get("batch"), Qty: p.Get("qty"), SKU: p.Get("sku"),
		Location: p.Get("location"), ToLocation: p.Get("to_location"), Note: p.Get("note")}
	r, err := cn.s.ledger.Review(ctx, tid, id)
	if err != nil {
		cn.fail(c, err)
		return
	}
	res, msg := resolution(r, form)
	if msg != "" {
		notice(c, "error", msg)
		cn.showReview(c, id, http.StatusBadRequest, form)
		return
	}
	res.By = decidedBy(currentUser(c))
	done, err := cn.s.ledger.ResolveReview(ctx, tid, id, res)
	if err != nil {
		if ledger.ErrorCode(err) == ledger.CodeInternal {
			cn.fail(c, err)
			return
		}
		notice(c, "error", "The decision was not applied: "+failMessage(err))
		cn.showReview(c, id, failStatus(err), form)
		return
	}
	n := 0
	if done.Resolution != nil {
		n = len(done.Resolution.Positions)
	}
	cn.redirect(c, "/reviews/"+id.String(), flash{Kind: "ok",
		Text: fmt.Sprintf("Resolved: %s. %d movement(s) posted.", res.Action, n)})
}

// bulkResolve is POST /reviews/resolve: several reviews of one kind, each
// with the suggestion chosen on its row. A review ticked twice counts
// once. They are read in one query; each is then resolved in its own
// transaction, so one that was decided meanwhile does not stop the others,
// and the page after says which were done and which were not.
func (cn *console) bulkResolve(c *gin.Context) {
	ctx, tid := c.Request.Context(), tenantID(c)
	p := c.Request.PostForm
	back := localBack(p.Get("back"), "/reviews")
	if !strings.HasPrefix(back, "/reviews") {
		back = "/reviews"
	}
	var ids []uuid.UUID
	seen := map[uuid.UUID]bool{}
	for _, v := range p["review"] {
		id, err := uuid.Parse(v)
		if err != nil {
			cn.redirect(c, back, flash{Kind: "error", Text: fmt.Sprintf("Review %q was not found; nothing was resolved.", clip(v, 40))})
			return
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		cn.redirect(c, back, flash{Kind: "error", Text: "Select the reviews to resolve first."})
		return
	}
	if len(ids) > bulkMax {
		cn.redirect(c, back, flash{Kind: "error", Text: fmt.Sprintf("Resolve at most %d reviews at once.", bulkMax)})
		return
	}
	rs, err := cn.s.ledger.Reviews(ctx, tid, ledger.ReviewFilter{IDs: ids, OpeningOpOnly: true})
	if err != nil {
		cn.fail(c, err)
		return
	}
	byID := make(map[uuid.UUID]ledger.Review, len(rs))
	for _, r := range rs {
		byID[r.ID] = r
	}
	type item struct {
		r      ledger.Review
		choice string
	}
	var items []item
	for _, id := range ids {
		r, ok := byID[id]
		if !ok {
			cn.redirect(c, back, flash{Kind: "error", Text: fmt.Sprintf("Review %s was not found; nothing was resolved.", id)})
			return
		}
		items = append(items, item{r: r, choice: p.Get("choice-" + id.String())})
	}
	kind := items[0].r.Kind
	for _, it := range items {
		if it.r.Kind != kind {
			cn.redirect(c, back, flash{Kind: "error", Text: "Resolve reviews of one kind together: filter the queue by kind first. Nothing was resolved."})
			return
		}
	}
	by, note := decidedBy(currentUser(c)), strings.TrimSpace(p.Get("note"))
	done := 0
	var msgs []flash
	for _, it := range items {
		choice := cmp.Or(it.choice, "0")
		res, msg := resolution(it.r, resolveForm{Choice: choice, Note: note})
		if i, err := strconv.Atoi(choice); msg == "" && (err != nil || needsInput(it.r.Suggestions[i])) {
			msg = "its suggestion needs more input; open it to decide"
		}
		if msg != "" {
			msgs = append(msgs, flash{Kind: "error", Text: fmt.Sprintf("%s %s: %s", kindLabel(kind), it.r.ID.String()[:8], msg)})
			continue
		}
		res.By = by
		if _, err := cn.s.ledger.ResolveReview(ctx, tid, it.r.ID, res); err != nil {
			cn.logFailure(c, "bulk resolve", err)
			msgs = append(msgs, flash{Kind: "error", Text: fmt.Sprintf("%s %s was not resolved: %s", kindLabel(kind), it.r.ID.String()[:8], failMessage(err))})
			continue
		}
		done++
	}
	msgs = append([]flash{{Kind: "ok", Text: fmt.Sprintf("Resolved %d of %d review(s).", done, len(items))}}, msgs...)
	if done == 0 {
		msgs[0].Kind = "error"
	}
	cn.redirect(c, back, msgs...)
}
