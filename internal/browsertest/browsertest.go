// Package browsertest starts a headless Chromium for tests that drive
// stocksync's pages (the managers' console, the handheld's scanning app)
// with chromedp, and saves screenshots of what it shows.
//
// Tests find the browser at $STOCKSYNC_CHROMIUM or under the usual names
// (Debian's /usr/bin/chromium first). Without one they skip, saying how to
// install it, or fail when STOCKSYNC_REQUIRE_BROWSER=1, as .ci/run sets, so
// that browser tests cannot go quietly missing in CI.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"stocksync/internal/syncbuf"
)

// DefaultTimeout bounds everything a test does with its browser, from start
// to the last action, so that a stuck browser fails the test rather than
// hanging it until go test's own timeout.
const DefaultTimeout = 60 * time.Second

// EnvKeepScreenshots names a directory where Screenshot also keeps a copy
// of every screenshot, under the test's name: t.TempDir goes with the test.
const EnvKeepScreenshots = "STOCKSYNC_SCREENSHOTS"

// chromiumNames are where Find looks when $STOCKSYNC_CHROMIUM is not set:
// Debian's path first, then the names other distributions and Google's
// package install under.
var chromiumNames = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// ErrNoChromium is Find's answer when no browser is installed.
var ErrNoChromium = errors.New("no Chromium found")

// Find returns the browser to run: $STOCKSYNC_CHROMIUM when set (an error
// when it is not an executable), else the first of the usual names that is
// one, else ErrNoChromium.
func Find() (string, error) {
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
	return "", ErrNoChromium
}

// Options shape the browser Start launches. The zero value is a 1280 × 900
// window and DefaultTimeout.
type Options struct {
	Width, Height int
	Timeout       time.Duration
	// Flags are extra command-line options.
	Flags []chromedp.ExecAllocatorOption
	// Context are options of the tab's context, such as a listener.
	Context []chromedp.ContextOption
}

// Start launches a headless Chromium for the test and returns a chromedp
// context on its first tab, carrying the timeout as its deadline. The
// browser stops when the test ends; if the test failed, what Chromium
// printed is logged.
func Start(t *testing.T, o Options) context.Context {
	t.Helper()
	path, err := Find()
	switch {
	case errors.Is(err, ErrNoChromium) && os.Getenv("STOCKSYNC_REQUIRE_BROWSER") == "1":
		t.Fatalf("no Chromium found; .ci/run installs Debian's chromium (looked for $STOCKSYNC_CHROMIUM, %s)", strings.Join(chromiumNames, ", "))
	case errors.Is(err, ErrNoChromium):
		t.Skipf("no Chromium found: install it (Debian: apt-get install chromium) or point STOCKSYNC_CHROMIUM at one; looked for %s", strings.Join(chromiumNames, ", "))
	case err != nil:
		t.Fatal(err)
	}
	if o.Width == 0 || o.Height == 0 {
		o.Width, o.Height = 1280, 900
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if d, ok := t.Deadline(); ok {
		// Leave go test time to report, rather than be killed mid-test.
		timeout = min(timeout, time.Until(d)-5*time.Second)
	}

	output := &syncbuf.Buffer{}
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
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium-profile")),
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.CombinedOutput(output),
	)
	opts = append(opts, o.Flags...)

	// The deadline is on the allocator's parent, so it stops the browser
	// itself: every action after it fails at once instead of waiting.
	deadlineCtx, cancelDeadline := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(deadlineCtx, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, o.Context...)
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
			t.Logf("chromium output:\n%s", tail(output))
		}
	})

	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v\nchromium output:\n%s", path, err, tail(output))
	}
	t.Logf("chromium %s started in %v", path, time.Since(start).Round(time.Millisecond))
	return ctx
}

// Screenshot saves a PNG of the whole page the browser shows (beyond the
// window, down to the bottom of the page) as name.png in a directory inside
// t.TempDir, logs where, keeps a copy under $STOCKSYNC_SCREENSHOTS when set,
// and returns the path. Anything but letters, digits, '-', '_' and '.' in
// name becomes '_'.
func Screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := ScreenshotPath(t, name)
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	t.Logf("screenshot %s: %s", name, path)
	if keep := os.Getenv(EnvKeepScreenshots); keep != "" {
		dir := filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
		kept := filepath.Join(dir, filepath.Base(path))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(kept, img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s kept: %s", name, kept)
	}
	return path
}

// screenshotDirs holds each running test's screenshot directory.
var screenshotDirs sync.Map // *testing.T → string

// ScreenshotPath is where Screenshot saves the screenshot called name.
func ScreenshotPath(t *testing.T, name string) string {
	t.Helper()
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
	dir, ok := screenshotDirs.Load(t)
	if !ok {
		d := filepath.Join(t.TempDir(), "screenshots")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		screenshotDirs.Store(t, d)
		t.Cleanup(func() { screenshotDirs.Delete(t) })
		dir = d
	}
	return filepath.Join(dir.(string), clean+".png")
}

// tail returns the last 8 KB of what Chromium printed, without its
// complaints about the D-Bus that test machines and containers lack.
func tail(b *syncbuf.Buffer) string {
	out := b.String()
	var keep []string
	for line := range strings.Lines(out) {
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
