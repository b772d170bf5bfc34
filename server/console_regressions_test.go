package server_test

// Regression tests of the console's review: each failed before its fix.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/html"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// TestConsoleNegativeEvidenceWindow: a pick of 5 at an empty bin, then a
// receipt and hundreds of ±1 movements. The evidence used to read every
// later movement, keep the latest 300 and drop the pick, labelling the
// balance before them with a time a week earlier. It now ends near the
// review's operations, always lists them, and says when its start
// balance held.
func TestConsoleNegativeEvidenceWindow(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
		at := func(d time.Duration) func(*syncproto.Op) {
			return func(o *syncproto.Op) { o.OccurredAt = base.Add(d) }
		}
		with := func(kind string, qty int64, d time.Duration) syncproto.Op {
			return op(kind, func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", qty, "A2"; at(d)(o) })
		}
		ops := []syncproto.Op{with("pick", 5, 0), with("receive", 10, time.Second)}
		for i := range 400 {
			kind := "receive"
			if i%2 == 1 {
				kind = "pick"
			}
			ops = append(ops, with(kind, 1, time.Duration(2+i)*time.Second))
		}
		var pr syncproto.PushResponse
		ce.push(ce.tn.dev, ce.tn.dev.numbered(ops...)).want(200).decode(&pr)
		if pr.Results[0].ReviewID == nil {
			t.Fatalf("the pick opened no review: %+v", pr.Results[0])
		}
		id := *pr.Results[0].ReviewID
		if r := ce.review(id); r.Resolution == nil || r.Resolution.Action != ledger.ActionSettled {
			t.Fatalf("the receipt did not settle the review: %+v", r.Resolution)
		}

		b := ce.browser()
		b.signIn("sam", consolePassword)
		p := b.get("/reviews/" + id.String()).want(200)
		table := p.one("#key-movements")
		rows := p.all("tr[data-position]", table)
		// The pick, the receipt and evidenceTailMax (50) rows after the
		// pick less the receipt: what followed the review, not all of it.
		if len(rows) != 51 {
			t.Fatalf("%d movement rows, want 51:\n%s", len(rows), p.text(table))
		}
		if got := p.text(rows[0]); !strings.Contains(got, "pick -5 -5") {
			t.Errorf("first row %q, want the pick taking the bin to -5", got)
		}
		if cls, _ := attr(rows[0], "class"); cls != "mark" {
			t.Errorf("the review's own pick is not highlighted")
		}
		if got := p.text(rows[1]); !strings.Contains(got, "receive +10 5") {
			t.Errorf("second row %q, want the receipt to 5", got)
		}
		pickAt := p.text(p.all("td", rows[0])[0])
		if !strings.HasPrefix(pickAt, base.In(time.Local).Format("2006-01-02 15:04")) {
			t.Errorf("the pick happened at %q, want %s", pickAt, base)
		}
		if got := p.textOf("#start-balance"); got != "The stock was 0 just before "+pickAt+"." {
			t.Errorf("start balance %q, want 0 just before %s", got, pickAt)
		}
		p.wantText("351 later movement(s) are not listed")
		if p.has("tr.skipped") {
			t.Errorf("rows were skipped between the review's own")
		}
	})
}

// TestConsoleStockCardSlashSKU: a SKU holding "/" had no reachable stock
// card, since gin matches decoded paths; the card takes the SKU as a query
// parameter and every link escapes it.
func TestConsoleStockCardSlashSKU(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		if _, err := ce.l.UpsertCatalog(ce.ctx, ce.tn.ID, ledger.Catalog{Items: []ledger.ItemInput{{SKU: "AB/12", Name: "Hinge & bracket", Unit: "pcs"}}}); err != nil {
			t.Fatal(err)
		}
		ops := ce.tn.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "AB/12", 3, "A1" }),
			op("pick", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "AB/12", 5, "A2" }))
		ce.push(ce.tn.dev, ops).want(200)
		b := ce.browser()
		b.signIn("sam", consolePassword)
		s := b.get("/stock?sku=" + url.QueryEscape("AB/12")).want(200)
		href := attrIn(s, s.one(`tr[data-balance="W1/A1/AB/12/"]`), "a", "href")
		if href != "/stock/item?sku=AB%2f12" {
			t.Fatalf("stock card link %q", href)
		}
		card := b.get(href).want(200)
		if got := card.attrOf("#item", "data-sku"); got != "AB/12" {
			t.Errorf("stock card of %q", got)
		}
		if got := card.textOf("#item-total"); got != "-2 pcs" {
			t.Errorf("total %q", got)
		}
		if n := len(card.all("tr[data-position]", card.one("#item-movements"))); n != 2 {
			t.Errorf("%d movements", n)
		}
		// The review of the pick links the same card.
		q := b.get("/reviews?kind=negative_stock").want(200)
		if got := attrIn(q, q.one(`tr[data-kind=negative_stock]`), "a[href]", "href"); !strings.Contains(q.body, `href="`+href+`"`) || got == "" {
			t.Errorf("queue link %q, want %q", got, href)
		}
		b.get("/stock/item?sku=" + url.QueryEscape("AB/13")).want(404).wantText("AB/13")
		b.get("/stock/item").wantRedirect("/stock")
	})
}

