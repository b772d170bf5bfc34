package ledger

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
)

// work is the in-memory working set of one writing transaction. Reads go to
// the store once per key (in bulk where the keys are known up front) and are
// then served and updated in memory; writes are buffered and flushed at the
// end in a few bulk statements, balances in sorted key order. Because the
// store holds the tenant's ledger lock for the whole transaction, nothing
// read here can change underneath.
type work struct {
	ctx    context.Context
	tx     Tx
	tenant Tenant
	state  LedgerState
	now    time.Time

	itemsByID      map[uuid.UUID]*Item
	itemsBySKU     map[string]*Item
	itemsByBarcode map[string]*Item
	locsByID       map[uuid.UUID]*Location
	locsByCode     map[locRef]*Location
	batchesByID    map[uuid.UUID]*Batch
	batchesByRef   map[BatchRef]*Batch
	// reserved are batches known not to exist yet, with the ID they get if
	// an operation posts to them.
	reserved   map[BatchRef]*Batch
	warehouses map[uuid.UUID]Warehouse

	balances map[Key]int64
	deltas   map[Key]*BalanceDelta
	// movesByKey indexes this transaction's movements for as-of reads.
	movesByKey map[Key][]int
	// stored holds preloaded answers of the store for as-of reads
	// (KeyWindows), which nothing changes before flush.
	storedStock   map[keyAt]int64
	storedBetween map[keyWindow][]Movement

	orders      map[string]map[lineRef]*OrderLine
	dirtyLines  map[orderLineRef]*OrderLine
	counts      map[Key][]*CountRecord
	dirtyCounts map[uuid.UUID]*CountRecord

	// reviews holds every review read or opened in this transaction,
	// indexed by key, order and opening operation.
	reviews        map[uuid.UUID]*Review
	reviewIdxKey   map[Key][]*Review
	reviewIdxOrder map[string][]*Review
	reviewIdxOp    map[uuid.UUID][]*Review
	// reviewsByKey and reviewsByOrder record which keys and orders have
	// had their open reviews loaded.
	reviewsByKey   map[Key]bool
	reviewsByOrder map[string]bool
	// reviewsByOp records which operations have had the open count
	// reviews they opened loaded (see Store.OpenReviews).
	reviewsByOp  map[uuid.UUID]bool
	dirtyReviews []uuid.UUID
	dirtySet     map[uuid.UUID]bool

	opsByID map[uuid.UUID]*OpRecord

	// known is what this process knew of the tenant's state when the
	// transaction began (ledger/known.go); nil when not used.
	known *knownState

	// Buffered writes.
	newBatches []*Batch
	newItems   []*Item
	newLocs    []*Location
	ops        []*OpRecord
	conflicts  []OpConflict
	movements  []Movement
	posted     []uuid.UUID
}

// keyAt is a time on a key; keyWindow a window of effective times on one.
type keyAt struct {
	Key
	at int64 // Unix microseconds: time.Time is not a reliable map key
}

type keyWindow struct {
	Key
	from, to int64
}

type locRef struct {
	WarehouseID uuid.UUID
	Code        string
}

type lineRef struct{ ItemID, BatchID uuid.UUID }

type orderLineRef struct {
	Order string
	lineRef
}

