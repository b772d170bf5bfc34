package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"stocksync/ledger"
	"stocksync/syncproto"
)

// rowError is one .row-error row of the catalog page.
type rowError struct{ section, row, field string }

func (p *page) rowErrors() []rowError {
	var out []rowError
	for _, n := range p.all("tr.row-error") {
		s, _ := attr(n, "data-section")
		r, _ := attr(n, "data-row")
		f, _ := attr(n, "data-field")
		out = append(out, rowError{s, r, f})
	}
	return out
}

func TestConsoleCatalogUpload(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		b := ce.browser()
		b.signIn("max", consolePassword)
		b.get("/catalog").want(200).one("#catalog-form")
		written := func() (items, locs int) {
			t.Helper()
			err := ce.l.Store().Read(ce.ctx, func(tx ledger.ReadTx) error {
				its, err := tx.ItemsBySKU(ce.ctx, ce.tn.ID, []string{"GOOD", "BAD", "CHEESE"})
				items = len(its)
				if err != nil {
					return err
				}
				whs, err := tx.Warehouses(ce.ctx, ce.tn.ID, []string{"W1"})
				if err != nil {
					return err
				}
				ls, err := tx.LocationsByCode(ce.ctx, ce.tn.ID, whs[0].ID, []string{"B7"})
				locs = len(ls)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return items, locs
		}

		// A row the CSV reader refuses, beside a good file: the row is
		// named by its file, line and field, and nothing is written.
		p := b.postFiles("/catalog", map[string]string{
			"locations": "warehouse,code\nW1,B7\n",
			"items":     "sku,name,unit,batch_tracked\nGOOD,Good,pcs,no\nBAD,Bad,pcs,maybe\n",
		}).want(http.StatusBadRequest)
		if got := p.rowErrors(); len(got) != 1 || got[0] != (rowError{"items", "3", "batch_tracked"}) {
			t.Errorf("row errors %+v", got)
		}
		if !strings.Contains(p.textOf("#row-errors"), "must be true or false") {
			t.Errorf("row error text %q", p.textOf("#row-errors"))
		}
		if i, l := written(); i+l != 0 {
			t.Errorf("a refused upload wrote %d items, %d locations", i, l)
		}

		// A row the ledger refuses (an unknown item on line 4) is named by
		// its line too, and the other files are not written either.
		p = b.postFiles("/catalog", map[string]string{
			"locations": "warehouse,code\nW1,B7\n",
			"items":     "sku,name,unit,batch_tracked\nGOOD,Good,pcs,yes\n",
			"batches":   "sku,code\nGOOD,G-1\n\nGHOST,X-1\n",
		}).want(http.StatusBadRequest)
		if got := p.rowErrors(); len(got) != 1 || got[0] != (rowError{"batches", "4", "sku"}) {
			t.Errorf("row errors %+v", got)
		}
		if i, l := written(); i+l != 0 {
			t.Errorf("a refused upload wrote %d items, %d locations", i, l)
		}

		// A bad header and no file at all are said plainly.
		p = b.postFiles("/catalog", map[string]string{"items": "sku,colour\n"}).want(http.StatusBadRequest)
		if !strings.Contains(p.textOf("#catalog-problems"), "colour") {
			t.Errorf("problems %q", p.textOf("#catalog-problems"))
		}
		b.postFiles("/catalog", nil).want(http.StatusBadRequest).one("#catalog-problems")

		// Good files are written together, and the page says what.
		p = b.postFiles("/catalog", map[string]string{
			"locations": "warehouse,code\nW1,B7\n",
			"items":     "sku,name,unit,barcodes,batch_tracked\nCHEESE,\"Cheese, aged\",g,111|222,yes\n",
			"batches":   "sku,code,expiry\nCHEESE,C-1,2027-01-31\n",
		}).want(200)
		if got := p.textOf("#catalog-result"); !strings.Contains(got, "1 items: CHEESE (111, 222)") || !strings.Contains(got, "1 locations: W1 / B7") ||
			!strings.Contains(got, "1 batches: CHEESE / C-1") {
			t.Errorf("result %q", got)
		}
		p.wantText("The catalog was updated")
		if i, l := written(); i != 1 || l != 1 {
			t.Errorf("written %d items, %d locations", i, l)
		}
	})
}

