package server_test

// The console in a real browser (issue 6): headless Chromium, driven by
// chromedp, signs in to the real server over http://localhost (so the
// Secure session cookie works as it does for a user), while real device
// clients (package client, each with its own SQLite file) record and sync
// over HTTP. Each test asserts what a page shows, element by element, and
// then what the ledger holds, through the ledger API rather than the page.
// Screenshots of the main pages go under each test's temporary directory;
// their paths are logged.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"stocksync/client"
	"stocksync/internal/browsertest"
	"stocksync/ledger"
	"stocksync/syncproto"
)

// uiStepTimeout bounds one browser step (a navigation, a click and the
// page it loads, a query), so a selector that never matches fails the test
// with the page it was on, well before the browser's own deadline.
const uiStepTimeout = 20 * time.Second

// browserEnv is a running server with one tenant (testCatalog), a manager
// and an admin who sign in to the console, and the console's address on
// localhost.
type browserEnv struct {
	*env
	tn             ledger.Tenant
	manager, admin ledger.User
	// console is http://localhost:PORT: Chromium keeps the console's
	// Secure cookies there without TLS (see browser_test.go).
	console string
}

// setupBrowserEnv starts the real server on a free port over a fresh store
// of kind, with the default (Secure) cookies, and creates the tenant and
// its users through the ledger API. It enrolls no device.
func setupBrowserEnv(t *testing.T, kind string) *browserEnv {
	t.Helper()
	e := setup(t, kind)
	tn, err := e.l.CreateTenant(e.ctx, "acme", "Acme Ltd", nil)
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	if _, err := e.l.UpsertCatalog(e.ctx, tn.ID, testCatalog); err != nil {
		t.Fatalf("catalog: %v", err)
	}
	be := &browserEnv{env: e, tn: tn, console: strings.Replace(e.base, "127.0.0.1", "localhost", 1)}
	for _, u := range []struct {
		dst         *ledger.User
		login, name string
		role        ledger.Role
	}{{&be.manager, "max", "Max Manager", ledger.RoleManager}, {&be.admin, "ada", "Ada Admin", ledger.RoleAdmin}} {
		created, err := e.l.CreateUser(e.ctx, tn.ID, ledger.UserInput{Login: u.login, Name: u.name, Role: u.role, Password: consolePassword})
		if err != nil {
			t.Fatalf("create user %s: %v", u.login, err)
		}
		*u.dst = created
	}
	return be
}

// handheld opens a device client on its own SQLite file and enrolls it in
// warehouse W1 over HTTP, with a code made through the ledger API, as a
// manager's code would be typed on the handheld.
func (be *browserEnv) handheld(name string) *client.Client {
	t := be.t
	t.Helper()
	_, code, err := be.l.CreateEnrollmentCode(be.ctx, be.tn.ID, "W1", 0)
	if err != nil {
		t.Fatalf("enrollment code: %v", err)
	}
	dev, err := client.Open(be.ctx, filepath.Join(t.TempDir(), name+".db"), client.Options{
		AppVersion: "browser-test-1.0",
		// Backoff is the client's business, tested there.
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	})
	if err != nil {
		t.Fatalf("open device %s: %v", name, err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	if _, err := dev.Enroll(be.ctx, be.base, code, name); err != nil {
		t.Fatalf("enroll %s: %v", name, err)
	}
	return dev
}

// handheldRecord records one operation on a device and fails the test on
// error.
func handheldRecord(t *testing.T, dev *client.Client, in client.OpInput) client.Recorded {
	t.Helper()
	rec, err := dev.Record(context.Background(), in)
	if err != nil {
		t.Fatalf("record %+v: %v", in, err)
	}
	return rec
}

// handheldSync syncs a device and fails the test unless everything was
// sent.
func handheldSync(t *testing.T, dev *client.Client) client.SyncReport {
	t.Helper()
	rep, err := dev.Sync(context.Background(), client.SyncOptions{})
	if err != nil {
		t.Fatalf("sync %s: %v (report %+v)", dev.Path(), err, rep)
	}
	if rep.Pending != 0 {
		t.Fatalf("sync %s left %d operations pending", dev.Path(), rep.Pending)
	}
	return rep
}

// handheldID is the device's id as the server knows it.
func handheldID(t *testing.T, dev *client.Client) uuid.UUID {
	t.Helper()
	st, err := dev.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id, err := uuid.Parse(st.DeviceID)
	if err != nil {
		t.Fatalf("device id %q: %v", st.DeviceID, err)
	}
	return id
}

// consoleUI is one browser tab on the console.
type consoleUI struct {
	t    *testing.T
	ctx  context.Context
	base string
	// accept is the answer to the next JavaScript dialog; dialogs gets
	// the message of each dialog the page opened.
	accept  atomic.Bool
	dialogs chan string
}

// newConsoleUI starts a browser for the test (skipping without one, see
// browsertest.Start) and answers the console's "are you sure?" dialogs: a confirm
// blocks the page, and the click that opened it, until something answers,
// so a goroutine does, with u.accept.
func newConsoleUI(t *testing.T, base string) *consoleUI {
	t.Helper()
	u := &consoleUI{t: t, ctx: browsertest.Start(t, browsertest.Options{}), base: base, dialogs: make(chan string, 8)}
	opening := chromedp.Events(u.ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for ev, err := range opening {
			if err != nil {
				return // the browser is closing
			}
			select {
			case u.dialogs <- ev.Message:
			default:
			}
			if _, err := chromedp.Call(u.ctx, cdppage.HandleJavaScriptDialog,
				cdppage.HandleJavaScriptDialogParams{Accept: u.accept.Load()}); err != nil && u.ctx.Err() == nil {
				t.Errorf("answer the dialog %q: %v", ev.Message, err)
			}
		}
	}()
	return u
}

// fail reports a failed step with where the browser was and what the page
// said, and saves a screenshot of it.
func (u *consoleUI) fail(what string, err error) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
	defer cancel()
	where, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(body) > 3000 {
		body = body[:3000] + "…"
	}
	if img, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		path := browsertest.ScreenshotPath(u.t, "failure")
		if os.WriteFile(path, img, 0o644) == nil {
			u.t.Logf("screenshot of the failure: %s", path)
		}
	}
	u.t.Fatalf("%s: %v\nat %s, the page says:\n%s", what, err, where, body)
}

