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
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"stocksync/internal/browsertest"
)

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
	ctx := browsertest.Start(t, browsertest.Options{Flags: []chromedp.ExecAllocatorOption{
		chromedp.Flag("host-resolver-rules", "MAP stocksync.test 127.0.0.1")}})
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
