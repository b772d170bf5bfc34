package sim

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"

	"stocksync/client"
	"stocksync/ledger"
	"stocksync/syncproto"
)

// check verifies the invariants after the drain and builds the report.
func (r *run) check(ctx context.Context) (Report, error) {
	rep := Report{Seed: r.cfg.Seed, Workload: "simple", Devices: len(r.devices), ByStatus: map[string]int{}, Faults: r.faults}
	if r.full {
		rep.Workload = "full"
	}
	for _, t := range r.tenants {
		if err := r.checkTenant(ctx, t, &rep); err != nil {
			return rep, err
		}
	}
	rep.Fingerprint = append(rep.Fingerprint, "faults "+r.faults.String())
	return rep, nil
}

func (r *run) checkTenant(ctx context.Context, t *tenant, rep *Report) error {
	fp := func(format string, args ...any) {
		rep.Fingerprint = append(rep.Fingerprint, fmt.Sprintf("t%d ", t.idx)+fmt.Sprintf(format, args...))
	}
	log, err := r.l.OpLog(ctx, t.id, ledger.OpLogFilter{})
	if err != nil {
		return err
	}
	restored := map[uuid.UUID]bool{}
	for _, d := range t.devices {
		restored[d.id] = d.restores > 0
	}
	canonical := map[uuid.UUID][]ledger.OpLogEntry{}
	// renumbered are the non-canonical entries, by device and seq: a
	// device restored from a backup renumbered operations the server
	// already had, which replay under their new seq.
	type devSeq struct {
		dev uuid.UUID
		seq int64
	}
	renumbered := map[devSeq]ledger.OpLogEntry{}
	for _, e := range log {
		switch {
		case e.Conflict:
			r.problemf("t%d: op_conflict stored for op %s seq %d: %s", t.idx, e.OpID, e.Seq, e.Result.Message)
		case !e.Canonical && !restored[e.DeviceID]:
			r.problemf("t%d: non-canonical op log entry for op %s seq %d of device %s, which was never restored", t.idx, e.OpID, e.Seq, e.DeviceID)
		case !e.Canonical:
			renumbered[devSeq{e.DeviceID, e.Seq}] = e
		default:
			canonical[e.OpID] = append(canonical[e.OpID], e)
		}
	}
	if len(renumbered) > 0 {
		r.faults[EventRenumberedReplay] += len(renumbered)
	}
	for _, es := range canonical {
		for _, e := range es {
			if strings.Contains(e.Result.Message, "posted at the time it was received") {
				r.faults[EventPostedAtReceive]++
			}
		}
	}
	for _, e := range renumbered {
		if es := canonical[e.OpID]; len(es) != 1 || es[0].DeviceID != e.DeviceID || e.Result.Status == ledger.StatusRejected {
			r.problemf("t%d: renumbered entry op %s seq %d (%s/%s) replays %d canonical entries of its device, want 1 and not rejected", t.idx, e.OpID, e.Seq, e.Result.Status, e.Result.Code, len(es))
		}
	}
	// A manager mapping an unknown location to itself creates it: the
	// devices then pull one more location than the catalog had.
	reviews, err := r.l.Reviews(ctx, t.id, ledger.ReviewFilter{})
	if err != nil {
		return err
	}
	locations := map[string]bool{}
	for _, l := range t.cat.locations {
		locations[l] = true
	}
	// An unknown reference a manager mapped is known from then on: a
	// later operation naming it posts.
	mappedLoc, mappedSKU := map[string]bool{}, map[string]bool{}
	for _, x := range reviews {
		if res := x.Resolution; res != nil && res.Action == ledger.ActionMapReference {
			if res.Location != "" {
				locations[res.Location] = true
			}
			for _, u := range x.Evidence.Unknown {
				switch u.Field {
				case "location":
					mappedLoc[u.Value] = res.Location != ""
				case "sku", "barcode":
					mappedSKU[u.Value] = res.SKU != ""
				}
			}
		}
	}
	// remapped are unknown-reference operations that posted because their
	// reference was mapped before they arrived: the model cannot place
	// their movements, which may land on the mapped key.
	remapped := map[uuid.UUID]bool{}
	mine := map[uuid.UUID]bool{}
	status := map[uuid.UUID]ledger.Result{}
	// modelStatus checks an operation's stored result against the model.
	modelStatus := func(d *device, rec recorded, e ledger.OpLogEntry) {
		switch st := e.Result.Status; {
		case rec.unknown && (st == ledger.StatusApplied || st == ledger.StatusFlagged) &&
			(mappedLoc[rec.in.Location] || mappedSKU[rec.sku]):
			remapped[rec.opID] = true
		case rec.unknown:
			if st != ledger.StatusHeld || e.Result.Code != "unknown_reference" {
				r.problemf("%s: op %s names an unknown reference: got %s/%s, want held/unknown_reference", d.name, rec.opID, st, e.Result.Code)
			}
		case st == ledger.StatusHeld && e.Result.Code == "unknown_order" && rec.in.Kind == syncproto.KindReturn:
			// Returned before the shipment reached the server.
		case st != ledger.StatusApplied && st != ledger.StatusFlagged:
			r.problemf("%s: op %s (%+v): got %s/%s %q, want applied or flagged", d.name, rec.opID, rec.in, st, e.Result.Code, e.Result.Message)
		}
	}
	for _, d := range t.devices {
		// Operations a restore took off the device: on the server at most
		// once, or never sent.
		for i, rec := range d.lost {
			mine[rec.opID] = true
			es := canonical[rec.opID]
			switch len(es) {
			case 0:
				fp("lost d%d#%d %s never reached the server", d.idx, i, rec.in.Kind)
				continue
			case 1:
			default:
				r.problemf("%s: op %s, lost by a restore, is in the op log %d times, want at most once", d.name, rec.opID, len(es))
				continue
			}
			e := es[0]
			r.faults[EventLostOnServer]++
			status[rec.opID] = e.Result
			if e.DeviceID != d.id {
				r.problemf("%s: op %s, lost by a restore, is logged for device %s", d.name, rec.opID, e.DeviceID)
			}
			modelStatus(d, rec, e)
			rep.Recorded++
			rep.ByStatus[string(e.Result.Status)]++
			fp("lost d%d#%d seq=%d %s %s %s %s", d.idx, i, e.Seq, rec.in.Kind, e.Result.Status, e.Result.Code, e.Result.Batch)
		}
	}
	for _, d := range t.devices {
		views, err := d.c.Ops(ctx, client.OpsFilter{})
		if err != nil {
			return err
		}
		if len(views) != len(d.recorded) {
			r.problemf("%s: holds %d operations, Record acknowledged %d", d.name, len(views), len(d.recorded))
			continue
		}
		d.views = views
		var ops []syncproto.Op
		for i, v := range views {
			rec := d.recorded[i]
			ops = append(ops, v.Op)
			mine[rec.opID] = true
			if v.Op.OpID != rec.opID {
				r.problemf("%s: operation %d is %s, Record returned %s", d.name, i+1, v.Op.OpID, rec.opID)
				continue
			}
			if v.Pending {
				r.problemf("%s: op %s (seq %d) still pending after the drain", d.name, rec.opID, v.Op.Seq)
			}
			es := canonical[rec.opID]
			if len(es) != 1 {
				r.problemf("%s: op %s (seq %d, %s) is in the op log %d times, want once", d.name, rec.opID, v.Op.Seq, rec.in.Kind, len(es))
				continue
			}
			e := es[0]
			status[rec.opID] = e.Result
			if e.DeviceID != d.id {
				r.problemf("%s: op %s logged for device %s", d.name, rec.opID, e.DeviceID)
			} else if e.Seq != v.Op.Seq {
				// Renumbered after a restore: the seq the device holds
				// must be a replay of the canonical entry.
				if x, ok := renumbered[devSeq{d.id, v.Op.Seq}]; !ok || x.OpID != rec.opID {
					r.problemf("%s: op %s logged as seq %d, the device holds it as seq %d, and no renumbered entry replays it there", d.name, rec.opID, e.Seq, v.Op.Seq)
				}
			}
			if string(v.Status) != string(e.Result.Status) || string(v.Code) != string(e.Result.Code) || !slices.Equal(v.ReviewIDs, e.Result.ReviewIDs) {
				r.problemf("%s: op %s: device stored %s/%s %v, server stored %s/%s %v", d.name, rec.opID, v.Status, v.Code, v.ReviewIDs, e.Result.Status, e.Result.Code, e.Result.ReviewIDs)
			}
			for _, id := range e.Result.ReviewIDs {
				if _, err := r.l.Review(ctx, t.id, id); err != nil {
					r.problemf("%s: op %s names review %s, not found in its tenant: %v", d.name, rec.opID, id, err)
				}
			}
			modelStatus(d, rec, e)
			rep.Recorded++
			rep.ByStatus[string(e.Result.Status)]++
			fp("op d%d#%d seq=%d %s %s %s %s", d.idx, i, e.Seq, rec.in.Kind, e.Result.Status, e.Result.Code, e.Result.Batch)
		}
		if st, err := d.c.Status(ctx); err != nil {
			return err
		} else if st.Pending != 0 {
			r.problemf("%s: outbox holds %d operations after the drain (last error %q)", d.name, st.Pending, st.LastError)
		} else if st.Items != len(t.cat.items) || st.Locations != len(locations) {
			r.problemf("%s: pulled %d items and %d locations, its tenant has %d and %d", d.name, st.Items, st.Locations, len(t.cat.items), len(locations))
		}
		d.pushed = ops
	}
	for id, es := range canonical {
		if !mine[id] {
			r.problemf("t%d: op log holds op %s (device %s) that no device of the tenant recorded", t.idx, id, es[0].DeviceID)
		}
	}

	discrepancies, err := r.l.Check(ctx, t.id)
	if err != nil {
		return err
	}
	for _, x := range discrepancies {
		r.problemf("t%d: check: %s %s want %d got %d: %s", t.idx, x.Kind, x.OpID, x.Want, x.Got, x.Message)
	}

	// Pushing everything again changes nothing and answers the same.
	before, err := r.rowCounts(ctx, t.id)
	if err != nil {
		return err
	}
	for _, d := range t.devices {
		// A push carries contiguous seqs; a restored device has gaps
		// where the operations it lost were.
		var resp syncproto.PushResponse
		sent := 0
		for run := range contiguous(d.pushed) {
			sent += len(run)
			part, err := r.push(ctx, d, run)
			if err != nil {
				r.problemf("%s: %v", d.name, err)
				continue
			}
			resp.Results = append(resp.Results, part.Results...)
		}
		// Every operation pushed again must come back with a result: a
		// replay that answered nothing would otherwise pass.
		if len(resp.Results) != sent {
			r.problemf("%s: pushed %d operations again, got %d results", d.name, sent, len(resp.Results))
		}
		for _, got := range resp.Results {
			want, ok := status[got.OpID]
			if !ok {
				continue
			}
			if !got.Replayed || string(got.Status) != string(want.Status) || string(got.Code) != string(want.Code) ||
				got.Message != want.Message || got.Batch != want.Batch || !slices.Equal(got.ReviewIDs, want.ReviewIDs) ||
				!slices.Equal(syncAllocs(got.Allocations), syncAllocs(want.Allocations)) {
				r.problemf("%s: pushed again, op %s answered %+v, stored %+v", d.name, got.OpID, got, want)
			}
		}
	}
	after, err := r.rowCounts(ctx, t.id)
	if err != nil {
		return err
	}
	if after != before {
		r.problemf("t%d: pushing every operation again changed the row counts (op log, movements, reviews) from %v to %v", t.idx, before, after)
	}

	// Balances: the model, the devices' stock, the fingerprint.
	rows, err := r.l.Balances(ctx, t.id, ledger.BalanceFilter{})
	if err != nil {
		return err
	}
	got := map[modelKey]int64{}
	byKey := map[ledger.Key]modelKey{}
	for _, b := range rows {
		byKey[b.Key] = modelKey{b.Location, b.SKU, b.Batch}
		if b.Warehouse != "MAIN" {
			r.problemf("t%d: balance in unknown warehouse %q", t.idx, b.Warehouse)
		}
		got[modelKey{b.Location, b.SKU, b.Batch}] += b.OnHand
	}
	for _, k := range slices.SortedFunc(maps.Keys(got), func(a, b modelKey) int { return cmpKey(a, b) }) {
		if got[k] != 0 {
			fp("balance %s=%d", k, got[k])
		}
	}
	if !r.full {
		var all []recorded
		for _, d := range t.devices {
			all = append(all, d.recorded...)
			all = append(all, d.lost...)
		}
		want := modelBalances(all, func(o recorded) bool {
			st := status[o.opID].Status
			return !remapped[o.opID] && (st == ledger.StatusApplied || st == ledger.StatusFlagged)
		})
		for k := range maps.Keys(want) {
			if _, ok := got[k]; !ok {
				got[k] = 0
			}
		}
		// A manager's decision posts correcting movements the model does
		// not predict: the keys they touched are left out of the exact
		// check (the cross-store comparison still covers them).
		touched, err := r.resolvedKeys(ctx, t, byKey, remapped)
		if err != nil {
			return err
		}
		for _, k := range slices.SortedFunc(maps.Keys(got), func(a, b modelKey) int { return cmpKey(a, b) }) {
			if touched[k] {
				continue
			}
			if got[k] != want[k] {
				r.problemf("t%d: balance %s is %d, the model says %d", t.idx, k, got[k], want[k])
			}
		}
	}
	for _, d := range t.devices {
		stock, err := d.c.Stock(ctx, client.StockFilter{})
		if err != nil {
			return err
		}
		seen := map[modelKey]int64{}
		for _, s := range stock {
			if s.Stock != 0 || s.Pending != 0 {
				seen[modelKey{s.Location, s.SKU, s.Batch}] = s.Stock
			}
		}
		for k, n := range got {
			if n != seen[k] {
				r.problemf("%s: shows %d on %s, the server has %d", d.name, seen[k], k, n)
			}
		}
		for k, n := range seen {
			if _, ok := got[k]; !ok && n != 0 {
				r.problemf("%s: shows %d on %s, which is not a balance of its tenant", d.name, n, k)
			}
		}
	}

	var rv []string
	for _, x := range reviews {
		if x.TenantID != t.id {
			r.problemf("t%d: review %s of tenant %s", t.idx, x.ID, x.TenantID)
		}
		line := fmt.Sprintf("review %s %s|%s|%s %s", x.Kind, x.Evidence.Location, x.Evidence.SKU, x.Evidence.Batch, x.Status)
		if res := x.Resolution; res != nil {
			line += fmt.Sprintf(" %s by=%s batch=%s qty=%d sku=%s loc=%s moves=%d", res.Action, res.By, res.Batch, res.Qty, res.SKU, res.Location, len(res.Positions))
		}
		rv = append(rv, line)
		r.checkDecisionDelivered(t, x)
	}
	for _, s := range sortedStrings(rv) {
		fp("%s", s)
	}
	return nil
}