func newWork(ctx context.Context, tx Tx, tenant Tenant, now time.Time) *work {
	return &work{
		ctx: ctx, tx: tx, tenant: tenant, state: tx.Ledger(), now: now,
		itemsByID: map[uuid.UUID]*Item{}, itemsBySKU: map[string]*Item{}, itemsByBarcode: map[string]*Item{},
		locsByID: map[uuid.UUID]*Location{}, locsByCode: map[locRef]*Location{},
		batchesByID: map[uuid.UUID]*Batch{}, batchesByRef: map[BatchRef]*Batch{}, reserved: map[BatchRef]*Batch{},
		warehouses: map[uuid.UUID]Warehouse{},
		balances:   map[Key]int64{}, deltas: map[Key]*BalanceDelta{}, movesByKey: map[Key][]int{},
		storedStock: map[keyAt]int64{}, storedBetween: map[keyWindow][]Movement{},
		orders: map[string]map[lineRef]*OrderLine{}, dirtyLines: map[orderLineRef]*OrderLine{},
		counts: map[Key][]*CountRecord{}, dirtyCounts: map[uuid.UUID]*CountRecord{},
		reviews: map[uuid.UUID]*Review{}, reviewsByKey: map[Key]bool{}, reviewsByOrder: map[string]bool{}, reviewsByOp: map[uuid.UUID]bool{},
		reviewIdxKey: map[Key][]*Review{}, reviewIdxOrder: map[string][]*Review{}, reviewIdxOp: map[uuid.UUID][]*Review{},
		dirtySet: map[uuid.UUID]bool{}, opsByID: map[uuid.UUID]*OpRecord{},
	}
}

func (w *work) tenantID() uuid.UUID { return w.tenant.ID }

// --- catalog ---

func (w *work) addItem(it Item) *Item {
	if p, ok := w.itemsByID[it.ID]; ok {
		return p
	}
	p := &it
	w.itemsByID[it.ID] = p
	w.itemsBySKU[it.SKU] = p
	for _, b := range it.Barcodes {
		w.itemsByBarcode[b] = p
	}
	return p
}

func (w *work) addLocation(l Location) *Location {
	if p, ok := w.locsByID[l.ID]; ok {
		return p
	}
	p := &l
	w.locsByID[l.ID] = p
	w.locsByCode[locRef{l.WarehouseID, l.Code}] = p
	return p
}

func (w *work) addBatch(b Batch) *Batch {
	if p, ok := w.batchesByID[b.ID]; ok {
		return p
	}
	p := &b
	w.batchesByID[b.ID] = p
	w.batchesByRef[BatchRef{b.ItemID, b.Code}] = p
	return p
}

// loadCatalog resolves, in one query per kind, the references of a set of
// operations: SKUs, barcodes, location codes in one warehouse, and batches.
func (w *work) loadCatalog(warehouseID uuid.UUID, ops []Operation) error {
	var skus, barcodes, locs []string
	for _, op := range ops {
		if op.SKU != "" {
			skus = append(skus, op.SKU)
		}
		if op.Barcode != "" {
			barcodes = append(barcodes, op.Barcode)
		}
		if op.Location != "" {
			locs = append(locs, op.Location)
		}
		if op.ToLocation != "" {
			locs = append(locs, op.ToLocation)
		}
	}
	skus, barcodes, locs = dedupe(skus), dedupe(barcodes), dedupe(locs)
	if w.known != nil {
		skus, barcodes, locs = w.known.fillCatalog(w, warehouseID, skus, barcodes, locs)
	}
	if len(skus) > 0 {
		items, err := w.tx.ItemsBySKU(w.ctx, w.tenantID(), skus)
		if err != nil {
			return err
		}
		for _, it := range items {
			w.addItem(it)
		}
	}
	if len(barcodes) > 0 {
		byCode, err := w.tx.ItemsByBarcode(w.ctx, w.tenantID(), barcodes)
		if err != nil {
			return err
		}
		for code, it := range byCode {
			w.itemsByBarcode[code] = w.addItem(it)
		}
	}
	if len(locs) > 0 {
		rows, err := w.tx.LocationsByCode(w.ctx, w.tenantID(), warehouseID, locs)
		if err != nil {
			return err
		}
		for _, l := range rows {
			w.addLocation(l)
		}
	}
	return nil
}

