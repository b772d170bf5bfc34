package ledger

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// Merge merges one push from one device in one transaction and returns one
// result per operation, in request order.
//
// Operations at or below the device's acked seq are replays: the stored
// result comes back marked Replayed, or op_conflict when the device reused
// the seq for another operation. New operations whose op_id is already
// logged (a device restored from a backup renumbers its pending operations)
// are replays too when the payload matches. Everything else is validated and
// merged in seq order; a rejected operation is stored and still advances the
// acked seq.
//
// Returns CodeInvalid for a malformed request, CodeNotFound for an unknown
// device, CodeForbidden for a revoked one, and an *Error with CodeSeqGap and
// AckedSeq when the first seq is beyond acked_seq+1.
func (l *Ledger) Merge(ctx context.Context, req MergeRequest) (MergeResponse, error) {
	for i := 1; i < len(req.Ops); i++ {
		if req.Ops[i].Seq != req.Ops[i-1].Seq+1 {
			return MergeResponse{}, Errorf(CodeInvalid, "ops must have ascending contiguous seq: %d follows %d", req.Ops[i].Seq, req.Ops[i-1].Seq)
		}
	}
	if len(req.Ops) > 0 && req.Ops[0].Seq <= 0 {
		return MergeResponse{}, Errorf(CodeInvalid, "seq starts at 1, got %d", req.Ops[0].Seq)
	}
	// What needs no ledger state is done before waiting for the lock, so
	// that under load it overlaps another push's database work.
	prepared := prepareOps(req.Ops)
	now := l.clock()
	var resp MergeResponse
	var known *knownState
	var found, leaves uuid.UUID
	var absorbed chan struct{} // closed once known holds what the work left
	err := l.writeThen(ctx, req.TenantID, func(tx Tx) error {
		found, leaves = tx.WriteIDs()
		known = l.known.take(req.TenantID, found)
		tenant, err := tx.Tenant(ctx, req.TenantID)
		if err != nil {
			return err
		}
		dev, err := tx.Device(ctx, req.TenantID, req.DeviceID)
		if err != nil {
			return err
		}
		if !dev.RevokedAt.IsZero() {
			return Errorf(CodeForbidden, "device %s was revoked", dev.ID)
		}
		if len(req.Ops) > 0 && req.Ops[0].Seq > dev.AckedSeq+1 {
			return &Error{Code: CodeSeqGap, AckedSeq: dev.AckedSeq,
				Message: fmt.Sprintf("first seq %d leaves a gap after acked seq %d", req.Ops[0].Seq, dev.AckedSeq)}
		}
		if !req.DeviceTime.IsZero() {
			dev.ClockOffset = now.Sub(req.DeviceTime).Truncate(time.Millisecond)
		}
		dev.LastSeenAt = now
		w := newWork(ctx, tx, tenant, now)
		w.known = known
		m := &merger{work: w, store: l.store, dev: &dev, knownAcked: req.KnownAckedSeq}
		results, err := m.run(prepared)
		if err != nil {
			return err
		}
		if err := tx.UpdateDevice(ctx, dev); err != nil {
			return err
		}
		if err := w.flush(); err != nil {
			return err
		}
		// The work is not changed after flush: what it leaves is kept
		// while the database commits.
		absorbed = make(chan struct{})
		go func() {
			defer close(absorbed)
			known.absorb(w)
		}()
		resp = MergeResponse{AckedSeq: dev.AckedSeq, Results: results, ServerTime: now}
		return nil
	}, func(err error) {
		if absorbed != nil {
			<-absorbed
		}
		l.known.finish(req.TenantID, known, found, leaves, err, absorbed != nil)
	})
	if err != nil {
		return MergeResponse{}, err
	}
	return resp, nil
}

// merger merges one device's push.
type merger struct {
	*work
	// store serves preloadState's reads beside the transaction.
	store      Store
	dev        *Device
	knownAcked *int64
}

// preparedOp is an operation with what merging it needs that no ledger
// state changes: its normalized form, canonical payload and hash, and
// what Validate says of it.
type preparedOp struct {
	Operation
	payload, hash []byte
	invalid       error
}

