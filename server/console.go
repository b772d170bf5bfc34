package server

// The managers' console (issue 6): server-rendered HTML for the people who
// decide reviews, look at stock and devices, load the catalog and manage
// users and API keys. It lives at the root of the server (/reviews,
// /stock, ...) beside the JSON API under /v1, and talks to the ledger
// exactly as the API does.
//
// Pages are html/template files embedded from console/, with one layout;
// the stylesheet and the small script are embedded too, so the console
// makes no request beyond this server and works on a closed network.
// Every form works without JavaScript: the script only adds select-all
// boxes, confirm dialogs and filters that submit themselves.
//
// A person signs in with a login and password (ledger.SignIn) and holds the
// session's secret in an HttpOnly, SameSite=Strict cookie. Every POST
// carries a CSRF token derived from that secret, and one whose Origin is
// another site is refused. The pages are split by subject into
// console_auth.go, console_reviews.go, console_audit.go, console_stock.go,
// console_devices.go, console_catalog.go and console_admin.go. What an
// admin does (sign-ins, users, keys, devices, enrollment codes) is logged,
// one line each, with who did it to what.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"stocksync/ledger"
	"stocksync/syncproto"
)

//go:embed console
var consoleFiles embed.FS

// Sign-in limits per client address, like enrollment: a burst lets a
// whole shift sign in at once from one NAT'ed office, and the rate makes
// guessing passwords slow.
const (
	DefaultSignInRate  = 1
	DefaultSignInBurst = 20
)

// Cookies of the console.
const (
	// sessionCookie holds the session's secret.
	sessionCookie = "stocksync_session"
	// loginCookie is the double-submit CSRF token of the sign-in form,
	// which is posted before there is a session to derive one from.
	loginCookie = "stocksync_login"
	// flashCookie carries the messages of a POST to the page it redirects
	// to (POST-redirect-GET).
	flashCookie = "stocksync_flash"
)

// Body limits of console forms: a bulk resolution of a long queue is the
// biggest non-file form; the catalog upload takes whole CSV files.
const (
	consoleFormBytes   = 1 << 20
	consoleUploadBytes = catalogMaxBytes
)

// consoleCSP is the Content-Security-Policy of every console page: only
// this server's own scripts, styles and images (and data: images, which
// the charts do not even need). No inline script or style can run, so an
// injected tag does nothing.
const consoleCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"

// console holds what the console's handlers share. It is built once by
// consoleRoutes; like the rest of the server it keeps no state that
// correctness depends on (the sign-in buckets only shape load).
type console struct {
	s      *Server
	pages  map[string]*template.Template
	assets map[string]consoleAsset
	signIn *limiter
	ttl    time.Duration
	secure bool
}

// consoleAsset is an embedded static file with its content hash, which
// the pages put in the URL so a browser may cache it for good.
type consoleAsset struct {
	body  []byte
	ctype string
	hash  string
}

// consolePages are the templates under console/, each parsed with the
// layout.
var consolePages = []string{
	"login", "error", "reviews", "review", "audit", "stock", "item", "devices", "code", "catalog", "users", "keys",
}

// consolePrefixes are the first path segments of the console; an unknown
// path under one of them gets the console's HTML 404.
var consolePrefixes = []string{"reviews", "audit", "stock", "devices", "catalog", "users", "keys", "login", "logout", "assets"}