func TestConsoleStock(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		now := time.Now().UTC().Truncate(time.Second)
		ops := ce.tn.dev.numbered(
			op("receive", func(o *syncproto.Op) {
				o.SKU, o.Qty, o.Location, o.OccurredAt, o.Actor = "WIDGET", 10, "A1", now.Add(-2*time.Hour), "anna"
			}),
			op("pick", func(o *syncproto.Op) {
				o.SKU, o.Qty, o.Location, o.Order, o.OccurredAt, o.Actor = "WIDGET", 3, "A1", "SO-7", now.Add(-time.Hour), "bob"
			}),
			op("receive", func(o *syncproto.Op) {
				o.SKU, o.Qty, o.Location, o.Batch, o.Expiry, o.OccurredAt = "BOLT", 4, "A2", "L9", "2020-01-31", now.Add(-time.Hour)
			}),
		)
		ce.push(ce.tn.dev, ops).want(200)
		b := ce.browser()
		b.signIn("sam", consolePassword)
		onHand := func(p *page, key string) string {
			t.Helper()
			row := p.all("tr[data-balance=" + key + "]")
			if len(row) != 1 {
				t.Fatalf("no row %s; body:\n%s", key, p.body)
			}
			return p.text(p.all("td[data-test=on-hand]", row[0])[0])
		}
		p := b.get("/stock").want(200)
		if got := onHand(p, "W1/A1/WIDGET/"); got != "7 pcs" {
			t.Errorf("WIDGET now %q", got)
		}
		if got := p.text(p.one("tr[data-balance=W1/A2/BOLT/L9]")); !strings.Contains(got, "2020-01-31 (expired)") {
			t.Errorf("BOLT row %q", got)
		}
		// As of between the receipt and the pick, in the server's zone,
		// as a datetime-local field sends it.
		asOf := now.Add(-90 * time.Minute).In(time.Local).Format("2006-01-02T15:04:05")
		p = b.get("/stock?sku=WIDGET&as_of=" + url.QueryEscape(asOf)).want(200)
		if got := onHand(p, "W1/A1/WIDGET/"); got != "10 pcs" {
			t.Errorf("WIDGET as of %s: %q", asOf, got)
		}
		if len(p.all("tr[data-balance]")) != 1 || p.attrOf("#as-of", "value") != asOf || !p.has("#as-of-shown") {
			t.Errorf("as-of page: %d rows, field %q", len(p.all("tr[data-balance]")), p.attrOf("#as-of", "value"))
		}
		p = b.get("/stock?as_of=" + url.QueryEscape(now.Add(-3*time.Hour).In(time.Local).Format("2006-01-02T15:04"))).want(200)
		if len(p.all("tr[data-balance]")) != 0 {
			t.Errorf("stock before anything happened: %d rows", len(p.all("tr[data-balance]")))
		}
		b.get("/stock?as_of=yesterday").want(http.StatusBadRequest).wantText("not a date and time")
		if p := b.get("/stock?warehouse=W1&location=A2"); len(p.all("tr[data-balance]")) != 1 {
			t.Errorf("location filter: %d rows", len(p.all("tr[data-balance]")))
		}

		// The item's card: balances, and movements newest first with who
		// and which device.
		p = b.get("/stock/item?sku=WIDGET").want(200)
		if got := p.textOf("#item-total"); got != "7 pcs" {
			t.Errorf("total %q", got)
		}
		rows := p.all("tr[data-position]", p.one("#item-movements"))
		if len(rows) != 2 {
			t.Fatalf("movements %d", len(rows))
		}
		if got := p.text(rows[0]); !strings.Contains(got, "pick -3 W1 / A1 — SO-7 bob handheld 1") {
			t.Errorf("newest movement %q", got)
		}
		if got := p.text(rows[1]); !strings.Contains(got, "receive +10 W1 / A1 — — anna handheld 1") {
			t.Errorf("oldest movement %q", got)
		}
		b.get("/stock/item?sku=NOPE").want(404).wantText("NOPE")
	})
}