// do runs browser steps with the step timeout.
func (u *consoleUI) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, uiStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		u.fail(what, err)
	}
}

// uiRun runs one browser action that returns a value, with the step
// timeout.
func uiRun[T any](u *consoleUI, what string, a chromedp.Action[T]) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, uiStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		u.fail(what, err)
	}
	return v
}

// uiEval evaluates a JavaScript expression in the page and decodes its
// value.
func uiEval[T any](u *consoleUI, expr string) T {
	u.t.Helper()
	return uiRun(u, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// open loads a console page and waits until the element wait (a CSS
// selector) is shown.
func (u *consoleUI) open(path, wait string) {
	u.t.Helper()
	u.do("open "+path, chromedp.Navigate(u.base+path), chromedp.WaitVisible(chromedp.CSS(wait)))
}

// clickLoad clicks the element and waits for the page the click loads
// (a link, or a form posted and redirected), then for the element wait.
func (u *consoleUI) clickLoad(sel, wait string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, uiStepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		u.fail("click "+sel, err)
	}
	u.do("wait for "+wait, chromedp.WaitVisible(chromedp.CSS(wait)))
}

// dialog is the message of the next JavaScript dialog the page opened.
func (u *consoleUI) dialog() string {
	u.t.Helper()
	select {
	case msg := <-u.dialogs:
		return msg
	case <-time.After(uiStepTimeout):
		u.t.Fatalf("the page opened no dialog")
		return ""
	}
}

// text is the visible text of the first element matching sel, trimmed.
func (u *consoleUI) text(sel string) string {
	u.t.Helper()
	return strings.TrimSpace(uiRun(u, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// count is how many elements match sel now.
func (u *consoleUI) count(sel string) int {
	u.t.Helper()
	return uiEval[int](u, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// attr is the attribute of the first element matching sel, or "(none)"
// when there is no such element or attribute.
func (u *consoleUI) attr(sel, name string) string {
	u.t.Helper()
	return uiEval[string](u, fmt.Sprintf(`(function () { var e = document.querySelector(%q); var v = e && e.getAttribute(%q); return v === null ? "(none)" : v; })()`, sel, name))
}

// location is the path and query the browser shows.
func (u *consoleUI) location() string {
	u.t.Helper()
	return uiEval[string](u, `location.pathname + location.search`)
}

// shot saves a screenshot of the whole page (browsertest.Screenshot: under
// the test's temporary directory, and $STOCKSYNC_SCREENSHOTS when set).
func (u *consoleUI) shot(name string) {
	u.t.Helper()
	browsertest.Screenshot(u.t, u.ctx, name)
}

// signIn signs in through the form as a user with consolePassword and
// fails the test unless the console then shows the queue with the user's
// name.
func (u *consoleUI) signIn(user ledger.User, workspace string) {
	u.t.Helper()
	u.open("/login", "#login-form")
	// One tenant on the server: the workspace is filled in and hidden.
	if typ, val := u.attr("#workspace", "type"), u.attr("#workspace", "value"); typ != "hidden" || val != workspace {
		u.t.Errorf("workspace field type %q value %q, want a hidden %q", typ, val, workspace)
	}
	u.do("fill in the sign-in form",
		chromedp.SendKeys(chromedp.ID("login"), user.Login),
		chromedp.SendKeys(chromedp.ID("password"), consolePassword))
	u.clickLoad("#sign-in", "#signed-in")
	if got := u.text("#signed-in"); !strings.Contains(got, user.Name) || !strings.Contains(got, string(user.Role)) {
		u.t.Errorf("signed in as %q, want %s (%s)", got, user.Name, user.Role)
	}
	if got := u.location(); got != "/reviews" {
		u.t.Errorf("after signing in the browser is at %s, want /reviews", got)
	}
}

// queueRow is one row of the review queue as the page shows it.
type queueRow struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Cells     string `json:"cells"`
	Suggested string `json:"suggested"`
}

// TestConsoleBrowserReviewFlow: two handhelds sync a shift that opens
// reviews of three kinds; a manager signs in, sees them in the queue,
// reassigns the wrong-batch return to the batch the order shipped, and the
// ledger posts exactly the correcting movements; the handheld that scanned
// the return learns the decision on its next pull. The stock, stock card
// and audit pages show the outcome.
func TestConsoleBrowserReviewFlow(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		start := time.Now()
		be := setupBrowserEnv(t, kind)
		ctx, tid := be.ctx, be.tn.ID

		// The shift. In the morning, online: handheld A receives bolts of
		// lot L1 and one widget, and ships two bolts of L1 on SO-1.
		a, b := be.handheld("handheld-a"), be.handheld("handheld-b")
		handheldRecord(t, a, client.OpInput{Kind: "receive", SKU: "BOLT", Batch: "L1", Qty: 3, Location: "A2", Actor: "al"})
		handheldRecord(t, a, client.OpInput{Kind: "receive", SKU: "WIDGET", Qty: 1, Location: "A1", Actor: "al"})
		handheldRecord(t, a, client.OpInput{Kind: "pick", SKU: "BOLT", Batch: "L1", Qty: 2, Location: "A2", Order: "SO-1", Actor: "al"})
		handheldSync(t, a)
		handheldSync(t, b)

		// Offline: both pick the last widget; B scans a bolt returned on
		// SO-1 as lot L2, which SO-1 never shipped, and a receipt of a
		// barcode the catalog does not know.
		handheldRecord(t, a, client.OpInput{Kind: "pick", SKU: "WIDGET", Qty: 1, Location: "A1", Order: "SO-2", Actor: "al"})
		handheldRecord(t, b, client.OpInput{Kind: "pick", Barcode: "4000001000013", Qty: 1, Location: "A1", Order: "SO-3", Actor: "bea"})
		ret := handheldRecord(t, b, client.OpInput{Kind: "return", SKU: "BOLT", Batch: "L2", Qty: 1, Location: "RET", Order: "SO-1", Actor: "bea"})
		if unknown := handheldRecord(t, b, client.OpInput{Kind: "receive", Barcode: "2000000000008", Qty: 4, Location: "A1", Actor: "bea"}); len(unknown.Warnings) == 0 {
			t.Errorf("an unknown barcode was recorded without a warning: %+v", unknown)
		}
		handheldSync(t, a)
		if rep := handheldSync(t, b); rep.Flagged != 2 || rep.Held != 1 {
			t.Fatalf("handheld-b's sync: %+v; want its pick and its return flagged and the unknown barcode held", rep)
		}
		retView := handheldOp(t, b, ret.Op.OpID)
		if retView.Status != syncproto.StatusFlagged || retView.Code != syncproto.CodeWrongBatchReturn || len(retView.ReviewIDs) != 1 {
			t.Fatalf("handheld-b's return: %+v; want it flagged wrong_batch_return with one review", retView)
		}
		if slices.ContainsFunc(retView.Decisions, func(d syncproto.Decision) bool { return d.Status == syncproto.ReviewResolved }) {
			t.Fatalf("handheld-b knows of a decision before anyone decided: %+v", retView.Decisions)
		}
		reviewID := retView.ReviewIDs[0]
		open, err := be.l.Reviews(ctx, tid, ledger.ReviewFilter{Status: ledger.ReviewOpen})
		if err != nil {
			t.Fatal(err)
		}
		wantKinds := map[string]string{} // review id -> kind
		for _, r := range open {
			wantKinds[r.ID.String()] = string(r.Kind)
		}
		if len(open) != 3 || wantKinds[reviewID.String()] != string(ledger.ReviewWrongBatchReturn) {
			t.Fatalf("open reviews %v; want three, the return's among them", wantKinds)
		}
		t.Logf("shift synced in %v", time.Since(start).Round(time.Millisecond))

		// The manager signs in and sees the queue the sync filled.
		u := newConsoleUI(t, be.console)
		u.signIn(be.manager, "acme")
		u.do("wait for the queue", chromedp.WaitVisible(chromedp.ID("review-table")))
		rows := uiEval[[]queueRow](u, `Array.from(document.querySelectorAll("#review-table tr[data-review-id]")).map(function (r) {
			return {id: r.dataset.reviewId, kind: r.dataset.kind, cells: r.innerText, suggested: r.cells[r.cells.length - 1].innerText.trim()};
		})`)
		gotKinds := map[string]string{}
		for _, r := range rows {
			gotKinds[r.ID] = r.Kind
		}
		if len(rows) != 3 || fmt.Sprint(gotKinds) != fmt.Sprint(wantKinds) {
			t.Errorf("the queue shows %v, want the ledger's open reviews %v", gotKinds, wantKinds)
		}
		for _, r := range rows {
			if r.Kind == string(ledger.ReviewWrongBatchReturn) {
				for _, want := range []string{"BOLT", "RET", "L2", "SO-1", "handheld-b", "bea"} {
					if !strings.Contains(r.Cells, want) {
						t.Errorf("the return's row %q lacks %q", r.Cells, want)
					}
				}
				if r.Suggested != "reassign to shipped batch L1" {
					t.Errorf("the return's suggested decision is %q", r.Suggested)
				}
			}
		}
		// An item the catalog lacks is shown as scanned, with no link to
		// a stock card that cannot exist; known items link to theirs.
		unknownRow := `#review-table tr[data-kind="unknown_reference"]`
		if got := u.text(unknownRow); !strings.Contains(got, "2000000000008") {
			t.Errorf("the unknown reference's row %q lacks the scanned barcode", got)
		}
		if n := u.count(unknownRow + ` a[href^="/stock/item"]`); n != 0 {
			t.Errorf("the unknown reference's row links the unknown barcode to a stock card")
		}
		if n := u.count(`#review-table tr[data-kind="wrong_batch_return"] a[href="/stock/item?sku=BOLT"]`); n != 1 {
			t.Errorf("the return's row does not link BOLT to its stock card")
		}
		chips := uiEval[map[string]string](u, `Object.fromEntries(Array.from(document.querySelectorAll("#kind-chips a[data-kind]")).map(function (a) {
			return [a.dataset.kind || "all", a.querySelector(".count").textContent.trim()];
		}))`)
		if want := map[string]string{"all": "3", "wrong_batch_return": "1", "negative_stock": "1", "unknown_reference": "1"}; fmt.Sprint(chips) != fmt.Sprint(want) {
			t.Errorf("kind chips %v, want %v", chips, want)
		}
		if got := u.text("#open-total"); got != "3 open" {
			t.Errorf("queue total %q, want 3 open", got)
		}
		if got := u.text("[data-test=open-count]"); got != "3" {
			t.Errorf("navigation open count %q, want 3", got)
		}
		u.shot("queue")

		// The wrong-batch return: what SO-1 shipped beside what was scanned.
		u.clickLoad(`#review-table tr[data-kind="wrong_batch_return"] a.review-link`, "#evidence")
		if id, status := u.attr("#review", "data-review-id"), u.attr("#review", "data-status"); id != reviewID.String() || status != "open" {
			t.Errorf("review page of %s (%s), want %s open", id, status, reviewID)
		}
		// Per batch: shipped, returned, and whether it is the scanned one
		// (highlighted).
		shipped := uiEval[map[string][]string](u, `Object.fromEntries(Array.from(document.querySelectorAll("#shipped tbody tr")).map(function (r) {
			return [r.dataset.batch, Array.from(r.cells).map(function (c) { return c.innerText.trim(); }).concat(r.classList.contains("mark") ? ["scanned"] : [])];
		}))`)
		if want := map[string][]string{"L1": {"L1", "2", "0"}, "L2": {"L2", "0", "1", "scanned"}}; fmt.Sprint(shipped) != fmt.Sprint(want) {
			t.Errorf("shipped evidence %v, want %v (batch, shipped, returned, scanned)", shipped, want)
		}
		if got := u.text("#scanned-batch"); got != "L2" {
			t.Errorf("scanned batch %q, want L2", got)
		}
		if got := u.text("#evidence"); !strings.Contains(got, "the order never shipped this batch") {
			t.Errorf("the evidence does not say L2 was never shipped: %q", got)
		}
		u.shot("review")

		// The ledger's suggestion, reassign to L1, is chosen already.
		chosen := uiEval[map[string]string](u, `(function () {
			var c = document.querySelector("#resolve-form input[name=choice]:checked");
			return c ? {action: c.dataset.action || "", label: c.closest("label").innerText.trim()} : {};
		})()`)
		if chosen["action"] != "reassign_batch" || !strings.Contains(chosen["label"], "L1") {
			t.Fatalf("the chosen decision is %v, want the suggested reassign to L1", chosen)
		}
		const note = "label misread at the returns desk"
		u.do("type a note", chromedp.SendKeys(chromedp.ID("note"), note))
		u.clickLoad("#resolve", "#resolution")

		// The outcome, as the page tells it.
		if got := u.attr("#review", "data-status"); got != "resolved" {
			t.Errorf("review status after resolving: %q", got)
		}
		if got := u.text(".flash-ok"); !strings.Contains(got, "reassign_batch") || !strings.Contains(got, "2 movement") {
			t.Errorf("confirmation after resolving: %q", got)
		}
		for sel, want := range map[string]string{"#resolution-action": "reassign_batch", "#resolution-by": "Max Manager (max)", "#resolution-note": note} {
			if got := u.text(sel); got != want {
				t.Errorf("%s %q, want %q", sel, got, want)
			}
		}
		pageMoves := uiEval[[]string](u, `Array.from(document.querySelectorAll("#result-movements tr[data-position]")).map(function (r) {
			return r.dataset.position + " " + Array.from(r.cells).slice(1).map(function (c) { return c.innerText.trim(); }).join(" ");
		})`)
		if got := u.text("[data-test=open-count]"); got != "2" {
			t.Errorf("navigation open count after resolving %q, want 2", got)
		}
		u.shot("resolved")

		// The ledger: resolved, by the signed-in user, and exactly the
		// correcting movements reassign_batch posts for a return: the
		// quantity taken off the scanned batch and put on the shipped one,
		// on the return's bin, each correcting the return.
		r, err := be.l.Review(ctx, tid, reviewID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != ledger.ReviewResolved || r.Resolution == nil {
			t.Fatalf("review after the browser resolved it: %+v", r)
		}
		if res := r.Resolution; res.Action != ledger.ActionReassignBatch || res.By != "Max Manager (max)" || res.Batch != "L1" || res.Note != note || len(res.Positions) != 2 {
			t.Errorf("resolution %+v; want reassign_batch to L1 by Max Manager (max) with the note and two movements", res)
		}
		moves, err := be.l.Movements(ctx, tid, ledger.MovementFilter{SKU: "BOLT"})
		if err != nil {
			t.Fatal(err)
		}
		var ledgerMoves []string
		for _, m := range moves {
			if m.ReviewID != reviewID {
				continue
			}
			if m.Kind != ledger.MoveResolution || m.Corrects != ret.Op.OpID || !slices.Contains(r.Resolution.Positions, m.Position) {
				t.Errorf("correcting movement %+v; want a resolution movement correcting the return at one of %v", m, r.Resolution.Positions)
			}
			ledgerMoves = append(ledgerMoves, fmt.Sprintf("%d %s %s %s %s %+d", m.Position, m.Kind, m.Location, m.SKU, m.Batch, m.Qty))
		}
		slices.Sort(ledgerMoves)
		slices.Sort(pageMoves)
		if len(ledgerMoves) != 2 || !strings.HasSuffix(ledgerMoves[0], "RET BOLT L2 -1") || !strings.HasSuffix(ledgerMoves[1], "RET BOLT L1 +1") {
			t.Errorf("correcting movements %q; want RET BOLT L2 -1, then RET BOLT L1 +1", ledgerMoves)
		}
		if !slices.Equal(pageMoves, ledgerMoves) {
			t.Errorf("the page lists the movements %q, the ledger %q", pageMoves, ledgerMoves)
		}
		bal := browserBalances(t, be)
		for key, want := range map[string]int64{"RET/BOLT/L2": 0, "RET/BOLT/L1": 1, "A2/BOLT/L1": 1, "A1/WIDGET/": -1} {
			if got := bal[key]; got != want {
				t.Errorf("balance %s = %d, want %d (all: %v)", key, got, want, bal)
			}
		}
		if d, err := be.l.Check(ctx, tid); err != nil || len(d) != 0 {
			t.Errorf("ledger check after the resolution: %+v, %v", d, err)
		}
		if left, err := be.l.Reviews(ctx, tid, ledger.ReviewFilter{Status: ledger.ReviewOpen}); err != nil || len(left) != 2 {
			t.Errorf("open reviews after one was resolved: %d, %v; want 2", len(left), err)
		}

		// Handheld B learns the decision on its next pull, and its stock
		// follows the correction.
		handheldSync(t, b)
		retView = handheldOp(t, b, ret.Op.OpID)
		decided := slices.ContainsFunc(retView.Decisions, func(d syncproto.Decision) bool {
			return d.ReviewID == reviewID && d.Status == syncproto.ReviewResolved && d.Action == "reassign_batch" &&
				d.DecidedBy == "Max Manager (max)" && d.Note == note && d.DecidedAt != nil
		})
		if !decided {
			t.Errorf("handheld-b's problem list does not show the decision: %+v", retView.Decisions)
		}
		stock, err := b.Stock(context.Background(), client.StockFilter{SKU: "BOLT", Location: "RET"})
		if err != nil {
			t.Fatal(err)
		}
		onDevice := map[string]int64{}
		for _, s := range stock {
			onDevice[s.Batch] += s.Stock
		}
		if onDevice["L1"] != 1 || onDevice["L2"] != 0 {
			t.Errorf("handheld-b's stock of BOLT at RET: %v; want the return on L1", onDevice)
		}

		// The stock page and the item's stock card.
		u.open("/stock", "#stock-table")
		for key, want := range map[string]string{"W1/RET/BOLT/L1": "1", "W1/A2/BOLT/L1": "1", "W1/A1/WIDGET/": "-1"} {
			if got := u.text(fmt.Sprintf(`#stock-table tr[data-balance=%q] [data-test=on-hand]`, key)); strings.Fields(got)[0] != want {
				t.Errorf("stock page: %s on hand %q, want %s", key, got, want)
			}
		}
		if n := u.count(`#stock-table tr[data-balance="W1/RET/BOLT/L2"]`); n != 0 {
			t.Errorf("the stock page lists the emptied RET/BOLT/L2 among stock on hand")
		}
		u.shot("stock")
		u.clickLoad(`#stock-table tr[data-balance="W1/RET/BOLT/L1"] a`, "#item-movements")
		if got := u.attr("#item", "data-sku"); got != "BOLT" {
			t.Errorf("stock card of %q, want BOLT", got)
		}
		if got := u.text("#item-total"); !strings.HasPrefix(got, "2 ") {
			t.Errorf("BOLT on hand %q, want 2 (1 on A2, 1 returned)", got)
		}
		if n := u.count(fmt.Sprintf(`#item-movements tr[data-position] a[href="/reviews/%s"]`, reviewID)); n != 2 {
			t.Errorf("the stock card links %d movements to the decision, want 2", n)
		}
		u.shot("stock-card")

		// The audit trail.
		u.open("/audit", "#audit-table")
		row := fmt.Sprintf(`#audit-table tr[data-review-id=%q]`, reviewID.String())
		if got := u.attr(row, "data-action"); got != "reassign_batch" {
			t.Errorf("audit row action %q", got)
		}
		if got := u.text(row + " td.by"); got != "Max Manager (max)" {
			t.Errorf("audit row decided by %q", got)
		}
		if got := u.text(row); !strings.Contains(got, note) {
			t.Errorf("audit row %q lacks the note", got)
		}
		if n := u.count("#audit-table tr[data-review-id]"); n != 1 {
			t.Errorf("the audit trail has %d decisions, want 1", n)
		}
		u.shot("audit")

		// The negative-stock review lays out the movements on the bin.
		u.open("/reviews?kind=negative_stock", "#review-table")
		u.clickLoad(`#review-table tr[data-kind="negative_stock"] a.review-link`, "#key-movements")
		if n := u.count("#key-movements tr[data-negative]"); n != 1 {
			t.Errorf("the negative-stock evidence marks %d rows negative, want 1", n)
		}
		if n := u.count("#key-movements tbody tr"); n != 3 {
			t.Errorf("the negative-stock evidence lists %d movements, want 3 (the receipt and both picks)", n)
		}
		u.shot("review-negative")

		// The unknown reference names what was scanned, without a link to
		// a stock card of an item that does not exist.
		for id, k := range wantKinds {
			if k != string(ledger.ReviewUnknownReference) {
				continue
			}
			u.open("/reviews/"+id, "#unknown-refs")
			if got := u.text("#unknown-refs"); !strings.Contains(got, "2000000000008") {
				t.Errorf("unknown references listed: %q", got)
			}
			if n := u.count(`.facts a[href^="/stock/item"]`); n != 0 {
				t.Errorf("the unknown reference's page links the unknown barcode to a stock card")
			}
			if got := u.attr("#review-ops tbody tr", "class"); got != "mark" {
				t.Errorf("the held receipt is not marked as the review's operation (class %q)", got)
			}
			u.shot("review-unknown")
		}
		t.Logf("%s: done in %v", kind, time.Since(start).Round(time.Millisecond))
	})
}

// handheldOp is the device's view of one of its operations.
func handheldOp(t *testing.T, dev *client.Client, opID uuid.UUID) client.OpView {
	t.Helper()
	ops, err := dev.Ops(context.Background(), client.OpsFilter{Problems: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ops {
		if v.Op.OpID == opID {
			return v
		}
	}
	t.Fatalf("operation %s is not in the device's problem list: %+v", opID, ops)
	return client.OpView{}
}

// browserBalances is the tenant's stock from the ledger API, by
// "location/sku/batch".
func browserBalances(t *testing.T, be *browserEnv) map[string]int64 {
	t.Helper()
	rows, err := be.l.Balances(be.ctx, be.tn.ID, ledger.BalanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Location+"/"+r.SKU+"/"+r.Batch] = r.OnHand
	}
	return out
}

// TestConsoleBrowserRevokeDevice: an admin revokes a handheld on the
// devices page, through the confirmation dialog; the device's next push is
// refused as unauthorized and its operation stays on it, while the other
// handheld syncs on.
func TestConsoleBrowserRevokeDevice(t *testing.T) {
	t.Parallel()
	be := setupBrowserEnv(t, "sqlite")
	a, b := be.handheld("handheld-a"), be.handheld("handheld-b")
	handheldRecord(t, a, client.OpInput{Kind: "receive", SKU: "WIDGET", Qty: 5, Location: "A1"})
	handheldSync(t, a)
	handheldSync(t, b)
	aID, bID := handheldID(t, a), handheldID(t, b)
	rowA, rowB := fmt.Sprintf(`#device-table tr[data-device-id=%q]`, aID), fmt.Sprintf(`#device-table tr[data-device-id=%q]`, bID)

	u := newConsoleUI(t, be.console)
	u.signIn(be.admin, "acme")
	u.open("/devices", "#device-table")
	if n := u.count("#device-table tr[data-device-id]"); n != 2 {
		t.Fatalf("the devices page lists %d handhelds, want 2", n)
	}
	if got := u.text(rowA); !strings.Contains(got, "handheld-a") || !strings.Contains(got, "browser-test-1.0") {
		t.Errorf("handheld-a's row %q", got)
	}
	if u.attr(rowA, "data-revoked") != "(none)" {
		t.Fatalf("handheld-a is shown revoked before anyone revoked it")
	}

	// Asked "are you sure?" and answered no, nothing happens.
	revokeA := fmt.Sprintf(`[data-revoke=%q]`, aID)
	u.accept.Store(false)
	u.do("click revoke, then cancel", chromedp.Click(chromedp.CSS(revokeA)))
	if msg := u.dialog(); !strings.Contains(msg, "Revoke handheld-a?") {
		t.Errorf("the confirmation asks %q", msg)
	}
	if d, err := be.l.Device(be.ctx, be.tn.ID, aID); err != nil || !d.RevokedAt.IsZero() {
		t.Fatalf("after the confirmation was cancelled, handheld-a: %+v, %v", d, err)
	}

	// Answered yes, the device is revoked.
	u.accept.Store(true)
	u.clickLoad(revokeA, rowA+"[data-revoked]")
	if msg := u.dialog(); !strings.Contains(msg, "Revoke handheld-a?") {
		t.Errorf("the confirmation asks %q", msg)
	}
	if got := u.text(".flash-ok"); !strings.Contains(got, `Device "handheld-a" is revoked`) {
		t.Errorf("flash after revoking: %q", got)
	}
	if got := u.text(rowA + " td:nth-child(8)"); !strings.HasPrefix(got, "revoked ") {
		t.Errorf("handheld-a's status %q, want revoked with the time", got)
	}
	if n := u.count(revokeA); n != 0 {
		t.Errorf("a revoked device still has a revoke button")
	}
	if u.attr(rowB, "data-revoked") != "(none)" || u.count(fmt.Sprintf(`[data-revoke=%q]`, bID)) != 1 {
		t.Errorf("handheld-b was touched by revoking handheld-a")
	}
	u.shot("devices")
	if d, err := be.l.Device(be.ctx, be.tn.ID, aID); err != nil || d.RevokedAt.IsZero() {
		t.Fatalf("handheld-a in the ledger after the browser revoked it: %+v, %v", d, err)
	}

	// Handheld A's next push is refused; its operation stays on it.
	handheldRecord(t, a, client.OpInput{Kind: "pick", SKU: "WIDGET", Qty: 1, Location: "A1", Order: "SO-9"})
	rep, err := a.Sync(context.Background(), client.SyncOptions{})
	if client.ErrorCode(err) != syncproto.CodeUnauthorized || rep.Pending != 1 || rep.Pushed != 0 {
		t.Fatalf("sync of the revoked handheld: %v, %+v; want unauthorized with the operation kept", err, rep)
	}
	if st, err := a.Status(context.Background()); err != nil || st.LastErrorCode != string(syncproto.CodeUnauthorized) || st.Pending != 1 {
		t.Errorf("handheld-a's status after the refusal: %+v, %v", st, err)
	}
	if ops, err := be.l.OpLog(be.ctx, be.tn.ID, ledger.OpLogFilter{DeviceID: aID}); err != nil || len(ops) != 1 {
		t.Errorf("handheld-a's op log after the refused push: %d entries, %v; want only the receipt from before", len(ops), err)
	}
	// The other handheld is not affected.
	handheldRecord(t, b, client.OpInput{Kind: "pick", SKU: "WIDGET", Qty: 1, Location: "A1", Order: "SO-10"})
	if rep := handheldSync(t, b); rep.Applied != 1 {
		t.Errorf("handheld-b's sync after the revocation: %+v", rep)
	}

	u.open("/devices", "#device-table")
	if u.attr(rowA, "data-revoked") == "(none)" {
		t.Errorf("after its refused push handheld-a is no longer shown revoked")
	}
	if got := u.text(rowA + " td:nth-child(5)"); got != "1" {
		t.Errorf("handheld-a's acked seq %q, want 1: the refused push was not merged", got)
	}
}

// TestConsoleBrowserCatalogUpload: a manager uploads an items CSV with a
// good row and a bad one through the file input; the page names the bad
// row's line and field, and nothing is written, not even the good row.
// The corrected file then writes both.
func TestConsoleBrowserCatalogUpload(t *testing.T) {
	t.Parallel()
	be := setupBrowserEnv(t, "sqlite")
	items := func() []string {
		t.Helper()
		var skus []string
		err := be.l.Store().Read(be.ctx, func(tx ledger.ReadTx) error {
			its, err := tx.ItemsBySKU(be.ctx, be.tn.ID, []string{"GLUE", "TAPE"})
			for _, it := range its {
				skus = append(skus, it.SKU)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(skus)
		return skus
	}
	csvFile := func(name, content string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	u := newConsoleUI(t, be.console)
	u.signIn(be.manager, "acme")
	u.open("/catalog", "#catalog-form")
	bad := csvFile("items.csv", "sku,name,unit,barcodes,batch_tracked\nGLUE,Glue 50 ml,pcs,4000001999994,no\nTAPE,Tape 19 mm,roll,,sometimes\n")
	u.do("choose the items file", chromedp.SetUploadFiles(chromedp.ID("file-items"), []string{bad}))
	u.clickLoad("#upload", "#row-errors")

	type rowErr struct {
		Section string `json:"section"`
		Row     string `json:"row"`
		Field   string `json:"field"`
		Text    string `json:"text"`
	}
	errs := uiEval[[]rowErr](u, `Array.from(document.querySelectorAll("#row-errors .row-error")).map(function (r) {
		return {section: r.dataset.section, row: r.dataset.row, field: r.dataset.field, text: r.innerText};
	})`)
	if len(errs) != 1 || errs[0].Section != "items" || errs[0].Row != "3" || errs[0].Field != "batch_tracked" {
		t.Fatalf("row errors %+v; want one, items line 3, batch_tracked", errs)
	}
	if !strings.Contains(errs[0].Text, "must be true or false") || !strings.Contains(errs[0].Text, "sometimes") {
		t.Errorf("the row error says %q", errs[0].Text)
	}
	if got := u.text("#catalog-errors h2"); !strings.Contains(got, "nothing was written") {
		t.Errorf("the errors' heading %q", got)
	}
	if n := u.count("#catalog-result"); n != 0 {
		t.Errorf("a refused upload shows a result")
	}
	if got := items(); len(got) != 0 {
		t.Errorf("a refused upload wrote items %v", got)
	}
	u.shot("catalog")

	// The same file with the row fixed writes both rows.
	good := csvFile("items-fixed.csv", "sku,name,unit,barcodes,batch_tracked\nGLUE,Glue 50 ml,pcs,4000001999994,no\nTAPE,Tape 19 mm,roll,,yes\n")
	u.do("choose the fixed items file", chromedp.SetUploadFiles(chromedp.ID("file-items"), []string{good}))
	u.clickLoad("#upload", "#catalog-result")
	if got := u.text(`#catalog-result li[data-section="items"]`); !strings.HasPrefix(got, "2 items") || !strings.Contains(got, "GLUE") || !strings.Contains(got, "TAPE") {
		t.Errorf("upload result %q", got)
	}
	if n := u.count(".row-error"); n != 0 {
		t.Errorf("a good upload shows %d row errors", n)
	}
	if got := items(); !slices.Equal(got, []string{"GLUE", "TAPE"}) {
		t.Errorf("after the good upload the ledger has items %v", got)
	}
	u.shot("catalog-written")
}
