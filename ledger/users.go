package ledger

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// User is a person who signs in to the web console of one tenant.
type User struct {
	TenantID uuid.UUID
	ID       uuid.UUID
	// Login is unique within the tenant and case-insensitive: it is
	// stored trimmed and lower-case.
	Login string
	// Name is the display name shown in the audit trail; it defaults to
	// Login.
	Name string
	// Role is RoleAdmin, RoleManager or RoleStaff, with the same powers
	// as an API key of that role.
	Role      Role
	CreatedAt time.Time
	// DisabledAt is zero while the user may sign in.
	DisabledAt time.Time
}

// UserInput creates a user. Login is trimmed and lower-cased; Name is
// trimmed and defaults to Login; Password is taken as given, byte for byte.
type UserInput struct {
	Login    string
	Name     string
	Role     Role
	Password string
}

// Session is a signed-in user's session. Its secret is returned once, by
// SignIn; only the secret's SHA-256 hash is stored.
type Session struct {
	TenantID  uuid.UUID
	ID        uuid.UUID
	UserID    uuid.UUID
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Bounds on passwords, in bytes. There are no rules on which characters a
// password holds: length is what makes it hard to guess.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 1000
)

// DefaultSessionTTL is how long a session lives when SignIn is given no
// ttl: one long shift.
const DefaultSessionTTL = 12 * time.Hour

// MaxSessionTTL bounds a session's life.
const MaxSessionTTL = 30 * 24 * time.Hour

// sessionPrefix marks a console session's secret, like apiKeyPrefix and
// deviceTokenPrefix; the tenant ID follows it.
const sessionPrefix = "sss_"

