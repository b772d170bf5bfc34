// Browser tests drive a real headless Chromium with chromedp against pages
// served on loopback. newBrowser finds and starts the browser, screenshot
// saves what it shows; the console's tests build on both.
//
// Secure cookies over plain http, measured with Debian's Chromium 156 by
// TestSecureCookieOnLocalhost (Set-Cookie: s=1; Secure; HttpOnly;
// SameSite=Strict, then a second page that reports whether s came back):
//
//   - http://localhost:PORT: accepted, and sent back.
//   - http://127.0.0.1:PORT: accepted, and sent back.
//   - http://stocksync.test:PORT, mapped to 127.0.0.1 with
//     --host-resolver-rules (the control): refused, while a cookie without
//     Secure set by the same response is kept.
//
// Chromium counts localhost and loopback addresses as secure contexts
// ("potentially trustworthy" origins), and lets them set and receive Secure
// cookies without TLS. Any other host over plain http cannot: a console
// reached as http://<LAN address>:PORT on a closed network gets no Secure
// session cookie, so it needs TLS there (or no Secure attribute).

package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserTimeout bounds everything a browser test does with its browser,
// from start to the last action, so that a stuck browser fails the test
// rather than hanging it until go test's own timeout.
const browserTimeout = 60 * time.Second

// chromiumNames are where newBrowser looks for a browser when
// $STOCKSYNC_CHROMIUM is not set: Debian's path first, then the names
// other distributions and Google's package install under.
var chromiumNames = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// errNoChromium is findChromium's answer when no candidate exists.
var errNoChromium = errors.New("no Chromium found")

// findChromium returns the browser to run: $STOCKSYNC_CHROMIUM when set
// (an error when it is not an executable), else the first of chromiumNames
// that is one.
func findChromium() (string, error) {
	if p := os.Getenv("STOCKSYNC_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("STOCKSYNC_CHROMIUM=%s: %w", p, err)
		}
		return path, nil
	}
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", errNoChromium
}

// newBrowser starts a headless Chromium for the test and returns a chromedp
// context on its first tab, which carries the test's browserTimeout as its
// deadline. Without a browser, the test skips, or fails when
// STOCKSYNC_REQUIRE_BROWSER=1 (as in CI, so browser tests cannot go quietly
// missing). The browser stops when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserWith(t)
}

// newBrowserWith is newBrowser with extra command-line options.
func newBrowserWith(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := findChromium()
	switch {
	case errors.Is(err, errNoChromium) && os.Getenv("STOCKSYNC_REQUIRE_BROWSER") == "1":
		t.Fatalf("no Chromium found; .ci/run installs Debian's chromium (looked for $STOCKSYNC_CHROMIUM, %s)", strings.Join(chromiumNames, ", "))
	case errors.Is(err, errNoChromium):
		t.Skipf("no Chromium found: install it (Debian: apt-get install chromium) or point STOCKSYNC_CHROMIUM at one; looked for %s", strings.Join(chromiumNames, ", "))
	case err != nil:
		t.Fatal(err)
	}

	timeout := browserTimeout
	if d, ok := t.Deadline(); ok {
		// Leave go test time to report, rather than be killed mid-test.
		timeout = min(timeout, time.Until(d)-5*time.Second)
	}
	dataDir := filepath.Join(t.TempDir(), "chromium-profile")
	output := &syncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // tests and CI run as root
		chromedp.Flag("disable-gpu", true),
		// The machines that run these tests have no route out: Chromium's
		// own requests (QUIC probes, component and sync updates, field
		// trials) would stall on refused connections.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(output),
	)
	opts = append(opts, extra...)

	// The deadline is on the allocator's parent, so it stops the browser
	// itself: every action after it fails at once instead of waiting.
	deadlineCtx, cancelDeadline := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(deadlineCtx, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close gracefully, so Chromium is done with its profile before
		// t.TempDir's cleanup removes it; then make sure.
		closeCtx, cancelClose := context.WithTimeout(ctx, 10*time.Second)
		if err := chromedp.Cancel(closeCtx); err != nil && ctx.Err() == nil {
			t.Logf("closing chromium: %v", err)
		}
		cancelClose()
		cancelCtx()
		cancelAlloc()
		cancelDeadline()
		if t.Failed() {
			t.Logf("chromium output:\n%s", chromiumOutput(output))
		}
	})

	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v\nchromium output:\n%s", path, err, chromiumOutput(output))
	}
	t.Logf("chromium %s started in %v", path, time.Since(start).Round(time.Millisecond))
	return ctx
}

