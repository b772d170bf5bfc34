package server_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// pickShort makes the tenant's device pick stock that is not there, by
// staff member actor, and returns the negative_stock review it opens.
func (ce *consoleEnv) pickShort(location string, qty int64, actor string) uuid.UUID {
	ce.t.Helper()
	ops := ce.tn.dev.numbered(op("pick", func(o *syncproto.Op) {
		o.SKU, o.Qty, o.Location, o.Order, o.Actor = "WIDGET", qty, location, "SO-"+location, actor
	}))
	var pr syncproto.PushResponse
	ce.push(ce.tn.dev, ops).want(200).decode(&pr)
	if pr.Results[0].ReviewID == nil {
		ce.t.Fatalf("pick opened no review: %+v", pr.Results[0])
	}
	return *pr.Results[0].ReviewID
}

// review reads a review from the ledger.
func (ce *consoleEnv) review(id uuid.UUID) ledger.Review {
	ce.t.Helper()
	r, err := ce.l.Review(ce.ctx, ce.tn.ID, id)
	if err != nil {
		ce.t.Fatal(err)
	}
	return r
}

// rowIDs are the review IDs of a page's review rows.
func (p *page) rowIDs() []string {
	var out []string
	for _, n := range p.all("tr[data-review-id]") {
		v, _ := attr(n, "data-review-id")
		out = append(out, v)
	}
	return out
}

func TestConsoleReviewQueue(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		id := ce.pickShort("A1", 20, "anna")
		// A second handheld opens another kind: an unknown location.
		dev2 := ce.enroll(ce.tn.ID, "W1", "handheld 2")
		ops := dev2.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Actor = "WIDGET", 5, "ZZ-9", "bob" }))
		ce.push(dev2, ops).want(200)

		b := ce.browser()
		b.signIn("sam", consolePassword)
		p := b.get("/reviews").want(200)
		ids := p.rowIDs()
		if len(ids) != 2 || ids[0] != id.String() {
			t.Fatalf("queue rows %v, want %s first (oldest first)", ids, id)
		}
		row := p.one("tr[data-review-id=" + id.String() + "]")
		text := p.text(row)
		for _, want := range []string{"Negative stock", "high", "WIDGET", "W1 / A1", "SO-A1", "handheld 1", "anna", "accept: a receipt will sync later"} {
			if !strings.Contains(text, want) {
				t.Errorf("row %q lacks %q", text, want)
			}
		}
		if got := p.textOf(`a[data-kind=negative_stock]`); got != "Negative stock 1" {
			t.Errorf("chip %q", got)
		}
		if got := p.textOf(`a[data-kind=unknown_reference]`); got != "Unknown reference 1" {
			t.Errorf("chip %q", got)
		}
		if got := p.textOf("span[data-test=open-count]"); got != "2" {
			t.Errorf("nav badge %q", got)
		}
		if !strings.Contains(p.body, "<svg") || !p.has("#backlog-chart") {
			t.Errorf("no backlog chart")
		}
		// Staff see no bulk checkboxes, even for one kind.
		if b.get("/reviews?kind=negative_stock").has("input[name=review]") {
			t.Errorf("staff can select reviews to resolve")
		}

		for _, c := range []struct {
			query string
			want  []string
		}{
			{"kind=negative_stock", []string{id.String()}},
			{"kind=over_return", nil},
			{"warehouse=W1&kind=negative_stock", []string{id.String()}},
			{"warehouse=W9", nil},
			{"device=" + ce.tn.dev.DeviceID.String(), []string{id.String()}},
			{"device=" + dev2.DeviceID.String(), []string{ids[1]}},
			{"device=" + uuid.NewString(), nil},
			{"actor=anna", []string{id.String()}},
			{"actor=bob", []string{ids[1]}},
			{"actor=carl", nil},
			{"age=1h", nil},
			{"age=1d&actor=anna", nil},
		} {
			got := b.get("/reviews?" + c.query).want(200).rowIDs()
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("?%s: rows %v, want %v", c.query, got, c.want)
			}
		}
		// The chips count within the other filters.
		if got := b.get("/reviews?actor=anna").textOf(`a[data-kind=""]`); got != "All 1" {
			t.Errorf("all chip with actor=anna: %q", got)
		}
		// Two hours later both are older than an hour, not than a day.
		ce.offset.Store(int64(2 * time.Hour))
		if got := b.get("/reviews?age=1h").rowIDs(); len(got) != 2 {
			t.Errorf("age=1h two hours later: %v", got)
		}
		if got := b.get("/reviews?age=1d").rowIDs(); len(got) != 0 {
			t.Errorf("age=1d two hours later: %v", got)
		}
		// A bad filter says so and shows everything.
		bad := b.get("/reviews?kind=shelf&age=1y").want(200)
		if len(bad.rowIDs()) != 2 || len(bad.all(".flash-error")) != 2 {
			t.Errorf("bad filters: rows %v, flashes %d", bad.rowIDs(), len(bad.all(".flash-error")))
		}

		// The detail page shows the evidence: the key's movements in
		// effective-time order with the device that recorded them.
		d := b.get("/reviews/" + id.String()).want(200)
		mv := d.one("#key-movements")
		if got := d.text(mv); !strings.Contains(got, "pick -20 -20 handheld 1 anna SO-A1") {
			t.Errorf("negative stock evidence %q", got)
		}
		if d.has("#resolve") {
			t.Errorf("staff see the resolve button")
		}
		d.wantText("A manager decides this review")
		// The unknown reference shows what the catalog lacks.
		u := b.get("/reviews/" + ids[1]).want(200)
		if got := u.textOf("#unknown-refs"); got != "location ZZ-9" {
			t.Errorf("unknown refs %q", got)
		}
		b.get("/reviews/" + uuid.NewString()).want(404).one("#error")
		b.get("/reviews/nonsense").want(404)

		// The ledger's opening-time bounds, which the backlog chart and
		// the audit trail read with, on this store.
		opened := ce.review(id).OpenedAt
		for _, c := range []struct {
			f    ledger.ReviewFilter
			want int
		}{
			{ledger.ReviewFilter{OpenedAfter: opened}, 2},
			{ledger.ReviewFilter{OpenedAfter: opened.Add(time.Microsecond), OpenedBefore: opened.Add(time.Hour)}, 1},
			{ledger.ReviewFilter{OpenedBefore: opened}, 0},
			{ledger.ReviewFilter{OpenedBefore: opened.Add(time.Microsecond), Kind: ledger.ReviewNegativeStock}, 1},
			{ledger.ReviewFilter{OpenedAfter: time.Now().Add(time.Hour)}, 0},
		} {
			rs, err := ce.l.Reviews(ce.ctx, ce.tn.ID, c.f)
			if err != nil || len(rs) != c.want {
				t.Errorf("reviews %+v: %d, %v; want %d", c.f, len(rs), err, c.want)
			}
		}
	})
}

