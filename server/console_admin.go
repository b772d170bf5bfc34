package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"stocksync/ledger"
)

// consoleRoles are the roles a user or API key can be given, most
// powerful last, as the forms list them.
var consoleRoles = []ledger.Role{ledger.RoleStaff, ledger.RoleManager, ledger.RoleAdmin}

type userForm struct {
	Login, Name, Role string
}

type usersData struct {
	Users []ledger.User
	Roles []ledger.Role
	Form  userForm
	// Me is the signed-in user, whose own row warns before changes.
	Me ledger.User
}

// usersPage is GET /users (admins).
func (cn *console) usersPage(c *gin.Context) {
	cn.showUsers(c, http.StatusOK, userForm{Role: string(ledger.RoleStaff)})
}

func (cn *console) showUsers(c *gin.Context, status int, form userForm) {
	us, err := cn.s.ledger.Users(c.Request.Context(), tenantID(c))
	if err != nil {
		cn.fail(c, err)
		return
	}
	cn.render(c, status, "users", "Users", "users", usersData{Users: us, Roles: consoleRoles, Form: form, Me: currentUser(c)})
}

// createUser is POST /users.
func (cn *console) createUser(c *gin.Context) {
	p := c.Request.PostForm
	form := userForm{Login: strings.TrimSpace(p.Get("login")), Name: strings.TrimSpace(p.Get("name")), Role: p.Get("role")}
	u, err := cn.s.ledger.CreateUser(c.Request.Context(), tenantID(c), ledger.UserInput{Login: form.Login, Name: form.Name,
		Role: ledger.Role(form.Role), Password: p.Get("password")})
	if err != nil {
		if ledger.ErrorCode(err) == ledger.CodeInternal {
			cn.fail(c, err)
			return
		}
		notice(c, "error", "The user was not created: "+failMessage(err))
		cn.showUsers(c, failStatus(err), form)
		return
	}
	cn.logAction(c, "create user", "user", u.Login, "user_id", u.ID.String(), "role", string(u.Role))
	cn.redirect(c, "/users", flash{Kind: "ok", Text: fmt.Sprintf("User %s (%s) was created with the role %s.", u.Login, u.Name, u.Role)})
}

// userAction runs one change on a user, logs it as action, and returns to
// the list with its outcome.
func (cn *console) userAction(c *gin.Context, action string, do func(u ledger.User) (string, error)) {
	id, ok := cn.pathID(c, "user")
	if !ok {
		return
	}
	ctx, tid := c.Request.Context(), tenantID(c)
	u, err := cn.s.ledger.User(ctx, tid, id)
	var msg string
	if err == nil {
		msg, err = do(u)
	}
	if err != nil {
		switch ledger.ErrorCode(err) {
		case ledger.CodeInternal, ledger.CodeNotFound:
			cn.fail(c, err)
		default:
			cn.redirect(c, "/users", flash{Kind: "error", Text: fmt.Sprintf("%s was not changed: %s", u.Login, failMessage(err))})
		}
		return
	}
	cn.logAction(c, action, "user", u.Login, "user_id", u.ID.String())
	cn.redirect(c, "/users", flash{Kind: "ok", Text: msg})
}

// setUserRole is POST /users/{id}/role.
func (cn *console) setUserRole(c *gin.Context) {
	role := ledger.Role(c.Request.PostForm.Get("role"))
	cn.userAction(c, "set role to "+clip(string(role), 16), func(u ledger.User) (string, error) {
		nu, err := cn.s.ledger.SetUserRole(c.Request.Context(), tenantID(c), u.ID, role)
		return fmt.Sprintf("%s is now %s.", nu.Login, nu.Role), err
	})
}

// setUserPassword is POST /users/{id}/password: an admin sets a new
// password, which ends the user's sessions.
func (cn *console) setUserPassword(c *gin.Context) {
	cn.userAction(c, "set password", func(u ledger.User) (string, error) {
		err := cn.s.ledger.SetUserPassword(c.Request.Context(), tenantID(c), u.ID, c.Request.PostForm.Get("password"))
		return fmt.Sprintf("The password of %s was changed; their sessions have ended.", u.Login), err
	})
}

// disableUser is POST /users/{id}/disable.
func (cn *console) disableUser(c *gin.Context) {
	cn.userAction(c, "disable user", func(u ledger.User) (string, error) {
		err := cn.s.ledger.DisableUser(c.Request.Context(), tenantID(c), u.ID)
		return fmt.Sprintf("%s is disabled and can no longer sign in.", u.Login), err
	})
}

// enableUser is POST /users/{id}/enable: a disabled user may sign in
// again, with the password they had.
func (cn *console) enableUser(c *gin.Context) {
	cn.userAction(c, "enable user", func(u ledger.User) (string, error) {
		_, err := cn.s.ledger.EnableUser(c.Request.Context(), tenantID(c), u.ID)
		return fmt.Sprintf("%s is enabled and may sign in again with their password.", u.Login), err
	})
}

type keysData struct {
	Keys  []ledger.APIKey
	Roles []ledger.Role
	Name  string
	Role  string
	// Created and Secret are the key just created; the secret is shown
	// on this one answer only.
	Created *ledger.APIKey
	Secret  string
}

// keysPage is GET /keys (admins).
func (cn *console) keysPage(c *gin.Context) {
	cn.showKeys(c, http.StatusOK, keysData{Role: string(ledger.RoleStaff)})
}

func (cn *console) showKeys(c *gin.Context, status int, d keysData) {
	ks, err := cn.s.ledger.APIKeys(c.Request.Context(), tenantID(c))
	if err != nil {
		cn.fail(c, err)
		return
	}
	d.Keys, d.Roles = ks, consoleRoles
	cn.render(c, status, "keys", "API keys", "keys", d)
}

// createKey is POST /keys. The answer is the page with the new secret,
// not a redirect: the secret is stored only as a hash.
func (cn *console) createKey(c *gin.Context) {
	p := c.Request.PostForm
	d := keysData{Name: strings.TrimSpace(p.Get("name")), Role: p.Get("role")}
	k, secret, err := cn.s.ledger.CreateAPIKey(c.Request.Context(), tenantID(c), d.Name, ledger.Role(d.Role))
	if err != nil {
		if ledger.ErrorCode(err) == ledger.CodeInternal {
			cn.fail(c, err)
			return
		}
		notice(c, "error", "The key was not created: "+failMessage(err))
		cn.showKeys(c, failStatus(err), d)
		return
	}
	cn.logAction(c, "create API key", "key", k.Name, "key_id", k.ID.String(), "role", string(k.Role))
	d = keysData{Created: &k, Secret: secret, Role: string(ledger.RoleStaff)}
	cn.showKeys(c, http.StatusCreated, d)
}

// revokeKey is POST /keys/{id}/revoke.
func (cn *console) revokeKey(c *gin.Context) {
	id, ok := cn.pathID(c, "API key")
	if !ok {
		return
	}
	if err := cn.s.ledger.RevokeAPIKey(c.Request.Context(), tenantID(c), id); err != nil {
		cn.fail(c, err)
		return
	}
	cn.logAction(c, "revoke API key", "key_id", id.String())
	cn.redirect(c, "/keys", flash{Kind: "ok", Text: "The API key is revoked; programs using it are refused from now on."})
}