// TestConsoleDecisionWithoutSuggestions: a held receipt of an unknown
// barcode has no suggestion. Its form used to preselect "another decision:
// accept", so one click dropped the receipt for good; nothing is chosen
// now, and a form without a choice is refused.
func TestConsoleDecisionWithoutSuggestions(t *testing.T) {
	t.Parallel()
	ce := setupConsole(t, "sqlite")
	ops := ce.tn.dev.numbered(op("receive", func(o *syncproto.Op) { o.Barcode, o.Qty, o.Location = "2000000000008", 4, "A1" }))
	var pr syncproto.PushResponse
	ce.push(ce.tn.dev, ops).want(200).decode(&pr)
	if pr.Results[0].Status != syncproto.StatusHeld || pr.Results[0].ReviewID == nil {
		t.Fatalf("receipt %+v", pr.Results[0])
	}
	id := *pr.Results[0].ReviewID
	if r := ce.review(id); len(r.Suggestions) != 0 {
		t.Fatalf("suggestions %+v", r.Suggestions)
	}
	b := ce.browser()
	b.signIn("max", consolePassword)
	p := b.get("/reviews/" + id.String()).want(200)
	if p.has("input[name=choice][checked]") {
		t.Errorf("a decision is preselected: %q", p.attrOf("input[name=choice][checked]", "value"))
	}
	if got := attrIn(p, p.one("#action"), "option[selected]", "value"); got != "" {
		t.Errorf("an action is preselected: %q", got)
	}
	path := "/reviews/" + id.String() + "/resolve"
	// What the untouched form sends: an empty action, no choice.
	b.post(path, url.Values{"action": {""}, "note": {""}}).want(http.StatusBadRequest).wantText("Choose a decision")
	b.post(path, url.Values{"choice": {"other"}, "action": {""}}).want(http.StatusBadRequest).wantText("Choose the action")
	if r := ce.review(id); r.Status != ledger.ReviewOpen {
		t.Fatalf("a form without a decision resolved the review: %+v", r.Resolution)
	}
	b.post(path, url.Values{"choice": {"other"}, "action": {"map_reference"}, "sku": {"WIDGET"}}).wantRedirect("/reviews/" + id.String())
	if r := ce.review(id); r.Resolution == nil || r.Resolution.Action != ledger.ActionMapReference {
		t.Fatalf("resolution %+v", r.Resolution)
	}
}

