package server_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"stocksync/ledger"
	"stocksync/server"
)

// The console's tests drive the real server over HTTP with a cookie jar,
// the way a browser without JavaScript would: every form is posted as the
// page built it. Browser tests (server/browser_test.go) cover the script.

// consolePassword is every test user's password.
const consolePassword = "correct horse battery"

// consoleEnv is a running server with a tenant, a user of each role and a
// clock the test can move forward.
type consoleEnv struct {
	*env
	tn                    *tenant
	admin, manager, staff ledger.User
	offset                *atomic.Int64 // added to the server's clock
}

// setupConsole starts a server whose cookies work over plain HTTP (the
// test's server is http://127.0.0.1) with one tenant and its users.
func setupConsole(t *testing.T, kind string, opts ...options) *consoleEnv {
	t.Helper()
	offset := &atomic.Int64{}
	opts = append([]options{func(c *server.Config) {
		c.InsecureCookies = true
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	}}, opts...)
	e := setup(t, kind, opts...)
	ce := &consoleEnv{env: e, tn: e.newTenant("alpha"), offset: offset}
	for _, u := range []struct {
		dst   *ledger.User
		login string
		name  string
		role  ledger.Role
	}{{&ce.admin, "ada", "Ada Admin", ledger.RoleAdmin}, {&ce.manager, "max", "Max Manager", ledger.RoleManager},
		{&ce.staff, "sam", "Sam Staff", ledger.RoleStaff}} {
		created, err := e.l.CreateUser(e.ctx, ce.tn.ID, ledger.UserInput{Login: u.login, Name: u.name, Role: u.role, Password: consolePassword})
		if err != nil {
			t.Fatalf("create user %s: %v", u.login, err)
		}
		*u.dst = created
	}
	return ce
}