// loadBatches reads the batches named by refs in one query, and reserves an
// ID for each that does not exist yet, so the keys it will have are known
// up front. A reserved batch is only written if an operation posts to it.
func (w *work) loadBatches(refs []BatchRef) error {
	if len(refs) == 0 {
		return nil
	}
	toRead := refs
	if w.known != nil {
		toRead = w.known.fillBatches(w, refs)
	}
	if len(toRead) > 0 {
		rows, err := w.tx.BatchesByCode(w.ctx, w.tenantID(), toRead)
		if err != nil {
			return err
		}
		for _, b := range rows {
			w.addBatch(b)
		}
	}
	for _, ref := range refs {
		if _, ok := w.batchesByRef[ref]; !ok && w.reserved[ref] == nil {
			w.reserved[ref] = &Batch{TenantID: w.tenantID(), ID: uuid.Must(uuid.NewV7()), ItemID: ref.ItemID, Code: ref.Code}
		}
	}
	return nil
}

// batchIDFor returns the ID a batch has or will have, and whether it is new.
func (w *work) batchIDFor(ref BatchRef) (uuid.UUID, bool) {
	if b := w.batchesByRef[ref]; b != nil {
		return b.ID, false
	}
	if b := w.reserved[ref]; b != nil {
		return b.ID, true
	}
	return uuid.Nil, false
}

// lookupItem finds an operation's item among what is loaded: by SKU when
// given, else by barcode.
func (w *work) lookupItem(op Operation) *Item {
	if op.SKU != "" {
		return w.itemsBySKU[op.SKU]
	}
	return w.itemsByBarcode[op.Barcode]
}

func (w *work) item(id uuid.UUID) (*Item, error) {
	if it, ok := w.itemsByID[id]; ok {
		return it, nil
	}
	rows, err := w.tx.ItemsByID(w.ctx, w.tenantID(), []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, Errorf(CodeNotFound, "item %s not found", id)
	}
	return w.addItem(rows[0]), nil
}

func (w *work) location(id uuid.UUID) (*Location, error) {
	if l, ok := w.locsByID[id]; ok {
		return l, nil
	}
	rows, err := w.tx.LocationsByID(w.ctx, w.tenantID(), []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, Errorf(CodeNotFound, "location %s not found", id)
	}
	return w.addLocation(rows[0]), nil
}

func (w *work) locationByCode(warehouseID uuid.UUID, code string) (*Location, error) {
	if l, ok := w.locsByCode[locRef{warehouseID, code}]; ok {
		return l, nil
	}
	rows, err := w.tx.LocationsByCode(w.ctx, w.tenantID(), warehouseID, []string{code})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return w.addLocation(rows[0]), nil
}

func (w *work) itemBySKU(sku string) (*Item, error) {
	if it, ok := w.itemsBySKU[sku]; ok {
		return it, nil
	}
	rows, err := w.tx.ItemsBySKU(w.ctx, w.tenantID(), []string{sku})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return w.addItem(rows[0]), nil
}

// touchBatch marks a batch changed, to be written at flush.
func (w *work) touchBatch(b *Batch) {
	b.Changed = w.state.NextChange
	if !slices.Contains(w.newBatches, b) {
		w.newBatches = append(w.newBatches, b)
	}
}

// movesByKeyBatch returns the indexes of this transaction's movements on
// any key of the batch.
func (w *work) movesByKeyBatch(batchID uuid.UUID) []int {
	var out []int
	for i, m := range w.movements {
		if m.BatchID == batchID {
			out = append(out, i)
		}
	}
	return out
}

// batch returns the batch with id, or nil for NoBatch.
func (w *work) batch(id uuid.UUID) (*Batch, error) {
	if id == NoBatch {
		return nil, nil
	}
	if b, ok := w.batchesByID[id]; ok {
		return b, nil
	}
	rows, err := w.tx.BatchesByID(w.ctx, w.tenantID(), []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, Errorf(CodeNotFound, "batch %s not found", id)
	}
	return w.addBatch(rows[0]), nil
}

func (w *work) batchByCode(itemID uuid.UUID, code string) (*Batch, error) {
	if b, ok := w.batchesByRef[BatchRef{itemID, code}]; ok {
		return b, nil
	}
	if w.reserved[BatchRef{itemID, code}] != nil {
		return nil, nil
	}
	rows, err := w.tx.BatchesByCode(w.ctx, w.tenantID(), []BatchRef{{itemID, code}})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return w.addBatch(rows[0]), nil
}