// consoleRoutes registers the console's routes, and takes over the 404
// answer so that unknown console paths (and browsers asking for HTML) get
// a page instead of the API's JSON.
func (s *Server) consoleRoutes() {
	cn := newConsole(s)
	e := s.engine
	e.NoRoute(cn.noRoute)
	e.NoMethod(cn.noMethod)

	e.GET("/assets/:name", cn.headers, cn.asset)
	pub := e.Group("", cn.headers, cn.recover)
	pub.GET("/", cn.home)
	pub.GET("/login", cn.loginPage)
	pub.POST("/login", cn.sameOrigin, cn.login)

	in := pub.Group("", cn.authenticate, cn.checkPost)
	in.POST("/logout", cn.logout)
	in.GET("/reviews", cn.reviewQueue)
	in.GET("/reviews/:id", cn.reviewPage)
	in.GET("/audit", cn.auditTrail)
	in.GET("/stock", cn.stockPage)
	// The SKU is a query parameter: one may hold "/", which a path
	// segment cannot carry (gin matches the decoded path).
	in.GET("/stock/item", cn.itemPage)
	in.GET("/devices", cn.devicesPage)
	in.GET("/catalog", cn.catalogPage)

	mgr := in.Group("", cn.need(ledger.RoleManager))
	mgr.POST("/reviews/:id/resolve", cn.resolve)
	mgr.POST("/reviews/resolve", cn.bulkResolve)
	mgr.POST("/catalog", cn.uploadCatalog)
	mgr.POST("/devices/codes", cn.createCode)

	adm := in.Group("", cn.need(ledger.RoleAdmin))
	adm.POST("/devices/:id/revoke", cn.revokeDevice)
	adm.GET("/users", cn.usersPage)
	adm.POST("/users", cn.createUser)
	adm.POST("/users/:id/role", cn.setUserRole)
	adm.POST("/users/:id/password", cn.setUserPassword)
	adm.POST("/users/:id/disable", cn.disableUser)
	adm.POST("/users/:id/enable", cn.enableUser)
	adm.GET("/keys", cn.keysPage)
	adm.POST("/keys", cn.createKey)
	adm.POST("/keys/:id/revoke", cn.revokeKey)
}

func newConsole(s *Server) *console {
	cn := &console{s: s, pages: map[string]*template.Template{}, assets: map[string]consoleAsset{},
		ttl: s.cfg.SessionTTL, secure: !s.cfg.InsecureCookies}
	switch {
	case cn.ttl <= 0:
		cn.ttl = ledger.DefaultSessionTTL
	case cn.ttl < time.Minute, cn.ttl > ledger.MaxSessionTTL:
		// The ledger refuses such a session; clamped, sign-in still works.
		ttl := min(max(cn.ttl, time.Minute), ledger.MaxSessionTTL)
		s.log.Error("console: SessionTTL out of range; clamped", "ttl", cn.ttl, "using", ttl)
		cn.ttl = ttl
	}
	var err error
	cn.signIn, err = newLimiter("sign-in", s.cfg.SignInRate, s.cfg.SignInBurst, DefaultSignInRate, DefaultSignInBurst, s.now)
	if err != nil {
		// routes cannot fail; a nonsensical limit falls back to the
		// default rather than leaving sign-in unlimited.
		s.log.Error("console: bad sign-in limit; using the default", "err", err)
		cn.signIn, _ = newLimiter("sign-in", 0, 0, DefaultSignInRate, DefaultSignInBurst, s.now)
	}

	for _, name := range []string{"style.css", "console.js"} {
		b, err := consoleFiles.ReadFile("console/" + name)
		if err != nil {
			panic(fmt.Sprintf("console: embedded %s: %v", name, err))
		}
		sum := sha256.Sum256(b)
		cn.assets[name] = consoleAsset{body: b, ctype: mime.TypeByExtension(path.Ext(name)), hash: hex.EncodeToString(sum[:6])}
	}
	// The first sign-in with an unknown login would otherwise make the
	// dummy hash it is verified against, and take twice as long.
	go ledger.WarmSignIn()
	funcs := consoleFuncs(cn)
	for _, p := range consolePages {
		// The templates are part of the binary; one that does not parse
		// is a bug that every test run catches, so Must is right here.
		cn.pages[p] = template.Must(template.New(p).Funcs(funcs).ParseFS(consoleFiles, "console/layout.tmpl", "console/"+p+".tmpl"))
	}
	return cn
}

// headers sets the security headers of every console answer.
func (cn *console) headers(c *gin.Context) {
	setConsoleHeaders(c)
	c.Next()
}

func setConsoleHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