func TestConsoleDevices(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		lagger := ce.enroll(ce.tn.ID, "W1", "handheld 2")
		if err := ce.l.ReportDevice(ce.ctx, ce.tn.ID, lagger.DeviceID, ledger.DeviceReport{Pending: 12, OldestUnsent: 45 * time.Minute, AppVersion: "1.2.0"}); err != nil {
			t.Fatal(err)
		}
		b := ce.browser()
		b.signIn("max", consolePassword)
		p := b.get("/devices").want(200)
		if rows := p.all("tr[data-device-id]"); len(rows) != 2 {
			t.Fatalf("device rows %d", len(rows))
		}
		if !p.has("tr[data-device-id=" + lagger.DeviceID.String() + "][data-lagging]") {
			t.Errorf("handheld 2 is not marked lagging")
		}
		if p.has("tr[data-device-id=" + ce.tn.dev.DeviceID.String() + "][data-lagging]") {
			t.Errorf("handheld 1 is marked lagging")
		}
		if lag := p.one("#lag-chart"); !strings.Contains(p.text(lag), "handheld 2") || !strings.Contains(p.body, "<svg") {
			t.Errorf("lag chart %q", p.text(lag))
		}

		// An enrollment code in big type and as a QR code, which a
		// handheld can use.
		c := b.post("/devices/codes", url.Values{"warehouse": {"W1"}, "ttl": {"1h"}}).want(http.StatusCreated)
		code := c.textOf("#enroll-code")
		if !regexp.MustCompile(`^[0-9A-Z]{5}-[0-9A-Z]{5}$`).MatchString(code) {
			t.Errorf("code %q", code)
		}
		if qr := c.one("#enroll-qr"); qr.FirstChild == nil || len(c.all("svg", qr)) != 1 {
			t.Errorf("no QR code svg")
		}
		if c.header.Get("Cache-Control") != "no-store" {
			t.Errorf("the code page may be cached: %q", c.header.Get("Cache-Control"))
		}
		var er syncproto.EnrollResponse
		ce.do("POST", "/v1/devices/enroll", req{proto: true, json: syncproto.EnrollRequest{Code: code, Name: "handheld 3", AppVersion: "1.0.0"}}).
			want(200).decode(&er)
		b.post("/devices/codes", url.Values{"warehouse": {"W9"}, "ttl": {"1h"}}).wantRedirect("/devices")
		b.get("/devices").wantText("No code was created")

		// Revoking is for admins; the device's token stops working.
		admin := ce.browser()
		admin.signIn("ada", consolePassword)
		p = admin.get("/devices")
		if !p.has("[data-revoke=" + lagger.DeviceID.String() + "]") {
			t.Fatalf("no revoke button for handheld 2")
		}
		admin.post("/devices/"+lagger.DeviceID.String()+"/revoke", nil).wantRedirect("/devices")
		p = admin.get("/devices").want(200)
		p.wantText(`Device "handheld 2" is revoked`)
		if p.has("[data-revoke="+lagger.DeviceID.String()+"]") || !p.has("tr[data-device-id="+lagger.DeviceID.String()+"][data-revoked]") {
			t.Errorf("revoked device still offers revoke")
		}
		if d, _ := ce.l.Device(ce.ctx, ce.tn.ID, lagger.DeviceID); d.RevokedAt.IsZero() {
			t.Errorf("device not revoked")
		}
		ce.do("GET", "/v1/sync/pull", req{proto: true, token: lagger.Token}).wantError(401, syncproto.CodeUnauthorized)
	})
}