// ensureBatch returns the item's batch with code, creating it (first sight
// of a lot, e.g. received on a device that has not synced yet) if needed.
func (w *work) ensureBatch(itemID uuid.UUID, code string, expiry time.Time, generated bool) (*Batch, error) {
	ref := BatchRef{itemID, code}
	id := uuid.Must(uuid.NewV7())
	if r := w.reserved[ref]; r != nil {
		// Known not to exist: loadBatches looked.
		id = r.ID
		delete(w.reserved, ref)
	} else {
		b, err := w.batchByCode(itemID, code)
		if err != nil || b != nil {
			return b, err
		}
	}
	b := w.addBatch(Batch{TenantID: w.tenantID(), ID: id, ItemID: itemID, Code: code,
		Expiry: expiry, Generated: generated, Changed: w.state.NextChange})
	w.newBatches = append(w.newBatches, b)
	return b, nil
}

func (w *work) batchCode(id uuid.UUID) string {
	if b, err := w.batch(id); err == nil && b != nil {
		return b.Code
	}
	return ""
}

// describe fills the human-readable key of evidence.
func (w *work) describe(k Key, ev *Evidence) {
	if k.LocationID != uuid.Nil {
		if l, err := w.location(k.LocationID); err == nil {
			ev.Location = l.Code
		}
	}
	if k.ItemID != uuid.Nil {
		if it, err := w.item(k.ItemID); err == nil {
			ev.SKU = it.SKU
		}
	}
	ev.Batch = w.batchCode(k.BatchID)
}

// --- balances and movements ---

func (w *work) preloadBalances(keys []Key) error {
	missing := w.missingBalances(keys)
	if len(missing) == 0 {
		return nil
	}
	got, err := w.tx.Balances(w.ctx, w.tenantID(), missing)
	if err != nil {
		return err
	}
	w.absorbBalances(missing, got)
	return nil
}

func (w *work) missingBalances(keys []Key) []Key {
	var missing []Key
	for _, k := range keys {
		if _, ok := w.balances[k]; !ok {
			missing = append(missing, k)
		}
	}
	return missing
}

func (w *work) absorbBalances(missing []Key, got map[Key]int64) {
	for _, k := range missing {
		w.balances[k] = got[k]
	}
}

func (w *work) balance(k Key) (int64, error) {
	if v, ok := w.balances[k]; ok {
		return v, nil
	}
	if err := w.preloadBalances([]Key{k}); err != nil {
		return 0, err
	}
	return w.balances[k], nil
}

// move posts one movement: it takes the next recorded position and updates
// the balance in memory.
func (w *work) move(m Movement) (Movement, error) {
	bal, err := w.balance(m.Key)
	if err != nil {
		return m, err
	}
	m.TenantID = w.tenantID()
	m.Position = w.state.NextPosition
	w.state.NextPosition++
	m.RecordedAt = w.now
	w.movesByKey[m.Key] = append(w.movesByKey[m.Key], len(w.movements))
	w.movements = append(w.movements, m)
	w.balances[m.Key] = bal + m.Qty
	d := w.deltas[m.Key]
	if d == nil {
		d = &BalanceDelta{Key: m.Key}
		w.deltas[m.Key] = d
	}
	d.Delta += m.Qty
	d.LastPosition = m.Position
	return m, nil
}

// stockAsOf is the sum of the key's movements effective at or before t:
// committed ones from the store plus this transaction's.
func (w *work) stockAsOf(k Key, t time.Time) (int64, error) {
	sum, ok := w.storedStock[keyAt{k, t.UnixMicro()}]
	if !ok {
		var err error
		if sum, err = w.tx.StockAsOf(w.ctx, w.tenantID(), k, t); err != nil {
			return 0, err
		}
	}
	for _, i := range w.movesByKey[k] {
		if !w.movements[i].EffectiveAt.After(t) {
			sum += w.movements[i].Qty
		}
	}
	return sum, nil
}