// recover answers a panic in a console handler with an HTML error page;
// the stack goes to the log only.
func (cn *console) recover(c *gin.Context) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(p)
		}
		cn.s.log.ErrorContext(c.Request.Context(), "panic", "method", c.Request.Method, "route", routeOf(c),
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		cn.fail(c, syncproto.Errorf(syncproto.CodeInternal, "internal error"))
	}()
	c.Next()
}

// asset serves an embedded stylesheet or script. A URL naming the current
// hash (?v=) may be cached for good; any other is revalidated.
func (cn *console) asset(c *gin.Context) {
	a, ok := cn.assets[c.Param("name")]
	if !ok {
		cn.notFound(c)
		return
	}
	if c.Query("v") == a.hash {
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		c.Header("Cache-Control", "no-cache")
	}
	etag := `"` + a.hash + `"`
	c.Header("ETag", etag)
	if c.GetHeader("If-None-Match") == etag {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, a.ctype, a.body)
}

// noRoute answers a path no route has: the console's 404 page for console
// paths and for browsers asking for HTML outside /v1, the API's JSON
// error for everything else.
func (cn *console) noRoute(c *gin.Context) {
	if !cn.isConsolePath(c) {
		cn.s.fail(c, syncproto.Errorf(syncproto.CodeNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
		return
	}
	setConsoleHeaders(c)
	cn.user(c) // the 404 page shows the navigation to a signed-in user
	cn.notFound(c)
}

// noMethod answers a method a path does not take: a page for console
// paths (a bookmarked /logout), the API's JSON 405 for the rest, whose
// code stays not_found as docs/protocol.md promises.
func (cn *console) noMethod(c *gin.Context) {
	allow := c.Writer.Header().Get("Allow")
	if !cn.isConsolePath(c) {
		cn.s.failStatus(c, http.StatusMethodNotAllowed, syncproto.Errorf(syncproto.CodeNotFound,
			"%s is not allowed on %s; allowed: %s", c.Request.Method, c.Request.URL.Path, allow))
		return
	}
	setConsoleHeaders(c)
	cn.user(c)
	cn.errorPage(c, http.StatusMethodNotAllowed, "Not here",
		fmt.Sprintf("%s takes %s only: use the buttons on the console's pages.", c.Request.URL.Path, allow))
}

// isConsolePath reports whether a request is for the console: a path
// under one of its sections, or a browser asking for HTML outside /v1.
func (cn *console) isConsolePath(c *gin.Context) bool {
	p := c.Request.URL.Path
	first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if p == "/" || slices.Contains(consolePrefixes, first) {
		return true
	}
	return !strings.HasPrefix(p, "/v1/") && p != "/v1" && strings.Contains(c.GetHeader("Accept"), "text/html")
}

func (cn *console) notFound(c *gin.Context) {
	cn.errorPage(c, http.StatusNotFound, "Not found", "There is no page at "+c.Request.URL.Path+".")
}

// ctxUser, ctxSession and ctxSecret hold the signed-in user, the session
// and its secret for the handlers; ctxUserLogin holds the user's login
// for the request log (middleware.go).
const (
	ctxUser      = "stocksync.console_user"
	ctxSession   = "stocksync.console_session"
	ctxSecret    = "stocksync.console_secret"
	ctxUserLogin = "stocksync.console_user_login"
)

// user authenticates the session cookie, if any, and stores the user and
// session in c. It reports whether someone is signed in. A dead session's
// cookie is cleared.
func (cn *console) user(c *gin.Context) bool {
	if _, ok := c.Get(ctxUser); ok {
		return true
	}
	secret, err := c.Cookie(sessionCookie)
	if err != nil || secret == "" {
		return false
	}
	sess, u, err := cn.s.ledger.AuthenticateSession(c.Request.Context(), secret)
	if err != nil {
		if ledger.ErrorCode(err) != ledger.CodeUnauthorized {
			cn.s.log.ErrorContext(c.Request.Context(), "authenticate session", "err", err)
		}
		cn.clearCookie(c, sessionCookie)
		return false
	}
	c.Set(ctxUser, u)
	c.Set(ctxSession, sess)
	c.Set(ctxSecret, secret)
	c.Set(ctxUserLogin, u.Login)
	c.Set(ctxTenantID, u.TenantID)
	c.Set(ctxTenant, u.TenantID.String())
	return true
}

// authenticate requires a signed-in user. A page asked for without one
// redirects to the sign-in form, which comes back here afterwards; a form
// posted without one is refused, because its content cannot be replayed
// after signing in.
func (cn *console) authenticate(c *gin.Context) {
	if cn.user(c) {
		c.Next()
		return
	}
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
		c.Abort()
		return
	}
	cn.errorPage(c, http.StatusUnauthorized, "Signed out", "Your session has ended. Sign in again, then repeat what you were doing.")
}

// currentUser is the signed-in user; authenticate ran before.
func currentUser(c *gin.Context) ledger.User {
	v, _ := c.Get(ctxUser)
	u, _ := v.(ledger.User)
	return u
}

// need requires role need of the signed-in user.
func (cn *console) need(need ledger.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		if u := currentUser(c); !u.Role.Allows(need) {
			cn.errorPage(c, http.StatusForbidden, "Not allowed",
				fmt.Sprintf("This needs the role %s or above; you are signed in as %s with the role %s.", need, u.Login, u.Role))
			return
		}
		c.Next()
	}
}

