package sim

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

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
	canonical := map[uuid.UUID][]ledger.OpLogEntry{}
	for _, e := range log {
		switch {
		case e.Conflict:
			r.problemf("t%d: op_conflict stored for op %s seq %d: %s", t.idx, e.OpID, e.Seq, e.Result.Message)
		case !e.Canonical:
			r.problemf("t%d: non-canonical op log entry for op %s seq %d (no device was restored, so none may exist)", t.idx, e.OpID, e.Seq)
		default:
			canonical[e.OpID] = append(canonical[e.OpID], e)
		}
	}
	mine := map[uuid.UUID]bool{}
	status := map[uuid.UUID]ledger.Result{}
	for _, d := range t.devices {
		views, err := d.c.Ops(ctx, client.OpsFilter{})
		if err != nil {
			return err
		}
		if len(views) != len(d.recorded) {
			r.problemf("%s: holds %d operations, Record acknowledged %d", d.name, len(views), len(d.recorded))
			continue
		}
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
			if e.DeviceID != d.id || e.Seq != v.Op.Seq {
				r.problemf("%s: op %s logged for device %s seq %d, recorded as seq %d", d.name, rec.opID, e.DeviceID, e.Seq, v.Op.Seq)
			}
			if string(v.Status) != string(e.Result.Status) || string(v.Code) != string(e.Result.Code) || !slices.Equal(v.ReviewIDs, e.Result.ReviewIDs) {
				r.problemf("%s: op %s: device stored %s/%s %v, server stored %s/%s %v", d.name, rec.opID, v.Status, v.Code, v.ReviewIDs, e.Result.Status, e.Result.Code, e.Result.ReviewIDs)
			}
			for _, id := range e.Result.ReviewIDs {
				if _, err := r.l.Review(ctx, t.id, id); err != nil {
					r.problemf("%s: op %s names review %s, not found in its tenant: %v", d.name, rec.opID, id, err)
				}
			}
			// The model's statuses.
			switch st := e.Result.Status; {
			case rec.unknown:
				if st != ledger.StatusHeld || e.Result.Code != "unknown_reference" {
					r.problemf("%s: op %s names an unknown reference: got %s/%s, want held/unknown_reference", d.name, rec.opID, st, e.Result.Code)
				}
			case st == ledger.StatusHeld && e.Result.Code == "unknown_order" && rec.in.Kind == syncproto.KindReturn:
				// Returned before the shipment reached the server.
			case st != ledger.StatusApplied && st != ledger.StatusFlagged:
				r.problemf("%s: op %s (%+v): got %s/%s %q, want applied or flagged", d.name, rec.opID, rec.in, st, e.Result.Code, e.Result.Message)
			}
			rep.Recorded++
			rep.ByStatus[string(e.Result.Status)]++
			fp("op d%d#%d seq=%d %s %s %s %s", d.idx, i, v.Op.Seq, rec.in.Kind, e.Result.Status, e.Result.Code, e.Result.Batch)
		}
		if st, err := d.c.Status(ctx); err != nil {
			return err
		} else if st.Pending != 0 {
			r.problemf("%s: outbox holds %d operations after the drain (last error %q)", d.name, st.Pending, st.LastError)
		} else if st.Items != len(t.cat.items) || st.Locations != len(t.cat.locations) {
			r.problemf("%s: pulled %d items and %d locations, its tenant has %d and %d", d.name, st.Items, st.Locations, len(t.cat.items), len(t.cat.locations))
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
		if len(d.pushed) == 0 {
			continue
		}
		resp, err := r.push(ctx, d, d.pushed)
		if err != nil {
			r.problemf("%s: %v", d.name, err)
			continue
		}
		for _, got := range resp.Results {
			want, ok := status[got.OpID]
			if !ok {
				continue
			}
			if !got.Replayed || string(got.Status) != string(want.Status) || string(got.Code) != string(want.Code) ||
				got.Message != want.Message || got.Batch != want.Batch || !slices.Equal(got.ReviewIDs, want.ReviewIDs) || len(got.Allocations) != len(want.Allocations) {
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
	for _, b := range rows {
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
		}
		want := modelBalances(all, func(o recorded) bool {
			st := status[o.opID].Status
			return st == ledger.StatusApplied || st == ledger.StatusFlagged
		})
		for k := range maps.Keys(want) {
			if _, ok := got[k]; !ok {
				got[k] = 0
			}
		}
		for _, k := range slices.SortedFunc(maps.Keys(got), func(a, b modelKey) int { return cmpKey(a, b) }) {
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

	reviews, err := r.l.Reviews(ctx, t.id, ledger.ReviewFilter{})
	if err != nil {
		return err
	}
	var rv []string
	for _, x := range reviews {
		if x.TenantID != t.id {
			r.problemf("t%d: review %s of tenant %s", t.idx, x.ID, x.TenantID)
		}
		rv = append(rv, fmt.Sprintf("review %s %s|%s|%s %s", x.Kind, x.Evidence.Location, x.Evidence.SKU, x.Evidence.Batch, x.Status))
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