// TestConsoleAuditByLogin: who decided is recorded as "Name (login)", so a
// user named "stocksync" is not the ledger, and the audit trail filters by
// that exact string.
func TestConsoleAuditByLogin(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		if _, err := ce.l.CreateUser(ce.ctx, ce.tn.ID, ledger.UserInput{Login: "imp", Name: "stocksync", Role: ledger.RoleManager,
			Password: consolePassword}); err != nil {
			t.Fatal(err)
		}
		byImp := ce.pickShort("A1", 2, "anna")
		settled := ce.pickShort("A2", 1, "anna")
		ce.push(ce.tn.dev, ce.tn.dev.numbered(op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 5, "A2" }))).want(200)
		imp := ce.browser()
		imp.signIn("imp", consolePassword)
		imp.get("/reviews/" + byImp.String()).want(200)
		imp.post("/reviews/"+byImp.String()+"/resolve", url.Values{"choice": {"0"}}).wantRedirect("/reviews/")
		if r := ce.review(byImp); r.Resolution.By != "stocksync (imp)" {
			t.Fatalf("decided by %q", r.Resolution.By)
		}

		b := ce.browser()
		b.signIn("sam", consolePassword)
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"", []string{byImp.String(), settled.String()}},
			{"by=stocksync", []string{settled.String()}},
			{"by=" + url.QueryEscape("stocksync (imp)"), []string{byImp.String()}},
			{"by=stocksync&action=accept", nil},
			{"action=accept&period=all", []string{byImp.String()}},
			{"by=" + url.QueryEscape("Max Manager (max)"), nil},
		} {
			p := b.get("/audit?" + c.query).want(200)
			if got := strings.Join(p.rowIDs(), ","); got != strings.Join(c.want, ",") {
				t.Errorf("?%s: rows %s, want %v", c.query, got, c.want)
			}
			if got := p.textOf("#audit-total"); got != fmt.Sprintf("%d decision(s)", len(c.want)) {
				t.Errorf("?%s: total %q", c.query, got)
			}
		}
		p := b.get("/audit").want(200)
		var people []string
		for _, o := range p.all("option", p.one("#filter-by")) {
			v, _ := attr(o, "value")
			people = append(people, v)
		}
		for _, want := range []string{"stocksync", "stocksync (imp)", "Max Manager (max)", "Ada Admin (ada)", "manager-key"} {
			if !strings.Contains(strings.Join(people, "|")+"|", want+"|") {
				t.Errorf("the filter does not offer %q: %v", want, people)
			}
		}
	})
}

// TestConsoleStockAsOfExpiry: the stock as of a past time marks a batch
// expired as of that time, not as of today.
func TestConsoleStockAsOfExpiry(t *testing.T) {
	t.Parallel()
	ce := setupConsole(t, "sqlite")
	now := time.Now().UTC().Truncate(time.Second)
	yesterday := now.AddDate(0, 0, -1).Format("2006-01-02")
	ops := ce.tn.dev.numbered(op("receive", func(o *syncproto.Op) {
		o.SKU, o.Qty, o.Location, o.Batch, o.Expiry, o.OccurredAt = "BOLT", 4, "A2", "L7", yesterday, now.AddDate(0, 0, -5)
	}))
	ce.push(ce.tn.dev, ops).want(200)
	b := ce.browser()
	b.signIn("sam", consolePassword)
	row := `tr[data-balance="W1/A2/BOLT/L7"]`
	if p := b.get("/stock").want(200); !strings.Contains(p.textOf(row), "(expired)") {
		t.Errorf("today: %q, want expired", p.textOf(row))
	}
	asOf := now.AddDate(0, 0, -3).In(time.Local).Format("2006-01-02T15:04")
	if p := b.get("/stock?as_of=" + url.QueryEscape(asOf)).want(200); strings.Contains(p.textOf(row), "expired") {
		t.Errorf("as of three days ago: %q, want not expired", p.textOf(row))
	}
}

// TestConsoleBulkDuplicateIDs: a review ticked twice is resolved once and
// not reported as a conflict with itself.
func TestConsoleBulkDuplicateIDs(t *testing.T) {
	t.Parallel()
	ce := setupConsole(t, "sqlite")
	id := ce.pickShort("A1", 3, "anna")
	b := ce.browser()
	b.signIn("max", consolePassword)
	b.get("/reviews?kind=negative_stock").want(200)
	b.post("/reviews/resolve", url.Values{"review": {id.String(), id.String(), strings.ToUpper(id.String())}, "back": {"/reviews?kind=negative_stock"},
		"choice-" + id.String(): {"0"}}).wantRedirect("/reviews?kind=negative_stock")
	p := b.get("/reviews?kind=negative_stock").want(200)
	p.wantText("Resolved 1 of 1 review(s).")
	if p.has(".flash-error") {
		t.Errorf("errors: %q", p.textOf(".flash-error"))
	}
	b.post("/reviews/resolve", url.Values{"review": {"nonsense"}}).wantRedirect("/reviews")
	b.get("/reviews").wantText("was not found; nothing was resolved")
}

