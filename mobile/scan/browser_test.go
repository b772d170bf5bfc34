package scan_test

// The proof: a real server, a real device database, the scanning
// app, and a headless Chromium typing scans into it the way a keyboard-wedge
// scanner does.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"stocksync/client"
	"stocksync/internal/browsertest"
	"stocksync/ledger"
	"stocksync/mobile/scan"
)

// browserTimeout bounds everything one browser test does with its
// browser, so a stuck browser fails the test instead of hanging it.
const browserTimeout = 90 * time.Second

// newBrowser starts a headless Chromium with a 360 × 640 handheld screen
// (browsertest.Start: without a browser the test skips, or fails when
// STOCKSYNC_REQUIRE_BROWSER=1) and returns a chromedp context on its tab.
// Script errors and Content-Security-Policy violations on the page fail the
// test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	var mu sync.Mutex
	var pageErrors []string
	ctx := browsertest.Start(t, browsertest.Options{Width: 360, Height: 640, Timeout: browserTimeout,
		// The page beeps on every scan; there is no user gesture before
		// the first scan of a test.
		Flags: []chromedp.ExecAllocatorOption{chromedp.Flag("autoplay-policy", "no-user-gesture-required")},
		Context: []chromedp.ContextOption{chromedp.WithListener(func(ev any) {
			var msg string
			switch ev := ev.(type) {
			case *runtime.EventExceptionThrown:
				msg = fmt.Sprintf("exception: %s at %s:%d", exceptionText(ev.ExceptionDetails), ev.ExceptionDetails.URL, ev.ExceptionDetails.LineNumber)
			case *log.EventEntryAdded:
				// The API answers refusals (an undo of a count) with 4xx,
				// which Chromium logs as failed loads: they are expected.
				apiAnswer := ev.Entry.Source == log.EntrySourceNetwork && strings.Contains(ev.Entry.URL, "/api/")
				if ev.Entry.Level == log.EntryLevelError && !apiAnswer {
					msg = fmt.Sprintf("%s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
				}
			}
			if msg != "" {
				mu.Lock()
				pageErrors = append(pageErrors, msg)
				mu.Unlock()
			}
		})},
	})
	// Registered after Start's, so it runs before the browser closes.
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range pageErrors {
			t.Errorf("page error: %s", m)
		}
	})
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, log.Enable, cdp.Empty{})
		return err
	}), chromedp.EmulateViewport(360, 640)); err != nil {
		t.Fatalf("set up the page: %v", err)
	}
	return ctx
}

// page drives the app in the browser.
type page struct {
	t    *testing.T
	ctx  context.Context
	dir  string // screenshots
	shot int
}

func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.fail("%s: %v", what, err)
	}
}

// eval returns the string value of a JavaScript expression.
func (p *page) eval(js string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.fail("evaluate %s: %v", js, err)
	}
	return v
}