func TestConsoleUsersAndKeys(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		admin := ce.browser()
		admin.signIn("ada", consolePassword)
		p := admin.get("/users").want(200)
		if rows := p.all("tr[data-user-id]"); len(rows) != 3 {
			t.Fatalf("user rows %d", len(rows))
		}

		// A bad form is shown again with what was typed and why.
		p = admin.post("/users", url.Values{"login": {"nina"}, "name": {"Nina Night"}, "role": {"staff"}, "password": {"short"}}).want(http.StatusBadRequest)
		if p.attrOf("#new-login", "value") != "nina" || !strings.Contains(p.textOf(".flash-error"), "password") {
			t.Errorf("refused form: login %q, message %q", p.attrOf("#new-login", "value"), p.textOf(".flash-error"))
		}
		admin.post("/users", url.Values{"login": {"nina"}, "name": {"Nina Night"}, "role": {"staff"}, "password": {"first password"}}).wantRedirect("/users")
		admin.get("/users").wantText("User nina (Nina Night) was created with the role staff.")
		admin.post("/users", url.Values{"login": {"NINA"}, "name": {"Other"}, "role": {"staff"}, "password": {"first password"}}).want(http.StatusConflict)
		nina := ce.browser()
		nina.signIn("nina", "first password")
		if nina.get("/reviews").textOf("#signed-in") != "Nina Night (staff, alpha)" {
			t.Errorf("nina signed in as %q", nina.get("/reviews").textOf("#signed-in"))
		}
		var ninaID string
		for _, u := range must(ce.l.Users(ce.ctx, ce.tn.ID)) {
			if u.Login == "nina" {
				ninaID = u.ID.String()
			}
		}

		// Role changes take effect on the next request.
		admin.post("/users/"+ninaID+"/role", url.Values{"role": {"manager"}}).wantRedirect("/users")
		if got := nina.get("/reviews").textOf("#signed-in"); got != "Nina Night (manager, alpha)" {
			t.Errorf("after the role change: %q", got)
		}
		admin.post("/users/"+ninaID+"/role", url.Values{"role": {"owner"}}).wantRedirect("/users")
		admin.get("/users").wantText("was not changed")

		// A new password ends her sessions; the old one no longer works.
		admin.post("/users/"+ninaID+"/password", url.Values{"password": {"second password"}}).wantRedirect("/users")
		nina.get("/reviews").wantRedirect("/login")
		nina.signIn("nina", "second password")

		// Disabling ends the session and sign-in.
		admin.post("/users/"+ninaID+"/disable", nil).wantRedirect("/users")
		nina.get("/reviews").wantRedirect("/login")
		if p := admin.get("/users"); !p.has("tr[data-user-id=" + ninaID + "][data-disabled]") {
			t.Errorf("nina not shown disabled")
		}
		lp := nina.get("/login")
		form := url.Values{"csrf": {lp.attrOf("input[name=csrf]", "value")}, "workspace": {"alpha"}, "login": {"nina"}, "password": {"second password"}}
		nina.postRaw("/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil).want(http.StatusUnauthorized)

		// Enabled again, she signs in with the password she had.
		if p := admin.get("/users"); !p.has("[data-enable="+ninaID+"]") || len(p.all("[data-enable]")) != 1 {
			t.Errorf("the Enable button: %d, nina's %v", len(p.all("[data-enable]")), p.has("[data-enable="+ninaID+"]"))
		}
		admin.post("/users/"+ninaID+"/enable", nil).wantRedirect("/users")
		if p := admin.get("/users"); p.has("tr[data-user-id="+ninaID+"][data-disabled]") || p.has("[data-enable]") {
			t.Errorf("nina still shown disabled")
		}
		nina.signIn("nina", "second password")

		// API keys: the secret is shown once, and works until revoked.
		k := admin.post("/keys", url.Values{"name": {"ERP import"}, "role": {"staff"}}).want(http.StatusCreated)
		secret := k.textOf("#key-secret")
		if !strings.HasPrefix(secret, "ssk_") {
			t.Fatalf("secret %q", secret)
		}
		ce.do("GET", "/v1/devices", req{token: secret}).want(200)
		p = admin.get("/keys").want(200)
		if strings.Contains(p.body, secret) {
			t.Errorf("the key list shows a secret")
		}
		var keyID string
		for _, n := range p.all("tr[data-key-id]") {
			if strings.Contains(p.text(n), "ERP import") {
				keyID, _ = attr(n, "data-key-id")
			}
		}
		admin.post("/keys", url.Values{"name": {""}, "role": {"staff"}}).want(http.StatusBadRequest).wantText("The key was not created")
		admin.post("/keys/"+keyID+"/revoke", nil).wantRedirect("/keys")
		ce.do("GET", "/v1/devices", req{token: secret}).wantError(401, syncproto.CodeUnauthorized)
		if !admin.get("/keys").has("tr[data-key-id=" + keyID + "][data-revoked]") {
			t.Errorf("the key is not shown revoked")
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
