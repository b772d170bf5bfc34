package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"stocksync/ledger"
)

// Users and sessions of the web console. Creating a user and everything
// about sessions are single statements in autocommit on the writer
// connection, outside any Write; role changes, disables and password
// changes run in Write.

const userCols = `tenant_id, user_id, login, name, role, created_at, disabled_at`

func scanUser(sc scanner) (ledger.User, error) {
	var u ledger.User
	var created int64
	var disabled sql.NullInt64
	err := sc.Scan(&u.TenantID, &u.ID, &u.Login, &u.Name, &u.Role, &created, &disabled)
	u.CreatedAt, u.DisabledAt = fromMicros(created), fromNullMicros(disabled)
	return u, err
}

// InsertUser stores a new user with its password hash. Returns
// ledger.CodeNotFound for an unknown tenant and ledger.CodeConflict if the
// login or ID is taken in the tenant.
func (s *Store) InsertUser(ctx context.Context, u ledger.User, passwordHash string) error {
	_, err := s.writer.ExecContext(ctx, `INSERT INTO users (`+userCols+`, password_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.TenantID, u.ID, u.Login, u.Name, string(u.Role), u.CreatedAt.UnixMicro(), nullMicros(u.DisabledAt), passwordHash)
	return insertError(err, "insert user "+u.Login)
}

// InsertSession stores a session while its user is enabled and still has
// passwordHash. The check and the insert are one statement on the one
// writer, so no password change or disable can fall between them. Returns
// ledger.CodeConflict when the user changed and ledger.CodeNotFound when
// it does not exist.
func (s *Store) InsertSession(ctx context.Context, se ledger.Session, hash []byte, passwordHash string) error {
	res, err := s.writer.ExecContext(ctx, `INSERT INTO user_sessions (tenant_id, token_hash, session_id, user_id, created_at, expires_at)
		SELECT u.tenant_id, ?3, ?4, u.user_id, ?5, ?6 FROM users u
		WHERE u.tenant_id = ?1 AND u.user_id = ?2 AND u.password_hash = ?7 AND u.disabled_at IS NULL`,
		se.TenantID, se.UserID, hash, se.ID, se.CreatedAt.UnixMicro(), se.ExpiresAt.UnixMicro(), passwordHash)
	if err != nil {
		return insertError(err, "insert session")
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var exists bool
	if err := s.writer.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = ? AND user_id = ?)`,
		se.TenantID, se.UserID).Scan(&exists); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	if exists {
		return ledger.Errorf(ledger.CodeConflict, "user %s changed its password or was disabled", se.UserID)
	}
	return ledger.Errorf(ledger.CodeNotFound, "user %s not found", se.UserID)
}

// DeleteSession deletes the session stored under hash, if any.
func (s *Store) DeleteSession(ctx context.Context, tenantID uuid.UUID, hash []byte) error {
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM user_sessions WHERE tenant_id = ? AND token_hash = ?`, tenantID, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the tenant's sessions that expired at or
// before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, tenantID uuid.UUID, now time.Time) error {
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM user_sessions WHERE tenant_id = ? AND expires_at <= ?`,
		tenantID, now.UnixMicro()); err != nil {
		return fmt.Errorf("delete expired sessions of tenant %s: %w", tenantID, err)
	}
	return nil
}

// User returns one user. Returns ledger.CodeNotFound.
func (r *readTx) User(ctx context.Context, tenantID, userID uuid.UUID) (ledger.User, error) {
	u, err := scanUser(r.tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE tenant_id = ? AND user_id = ?`,
		tenantID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.User{}, ledger.Errorf(ledger.CodeNotFound, "user %s not found", userID)
	}
	if err != nil {
		return ledger.User{}, fmt.Errorf("read user %s: %w", userID, err)
	}
	return u, nil
}

// UserByLogin returns the user with the login and its password hash.
// Returns ledger.CodeNotFound.
func (r *readTx) UserByLogin(ctx context.Context, tenantID uuid.UUID, login string) (ledger.User, string, error) {
	var u ledger.User
	var created int64
	var disabled sql.NullInt64
	var hash string
	err := r.tx.QueryRowContext(ctx, `SELECT `+userCols+`, password_hash FROM users WHERE tenant_id = ? AND login = ?`,
		tenantID, login).Scan(&u.TenantID, &u.ID, &u.Login, &u.Name, &u.Role, &created, &disabled, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.User{}, "", ledger.Errorf(ledger.CodeNotFound, "user %q not found", login)
	}
	if err != nil {
		return ledger.User{}, "", fmt.Errorf("read user %q: %w", login, err)
	}
	u.CreatedAt, u.DisabledAt = fromMicros(created), fromNullMicros(disabled)
	return u, hash, nil
}

// Users lists the tenant's users by login.
func (r *readTx) Users(ctx context.Context, tenantID uuid.UUID) ([]ledger.User, error) {
	us, err := queryRows(ctx, r.tx, scanUser, `SELECT `+userCols+` FROM users WHERE tenant_id = ? ORDER BY login`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// SessionByHash returns the session stored under hash, expired or not.
// Returns ledger.CodeNotFound.
func (r *readTx) SessionByHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (ledger.Session, error) {
	var s ledger.Session
	var created, expires int64
	err := r.tx.QueryRowContext(ctx, `SELECT tenant_id, session_id, user_id, created_at, expires_at
		FROM user_sessions WHERE tenant_id = ? AND token_hash = ?`, tenantID, hash).
		Scan(&s.TenantID, &s.ID, &s.UserID, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Session{}, ledger.Errorf(ledger.CodeNotFound, "session not found")
	}
	if err != nil {
		return ledger.Session{}, fmt.Errorf("read session: %w", err)
	}
	s.CreatedAt, s.ExpiresAt = fromMicros(created), fromMicros(expires)
	return s, nil
}

// UpdateUser stores Name, Role and DisabledAt. Returns ledger.CodeNotFound.
func (t *writeTx) UpdateUser(ctx context.Context, u ledger.User) error {
	if err := t.own(u.TenantID); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE users SET name = ?, role = ?, disabled_at = ? WHERE tenant_id = ? AND user_id = ?`,
		u.Name, string(u.Role), nullMicros(u.DisabledAt), u.TenantID, u.ID)
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "user %s not found", u.ID)
	}
	return nil
}

// SetUserPasswordHash stores a new password hash. Returns
// ledger.CodeNotFound.
func (t *writeTx) SetUserPasswordHash(ctx context.Context, tenantID, userID uuid.UUID, passwordHash string) error {
	if err := t.own(tenantID); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE tenant_id = ? AND user_id = ?`,
		passwordHash, tenantID, userID)
	if err != nil {
		return fmt.Errorf("set password of user %s: %w", userID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "user %s not found", userID)
	}
	return nil
}

// DeleteUserSessions deletes every session of the user.
func (t *writeTx) DeleteUserSessions(ctx context.Context, tenantID, userID uuid.UUID) error {
	if err := t.own(tenantID); err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM user_sessions WHERE tenant_id = ? AND user_id = ?`, tenantID, userID); err != nil {
		return fmt.Errorf("delete sessions of user %s: %w", userID, err)
	}
	return nil
}
