-- Users and sessions of the managers' web console (DESIGN.md section 6).
--
-- A password is stored only as an argon2id PHC string, a session only as the
-- SHA-256 hash of its secret. Like every credential table, both are keyed by
-- tenant_id first: a session secret names its tenant in clear, and a user
-- signs in under the tenant's slug.

CREATE TABLE users (
    tenant_id     TEXT    NOT NULL REFERENCES tenants (tenant_id) DEFERRABLE INITIALLY DEFERRED,
    user_id       TEXT    NOT NULL,
    login         TEXT    NOT NULL, -- trimmed and lower-case
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL, -- $argon2id$v=19$m=...,t=...,p=...$salt$key
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER,          -- NULL while the user may sign in
    PRIMARY KEY (tenant_id, user_id),
    UNIQUE (tenant_id, login)
) STRICT;

CREATE TABLE user_sessions (
    tenant_id  TEXT    NOT NULL,
    token_hash BLOB    NOT NULL,
    session_id TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) DEFERRABLE INITIALLY DEFERRED
) STRICT, WITHOUT ROWID;

-- A password change or a disable ends every session of the user.
CREATE INDEX user_sessions_user ON user_sessions (tenant_id, user_id);
-- Each sign-in deletes its tenant's expired sessions.
CREATE INDEX user_sessions_expires ON user_sessions (tenant_id, expires_at);