// browser is one person's HTTP client with its cookies. It does not follow
// redirects, so tests see each 303.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string // the last CSRF token a page carried
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{t: e.t, e: e, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer with its HTML parsed.
type page struct {
	t      *testing.T
	status int
	header http.Header
	body   string
	doc    *html.Node
}

func (b *browser) do(r *http.Request) *page {
	b.t.Helper()
	res, err := b.c.Do(r)
	if err != nil {
		b.t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := &page{t: b.t, status: res.StatusCode, header: res.Header, body: string(body)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(bytes.NewReader(body)); err != nil {
			b.t.Fatalf("%s %s: parse HTML: %v", r.Method, r.URL, err)
		}
		if tok := p.attrOf(`input[name=csrf]`, "value"); tok != "" && !strings.HasPrefix(r.URL.Path, "/login") {
			b.csrf = tok
		}
	}
	return p
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	r, err := http.NewRequestWithContext(b.e.ctx, http.MethodGet, b.e.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	r.Header.Set("Accept", "text/html")
	return b.do(r)
}

// post sends a form from this server's own page: with its Origin, and with
// the CSRF token of the last page unless the form has one.
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	return b.postRaw(path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), map[string]string{"Origin": b.e.base})
}

func (b *browser) postRaw(path, ctype string, body io.Reader, headers map[string]string) *page {
	b.t.Helper()
	r, err := http.NewRequestWithContext(b.e.ctx, http.MethodPost, b.e.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	r.Header.Set("Content-Type", ctype)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return b.do(r)
}

// postFiles posts a multipart form with files (field -> content).
func (b *browser) postFiles(path string, files map[string]string) *page {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", b.csrf)
	for field, content := range files {
		w, err := mw.CreateFormFile(field, field+".csv")
		if err != nil {
			b.t.Fatal(err)
		}
		_, _ = w.Write([]byte(content))
	}
	_ = mw.Close()
	return b.postRaw(path, mw.FormDataContentType(), &buf, map[string]string{"Origin": b.e.base})
}

// signIn signs in through the form and fails the test unless it works.
func (b *browser) signIn(login, password string) {
	b.t.Helper()
	p := b.get("/login")
	p.want(200)
	form := url.Values{"csrf": {p.attrOf("input[name=csrf]", "value")}, "workspace": {p.attrOf("#workspace", "value")},
		"login": {login}, "password": {password}, "next": {p.attrOf("input[name=next]", "value")}}
	r := b.postRaw("/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), map[string]string{"Origin": b.e.base})
	r.wantRedirect("/reviews")
	b.get("/reviews").want(200)
}

func (p *page) want(status int) *page {
	p.t.Helper()
	if p.status != status {
		p.t.Fatalf("status %d, want %d; body:\n%s", p.status, status, p.body)
	}
	return p
}

func (p *page) wantRedirect(prefix string) *page {
	p.t.Helper()
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), prefix) {
		p.t.Fatalf("status %d to %q, want 303 to %s; body:\n%s", p.status, p.header.Get("Location"), prefix, p.body)
	}
	return p
}

// wantText fails unless the page's text contains s.
func (p *page) wantText(s string) *page {
	p.t.Helper()
	if !strings.Contains(p.text(p.doc), s) {
		p.t.Fatalf("page does not say %q; body:\n%s", s, p.body)
	}
	return p
}

// selector is a tiny subset of CSS: "tag", "#id", ".class", "[attr]",
// "[attr=value]" and their combination in one compound ("input[name=x]",
// "tr.row-error"), without descendant combinators.
type selector struct {
	tag, id, class string
	attrs          map[string]*string
}

func parseSelector(s string) selector {
	sel := selector{attrs: map[string]*string{}}
	for s != "" {
		switch s[0] {
		case '#', '.':
			end := strings.IndexAny(s[1:], "#.[")
			if end < 0 {
				end = len(s) - 1
			}
			if s[0] == '#' {
				sel.id = s[1 : end+1]
			} else {
				sel.class = s[1 : end+1]
			}
			s = s[end+1:]
		case '[':
			end := strings.IndexByte(s, ']')
			name, value, hasValue := strings.Cut(s[1:end], "=")
			if hasValue {
				v := strings.Trim(value, `"'`)
				sel.attrs[name] = &v
			} else {
				sel.attrs[name] = nil
			}
			s = s[end+1:]
		default:
			end := strings.IndexAny(s, "#.[")
			if end < 0 {
				end = len(s)
			}
			sel.tag, s = s[:end], s[end:]
		}
	}
	return sel
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func (sel selector) match(n *html.Node) bool {
	if n.Type != html.ElementNode || (sel.tag != "" && n.Data != sel.tag) {
		return false
	}
	if sel.id != "" {
		if v, _ := attr(n, "id"); v != sel.id {
			return false
		}
	}
	if sel.class != "" {
		v, _ := attr(n, "class")
		if !strings.Contains(" "+v+" ", " "+sel.class+" ") {
			return false
		}
	}
	for name, want := range sel.attrs {
		v, ok := attr(n, name)
		if !ok || (want != nil && v != *want) {
			return false
		}
	}
	return true
}

// all returns the elements matching the selector, in document order,
// under root (the whole page when root is nil).
func (p *page) all(s string, root ...*html.Node) []*html.Node {
	p.t.Helper()
	if p.doc == nil {
		p.t.Fatalf("not an HTML page: %s", p.body)
	}
	sel := parseSelector(s)
	start := p.doc
	if len(root) > 0 {
		start = root[0]
	}
	var out []*html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if sel.match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(start)
	return out
}

func (p *page) one(s string, root ...*html.Node) *html.Node {
	p.t.Helper()
	ns := p.all(s, root...)
	if len(ns) != 1 {
		p.t.Fatalf("%d elements match %q, want 1; body:\n%s", len(ns), s, p.body)
	}
	return ns[0]
}

func (p *page) has(s string) bool {
	p.t.Helper()
	return len(p.all(s)) > 0
}

func (p *page) attrOf(s, name string) string {
	p.t.Helper()
	ns := p.all(s)
	if len(ns) == 0 {
		return ""
	}
	v, _ := attr(ns[0], name)
	return v
}

// cellLike elements are separated by a space in text, as a reader sees
// them apart.
var cellLike = map[string]bool{"td": true, "th": true, "tr": true, "li": true, "p": true, "div": true, "dt": true, "dd": true, "option": true}

// text is the text content of n, with runs of white space as one space.
func (p *page) text(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && cellLike[n.Data]:
			b.WriteString(" ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func (p *page) textOf(s string) string {
	p.t.Helper()
	return p.text(p.one(s))
}

func TestConsoleSignIn(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		ce := setupConsole(t, kind)
		b := ce.browser()

		// Signed out, a page sends to the sign-in form, which comes back.
		b.get("/reviews?kind=negative_stock").wantRedirect("/login?next=%2Freviews%3Fkind%3Dnegative_stock")
		b.get("/").wantRedirect("/login")
		p := b.get("/login?next=%2Freviews%3Fkind%3Dnegative_stock").want(200)
		// One tenant: the workspace is filled in and hidden.
		if p.attrOf("#workspace", "type") != "hidden" || p.attrOf("#workspace", "value") != "alpha" {
			t.Errorf("workspace field %q=%q", p.attrOf("#workspace", "type"), p.attrOf("#workspace", "value"))
		}
		for _, id := range []string{"#login", "#password", "#sign-in"} {
			p.one(id)
		}
		token := p.attrOf("input[name=csrf]", "value")
		post := func(login, password string) *page {
			form := url.Values{"csrf": {token}, "workspace": {"alpha"}, "login": {login}, "password": {password},
				"next": {p.attrOf("input[name=next]", "value")}}
			return b.postRaw("/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil)
		}

		// A wrong password and an unknown login get the same answer.
		bad := post("max", "wrong password!").want(401)
		bad.one("#login-error")
		if bad.attrOf("#login", "value") != "max" {
			t.Errorf("the login was not kept after a failure")
		}
		post("nobody", consolePassword).want(401).one("#login-error")
		b.get("/reviews").wantRedirect("/login")

		ok := post("MAX", consolePassword).wantRedirect("/reviews?kind=negative_stock")
		cookie := ""
		for _, c := range ok.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "stocksync_session=") {
				cookie = c
			}
		}
		for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="} {
			if !strings.Contains(cookie, attr) {
				t.Errorf("session cookie %q lacks %s", cookie, attr)
			}
		}
		if strings.Contains(cookie, "Secure") {
			t.Errorf("InsecureCookies, yet the cookie is Secure: %q", cookie)
		}
		r := b.get("/reviews").want(200)
		if got := r.textOf("#signed-in"); !strings.Contains(got, "Max Manager") || !strings.Contains(got, "manager") {
			t.Errorf("signed in as %q", got)
		}
		if r.has("#nav-users") {
			t.Errorf("a manager sees the Users entry")
		}
		b.get("/").wantRedirect("/reviews")
		b.get("/login").wantRedirect("/reviews")

		// Signing out ends the session in the ledger: the old cookie is
		// worthless even if someone kept it.
		secret := ""
		u, _ := url.Parse(ce.base)
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == "stocksync_session" {
				secret = c.Value
			}
		}
		b.post("/logout", nil).wantRedirect("/login")
		b.get("/login").want(200).wantText("You are signed out.")
		b.get("/reviews").wantRedirect("/login")
		if _, _, err := ce.l.AuthenticateSession(ce.ctx, secret); ledger.ErrorCode(err) != ledger.CodeUnauthorized {
			t.Errorf("session after sign-out: %v", err)
		}
		thief := ce.browser()
		thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: "stocksync_session", Value: secret}})
		thief.get("/reviews").wantRedirect("/login")
	})
}