// movementsBetween returns the key's movements effective in [from, to].
func (w *work) movementsBetween(k Key, from, to time.Time) ([]Movement, error) {
	rows, ok := w.storedBetween[keyWindow{k, from.UnixMicro(), to.UnixMicro()}]
	if ok {
		rows = slices.Clone(rows)
	} else {
		var err error
		if rows, err = w.tx.MovementsBetween(w.ctx, w.tenantID(), k, from, to); err != nil {
			return nil, err
		}
	}
	for _, i := range w.movesByKey[k] {
		m := w.movements[i]
		if !m.EffectiveAt.Before(from) && !m.EffectiveAt.After(to) {
			rows = append(rows, m)
		}
	}
	return rows, nil
}

// absorbWindows keeps the store's answers for windows (KeyWindows).
func (w *work) absorbWindows(windows []KeyWindow, got []KeyWindowState) {
	for i, kw := range windows {
		w.storedStock[keyAt{kw.Key, kw.At.UnixMicro()}] = got[i].StockAsOf
		w.storedBetween[keyWindow{kw.Key, kw.From.UnixMicro(), kw.To.UnixMicro()}] = got[i].Between
	}
}

// movementsOfOp returns the movements produced by or correcting an op.
func (w *work) movementsOfOp(opID uuid.UUID) ([]Movement, error) {
	rows, err := w.tx.MovementsOfOp(w.ctx, w.tenantID(), opID)
	if err != nil {
		return nil, err
	}
	for _, m := range w.movements {
		if m.OpID == opID || m.Corrects == opID {
			rows = append(rows, m)
		}
	}
	return rows, nil
}

// --- orders ---

func (w *work) preloadOrders(orders []string) error {
	missing := w.missingOrders(orders)
	if len(missing) == 0 {
		return nil
	}
	rows, err := w.tx.OrderLines(w.ctx, w.tenantID(), missing)
	if err != nil {
		return err
	}
	w.absorbOrders(missing, rows)
	return nil
}

func (w *work) missingOrders(orders []string) []string {
	var missing []string
	seen := make(map[string]bool, len(orders))
	for _, o := range orders {
		if _, ok := w.orders[o]; !ok && !seen[o] {
			seen[o] = true
			missing = append(missing, o)
		}
	}
	return missing
}

func (w *work) absorbOrders(missing []string, rows []OrderLine) {
	for _, o := range missing {
		w.orders[o] = map[lineRef]*OrderLine{}
	}
	for _, l := range rows {
		w.orders[l.Order][lineRef{l.ItemID, l.BatchID}] = &l
	}
}

// orderLines returns the lines of one order for one item, in shipment order.
func (w *work) orderLines(order string, itemID uuid.UUID) ([]*OrderLine, error) {
	if err := w.preloadOrders([]string{order}); err != nil {
		return nil, err
	}
	var out []*OrderLine
	for ref, l := range w.orders[order] {
		if ref.ItemID == itemID {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Shipped > 0) != (b.Shipped > 0) {
			return a.Shipped > 0
		}
		if a.FirstPosition != b.FirstPosition {
			return a.FirstPosition < b.FirstPosition
		}
		return compareUUID(a.BatchID, b.BatchID) < 0
	})
	return out, nil
}

// orderLine returns (creating at zero) one line of an order, marked dirty.
func (w *work) orderLine(order string, itemID, batchID uuid.UUID) (*OrderLine, error) {
	if err := w.preloadOrders([]string{order}); err != nil {
		return nil, err
	}
	ref := lineRef{itemID, batchID}
	l := w.orders[order][ref]
	if l == nil {
		l = &OrderLine{Order: order, ItemID: itemID, BatchID: batchID}
		w.orders[order][ref] = l
	}
	w.dirtyLines[orderLineRef{order, ref}] = l
	return l, nil
}

// --- counts ---