// fail saves a screenshot of what the page shows and fails the test.
func (p *page) fail(format string, args ...any) {
	p.t.Helper()
	msg := fmt.Sprintf(format, args...)
	if p.ctx.Err() == nil {
		if fb, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.getElementById("feedback").textContent`)); err == nil {
			msg += fmt.Sprintf("\nfeedback banner: %q", fb)
		}
		p.screenshot("failure")
	}
	p.t.Fatal(msg)
}

// waitFor polls a JavaScript predicate until it holds.
func (p *page) waitFor(what, js string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second),
		chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		p.fail("waiting for %s (%s): %v", what, js, err)
	}
}

// screenshot saves the whole page as a PNG.
func (p *page) screenshot(name string) {
	p.t.Helper()
	// A full-page capture draws the sticky status bar where the page is
	// scrolled to; from the top it is where a person sees it.
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		p.t.Errorf("scroll up: %v", err)
	}
	img, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p.shot++
	path := filepath.Join(p.dir, fmt.Sprintf("%02d-%s.png", p.shot, name))
	if err := os.WriteFile(path, img, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", path)
	// t.TempDir goes with the test; STOCKSYNC_SCREENSHOTS keeps a copy
	// to look at, as browsertest.Screenshot does.
	if keep := os.Getenv(browsertest.EnvKeepScreenshots); keep != "" {
		dir := filepath.Join(keep, strings.ReplaceAll(p.t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(dir, filepath.Base(path)), img, 0o644)
		}
	}
}

// feedback is what the banner says after an action.
type feedback struct{ tone, beep, text string }

func (p *page) feedbackCount() int {
	p.t.Helper()
	n, _ := strconv.Atoi(p.eval(`document.getElementById("feedback").dataset.count`))
	return n
}

// awaitFeedback waits until the banner changed after count and returns it.
func (p *page) awaitFeedback(what string, count int) feedback {
	p.t.Helper()
	p.waitFor(what, fmt.Sprintf(`Number(document.getElementById("feedback").dataset.count) > %d`, count))
	fb := feedback{
		tone: p.eval(`document.getElementById("feedback").dataset.tone`),
		beep: p.eval(`document.getElementById("feedback").dataset.beep || ""`),
		text: p.eval(`document.getElementById("feedback").textContent`),
	}
	p.t.Logf("%s → [%s] %s", what, fb.tone, fb.text)
	return fb
}

// scan types code into the scan field as a keyboard-wedge scanner does,
// each GS (FNC1) as Ctrl+], then Enter, and returns the feedback.
func (p *page) scan(code string) feedback {
	p.t.Helper()
	n := p.feedbackCount()
	parts := strings.Split(code, "\x1d")
	for i, part := range parts {
		if i > 0 {
			p.do("type GS", chromedp.KeyEvent("]", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
		}
		if part != "" {
			p.do("type "+part, chromedp.SendKeys(chromedp.ID("scan"), part))
		}
	}
	p.do("press Enter", chromedp.SendKeys(chromedp.ID("scan"), "\r"))
	return p.awaitFeedback(fmt.Sprintf("scan %q", code), n)
}

// enter presses Enter on the empty scan field: record the line.
func (p *page) enter() feedback {
	p.t.Helper()
	n := p.feedbackCount()
	p.do("press Enter", chromedp.SendKeys(chromedp.ID("scan"), "\r"))
	return p.awaitFeedback("Enter", n)
}

// click clicks the element with id and returns the feedback it gives.
func (p *page) click(id string) feedback {
	p.t.Helper()
	n := p.feedbackCount()
	p.do("click "+id, chromedp.Click(chromedp.ID(id)))
	return p.awaitFeedback("click "+id, n)
}

// open goes to a screen of the menu.
func (p *page) open(screen string) {
	p.t.Helper()
	if p.eval(`String(document.getElementById("screen-home").hidden)`) == "true" {
		p.do("back to the menu", chromedp.Click(chromedp.CSS(`section:not([hidden]) a.back`), chromedp.NodeVisible))
	}
	p.do("open "+screen, chromedp.Click(chromedp.ID("go-"+screen), chromedp.NodeVisible))
	if screen != "problems" {
		p.waitFor(screen+" screen, scan field focused", `document.activeElement && document.activeElement.id === "scan"`)
	}
}

func (p *page) want(fb feedback, tone string, texts ...string) {
	p.t.Helper()
	if fb.tone != tone {
		p.fail("feedback %q is %s, want %s", fb.text, fb.tone, tone)
	}
	if fb.beep != tone {
		p.fail("feedback %q beeped %q, want the %s tone", fb.text, fb.beep, tone)
	}
	for _, s := range texts {
		if !strings.Contains(fb.text, s) {
			p.fail("feedback %q lacks %q", fb.text, s)
		}
	}
}

// text returns an element's text.
func (p *page) text(id string) string {
	p.t.Helper()
	return p.eval(fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

// TestBrowserShift is the scanning app's proof: a headless Chromium
// enrolls the device with a code, records a shift by typing scans
// (GS1 strings in both forms among them), undoes one, loses the server,
// keeps recording, gets the server back and syncs, and sees the outcomes:
// a wrong-batch return flagged, and later the manager's decision.
func TestBrowserShift(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ctx := newBrowser(t)
	e := setup(t)
	e.otherDevice(shipL1...) // SO-1 shipped 2 boxes of BOLT batch L1
	c := openClient(t, "app")
	base := startApp(t, c, scan.Config{SyncInterval: time.Second})
	shots := filepath.Join(t.TempDir(), "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, ctx: ctx, dir: shots}

	// Enroll by typing the code a manager created.
	p.do("load the app", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("enroll-code")))
	p.do("fill in enrollment", chromedp.SendKeys(chromedp.ID("enroll-server"), e.url),
		chromedp.SendKeys(chromedp.ID("enroll-code"), e.code()), chromedp.SendKeys(chromedp.ID("enroll-name"), "Handheld 7"))
	p.screenshot("enroll")
	fb := p.click("enroll-go")
	p.want(fb, "success", `Enrolled as "Handheld 7" in warehouse W1`)
	p.waitFor("the menu, online", `!document.getElementById("screen-home").hidden && document.getElementById("conn").dataset.conn === "online"`)
	p.screenshot("home")

	// Receive: the bin, then GS1 labels. The same label twice is 2 boxes.
	p.open("receive")
	p.want(p.scan("A1"), "success", "Location A1")
	p.want(p.scan("(01)"+boltGTIN+"(10)L1(17)271231"), "success", "BOLT", "batch L1", "exp 2027-12-31")
	p.want(p.scan("(01)"+boltGTIN+"(10)L1(17)271231"), "success", "qty 2")
	if v := p.eval(`document.getElementById("qty").value`); v != "2" {
		p.fail("qty %s after two scans of the same label, want 2", v)
	}
	p.want(p.enter(), "success", "Recorded receive #1: 2 × BOLT (batch L1) at A1")
	// A GS1 DataMatrix as the scanner sends it: symbology identifier, the
	// batch ended by GS (typed as Ctrl+]), the expiry after it.
	p.want(p.scan("]d2"+"01"+boltGTIN+"10L2\x1d"+"17280600"), "success", "batch L2", "exp 2028-06-30")
	if v := p.eval(`document.getElementById("line-batch").value + " " + document.getElementById("line-expiry").value`); v != "L2 2028-06-30" {
		p.fail("line batch and expiry %q, want L2 2028-06-30", v)
	}
	p.screenshot("receive-line")
	// A plain EAN-13 of another item records the BOLT line first.
	p.want(p.scan(widgetEAN), "success", "Recorded receive #2: 1 × BOLT (batch L2) at A1", "Now: WIDGET")
	p.want(p.scan(widgetEAN), "success", "qty 2")
	p.want(p.enter(), "success", "Recorded receive #3: 2 × WIDGET at A1")
	p.waitFor("three receives listed", `document.querySelectorAll("#recent .op").length === 3`)
	p.screenshot("receive")

	// Pick on an order.
	p.open("pick")
	p.want(p.scan("SO-1"), "success", "Order SO-1")
	p.want(p.scan("A1"), "success", "Location A1")
	p.want(p.scan("(01)"+boltGTIN+"(10)L1"), "success", "BOLT", "batch L1")
	p.want(p.enter(), "success", "Recorded pick #4: 1 × BOLT (batch L1) at A1 on order SO-1")
	p.screenshot("pick")

	// Transfer, then undo it: a transfer back is recorded, nothing deleted.
	p.open("transfer")
	p.want(p.scan("A1"), "success", "Location A1")
	p.want(p.scan("A2"), "success", "To location A2")
	p.want(p.scan(widgetEAN), "success", "WIDGET")
	p.want(p.enter(), "success", "Recorded transfer #5: 1 × WIDGET at A1 → A2")
	p.want(p.click("undo"), "success", "Undone transfer #5", "recorded transfer #6: 1 × WIDGET at A2 → A1", "Nothing was deleted")
	p.waitFor("the reversal listed", `[...document.querySelectorAll("#recent .op")].some(li => li.textContent.includes("undo of #5")) &&
		[...document.querySelectorAll("#recent .op")].some(li => li.dataset.reversed === "true" && li.textContent.includes("undone by #6"))`)
	p.screenshot("transfer-undone")

	// Count: counted by scanning each box; a count cannot be undone.
	p.open("count")
	p.want(p.scan("RET"), "success", "Location RET")
	p.want(p.scan(widgetEAN), "success", "WIDGET")
	p.do("set the counted quantity", chromedp.SetValue(chromedp.ID("qty"), "0"))
	p.want(p.enter(), "success", "Recorded count #7: WIDGET counted 0 at RET")
	p.want(p.click("undo"), "warning", "A count cannot be undone", "count again")
	p.screenshot("count-undo-refused")

	// The server goes away once the background sync has sent everything;
	// the handheld keeps working.
	p.waitFor("everything sent", `document.getElementById("conn").dataset.conn === "online" &&
		document.getElementById("backlog").dataset.pending === "0"`)
	e.stop()
	p.open("receive")
	// The screen kept its location; scanning the bin again confirms it.
	p.want(p.scan("A1"), "success", "Location A1")
	p.want(p.scan(widgetEAN), "success", "WIDGET")
	p.want(p.enter(), "success", "Recorded receive #8")
	p.waitFor("offline", `document.getElementById("conn").dataset.conn === "offline"`)
	p.want(p.scan(widgetEAN), "success", "WIDGET")
	p.want(p.enter(), "success", "Recorded receive #9")

	// A return of batch L2 on SO-1, which shipped only L1.
	p.open("return")
	p.want(p.scan("SO-1"), "success", "Order SO-1")
	p.waitFor("what the device knows of SO-1", `document.getElementById("order-info").textContent.includes("Picked from this device") &&
		document.getElementById("order-info").textContent.includes("Other devices may have picked more")`)
	p.want(p.scan("RET"), "success", "Location RET")
	p.want(p.scan("(01)"+boltGTIN+"(10)L2"), "success", "BOLT", "batch L2")
	p.want(p.enter(), "success", "Recorded return #10: 1 × BOLT (batch L2) at RET on order SO-1")
	p.waitFor("offline with 3 pending", `document.getElementById("conn").dataset.conn === "offline" &&
		document.getElementById("backlog").dataset.pending === "3"`)
	if s := p.text("backlog"); !strings.Contains(s, "Pending 3 · oldest") {
		p.fail("status bar says %q, want the pending count and the oldest unsent age", s)
	}
	p.screenshot("offline-return")

	// The server is back: sync now, and see the outcomes.
	e.start()
	fb = p.click("sync-now")
	if fb.tone == "error" {
		// The background loop may have been mid-attempt; the next one
		// gets through.
		fb = p.click("sync-now")
	}
	p.waitFor("online, nothing pending", `document.getElementById("conn").dataset.conn === "online" &&
		document.getElementById("backlog").dataset.pending === "0"`)
	p.open("problems")
	p.waitFor("the flagged return", `[...document.querySelectorAll("#problems .op")].some(li =>
		li.dataset.state === "flagged" && li.textContent.includes("wrong batch return") && li.textContent.includes("waiting for a manager"))`)
	p.screenshot("problems-flagged")

	// A manager reassigns the return to the shipped batch; the handheld
	// hears of it at its next sync.
	bg := context.Background()
	reviews, err := e.l.Reviews(bg, e.tenant.ID, ledger.ReviewFilter{Kind: ledger.ReviewWrongBatchReturn, Status: ledger.ReviewOpen})
	if err != nil || len(reviews) != 1 {
		t.Fatalf("open wrong-batch reviews: %v %+v", err, reviews)
	}
	if _, err := e.l.ResolveReview(bg, e.tenant.ID, reviews[0].ID, ledger.Resolution{Action: ledger.ActionReassignBatch, Batch: "L1",
		By: "maria", Note: "the box says L1; L2 was a misprint"}); err != nil {
		t.Fatal(err)
	}
	p.want(p.click("sync-now"), "success", "Synced")
	p.waitFor("the manager's decision", `[...document.querySelectorAll("#problems .op")].some(li =>
		li.textContent.includes("Manager's decision on wrong batch return: reassign batch by maria") && li.textContent.includes("L2 was a misprint"))`)
	p.screenshot("problems-decided")

	// The ledger has every operation exactly once.
	entries, err := e.l.OpLog(bg, e.tenant.ID, ledger.OpLogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(shipL1)+10 {
		t.Errorf("op log holds %d operations, want %d", len(entries), len(shipL1)+10)
	}
	st, err := c.Status(bg)
	if err != nil || st.Pending != 0 || st.LastSeq != 10 {
		t.Errorf("device status %+v, %v", st, err)
	}
	if d, err := e.l.Check(bg, e.tenant.ID); err != nil || len(d) > 0 {
		t.Errorf("check: %v %+v", err, d)
	}
	ops, _ := c.Ops(bg, client.OpsFilter{Problems: true})
	t.Logf("problems on the device: %d; the shift took %v in the browser", len(ops), time.Since(start).Round(time.Millisecond))
}

// exceptionText is the message of a script exception.
func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return d.Text
}