// prepareOps normalizes each operation and computes its canonical payload.
func prepareOps(ops []Operation) []preparedOp {
	out := make([]preparedOp, len(ops))
	for i, op := range ops {
		op = op.normalize()
		payload, hash := op.canonicalPayload()
		out[i] = preparedOp{Operation: op, payload: payload, hash: hash, invalid: op.Validate()}
	}
	return out
}

func (m *merger) run(prepared []preparedOp) ([]Result, error) {
	results := make([]Result, len(prepared))
	if len(prepared) == 0 {
		return results, nil
	}
	ops := make([]Operation, len(prepared))
	for i, p := range prepared {
		ops[i] = p.Operation
	}

	// The one deduplication lookup: the replayed seq range and every op_id.
	ids := make([]uuid.UUID, len(ops))
	for i, op := range ops {
		ids[i] = op.OpID
	}
	first := ops[0].Seq
	last := min(ops[len(ops)-1].Seq, m.dev.AckedSeq)
	known, err := m.tx.LookupOps(m.ctx, m.tenantID(), m.dev.ID, first, last, ids)
	if err != nil {
		return nil, fmt.Errorf("look up ops of device %s: %w", m.dev.ID, err)
	}
	bySeq := map[int64]OpRecord{}
	for _, r := range known {
		if r.DeviceID == m.dev.ID && r.Seq >= first && r.Seq <= last {
			bySeq[r.Seq] = r
		}
		if r.Canonical {
			m.opsByID[r.OpID] = &r
		}
	}
	if err := m.checkBehind(ops, bySeq); err != nil {
		return nil, err
	}
	// Only an operation in the op log can have opened a review: those the
	// log has never seen have no stored review to look up.
	logged := make(map[uuid.UUID]bool, len(known))
	for _, r := range known {
		logged[r.OpID] = true
	}
	for _, op := range ops {
		if !logged[op.OpID] {
			m.reviewsByOp[op.OpID] = true
		}
	}

	// Resolve every reference of the new operations at once, and preload
	// what the rules will read for the keys and orders they name.
	// Only valid operations reach the catalog: a value no store can hold
	// as text must never reach a query.
	var fresh []Operation
	for _, p := range prepared {
		if op := p.Operation; op.Seq > m.dev.AckedSeq && p.invalid == nil {
			fresh = append(fresh, op)
		}
	}
	if err := m.loadCatalog(m.dev.WarehouseID, fresh); err != nil {
		return nil, err
	}
	if err := m.preload(fresh); err != nil {
		return nil, err
	}

	for i, op := range ops {
		payload, hash := prepared[i].payload, prepared[i].hash
		if op.Seq <= m.dev.AckedSeq {
			res, err := m.replay(op, bySeq, payload, hash)
			if err != nil {
				return nil, err
			}
			results[i] = res
			continue
		}
		kind := op.Kind
		if !KnownKind(kind) {
			kind = "" // the payload keeps what was sent
		}
		rec := &OpRecord{TenantID: m.tenantID(), DeviceID: m.dev.ID, Seq: op.Seq, OpID: op.OpID, Kind: kind,
			Payload: payload, PayloadHash: hash, ReceivedAt: m.now,
			EffectiveAt: m.effectiveAt(op)}
		replayed := false
		if op.OpID == uuid.Nil {
			// Without an op_id the operation cannot be deduplicated, so it
			// never becomes the canonical entry of anything.
			rec.Result = Result{Status: StatusRejected, Code: CodeMissingField, Message: "op_id is required"}
		} else if prev, ok := m.opsByID[op.OpID]; ok {
			// Known op_id under a new seq: a renumbered replay or a conflict.
			if bytes.Equal(prev.PayloadHash, hash) {
				rec.Result = prev.Result
				rec.Result.Seq = op.Seq
				rec.Result.Replayed = false
				replayed = true
			} else {
				rec.Result = Result{Status: StatusRejected, Code: CodeOpConflict,
					Message: fmt.Sprintf("op_id %s was already used for another operation (device %s, seq %d)", op.OpID, prev.DeviceID, prev.Seq)}
			}
		} else {
			rec.Canonical = true
			m.opsByID[op.OpID] = rec
			if err := m.merge(op, prepared[i].invalid, rec); err != nil {
				return nil, err
			}
		}
		rec.Result.OpID, rec.Result.Seq = op.OpID, op.Seq
		m.ops = append(m.ops, rec)
		m.dev.AckedSeq = op.Seq
		results[i] = rec.Result
		results[i].Replayed = replayed
	}
	return results, nil
}