// TestConsoleSignInOverSession: signing in from a browser that holds a
// session ends that session.
func TestConsoleSignInOverSession(t *testing.T) {
	t.Parallel()
	ce := setupConsole(t, "sqlite")
	b := ce.browser()
	b.signIn("max", consolePassword)
	u, _ := url.Parse(ce.base)
	secret := func() string {
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == "stocksync_session" {
				return c.Value
			}
		}
		return ""
	}
	old := secret()
	// A sign-in form left open in another tab: its token and cookie, and
	// the session cookie the browser holds by now.
	tab := ce.browser()
	lp := tab.get("/login").want(200)
	token := lp.attrOf("input[name=csrf]", "value")
	tab.c.Jar.SetCookies(u, []*http.Cookie{{Name: "stocksync_session", Value: old}})
	form := url.Values{"csrf": {token}, "workspace": {"alpha"}, "login": {"sam"}, "password": {consolePassword}}
	tab.postRaw("/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil).wantRedirect("/reviews")
	if _, _, err := ce.l.AuthenticateSession(ce.ctx, old); ledger.ErrorCode(err) != ledger.CodeUnauthorized {
		t.Errorf("the session signed in over: %v", err)
	}
	if got := tab.get("/reviews").want(200).textOf("#signed-in"); !strings.Contains(got, "Sam Staff") {
		t.Errorf("signed in as %q", got)
	}
}

