package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"stocksync/ledger"
	"stocksync/syncproto"
)

type loginData struct {
	Workspace string
	// OneWorkspace hides the workspace field when the server has exactly
	// one tenant: nobody needs to type what cannot be anything else.
	OneWorkspace bool
	Login        string
	Next         string
	Token        string
	Error        string
}

// loginToken returns the sign-in form's double-submit token, setting its
// cookie when the browser has none yet.
func (cn *console) loginToken(c *gin.Context) string {
	if v, err := c.Cookie(loginCookie); err == nil && len(v) == 43 {
		return v
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	// A day: the form may sit open on a tablet for a shift.
	cn.setCookie(c, loginCookie, v, 24*time.Hour)
	return v
}

// loginPage is GET /login: the sign-in form.
func (cn *console) loginPage(c *gin.Context) {
	next := localBack(c.Query("next"), "/reviews")
	if cn.user(c) {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	d := loginData{Next: next, Token: cn.loginToken(c), Workspace: strings.TrimSpace(c.Query("workspace"))}
	cn.fillWorkspace(c, &d)
	cn.render(c, http.StatusOK, "login", "Sign in", "", d)
}

// fillWorkspace prefills and hides the workspace when there is one tenant.
func (cn *console) fillWorkspace(c *gin.Context, d *loginData) {
	ts, err := cn.s.ledger.Tenants(c.Request.Context())
	if err != nil {
		cn.logFailure(c, "list tenants", err)
		return
	}
	if len(ts) == 1 {
		d.Workspace, d.OneWorkspace = ts[0].Slug, true
	}
}

// login is POST /login. Attempts are limited per client address; the
// answer to any wrong workspace, login or password is the same.
func (cn *console) login(c *gin.Context) {
	if ok, wait := cn.signIn.allow(clientKey(c.ClientIP())); !ok {
		cn.s.metrics.rateLimited.WithLabelValues(cn.signIn.scope).Inc()
		secs := retryAfterSeconds(wait)
		c.Header(syncproto.HeaderRetryAfter, strconv.Itoa(secs))
		cn.errorPage(c, http.StatusTooManyRequests, "Too many attempts",
			"There were too many sign-in attempts from this address. Wait "+strconv.Itoa(secs)+" second(s) and try again.")
		return
	}
	if !cn.parseForm(c) {
		return
	}
	form := c.Request.PostForm
	cookie, _ := c.Cookie(loginCookie)
	if got := form.Get("csrf"); cookie == "" || subtle.ConstantTimeCompare([]byte(got), []byte(cookie)) != 1 {
		cn.refuseCSRF(c)
		return
	}
	d := loginData{Workspace: strings.TrimSpace(form.Get("workspace")), Login: strings.TrimSpace(form.Get("login")),
		Next: localBack(form.Get("next"), "/reviews"), Token: cookie}
	password := form.Get("password")
	if d.Workspace == "" || d.Login == "" || password == "" {
		d.Error = "Fill in the workspace, your login and your password."
		cn.fillWorkspace(c, &d)
		cn.render(c, http.StatusBadRequest, "login", "Sign in", "", d)
		return
	}
	sess, _, secret, err := cn.s.ledger.SignIn(c.Request.Context(), d.Workspace, d.Login, password, cn.ttl)
	if err != nil {
		if ledger.ErrorCode(err) != ledger.CodeUnauthorized {
			cn.fail(c, err)
			return
		}
		d.Error = "The workspace, login or password is wrong, or your account is disabled."
		cn.fillWorkspace(c, &d)
		cn.render(c, http.StatusUnauthorized, "login", "Sign in", "", d)
		return
	}
	cn.setCookie(c, sessionCookie, secret, sess.ExpiresAt.Sub(cn.s.now()))
	cn.clearCookie(c, loginCookie)
	c.Redirect(http.StatusSeeOther, d.Next)
}

// logout is POST /logout: the session ends in the ledger, so a copy of
// the cookie is worthless from now on.
func (cn *console) logout(c *gin.Context) {
	if err := cn.s.ledger.SignOut(c.Request.Context(), c.GetString(ctxSecret)); err != nil {
		cn.fail(c, err)
		return
	}
	cn.clearCookie(c, sessionCookie)
	cn.redirect(c, "/login", flash{Kind: "ok", Text: "You are signed out."})
}