// checkBehind refuses a push from a device restored from a backup: one that
// reports knowing a lower acked seq than the server's and sends, under a
// seq it did not know was acked, a different operation than the server
// holds there (see MergeRequest.KnownAckedSeq).
func (m *merger) checkBehind(ops []Operation, bySeq map[int64]OpRecord) error {
	if m.knownAcked == nil || *m.knownAcked >= m.dev.AckedSeq {
		return nil
	}
	for _, op := range ops {
		if op.Seq <= *m.knownAcked || op.Seq > m.dev.AckedSeq {
			continue
		}
		if stored, ok := bySeq[op.Seq]; ok && stored.OpID != op.OpID {
			return &Error{Code: CodeSeqBehind, AckedSeq: m.dev.AckedSeq,
				Message: fmt.Sprintf("seq %d is taken by another operation: the device knows acked seq %d but the server has acked %d (restored from a backup?); renumber pending operations after %d",
					op.Seq, *m.knownAcked, m.dev.AckedSeq, m.dev.AckedSeq)}
		}
	}
	return nil
}

// effectiveAt is when the operation happened on the floor: the device's
// clock corrected by its measured offset.
func (m *merger) effectiveAt(op Operation) time.Time {
	// An operation's time out of range (rejected by Validate) has no
	// effective time rather than one no reader could encode.
	return inJSONRange(op.OccurredAt.Add(m.dev.ClockOffset).UTC(), time.Time{}).Truncate(time.Microsecond)
}

// replay answers an operation at or below the acked seq from the op log.
func (m *merger) replay(op Operation, bySeq map[int64]OpRecord, payload, hash []byte) (Result, error) {
	stored, ok := bySeq[op.Seq]
	if !ok {
		return Result{}, fmt.Errorf("op log of device %s has no entry for acked seq %d", m.dev.ID, op.Seq)
	}
	if stored.OpID == op.OpID && bytes.Equal(stored.PayloadHash, hash) {
		res := stored.Result
		res.Replayed = true
		return res, nil
	}
	msg := fmt.Sprintf("seq %d was already used for operation %s", op.Seq, stored.OpID)
	if stored.OpID == op.OpID {
		msg = fmt.Sprintf("operation %s was already received with another payload", op.OpID)
	}
	res := Result{OpID: op.OpID, Seq: op.Seq, Status: StatusRejected, Code: CodeOpConflict, Message: msg}
	m.conflicts = append(m.conflicts, OpConflict{TenantID: m.tenantID(), ID: uuid.Must(uuid.NewV7()), DeviceID: m.dev.ID,
		Seq: op.Seq, OpID: op.OpID, Payload: payload, PayloadHash: hash, ReceivedAt: m.now, Result: res})
	return res, nil
}