// csrfToken is the CSRF token of a session: an HMAC of a constant under
// the session's secret. It is stable for the session's life, needs no
// storage, and cannot be computed without the secret, which only the
// HttpOnly cookie holds.
func csrfToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkPost guards every console POST of a signed-in user: it refuses a
// request from another origin, reads the form under a size limit, and
// checks the form's CSRF token in constant time.
func (cn *console) checkPost(c *gin.Context) {
	if c.Request.Method != http.MethodPost {
		c.Next()
		return
	}
	if !cn.originOK(c) {
		cn.refuseCSRF(c)
		return
	}
	if !cn.parseForm(c) {
		return
	}
	secret := c.GetString(ctxSecret)
	got := c.Request.PostForm.Get("csrf")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(secret))) != 1 {
		cn.refuseCSRF(c)
		return
	}
	c.Next()
}

// sameOrigin is checkPost's origin half for the sign-in form.
func (cn *console) sameOrigin(c *gin.Context) {
	if !cn.originOK(c) {
		cn.refuseCSRF(c)
		return
	}
	c.Next()
}

// originOK refuses a request whose Origin header is present and is not
// this host, or that the browser says is cross-site. Browsers send Origin
// with every POST; a request without one (curl) is left to the token.
// Behind a proxy, the proxy must pass the Host header on.
func (cn *console) originOK(c *gin.Context) bool {
	if site := c.GetHeader("Sec-Fetch-Site"); site == "cross-site" {
		return false
	}
	o := c.GetHeader("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false // includes "null", sent by sandboxed frames and some redirects
	}
	return strings.EqualFold(u.Host, c.Request.Host)
}

func (cn *console) refuseCSRF(c *gin.Context) {
	cn.errorPage(c, http.StatusForbidden, "Form refused",
		"This form was refused because it did not come from this console's own page, or the page was open from an earlier sign-in. "+
			"Go back, reload the page and try again.")
}

