package ledger

import (
	"cmp"
	"slices"
	"sync"

	"github.com/google/uuid"
)

// What a process knows of a tenant's ledger state between its own merges.
//
// A merge reads, for every key and order its push names, the balance, the
// posted counts, whether open reviews exist and the order's lines: at shift
// end one index probe per key and table, about as much database work as
// writing the push's movements. Most of those rows were written by this
// process's own previous merge of the tenant, so it keeps them, and trusts
// them only while the tenant's write ID (Tx.WriteIDs) is still the one its
// own last commit left: any other writer — another server, a manager's
// decision, a catalog upload, a restore — changes the ID, and the next merge
// starts from the database again. The store's lock still serializes every
// writer; this only saves reads.
//
// A knownState is taken out of knownStates for the length of one write
// transaction and put back, with the new write ID, only once that
// transaction committed; a failed write simply loses it.

// DefaultKnownEntries bounds what a Ledger keeps (Options.KnownEntries): an
// entry is a key's balance, counts or review flag, an order's lines, or a
// catalog row, about 100 bytes each.
const DefaultKnownEntries = 1 << 20

// knownStates holds a knownState per tenant, within a bound on entries.
type knownStates struct {
	mu      sync.Mutex
	max     int
	total   int
	puts    uint64
	tenants map[uuid.UUID]*knownState
}

// knownState is what one tenant's committed ledger held after this
// process's last write of it. A key or order that is absent is unknown.
type knownState struct {
	// writeID is the tenant's write ID that this state goes with.
	writeID uuid.UUID
	// keys holds what is known of each key, in one lookup.
	keys map[Key]keyKnown
	// counts holds every posted count of a key whose counts are known
	// (knowCounts), in effective-time order; a key with none is absent.
	counts map[Key][]CountRecord
	// orders holds every line of an order.
	orders         map[string][]OrderLine
	noOrderReviews map[string]bool
	// opReviews holds the open count reviews a count's operation opened
	// (with only their opening operation, as Store.OpenReviewsOfOps reads
	// them), for the counts whose reviews are known; empty when none. On a
	// busy bin they are read by every push, and decoding their evidence
	// was the largest cost of a merge.
	opReviews map[uuid.UUID][]Review

	// The catalog rows merges resolved: items (with all their barcodes) by
	// ID, SKU and barcode, locations by warehouse and code, batches by item
	// and code. Only rows that exist: a name not found is read again.
	items          map[uuid.UUID]Item
	itemsBySKU     map[string]uuid.UUID
	itemsByBarcode map[string]uuid.UUID
	locations      map[locRef]Location
	batches        map[BatchRef]Batch

	// listed is how many counts and order lines the lists hold, which
	// count towards the bound like map entries.
	listed int
	// used orders tenants for eviction: the least recently put goes first.
	used uint64
}

// keyKnown is what is known of one key. It holds no pointer, so the
// garbage collector never scans the map of a million of them.
type keyKnown struct {
	balance int64
	flags   keyFlags
}

// keyFlags say which parts of a keyKnown are known.
type keyFlags uint8

const (
	knowBalance keyFlags = 1 << iota
	// knowCounts: every posted count of the key is in knownState.counts.
	knowCounts
	// knowNoReviews: no open review but count reviews is on the key (what
	// Store.OpenReviews would find for it).
	knowNoReviews
)

func newKnownState() *knownState {
	return &knownState{keys: map[Key]keyKnown{}, counts: map[Key][]CountRecord{},
		orders: map[string][]OrderLine{}, noOrderReviews: map[string]bool{}, opReviews: map[uuid.UUID][]Review{},
		items: map[uuid.UUID]Item{}, itemsBySKU: map[string]uuid.UUID{}, itemsByBarcode: map[string]uuid.UUID{},
		locations: map[locRef]Location{}, batches: map[BatchRef]Batch{}}
}