// preload reads, in bulk, the balances, counts, orders and open reviews the
// new operations will need; anything missed is loaded lazily.
func (m *merger) preload(ops []Operation) error {
	// Batches: scanned ones, and the codes receives will generate.
	refs := make([]BatchRef, 0, len(ops))
	codes := make([]string, len(ops))
	for i, op := range ops {
		it := m.lookupItem(op)
		switch {
		case it == nil || !it.BatchTracked:
		case op.Batch != "":
			codes[i] = op.Batch
		case op.Kind == KindReceive:
			codes[i] = GeneratedBatchCode(m.dev.BatchPrefix, op.OpID, op.OccurredAt)
		}
		if codes[i] != "" {
			refs = append(refs, BatchRef{it.ID, codes[i]})
		}
	}
	if err := m.loadBatches(refs); err != nil {
		return err
	}
	var keys []Key
	var orders []string
	var near []keyTime
	var windows []KeyWindow // what each count will ask of its key
	u := m.tenant.Settings.ClockUncertainty
	for i, op := range ops {
		it := m.lookupItem(op)
		if it == nil {
			continue
		}
		batchID, fresh := NoBatch, false
		if codes[i] != "" {
			batchID, fresh = m.batchIDFor(BatchRef{it.ID, codes[i]})
		}
		for _, code := range []string{op.Location, op.ToLocation} {
			l := m.locsByCode[locRef{m.dev.WarehouseID, code}]
			if code == "" || l == nil {
				continue
			}
			k := Key{l.ID, it.ID, batchID}
			at := m.effectiveAt(op)
			var kw KeyWindow
			if op.Kind == KindCount && code == op.Location {
				kw = KeyWindow{Key: k, At: at}
				kw.From, kw.To = countWindow(at, u)
			}
			if fresh {
				// A batch that does not exist yet has nothing stored.
				m.balances[k], m.counts[k], m.reviewsByKey[k] = 0, []*CountRecord{}, true
				if !kw.At.IsZero() {
					m.absorbWindows([]KeyWindow{kw}, []KeyWindowState{{}})
				}
				continue
			}
			keys = append(keys, k)
			near = append(near, keyTime{k, at})
			if !kw.At.IsZero() {
				windows = append(windows, kw)
			}
		}
		if op.Order != "" {
			orders = append(orders, op.Order)
		}
	}
	if m.known != nil {
		m.known.fill(m.work, keys, orders)
	}
	if err := m.preloadState(keys, orders, windows); err != nil {
		return err
	}
	return m.preloadCountReviews(near)
}

// keyTime is a key and the effective time of a movement on it.
type keyTime struct {
	Key
	at time.Time
}

// preloadCountReviews loads, in one query, the open reviews of the counts
// the movements may reach: on each key, the first count at or after a
// movement (which absorbs a late one) and those within the clock
// uncertainty of it (which it makes ambiguous). Without it each such count
// costs a query of its own; whatever this misses is still looked up then.
func (m *merger) preloadCountReviews(near []keyTime) error {
	u := m.tenant.Settings.ClockUncertainty
	var opIDs []uuid.UUID
	seen := map[uuid.UUID]bool{}
	add := func(c *CountRecord) {
		if !seen[c.OpID] {
			seen[c.OpID] = true
			opIDs = append(opIDs, c.OpID)
		}
	}
	for _, kt := range near {
		counts := m.counts[kt.Key] // in effective-time order
		first := sort.Search(len(counts), func(i int) bool { return !counts[i].EffectiveAt.Before(kt.at.Add(-u)) })
		var target time.Time // of the first count at or after the movement
		for _, c := range counts[first:] {
			if c.EffectiveAt.Before(kt.at.Add(u)) {
				if target.IsZero() && !c.EffectiveAt.Before(kt.at) {
					target = c.EffectiveAt
				}
				add(c)
				continue
			}
			if target.IsZero() {
				target = c.EffectiveAt
			}
			if !c.EffectiveAt.Equal(target) {
				break
			}
			add(c)
		}
	}
	return m.preloadOpReviews(opIDs)
}