func (w *work) preloadCounts(keys []Key) error {
	missing := w.missingCounts(keys)
	if len(missing) == 0 {
		return nil
	}
	rows, err := w.tx.CountsOnKeys(w.ctx, w.tenantID(), missing)
	if err != nil {
		return err
	}
	w.absorbCounts(missing, rows)
	return nil
}

func (w *work) missingCounts(keys []Key) []Key {
	var missing []Key
	for _, k := range keys {
		if _, ok := w.counts[k]; !ok {
			missing = append(missing, k)
		}
	}
	return missing
}

func (w *work) absorbCounts(missing []Key, rows []CountRecord) {
	for _, k := range missing {
		w.counts[k] = []*CountRecord{}
	}
	for _, c := range rows {
		w.counts[c.Key] = append(w.counts[c.Key], &c)
	}
	for _, k := range missing {
		sortCounts(w.counts[k])
	}
}

func sortCounts(cs []*CountRecord) {
	sort.Slice(cs, func(i, j int) bool {
		if !cs[i].EffectiveAt.Equal(cs[j].EffectiveAt) {
			return cs[i].EffectiveAt.Before(cs[j].EffectiveAt)
		}
		return compareUUID(cs[i].OpID, cs[j].OpID) < 0
	})
}

func (w *work) countsOn(k Key) ([]*CountRecord, error) {
	if err := w.preloadCounts([]Key{k}); err != nil {
		return nil, err
	}
	return w.counts[k], nil
}

func (w *work) addCount(c *CountRecord) {
	w.counts[c.Key] = append(w.counts[c.Key], c)
	sortCounts(w.counts[c.Key])
	w.dirtyCounts[c.OpID] = c
}

// --- reviews ---

func (w *work) preloadReviews(keys []Key, orders []string) error {
	mk, mo := w.missingReviews(keys, orders)
	if len(mk) == 0 && len(mo) == 0 {
		return nil
	}
	rows, err := w.tx.OpenReviews(w.ctx, w.tenantID(), mk, mo)
	if err != nil {
		return err
	}
	w.absorbReviews(rows)
	return nil
}

// missingReviews returns the keys and orders whose open reviews are not
// loaded yet, and marks them loaded.
func (w *work) missingReviews(keys []Key, orders []string) ([]Key, []string) {
	var mk []Key
	var mo []string
	for _, k := range keys {
		if !w.reviewsByKey[k] {
			mk = append(mk, k)
			w.reviewsByKey[k] = true
		}
	}
	for _, o := range orders {
		if !w.reviewsByOrder[o] {
			mo = append(mo, o)
			w.reviewsByOrder[o] = true
		}
	}
	return mk, mo
}

func (w *work) absorbReviews(rows []Review) {
	for _, r := range rows {
		w.addReview(&r)
	}
}

// addReview adds a review to the working set, unless a (newer) copy is
// already there.
func (w *work) addReview(r *Review) *Review {
	if have, ok := w.reviews[r.ID]; ok {
		return have
	}
	w.reviews[r.ID] = r
	w.reviewIdxKey[r.Key] = append(w.reviewIdxKey[r.Key], r)
	if r.Order != "" {
		w.reviewIdxOrder[r.Order] = append(w.reviewIdxOrder[r.Order], r)
	}
	w.reviewIdxOp[r.OpID] = append(w.reviewIdxOp[r.OpID], r)
	return r
}

// openReviews returns the open reviews of a kind on a key, oldest first.
func (w *work) openReviews(kind ReviewKind, k Key) ([]*Review, error) {
	if err := w.preloadReviews([]Key{k}, nil); err != nil {
		return nil, err
	}
	return findReviews(w.reviewIdxKey[k], func(r *Review) bool { return r.Kind == kind }), nil
}

// openOrderReviews returns the open reviews on an order for one item.
func (w *work) openOrderReviews(order string, itemID uuid.UUID) ([]*Review, error) {
	if err := w.preloadReviews(nil, []string{order}); err != nil {
		return nil, err
	}
	return findReviews(w.reviewIdxOrder[order], func(r *Review) bool { return r.ItemID == itemID }), nil
}