func (k *knownState) size() int {
	return len(k.keys) + len(k.counts) + len(k.orders) + len(k.noOrderReviews) + len(k.opReviews) +
		len(k.items) + len(k.itemsBySKU) + len(k.itemsByBarcode) + len(k.locations) + len(k.batches) + k.listed
}

// take removes and returns the tenant's state if it goes with found, the
// write ID the transaction found under the lock; otherwise it forgets it
// and returns an empty state.
func (s *knownStates) take(tenantID, found uuid.UUID) *knownState {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.tenants[tenantID]
	if k != nil {
		delete(s.tenants, tenantID)
		s.total -= k.size()
		if k.writeID == found && found != uuid.Nil {
			return k
		}
	}
	return newKnownState()
}

// finish keeps what a write transaction took (take) under the write ID the
// tenant has after it: leaves after a commit; found after a failure, if
// the transaction changed nothing that is kept (a rollback leaves the ID as
// found; a commit whose outcome is unknown leaves an ID that will not
// match). Otherwise the tenant's state is unknown and nothing is kept.
func (s *knownStates) finish(tenantID uuid.UUID, k *knownState, found, leaves uuid.UUID, err error, changed bool) {
	switch {
	case k == nil:
	case err == nil:
		s.put(tenantID, leaves, k)
	case !changed:
		s.put(tenantID, found, k)
	}
}

// put keeps the tenant's state as of writeID, the write ID its transaction
// left (or found, if it rolled back having changed nothing), within the
// bound: the states of the tenants least recently written go first, and a
// state larger than the bound is not kept.
func (s *knownStates) put(tenantID, writeID uuid.UUID, k *knownState) {
	if s.max <= 0 || writeID == uuid.Nil {
		return
	}
	n := k.size()
	if n > s.max {
		return
	}
	k.writeID = writeID
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tenants == nil {
		s.tenants = map[uuid.UUID]*knownState{}
	}
	if old := s.tenants[tenantID]; old != nil {
		s.total -= old.size()
		delete(s.tenants, tenantID)
	}
	if s.total+n > s.max {
		others := make([]uuid.UUID, 0, len(s.tenants))
		for id := range s.tenants {
			others = append(others, id)
		}
		slices.SortFunc(others, func(a, b uuid.UUID) int { return cmp.Compare(s.tenants[a].used, s.tenants[b].used) })
		for _, id := range others {
			if s.total+n <= s.max {
				break
			}
			s.total -= s.tenants[id].size()
			delete(s.tenants, id)
		}
	}
	s.puts++
	k.used = s.puts
	s.tenants[tenantID] = k
	s.total += n
}

// fill gives the work what is known of the keys and orders, so that only
// the rest is read from the store.
func (k *knownState) fill(w *work, keys []Key, orders []string) {
	for _, key := range keys {
		if _, have := w.balances[key]; have {
			continue // a key named again, or of a batch not created yet
		}
		kk, ok := k.keys[key]
		if !ok {
			continue
		}
		if kk.flags&knowBalance != 0 {
			w.balances[key] = kk.balance
		}
		if _, have := w.counts[key]; kk.flags&knowCounts != 0 && !have {
			cs := k.counts[key]
			list := make([]*CountRecord, len(cs))
			for i := range cs {
				c := cs[i]
				list[i] = &c
			}
			w.counts[key] = list
		}
		if kk.flags&knowNoReviews != 0 {
			w.reviewsByKey[key] = true
		}
	}
	for _, o := range orders {
		if lines, ok := k.orders[o]; ok {
			if _, have := w.orders[o]; !have {
				m := make(map[lineRef]*OrderLine, len(lines))
				for i := range lines {
					l := lines[i]
					m[lineRef{l.ItemID, l.BatchID}] = &l
				}
				w.orders[o] = m
			}
		}
		if k.noOrderReviews[o] {
			w.reviewsByOrder[o] = true
		}
	}
}