// preloadState reads the balances, counts and open reviews on the keys, the
// lines of the orders and what the counts will ask (KeyWindows): five
// queries at once, each on a read snapshot of its own, so that they use
// the database's cores (and the server's) in parallel instead of one after
// another on the transaction's connection.
//
// A snapshot taken now holds exactly what the transaction would read: the
// tenant's ledger lock is held, so no other writer can commit ledger rows
// of the tenant until this one does, and the transaction has written
// nothing yet (writes wait for flush).
func (m *merger) preloadState(keys []Key, orders []string, windows []KeyWindow) error {
	var (
		tid          = m.tenantID()
		balanceKeys  = m.missingBalances(keys)
		countKeys    = m.missingCounts(keys)
		lineOrders   = m.missingOrders(orders)
		rvKeys, rvOr = m.missingReviews(keys, orders)

		balances map[Key]int64
		counts   []CountRecord
		lines    []OrderLine
		reviews  []Review
		states   []KeyWindowState
	)
	g, ctx := errgroup.WithContext(m.ctx)
	read := func(need bool, fn func(ReadTx) error) {
		if need {
			g.Go(func() error { return m.store.Read(ctx, fn) })
		}
	}
	read(len(balanceKeys) > 0, func(tx ReadTx) (err error) {
		balances, err = tx.Balances(ctx, tid, balanceKeys)
		return err
	})
	read(len(countKeys) > 0, func(tx ReadTx) (err error) {
		counts, err = tx.CountsOnKeys(ctx, tid, countKeys)
		return err
	})
	read(len(lineOrders) > 0, func(tx ReadTx) (err error) {
		lines, err = tx.OrderLines(ctx, tid, lineOrders)
		return err
	})
	read(len(rvKeys) > 0 || len(rvOr) > 0, func(tx ReadTx) (err error) {
		reviews, err = tx.OpenReviews(ctx, tid, rvKeys, rvOr)
		return err
	})
	read(len(windows) > 0, func(tx ReadTx) (err error) {
		states, err = tx.KeyWindows(ctx, tid, windows)
		return err
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("preload ledger state: %w", err)
	}
	if len(states) != len(windows) {
		return fmt.Errorf("preload ledger state: %d key windows asked, %d answered", len(windows), len(states))
	}
	m.absorbWindows(windows, states)
	m.absorbBalances(balanceKeys, balances)
	m.absorbCounts(countKeys, counts)
	m.absorbOrders(lineOrders, lines)
	m.absorbReviews(reviews)
	return nil
}

// merge validates one new operation against the catalog and applies it,
// filling rec's result. invalid is what op.Validate returned.
func (m *merger) merge(op Operation, invalid error, rec *OpRecord) error {
	if err := invalid; err != nil {
		rec.Result = Result{Status: StatusRejected, Code: ErrorCode(err), Message: ErrorMessage(err)}
		return nil
	}
	// Nothing happens on the floor after now: an effective time beyond the
	// clock uncertainty means the device's clock was wrong when it
	// recorded (it jumped back since, so the offset measured at this push
	// no longer fits). The movement still happened: it posts at the
	// receive time, the best time known, and the result says so. Posted at
	// its own time it would sort after every later movement and absorb
	// them into a future count.
	var clamped string
	if limit := m.now.Add(maxFuture(m.tenant.Settings)); rec.EffectiveAt.After(limit) {
		clamped = fmt.Sprintf("occurred_at %s is after the server's time %s with this device's clock offset; posted at the time it was received",
			rec.EffectiveAt.Format(time.RFC3339), m.now.Format(time.RFC3339))
		rec.EffectiveAt = m.now
	}
	defer func() {
		// The note stays when a review's message is there too: the device
		// must learn that its time was moved whatever else happened.
		if clamped == "" || rec.Result.Status == StatusRejected {
			return
		}
		if rec.Result.Message == "" {
			rec.Result.Message = clamped
		} else {
			rec.Result.Message += "; " + clamped
		}
	}()
	oc := &opCtx{op: op, rec: rec, deviceID: m.dev.ID, batchPrefix: m.dev.BatchPrefix, eff: rec.EffectiveAt}
	rec.Result.Status = StatusApplied

	// References the catalog lacks hold the operation: it cannot touch a
	// balance until a person maps them.
	var unknown []Reference
	if op.SKU != "" {
		oc.item = m.itemsBySKU[op.SKU]
		if oc.item == nil {
			unknown = append(unknown, Reference{"sku", op.SKU})
		}
	}
	if op.Barcode != "" {
		byBarcode := m.itemsByBarcode[op.Barcode]
		switch {
		case oc.item == nil && op.SKU == "" && byBarcode == nil:
			unknown = append(unknown, Reference{"barcode", op.Barcode})
		case oc.item == nil && op.SKU == "":
			oc.item = byBarcode
		case oc.item != nil && byBarcode != nil && byBarcode.ID != oc.item.ID:
			rec.Result = Result{Status: StatusRejected, Code: CodeBarcodeMismatch,
				Message: fmt.Sprintf("barcode %s belongs to %s, not %s", op.Barcode, byBarcode.SKU, op.SKU)}
			return nil
		}
	}
	oc.loc = m.locsByCode[locRef{m.dev.WarehouseID, op.Location}]
	if oc.loc == nil {
		unknown = append(unknown, Reference{"location", op.Location})
	}
	if op.ToLocation != "" {
		oc.toLoc = m.locsByCode[locRef{m.dev.WarehouseID, op.ToLocation}]
		if oc.toLoc == nil {
			unknown = append(unknown, Reference{"to_location", op.ToLocation})
		}
	}
	if oc.item != nil {
		if err := m.checkItem(oc); err != nil {
			rec.Result = Result{Status: StatusRejected, Code: ErrorCode(err), Message: ErrorMessage(err)}
			return nil
		}
	}
	if len(unknown) > 0 {
		k := Key{BatchID: NoBatch}
		if oc.item != nil {
			k.ItemID = oc.item.ID
		}
		if oc.loc != nil {
			k.LocationID = oc.loc.ID
		}
		ev := Evidence{Unknown: unknown, Qty: op.Qty}
		var sugg []Suggestion
		for _, u := range unknown {
			switch u.Field {
			case "location", "to_location":
				sugg = append(sugg, Suggestion{Action: ActionMapReference, Location: u.Value,
					Label: fmt.Sprintf("create location %s in this warehouse", u.Value)})
			}
		}
		r := m.openReview(ReviewUnknownReference, op.OpID, m.dev.ID, k, op.Order, ev, sugg)
		oc.hold(r, fmt.Sprintf("unknown %s %q: held until a manager maps it", unknown[0].Field, unknown[0].Value))
		return nil
	}
	rec.Posted = true
	if err := m.apply(oc); err != nil {
		return err
	}
	if rec.Result.Status == StatusHeld {
		rec.Posted = false
	}
	return nil
}

// maxFuture is how far after the server's clock an effective time may be:
// the tenant's clock uncertainty, and at least a minute for network delay.
func maxFuture(s Settings) time.Duration {
	return max(s.ClockUncertainty, time.Minute)
}

// checkItem validates what depends on the item: batch and expiry rules.
func (w *work) checkItem(oc *opCtx) error {
	op, it := oc.op, oc.item
	if !it.BatchTracked {
		if op.Batch != "" {
			return Errorf(CodeBatchNotTracked, "%s is not batch-tracked; scan it without a batch", it.SKU)
		}
		if op.Expiry != "" {
			return Errorf(CodeUnexpectedField, "%s is not batch-tracked, so it has no expiry", it.SKU)
		}
		return nil
	}
	if op.Batch == "" {
		switch {
		case op.Kind == KindReceive:
			// A batch code is generated below.
		case op.Kind == KindReturn && op.Order != "":
			// Matched against the order's shipments.
		default:
			return Errorf(CodeBatchRequired, "%s is batch-tracked; scan the batch", it.SKU)
		}
	}
	if op.Kind == KindReceive && op.Batch != "" && op.Expiry != "" {
		// A lot has one expiry: a receipt that says otherwise is a wrong
		// label or a wrong lot, and a person must look before it posts.
		if b := w.batchesByRef[BatchRef{it.ID, op.Batch}]; b != nil && !b.Expiry.IsZero() && FormatDate(b.Expiry) != op.Expiry {
			return Errorf(CodeExpiryConflict, "batch %s of %s expires %s, the receipt says %s", op.Batch, it.SKU, FormatDate(b.Expiry), op.Expiry)
		}
	}
	if op.Kind == KindReceive && it.ExpiryTracked && op.Expiry == "" {
		b := w.batchesByRef[BatchRef{it.ID, op.Batch}]
		if op.Batch == "" || b == nil || b.Expiry.IsZero() {
			return Errorf(CodeExpiryRequired, "%s is expiry-tracked; scan or enter the expiry date", it.SKU)
		}
	}
	return nil
}
