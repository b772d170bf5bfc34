package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"stocksync/ledger"
)

// Users and sessions of the web console. Creating a user and everything
// about sessions are single statements on the pool, outside the tenant's
// ledger lock; role changes, disables and password changes run in Write.

const userColumns = `tenant_id, user_id, login, name, role, created_at, disabled_at`

func scanUser(row pgx.CollectableRow) (ledger.User, error) {
	var u ledger.User
	var disabled pgtype.Timestamptz
	err := row.Scan(id(&u.TenantID), id(&u.ID), &u.Login, &u.Name, &u.Role, &u.CreatedAt, &disabled)
	u.DisabledAt = timeOf(disabled)
	return u, err
}

// InsertUser stores a new user with its password hash. Returns
// CodeNotFound for an unknown tenant and CodeConflict if the login or ID
// is taken in the tenant.
func (s *Store) InsertUser(ctx context.Context, u ledger.User, passwordHash string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`, password_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.TenantID, u.ID, u.Login, u.Name, string(u.Role), u.CreatedAt, nullTime(u.DisabledAt), passwordHash)
	return insertError(err, "insert user "+u.Login)
}

// InsertSession stores a session while its user is enabled and still has
// passwordHash. FOR SHARE makes the check and the insert one step against
// a concurrent password change or disable: if that transaction updated the
// user first, the statement waits for it and re-checks the new row, finding
// nothing; if the statement locked the row first, the update waits, and the
// deletion of the user's sessions that follows it sees this session.
// Returns CodeConflict when the user changed and CodeNotFound when it does
// not exist.
func (s *Store) InsertSession(ctx context.Context, se ledger.Session, hash []byte, passwordHash string) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO user_sessions (tenant_id, token_hash, session_id, user_id, created_at, expires_at)
		SELECT u.tenant_id, $3, $4, u.user_id, $5, $6 FROM users u
		WHERE u.tenant_id = $1 AND u.user_id = $2 AND u.password_hash = $7 AND u.disabled_at IS NULL
		FOR SHARE`,
		se.TenantID, se.UserID, hash, se.ID, se.CreatedAt, se.ExpiresAt, passwordHash)
	if err != nil {
		return insertError(err, "insert session")
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND user_id = $2)`,
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
	if _, err := s.pool.Exec(ctx, `DELETE FROM user_sessions WHERE tenant_id = $1 AND token_hash = $2`, tenantID, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the tenant's sessions that expired at or
// before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, tenantID uuid.UUID, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM user_sessions WHERE tenant_id = $1 AND expires_at <= $2`, tenantID, now); err != nil {
		return fmt.Errorf("delete expired sessions of tenant %s: %w", tenantID, err)
	}
	return nil
}

// User returns one user. Returns CodeNotFound.
func (r *readTx) User(ctx context.Context, tenantID, userID uuid.UUID) (ledger.User, error) {
	rows, err := r.q.Query(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID)
	if err != nil {
		return ledger.User{}, fmt.Errorf("select user %s: %w", userID, err)
	}
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ledger.Errorf(ledger.CodeNotFound, "user %s not found", userID)
	}
	if err != nil {
		return u, fmt.Errorf("select user %s: %w", userID, err)
	}
	return u, nil
}

// UserByLogin returns the user with the login and its password hash.
// Returns CodeNotFound.
func (r *readTx) UserByLogin(ctx context.Context, tenantID uuid.UUID, login string) (ledger.User, string, error) {
	var u ledger.User
	var disabled pgtype.Timestamptz
	var hash string
	err := r.q.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE tenant_id = $1 AND login = $2`,
		tenantID, login).Scan(id(&u.TenantID), id(&u.ID), &u.Login, &u.Name, &u.Role, &u.CreatedAt, &disabled, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.User{}, "", ledger.Errorf(ledger.CodeNotFound, "user %q not found", login)
	}
	if err != nil {
		return ledger.User{}, "", fmt.Errorf("select user %q: %w", login, err)
	}
	u.DisabledAt = timeOf(disabled)
	return u, hash, nil
}

// Users lists the tenant's users by login.
func (r *readTx) Users(ctx context.Context, tenantID uuid.UUID) ([]ledger.User, error) {
	rows, err := r.q.Query(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 ORDER BY login`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("select users: %w", err)
	}
	us, err := pgx.CollectRows(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("select users: %w", err)
	}
	return us, nil
}

// SessionByHash returns the session stored under hash, expired or not.
// Returns CodeNotFound.
func (r *readTx) SessionByHash(ctx context.Context, tenantID uuid.UUID, hash []byte) (ledger.Session, error) {
	var s ledger.Session
	err := r.q.QueryRow(ctx, `SELECT tenant_id, session_id, user_id, created_at, expires_at
		FROM user_sessions WHERE tenant_id = $1 AND token_hash = $2`, tenantID, hash).
		Scan(id(&s.TenantID), id(&s.ID), id(&s.UserID), &s.CreatedAt, &s.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.Session{}, ledger.Errorf(ledger.CodeNotFound, "session not found")
	}
	if err != nil {
		return ledger.Session{}, fmt.Errorf("select session: %w", err)
	}
	return s, nil
}

// UpdateUser stores Name, Role and DisabledAt. Returns CodeNotFound.
func (w *writeTx) UpdateUser(ctx context.Context, u ledger.User) error {
	if err := w.locked(u.TenantID); err != nil {
		return err
	}
	tag, err := w.q.Exec(ctx, `UPDATE users SET name = $3, role = $4, disabled_at = $5 WHERE tenant_id = $1 AND user_id = $2`,
		u.TenantID, u.ID, u.Name, string(u.Role), nullTime(u.DisabledAt))
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "user %s not found", u.ID)
	}
	return nil
}

// SetUserPasswordHash stores a new password hash. Returns CodeNotFound.
func (w *writeTx) SetUserPasswordHash(ctx context.Context, tenantID, userID uuid.UUID, passwordHash string) error {
	if err := w.locked(tenantID); err != nil {
		return err
	}
	tag, err := w.q.Exec(ctx, `UPDATE users SET password_hash = $3 WHERE tenant_id = $1 AND user_id = $2`,
		tenantID, userID, passwordHash)
	if err != nil {
		return fmt.Errorf("set password of user %s: %w", userID, err)
	}
	if tag.RowsAffected() == 0 {
		return ledger.Errorf(ledger.CodeNotFound, "user %s not found", userID)
	}
	return nil
}

// DeleteUserSessions deletes every session of the user.
func (w *writeTx) DeleteUserSessions(ctx context.Context, tenantID, userID uuid.UUID) error {
	if err := w.locked(tenantID); err != nil {
		return err
	}
	if _, err := w.q.Exec(ctx, `DELETE FROM user_sessions WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID); err != nil {
		return fmt.Errorf("delete sessions of user %s: %w", userID, err)
	}
	return nil
}