// absorbKey returns kk with what the work leaves of the key's counts and
// reviews.
func (k *knownState) absorbKey(w *work, key Key, kk keyKnown) keyKnown {
	if cs, ok := w.counts[key]; ok {
		kk.flags |= knowCounts
		k.listed -= len(k.counts[key])
		if len(cs) == 0 {
			delete(k.counts, key)
		} else {
			list := make([]CountRecord, len(cs))
			for i, c := range cs {
				list[i] = *c
			}
			k.counts[key] = list
			k.listed += len(list)
		}
	}
	if w.reviewsByKey[key] {
		kk.flags |= knowNoReviews
	}
	if slices.ContainsFunc(w.reviewIdxKey[key], func(r *Review) bool { return r.Status == ReviewOpen && !CountReviewKind(r.Kind) }) {
		kk.flags &^= knowNoReviews
	}
	return kk
}

// fillCatalog gives the work the known items, locations and batches among
// those named, and returns the names still to be read from the store.
func (k *knownState) fillCatalog(w *work, warehouseID uuid.UUID, skus, barcodes, locs []string) (restSKUs, restBarcodes, restLocs []string) {
	for _, sku := range skus {
		if id, ok := k.itemsBySKU[sku]; ok {
			w.addItem(k.items[id])
		} else {
			restSKUs = append(restSKUs, sku)
		}
	}
	for _, code := range barcodes {
		if id, ok := k.itemsByBarcode[code]; ok {
			w.itemsByBarcode[code] = w.addItem(k.items[id])
		} else {
			restBarcodes = append(restBarcodes, code)
		}
	}
	for _, code := range locs {
		if l, ok := k.locations[locRef{warehouseID, code}]; ok {
			w.addLocation(l)
		} else {
			restLocs = append(restLocs, code)
		}
	}
	return restSKUs, restBarcodes, restLocs
}

// fillBatches gives the work the known batches among refs, and returns the
// refs still to be read.
func (k *knownState) fillBatches(w *work, refs []BatchRef) []BatchRef {
	var rest []BatchRef
	for _, ref := range refs {
		if b, ok := k.batches[ref]; ok {
			w.addBatch(b)
		} else {
			rest = append(rest, ref)
		}
	}
	return rest
}

// opReviewsOf returns copies of the open count reviews op opened, and
// whether they are known.
func (k *knownState) opReviewsOf(op uuid.UUID) ([]*Review, bool) {
	if k == nil {
		return nil, false
	}
	rs, ok := k.opReviews[op]
	if !ok {
		return nil, false
	}
	out := make([]*Review, len(rs))
	for i := range rs {
		c := cloneReview(rs[i])
		out[i] = &c
	}
	return out, true
}