// chromiumOutput returns the last 8 KB of what Chromium printed, without
// its complaints about the D-Bus that test machines and containers lack.
func chromiumOutput(b *syncBuffer) string {
	var keep []string
	for line := range strings.Lines(b.String()) {
		if !strings.Contains(line, ":ERROR:dbus/") {
			keep = append(keep, line)
		}
	}
	s := strings.Join(keep, "")
	if n := 8 << 10; len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// screenshotDirs holds each running test's screenshot directory.
var screenshotDirs sync.Map // *testing.T → string

// screenshotDir returns the directory, inside the test's t.TempDir, that
// screenshot saves to.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d, ok := screenshotDirs.Load(t); ok {
		return d.(string)
	}
	d := filepath.Join(t.TempDir(), "screenshots")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	screenshotDirs.Store(t, d)
	t.Cleanup(func() { screenshotDirs.Delete(t) })
	return d
}

// screenshotPath is where screenshot saves the screenshot called name:
// name with anything but letters, digits, '-', '_' and '.' replaced by '_',
// and ".png".
func screenshotPath(t *testing.T, name string) string {
	t.Helper()
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
	return filepath.Join(screenshotDir(t), clean+".png")
}

// screenshot saves a PNG of the whole page the browser shows (beyond the
// window, down to the bottom of the page) at screenshotPath(t, name), and
// logs where.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := screenshotPath(t, name)
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	t.Logf("screenshot %s: %s", name, path)
}

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
	ctx := newBrowser(t)
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

	screenshot(t, ctx, "harness")
	path := screenshotPath(t, "harness")
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

// cookieServer sets a Secure cookie and a plain one at /set, and answers at
// /echo which of them came back.
func cookieServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/set":
			w.Header().Add("Set-Cookie", "s=1; Secure; HttpOnly; SameSite=Strict")
			w.Header().Add("Set-Cookie", "p=1; HttpOnly; SameSite=Strict")
			fmt.Fprint(w, `<!doctype html><title>set</title><p id="done">set</p>`)
		case "/echo":
			back := func(name string) string {
				if c, err := r.Cookie(name); err == nil && c.Value == "1" {
					return "yes"
				}
				return "no"
			}
			fmt.Fprintf(w, `<!doctype html><title>echo</title><p id="secure">%s</p><p id="plain">%s</p>`, back("s"), back("p"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// cookiesKept reports whether the browser, sent a Secure and a plain
// cookie by http://host:port/set, sends each back to http://host:port/echo.
func cookiesKept(t *testing.T, ctx context.Context, host, port string) (secure, plain bool) {
	t.Helper()
	base := "http://" + host + ":" + port
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/set"), chromedp.WaitReady(chromedp.ID("done"))); err != nil {
		t.Fatalf("%s/set: %v", base, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/echo")); err != nil {
		t.Fatalf("%s/echo: %v", base, err)
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("secure")))
	if err != nil {
		t.Fatalf("%s/echo: %v", base, err)
	}
	p, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("plain")))
	if err != nil {
		t.Fatalf("%s/echo: %v", base, err)
	}
	return s == "yes", p == "yes"
}

// TestSecureCookieOnLocalhost checks what the console relies on: served
// over plain http on localhost (a development server, a test, or a closed
// network reached through an SSH tunnel), its Secure session cookie still
// works. The findings are at the top of this file.
func TestSecureCookieOnLocalhost(t *testing.T) {
	t.Parallel()
	// stocksync.test is the control: a name that is not loopback, where a
	// Secure cookie over http must be refused, or the test could not tell
	// kept from refused.
	ctx := newBrowserWith(t, chromedp.Flag("host-resolver-rules", "MAP stocksync.test 127.0.0.1"))
	srv := cookieServer(t)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatalf("server URL %s has no port", srv.URL)
	}

	if secure, plain := cookiesKept(t, ctx, "localhost", port); !secure || !plain {
		t.Errorf("http://localhost:%s: Secure cookie kept %v, plain cookie kept %v; want both: the console's session cookie relies on it", port, secure, plain)
	}
	secure, plain := cookiesKept(t, ctx, "127.0.0.1", port)
	t.Logf("http://127.0.0.1:%s: Secure cookie kept %v, plain cookie kept %v", port, secure, plain)
	if secure, plain := cookiesKept(t, ctx, "stocksync.test", port); secure || !plain {
		t.Errorf("control http://stocksync.test:%s: Secure cookie kept %v (want false), plain cookie kept %v (want true)", port, secure, plain)
	}
}