// loginPattern is what a normalized login may be: ASCII letters (lower
// case by then), digits and the punctuation of e-mail addresses, starting
// with a letter or digit. ASCII only, so two logins that look alike are
// alike.
var loginPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]*$`)

// normalizeLogin is how a login is stored and looked up.
func normalizeLogin(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

func validateLogin(login string) error {
	if len(login) > MaxCodeLen || !loginPattern.MatchString(login) {
		return Errorf(CodeInvalid, "login must be 1-%d letters, digits or . _ @ + -, starting with a letter or digit", MaxCodeLen)
	}
	return nil
}

func validateUserName(name string) error {
	if name == "" || len(name) > MaxCodeLen || !validText(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return Errorf(CodeInvalid, "user name must be 1-%d characters of text on one line", MaxCodeLen)
	}
	return nil
}

func validateRole(role Role) error {
	if role != RoleAdmin && role != RoleManager && role != RoleStaff {
		return Errorf(CodeInvalid, "role must be admin, manager or staff, got %q", role)
	}
	return nil
}

func validatePassword(password string) error {
	if len(password) < MinPasswordLen || len(password) > MaxPasswordLen {
		return Errorf(CodeInvalid, "a password must be %d-%d bytes long", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// CreateUser creates a user of the tenant who signs in with the login and
// password. Returns CodeInvalid for a bad login, name or role or a
// password shorter than MinPasswordLen or longer than MaxPasswordLen
// bytes, CodeConflict if the login is taken in the tenant (logins compare
// case-insensitively), and CodeNotFound for an unknown tenant.
func (l *Ledger) CreateUser(ctx context.Context, tenantID uuid.UUID, in UserInput) (User, error) {
	u := User{TenantID: tenantID, Login: normalizeLogin(in.Login), Name: strings.TrimSpace(in.Name), Role: in.Role}
	if u.Name == "" {
		u.Name = u.Login
	}
	if err := validateLogin(u.Login); err != nil {
		return User{}, err
	}
	if err := validateUserName(u.Name); err != nil {
		return User{}, err
	}
	if err := validateRole(u.Role); err != nil {
		return User{}, err
	}
	if err := validatePassword(in.Password); err != nil {
		return User{}, err
	}
	// Fail fast before the deliberately slow hash.
	if _, err := l.Tenant(ctx, tenantID); err != nil {
		return User{}, err
	}
	hash, err := hashPassword(ctx, in.Password)
	if err != nil {
		return User{}, err
	}
	u.ID, u.CreatedAt = uuid.Must(uuid.NewV7()), l.clock()
	if err := l.store.InsertUser(ctx, u, hash); err != nil {
		if ErrorCode(err) == CodeConflict {
			return User{}, Errorf(CodeConflict, "login %q is taken", u.Login)
		}
		return User{}, err
	}
	return u, nil
}

// Users lists the tenant's users, disabled ones included, ordered by login.
// An unknown tenant has none.
func (l *Ledger) Users(ctx context.Context, tenantID uuid.UUID) (us []User, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { us, err = tx.Users(ctx, tenantID); return err })
	return us, err
}

// User returns one user of the tenant. Returns CodeNotFound.
func (l *Ledger) User(ctx context.Context, tenantID, userID uuid.UUID) (u User, err error) {
	err = l.store.Read(ctx, func(tx ReadTx) error { u, err = tx.User(ctx, tenantID, userID); return err })
	return u, err
}

// SetUserRole gives a user a new role and returns the user. Sessions are
// kept: AuthenticateSession reads the role afresh on every request.
// Returns CodeInvalid for a bad role, CodeNotFound, and CodeConflict when
// it would demote the tenant's last enabled admin.
func (l *Ledger) SetUserRole(ctx context.Context, tenantID, userID uuid.UUID, role Role) (User, error) {
	if err := validateRole(role); err != nil {
		return User{}, err
	}
	var out User
	err := l.writeKeepingKnown(ctx, tenantID, func(tx Tx) error {
		u, err := tx.User(ctx, tenantID, userID)
		if err != nil {
			return err
		}
		if u.Role == role {
			out = u
			return nil
		}
		if role != RoleAdmin {
			if err := keepAnAdmin(ctx, tx, u, "demote"); err != nil {
				return err
			}
		}
		u.Role = role
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return out, nil
}

// SetUserPassword sets a user's password and ends every session of the
// user, so a stolen session dies with the old password. Returns
// CodeInvalid for a password shorter than MinPasswordLen or longer than
// MaxPasswordLen bytes, and CodeNotFound.
func (l *Ledger) SetUserPassword(ctx context.Context, tenantID, userID uuid.UUID, password string) error {
	if err := validatePassword(password); err != nil {
		return err
	}
	if _, err := l.User(ctx, tenantID, userID); err != nil {
		return err
	}
	// Hashed before taking the tenant's lock, which merges wait for.
	hash, err := hashPassword(ctx, password)
	if err != nil {
		return err
	}
	return l.writeKeepingKnown(ctx, tenantID, func(tx Tx) error {
		if err := tx.SetUserPasswordHash(ctx, tenantID, userID, hash); err != nil {
			return err
		}
		return tx.DeleteUserSessions(ctx, tenantID, userID)
	})
}

// DisableUser stops a user from signing in and ends the user's sessions.
// Disabling a disabled user changes nothing. Returns CodeNotFound, and
// CodeConflict for the tenant's last enabled admin.
func (l *Ledger) DisableUser(ctx context.Context, tenantID, userID uuid.UUID) error {
	return l.writeKeepingKnown(ctx, tenantID, func(tx Tx) error {
		u, err := tx.User(ctx, tenantID, userID)
		if err != nil {
			return err
		}
		if !u.DisabledAt.IsZero() {
			return nil
		}
		if err := keepAnAdmin(ctx, tx, u, "disable"); err != nil {
			return err
		}
		u.DisabledAt = l.clock()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return tx.DeleteUserSessions(ctx, tenantID, userID)
	})
}

// EnableUser lets a disabled user sign in again, with the password they
// had (an admin may set a new one first). Enabling an enabled user changes
// nothing. Returns CodeNotFound.
func (l *Ledger) EnableUser(ctx context.Context, tenantID, userID uuid.UUID) (User, error) {
	var out User
	err := l.writeKeepingKnown(ctx, tenantID, func(tx Tx) error {
		u, err := tx.User(ctx, tenantID, userID)
		if err != nil {
			return err
		}
		if !u.DisabledAt.IsZero() {
			u.DisabledAt = time.Time{}
			if err := tx.UpdateUser(ctx, u); err != nil {
				return err
			}
		}
		out = u
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return out, nil
}

// keepAnAdmin returns CodeConflict when u is the tenant's only enabled
// admin, whom verb would remove: nobody could then manage the console's
// users. It runs under the tenant's lock, which every role change and
// disable takes, so the count cannot change before the caller's write.
func keepAnAdmin(ctx context.Context, tx Tx, u User, verb string) error {
	if u.Role != RoleAdmin || !u.DisabledAt.IsZero() {
		return nil
	}
	us, err := tx.Users(ctx, u.TenantID)
	if err != nil {
		return err
	}
	for _, o := range us {
		if o.ID != u.ID && o.Role == RoleAdmin && o.DisabledAt.IsZero() {
			return nil
		}
	}
	return Errorf(CodeConflict, "cannot %s %s: they are the tenant's last enabled admin; make another user admin first", verb, u.Login)
}

// errSignIn is the one answer to every failed sign-in, so a caller cannot
// tell an unknown tenant or login from a wrong password or a disabled user.
func errSignIn() error {
	return Errorf(CodeUnauthorized, "the tenant, login or password is wrong, or the user may not sign in")
}

// SignIn checks a user's login and password in the tenant with the slug
// and opens a session that lasts ttl (DefaultSessionTTL when zero). It
// returns the session, the user and the session's secret, which is shown
// once and stored only as its SHA-256 hash. Any mismatch (unknown tenant
// or login, wrong password, disabled user) returns CodeUnauthorized with
// one message, and takes about as long as a wrong password: an unknown
// user's password is verified against a dummy hash. A user whose stored
// hash is malformed or asks for more than the bounds in password.go cannot
// sign in (CodeUnauthorized, and an error in the log). Returns CodeInvalid
// for a ttl under a minute or over MaxSessionTTL. It also deletes the
// tenant's expired sessions.
func (l *Ledger) SignIn(ctx context.Context, tenantSlug, login, password string, ttl time.Duration) (Session, User, string, error) {
	if ttl == 0 {
		ttl = DefaultSessionTTL
	}
	if ttl < time.Minute || ttl > MaxSessionTTL {
		return Session{}, User{}, "", Errorf(CodeInvalid, "a session lives between 1m and %s", MaxSessionTTL)
	}
	var u User
	var hash string
	err := l.store.Read(ctx, func(tx ReadTx) error {
		t, err := tx.TenantBySlug(ctx, strings.TrimSpace(tenantSlug))
		if err != nil {
			return err
		}
		u, hash, err = tx.UserByLogin(ctx, t.ID, normalizeLogin(login))
		return err
	})
	found := err == nil
	if err != nil && ErrorCode(err) != CodeNotFound {
		return Session{}, User{}, "", err
	}
	if !found {
		hash = dummyPasswordHash()
	}
	ok, err := verifyPassword(ctx, hash, password)
	if errors.Is(err, errPasswordHash) {
		// A corrupt or tampered row: the user cannot sign in until an
		// admin sets a new password, and the operator must hear of it.
		l.log.ErrorContext(ctx, "sign-in refused: the stored password hash is invalid or its parameters are out of bounds",
			"tenant_id", u.TenantID, "user_id", u.ID, "login", u.Login)
		return Session{}, User{}, "", errSignIn()
	}
	if err != nil {
		return Session{}, User{}, "", fmt.Errorf("verify the password of user %s: %w", u.ID, err)
	}
	if !found || !ok || !u.DisabledAt.IsZero() {
		return Session{}, User{}, "", errSignIn()
	}

	now := l.clock()
	// Expired sessions are deleted here rather than by a sweeper: a
	// tenant's sessions are few, and this keeps the server free of
	// background jobs. A failure costs only some dead rows.
	if err := l.store.DeleteExpiredSessions(ctx, u.TenantID, now); err != nil {
		l.log.WarnContext(ctx, "delete expired sessions", "tenant_id", u.TenantID, "err", err)
	}
	secret := newSecret(sessionPrefix, u.TenantID)
	s := Session{TenantID: u.TenantID, ID: uuid.Must(uuid.NewV7()), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := l.store.InsertSession(ctx, s, hashSecret(secret), hash); err != nil {
		// The password changed or the user was disabled since it was read.
		if c := ErrorCode(err); c == CodeConflict || c == CodeNotFound {
			return Session{}, User{}, "", errSignIn()
		}
		return Session{}, User{}, "", err
	}
	return s, u, secret, nil
}

// AuthenticateSession returns the session a secret belongs to and its
// user as they are now (role included). Returns CodeUnauthorized for a
// malformed or unknown secret, an expired or ended session, or a disabled
// user.
func (l *Ledger) AuthenticateSession(ctx context.Context, secret string) (Session, User, error) {
	tenantID, hash, ok := parseSecret(sessionPrefix, secret)
	if !ok {
		return Session{}, User{}, Errorf(CodeUnauthorized, "the session is malformed; sign in again")
	}
	var s Session
	var u User
	err := l.store.Read(ctx, func(tx ReadTx) (err error) {
		if s, err = tx.SessionByHash(ctx, tenantID, hash); err != nil {
			return err
		}
		u, err = tx.User(ctx, s.TenantID, s.UserID)
		return err
	})
	if ErrorCode(err) == CodeNotFound {
		return Session{}, User{}, Errorf(CodeUnauthorized, "the session is unknown or ended; sign in again")
	}
	if err != nil {
		return Session{}, User{}, err
	}
	if !l.clock().Before(s.ExpiresAt) {
		return Session{}, User{}, Errorf(CodeUnauthorized, "the session expired; sign in again")
	}
	if !u.DisabledAt.IsZero() {
		return Session{}, User{}, Errorf(CodeUnauthorized, "the user was disabled")
	}
	return s, u, nil
}

// SignOut ends the session a secret belongs to. It is idempotent: an
// unknown, ended or malformed secret is not an error.
func (l *Ledger) SignOut(ctx context.Context, secret string) error {
	tenantID, hash, ok := parseSecret(sessionPrefix, secret)
	if !ok {
		return nil
	}
	return l.store.DeleteSession(ctx, tenantID, hash)
}