// parseForm reads a posted form (url-encoded, or multipart for uploads)
// under the console's size limits. It answers the request and returns
// false when the body is too large or malformed.
func (cn *console) parseForm(c *gin.Context) bool {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	limit := int64(consoleFormBytes)
	if mt == "multipart/form-data" {
		limit = consoleUploadBytes
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	var err error
	if mt == "multipart/form-data" {
		// Files beyond 8 MiB go to temporary files, removed by net/http
		// when the request ends.
		err = c.Request.ParseMultipartForm(8 << 20)
	} else {
		err = c.Request.ParseForm()
	}
	if err == nil {
		return true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		cn.errorPage(c, http.StatusRequestEntityTooLarge, "Too large",
			fmt.Sprintf("What was sent is larger than this form takes (%d MiB).", limit>>20))
		return false
	}
	cn.errorPage(c, http.StatusBadRequest, "Bad form", "The form could not be read: "+err.Error())
	return false
}

// setCookie sets a console cookie: HttpOnly, SameSite=Strict, Path=/, and
// Secure unless the server was told it is served over plain HTTP.
func (cn *console) setCookie(c *gin.Context, name, value string, maxAge time.Duration) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: cn.secure, SameSite: http.SameSiteStrictMode})
}

func (cn *console) clearCookie(c *gin.Context, name string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: cn.secure, SameSite: http.SameSiteStrictMode})
}

// flash is a message shown once, on the page after a POST.
type flash struct {
	Kind string `json:"k"` // "ok", "error" or "info"
	Text string `json:"t"`
}

// flashMax bounds what the flash cookie carries: browsers refuse cookies
// over 4 KiB, so a long list of outcomes is cut short.
const flashMax = 3000

// redirect answers a POST with 303 to path and leaves messages for the
// page there.
func (cn *console) redirect(c *gin.Context, to string, msgs ...flash) {
	if len(msgs) > 0 {
		var b []byte
		for len(msgs) > 0 {
			b, _ = json.Marshal(msgs)
			if len(b) <= flashMax {
				break
			}
			msgs = msgs[:len(msgs)-1]
		}
		cn.setCookie(c, flashCookie, base64.RawURLEncoding.EncodeToString(b), time.Minute)
	}
	c.Redirect(http.StatusSeeOther, to)
	c.Abort()
}

// takeFlashes returns the messages left by the last POST and clears them.
func (cn *console) takeFlashes(c *gin.Context) []flash {
	v, err := c.Cookie(flashCookie)
	if err != nil || v == "" {
		return nil
	}
	cn.clearCookie(c, flashCookie)
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	var out []flash
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	for i := range out {
		if out[i].Kind != "ok" && out[i].Kind != "error" {
			out[i].Kind = "info"
		}
	}
	return out
}

// view is what the layout needs, with the page's own data in Data.
type view struct {
	Title string
	// Nav is the navigation entry to mark as current.
	Nav       string
	User      ledger.User
	Workspace string
	CSRF      string
	Flashes   []flash
	// OpenReviews is the badge on the Reviews entry ("" for none).
	OpenReviews string
	Can         perms
	Data        any
}

// perms are what the signed-in user's role allows, so pages show only
// the buttons that will work.
type perms struct {
	Manage bool // resolve reviews, upload the catalog, create enrollment codes
	Admin  bool // users, API keys, revoking devices
}

// openBadgeMax bounds the open-review count shown in the navigation:
// past it the badge says "99+".
const openBadgeMax = 99