func TestConsoleSignInDetails(t *testing.T) {
	t.Parallel()
	// By default the cookies are Secure; with two tenants the workspace
	// is asked for; sign-in attempts are limited per address.
	e := setup(t, "sqlite", func(c *server.Config) { c.SignInRate, c.SignInBurst = 0.001, 3 })
	a, _ := e.newTenant("alpha"), e.newTenant("beta")
	if _, err := e.l.CreateUser(e.ctx, a.ID, ledger.UserInput{Login: "max", Name: "Max", Role: ledger.RoleManager, Password: consolePassword}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	p := b.get("/login").want(200)
	if p.attrOf("#workspace", "type") != "text" || p.attrOf("#workspace", "value") != "" {
		t.Errorf("with two tenants the workspace field is %q=%q", p.attrOf("#workspace", "type"), p.attrOf("#workspace", "value"))
	}
	if c := p.header.Get("Set-Cookie"); !strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") {
		t.Errorf("login cookie %q", c)
	}
	for _, h := range []struct{ name, want string }{
		{"Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"},
		{"X-Content-Type-Options", "nosniff"},
		{"Referrer-Policy", "same-origin"},
	} {
		if got := p.header.Get(h.name); got != h.want {
			t.Errorf("%s: %q, want %q", h.name, got, h.want)
		}
	}
	token := p.attrOf("input[name=csrf]", "value")
	send := func(ws, pw string) *page {
		form := url.Values{"csrf": {token}, "workspace": {ws}, "login": {"max"}, "password": {pw}}
		// The jar holds a Secure cookie it will not send over http://, so
		// the double-submit cookie goes by hand, as a browser on
		// localhost would send it.
		return b.postRaw("/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()),
			map[string]string{"Cookie": "stocksync_login=" + token})
	}
	send("beta", consolePassword).want(401)
	r := send("alpha", consolePassword).wantRedirect("/reviews")
	if c := r.header.Get("Set-Cookie"); !strings.Contains(c, "stocksync_session=") || !strings.Contains(c, "Secure") {
		t.Errorf("session cookie %q", c)
	}
	send("alpha", "wrong password").want(401)
	limited := send("alpha", consolePassword).want(429)
	if limited.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	limited.wantText("Too many")
}