// absorb records what the work's transaction leaves behind, for every key,
// order and operation whose state it read in full: called once its writes
// are flushed, and worth keeping only if it commits.
func (k *knownState) absorb(w *work) {
	// A batch reserved for an operation that did not post (held or
	// rejected) was never created: nobody will ask for its keys again.
	unborn := map[uuid.UUID]bool{}
	for _, b := range w.reserved {
		unborn[b.ID] = true
	}
	for id, it := range w.itemsByID {
		k.items[id] = *it
		k.itemsBySKU[it.SKU] = id
		for _, code := range it.Barcodes {
			k.itemsByBarcode[code] = id
		}
	}
	for _, l := range w.locsByID {
		k.locations[locRef{l.WarehouseID, l.Code}] = *l
	}
	for _, b := range w.batchesByID {
		k.batches[BatchRef{b.ItemID, b.Code}] = *b
	}
	// Every key the work read has its balance read; a key with only
	// counts or reviews read (or a review opened on it) is rare.
	for key, v := range w.balances {
		if !unborn[key.BatchID] {
			kk := k.keys[key]
			kk.balance, kk.flags = v, kk.flags|knowBalance
			k.keys[key] = k.absorbKey(w, key, kk)
		}
	}
	other := func(key Key) {
		if _, done := w.balances[key]; !done && !unborn[key.BatchID] {
			k.keys[key] = k.absorbKey(w, key, k.keys[key])
		}
	}
	for key := range w.counts {
		other(key)
	}
	for key := range w.reviewsByKey {
		other(key)
	}
	for key := range w.reviewIdxKey {
		other(key)
	}
	for o, lines := range w.orders {
		list := make([]OrderLine, 0, len(lines))
		for _, l := range lines {
			list = append(list, *l)
		}
		k.listed += len(list) - len(k.orders[o])
		k.orders[o] = list
	}
	// Review flags: set for what was read in full and has no open review
	// now; cleared wherever an open review is, read in full or not (a
	// review opened on an order the push never preloaded).
	openOnOrder := func(r *Review) bool { return r.Status == ReviewOpen }
	for o, loaded := range w.reviewsByOrder {
		if loaded {
			k.noOrderReviews[o] = true
		}
	}
	for o, rs := range w.reviewIdxOrder {
		if slices.ContainsFunc(rs, openOnOrder) {
			delete(k.noOrderReviews, o)
		}
	}
	// Only counts' operations are looked up by operation; keeping every
	// new operation of every push would grow without bound.
	isCount := map[uuid.UUID]bool{}
	for _, cs := range w.counts {
		for _, c := range cs {
			isCount[c.OpID] = true
		}
	}
	for op, loaded := range w.reviewsByOp {
		if !loaded || !isCount[op] {
			continue
		}
		// What the database holds now: the work's copy of a review this
		// transaction wrote (touched), the kept copy of one it did not.
		old, had := k.opReviews[op]
		touched := !had
		for _, r := range w.reviewIdxOp[op] {
			touched = touched || (CountReviewKind(r.Kind) && w.dirtySet[r.ID])
		}
		if !touched {
			continue
		}
		var list []Review
		for _, r := range w.reviewIdxOp[op] {
			if !CountReviewKind(r.Kind) {
				continue
			}
			c := *r
			if i := slices.IndexFunc(old, func(o Review) bool { return o.ID == r.ID }); i >= 0 && !w.dirtySet[r.ID] {
				c = old[i]
			}
			if c.Status == ReviewOpen {
				c = cloneReview(c)
				c.KeepOpeningOp()
				list = append(list, c)
			}
		}
		k.listed += reviewsWeight(list) - reviewsWeight(old)
		k.opReviews[op] = list
	}
	// A count review found otherwise than by its operation (none is, today)
	// leaves what is known of that operation unknown.
	for op, rs := range w.reviewIdxOp {
		if !w.reviewsByOp[op] && slices.ContainsFunc(rs, func(r *Review) bool { return CountReviewKind(r.Kind) }) {
			k.listed -= reviewsWeight(k.opReviews[op])
			delete(k.opReviews, op)
		}
	}
}

// reviewsWeight is what reviews count towards the bound: one each, and
// one per nearby movement of their evidence.
func reviewsWeight(rs []Review) int {
	n := len(rs)
	for _, r := range rs {
		n += len(r.Evidence.Nearby)
	}
	return n
}

// cloneReview returns a copy of r that shares nothing it could change.
func cloneReview(r Review) Review {
	r.Ops = slices.Clone(r.Ops)
	r.Suggestions = slices.Clone(r.Suggestions)
	ev := &r.Evidence
	ev.OnHand, ev.Counted, ev.Expected, ev.Threshold = clonePtr(ev.OnHand), clonePtr(ev.Counted), clonePtr(ev.Expected), clonePtr(ev.Threshold)
	ev.Shipped, ev.Returned = slices.Clone(ev.Shipped), slices.Clone(ev.Returned)
	ev.Nearby, ev.Unknown = slices.Clone(ev.Nearby), slices.Clone(ev.Unknown)
	if r.Resolution != nil {
		res := *r.Resolution
		res.Positions = slices.Clone(res.Positions)
		r.Resolution = &res
	}
	return r
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