// logLines are the server's JSON log lines with msg.
func (e *env) logLines(msg string) []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(e.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestConsoleLogs: a console request's log line names the signed-in user,
// and every admin action is one line with who did it to what; no password
// is ever written down.
func TestConsoleLogs(t *testing.T) {
	t.Parallel()
	ce := setupConsole(t, "sqlite")
	admin := ce.browser()
	bad := ce.browser()
	lp := bad.get("/login")
	form := url.Values{"csrf": {lp.attrOf("input[name=csrf]", "value")}, "workspace": {"alpha"}, "login": {"ada"}, "password": {"wrong password 123"}}
	bad.postRaw("/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil).want(http.StatusUnauthorized)
	admin.signIn("ada", consolePassword)
	admin.get("/users").want(200)
	admin.post("/users", url.Values{"login": {"nina"}, "name": {"Nina"}, "role": {"staff"}, "password": {"first password"}}).wantRedirect("/users")
	var nina ledger.User
	for _, u := range must(ce.l.Users(ce.ctx, ce.tn.ID)) {
		if u.Login == "nina" {
			nina = u
		}
	}
	admin.post("/users/"+nina.ID.String()+"/role", url.Values{"role": {"manager"}}).wantRedirect("/users")
	admin.post("/users/"+nina.ID.String()+"/password", url.Values{"password": {"second password"}}).wantRedirect("/users")
	admin.post("/users/"+nina.ID.String()+"/disable", nil).wantRedirect("/users")
	admin.post("/users/"+nina.ID.String()+"/enable", nil).wantRedirect("/users")
	k := admin.post("/keys", url.Values{"name": {"ERP"}, "role": {"staff"}}).want(http.StatusCreated)
	secret := k.textOf("#key-secret")
	keys := must(ce.l.APIKeys(ce.ctx, ce.tn.ID))
	var keyID uuid.UUID
	for _, key := range keys {
		if key.Name == "ERP" {
			keyID = key.ID
		}
	}
	admin.post("/keys/"+keyID.String()+"/revoke", nil).wantRedirect("/keys")
	admin.get("/devices").want(200)
	code := admin.post("/devices/codes", url.Values{"warehouse": {"W1"}, "ttl": {"1h"}}).want(http.StatusCreated).textOf("#enroll-code")
	admin.post("/devices/"+ce.tn.dev.DeviceID.String()+"/revoke", nil).wantRedirect("/devices")
	admin.post("/logout", nil).wantRedirect("/login")

	logs := ce.logs.String()
	for _, s := range []string{consolePassword, "wrong password 123", "first password", "second password", secret, code} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
	var sawUser bool
	for _, rec := range ce.logLines("request") {
		if rec["route"] == "/users" && rec["method"] == "GET" {
			sawUser = rec["user"] == "ada" && rec["tenant"] == ce.tn.ID.String()
		}
		if rec["route"] == "/v1/sync/push" && rec["user"] != nil {
			t.Errorf("an API request names a user: %v", rec)
		}
	}
	if !sawUser {
		t.Errorf("no request line for GET /users naming ada")
	}
	type action struct{ action, actor, key, value string }
	want := []action{
		{"sign-in failed", "ada", "workspace", "alpha"},
		{"sign-in", "ada", "workspace", "alpha"},
		{"create user", "ada", "user", "nina"},
		{"set role to manager", "ada", "user", "nina"},
		{"set password", "ada", "user", "nina"},
		{"disable user", "ada", "user", "nina"},
		{"enable user", "ada", "user", "nina"},
		{"create API key", "ada", "key", "ERP"},
		{"revoke API key", "ada", "key_id", keyID.String()},
		{"create enrollment code", "ada", "warehouse", "W1"},
		{"revoke device", "ada", "device_id", ce.tn.dev.DeviceID.String()},
		{"sign-out", "ada", "", ""},
	}
	got := ce.logLines("console action")
	if len(got) != len(want) {
		t.Fatalf("%d action lines, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		rec := got[i]
		if rec["level"] != "INFO" || rec["action"] != w.action || rec["actor"] != w.actor || (w.key != "" && rec[w.key] != w.value) {
			t.Errorf("action %d: %v, want %+v", i, rec, w)
		}
		if w.action != "sign-in failed" && rec["tenant"] != ce.tn.ID.String() {
			t.Errorf("action %d names no tenant: %v", i, rec)
		}
	}
}

// TestConsoleQueueDetails: the device filter compares UUIDs, not strings,
// and the navigation's count stops at 99+.
func TestConsoleQueueDetails(t *testing.T) {
	t.Parallel()
	ce := setupConsole(t, "sqlite")
	id := ce.pickShort("A1", 1, "anna")
	b := ce.browser()
	b.signIn("sam", consolePassword)
	p := b.get("/reviews?device=" + strings.ToUpper(ce.tn.dev.DeviceID.String())).want(200)
	if got := p.rowIDs(); len(got) != 1 || got[0] != id.String() {
		t.Errorf("rows for the device in capitals: %v", got)
	}
	if got := attrIn(p, p.one("#filter-device"), "option[selected]", "value"); got != ce.tn.dev.DeviceID.String() {
		t.Errorf("the device filter shows %q", got)
	}
	var ops []syncproto.Op
	for i := range 120 {
		ops = append(ops, op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = "WIDGET", 1, fmt.Sprintf("NOWHERE-%d", i) }))
	}
	ce.push(ce.tn.dev, ce.tn.dev.numbered(ops...)).want(200)
	p = b.get("/reviews").want(200)
	if got := p.textOf("span[data-test=open-count]"); got != "99+" {
		t.Errorf("nav badge %q", got)
	}
	if got := p.textOf(`a[data-kind=unknown_reference]`); got != "Unknown reference 120" {
		t.Errorf("chip %q", got)
	}
	if got := p.textOf("#open-total"); got != "121 open" {
		t.Errorf("total %q", got)
	}
}

// TestConsoleItemCardMore: the stock card said there were no older
// movements when its first window of positions held exactly as many as it
// lists; it reads one more than it shows.
func TestConsoleItemCardMore(t *testing.T) {
	t.Parallel()
	ce := setupConsole(t, "sqlite")
	receive := func(sku string) syncproto.Op {
		return op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location = sku, 1, "A1" })
	}
	// One old WIDGET movement, then 1,800 of another item and 200 of
	// WIDGET: the latest 2,000 positions hold exactly 200 of WIDGET.
	var ops []syncproto.Op
	ops = append(ops, receive("WIDGET"))
	for range 1800 {
		ops = append(ops, op("receive", func(o *syncproto.Op) { o.SKU, o.Qty, o.Location, o.Batch = "BOLT", 1, "A1", "L1" }))
	}
	for range 200 {
		ops = append(ops, receive("WIDGET"))
	}
	ops = ce.tn.dev.numbered(ops...)
	for len(ops) > 0 {
		n := min(len(ops), 1000)
		ce.push(ce.tn.dev, ops[:n]).want(200)
		ops = ops[n:]
	}
	b := ce.browser()
	b.signIn("sam", consolePassword)
	p := b.get("/stock/item?sku=WIDGET").want(200)
	if n := len(p.all("tr[data-position]", p.one("#item-movements"))); n != 200 {
		t.Errorf("%d movements listed, want 200", n)
	}
	p.wantText("Showing the latest 200 movements.")
}

// attrIn is the attribute name of the first element under root matching
// sel, or "".
func attrIn(p *page, root *html.Node, sel, name string) string {
	p.t.Helper()
	ns := p.all(sel, root)
	if len(ns) == 0 {
		return ""
	}
	v, _ := attr(ns[0], name)
	return v
}
