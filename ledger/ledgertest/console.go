package ledgertest

// The reads of the managers' console: review filters pushed into the
// store, counts by kind, the backlog's flow, bounded balances and tenants,
// and the users an admin can enable again.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// withActor sets an operation's staff badge.
func withActor(op ledger.Operation, actor string) ledger.Operation {
	op.Actor = actor
	return op
}

// reviewIDs are the IDs of reviews, in order.
func reviewIDs(rs []ledger.Review) []uuid.UUID {
	out := make([]uuid.UUID, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// testReviewFilters: every ReviewFilter field the console pushes into the
// store, the counts by kind under the same filter, and the orders.
func testReviewFilters(t *testing.T, nf Factory) {
	f := setup(t, nf)
	ctx, tid := f.ctx, f.tenant.ID
	if _, err := f.l.UpsertCatalog(ctx, tid, ledger.Catalog{
		Warehouses: []ledger.WarehouseInput{{Code: "W2", Name: "Annex"}},
		Locations:  []ledger.LocationInput{{Warehouse: "W2", Code: "C1"}},
	}); err != nil {
		t.Fatal(err)
	}
	annex, err := f.l.RegisterDevice(ctx, tid, ledger.DeviceInput{Warehouse: "W2", Name: "annex-1", BatchPrefix: "AX1"})
	if err != nil {
		t.Fatal(err)
	}
	var w1, w2 uuid.UUID
	err = f.store.Read(ctx, func(tx ledger.ReadTx) error {
		whs, err := tx.Warehouses(ctx, tid, nil)
		for _, w := range whs {
			switch w.Code {
			case "W1":
				w1 = w.ID
			case "W2":
				w2 = w.ID
			}
		}
		return err
	})
	if err != nil || w1 == uuid.Nil || w2 == uuid.Nil {
		t.Fatalf("warehouses: %v", err)
	}

	// Four open reviews, one minute apart: negative stock in each
	// warehouse, and an unknown location scanned in each (no location;
	// the warehouse is the device's). A second device's pick joins the
	// first review.
	negW1 := f.push1(f.devs[0], withActor(pick("WIDGET", "A1", 2, "", ""), "anna")).ReviewID()
	f.clock.Advance(time.Minute)
	unkW1 := f.push1(f.devs[1], withActor(receive("WIDGET", "NOWHERE", 1, "", ""), "bob")).ReviewID()
	f.clock.Advance(time.Minute)
	negW2 := f.push1(annex, withActor(pick("WIDGET", "C1", 1, "", ""), "bob")).ReviewID()
	f.clock.Advance(time.Minute)
	unkW2 := f.push1(annex, receive("WIDGET", "ELSEWHERE", 1, "", "")).ReviewID()
	f.clock.Advance(time.Minute)
	if r := f.push1(f.devs[2], withActor(pick("WIDGET", "A1", 1, "", ""), "carl")); r.ReviewID() != negW1 {
		t.Fatalf("the second pick did not join the first review: %+v", r)
	}
	for _, id := range []uuid.UUID{negW1, unkW1, negW2, unkW2} {
		if id == uuid.Nil {
			t.Fatal("an operation opened no review")
		}
	}
	opened := f.review(negW1).OpenedAt

	neg, unk := ledger.ReviewNegativeStock, ledger.ReviewUnknownReference
	open := ledger.ReviewOpen
	for _, c := range []struct {
		name   string
		f      ledger.ReviewFilter
		want   []uuid.UUID
		counts map[ledger.ReviewKind]int
	}{
		{"open", ledger.ReviewFilter{Status: open}, []uuid.UUID{negW1, unkW1, negW2, unkW2}, map[ledger.ReviewKind]int{neg: 2, unk: 2}},
		{"kind", ledger.ReviewFilter{Status: open, Kind: unk}, []uuid.UUID{unkW1, unkW2}, map[ledger.ReviewKind]int{unk: 2}},
		{"warehouse W1", ledger.ReviewFilter{WarehouseID: w1}, []uuid.UUID{negW1, unkW1}, map[ledger.ReviewKind]int{neg: 1, unk: 1}},
		{"warehouse W2", ledger.ReviewFilter{WarehouseID: w2}, []uuid.UUID{negW2, unkW2}, map[ledger.ReviewKind]int{neg: 1, unk: 1}},
		{"unknown warehouse", ledger.ReviewFilter{WarehouseID: uuid.Must(uuid.NewV7())}, nil, map[ledger.ReviewKind]int{}},
		// The actor of the opening operation only: carl joined negW1.
		{"actor anna", ledger.ReviewFilter{Actor: "anna"}, []uuid.UUID{negW1}, map[ledger.ReviewKind]int{neg: 1}},
		{"actor bob", ledger.ReviewFilter{Actor: "bob"}, []uuid.UUID{unkW1, negW2}, map[ledger.ReviewKind]int{neg: 1, unk: 1}},
		{"actor carl", ledger.ReviewFilter{Actor: "carl"}, nil, map[ledger.ReviewKind]int{}},
		{"actor, another case", ledger.ReviewFilter{Actor: "Anna"}, nil, map[ledger.ReviewKind]int{}},
		// Any operation's device.
		{"joined device", ledger.ReviewFilter{DeviceID: f.devs[2].ID}, []uuid.UUID{negW1}, map[ledger.ReviewKind]int{neg: 1}},
		{"ids", ledger.ReviewFilter{IDs: []uuid.UUID{unkW2, negW1, uuid.Must(uuid.NewV7())}}, []uuid.UUID{negW1, unkW2},
			map[ledger.ReviewKind]int{neg: 1, unk: 1}},
		{"opened before", ledger.ReviewFilter{OpenedBefore: opened.Add(2 * time.Minute)}, []uuid.UUID{negW1, unkW1},
			map[ledger.ReviewKind]int{neg: 1, unk: 1}},
		{"all together", ledger.ReviewFilter{Status: open, Kind: neg, WarehouseID: w1, Actor: "anna", DeviceID: f.devs[0].ID,
			OpenedBefore: opened.Add(time.Minute)}, []uuid.UUID{negW1}, map[ledger.ReviewKind]int{neg: 1}},
		{"none resolved", ledger.ReviewFilter{Status: ledger.ReviewResolved}, nil, map[ledger.ReviewKind]int{}},
	} {
		rs, err := f.l.Reviews(ctx, tid, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := reviewIDs(rs); !slices.Equal(got, c.want) {
			t.Errorf("%s: reviews %v, want %v", c.name, got, c.want)
		}
		n, err := f.l.CountReviews(ctx, tid, c.f)
		if err != nil {
			t.Fatalf("%s: count: %v", c.name, err)
		}
		if fmt.Sprint(n) != fmt.Sprint(c.counts) {
			t.Errorf("%s: counts %v, want %v", c.name, n, c.counts)
		}
		c.f.Limit = 1
		if rs, err := f.l.Reviews(ctx, tid, c.f); err != nil || len(rs) != min(1, len(c.want)) {
			t.Errorf("%s, limit 1: %d reviews, %v", c.name, len(rs), err)
		}
		if n2, err := f.l.CountReviews(ctx, tid, c.f); err != nil || fmt.Sprint(n2) != fmt.Sprint(n) {
			t.Errorf("%s: the count changed with a limit: %v, %v", c.name, n2, err)
		}
	}

	// OpeningOpOnly: the opener alone, whatever joined.
	if r := f.review(negW1); len(r.Ops) != 2 {
		t.Fatalf("review ops %+v, want the opener and the joined pick", r.Ops)
	}
	rs, err := f.l.Reviews(ctx, tid, ledger.ReviewFilter{IDs: []uuid.UUID{negW1}, OpeningOpOnly: true})
	if err != nil || len(rs) != 1 || len(rs[0].Ops) != 1 || rs[0].Ops[0].OpID != rs[0].OpID || rs[0].Ops[0].DeviceID != f.devs[0].ID {
		t.Errorf("opening op only: %+v, %v", rs, err)
	}

	// Resolutions: by whom, with which action, when; newest first.
	f.clock.Advance(time.Hour)
	t1 := f.clock.Now()
	f.resolve(unkW1, ledger.Resolution{Action: ledger.ActionAccept, By: "Ada Admin (ada)"})
	f.clock.Advance(time.Hour)
	t2 := f.clock.Now()
	f.resolve(negW2, ledger.Resolution{Action: ledger.ActionReverse, By: "Max (max)"})
	f.clock.Advance(time.Hour)
	// A receipt settles negW1 on its own.
	f.push1(f.devs[0], receive("WIDGET", "A1", 10, "", ""))
	t3 := f.clock.Now()
	if r := f.review(negW1); r.Resolution == nil || r.Resolution.By != "stocksync" || !r.Resolution.At.Equal(t3) {
		t.Fatalf("settled review %+v", r.Resolution)
	}
	newest := ledger.ReviewsNewestResolved
	for _, c := range []struct {
		name string
		f    ledger.ReviewFilter
		want []uuid.UUID
	}{
		{"newest first", ledger.ReviewFilter{Order: newest}, []uuid.UUID{negW1, negW2, unkW1}},
		{"newest first, limited", ledger.ReviewFilter{Order: newest, Limit: 2}, []uuid.UUID{negW1, negW2}},
		{"resolved after", ledger.ReviewFilter{Order: newest, ResolvedAfter: t2}, []uuid.UUID{negW1, negW2}},
		{"resolved before", ledger.ReviewFilter{ResolvedBefore: t2}, []uuid.UUID{unkW1}},
		{"resolved in", ledger.ReviewFilter{ResolvedAfter: t1.Add(time.Microsecond), ResolvedBefore: t3}, []uuid.UUID{negW2}},
		{"by", ledger.ReviewFilter{Order: newest, ResolvedBy: "Ada Admin (ada)"}, []uuid.UUID{unkW1}},
		{"by the ledger", ledger.ReviewFilter{ResolvedBy: "stocksync"}, []uuid.UUID{negW1}},
		{"by a name alone", ledger.ReviewFilter{ResolvedBy: "Ada Admin"}, nil},
		{"action", ledger.ReviewFilter{Action: ledger.ActionSettled}, []uuid.UUID{negW1}},
		{"action and by", ledger.ReviewFilter{Action: ledger.ActionAccept, ResolvedBy: "Max (max)"}, nil},
		{"still open, newest resolved", ledger.ReviewFilter{Status: open, Order: newest}, nil},
		{"still open", ledger.ReviewFilter{Status: open}, []uuid.UUID{unkW2}},
	} {
		rs, err := f.l.Reviews(ctx, tid, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := reviewIDs(rs); !slices.Equal(got, c.want) {
			t.Errorf("%s: reviews %v, want %v", c.name, got, c.want)
		}
		n, err := f.l.CountReviews(ctx, tid, c.f)
		total := 0
		for _, k := range n {
			total += k
		}
		if err != nil || (c.f.Limit == 0 && total != len(c.want)) {
			t.Errorf("%s: count %v, %v; want %d", c.name, n, err, len(c.want))
		}
	}
	// Reviews of another tenant are never counted.
	other, err := f.l.CreateTenant(ctx, "globex", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.l.CountReviews(ctx, other.ID, ledger.ReviewFilter{}); err != nil || len(n) != 0 {
		t.Errorf("other tenant's counts %v, %v", n, err)
	}
}

// testReviewFlow: the backlog's aggregate, on reviews written with chosen
// opening and resolution times, matches the definition in ledger.ReviewFlow.
func testReviewFlow(t *testing.T, nf Factory) {
	f := setup(t, nf)
	ctx, tid := f.ctx, f.tenant.ID
	from := Start.Add(-72 * time.Hour)
	day := 24 * time.Hour
	at := func(d, h int) time.Time { return from.Add(time.Duration(d)*day + time.Duration(h)*time.Hour) }
	var rows []ledger.Review
	add := func(opened time.Time, resolved *time.Time) {
		r := ledger.Review{TenantID: tid, ID: uuid.Must(uuid.NewV7()), Kind: ledger.ReviewNegativeStock, Severity: ledger.SeverityHigh,
			Status: ledger.ReviewOpen, OpID: uuid.Must(uuid.NewV7()), DeviceID: f.devs[0].ID, OpenedAt: opened, Changed: 1}
		if resolved != nil {
			r.Status = ledger.ReviewResolved
			r.Resolution = &ledger.ResolutionRecord{Action: ledger.ActionAccept, By: "x", At: *resolved}
		}
		rows = append(rows, r)
	}
	ptr := func(t time.Time) *time.Time { return &t }
	add(at(-3, 0), ptr(at(1, 5)))  // opened before, resolved in period 2
	add(at(-1, 0), nil)            // opened before, never resolved
	add(at(-2, 0), ptr(at(-1, 0))) // opened and resolved before: never counted
	add(at(0, 9), ptr(at(2, 0)))   // opened in period 1, resolved exactly at the end of period 2
	add(at(1, 0), nil)             // opened exactly at the end of period 1: period 1
	add(at(2, 1), ptr(at(2, 2)))   // opened and resolved in period 3
	add(at(2, 3), ptr(at(1, 0)))   // resolved "before" it was opened: counts when opened
	add(at(2, 4), ptr(at(-5, 0)))  // the same, with the resolution before the start
	add(at(-1, 6), ptr(at(0, 0)))  // resolved exactly at the start: not open then
	add(at(0, 0), nil)             // opened exactly at the start: open then
	add(at(2, 12), ptr(at(9, 0)))  // resolved after the span: open to its end
	add(at(5, 0), nil)             // opened after the span: not counted
	add(at(3, 0), ptr(at(5, 0)))   // opened exactly at the end: period 3
	if err := f.store.Write(ctx, tid, func(tx ledger.Tx) error { return tx.UpsertReviews(ctx, rows) }); err != nil {
		t.Fatal(err)
	}
	got, err := f.l.ReviewFlow(ctx, tid, from, day, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := ledger.ReviewFlow{Open: 3, Opened: []int{2, 0, 5}, Resolved: []int{0, 2, 3}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("flow %+v, want %+v", got, want)
	}
	// Periods of an hour: the review opened at 9:00 of the first day and
	// the one resolved at 5:00 of the second.
	hourly, err := f.l.ReviewFlow(ctx, tid, at(0, 8), time.Hour, 22)
	if err != nil {
		t.Fatal(err)
	}
	if hourly.Open != 3 || hourly.Opened[0] != 1 || hourly.Opened[15] != 1 || hourly.Resolved[20] != 1 || sum(hourly.Opened) != 2 || sum(hourly.Resolved) != 1 {
		t.Errorf("hourly flow %+v", hourly)
	}
	// The backlog at the end of each period follows from the flows, and
	// matches a count of the reviews open then.
	open := got.Open
	for i := range got.Opened {
		open += got.Opened[i] - got.Resolved[i]
		end := from.Add(time.Duration(i+1) * day)
		n := 0
		for _, r := range rows {
			resolved := r.Resolution != nil && !latest(r.Resolution.At, r.OpenedAt).After(end)
			if !r.OpenedAt.After(end) && !resolved {
				n++
			}
		}
		if open != n {
			t.Errorf("period %d: backlog %d from the flow, %d open by count", i, open, n)
		}
	}
	for _, bad := range []struct {
		step time.Duration
		n    int
	}{{0, 3}, {-day, 3}, {day, 0}, {day, ledger.MaxFlowPeriods + 1}} {
		_, err := f.l.ReviewFlow(ctx, tid, from, bad.step, bad.n)
		wantCode(t, err, ledger.CodeInvalid)
	}
	if other, err := f.l.ReviewFlow(ctx, uuid.Must(uuid.NewV7()), from, day, 3); err != nil || other.Open != 0 || sum(other.Opened) != 0 {
		t.Errorf("an unknown tenant's flow %+v, %v", other, err)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// testBoundedLists: BalanceFilter.Limit and the tenants' limit keep the
// first rows of their order.
func testBoundedLists(t *testing.T, nf Factory) {
	f := setup(t, nf)
	ctx, tid := f.ctx, f.tenant.ID
	f.push(f.devs[0], receive("BOLT", "A1", 10, "L1", ""), receive("BOLT", "A2", 4, "L2", ""), receive("WIDGET", "A1", 7, "", ""),
		receive("WIDGET", "B1", 1, "", ""))
	f.push(f.devs[0], pick("WIDGET", "B1", 1, "", ""))
	all, err := f.l.Balances(ctx, tid, ledger.BalanceFilter{})
	if err != nil || len(all) != 4 {
		t.Fatalf("balances %+v, %v", all, err)
	}
	for _, c := range []struct {
		f    ledger.BalanceFilter
		want int
	}{
		{ledger.BalanceFilter{Limit: 2}, 2},
		{ledger.BalanceFilter{Limit: 10}, 4},
		{ledger.BalanceFilter{NonZero: true, Limit: 3}, 3},
		{ledger.BalanceFilter{SKU: "WIDGET", Limit: 1}, 1},
		{ledger.BalanceFilter{AsOf: f.clock.Now(), Limit: 2}, 2},
		{ledger.BalanceFilter{AsOf: f.clock.Now(), NonZero: true, Limit: 5}, 3},
	} {
		rows, err := f.l.Balances(ctx, tid, c.f)
		if err != nil || len(rows) != c.want {
			t.Errorf("%+v: %d rows, %v; want %d", c.f, len(rows), err, c.want)
			continue
		}
		// The first rows of the unlimited order.
		c.f.Limit = 0
		full, _ := f.l.Balances(ctx, tid, c.f)
		for i := range rows {
			if rows[i].Key != full[i].Key {
				t.Errorf("%+v: row %d is %+v, want %+v", c.f, i, rows[i], full[i])
			}
		}
	}

	f.clock.Advance(time.Minute)
	second, err := f.l.CreateTenant(ctx, "globex", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		limit int
		want  []uuid.UUID
	}{{0, []uuid.UUID{tid, second.ID}}, {-1, []uuid.UUID{tid, second.ID}}, {1, []uuid.UUID{tid}}, {2, []uuid.UUID{tid, second.ID}}, {3, []uuid.UUID{tid, second.ID}}} {
		ts, err := f.l.TenantsUpTo(ctx, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []uuid.UUID
		for _, tn := range ts {
			got = append(got, tn.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("tenants up to %d: %v, want %v", c.limit, got, c.want)
		}
	}
}

// testEnableUser: a disabled user is enabled again with the password they
// had; enabling is idempotent and scoped to the tenant.
func testEnableUser(t *testing.T, nf Factory) {
	f := setup(t, nf)
	ctx, tid := f.ctx, f.tenant.ID
	mustUser(t, f, tid, ledger.UserInput{Login: "ada", Role: ledger.RoleAdmin, Password: "correct horse battery"})
	bob := mustUser(t, f, tid, ledger.UserInput{Login: "bob", Name: "Bob", Role: ledger.RoleStaff, Password: "correct horse battery"})
	if err := f.l.DisableUser(ctx, tid, bob.ID); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := f.l.SignIn(ctx, "acme", "bob", "correct horse battery", 0)
	wantCode(t, err, ledger.CodeUnauthorized)
	for range 2 {
		u, err := f.l.EnableUser(ctx, tid, bob.ID)
		if err != nil || !u.DisabledAt.IsZero() || u.Login != "bob" || u.Role != ledger.RoleStaff || u.Name != "Bob" {
			t.Fatalf("enabled user %+v, %v", u, err)
		}
	}
	if got, err := f.l.User(ctx, tid, bob.ID); err != nil || !got.DisabledAt.IsZero() {
		t.Fatalf("stored user %+v, %v", got, err)
	}
	mustSignIn(t, f, "acme", "bob", "correct horse battery", 0)
	_, err = f.l.EnableUser(ctx, tid, uuid.Must(uuid.NewV7()))
	wantCode(t, err, ledger.CodeNotFound)
	other, err := f.l.CreateTenant(ctx, "globex", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.l.EnableUser(ctx, other.ID, bob.ID)
	wantCode(t, err, ledger.CodeNotFound)
}

// testTamperedPasswordHash: a stored hash that asks for more memory,
// passes or lanes than a verification may spend is refused like a wrong
// password (the user cannot sign in) and logged, never computed.
func testTamperedPasswordHash(t *testing.T, nf Factory) {
	f := setup(t, nf)
	var logs bytes.Buffer
	f.l = ledger.New(f.store, ledger.Options{Now: f.clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, tid := f.ctx, f.tenant.ID
	u := mustUser(t, f, tid, ledger.UserInput{Login: "mallory", Role: ledger.RoleStaff, Password: "correct horse battery"})
	salt, key := "MDEyMzQ1Njc4OWFiY2RlZg", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
	for _, params := range []string{"m=2097152,t=2,p=1", "m=19456,t=64,p=1", "m=19456,t=2,p=255", "m=65537,t=2,p=1"} {
		hash := "$argon2id$v=19$" + params + "$" + salt + "$" + key
		err := f.store.Write(ctx, tid, func(tx ledger.Tx) error { return tx.SetUserPasswordHash(ctx, tid, u.ID, hash) })
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, err = f.l.SignIn(ctx, "acme", "mallory", "correct horse battery", 0)
		wantCode(t, err, ledger.CodeUnauthorized)
		if !strings.Contains(logs.String(), "password hash is invalid") || !strings.Contains(logs.String(), "mallory") {
			t.Errorf("%s: nothing logged:\n%s", params, logs.String())
		}
		logs.Reset()
	}
	if err := f.l.SetUserPassword(context.Background(), tid, u.ID, "a new password"); err != nil {
		t.Fatal(err)
	}
	mustSignIn(t, f, "acme", "mallory", "a new password", 0)
}
