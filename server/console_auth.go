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
	"github.com/google/uuid"

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
// It reads at most two tenants, whatever the server holds: anyone may ask
// for the sign-in page, as often as they like.
func (cn *console) fillWorkspace(c *gin.Context, d *loginData) {
	ts, err := cn.s.ledger.TenantsUpTo(c.Request.Context(), 2)
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
	ctx := c.Request.Context()
	sess, u, secret, err := cn.s.ledger.SignIn(ctx, d.Workspace, d.Login, password, cn.ttl)
	if err != nil {
		if ledger.ErrorCode(err) != ledger.CodeUnauthorized {
			cn.fail(c, err)
			return
		}
		// The login as typed, not the password.
		cn.logActionBy(c, clip(d.Login, ledger.MaxCodeLen), "sign-in failed", "workspace", clip(d.Workspace, ledger.MaxCodeLen))
		d.Error = "The workspace, login or password is wrong, or your account is disabled."
		cn.fillWorkspace(c, &d)
		cn.render(c, http.StatusUnauthorized, "login", "Sign in", "", d)
		return
	}
	// A session this browser held (a tab left open on the sign-in form)
	// ends now rather than living on unseen beside the new one.
	if old, err := c.Cookie(sessionCookie); err == nil && old != "" {
		if err := cn.s.ledger.SignOut(ctx, old); err != nil {
			cn.logFailure(c, "end the session signed in over", err)
		}
	}
	c.Set(ctxTenant, u.TenantID.String())
	c.Set(ctxUserLogin, u.Login)
	cn.logAction(c, "sign-in", "workspace", d.Workspace, "user_id", u.ID.String(), "session_id", sess.ID.String())
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
	cn.logAction(c, "sign-out", "session_id", sessionID(c).String())
	cn.clearCookie(c, sessionCookie)
	cn.redirect(c, "/login", flash{Kind: "ok", Text: "You are signed out."})
}

// sessionID is the ID of the signed-in user's session (never its secret).
func sessionID(c *gin.Context) uuid.UUID {
	v, _ := c.Get(ctxSession)
	s, _ := v.(ledger.Session)
	return s.ID
}