func cmpKey(a, b modelKey) int {
	if c := cmp.Compare(a.loc, b.loc); c != 0 {
		return c
	}
	if c := cmp.Compare(a.sku, b.sku); c != 0 {
		return c
	}
	return cmp.Compare(a.batch, b.batch)
}

// rowCounts counts a tenant's op log entries, movements and reviews.
func (r *run) rowCounts(ctx context.Context, tenantID uuid.UUID) ([3]int, error) {
	log, err := r.l.OpLog(ctx, tenantID, ledger.OpLogFilter{})
	if err != nil {
		return [3]int{}, err
	}
	mv, err := r.l.Movements(ctx, tenantID, ledger.MovementFilter{})
	if err != nil {
		return [3]int{}, err
	}
	rv, err := r.l.Reviews(ctx, tenantID, ledger.ReviewFilter{})
	if err != nil {
		return [3]int{}, err
	}
	return [3]int{len(log), len(mv), len(rv)}, nil
}

// resolvedKeys are the balance keys that movements posted by a review
// resolution, or by an operation in remapped, touched.
func (r *run) resolvedKeys(ctx context.Context, t *tenant, byKey map[ledger.Key]modelKey, remapped map[uuid.UUID]bool) (map[modelKey]bool, error) {
	out := map[modelKey]bool{}
	if len(r.decided) == 0 && len(remapped) == 0 {
		return out, nil
	}
	mv, err := r.l.Movements(ctx, t.id, ledger.MovementFilter{})
	if err != nil {
		return nil, err
	}
	for _, m := range mv {
		if m.ReviewID == uuid.Nil && !remapped[m.OpID] {
			continue
		}
		k, ok := byKey[m.Key]
		if !ok {
			r.problemf("t%d: resolution movement at position %d on a key with no balance row", t.idx, m.Position)
			continue
		}
		out[k] = true
	}
	return out, nil
}

