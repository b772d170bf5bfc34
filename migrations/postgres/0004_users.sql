-- Users and sessions of the managers' web console (DESIGN.md section 6).
--
-- A password is stored only as an argon2id PHC string, a session only as the
-- SHA-256 hash of its secret. Like every credential table, both are keyed by
-- tenant_id first: a session secret names its tenant in clear, and a user
-- signs in under the tenant's slug.

CREATE TABLE users (
    tenant_id     uuid        NOT NULL REFERENCES tenants (tenant_id) DEFERRABLE INITIALLY DEFERRED,
    user_id       uuid        NOT NULL,
    login         text        NOT NULL, -- trimmed and lower-case
    name          text        NOT NULL,
    role          text        NOT NULL,
    password_hash text        NOT NULL, -- $argon2id$v=19$m=...,t=...,p=...$salt$key
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz,          -- NULL while the user may sign in
    PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT users_login UNIQUE (tenant_id, login)
);

CREATE TABLE user_sessions (
    tenant_id  uuid        NOT NULL,
    token_hash bytea       NOT NULL,
    session_id uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) DEFERRABLE INITIALLY DEFERRED
);

-- A password change or a disable ends every session of the user.
CREATE INDEX user_sessions_user ON user_sessions (tenant_id, user_id);
-- Each sign-in deletes its tenant's expired sessions.
CREATE INDEX user_sessions_expires ON user_sessions (tenant_id, expires_at);