// openOpReviews returns the open reviews of a kind opened by an operation on
// a key. Count reviews are loaded by their operation, the others with the
// key's.
func (w *work) openOpReviews(kind ReviewKind, opID uuid.UUID, k Key) ([]*Review, error) {
	if !CountReviewKind(kind) {
		if err := w.preloadReviews([]Key{k}, nil); err != nil {
			return nil, err
		}
	} else if err := w.preloadOpReviews([]uuid.UUID{opID}); err != nil {
		return nil, err
	}
	return findReviews(w.reviewIdxOp[opID], func(r *Review) bool { return r.Kind == kind }), nil
}

// preloadOpReviews loads, in one query, the open reviews that the
// operations opened and that are not loaded yet.
func (w *work) preloadOpReviews(opIDs []uuid.UUID) error {
	var need []uuid.UUID
	for _, id := range opIDs {
		if !w.reviewsByOp[id] {
			w.reviewsByOp[id] = true
			if known, ok := w.known.opReviewsOf(id); ok {
				for _, r := range known {
					w.addReview(r)
				}
			} else {
				need = append(need, id)
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	rows, err := w.tx.OpenReviewsOfOps(w.ctx, w.tenantID(), need)
	if err != nil {
		return err
	}
	w.absorbReviews(rows)
	return nil
}

// findReviews returns the open reviews among rs that match, oldest first.
func findReviews(rs []*Review, match func(*Review) bool) []*Review {
	var out []*Review
	for _, r := range rs {
		if r.Status == ReviewOpen && match(r) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].OpenedAt.Equal(out[j].OpenedAt) {
			return out[i].OpenedAt.Before(out[j].OpenedAt)
		}
		return compareUUID(out[i].ID, out[j].ID) < 0
	})
	return out
}

func (w *work) touchReview(r *Review) {
	r.Changed = w.state.NextChange
	if !w.dirtySet[r.ID] {
		w.dirtySet[r.ID] = true
		w.dirtyReviews = append(w.dirtyReviews, r.ID)
	}
}

// openReview opens a review on behalf of an operation.
func (w *work) openReview(kind ReviewKind, opID, deviceID uuid.UUID, k Key, order string, ev Evidence, sugg []Suggestion) *Review {
	w.describe(k, &ev)
	if order != "" {
		ev.Order = order
	}
	r := &Review{
		TenantID: w.tenantID(), ID: uuid.Must(uuid.NewV7()), Kind: kind, Severity: reviewSeverity[kind],
		Status: ReviewOpen, OpID: opID, DeviceID: deviceID, Ops: []ReviewOp{{opID, deviceID}},
		Key: k, Order: order, Evidence: ev, Suggestions: sugg, OpenedAt: w.now,
	}
	w.addReview(r)
	w.touchReview(r)
	return r
}

// joinReview adds an operation to an open review.
func (w *work) joinReview(r *Review, opID, deviceID uuid.UUID) {
	if !slices.ContainsFunc(r.Ops, func(o ReviewOp) bool { return o.OpID == opID }) {
		r.Ops = append(r.Ops, ReviewOp{opID, deviceID})
	}
	w.touchReview(r)
}

// settle resolves a review whose condition a later operation made false.
func (w *work) settle(r *Review, by uuid.UUID, note string) {
	r.Status = ReviewResolved
	r.Resolution = &ResolutionRecord{Action: ActionSettled, By: ResolvedByLedger, At: w.now, Note: note, SettledBy: by}
	w.touchReview(r)
}

// --- op log ---

// opRecord returns the canonical op log entry of an operation, from this
// transaction or the store, or nil.
func (w *work) opRecord(opID uuid.UUID) (*OpRecord, error) {
	if r, ok := w.opsByID[opID]; ok {
		return r, nil
	}
	rows, err := w.tx.LookupOps(w.ctx, w.tenantID(), uuid.Nil, 1, 0, []uuid.UUID{opID})
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r.Canonical && r.OpID == opID {
			w.opsByID[opID] = &r
			return &r, nil
		}
	}
	return nil, nil
}

