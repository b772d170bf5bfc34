package server

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"stocksync/ledger"
)

// auditRow is one decision of the audit trail.
type auditRow struct {
	reviewRow
	Res       ledger.ResolutionRecord
	SettledBy *opView
}

type auditData struct {
	Period  string
	Periods []option
	By      string
	People  []string
	Action  string
	Actions []ledger.Action
	Rows    []auditRow
	// Total is how many decisions the filters select; Rows holds the
	// newest auditShowMax of them.
	Total int
}

var auditPeriods = []option{{"7", "last 7 days"}, {"30", "last 30 days"}, {"90", "last 90 days"}, {"365", "last year"}, {"all", "all time"}}

// auditActions are the actions a decision can record, as the action
// filter offers them.
var auditActions = []ledger.Action{ledger.ActionAccept, ledger.ActionReassignBatch, ledger.ActionReverse, ledger.ActionAdjust,
	ledger.ActionMapReference, ledger.ActionSettled}

// auditTrail is GET /audit: the decisions on reviews, newest first. The
// ledger filters them by when, by whom and by action, orders them by
// resolution time and returns the newest auditShowMax, whatever the
// period: "all time" reads no more rows than a week.
func (cn *console) auditTrail(c *gin.Context) {
	ctx, tid, now := c.Request.Context(), tenantID(c), cn.s.now()
	d := auditData{Period: cmp.Or(c.Query("period"), "30"), By: c.Query("by"), Action: c.Query("action"), Periods: auditPeriods,
		Actions: auditActions}
	f := ledger.ReviewFilter{Status: ledger.ReviewResolved, Order: ledger.ReviewsNewestResolved, ResolvedBy: d.By,
		Action: ledger.Action(d.Action), OpeningOpOnly: true}
	if d.Period != "all" {
		days, err := strconv.Atoi(d.Period)
		if err != nil || !slices.ContainsFunc(auditPeriods, func(o option) bool { return o.Value == d.Period }) {
			notice(c, "error", fmt.Sprintf("The period %q is not one of the choices; showing the last 30 days.", d.Period))
			d.Period, days = "30", 30
		}
		f.ResolvedAfter = now.Add(-time.Duration(days) * 24 * time.Hour)
	}
	var people []string
	lk, _, _ := lookupFor(nil)
	err := cn.s.ledger.Store().Read(ctx, func(tx ledger.ReadTx) error {
		counts, err := tx.CountReviews(ctx, tid, f)
		if err != nil {
			return err
		}
		d.Total = sumCounts(counts)
		f.Limit = auditShowMax
		rs, err := tx.QueryReviews(ctx, tid, f)
		if err != nil {
			return err
		}
		_, locIDs, opIDs := lookupFor(rs)
		if err := lk.read(ctx, tx, tid, locIDs, opIDs); err != nil {
			return err
		}
		for _, r := range rs {
			row := auditRow{reviewRow: cn.reviewRow(r, lk, now), Res: *r.Resolution}
			if id := r.Resolution.SettledBy; id != uuid.Nil {
				v := cn.opView(id, lk.ops[id].DeviceID, lk, false)
				row.SettledBy = &v
			}
			d.Rows = append(d.Rows, row)
		}
		// Who may have decided, without reading every decision: the
		// tenant's users as the console records them, its API keys (by
		// name, as the API records them) and the ledger itself.
		us, err := tx.Users(ctx, tid)
		if err != nil {
			return err
		}
		for _, u := range us {
			people = append(people, decidedBy(u))
		}
		ks, err := tx.APIKeys(ctx, tid)
		if err != nil {
			return err
		}
		for _, k := range ks {
			people = append(people, k.Name)
		}
		return nil
	})
	if err != nil {
		cn.fail(c, err)
		return
	}
	// And whoever decided the rows shown, and the one the filter names:
	// a user since renamed is recorded under the old name.
	people = append(people, ledger.ResolvedByLedger)
	for _, r := range d.Rows {
		people = append(people, r.Res.By)
	}
	if d.By != "" {
		people = append(people, d.By)
	}
	sort.Strings(people)
	d.People = slices.Compact(people)
	if d.Action != "" && !slices.Contains(d.Actions, ledger.Action(d.Action)) {
		d.Actions = append(d.Actions, ledger.Action(d.Action))
	}
	cn.render(c, http.StatusOK, "audit", "Audit trail", "audit", d)
}