// render executes a page inside the layout and sends it with status. The
// page is rendered into a buffer first, so a template error becomes a
// clean error page, never half a page.
func (cn *console) render(c *gin.Context, status int, page, title, nav string, data any) {
	v := view{Title: title, Nav: nav, Data: data, Flashes: cn.takeFlashes(c)}
	if msgs, ok := c.Get(ctxPageFlashes); ok {
		v.Flashes = append(v.Flashes, msgs.([]flash)...)
	}
	if _, ok := c.Get(ctxUser); ok {
		u := currentUser(c)
		v.User = u
		v.CSRF = csrfToken(c.GetString(ctxSecret))
		v.Can = perms{Manage: u.Role.Allows(ledger.RoleManager), Admin: u.Role.Allows(ledger.RoleAdmin)}
		ctx := c.Request.Context()
		v.Workspace = cn.s.tenantSlug(ctx, u.TenantID)
		// A count, not a read of the reviews: this runs on every page.
		counts, err := cn.s.ledger.CountReviews(ctx, u.TenantID, ledger.ReviewFilter{Status: ledger.ReviewOpen})
		if err != nil {
			cn.s.log.ErrorContext(ctx, "console: count open reviews for the navigation", "route", routeOf(c), "err", err)
		}
		switch n := sumCounts(counts); {
		case n > openBadgeMax:
			v.OpenReviews = strconv.Itoa(openBadgeMax) + "+"
		case n > 0:
			v.OpenReviews = strconv.Itoa(n)
		}
	}
	t := cn.pages[page]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		cn.s.log.ErrorContext(c.Request.Context(), "render console page", "page", page, "err", err)
		if page != "error" {
			cn.errorPage(c, http.StatusInternalServerError, "Something went wrong",
				"The page could not be shown. The error was logged for the people who run this server.")
			return
		}
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error\n"))
		c.Abort()
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// ctxPageFlashes holds messages for the page being rendered now (not
// after a redirect): a form shown again with what was wrong.
const ctxPageFlashes = "stocksync.console_flashes"

// notice adds a message to the page being rendered.
func notice(c *gin.Context, kind, text string) {
	var msgs []flash
	if v, ok := c.Get(ctxPageFlashes); ok {
		msgs = v.([]flash)
	}
	c.Set(ctxPageFlashes, append(msgs, flash{Kind: kind, Text: text}))
}

type errorData struct {
	Heading string
	Message string
	Status  int
}

// errorPage answers with an HTML error page and stops the chain.
func (cn *console) errorPage(c *gin.Context, status int, heading, msg string) {
	cn.render(c, status, "error", heading, "", errorData{Heading: heading, Message: msg, Status: status})
	c.Abort()
}

// fail answers a ledger or request error with an error page: the status
// from the one table in errors.go, the error's own message, and for
// internal errors a generic text (the detail goes to the log).
func (cn *console) fail(c *gin.Context, err error) {
	we := wireError(err)
	status, ok := statusOf[we.Code]
	if !ok {
		status = http.StatusBadRequest
	}
	c.Set(ctxErrorCode, string(we.Code))
	msg := we.Message
	if we.Code == syncproto.CodeInternal {
		cn.s.log.ErrorContext(c.Request.Context(), "internal error", "method", c.Request.Method, "route", routeOf(c), "err", err)
		msg = "Something went wrong on the server. The error was logged for the people who run it; try again in a moment."
	}
	cn.errorPage(c, status, consoleErrorHeading(status), msg)
}

// failStatus is the HTTP status fail would answer err with.
func failStatus(err error) int {
	we := wireError(err)
	if status, ok := statusOf[we.Code]; ok {
		return status
	}
	return http.StatusBadRequest
}

// failMessage is the message fail would show for err.
func failMessage(err error) string {
	we := wireError(err)
	if we.Code == syncproto.CodeInternal {
		return "Something went wrong on the server. The error was logged; try again in a moment."
	}
	return we.Message
}

func consoleErrorHeading(status int) string {
	switch status {
	case http.StatusNotFound:
		return "Not found"
	case http.StatusForbidden:
		return "Not allowed"
	case http.StatusConflict:
		return "Already done"
	case http.StatusBadRequest:
		return "Cannot do that"
	case http.StatusTooManyRequests:
		return "Too many attempts"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return http.StatusText(status)
}

// sumCounts is the total of counts by kind.
func sumCounts(counts map[ledger.ReviewKind]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// logAction logs one thing a person did in the console that changes who
// may do what (sign-ins, users, API keys, devices, enrollment codes): who
// did it (actor, the login; empty before a sign-in), in which tenant, and
// attrs naming the target. Never a password or a secret.
func (cn *console) logAction(c *gin.Context, action string, attrs ...any) {
	cn.logActionBy(c, c.GetString(ctxUserLogin), action, attrs...)
}

// logActionBy is logAction with the actor given: the login that tried to
// sign in, before anyone is signed in.
func (cn *console) logActionBy(c *gin.Context, actor, action string, attrs ...any) {
	base := []any{"action", action, "actor", actor}
	if v := c.GetString(ctxTenant); v != "" {
		base = append(base, "tenant", v)
	}
	cn.s.log.InfoContext(c.Request.Context(), "console action", append(base, attrs...)...)
}

// clip shortens what a person typed to at most n bytes (of whole
// characters) before it is logged: a form field can hold a megabyte.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// logFailure logs an internal error met while rendering a page that goes
// on without the failed part.
func (cn *console) logFailure(c *gin.Context, what string, err error) {
	if ledger.ErrorCode(err) == ledger.CodeInternal {
		cn.s.log.ErrorContext(c.Request.Context(), "console: "+what, "route", routeOf(c), "err", err)
	}
}

// home is GET /: the review queue for a signed-in user, the sign-in form
// for anyone else.
func (cn *console) home(c *gin.Context) {
	if cn.user(c) {
		c.Redirect(http.StatusSeeOther, "/reviews")
		return
	}
	c.Redirect(http.StatusSeeOther, "/login")
}

// pathID parses the :id of a console path; a malformed one cannot name
// anything, so it answers 404 like a missing object and returns false.
func (cn *console) pathID(c *gin.Context, what string) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		cn.errorPage(c, http.StatusNotFound, "Not found", fmt.Sprintf("There is no %s %q.", what, c.Param("id")))
		return uuid.Nil, false
	}
	return id, true
}

// localBack returns to if it is a path on this server (for "next" and
// "back" fields), def otherwise, so a crafted link cannot send a person
// to another site after signing in.
func localBack(to, def string) string {
	if to == "" || !strings.HasPrefix(to, "/") || strings.HasPrefix(to, "//") || strings.HasPrefix(to, "/\\") ||
		strings.ContainsAny(to, "\r\n") {
		return def
	}
	u, err := url.Parse(to)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return def
	}
	return to
}