func TestConsoleResolve(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		id := ce.pickShort("A1", 20, "anna")
		b := ce.browser()
		b.signIn("max", consolePassword)
		p := b.get("/reviews/" + id.String()).want(200)
		p.one("#resolve")
		// The first suggestion is preselected.
		if v := p.attrOf("input[name=choice][checked]", "value"); v != "0" {
			t.Errorf("preselected choice %q", v)
		}
		path := "/reviews/" + id.String() + "/resolve"

		// A form the decision cannot be made from is shown again, with
		// what was typed and why.
		r := b.post(path, url.Values{"choice": {"other"}, "action": {"adjust"}, "qty": {"two"}, "note": {"keep me"}}).want(400)
		r.wantText("whole number")
		if r.textOf("#note") != "keep me" {
			t.Errorf("the note was lost")
		}
		if ce.review(id).Status != ledger.ReviewOpen {
			t.Fatalf("a refused form changed the review")
		}

		// The second suggestion: adjust +20, with a note.
		b.post(path, url.Values{"choice": {"1"}, "note": {"found them in the back"}}).wantRedirect("/reviews/" + id.String())
		got := ce.review(id)
		if got.Status != ledger.ReviewResolved || got.Resolution.Action != ledger.ActionAdjust || got.Resolution.By != "Max Manager (max)" ||
			got.Resolution.Qty != 20 || got.Resolution.Note != "found them in the back" || len(got.Resolution.Positions) != 1 {
			t.Fatalf("resolved review %+v %+v", got, got.Resolution)
		}
		if s := ce.stock(ce.tn.staff); s["A1/WIDGET/"] != 0 {
			t.Errorf("stock after the adjustment %v", s)
		}
		done := b.get("/reviews/" + id.String()).want(200)
		done.wantText("Resolved: adjust. 1 movement(s) posted.")
		if done.textOf("#resolution-by") != "Max Manager (max)" || done.textOf("#resolution-action") != "adjust" {
			t.Errorf("decision shown as %q by %q", done.textOf("#resolution-action"), done.textOf("#resolution-by"))
		}
		if rows := done.all("tr[data-position]", done.one("#result-movements")); len(rows) != 1 || !strings.Contains(done.text(rows[0]), "resolution A1 WIDGET — +20") {
			t.Errorf("resulting movements %q", done.textOf("#result-movements"))
		}
		if done.has("#resolve") {
			t.Errorf("a resolved review offers the resolve button")
		}

		// Deciding again is refused with the ledger's reason.
		again := b.post(path, url.Values{"choice": {"0"}}).want(409)
		again.wantText("already resolved")

		// The audit trail lists the decision, newest first.
		a := b.get("/audit").want(200)
		row := a.one("tr[data-review-id=" + id.String() + "]")
		if got := a.text(row); !strings.Contains(got, "adjust Max Manager (max) found them in the back") {
			t.Errorf("audit row %q", got)
		}
		if len(b.get("/audit?by=Someone+Else").rowIDs()) != 0 {
			t.Errorf("audit filter by person")
		}

		// A review a late receipt settles shows the operation that did.
		settled := ce.pickShort("A2", 2, "anna")
		ops := ce.tn.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Actor = "WIDGET", 5, "A2", "carl" }))
		ce.push(ce.tn.dev, ops).want(200)
		if r := ce.review(settled); r.Resolution == nil || r.Resolution.Action != ledger.ActionSettled {
			t.Fatalf("the receipt did not settle the review: %+v", r.Resolution)
		}
		a = b.get("/audit").want(200)
		if ids := a.rowIDs(); len(ids) != 2 || ids[0] != settled.String() {
			t.Errorf("audit rows %v, want the settled one first", ids)
		}
		row = a.one("tr[data-review-id=" + settled.String() + "]")
		if got := a.text(row); !strings.Contains(got, "settled by operation "+ops[0].OpID.String()[:8]+" (receive from handheld 1") {
			t.Errorf("settled audit row %q", got)
		}
		d := b.get("/reviews/" + settled.String()).want(200)
		if !strings.Contains(d.textOf("#settled-by"), "by carl") {
			t.Errorf("settled by %q", d.textOf("#settled-by"))
		}
	})
}

