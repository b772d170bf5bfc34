package browsertest_test

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stocksync/internal/browsertest"
)

// harnessPage has a button whose click changes a paragraph's text, and
// enough height to check that screenshots take the whole page.
const harnessPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>harness</title></head>
<body style="margin:0;font-family:sans-serif">
<p id="status">waiting</p>
<button id="go" type="button">Go</button>
<div style="height:1500px;background:linear-gradient(#fff,#2563eb)"></div>
<script>
document.getElementById("go").addEventListener("click", function () {
	document.getElementById("status").textContent = "clicked";
});
</script>
</body></html>`

func TestBrowserHarness(t *testing.T) {
	t.Parallel()
	ctx := browsertest.Start(t, browsertest.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, harnessPage)
	}))
	t.Cleanup(srv.Close)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.ID("go"))); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status"))); err != nil || got != "waiting" {
		t.Fatalf("status before the click: %q, %v", got, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("go"))); err != nil {
		t.Fatalf("click: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").textContent === "clicked"`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("status after the click: %q (%v)", got, err)
	}

	path := browsertest.Screenshot(t, ctx, "harness")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		t.Fatalf("%s is empty", path)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	// 1280 wide like the window, and the whole 1500px page tall.
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() < 1500 {
		t.Errorf("screenshot is %dx%d, want 1280 wide and at least 1500 tall", b.Dx(), b.Dy())
	}
}