// consoleFuncs are the template functions.
func consoleFuncs(cn *console) template.FuncMap {
	now := func() time.Time { return cn.s.now() }
	return template.FuncMap{
		"asset": func(name string) string {
			a := cn.assets[name]
			return "/assets/" + name + "?v=" + a.hash
		},
		// when is a time as people on the site read it: the server's time
		// zone (TZ), to the second.
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(time.Local).Format("2006-01-02 15:04:05")
		},
		"whenISO": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"date": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02")
		},
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return humanDuration(now().Sub(t)) + " ago"
		},
		"dur":   humanDuration,
		"kind":  kindLabel,
		"short": func(id uuid.UUID) string { return id.String()[:8] },
		"set":   func(id uuid.UUID) bool { return id != uuid.Nil },
		"deref": func(p *int64) int64 {
			if p == nil {
				return 0
			}
			return *p
		},
		"signed": func(n int64) string { return fmt.Sprintf("%+d", n) },
		"qs": func(kv ...string) template.URL {
			// qs builds a query string from pairs, skipping empty values;
			// the template escapes nothing further inside href.
			v := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] != "" {
					v.Set(kv[i], kv[i+1])
				}
			}
			if len(v) == 0 {
				return ""
			}
			return template.URL("?" + v.Encode())
		},
	}
}

// humanDuration is a duration as a person says it: "45s", "12m", "3h 5m",
// "2d 4h".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd %dh", days, h)
}

// kindLabel names a review kind for people.
func kindLabel(k ledger.ReviewKind) string {
	switch k {
	case ledger.ReviewWrongBatchReturn:
		return "Wrong-batch return"
	case ledger.ReviewOverReturn:
		return "Over-return"
	case ledger.ReviewUnknownOrder:
		return "Unknown order"
	case ledger.ReviewNegativeStock:
		return "Negative stock"
	case ledger.ReviewCountVariance:
		return "Count variance"
	case ledger.ReviewCountAmbiguous:
		return "Ambiguous count"
	case ledger.ReviewUnknownReference:
		return "Unknown reference"
	case ledger.ReviewExpiredBatch:
		return "Expired batch"
	}
	return string(k)
}