// markPosted records that a held operation's movements are now posted.
func (w *work) markPosted(rec *OpRecord) {
	rec.Posted = true
	for _, r := range w.ops {
		if r == rec {
			return // inserted at flush with Posted set
		}
	}
	w.posted = append(w.posted, rec.OpID)
}

// flush writes every buffered change and the counters.
func (w *work) flush() error {
	ctx, tx, tid := w.ctx, w.tx, w.tenantID()
	change := w.state.NextChange
	if len(w.newItems) > 0 {
		rows := make([]Item, len(w.newItems))
		for i, it := range w.newItems {
			it.Changed = change
			rows[i] = *it
		}
		if err := tx.UpsertItems(ctx, rows); err != nil {
			return err
		}
	}
	if len(w.newLocs) > 0 {
		rows := make([]Location, len(w.newLocs))
		for i, l := range w.newLocs {
			l.Changed = change
			rows[i] = *l
		}
		if err := tx.UpsertLocations(ctx, rows); err != nil {
			return err
		}
	}
	if len(w.newBatches) > 0 {
		rows := make([]Batch, len(w.newBatches))
		for i, b := range w.newBatches {
			rows[i] = *b
		}
		if err := tx.UpsertBatches(ctx, rows); err != nil {
			return err
		}
	}
	if len(w.ops) > 0 {
		rows := make([]OpRecord, len(w.ops))
		for i, r := range w.ops {
			rows[i] = *r
		}
		if err := tx.InsertOps(ctx, rows); err != nil {
			return err
		}
	}
	if len(w.conflicts) > 0 {
		if err := tx.InsertOpConflicts(ctx, w.conflicts); err != nil {
			return err
		}
	}
	if len(w.posted) > 0 {
		if err := tx.MarkOpsPosted(ctx, tid, w.posted); err != nil {
			return err
		}
	}
	if len(w.movements) > 0 {
		if err := tx.InsertMovements(ctx, w.movements); err != nil {
			return err
		}
	}
	if len(w.deltas) > 0 {
		deltas := make([]BalanceDelta, 0, len(w.deltas))
		for _, d := range w.deltas {
			deltas = append(deltas, *d)
		}
		sort.Slice(deltas, func(i, j int) bool { return deltas[i].Less(deltas[j].Key) })
		if err := tx.AddBalances(ctx, tid, change, deltas); err != nil {
			return err
		}
	}
	if len(w.dirtyLines) > 0 {
		rows := make([]OrderLine, 0, len(w.dirtyLines))
		for _, l := range w.dirtyLines {
			rows = append(rows, *l)
		}
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].Order != rows[j].Order {
				return rows[i].Order < rows[j].Order
			}
			return Key{ItemID: rows[i].ItemID, BatchID: rows[i].BatchID}.Less(Key{ItemID: rows[j].ItemID, BatchID: rows[j].BatchID})
		})
		if err := tx.UpsertOrderLines(ctx, tid, rows); err != nil {
			return err
		}
	}
	if len(w.dirtyCounts) > 0 {
		rows := make([]CountRecord, 0, len(w.dirtyCounts))
		for _, c := range w.dirtyCounts {
			rows = append(rows, *c)
		}
		sort.Slice(rows, func(i, j int) bool { return compareUUID(rows[i].OpID, rows[j].OpID) < 0 })
		if err := tx.UpsertCounts(ctx, tid, rows); err != nil {
			return err
		}
	}
	if len(w.dirtyReviews) > 0 {
		rows := make([]Review, len(w.dirtyReviews))
		for i, id := range w.dirtyReviews {
			rows[i] = *w.reviews[id]
		}
		if err := tx.UpsertReviews(ctx, rows); err != nil {
			return err
		}
	}
	w.state.NextChange++
	return tx.SetLedger(ctx, w.state)
}

func dedupe(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