func TestConsoleBulkResolve(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		first := ce.pickShort("A1", 3, "anna")
		second := ce.pickShort("A2", 4, "anna")
		ops := ce.tn.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 5, "NOWHERE" }))
		var pr syncproto.PushResponse
		ce.push(ce.tn.dev, ops).want(200).decode(&pr)
		other := *pr.Results[0].ReviewID

		b := ce.browser()
		b.signIn("max", consolePassword)
		// Without a kind the queue offers no bulk resolution.
		if b.get("/reviews").has("#bulk-resolve") {
			t.Errorf("bulk resolution offered across kinds")
		}
		p := b.get("/reviews?kind=negative_stock").want(200)
		p.one("#bulk-resolve")
		p.one("input[data-select-all=review]")
		if len(p.all("input[name=review]")) != 2 {
			t.Fatalf("checkboxes %d", len(p.all("input[name=review]")))
		}
		back := p.attrOf("input[name=back]", "value")

		// Reviews of two kinds are refused together, and nothing changes.
		b.post("/reviews/resolve", url.Values{"review": {first.String(), other.String()}, "back": {back}}).wantRedirect("/reviews?kind=negative_stock")
		b.get("/reviews?kind=negative_stock").wantText("Resolve reviews of one kind together")
		if ce.review(first).Status != ledger.ReviewOpen || ce.review(other).Status != ledger.ReviewOpen {
			t.Fatalf("a refused bulk resolution changed reviews")
		}

		// Each review gets the suggestion chosen on its row: accept the
		// first, reverse the second.
		b.post("/reviews/resolve", url.Values{"review": {first.String(), second.String()}, "back": {back},
			"choice-" + first.String(): {"0"}, "choice-" + second.String(): {"2"}, "note": {"shift end"}}).
			wantRedirect("/reviews?kind=negative_stock")
		after := b.get("/reviews?kind=negative_stock").want(200)
		after.wantText("Resolved 2 of 2 review(s).")
		if len(after.rowIDs()) != 0 {
			t.Errorf("still open: %v", after.rowIDs())
		}
		r1, r2 := ce.review(first), ce.review(second)
		if r1.Resolution == nil || r1.Resolution.Action != ledger.ActionAccept || r1.Resolution.By != "Max Manager (max)" || r1.Resolution.Note != "shift end" {
			t.Errorf("first %+v", r1.Resolution)
		}
		if r2.Resolution == nil || r2.Resolution.Action != ledger.ActionReverse || len(r2.Resolution.Positions) != 1 {
			t.Errorf("second %+v", r2.Resolution)
		}
		if s := ce.stock(ce.tn.staff); s["A1/WIDGET/"] != -3 || s["A2/WIDGET/"] != 0 {
			t.Errorf("stock %v", s)
		}
		// Resolving one again reports it, without failing the page.
		b.post("/reviews/resolve", url.Values{"review": {first.String()}, "back": {back}}).wantRedirect("/reviews")
		b.get("/reviews?kind=negative_stock").wantText("was not resolved")
	})
}