// checkDecisionDelivered checks that every device holding an operation of
// the review shows the review, in its current state, among that
// operation's decisions after the final pull.
func (r *run) checkDecisionDelivered(t *tenant, x ledger.Review) {
	for _, d := range t.devices {
		for _, v := range d.views {
			if !slices.ContainsFunc(x.Ops, func(o ledger.ReviewOp) bool { return o.OpID == v.Op.OpID && o.DeviceID == d.id }) {
				continue
			}
			i := slices.IndexFunc(v.Decisions, func(dc syncproto.Decision) bool { return dc.ReviewID == x.ID })
			if i < 0 {
				r.problemf("%s: op %s is in review %s (%s, %s) but the device shows no decision for it", d.name, v.Op.OpID, x.ID, x.Kind, x.Status)
				continue
			}
			dc := v.Decisions[i]
			action := ""
			if x.Resolution != nil {
				action = string(x.Resolution.Action)
			}
			if dc.Status != string(x.Status) || dc.Action != action {
				r.problemf("%s: op %s shows review %s as %s/%s, the server has %s/%s", d.name, v.Op.OpID, x.ID, dc.Status, dc.Action, x.Status, action)
			}
		}
	}
}

// contiguous yields ops in runs of contiguous seqs.
func contiguous(ops []syncproto.Op) iter.Seq[[]syncproto.Op] {
	return func(yield func([]syncproto.Op) bool) {
		start := 0
		for i := 1; i <= len(ops); i++ {
			if i == len(ops) || ops[i].Seq != ops[i-1].Seq+1 {
				if !yield(ops[start:i]) {
					return
				}
				start = i
			}
		}
	}
}

// syncAllocs renders allocations for comparison, whatever their type.
func syncAllocs[A any](as []A) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%+v", a)
	}
	return out
}
