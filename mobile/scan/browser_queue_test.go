package scan_test

// Browser tests of the page under slow answers: scans typed while a
// request is in flight, a scanner firing into the quantity field, and Undo
// with a line not recorded yet.

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stocksync/client"
	"stocksync/mobile/scan"
)

// delays slows chosen API paths down, as a busy device would.
type delays struct {
	mu sync.Mutex
	by map[string]time.Duration
}

func (d *delays) set(path string, dur time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.by == nil {
		d.by = map[string]time.Duration{}
	}
	d.by[path] = dur
}

func (d *delays) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		dur := d.by[r.URL.Path]
		d.mu.Unlock()
		if dur > 0 {
			time.Sleep(dur)
		}
		h.ServeHTTP(w, r)
	})
}

// startDelayedApp serves the app over c behind d, without background
// syncs, and returns its base URL.
func startDelayedApp(t *testing.T, c *client.Client, d *delays) string {
	t.Helper()
	app, err := scan.New(scan.Config{Client: c, SyncInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.wrap(app), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// enrolledPage enrolls a device, serves the app over it behind d and loads
// the page on its menu.
func enrolledPage(t *testing.T) (*page, *client.Client, *delays) {
	t.Helper()
	ctx := newBrowser(t)
	e := setup(t)
	c := openClient(t, "app")
	if _, err := c.Enroll(context.Background(), e.url, e.code(), "Handheld 9"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(context.Background(), client.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	d := &delays{}
	base := startDelayedApp(t, c, d)
	shots := filepath.Join(t.TempDir(), "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, ctx: ctx, dir: shots}
	p.do("load the app", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("go-receive")))
	return p, c, d
}

// typeScan types code and Enter into the scan field without waiting for
// an answer, as a scanner does.
func (p *page) typeScan(code string) {
	p.t.Helper()
	p.do("type "+code, chromedp.SendKeys(chromedp.ID("scan"), code+"\r"))
}

// awaitFeedbacks waits until n more outcomes beeped after count.
func (p *page) awaitFeedbacks(what string, count, n int) feedback {
	p.t.Helper()
	return p.awaitFeedback(what, count+n-1)
}

// received sums the device's receives of sku, and counts them.
func received(t *testing.T, c *client.Client, sku string) (n int, qty int64) {
	t.Helper()
	ops, err := c.Ops(context.Background(), client.OpsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ops {
		if v.Op.Kind == "receive" && v.Op.SKU == sku {
			n++
			qty += v.Op.Qty
		}
	}
	return n, qty
}

func (p *page) wantReceived(c *client.Client, sku string, n int, qty int64) {
	p.t.Helper()
	if gn, gq := received(p.t, c, sku); gn != n || gq != qty {
		p.fail("device holds %d receives of %s, %d in all; want %d, %d in all", gn, sku, gq, n, qty)
	}
}

// TestBrowserScanWhileBusy: scans typed while the app answers slowly are
// each taken once, in order.
func TestBrowserScanWhileBusy(t *testing.T) {
	t.Parallel()
	p, c, d := enrolledPage(t)
	p.open("receive")
	p.want(p.scan("A1"), "success", "Location A1")
	p.want(p.scan(widgetEAN), "success", "WIDGET")

	// The same item scanned while the line is being recorded: a new line.
	d.set("/api/record", 800*time.Millisecond)
	n := p.feedbackCount()
	p.do("press Enter", chromedp.SendKeys(chromedp.ID("scan"), "\r"))
	p.typeScan(widgetEAN)
	p.awaitFeedbacks("the record and the scan after it", n, 2)
	p.want(p.enter(), "success", "Recorded receive #2: 1 × WIDGET")
	p.wantReceived(c, "WIDGET", 2, 2)

	// Another item scanned while the line is being recorded: the line is
	// recorded once.
	p.want(p.scan(widgetEAN), "success", "WIDGET")
	n = p.feedbackCount()
	p.do("press Enter", chromedp.SendKeys(chromedp.ID("scan"), "\r"))
	p.typeScan("(01)" + boltGTIN + "(10)L1(17)271231")
	fb := p.awaitFeedbacks("the record and the label after it", n, 2)
	p.want(fb, "success", "BOLT")
	p.wantReceived(c, "WIDGET", 3, 3)
	d.set("/api/record", 0)
	p.want(p.enter(), "success", "Recorded receive #4: 1 × BOLT")

	// Two scans typed while the first is looked up: both are taken, and
	// the field is empty for the next one.
	d.set("/api/scan", 600*time.Millisecond)
	n = p.feedbackCount()
	p.typeScan(widgetEAN)
	p.typeScan(widgetEAN)
	fb = p.awaitFeedbacks("two scans", n, 2)
	p.want(fb, "success", "WIDGET: qty 2")
	if v := p.eval(`document.getElementById("scan").value`); v != "" {
		p.fail("scan field holds %q after the scans were taken", v)
	}
	d.set("/api/scan", 0)
	p.want(p.enter(), "success", "Recorded receive #5: 2 × WIDGET")
	p.wantReceived(c, "WIDGET", 4, 5)
}

// TestBrowserScanIntoQty: a scanner firing into the quantity field is a
// scan, not a quantity; a very large quantity asks for confirmation.
func TestBrowserScanIntoQty(t *testing.T) {
	t.Parallel()
	p, c, _ := enrolledPage(t)
	p.open("receive")
	p.want(p.scan("A1"), "success", "Location A1")
	p.want(p.scan(widgetEAN), "success", "WIDGET")
	n := p.feedbackCount()
	// A scanner's keys come microseconds apart; keys sent through the
	// DevTools protocol come as far apart as a loaded machine makes them, so
	// the burst is dispatched in one go, and the test does not depend on
	// the machine's speed.
	p.do("scan into the qty field", chromedp.Evaluate[chromedp.Void](`(() => {
		const el = document.getElementById("qty");
		el.focus();
		for (const key of [..."`+widgetEAN+`", "Enter"]) {
			el.dispatchEvent(new KeyboardEvent("keydown", {key, bubbles: true, cancelable: true}));
		}
	})()`))
	p.want(p.awaitFeedback("the scan in the qty field", n), "success", "WIDGET: qty 2")
	if v := p.eval(`document.getElementById("qty").value`); v != "2" {
		p.fail("qty %s after a scan landed in it, want 2", v)
	}
	p.wantReceived(c, "WIDGET", 0, 0)

	// Enter typed by hand in the qty field records nothing.
	p.do("type a qty", chromedp.SetValue(chromedp.ID("qty"), "3"), chromedp.Focus(chromedp.ID("qty")))
	time.Sleep(100 * time.Millisecond)
	p.do("press Enter in qty", chromedp.SendKeys(chromedp.ID("qty"), "\r"))
	p.waitFor("the scan field focused", `document.activeElement && document.activeElement.id === "scan"`)
	p.wantReceived(c, "WIDGET", 0, 0)

	// A quantity beyond 9,999 needs a second Record.
	p.do("set a huge qty", chromedp.SetValue(chromedp.ID("qty"), "4000001"))
	p.want(p.click("record"), "warning", "unusually large")
	p.wantReceived(c, "WIDGET", 0, 0)
	p.want(p.click("record"), "success", "Recorded receive #1: 4000001 × WIDGET")
}

// TestBrowserUndoPendingLine: Undo with a line not recorded takes back its
// last scan, never an operation recorded before.
func TestBrowserUndoPendingLine(t *testing.T) {
	t.Parallel()
	p, c, _ := enrolledPage(t)
	p.open("receive")
	p.want(p.scan("A1"), "success", "Location A1")
	p.want(p.scan(widgetEAN), "success", "WIDGET")
	p.want(p.enter(), "success", "Recorded receive #1: 1 × WIDGET")
	p.want(p.scan(widgetEAN), "success", "WIDGET")
	p.want(p.scan(widgetEAN), "success", "qty 2")
	p.want(p.click("undo"), "success", "Took back the last scan", "qty 1")
	if v := p.eval(`document.getElementById("qty").value`); v != "1" {
		p.fail("qty %s after taking back a scan, want 1", v)
	}
	p.want(p.click("undo"), "success", "line is cleared")
	if v := p.eval(`String(document.getElementById("line").hidden)`); v != "true" {
		p.fail("the line is still shown after its only scan was taken back")
	}
	ops, err := c.Ops(context.Background(), client.OpsFilter{})
	if err != nil || len(ops) != 1 {
		p.fail("device holds %d operations (%v), want the receive alone", len(ops), err)
	}
	p.want(p.click("undo"), "success", "Undone receive #1")
}
